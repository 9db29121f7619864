"""Batch Mode on Gemini: what goes on the wire, per-item errors, the file path.

The shared batch suite (tests/test_contract.py) covers the round trip, a failed
item, cancelling and typed errors; these check what is Gemini's own. Every call
goes over loopback HTTP to :class:`GeminiMock`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal

import anyio
import attrs
import pytest

import relaykit
from relaykit import (
    BatchItem,
    ContextLengthError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
)
from relaykit.testing import WEATHER_TOOL
from relaykit.testing.loopback import Request, Response
from relaykit_gemini import batches
from relaykit_gemini.prices import known_model
from relaykit_gemini.testing import GeminiMock

from .conftest import client

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
FLASH = "gemini/gemini-2.5-flash"
SAFETY = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]


@pytest.mark.anyio
async def test_each_item_is_the_body_a_chat_sends_keyed_by_its_custom_id(
    mock: GeminiMock,
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    params: dict[str, Any] = {
        "tools": [WEATHER_TOOL],
        "reasoning": "low",
        "response_format": schema,
        "max_tokens": 300,
        "extra": {"safetySettings": SAFETY},
    }
    async with client(mock) as c:
        await c.chat(FLASH, "Weather in Paris?", **params)
        chat_body = mock.last_request.json()
        batch = await c.submit_batch(
            FLASH,
            [BatchItem("paris", "Weather in Paris?", params), {"custom_id": "b", "prompt": "hi"}],
        )
    sent = mock.last_request
    assert sent.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    body = sent.json()["batch"]
    assert body["display_name"]
    first, second = body["input_config"]["requests"]["requests"]
    assert first == {"request": chat_body, "metadata": {"key": "paris"}}
    assert second["metadata"] == {"key": "b"}
    assert second["request"]["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert batch.id.startswith("gemini/batches/") and batch.status == "in_progress"
    assert batch.vendor_status == "BATCH_STATE_PENDING" and batch.total == 2
    assert batch.expires_at is not None and batch.created_at is not None
    assert batch.expires_at - batch.created_at == 48 * 3600


@pytest.mark.anyio
async def test_item_errors_are_typed_as_a_single_calls_would_be(mock: GeminiMock) -> None:
    mock.script.fail(
        400,
        "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).",
    )
    mock.script.fail(429, "Resource has been exhausted (e.g. check quota).")
    mock.script.reply("fine", input_tokens=1000, output_tokens=100)
    items = [BatchItem("long", "a"), BatchItem("quota", "b"), BatchItem("ok", "c")]
    async with client(mock) as c:
        batch = await c.batch((await c.submit_batch(FLASH, items)).id)
        results = {r.custom_id: r async for r in c.batch_results(batch.id)}
    assert (batch.total, batch.succeeded, batch.errored) == (3, 1, 2)
    assert isinstance(results["long"].error, ContextLengthError)
    assert results["long"].error.status == 400
    assert isinstance(results["quota"].error, RateLimitError)
    answer = results["ok"].response
    assert answer is not None and answer.text == "fine"
    # the batch share of the list price: half of what a single call costs
    price = known_model("gemini-2.5-flash")[1]
    assert price is not None and price.batch_share == Decimal("0.5")
    assert answer.cost == price.cost(answer.usage) * Decimal("0.5")


@pytest.mark.anyio
async def test_a_batch_over_the_inline_limit_goes_as_an_uploaded_file(
    mock: GeminiMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "INLINE_MAX_BYTES", 200)
    mock.script.reply("one")
    mock.script.fail(400, "bad item")
    items = [BatchItem(f"item-{i}", f"question number {i} " * 5) for i in range(2)]
    async with client(mock) as c:
        submitted = await c.submit_batch(FLASH, items, max_tokens=50)
        batch = await c.batch(submitted.id)
        results = {r.custom_id: r async for r in c.batch_results(batch.id)}
    start, finish, create = mock.requests[:3]
    assert start.path == "/upload/v1beta/files"
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-type"] == "application/jsonl"
    assert int(start.headers["x-goog-upload-header-content-length"]) == len(finish.body)
    assert finish.headers["x-goog-upload-command"] == "upload, finalize"
    lines = [relaykit.json_decode.loads(line) for line in finish.body.splitlines()]
    assert [line["key"] for line in lines] == ["item-0", "item-1"]
    assert lines[0]["request"]["generationConfig"]["maxOutputTokens"] == 50
    file_name = create.json()["batch"]["input_config"]["file_name"]
    assert file_name.startswith("files/") and file_name in mock.batches.files
    assert batch.status == "ended" and len(batch.result_files) == 1
    download = mock.requests[-1]
    assert download.path == f"/download/v1beta/{batch.result_files[0]}:download"
    assert download.query == {"alt": "media"}
    assert results["item-0"].response is not None and results["item-0"].response.text == "one"
    assert isinstance(results["item-1"].error, InvalidRequestError)


@pytest.mark.anyio
async def test_a_cancelled_file_batch_fails_every_item_not_run(
    mock: GeminiMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "INLINE_MAX_BYTES", 10)
    mock.hold_batches = True
    async with client(mock) as c:
        batch = await c.submit_batch(FLASH, [BatchItem("x", "hi"), BatchItem("y", "hey")])
        cancelled = await c.cancel_batch(batch.id)
        results = [r async for r in c.batch_results(batch.id)]
    assert cancelled.status == "cancelled" and cancelled.vendor_status == "BATCH_STATE_CANCELLED"
    assert (cancelled.total, cancelled.succeeded, cancelled.errored) == (2, 0, 2)
    assert [r.custom_id for r in results] == ["x", "y"]
    assert all(r.error is not None and "cancelled" in str(r.error) for r in results)


def test_states_failures_and_string_counts_map_to_batch_fields() -> None:
    api = batches.GeminiBatches(None, "http://x", "v1beta", {}, "gemini", None)  # type: ignore[arg-type]

    def batch(state: str, **operation: Any) -> relaykit.Batch:
        meta = {
            "state": state,
            "model": "models/gemini-2.5-flash",
            "batchStats": {"requestCount": "4", "successfulRequestCount": "1"},
            "createTime": "2025-07-01T10:00:00.123456789Z",
        }
        return api._batch({"name": "batches/b1", "metadata": meta, **operation}, None)

    running = batch("BATCH_STATE_RUNNING")
    assert (running.status, running.model, running.total, running.pending) == (
        "in_progress",
        "gemini-2.5-flash",
        4,
        3,
    )
    assert running.created_at == pytest.approx(1751364000.123456)
    expired = batch("BATCH_STATE_EXPIRED", done=True)
    assert expired.status == "expired" and expired.errored == 3 and expired.done
    failed = batch("BATCH_STATE_FAILED", done=True, error={"code": 3, "message": "bad input file"})
    assert failed.status == "failed" and failed.error == "bad input file"
    assert batch("JOB_STATE_SUCCEEDED", done=True).status == "ended"


@pytest.mark.anyio
async def test_vertex_refuses_batches_unsent_and_says_why(mock: GeminiMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {
            "vertex": {
                "type": "vertex",
                "base_url": mock.base_url,
                "api_key": "ya29.static-token",
                "project": "mock-project",
            }
        },
    }
    async with relaykit.Client(config, env={}) as c:
        with pytest.raises(InvalidRequestError, match="no batch API") as refused:
            await c.submit_batch("vertex/gemini-2.5-flash", [BatchItem("a", "hi")])
    assert "Cloud Storage or BigQuery" in str(refused.value)
    assert not mock.requests


@pytest.mark.anyio
async def test_a_create_whose_answer_was_lost_is_found_by_its_display_name(
    mock: GeminiMock,
) -> None:
    from relaykit.testing import Reply

    mock.batch_script.push(Reply(answer_lost="drop"))
    async with client(mock) as c:
        batch = await c.submit_batch(FLASH, [BatchItem("a", "hi"), BatchItem("b", "ho")])
    (name,) = mock.batches.batches
    assert batch.id == f"gemini/{name}" and batch.total == 2
    creates = [r for r in mock.requests if r.path.endswith(":batchGenerateContent")]
    assert len(creates) == 1
    looked = [r for r in mock.requests if r.method == "GET" and r.path == "/v1beta/batches"]
    assert [r.query for r in looked] == [{"pageSize": "100"}]


@pytest.mark.anyio
async def test_an_inline_batch_over_20_mib_is_refused_by_the_mock_in_googles_words(
    mock: GeminiMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relaykit_gemini import mock_batches

    monkeypatch.setattr(mock_batches, "MAX_BODY_BYTES", 500)
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="Request payload size exceeds the limit"):
            await c.submit_batch(FLASH, [BatchItem(f"i{i}", "hi " * 50) for i in range(5)])
    assert not mock.batches.batches


@pytest.mark.anyio
async def test_batches_are_listed_newest_first_following_page_tokens(
    mock: GeminiMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "_FIND_AMONG", 2)
    mock.hold_batches = True
    async with client(mock) as c:
        made = [(await c.submit_batch(FLASH, [BatchItem(f"q{n}", "hi")])).id for n in range(5)]
        listed = await c.batches("gemini", limit=5)
        one = await c.batches(FLASH, limit=1)
    assert [b.id for b in listed] == made[::-1] and [b.id for b in one] == made[-1:]
    assert all(b.status == "in_progress" and b.model == "gemini-2.5-flash" for b in listed)
    pages = [r.query for r in mock.requests if r.method == "GET" and r.path == "/v1beta/batches"]
    assert pages == [
        {"pageSize": "2"},
        {"pageSize": "2", "pageToken": "mock-page-2"},
        {"pageSize": "2", "pageToken": "mock-page-4"},
        {"pageSize": "1"},
    ]
    assert all(r.headers["x-goog-api-key"] == KEY for r in mock.requests)


@pytest.mark.anyio
@pytest.mark.parametrize("repeated", ["mock-page-2", "mock-page-4"], ids=["same", "earlier"])
async def test_a_batch_listing_that_names_a_page_token_already_asked_for_ends(
    mock: GeminiMock, monkeypatch: pytest.MonkeyPatch, repeated: str
) -> None:
    # The page asked for as mock-page-4 names mock-page-2 (a page already read) or
    # itself as the next one: following it would read the same pages until ``limit``.
    monkeypatch.setattr(batches, "_FIND_AMONG", 2)
    mock.hold_batches = True

    async def repeat_a_token(request: Request, response: Response) -> Response:
        if request.path != "/v1beta/batches" or request.query.get("pageToken") != repeated:
            return response
        assert isinstance(response.body, bytes)
        page = {**json.loads(response.body), "nextPageToken": "mock-page-2"}
        return attrs.evolve(response, body=json.dumps(page).encode())

    async with client(mock) as c:
        made = [(await c.submit_batch(FLASH, [BatchItem(f"q{n}", "hi")])).id for n in range(6)]
        mock.rewrite = repeat_a_token
        with anyio.fail_after(10):
            listed = await c.batches("gemini", limit=100)
    read = 4 if repeated == "mock-page-2" else 6
    assert [b.id for b in listed] == made[::-1][:read]
    pages = [r for r in mock.requests if r.method == "GET" and r.path == "/v1beta/batches"]
    assert len(pages) == read // 2


@pytest.mark.anyio
async def test_a_submit_refused_with_a_503_is_retried_and_made_once(mock: GeminiMock) -> None:
    from relaykit.testing import Reply

    mock.batch_script.push(Reply.failure(503, "The model is overloaded."))
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY}},
    }
    async with relaykit.Client(config, env={}) as c:
        batch = await c.submit_batch(FLASH, [BatchItem("a", "hi")])
    creates = [r for r in mock.requests if r.path.endswith(":batchGenerateContent")]
    assert len(creates) == 2 and list(mock.batches.batches) == [batch.vendor_id]


@pytest.mark.anyio
async def test_vertex_refuses_listing_batches(mock: GeminiMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {
            "vertex": {
                "type": "vertex",
                "base_url": mock.base_url,
                "api_key": "ya29.static-token",
                "project": "mock-project",
            }
        },
    }
    async with relaykit.Client(config, env={}) as c:
        with pytest.raises(InvalidRequestError, match="no batch listing API"):
            await c.batches("vertex")
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("lost", ["drop", "reset"])
async def test_an_upload_whose_answer_was_lost_says_the_file_may_exist_not_the_batch(
    mock: GeminiMock, monkeypatch: pytest.MonkeyPatch, lost: Literal["drop", "reset"]
) -> None:
    from relaykit.testing import Reply

    monkeypatch.setattr(batches, "INLINE_MAX_BYTES", 10)
    mock.batch_script.push(Reply(), Reply(answer_lost=lost))  # the start, the finalize
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(FLASH, [BatchItem("a", "hi")])
    e = caught.value
    assert not [r for r in mock.requests if r.path.endswith(":batchGenerateContent")]
    assert len(mock.requests) == 2  # the start and the finalize, neither sent again
    assert not e.retryable and "may have been created" not in str(e)
    assert "input file may have been stored" in e.message and "no batch was created" in e.message
    assert len(mock.batches.files) == 1  # stored: the answer, not the upload, was lost
    display = mock.requests[0].json()["file"]["display_name"]
    assert e.hint is not None and display in e.hint and "48 hours" in e.hint
    assert KEY not in repr(e) and KEY not in str(e)


@pytest.mark.parametrize(
    ("meta", "field"),
    [({"createTime": "July 1st"}, "metadata.createTime"), ({"endTime": 17}, "metadata.endTime")],
)
def test_a_time_that_is_no_rfc_3339_time_is_an_answer_of_the_wrong_shape(
    meta: dict[str, Any], field: str
) -> None:
    # It was read as no time at all, silently.
    api = batches.GeminiBatches(None, "http://x", "v1beta", {}, "gemini", None)  # type: ignore[arg-type]
    operation = {"name": "batches/b1", "metadata": {"state": "BATCH_STATE_RUNNING", **meta}}
    with pytest.raises(ValueError, match=field) as caught:
        api._batch(operation, None)
    assert "a batch" in str(caught.value)
