"""``POST /v1/rerank`` (and ``/v2/rerank``, ``/rerank``) seen with a plain HTTP client:
Cohere's body shapes both ways, Jina's document objects, the refusals, and the headers
operators read."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit.testing import FakePlugin, RecordingExporter, TracingExporter, mock_ranking
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway import GatewayKeys
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {KEY}"}
BASE = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
QUERY = "What is the capital of France?"
DOCUMENTS = [
    "Berlin lies in Germany.",
    "Paris is the capital of France.",
    "The capital of France has many bridges.",
    "Cats sleep most of the day.",
]
RERANK = {"model": "fake/rerank-v3.5", "query": QUERY, "documents": DOCUMENTS}


@asynccontextmanager
async def gateway_over(
    fake: FakePlugin, config: dict[str, Any] | None = None, *plugins: Any, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client over ``fake`` behind a gateway; yields an HTTP client for the gateway."""
    async with (
        relaykit.Client({**BASE, **(config or {})}, plugins=[fake, *plugins]) as client,
        running(client, **options) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH) as http,
    ):
        yield http


def ranked(query: str, documents: list[str]) -> list[dict[str, Any]]:
    """Cohere's results for the fake's ranking, best first."""
    return [{"index": i, "relevance_score": s} for i, s in mock_ranking(query, documents)]


async def test_documents_come_back_best_first_in_coheres_v2_shape(fake: FakePlugin) -> None:
    async with gateway_over(fake) as http:
        r = await http.post("/v1/rerank", json=RERANK)
    assert r.status_code == 200
    # key for key and in Cohere's order; no texts unless asked for
    assert list(r.json().items()) == [
        ("id", "rerank-fake"),
        ("results", ranked(QUERY, DOCUMENTS)),
        ("meta", {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}),
    ]
    assert [item["index"] for item in r.json()["results"]] == [1, 2, 3, 0]
    (request,) = fake.reranks
    assert (request.model, request.query, request.documents) == (
        "rerank-v3.5",
        QUERY,
        tuple(DOCUMENTS),
    )
    assert request.top_n is None


async def test_top_n_keeps_the_best_and_max_tokens_per_doc_reaches_the_call(
    fake: FakePlugin,
) -> None:
    body = {**RERANK, "top_n": 2, "max_tokens_per_doc": 512}
    async with gateway_over(fake) as http:
        r = await http.post("/v1/rerank", json=body)
    assert r.json()["results"] == ranked(QUERY, DOCUMENTS)[:2]
    (request,) = fake.reranks
    assert (request.top_n, request.max_tokens_per_doc) == (2, 512)


async def test_return_documents_gives_each_result_its_text_from_strings_or_objects(
    fake: FakePlugin,
) -> None:
    # Jina's and Cohere v1's objects: the text is ranked, other fields are not read
    documents: list[Any] = [
        DOCUMENTS[0],
        {"text": DOCUMENTS[1], "title": "France", "id": "doc-2"},
        {"text": DOCUMENTS[2]},
        DOCUMENTS[3],
    ]
    body = {**RERANK, "documents": documents, "return_documents": True, "top_n": 3}
    async with gateway_over(fake) as http:
        r = await http.post("/v1/rerank", json=body)
        without = await http.post("/v1/rerank", json={**body, "return_documents": False})
    assert r.status_code == 200
    assert r.json()["results"] == [
        {**item, "document": {"text": DOCUMENTS[item["index"]]}}
        for item in ranked(QUERY, DOCUMENTS)[:3]
    ]
    assert all("document" not in item for item in without.json()["results"])
    assert fake.reranks[0].documents == tuple(DOCUMENTS)


@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank", "/rerank"])
async def test_the_route_answers_where_coheres_jinas_and_litellms_clients_call(
    fake: FakePlugin, path: str
) -> None:
    async with gateway_over(fake) as http:
        r = await http.post(path, json=RERANK)
        wrong_method = await http.get(path)
    assert r.status_code == 200
    assert r.json()["results"] == ranked(QUERY, DOCUMENTS)
    assert wrong_method.status_code == 405
    assert "GET is not allowed" in wrong_method.json()["error"]["message"]


async def test_a_bare_name_goes_to_cohere_and_an_alias_routes(fake: FakePlugin) -> None:
    config = {
        # the `cohere` provider answered by the fake, as the README's examples are tested
        "providers": {"cohere": {"type": "fake"}},
        "models": {"ranker": {"targets": ["fake/rerank-english"]}},
    }
    async with gateway_over(fake, config) as http:
        bare = await http.post("/v1/rerank", json={**RERANK, "model": "rerank-v3.5"})
        routed = await http.post("/v1/rerank", json={**RERANK, "model": "ranker"})
    assert bare.status_code == routed.status_code == 200
    assert bare.headers["x-relaykit-provider"] == "cohere"
    assert routed.headers["x-relaykit-provider"] == "fake"
    assert [r.model for r in fake.reranks] == ["rerank-v3.5", "rerank-english"]


async def test_a_bare_name_without_a_cohere_key_is_refused_before_any_request(
    fake: FakePlugin,
) -> None:
    async with gateway_over(fake) as http:
        r = await http.post("/v1/rerank", json={**RERANK, "model": "rerank-v3.5"})
    assert r.status_code == 400
    assert "cohere" in r.json()["error"]["message"].lower()
    assert fake.reranks == []


async def test_operators_see_which_deployment_answered_and_its_cost(fake: FakePlugin) -> None:
    many = [f"document number {i}" for i in range(150)]
    async with gateway_over(fake) as http:
        r = await http.post("/v1/rerank", json={**RERANK, "documents": many, "top_n": 1})
    # the fake bills a search per 100 documents, at USD 0.002 each for rerank-* models
    assert r.json()["meta"]["billed_units"] == {"search_units": 2}
    assert r.headers["x-relaykit-provider"] == "fake"
    assert r.headers["x-relaykit-model"] == "rerank-v3.5"
    assert math.isclose(float(r.headers["x-relaykit-cost"]), 0.004)


async def test_input_tokens_are_billed_units_only_when_the_provider_counted_them(
    fake: FakePlugin,
) -> None:
    fake.script.reply(input_tokens=1234)
    async with gateway_over(fake) as http:
        counted = await http.post("/v1/rerank", json=RERANK)
        # uncounted: the core estimated them for its limits; Cohere's meta has no estimate
        estimated = await http.post("/v1/rerank", json=RERANK)
    assert counted.json()["meta"]["billed_units"] == {"search_units": 1, "input_tokens": 1234}
    assert estimated.json()["meta"]["billed_units"] == {"search_units": 1}
    assert "x-relaykit-estimated" not in counted.headers
    assert estimated.headers["x-relaykit-estimated"] == "true"


async def test_metadata_the_callers_key_and_unknown_fields_reach_the_call_and_its_record(
    fake: FakePlugin,
) -> None:
    records = RecordingExporter()
    body = {
        **RERANK,
        "metadata": {"gateway_key": "forged", "ticket": "T-1"},
        "priority": 3,  # a vendor's own: sent untouched
    }
    async with gateway_over(fake, {"storage": {"backend": "none"}}, records) as http:
        r = await http.post("/v1/rerank", json=body, headers={"x-request-id": "req-42"})
    assert r.status_code == 200
    (request,) = fake.reranks
    assert request.extra == {"priority": 3}
    assert request.metadata == {
        "gateway_key": "alice",  # the key's name, whatever the body says
        "ticket": "T-1",
        "correlation_id": "req-42",
    }
    (record,) = records.records
    assert record.operation == "rerank"
    assert record.params["metadata"]["gateway_key"] == "alice"
    assert record.correlation_id == "req-42"


@pytest.mark.parametrize(
    ("change", "param", "needle"),
    [
        ({"model": ""}, "model", "`model`"),
        ({"documents": None}, "documents", "`documents` is required"),
        ({"documents": ["fine", 7]}, "documents[1]", "documents[1] is a number"),
        ({"documents": [["nested"]]}, "documents[0]", "documents[0] is a list"),
        ({"documents": ["fine", {"title": "x"}]}, "documents[1].text", "`text` field"),
        ({"documents": [{"text": 3}]}, "documents[0].text", "must be a string"),
        ({"rank_fields": ["title"]}, "rank_fields", "send the documents as strings"),
        ({"return_documents": "yes"}, "return_documents", "true or false"),
        ({"metadata": {"n": 1}}, "metadata", "object of strings"),
        ({"top_n": 0}, "top_n", "positive integer"),
        ({"max_tokens_per_doc": "long"}, "max_tokens_per_doc", "positive integer"),
        ({"query": None}, "query", "non-blank string"),
    ],
)
async def test_bad_fields_are_400s_that_name_them(
    fake: FakePlugin, change: dict[str, Any], param: str, needle: str
) -> None:
    async with gateway_over(fake) as http:
        r = await http.post("/v1/rerank", json={**RERANK, **change})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert needle in error["message"]
    assert fake.reranks == []


@pytest.mark.parametrize("documents", [[], "one text", ["fine", "   "], [{"text": ""}]])
async def test_empty_or_blank_documents_get_the_cores_refusal(
    fake: FakePlugin, documents: Any
) -> None:
    texts: str | list[Any] = [d["text"] if isinstance(d, dict) else d for d in documents]
    if isinstance(documents, str):
        texts = documents
    async with relaykit.Client(BASE, plugins=[fake]) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.rerank("fake/rerank-v3.5", QUERY, texts)
        async with running(client) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            r = await http.post("/v1/rerank", json={**RERANK, "documents": documents})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == str(caught.value)
    assert r.json()["error"]["param"] == caught.value.param
    assert fake.reranks == []


async def test_no_key_or_a_wrong_one_is_a_401_before_any_call(fake: FakePlugin) -> None:
    async with gateway_over(fake) as http:
        missing = await http.post("/v1/rerank", json=RERANK, headers={"authorization": ""})
        wrong = await http.post(
            "/v2/rerank", json=RERANK, headers={"authorization": "Bearer gw-mallory-0123456789"}
        )
        # Anthropic has no rerank API: its SDK's header does not change the shape
        anthropic_shaped = await http.post(
            "/rerank", json=RERANK, headers={"authorization": "", "anthropic-version": "2023-06-01"}
        )
    assert missing.status_code == wrong.status_code == anthropic_shaped.status_code == 401
    # OpenAI's 401: an invalid_request_error of code invalid_api_key
    assert (missing.json()["error"]["type"], missing.json()["error"]["code"]) == (
        "invalid_request_error",
        "invalid_api_key",
    )
    assert anthropic_shaped.json() == missing.json()
    assert "is missing" in missing.json()["error"]["message"]
    assert "not a gateway key" in wrong.json()["error"]["message"]
    assert fake.reranks == []


async def test_a_key_limited_to_some_models_gets_a_403_for_others(fake: FakePlugin) -> None:
    keys = GatewayKeys.parse(f"alice={KEY}", "alice=fake/rerank-*,ranker")
    config = {"models": {"ranker": {"targets": ["fake/big-reranker"]}}}
    async with gateway_over(fake, config, keys=keys) as http:
        refused = await http.post("/v1/rerank", json={**RERANK, "model": "fake/big-reranker"})
        # a bare name is checked as the model it becomes
        bare = await http.post("/v1/rerank", json={**RERANK, "model": "rerank-v3.5"})
        assert fake.reranks == []  # nothing refused reached a provider
        allowed = await http.post("/v1/rerank", json=RERANK)
        aliased = await http.post("/v1/rerank", json={**RERANK, "model": "ranker"})
    assert refused.status_code == bare.status_code == 403
    assert refused.json()["error"]["message"] == (
        "the gateway key 'alice' may not use the model 'fake/big-reranker'; it may use"
        " fake/rerank-*, ranker: ask the gateway's operator for more"
    )
    assert "'cohere/rerank-v3.5'" in bare.json()["error"]["message"]
    assert allowed.status_code == aliased.status_code == 200


async def test_a_providers_error_comes_back_in_openais_shape_with_its_status(
    fake: FakePlugin,
) -> None:
    fake.script.fail(429, "slow down", retry_after=4)
    async with gateway_over(fake) as http:
        r = await http.post(
            "/v2/rerank",
            json=RERANK,
            # Anthropic has no rerank API: its error shape never applies here
            headers={"anthropic-version": "2023-06-01"},
        )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "4"
    assert r.json() == {
        "error": {
            "message": "fake/rerank-v3.5: HTTP 429: slow down",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


async def test_a_provider_without_rerank_is_a_400_that_names_it(
    anthropic_mock: AnthropicMock,
) -> None:
    providers = {"anthropic": {"base_url": anthropic_mock.base_url, "api_key": UPSTREAM_KEY}}
    async with (
        relaykit.Client({**BASE, "providers": providers}) as client,
        running(client) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH) as http,
    ):
        r = await http.post("/v1/rerank", json={**RERANK, "model": "anthropic/claude-haiku-4-5"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model"
    assert "anthropic has no rerank API" in r.json()["error"]["message"]
    assert anthropic_mock.requests == []


async def test_a_rerank_calls_span_is_a_child_of_the_callers_trace(fake: FakePlugin) -> None:
    tracing = TracingExporter()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with gateway_over(fake, None, tracing) as http:
        traced = {**AUTH, "traceparent": f"00-{trace_id}-{parent_id}-01"}
        r = await http.post("/v1/rerank", headers=traced, json=RERANK)
    assert r.status_code == 200
    (span,) = tracing.spans.get_finished_spans()
    assert span.name == "rerank rerank-v3.5"
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == trace_id
    assert format(span.parent.span_id, "016x") == parent_id
