"""``/v2/embed``: the body sent, splitting into 96s, order, refusals, tokens and cost."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.embeddings import estimate_tokens
from relaykit.testing import Reply, mock_vector
from relaykit_cohere.embeddings import embed, parse_answer
from relaykit_cohere.provider import PRICES
from relaykit_cohere.testing import CohereMock
from relaykit_cohere.testing import client_for as client

KEY = "co-test-key-0123456789abcdef"  # conftest's mock expects it
V4 = "cohere/embed-v4.0"
V3 = "cohere/embed-english-v3.0"


def embed_bodies(mock: CohereMock) -> list[Any]:
    return [r.json() for r in mock.requests if r.path == "/v2/embed"]


@pytest.mark.anyio
async def test_body_headers_tokens_and_cost(mock: CohereMock) -> None:
    async with client(mock) as c:
        r = await c.embed(
            V4, ["the cat sat", "on the mat"], dimensions=512, extra={"truncate": "START"}
        )
    (request,) = [r for r in mock.requests if r.path == "/v2/embed"]
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json() == {
        "model": "embed-v4.0",
        "texts": ["the cat sat", "on the mat"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 512,
        "truncate": "START",
    }
    assert r.vectors == (mock_vector("the cat sat", 512), mock_vector("on the mat", 512))
    assert (r.model, r.provider) == ("embed-v4.0", "cohere")
    # meta.billed_units.input_tokens; Embed v4 costs USD 0.12 a million.
    assert r.usage == relaykit.Usage(6)
    assert isinstance(r.cost, Decimal)
    assert r.cost == Decimal("0.12") * 6 / 1_000_000


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("input_type", "sent"),
    [(None, "search_document"), ("document", "search_document"), ("query", "search_query")],
)
async def test_input_type_maps_to_cohere_words(
    mock: CohereMock, input_type: str | None, sent: str
) -> None:
    async with client(mock) as c:
        r = await c.embed(V3, "a question?", input_type=input_type)
    assert embed_bodies(mock)[0]["input_type"] == sent
    assert "output_dimension" not in embed_bodies(mock)[0]
    assert r.cost == Decimal("0.10") * 2 / 1_000_000


@pytest.mark.anyio
async def test_more_than_96_texts_are_split_and_kept_in_order(mock: CohereMock) -> None:
    # The first request to arrive waits longest: the answers come back out of order.
    # Each waits 0.3 s at least, so all four are in flight at once even on a loaded
    # machine (arrivals ~0.1 s apart once read 2 of 4 in flight).
    texts = [f"passage {i}" for i in range(300)]
    mock.script.push(*(Reply(delay=0.3 + 0.1 * (3 - i), input_tokens=100 + i) for i in range(4)))
    async with client(mock) as c:
        r = await c.embed(V4, texts)
    sent = embed_bodies(mock)
    assert sorted(len(b["texts"]) for b in sent) == [12, 96, 96, 96]
    assert sorted(t for b in sent for t in b["texts"]) == sorted(texts)
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == 100 + 101 + 102 + 103
    assert mock.peak_embeds_in_flight == 4


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "size", "match"),
    [
        (V4, 300, r"256, 512, 1024, 1536 only, not 300"),
        (V3, 256, r"takes no `dimensions`"),
    ],
)
async def test_dimensions_a_known_model_cannot_give_are_refused_before_sending(
    mock: CohereMock, model: str, size: int, match: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(relaykit.InvalidRequestError, match=match) as info:
            await c.embed(model, "short", dimensions=size)
    assert info.value.param == "dimensions"
    assert embed_bodies(mock) == []


@pytest.mark.anyio
async def test_an_unknown_model_is_sent_and_coheres_answer_is_typed(mock: CohereMock) -> None:
    async with client(mock) as c:
        with pytest.raises(relaykit.NotFoundError, match="model 'embed-v9' not found"):
            await c.embed("cohere/embed-v9", "x", dimensions=64)
        with pytest.raises(relaykit.InvalidRequestError, match="unknown field: parameter nope"):
            await c.embed(V4, "x", extra={"nope": 1})
    assert embed_bodies(mock)[0]["output_dimension"] == 64


@pytest.mark.anyio
async def test_a_failed_request_of_several_is_the_calls_typed_error(mock: CohereMock) -> None:
    mock.script.push(Reply(delay=0.05), Reply.failure(429, "rate limited"), Reply(delay=0.05))
    async with client(mock) as c:
        with pytest.raises(relaykit.RateLimitError, match="rate limited") as info:
            await c.embed(V4, [f"t{i}" for i in range(200)])
    assert info.value.retryable and info.value.status == 429


def test_the_mock_refuses_what_cohere_refuses() -> None:
    with CohereMock() as m:

        def post(body: Any) -> httpx.Response:
            return httpx.post(f"{m.base_url}/v2/embed", content=json.dumps(body))

        ok = {"model": "embed-v4.0", "texts": ["x"], "input_type": "search_query"}
        assert post(ok).status_code == 200
        for body, problem in [
            ({**ok, "input_type": None}, "valid input_type must be provided"),
            ({**ok, "texts": ["x"] * 97}, "at most 96 - received 97"),
            ({**ok, "output_dimension": 100}, "output_dimension must be one of"),
            ({**ok, "model": "embed-english-v3.0", "output_dimension": 256}, "does not support"),
            ({**ok, "embedding_types": ["int8"]}, "float embeddings only"),
        ]:
            r = post(body)
            assert r.status_code == 400 and problem in r.json()["message"], (body, r.text)


def test_answers_without_float_vectors_are_provider_errors() -> None:
    for data, count in [
        ({"embeddings": {"int8": [[1]]}}, 1),
        ({"embeddings": {"float": [[0.1]]}}, 2),
        ([], 1),
    ]:
        with pytest.raises(relaykit.ProviderUnavailableError):
            parse_answer(data, count, provider="cohere", model="m")
    # The v1 shape (a bare list) is read too; no meta: no count (estimated by embed).
    assert parse_answer({"embeddings": [[1, 2]]}, 1, provider="c", model="m") == (
        [(1.0, 2.0)],
        None,
    )


@pytest.mark.anyio
async def test_an_answer_without_billed_tokens_is_estimated_not_free() -> None:
    # A Cohere-compatible service (or an older API version) may answer without
    # meta.billed_units: the call's usage and cost must still count those texts,
    # marked estimated, not report them as free. One batch has a count, one not.
    texts = [f"text number {i}" for i in range(100)]
    answers = iter(
        [
            {"embeddings": {"float": [[0.5]] * 96}, "meta": {"billed_units": {"input_tokens": 7}}},
            {"embeddings": {"float": [[0.5]] * 4}},
        ]
    )

    async def post(body: dict[str, Any]) -> Any:
        return next(answers)

    request = relaykit.EmbeddingRequest(model="embed-v4.0", inputs=tuple(texts))
    r = await embed(request, post, provider="cohere")
    assert r.usage.input_tokens == 7 + estimate_tokens(texts[96:])
    assert r.tokens_estimated


def test_embedding_prices() -> None:
    assert PRICES["embed-v4.0"].input == Decimal("0.12")
    assert PRICES["embed-english-v3.0"].input == Decimal("0.10")
