"""Anthropic batches that must not be created twice, and Message Batches' limits.

A Message Batch carries no metadata to find it again by, so a create whose answer
was lost is an error saying the batch may exist (never a second create); a batch
over 100,000 requests or 256 MB is refused before sending. Every call goes over
loopback HTTP to :class:`AnthropicMock`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import relaykit
from relaykit import BatchItem, InvalidRequestError, ProviderUnavailableError, RequestTimeoutError
from relaykit.testing import Reply
from relaykit_anthropic import batches, mock_batches
from relaykit_anthropic.testing import AnthropicMock

from .conftest import KEY

pytestmark = pytest.mark.anyio
MODEL = "anthropic/claude-haiku-4-5"


def client(
    mock: AnthropicMock, retry: dict[str, Any] | None = None, **timeouts: float
) -> relaykit.Client:
    config = {
        "storage": {"backend": "none"},
        "timeouts": timeouts,
        "retry": retry or {"attempts": 1},
        "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
    }
    return relaykit.Client(config, env={})


def creates(mock: AnthropicMock) -> int:
    return sum(1 for r in mock.requests if r.method == "POST" and r.path == "/v1/messages/batches")


async def test_a_create_whose_answer_was_lost_is_one_batch_and_an_error_saying_so(
    mock: AnthropicMock,
) -> None:
    mock.batch_script.push(Reply(answer_lost="reset"))
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi"), BatchItem("b", "ho")])
    e = caught.value
    assert not e.retryable and "may have been created" in e.message
    assert e.hint and "2 items to claude-haiku-4-5" in e.hint
    assert "client.batch('anthropic/ID')" in e.hint and "client.batches('anthropic')" in e.hint
    assert len(mock.batches.batches) == 1 and creates(mock) == 1
    assert KEY not in repr(e)


async def test_a_create_that_outlives_the_total_timeout_may_have_made_a_batch(
    mock: AnthropicMock,
) -> None:
    mock.batch_script.push(Reply(delay=1.0))
    async with client(mock, total=0.2) as c:
        with pytest.raises(RequestTimeoutError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    e = caught.value
    assert "no answer to the batch's submission" in e.message
    assert "may have been created" in e.message and not e.retryable


async def test_a_refusal_that_says_nothing_was_done_stays_retryable(mock: AnthropicMock) -> None:
    mock.batch_script.push(Reply.failure(529, "Overloaded"))
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    assert caught.value.retryable and "may have been" not in str(caught.value)


async def test_a_refusal_that_says_nothing_was_done_is_retried_and_made_once(
    mock: AnthropicMock,
) -> None:
    mock.batch_script.push(Reply.failure(529, "Overloaded"), Reply.failure(429, "slow down"))
    async with client(mock, {"attempts": 3, "initial_wait": 0}) as c:
        batch = await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    assert creates(mock) == 3 and list(mock.batches.batches) == [batch.vendor_id]


async def test_an_item_json_cannot_hold_is_refused_unsent_not_a_batch_that_may_exist(
    mock: AnthropicMock,
) -> None:
    # Encoding the body fails before anything leaves: not "a malformed response"
    # (which would say the batch may exist), and not a bare TypeError either.
    looped: dict[str, Any] = {}
    looped["self"] = looped
    async with client(mock, retry={"attempts": 3, "initial_wait": 0}) as c:
        for extra in ({"metadata": looped}, {"metadata": {"when": object()}}):
            with pytest.raises(InvalidRequestError) as caught:
                await c.submit_batch(MODEL, [BatchItem("a", "hi", {"extra": extra})])
            e = caught.value
            assert "JSON" in e.message and e.status is None and not e.retryable
            assert "may have been" not in str(e) and "malformed response" not in str(e)
            assert e.hint and "extra" in e.hint
            with pytest.raises(InvalidRequestError, match="JSON"):
                await c.chat(MODEL, "hi", extra=extra)
    assert not mock.requests


async def test_batches_are_listed_newest_first_a_page_after_another(
    mock: AnthropicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "MAX_PAGE", 2)
    mock.hold_batches = True
    async with client(mock) as c:
        made = [(await c.submit_batch(MODEL, [BatchItem(f"q{n}", "hi")])).id for n in range(5)]
        listed = await c.batches("anthropic", limit=5)
        two = await c.batches(MODEL, limit=1)
    assert [b.id for b in listed] == made[::-1] and [b.id for b in two] == made[-1:]
    assert all(b.status == "in_progress" and b.total == 1 and b.model is None for b in listed)
    pages = [r.query for r in mock.requests if r.method == "GET"]
    vendor = [m.removeprefix("anthropic/") for m in made]
    assert pages == [
        {"limit": "2"},
        {"limit": "2", "after_id": vendor[3]},
        {"limit": "2", "after_id": vendor[1]},
        {"limit": "1"},
    ]


async def test_the_mocks_list_pages_both_ways_and_refuses_a_bad_limit(
    mock: AnthropicMock,
) -> None:
    mock.hold_batches = True
    async with client(mock) as c:
        made = [
            (await c.submit_batch(MODEL, [BatchItem(f"q{n}", "hi")])).vendor_id for n in range(4)
        ]
    store = mock.batches

    def page(**query: str) -> Any:
        answer = store.list(query, mock.base_url)
        assert isinstance(answer.body, bytes)
        return answer.status, json.loads(answer.body)

    _, older = page(limit="2", after_id=made[3])
    assert [b["id"] for b in older["data"]] == [made[2], made[1]] and older["has_more"]
    _, newer = page(limit="2", before_id=made[0])
    assert [b["id"] for b in newer["data"]] == [made[2], made[1]] and newer["has_more"]
    status, refused = page(limit="1001")
    assert status == 400 and "between 1 and 1000" in refused["error"]["message"]


async def test_a_batch_over_256_mb_is_refused_before_sending(
    mock: AnthropicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "MAX_BYTES", 2_000)
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="over Anthropic's limit") as e:
            await c.submit_batch(MODEL, [BatchItem(f"i{i}", "hi " * 100) for i in range(5)])
    assert not mock.requests
    # in bytes, the limit as counted: megabytes rounded read a batch just over the
    # limit as "256 MB, over Anthropic's limit of 256 MB"
    size = re.search(r"the batch is ([\d,]+) bytes", str(e.value))
    assert size is not None and int(size[1].replace(",", "")) > 2_000
    assert "limit of 2,000 bytes" in str(e.value)


async def test_the_mock_refuses_an_oversized_batch_in_anthropics_words(
    mock: AnthropicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mock_batches, "MAX_BODY_BYTES", 2_000)
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="maximum allowed number of bytes") as e:
            await c.submit_batch(MODEL, [BatchItem(f"i{i}", "hi " * 100) for i in range(5)])
    assert e.value.status == 413 and not mock.batches.batches


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"created_at": "2024-08-20 noon"}, "created_at"), ({"ended_at": 1724179044}, "ended_at")],
)
def test_a_time_that_is_no_rfc_3339_time_is_an_answer_of_the_wrong_shape(
    fields: dict[str, Any], field: str
) -> None:
    # It was read as no time at all, silently.
    from relaykit_anthropic.batches import MessageBatches

    api = MessageBatches(None, "http://x", {}, "anthropic")  # type: ignore[arg-type]
    data = {"id": "msgbatch_1", "processing_status": "in_progress", **fields}
    with pytest.raises(ValueError, match=field) as caught:
        api._batch(data, None)
    assert "a message batch" in str(caught.value)
    ok = api._batch({**data, field: "2024-08-20T18:37:24.100435Z"}, None)
    assert getattr(ok, field) == pytest.approx(1724179044.100435)
