"""What relaykit-openai's rerank (the compatible presets') puts on the wire and reads
back, beyond the contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit import (
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
    RerankRequest,
)
from relaykit.testing import OpenAIMock, Reply, mock_ranking, mock_relevance
from relaykit.testing.loopback import LoopbackServer, Request, Response
from relaykit_openai import PRESETS, OpenAIProvider
from relaykit_openai.rerank import parse, request_body

KEY = "sk-test-0123456789abcdef0123"
MODEL = "vllm/BAAI/bge-reranker-v2-m3"
QUERY = "capital of France"
DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]
RERANKING = {"vllm", "together", "openrouter", "fireworks"}


def config(base_url: str, provider: str = "vllm") -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {provider: {"base_url": base_url, "api_key": KEY}},
    }


def bodies(mock: OpenAIMock) -> list[dict[str, Any]]:
    return [r.json() for r in mock.requests if r.path == "/v1/rerank"]


def request(**params: Any) -> RerankRequest:
    return RerankRequest(model="m", query=QUERY, documents=tuple(DOCUMENTS), **params)


@pytest.fixture
def canned() -> Iterator[tuple[LoopbackServer, list[Response]]]:
    """A server answering each request with the next canned response (a test's own
    bodies, which the mock would never send)."""
    answers: list[Response] = []

    async def handler(request: Request) -> Response:
        return answers.pop(0)

    with LoopbackServer(handler) as server:
        yield server, answers


# -- the request -------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_body_is_model_query_and_documents(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.rerank(MODEL, QUERY, DOCUMENTS)
    assert bodies(mock) == [
        {"model": "BAAI/bge-reranker-v2-m3", "query": QUERY, "documents": DOCUMENTS}
    ]
    assert mock.last_request.headers["authorization"] == f"Bearer {KEY}"
    assert [(x.index, x.document) for x in r.results] == [
        (1, DOCUMENTS[1]),
        (2, DOCUMENTS[2]),
        (0, DOCUMENTS[0]),
    ]
    assert r.results[0].score == pytest.approx(mock_relevance(QUERY, DOCUMENTS[1], 1))
    assert (r.provider, r.model) == ("vllm", "BAAI/bge-reranker-v2-m3")
    assert r.id is not None and r.id.startswith("rerank-")
    assert r.usage == relaykit.Usage(3 + 4 + 6 + 3)  # the mock's total_tokens: words
    assert r.search_units == 0 and r.cost is None


@pytest.mark.anyio
async def test_top_n_is_sent_and_max_tokens_per_doc_is_not(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.rerank(MODEL, QUERY, DOCUMENTS, top_n=1, max_tokens_per_doc=64)
    (body,) = bodies(mock)
    assert body["top_n"] == 1
    assert "max_tokens_per_doc" not in body and "truncate_prompt_tokens" not in body
    assert r.documents == (DOCUMENTS[1],)


@pytest.mark.anyio
async def test_extra_is_merged_into_the_body(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        await client.rerank(MODEL, QUERY, DOCUMENTS, extra={"truncate_prompt_tokens": 256})
    assert bodies(mock)[0]["truncate_prompt_tokens"] == 256


def test_extra_comes_last() -> None:
    body = request_body(request(top_n=2, extra={"top_n": 3, "return_documents": False}))
    assert body == {
        "model": "m",
        "query": QUERY,
        "documents": DOCUMENTS,
        "top_n": 3,
        "return_documents": False,
    }


# -- the answer ----------------------------------------------------------------------


def answer(usage: Any = None, **more: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "rerank-1",
        "model": "served-model",
        "results": [
            {"index": i, "relevance_score": s, "document": {"text": DOCUMENTS[i]}}
            for i, s in mock_ranking(QUERY, DOCUMENTS)
        ],
        **more,
    }
    if usage is not None:
        data["usage"] = usage
    return data


@pytest.mark.parametrize(
    ("usage", "tokens"),
    [
        ({"prompt_tokens": 7, "total_tokens": 9}, 7),  # newer vLLM, Together, Fireworks
        ({"total_tokens": 9}, 9),  # older vLLM (Jina's shape)
        ({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 12}, 12),
        ({}, 0),
        (None, 0),  # no usage at all: 0, and the core estimates
    ],
)
def test_input_tokens_from_either_usage_spelling(usage: Any, tokens: int) -> None:
    r = parse(answer(usage), request(), "vllm")
    assert r.usage == relaykit.Usage(tokens)
    assert (r.model, r.id) == ("served-model", "rerank-1")


def test_a_null_document_is_fine_the_texts_are_the_requests() -> None:
    data = {
        "results": [
            {"index": 2, "relevance_score": 0.4, "document": None},
            {"index": 0, "relevance_score": 0.9},
        ]
    }
    r = parse(data, request(), "together")
    assert [(x.index, x.score, x.document) for x in r.results] == [
        (0, 0.9, DOCUMENTS[0]),
        (2, 0.4, DOCUMENTS[2]),
    ]
    assert r.model == "m" and r.id is None


def test_fireworks_lists_its_results_under_data() -> None:
    data = {
        "object": "list",
        "model": "accounts/fireworks/models/qwen3-reranker-8b",
        "data": [
            {"index": 1, "relevance_score": 0.8, "document": DOCUMENTS[1]},
            {"index": 0, "relevance_score": 0.1, "document": DOCUMENTS[0]},
        ],
        "usage": {"prompt_tokens": 30, "total_tokens": 30},
    }
    r = parse(data, request(top_n=2), "fireworks")
    assert [x.index for x in r.results] == [1, 0]
    assert r.usage.input_tokens == 30


def test_openrouters_search_units_are_kept() -> None:
    r = parse(answer({"search_units": 1, "total_tokens": 150}), request(), "openrouter")
    assert (r.search_units, r.usage.input_tokens) == (1, 150)


@pytest.mark.anyio
async def test_an_answer_without_tokens_gets_the_cores_estimate(mock: OpenAIMock) -> None:
    mock.script.push(Reply(input_tokens=0))
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.rerank(MODEL, QUERY, DOCUMENTS)
    assert r.usage.input_tokens > 0


@pytest.mark.anyio
async def test_an_unreadable_answer_is_a_retryable_provider_error(
    canned: tuple[LoopbackServer, list[Response]],
) -> None:
    server, answers = canned
    answers += [
        Response(200, {"content-type": "text/html"}, b"<html>not the API</html>"),
        Response.json({"results": [{"index": "first", "relevance_score": 0.5}]}),
        Response.json({"results": [{"index": 1.5, "relevance_score": 0.5}]}),
        Response.json(["not", "an", "object"]),
        Response.json({"choices": []}),
    ]
    async with relaykit.Client(config(server.url + "/v1")) as client:
        for _ in range(5):
            # a proxy's page or a service in trouble: a retry or a fallback may help
            with pytest.raises(ProviderUnavailableError, match="could not be read") as caught:
                await client.rerank(MODEL, QUERY, DOCUMENTS)
            assert caught.value.retryable
            assert KEY not in str(caught.value)


@pytest.mark.anyio
async def test_an_index_out_of_range_is_refused(
    canned: tuple[LoopbackServer, list[Response]],
) -> None:
    server, answers = canned
    answers.append(Response.json({"results": [{"index": 3, "relevance_score": 0.5}]}))
    async with relaykit.Client(config(server.url + "/v1")) as client:
        with pytest.raises(RelayError, match="out of range"):
            await client.rerank(MODEL, QUERY, DOCUMENTS)


@pytest.mark.anyio
async def test_an_error_in_a_200_answer_is_typed(
    canned: tuple[LoopbackServer, list[Response]],
) -> None:
    server, answers = canned
    answers.append(Response.json({"error": {"message": "Rate limit exceeded", "code": 429}}))
    async with relaykit.Client(config(server.url + "/v1", "openrouter")) as client:
        with pytest.raises(RateLimitError, match="Rate limit exceeded"):
            await client.rerank("openrouter/cohere/rerank-v3.5", QUERY, DOCUMENTS)


@pytest.mark.anyio
async def test_a_vendor_refusal_is_typed_with_its_param(
    canned: tuple[LoopbackServer, list[Response]],
) -> None:
    server, answers = canned
    body = {
        "error": {
            "message": "top_n must be at most 1000",
            "type": "invalid_request_error",
            "param": "top_n",
            "code": None,
        }
    }
    answers.append(Response.json(body, 400))
    async with relaykit.Client(config(server.url + "/v1", "together")) as client:
        with pytest.raises(InvalidRequestError, match="top_n must be") as caught:
            await client.rerank("together/Salesforce/Llama-Rank-v1", QUERY, DOCUMENTS)
    assert caught.value.param == "top_n"
    assert caught.value.provider == "together"


# -- which services rank -----------------------------------------------------------


def test_which_presets_rerank() -> None:
    assert OpenAIProvider.rerank is None
    assert {name for name, p in PRESETS.items() if p.rerank is not None} == RERANKING


@pytest.mark.parametrize("name", sorted(set(PRESETS) - RERANKING))
@pytest.mark.anyio
async def test_a_preset_without_rerank_is_refused_before_sending(
    mock: OpenAIMock, name: str
) -> None:
    async with relaykit.Client(config(mock.base_url, name)) as client:
        with pytest.raises(InvalidRequestError, match="no rerank API"):
            await client.rerank(f"{name}/some-model", QUERY, DOCUMENTS)
    assert mock.requests == []


@pytest.mark.parametrize("name", sorted(RERANKING))
@pytest.mark.anyio
async def test_every_reranking_preset_posts_to_its_base_url(mock: OpenAIMock, name: str) -> None:
    async with relaykit.Client(config(mock.base_url, name)) as client:
        r = await client.rerank(f"{name}/a-reranker", QUERY, DOCUMENTS, top_n=1)
    assert [x.path for x in mock.requests] == ["/v1/rerank"]
    assert r.provider == name and r.results[0].index == 1
