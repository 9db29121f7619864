"""``/v2/rerank``: the body sent, results, search units and cost, usage, refusals."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.embeddings import estimate_tokens
from relaykit.testing import Reply, mock_relevance
from relaykit_cohere.provider import PRICES
from relaykit_cohere.rerank import parse_answer
from relaykit_cohere.testing import CohereMock
from relaykit_cohere.testing import client_for as client

KEY = "co-test-key-0123456789abcdef"  # conftest's mock expects it
V35 = "cohere/rerank-v3.5"
QUERY = "capital of France"
DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]


def rerank_bodies(mock: CohereMock) -> list[Any]:
    return [r.json() for r in mock.requests if r.path == "/v2/rerank"]


@pytest.mark.anyio
async def test_body_headers_results_search_units_and_cost(mock: CohereMock) -> None:
    async with client(mock) as c:
        r = await c.rerank(V35, QUERY, DOCUMENTS, top_n=2, max_tokens_per_doc=256)
    (request,) = [r for r in mock.requests if r.path == "/v2/rerank"]
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "model": "rerank-v3.5",
        "query": QUERY,
        "documents": DOCUMENTS,
        "top_n": 2,
        "max_tokens_per_doc": 256,
    }
    assert [(x.index, x.document) for x in r.results] == [(1, DOCUMENTS[1]), (2, DOCUMENTS[2])]
    assert [x.score for x in r.results] == [
        pytest.approx(mock_relevance(QUERY, DOCUMENTS[i], i)) for i in (1, 2)
    ]
    assert (r.model, r.provider) == ("rerank-v3.5", "cohere")
    assert r.id and r.id.startswith("4e4a0000-")
    # meta.billed_units.search_units, at USD 2.00 a thousand searches.
    assert r.search_units == 1
    assert isinstance(r.cost, Decimal)
    assert r.cost == Decimal("0.002")
    # Cohere counted no tokens: the core's estimate, so that token limits see the texts.
    assert r.usage == relaykit.Usage(estimate_tokens((QUERY, *DOCUMENTS)))


@pytest.mark.anyio
async def test_optional_fields_are_left_out_and_every_document_comes_back(
    mock: CohereMock,
) -> None:
    async with client(mock) as c:
        r = await c.rerank(V35, QUERY, DOCUMENTS)
    assert rerank_bodies(mock) == [{"model": "rerank-v3.5", "query": QUERY, "documents": DOCUMENTS}]
    assert [x.index for x in r.results] == [1, 2, 0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "count", "units", "cost"),
    [
        (V35, 100, 1, Decimal("0.002")),
        (V35, 101, 2, Decimal("0.004")),
        ("cohere/rerank-v4.0-fast", 250, 3, Decimal("0.006")),
        ("cohere/rerank-v4.0-pro", 250, 3, Decimal("0.0075")),
    ],
)
async def test_a_search_unit_is_a_query_with_up_to_100_documents(
    mock: CohereMock, model: str, count: int, units: int, cost: Decimal
) -> None:
    documents = [f"passage {i} about rivers" for i in range(count)]
    async with client(mock) as c:
        r = await c.rerank(model, "rivers", documents, top_n=5)
    assert len(r.results) == 5
    assert (r.search_units, r.cost) == (units, cost)


@pytest.mark.anyio
async def test_tokens_cohere_reports_are_the_usage_and_cost_stays_per_search(
    mock: CohereMock,
) -> None:
    mock.script.push(Reply(input_tokens=42))
    async with client(mock) as c:
        r = await c.rerank(V35, QUERY, DOCUMENTS)
    assert r.usage == relaykit.Usage(42)
    assert r.cost == Decimal("0.002")


@pytest.mark.anyio
async def test_extra_is_merged_into_the_body_last(mock: CohereMock) -> None:
    async with client(mock) as c:
        await c.rerank(
            V35, QUERY, DOCUMENTS, max_tokens_per_doc=64, extra={"max_tokens_per_doc": 512}
        )
        # A field Cohere does not know is sent all the same; its refusal comes back typed.
        with pytest.raises(relaykit.InvalidRequestError, match="unknown field: parameter nope"):
            await c.rerank(V35, QUERY, DOCUMENTS, extra={"nope": 1})
    first, refused = rerank_bodies(mock)
    assert first["max_tokens_per_doc"] == 512
    assert refused["nope"] == 1


@pytest.mark.anyio
async def test_an_unknown_model_is_sent_and_coheres_answer_is_typed(mock: CohereMock) -> None:
    async with client(mock) as c:
        with pytest.raises(relaykit.NotFoundError, match="model 'rerank-v9' not found"):
            await c.rerank("cohere/rerank-v9", QUERY, DOCUMENTS)
        # A chat model is not a rerank model.
        with pytest.raises(relaykit.NotFoundError, match="command-a-03-2025"):
            await c.rerank("cohere/command-a-03-2025", QUERY, DOCUMENTS)
    assert [b["model"] for b in rerank_bodies(mock)] == ["rerank-v9", "command-a-03-2025"]


@pytest.mark.anyio
async def test_more_documents_than_cohere_takes_are_refused_before_sending(
    mock: CohereMock,
) -> None:
    documents = ["d"] * 10_001
    async with client(mock) as c:
        with pytest.raises(relaykit.InvalidRequestError, match="at most 10,000") as info:
            await c.rerank(V35, "q", documents)
        ok = await c.rerank(V35, "q", documents[:10_000], top_n=1)
    assert info.value.param == "documents"
    assert [len(b["documents"]) for b in rerank_bodies(mock)] == [10_000]
    assert ok.search_units == 100


@pytest.mark.anyio
async def test_scripted_failures_and_delays_are_honoured(mock: CohereMock) -> None:
    mock.script.push(Reply.failure(429, "slow down", retry_after=7), Reply(delay=0.05))
    async with client(mock) as c:
        with pytest.raises(relaykit.RateLimitError, match="slow down") as info:
            await c.rerank(V35, QUERY, DOCUMENTS)
        r = await c.rerank(V35, QUERY, DOCUMENTS)
    # Cohere documents no Retry-After, so the mock sends none.
    assert info.value.retryable and info.value.retry_after is None
    assert r.results[0].index == 1


def test_the_mock_refuses_what_cohere_refuses() -> None:
    with CohereMock() as m:

        def post(body: Any) -> httpx.Response:
            return httpx.post(f"{m.base_url}/v2/rerank", content=json.dumps(body))

        ok = {"model": "rerank-v3.5", "query": "q", "documents": ["a", "b"]}
        assert post(ok).status_code == 200
        assert post({**ok, "top_n": 1}).json()["results"] == [
            {"index": 0, "relevance_score": mock_relevance("q", "a", 0)}
        ]
        for body, problem in [
            ([ok], "body must be a JSON object"),
            ({k: v for k, v in ok.items() if k != "model"}, "a model parameter is required"),
            ({k: v for k, v in ok.items() if k != "query"}, "query must be a non-empty string"),
            ({**ok, "query": "  "}, "query must be a non-empty string"),
            ({**ok, "documents": []}, "documents must be a non-empty list"),
            ({**ok, "documents": "a"}, "documents must be a non-empty list"),
            ({**ok, "documents": ["a", {"text": "b"}]}, "documents[1] must be a non-empty string"),
            ({**ok, "documents": ["a", ""]}, "documents[1] must be a non-empty string"),
            ({**ok, "documents": ["a"] * 10_001}, "at most 10000 - received 10001"),
            ({**ok, "top_n": 0}, "top_n must be a positive integer"),
            ({**ok, "top_n": "2"}, "top_n must be a positive integer"),
            ({**ok, "top_n": True}, "top_n must be a positive integer"),
            ({**ok, "max_tokens_per_doc": -1}, "max_tokens_per_doc must be a positive integer"),
            ({**ok, "return_documents": True}, "unknown field: parameter return_documents"),
        ]:
            r = post(body)
            assert r.status_code == 400 and problem in r.json()["message"], (body, r.text)
        r = post({**ok, "model": "embed-v4.0"})
        assert r.status_code == 404 and "embed-v4.0" in r.json()["message"]


REQUEST = relaykit.RerankRequest(model="m", query="q", documents=("a", "b", "c"), top_n=2)


def test_answers_sorted_cut_and_counted() -> None:
    # Cohere sends results best first; they are put in that order whatever the answer's.
    data = {
        "id": "r-1",
        "results": [
            {"index": 2, "relevance_score": 0.2},
            {"index": 0, "relevance_score": 0.9},
            {"index": 1, "relevance_score": 0.5},
        ],
        "meta": {"billed_units": {"search_units": 2.0}, "tokens": {"input_tokens": 17}},
    }
    r = parse_answer(data, REQUEST, provider="cohere")
    assert [(x.index, x.score, x.document) for x in r.results] == [(0, 0.9, "a"), (1, 0.5, "b")]
    assert (r.id, r.search_units, r.usage, r.model) == ("r-1", 2, relaykit.Usage(17), "m")
    # Billed input tokens count too; output tokens never do (a ranking has no output).
    billed = {**data, "meta": {"billed_units": {"input_tokens": 9, "output_tokens": 3}}}
    assert parse_answer(billed, REQUEST, provider="cohere").usage == relaykit.Usage(9)


def test_an_answer_without_billed_units_is_costed_as_cohere_bills() -> None:
    request = relaykit.RerankRequest(model="m", query="q", documents=("d",) * 201)
    r = parse_answer({"results": [{"index": 0, "relevance_score": 1}]}, request, provider="c")
    assert (r.search_units, r.id, r.usage) == (3, None, relaykit.Usage())


@pytest.mark.parametrize(
    "data",
    [
        {},
        [],
        "oops",
        {"results": None},
        {"results": [{"index": 0}]},
        {"results": [{"relevance_score": 0.5}]},
        {"results": [{"index": "0", "relevance_score": 0.5}]},
        {"results": [{"index": True, "relevance_score": 0.5}]},
        {"results": [{"index": 0.5, "relevance_score": 0.5}]},
        {"results": [{"index": 0, "relevance_score": "high"}]},
    ],
)
def test_answers_without_ranked_results_are_provider_errors(data: Any) -> None:
    with pytest.raises(relaykit.ProviderUnavailableError, match="without ranked results"):
        parse_answer(data, REQUEST, provider="cohere")


@pytest.mark.parametrize("indices", [(0, 3), (1, 1), (-1,)])
def test_an_index_out_of_range_or_repeated_is_refused(indices: tuple[int, ...]) -> None:
    data = {"results": [{"index": i, "relevance_score": 0.5} for i in indices]}
    with pytest.raises(relaykit.RelayError, match="out of range or ranked twice"):
        parse_answer(data, REQUEST, provider="cohere")


def test_rerank_prices_are_per_search_unit() -> None:
    for model, per_thousand in [
        ("rerank-v3.5", "2.00"),
        ("rerank-v4.0-fast", "2.00"),
        ("rerank-v4.0-pro", "2.50"),
    ]:
        price = PRICES[model]
        assert price.per_search == Decimal(per_thousand) / 1000
        assert (price.input, price.output) == (Decimal(0), Decimal(0))
        # Billed per search: the tokens, estimated or reported, cost nothing.
        assert price.cost(relaykit.Usage(10_000), searches=3) == 3 * price.per_search
