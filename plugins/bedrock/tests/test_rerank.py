"""Rerank over InvokeModel: each reranker's body, top_n, extra, billed queries and their cost,
profile ids and ARNs, refusals before sending, the mock's own refusals, answers read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError, ProviderUnavailableError, RateLimitError, RelayError
from relaykit.embeddings import estimate_tokens
from relaykit.testing import Reply, mock_ranking, mock_relevance
from relaykit_bedrock.prices import lookup
from relaykit_bedrock.rerank import FAMILIES, family_of, parse_answer, request_body
from relaykit_bedrock.testing import BedrockMock, validate_invoke

from .conftest import MakeClient, bodies, invocations

COHERE = "cohere.rerank-v3-5:0"
AMAZON = "amazon.rerank-v1:0"
QUERY = "capital of France"
DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]


# -- the two bodies ----------------------------------------------------------------


@pytest.mark.anyio
async def test_cohere_body_path_signature_results_queries_and_cost(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        r = await client.rerank(f"bedrock/{COHERE}", QUERY, DOCUMENTS, top_n=2)
    (request,) = invocations(mock)
    assert request.method == "POST"
    assert request.path == f"/model/{quote(COHERE, safe='')}/invoke"
    # SigV4-signed over this path and body: the mock recomputed the signature.
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"query": QUERY, "documents": DOCUMENTS, "api_version": 2, "top_n": 2}
    assert [(x.index, x.document) for x in r.results] == [(1, DOCUMENTS[1]), (2, DOCUMENTS[2])]
    assert [x.score for x in r.results] == [
        pytest.approx(mock_relevance(QUERY, DOCUMENTS[i], i)) for i in (1, 2)
    ]
    assert (r.model, r.provider) == (COHERE, "bedrock")
    assert r.id  # Cohere's own id
    # One query (up to 100 documents) at USD 2.00 a thousand.
    assert r.search_units == 1
    assert isinstance(r.cost, Decimal)
    assert r.cost == Decimal("0.002")
    # Bedrock counts no tokens for a rerank: the core's estimate, for token limits.
    assert r.usage == relaykit.Usage(estimate_tokens((QUERY, *DOCUMENTS)))
    assert r.tokens_estimated


@pytest.mark.anyio
async def test_amazon_is_sent_no_top_n_and_its_results_are_cut_here(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.push(Reply(headers={"x-amzn-requestid": "9f1c0000-aws-request"}))
    async with make_client() as client:
        r = await client.rerank(f"bedrock/{AMAZON}", QUERY, DOCUMENTS, top_n=2)
    (request,) = invocations(mock)
    assert request.path == f"/model/{quote(AMAZON, safe='')}/invoke"
    assert request.json() == {"query": QUERY, "documents": DOCUMENTS}
    assert [x.index for x in r.results] == [1, 2]
    # Amazon's answer has no id of its own: AWS's request id stands in, as for Converse.
    assert r.id == "9f1c0000-aws-request"
    # One query at USD 1.00 a thousand.
    assert (r.search_units, r.cost) == (1, Decimal("0.001"))


@pytest.mark.anyio
@pytest.mark.parametrize("model", [COHERE, AMAZON])
async def test_without_top_n_every_document_comes_back_and_max_tokens_is_not_sent(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        r = await client.rerank(f"bedrock/{model}", QUERY, DOCUMENTS, max_tokens_per_doc=64)
    (body,) = bodies(mock)
    expected = {"query", "documents", "api_version"} if model == COHERE else {"query", "documents"}
    assert set(body) == expected
    assert [x.index for x in r.results] == [1, 2, 0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "count", "queries", "cost"),
    [
        (COHERE, 100, 1, Decimal("0.002")),
        (COHERE, 101, 2, Decimal("0.004")),
        (AMAZON, 250, 3, Decimal("0.003")),
        (AMAZON, 1_000, 10, Decimal("0.010")),
    ],
)
async def test_a_billed_query_ranks_up_to_100_documents(
    mock: BedrockMock,
    make_client: MakeClient,
    model: str,
    count: int,
    queries: int,
    cost: Decimal,
) -> None:
    documents = [f"passage {i} about rivers" for i in range(count)]
    async with make_client() as client:
        r = await client.rerank(f"bedrock/{model}", "rivers", documents, top_n=5)
    assert len(r.results) == 5
    assert (r.search_units, r.cost) == (queries, cost)


@pytest.mark.anyio
async def test_extra_is_merged_into_the_body_last(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        # The caller's word wins: Bedrock is asked for one result, not two.
        one = await client.rerank(
            f"bedrock/{COHERE}", QUERY, DOCUMENTS, top_n=2, extra={"top_n": 1}
        )
        # Amazon's top_n only goes when the caller sends it.
        amazon = await client.rerank(f"bedrock/{AMAZON}", QUERY, DOCUMENTS, extra={"top_n": 2})
        # A field Bedrock does not know is sent all the same; its refusal comes back typed.
        with pytest.raises(InvalidRequestError, match=r"extraneous key \[nope\]") as info:
            await client.rerank(f"bedrock/{COHERE}", QUERY, DOCUMENTS, extra={"nope": 1})
    first, second, refused = bodies(mock)
    assert first["top_n"] == 1 and [x.index for x in one.results] == [1]
    assert second == {"query": QUERY, "documents": DOCUMENTS, "top_n": 2}
    assert [x.index for x in amazon.results] == [1, 2]
    assert refused["nope"] == 1
    assert info.value.status == 400


# -- model ids -----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "api"),
    [
        ("us.cohere.rerank-v3-5:0", "cohere"),
        ("eu.amazon.rerank-v1:0", "amazon"),
        ("arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0", "cohere"),
        ("arn:aws:bedrock:ca-central-1::foundation-model/amazon.rerank-v1:0", "amazon"),
    ],
)
async def test_profile_ids_and_arns_find_their_family(
    mock: BedrockMock, make_client: MakeClient, model: str, api: str
) -> None:
    async with make_client() as client:
        r = await client.rerank(f"bedrock/{model}", QUERY, DOCUMENTS, top_n=1)
    (request,) = invocations(mock)
    # The id sits whole in one path segment: an ARN's '/' and ':' escaped.
    assert request.path == f"/model/{quote(model, safe='')}/invoke"
    assert ("api_version" in request.json()) is (api == "cohere")
    assert [x.index for x in r.results] == [1]
    assert family_of(model).api == api
    if not model.startswith("arn:"):  # prices are looked up by model and profile ids only
        assert r.cost == (Decimal("0.002") if api == "cohere" else Decimal("0.001"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model",
    [
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "cohere.embed-v4:0",
        "cohere.rerank-english-v3",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
    ],
)
async def test_a_model_that_is_no_known_reranker_is_refused_naming_them(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="not a Bedrock reranker model") as info:
            await client.rerank(f"bedrock/{model}", QUERY, DOCUMENTS)
    assert all(family.prefix in str(info.value) for family in FAMILIES)
    assert info.value.param == "model"
    assert invocations(mock) == []


@pytest.mark.anyio
@pytest.mark.parametrize("model", [COHERE, AMAZON])
async def test_more_documents_than_bedrock_ranks_are_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    documents = ["d"] * 1_001
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="at most 1,000 documents") as info:
            await client.rerank(f"bedrock/{model}", "q", documents)
        ok = await client.rerank(f"bedrock/{model}", "q", documents[:1_000], top_n=1)
    assert info.value.param == "documents"
    assert [len(b["documents"]) for b in bodies(mock)] == [1_000]
    assert ok.search_units == 10


# -- failures --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_scripted_failures_and_delays_are_honoured(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.push(
        Reply.failure(429, "Too many requests, please wait before trying again.", retry_after=7),
        Reply.failure(400, "Input is too long for requested model."),
        Reply(delay=0.05),
    )
    async with make_client() as client:
        with pytest.raises(RateLimitError, match="ThrottlingException") as throttled:
            await client.rerank(f"bedrock/{COHERE}", QUERY, DOCUMENTS)
        with pytest.raises(InvalidRequestError, match="ValidationException: Input is too long"):
            await client.rerank(f"bedrock/{AMAZON}", QUERY, DOCUMENTS)
        r = await client.rerank(f"bedrock/{AMAZON}", QUERY, DOCUMENTS)
    # Bedrock sends no Retry-After: the core's backoff decides.
    assert throttled.value.retryable and throttled.value.retry_after is None
    assert throttled.value.provider == "bedrock"
    assert r.results[0].index == 1
    assert len(invocations(mock)) == 3


# -- the mock, as Bedrock -------------------------------------------------------------

TOKEN = "ABSKQmVkcm9ja0FQSUtleS1tb2NrLXRva2Vu"
COHERE_OK: dict[str, Any] = {"query": "q", "documents": ["a", "b"], "api_version": 2}
AMAZON_OK: dict[str, Any] = {"query": "q", "documents": ["a", "b"]}


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    ("model", "body", "problem"),
    [
        (COHERE, ["q"], "#: expected type: JSONObject"),
        (COHERE, _without(COHERE_OK, "query"), "#: required key [query] not found"),
        (COHERE, _without(COHERE_OK, "documents"), "#: required key [documents] not found"),
        (COHERE, _without(COHERE_OK, "api_version"), "#: required key [api_version] not found"),
        (COHERE, {**COHERE_OK, "api_version": 1}, "#/api_version: 1 is not greater or equal to 2"),
        (COHERE, {**COHERE_OK, "api_version": 3}, "#/api_version: 3 is not less or equal to 2"),
        (COHERE, {**COHERE_OK, "api_version": "2"}, "#/api_version: expected type: Integer"),
        (COHERE, {**COHERE_OK, "query": ""}, "#/query: expected minLength: 1, actual: 0"),
        (COHERE, {**COHERE_OK, "documents": []}, "expected minimum item count: 1, found: 0"),
        (COHERE, {**COHERE_OK, "documents": "a"}, "#/documents: expected type: JSONArray"),
        (COHERE, {**COHERE_OK, "documents": ["a"] * 1_001}, "maximum item count: 1000"),
        (COHERE, {**COHERE_OK, "top_n": 0}, "#/top_n: 0 is not greater or equal to 1"),
        (COHERE, {**COHERE_OK, "top_n": "2"}, "#/top_n: expected type: Integer"),
        (COHERE, {**COHERE_OK, "top_n": True}, "#/top_n: expected type: Integer"),
        (COHERE, {**COHERE_OK, "stream": True}, "#: extraneous key [stream] is not permitted"),
        (AMAZON, _without(AMAZON_OK, "query"), "#: required key [query] not found"),
        (AMAZON, _without(AMAZON_OK, "documents"), "#: required key [documents] not found"),
        (AMAZON, {**AMAZON_OK, "documents": [{"text": "a"}]}, "#/documents/0: expected type"),
        (AMAZON, {**AMAZON_OK, "top_n": -1}, "#/top_n: -1 is not greater or equal to 1"),
        (AMAZON, {**AMAZON_OK, "api_version": 2}, "extraneous key [api_version]"),
    ],
)
def test_the_mock_refuses_what_bedrock_refuses(model: str, body: Any, problem: str) -> None:
    message = validate_invoke(model, body)
    assert message is not None and problem in message, message
    assert message.startswith("Malformed input request: ")


@pytest.mark.parametrize("model", [COHERE, AMAZON, f"us.{COHERE}", f"eu.{AMAZON}"])
def test_the_mock_takes_each_rerankers_own_body(model: str) -> None:
    body = COHERE_OK if "cohere" in model else AMAZON_OK
    assert validate_invoke(model, {**body, "top_n": 1}) is None
    assert validate_invoke(model, body) is None


def test_the_mock_names_the_rerankers_it_serves() -> None:
    message = validate_invoke("cohere.rerank-v9:0", COHERE_OK)
    assert message is not None and message.startswith("The provided model identifier is invalid")
    assert "cohere.rerank-v3-5" in message and "amazon.rerank-v1" in message


def test_the_mock_ranks_over_http_and_refuses_before_the_script() -> None:
    with BedrockMock(bearer_token=TOKEN) as m:

        def invoke(model: str, body: Any) -> httpx.Response:
            return httpx.post(
                f"{m.base_url}/model/{quote(model, safe='')}/invoke",
                json=body,
                headers={"authorization": f"Bearer {TOKEN}"},
            )

        m.script.fail(429, "slow down", retry_after=7)
        # A body Bedrock refuses is refused first: the scripted failure still waits.
        refused = invoke(COHERE, _without(COHERE_OK, "api_version"))
        assert refused.status_code == 400
        assert refused.headers["x-amzn-errortype"].startswith("ValidationException:")
        assert "required key [api_version] not found" in refused.json()["message"]
        throttled = invoke(COHERE, COHERE_OK)
        assert throttled.status_code == 429
        assert throttled.headers["x-amzn-errortype"].startswith("ThrottlingException:")
        assert throttled.json() == {"message": "slow down"}

        documents = ["cats purr", "dogs bark", "cats and dogs"]
        cohere = invoke(COHERE, {**COHERE_OK, "query": "cats", "documents": documents, "top_n": 2})
        assert cohere.status_code == 200 and cohere.json()["id"]
        assert cohere.json()["results"] == [
            {"index": i, "relevance_score": s} for i, s in mock_ranking("cats", documents)[:2]
        ]
        # A top_n above the number of documents gives every one.
        amazon = invoke(AMAZON, {"query": "cats", "documents": documents, "top_n": 9})
        assert set(amazon.json()) == {"results"}
        assert [x["index"] for x in amazon.json()["results"]] == [0, 2, 1]
        assert amazon.headers["x-amzn-requestid"]
        assert "x-amzn-bedrock-input-token-count" not in amazon.headers
    assert len(m.requests) == 4


# -- answers and prices ---------------------------------------------------------------

REQUEST = relaykit.RerankRequest(model=COHERE, query="q", documents=("a", "b", "c"), top_n=2)


def test_answers_are_sorted_cut_and_counted() -> None:
    data = {
        "results": [
            {"index": 2, "relevance_score": 0.2},
            {"index": 0, "relevance_score": 0.9},
            {"index": 1.0, "relevance_score": 0.5},
        ]
    }
    family = family_of(COHERE)
    r = parse_answer(family, data, {"x-amzn-requestid": "req-1"}, REQUEST, provider="bedrock")
    assert [(x.index, x.score, x.document) for x in r.results] == [(0, 0.9, "a"), (1, 0.5, "b")]
    assert (r.id, r.search_units, r.usage, r.model) == ("req-1", 1, relaykit.Usage(), COHERE)
    with_id = parse_answer(family, {**data, "id": "co-1"}, {}, REQUEST, provider="bedrock")
    assert with_id.id == "co-1"
    assert parse_answer(family, data, {}, REQUEST, provider="bedrock").id is None


@pytest.mark.parametrize(
    "data",
    [
        {},
        [],
        "oops",
        {"results": None},
        {"results": [{"index": 0}]},
        {"results": [{"relevanceScore": 0.5, "index": 0}]},
        {"results": [{"index": "0", "relevance_score": 0.5}]},
        {"results": [{"index": True, "relevance_score": 0.5}]},
        {"results": [{"index": 0.5, "relevance_score": 0.5}]},
        {"results": [{"index": 0, "relevance_score": "high"}]},
    ],
)
def test_answers_without_ranked_results_are_provider_errors(data: Any) -> None:
    with pytest.raises(
        ProviderUnavailableError, match=r"Amazon Rerank 1\.0 without ranked results"
    ):
        parse_answer(family_of(AMAZON), data, {}, REQUEST, provider="bedrock")


@pytest.mark.parametrize("indices", [(0, 3), (1, 1), (-1,)])
def test_an_index_out_of_range_or_repeated_is_refused(indices: tuple[int, ...]) -> None:
    data = {"results": [{"index": i, "relevance_score": 0.5} for i in indices]}
    with pytest.raises(RelayError, match="out of range or ranked twice"):
        parse_answer(family_of(COHERE), data, {}, REQUEST, provider="bedrock")


def test_request_bodies_follow_the_family() -> None:
    request = relaykit.RerankRequest(
        model=AMAZON, query="q", documents=("a",), top_n=1, max_tokens_per_doc=9
    )
    assert request_body(family_of(AMAZON), request) == {"query": "q", "documents": ["a"]}
    assert request_body(family_of(COHERE), request) == {
        "query": "q",
        "documents": ["a"],
        "api_version": 2,
        "top_n": 1,
    }


@pytest.mark.parametrize(
    ("model", "per_thousand"),
    [(COHERE, "2.00"), (f"us.{COHERE}", "2.00"), (AMAZON, "1.00"), (f"eu.{AMAZON}", "1.00")],
)
def test_rerankers_are_priced_per_query(model: str, per_thousand: str) -> None:
    _, price = lookup(model)
    assert price is not None
    assert price.per_search == Decimal(per_thousand) / 1000
    assert (price.input, price.output) == (Decimal(0), Decimal(0))
    # Billed per query: the tokens, estimated or reported, cost nothing.
    assert price.cost(relaykit.Usage(10_000), searches=3) == 3 * price.per_search
