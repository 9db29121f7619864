"""Gemini embeddings on the wire: batchEmbedContents bodies, batches, tokens, cost, the mock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError, NotFoundError, RateLimitError, Usage
from relaykit.embeddings import estimate_tokens
from relaykit.testing import Reply, mock_vector, one_try_config
from relaykit_gemini import embeddings
from relaykit_gemini.prices import known_model
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
MODEL = "gemini/gemini-embedding-001"
URL_PATH = "/v1beta/models/gemini-embedding-001:batchEmbedContents"


@asynccontextmanager
async def client(mock: GeminiMock, **sections: Any) -> AsyncIterator[relaykit.Client]:
    cfg = one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY}}, **sections)
    async with relaykit.Client(cfg, env={}) as c:
        yield c


def bodies(mock: GeminiMock) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in mock.requests if r.path == URL_PATH]


# -- the request -------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_entry_per_text_with_the_model_url_and_key(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.embed(MODEL, ["first text", "second text"])
    sent = mock.last_request
    assert (sent.method, sent.path) == ("POST", URL_PATH)
    assert sent.headers["x-goog-api-key"] == KEY
    assert json.loads(sent.body) == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "first text"}]},
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "second text"}]},
            },
        ]
    }
    assert r.vectors == (mock_vector("first text"), mock_vector("second text"))
    assert (r.provider, r.model) == ("gemini", "gemini-embedding-001")


@pytest.mark.anyio
@pytest.mark.parametrize("size", [127, 3073])
async def test_dimensions_outside_the_models_range_are_refused_before_sending(
    mock: GeminiMock, size: int
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=f"128 to 3072 dimensions, not {size}") as e:
            await c.embed(MODEL, [f"text {i}" for i in range(250)], dimensions=size)
    assert (e.value.param, e.value.provider, e.value.status) == ("dimensions", "gemini", None)
    assert "leave `dimensions` out" in str(e.value)
    assert mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("input_type", "task"), [("query", "RETRIEVAL_QUERY"), ("document", "RETRIEVAL_DOCUMENT")]
)
async def test_input_type_is_the_task_type_and_dimensions_the_output_size(
    mock: GeminiMock, input_type: str, task: str
) -> None:
    async with client(mock) as c:
        r = await c.embed(MODEL, ["a", "b"], input_type=input_type, dimensions=128)
    entries = bodies(mock)[0]["requests"]
    assert [e["taskType"] for e in entries] == [task, task]
    assert [e["outputDimensionality"] for e in entries] == [128, 128]
    assert r.vectors == (mock_vector("a", 128), mock_vector("b", 128))
    assert r.dimensions == 128


@pytest.mark.anyio
async def test_extra_is_merged_into_each_entry(mock: GeminiMock) -> None:
    extra = {"taskType": "SEMANTIC_SIMILARITY", "title": "Handbook"}
    async with client(mock) as c:
        await c.embed(MODEL, ["x", "y"], input_type="query", extra=extra)
    entries = bodies(mock)[0]["requests"]
    assert all(e["taskType"] == "SEMANTIC_SIMILARITY" and e["title"] == "Handbook" for e in entries)


@pytest.mark.anyio
async def test_extra_gemini_does_not_know_is_its_typed_error(mock: GeminiMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match='Unknown name "autoTruncate"'):
            await c.embed(MODEL, "x", extra={"autoTruncate": True})


# -- batches -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_more_than_100_texts_go_in_batches_of_100_in_order(mock: GeminiMock) -> None:
    texts = [f"text {i}" for i in range(250)]
    mock.script.push(Reply(input_tokens=7), Reply(input_tokens=11), Reply(input_tokens=13))
    async with client(mock) as c:
        r = await c.embed(MODEL, texts)
    sent = bodies(mock)
    assert [len(b["requests"]) for b in sent] == [100, 100, 50]
    assert [e["content"]["parts"][0]["text"] for b in sent for e in b["requests"]] == texts
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage == Usage(7 + 11 + 13)


def test_batches_keep_order_and_size() -> None:
    texts = tuple(str(i) for i in range(201))
    runs = embeddings.batches(texts)
    assert [len(run) for run in runs] == [100, 100, 1]
    assert tuple(t for run in runs for t in run) == texts
    assert embeddings.batches(("a",)) == [("a",)]
    # a token budget: a text costs its UTF-8 bytes and two, a longer one goes alone
    assert embeddings.batches(("é", "é", "é"), max_tokens=8) == [("é", "é"), ("é",)]
    assert embeddings.batches(("x" * 9, "y", "z"), 5, max_tokens=6) == [("x" * 9,), ("y", "z")]


@pytest.mark.anyio
async def test_a_failed_batch_fails_the_call(mock: GeminiMock) -> None:
    mock.script.push(Reply(), Reply.failure(429, "Resource has been exhausted", retry_after=2))
    async with client(mock) as c:
        with pytest.raises(RateLimitError) as info:
            await c.embed(MODEL, [f"t{i}" for i in range(150)])
    assert info.value.retry_after == pytest.approx(2)
    assert len(bodies(mock)) == 2


@pytest.mark.anyio
async def test_a_retry_sends_only_the_batches_that_got_no_answer(mock: GeminiMock) -> None:
    # the first 100 texts were embedded (and billed) before the second call failed
    mock.script.push(Reply(input_tokens=5), Reply.failure(503, "The model is overloaded."))
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    texts = [f"t{i}" for i in range(150)]
    async with client(mock, retry=retry) as c:
        r = await c.embed(MODEL, texts)
    assert [len(b["requests"]) for b in bodies(mock)] == [100, 50, 50]
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.attempts == 2


# -- tokens and cost ---------------------------------------------------------------


@pytest.mark.anyio
async def test_reported_tokens_are_billed_at_the_list_price(mock: GeminiMock) -> None:
    mock.script.push(Reply(input_tokens=2_000_000))
    async with client(mock) as c:
        r = await c.embed(MODEL, "priced")
    assert r.usage == Usage(2_000_000)
    assert r.cost == Decimal("0.30")
    assert isinstance(r.cost, Decimal)


@pytest.mark.anyio
async def test_tokens_are_estimated_when_gemini_reports_none() -> None:
    texts = ["x" * 10, "y"]  # ceil(10 / 4) + at least one
    with GeminiMock(api_key=KEY, embedding_usage=False) as mock:
        mock.script.push(Reply(input_tokens=999))  # not reported: the estimate stands
        async with client(mock) as c:
            r = await c.embed(MODEL, texts)
    assert r.usage == Usage(3 + 1) and r.tokens_estimated
    assert r.cost == Decimal(4) * Decimal("0.15") / 1_000_000


def test_reported_tokens_read_usage_metadata() -> None:
    assert embeddings.reported_tokens({"usageMetadata": {"promptTokenCount": 5}}) == 5
    assert embeddings.reported_tokens({"usageMetadata": {}}) is None
    assert embeddings.reported_tokens({"embeddings": []}) is None
    assert estimate_tokens(["abcd", "abcde", "a"]) == 1 + 2 + 1


def test_embedding_models_are_priced() -> None:
    window, price = known_model("gemini-embedding-001")
    assert window == 2_048
    assert price is not None and (price.input, price.output) == (Decimal("0.15"), Decimal(0))
    assert known_model("gemini-embedding-2-preview")[1] == known_model("gemini-embedding-2")[1]
    assert known_model("text-embedding-004") == (None, None)


# -- errors ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_chat_model_does_not_embed(mock: GeminiMock) -> None:
    async with client(mock) as c:
        with pytest.raises(NotFoundError, match="not supported for batchEmbedContents"):
            await c.embed("gemini/gemini-2.5-flash", "x")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"embeddings": [{"values": [0.5]}]}, "1 embeddings for 2 texts"),
        ({"embeddings": "values"}, "something other than a BatchEmbedContentsResponse"),
    ],
)
async def test_an_answer_that_is_not_one_vector_per_text_is_refused(
    mock: GeminiMock, answer: dict[str, Any], message: str
) -> None:
    from relaykit import ProviderUnavailableError
    from relaykit.testing.loopback import Response

    async def odd(request: Any) -> Response:
        return Response.json(answer)

    mock.route = odd  # type: ignore[method-assign]
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError, match=message):
            await c.embed(MODEL, ["a", "b"])


# -- the mock ----------------------------------------------------------------------


def entry(text: str, model: str = "models/gemini-embedding-001", **kw: Any) -> dict[str, Any]:
    return {"model": model, "content": {"parts": [{"text": text}]}, **kw}


async def post(mock: GeminiMock, body: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(mock.base_url + URL_PATH, json=body, headers={"x-goog-api-key": KEY})


@pytest.mark.anyio
async def test_mock_answers_in_gemini_wire_format(mock: GeminiMock) -> None:
    r = await post(
        mock, {"requests": [entry("hello world"), entry("hi", outputDimensionality=128)]}
    )
    assert r.status_code == 200
    assert r.json() == {
        "embeddings": [
            {"values": list(mock_vector("hello world"))},
            {"values": list(mock_vector("hi", 128))},
        ],
        "usageMetadata": {
            "promptTokenCount": 3,
            "promptTokenDetails": [{"modality": "TEXT", "tokenCount": 3}],
        },
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"requests": [entry(str(i)) for i in range(101)]}, "at most 100 requests can be in one"),
        ({"requests": [entry("a", "models/text-embedding-004")]}, "is not the model the batch"),
        ({"requests": [entry(" ")]}, "the text to embed is empty"),
        ({"requests": [{"model": "models/gemini-embedding-001", "content": {}}]}, "parts"),
        ({"requests": []}, "requests is not specified"),
        ({"requests": [entry("a", taskType="SEARCH")]}, "TaskType"),
        ({"requests": [entry("a", outputDimensionality=0)]}, "must be positive"),
        ({"requests": [entry("a", outputDimensionality=64)]}, "outside the range"),
        ({"requests": [entry("a", outputDimensionality=4096)]}, "(128 to 3072)"),
        ({"requests": [entry("a", outputDimensionality="8")]}, "TYPE_INT32"),
        ({"requests": [entry("a")], "model": "x"}, 'Unknown name "model"'),
    ],
)
async def test_mock_refuses_what_gemini_refuses(
    mock: GeminiMock, body: dict[str, Any], message: str
) -> None:
    r = await post(mock, body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


#: Google's words for one text of a batch it refuses (a 400 INVALID_ARGUMENT)
REFUSED_50 = "* BatchEmbedContentsRequest.requests[50].content.parts[0].text: text is too long\n"


@pytest.mark.anyio
async def test_a_refused_text_is_named_by_the_callers_index(mock: GeminiMock) -> None:
    # Gemini names a refused text by its place in the batch it got; the caller's
    # text is the 150th of the call, the second batch's 50th.
    mock.script.push(Reply(), Reply.failure(400, REFUSED_50))
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.embed(MODEL, [f"text {i}" for i in range(160)])
    error = caught.value
    assert error.param == "inputs[150]"
    assert "inputs[150]" in str(error)
    assert "requests[50]" in (error.provider_message or "")  # Gemini's own words, kept


@pytest.mark.anyio
async def test_an_error_naming_several_texts_or_none_names_no_input(mock: GeminiMock) -> None:
    two = REFUSED_50 + REFUSED_50.replace("[50]", "[7]")
    mock.script.push(
        Reply.failure(400, two), Reply.failure(400, "* BatchEmbedContentsRequest.requests: bad")
    )
    async with client(mock) as c:
        for _ in range(2):
            with pytest.raises(InvalidRequestError) as caught:
                await c.embed(MODEL, ["a", "b"])
            assert caught.value.param is None
