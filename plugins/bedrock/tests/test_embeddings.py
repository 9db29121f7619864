"""Embeddings over InvokeModel: each family's body, batching, order, refusals, tokens and cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
)
from relaykit.testing import Reply, mock_embedding_tokens, mock_vector
from relaykit_bedrock.embeddings import FAMILIES, family_of, parse_answer
from relaykit_bedrock.prices import lookup
from relaykit_bedrock.testing import BedrockMock, validate_invoke

from .conftest import MakeClient, bodies, invocations

TITAN = "amazon.titan-embed-text-v2:0"
TITAN_V1 = "amazon.titan-embed-text-v1"
COHERE_V3 = "cohere.embed-english-v3"
COHERE_V4 = "us.cohere.embed-v4:0"


# -- Titan -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_titan_v2_body_path_signature_tokens_and_cost(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        r = await client.embed(f"bedrock/{TITAN}", "the cat sat on the mat", dimensions=512)
    (request,) = invocations(mock)
    assert request.path == f"/model/{quote(TITAN, safe='')}/invoke"
    # SigV4-signed, and the mock recomputed the signature over this path and body.
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert request.json() == {
        "inputText": "the cat sat on the mat",
        "normalize": True,
        "dimensions": 512,
    }
    assert r.vectors == (mock_vector("the cat sat on the mat", 512),)
    assert (r.model, r.provider) == (TITAN, "bedrock")
    # inputTextTokenCount: one a word in the mock; Titan v2 costs USD 0.02 a million.
    assert r.usage == relaykit.Usage(6)
    assert r.cost == Decimal("0.02") * 6 / 1_000_000
    assert isinstance(r.cost, Decimal)


@pytest.mark.anyio
async def test_titan_sends_one_text_a_request_and_ignores_input_type(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    texts = ["alpha", "beta gamma", "delta"]
    async with make_client() as client:
        r = await client.embed(f"bedrock/{TITAN}", texts, input_type="query")
    assert sorted(b["inputText"] for b in bodies(mock)) == sorted(texts)
    assert all(set(b) == {"inputText", "normalize"} for b in bodies(mock))
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == sum(map(mock_embedding_tokens, texts))


@pytest.mark.anyio
async def test_titan_batches_run_at_most_eight_at_once_and_keep_their_order(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # The first requests to arrive wait longest, so the answers come back in
    # the reverse of the order they were asked in.
    texts = [f"text number {i}" for i in range(20)]
    for i in range(len(texts)):
        mock.script.push(Reply(delay=0.01 * (len(texts) - i), input_tokens=i + 1))
    async with make_client() as client:
        r = await client.embed(f"bedrock/{TITAN}", texts)
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == sum(range(1, 21))
    assert mock.peak_invocations_in_flight == 8


@pytest.mark.anyio
async def test_titan_v1_sends_the_text_alone(mock: BedrockMock, make_client: MakeClient) -> None:
    async with make_client() as client:
        r = await client.embed(f"bedrock/{TITAN_V1}", "old model", extra={"inputText": "new"})
    # extra is merged in last: the caller's word wins.
    assert bodies(mock) == [{"inputText": "new"}]
    assert r.vectors == (mock_vector("new"),)
    assert r.cost == Decimal("0.10") * 1 / 1_000_000


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "size", "match"),
    [
        (TITAN, 300, r"256, 512, 1024 only, not 300"),
        (TITAN_V1, 256, "takes no `dimensions`"),
        (COHERE_V3, 256, "takes no `dimensions`"),
        (COHERE_V4, 100, r"256, 512, 1024, 1536 only, not 100"),
    ],
)
async def test_dimensions_a_model_cannot_give_are_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient, model: str, size: int, match: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=match) as info:
            await client.embed(f"bedrock/{model}", "short", dimensions=size)
    assert info.value.param == "dimensions"
    assert "dimensions" in str(info.value)
    assert invocations(mock) == []


# -- Cohere Embed --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("input_type", "sent"),
    [(None, "search_document"), ("document", "search_document"), ("query", "search_query")],
)
async def test_cohere_input_type_maps_to_cohere_words(
    mock: BedrockMock, make_client: MakeClient, input_type: str | None, sent: str
) -> None:
    async with make_client() as client:
        r = await client.embed(f"bedrock/{COHERE_V3}", ["a", "b"], input_type=input_type)
    assert bodies(mock) == [{"texts": ["a", "b"], "input_type": sent, "embedding_types": ["float"]}]
    assert r.vectors == (mock_vector("a"), mock_vector("b"))


@pytest.mark.anyio
async def test_a_cohere_v3_text_over_2048_characters_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Bedrock: "Malformed input request: #/texts/0: expected maxLength: 2048, ..."
    texts = ["short", "é" * 2048, "x" * 2049]
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=r"inputs\[2\] is 2049 characters") as info:
            await client.embed(f"bedrock/{COHERE_V3}", texts, extra={"truncate": "END"})
        r = await client.embed(f"bedrock/{COHERE_V4}", texts)  # v4 takes them
    assert info.value.param == "inputs[2]"
    assert "at most 2048" in str(info.value) and "cohere.embed-v4:0" in str(info.value)
    assert len(invocations(mock)) == 1 and bodies(mock)[0]["texts"] == texts
    assert r.vectors == tuple(mock_vector(t) for t in texts)


@pytest.mark.anyio
async def test_a_titan_v2_text_over_50000_characters_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Titan sends a text a request, and Bedrock's refusal would not say which of
    # the call's texts it was: refused first, naming it (AWS: "can intake up to
    # 8,192 tokens or 50,000 characters").
    texts = [f"text {i}" for i in range(20)]
    texts[13] = "x" * 50_001
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=r"inputs\[13\] is 50001 characters") as info:
            await client.embed("bedrock/amazon.titan-embed-text-v2:0", texts)
    assert info.value.param == "inputs[13]" and "at most 50000" in str(info.value)
    assert "cohere" not in str(info.value)  # the fix is to cut it
    assert invocations(mock) == []
    body = {"inputText": "y" * 50_001}
    assert validate_invoke("amazon.titan-embed-text-v2:0", body) == (
        "Malformed input request: #/inputText: expected maxLength: 50000, actual: 50001,"
        " please reformat your input and try again."
    )


def test_the_mock_refuses_a_cohere_v3_text_over_2048_characters() -> None:
    body = {"texts": ["x", "y" * 2049], "input_type": "search_query", "truncate": "END"}
    assert validate_invoke(COHERE_V3, body) == (
        "Malformed input request: #/texts/1: expected maxLength: 2048, actual: 2049,"
        " please reformat your input and try again."
    )


@pytest.mark.anyio
async def test_cohere_v4_splits_into_96_and_sums_the_header_tokens(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    texts = [f"passage {i}" for i in range(200)]
    mock.script.push(Reply(input_tokens=1000), Reply(input_tokens=2000), Reply(input_tokens=30))
    async with make_client() as client:
        r = await client.embed(
            f"bedrock/{COHERE_V4}", texts, dimensions=256, extra={"truncate": "RIGHT"}
        )
    sent = bodies(mock)
    assert sorted(len(b["texts"]) for b in sent) == [8, 96, 96]
    assert sorted(t for b in sent for t in b["texts"]) == sorted(texts)
    assert all(
        b["output_dimension"] == 256 and b["truncate"] == "RIGHT" and b["input_type"] for b in sent
    )
    assert r.vectors == tuple(mock_vector(t, 256) for t in texts)
    # X-Amzn-Bedrock-Input-Token-Count of each answer; Embed v4 costs USD 0.12 a million.
    assert r.usage.input_tokens == 3030
    assert r.cost == Decimal("0.12") * 3030 / 1_000_000


@pytest.mark.anyio
async def test_a_foundation_model_arn_finds_its_family(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{COHERE_V3}"
    async with make_client() as client:
        r = await client.embed(f"bedrock/{arn}", "by arn")
    (request,) = invocations(mock)
    assert request.path == f"/model/{quote(arn, safe='')}/invoke"
    assert r.vectors == (mock_vector("by arn"),)


# -- refusals and errors ---------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model", ["anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.titan-embed-image-v1"]
)
async def test_a_model_of_no_known_family_is_refused_naming_the_families(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.embed(f"bedrock/{model}", "hello")
    assert all(family.prefix in str(info.value) for family in FAMILIES)
    assert info.value.param == "model"
    assert invocations(mock) == []


@pytest.mark.anyio
async def test_a_failed_request_of_a_batch_is_the_calls_typed_error(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # One throttled request among many: the call fails with that one error,
    # not an exception group, and the requests still waiting are given up.
    mock.script.push(
        Reply(delay=0.05),
        Reply.failure(429, "Too many requests, please wait before trying again."),
        *[Reply(delay=0.05)] * 10,
    )
    async with make_client() as client:
        with pytest.raises(RateLimitError, match="Too many requests") as info:
            await client.embed(f"bedrock/{TITAN}", [f"t{i}" for i in range(12)])
    assert info.value.retryable
    assert info.value.status == 429


@pytest.mark.anyio
async def test_bedrocks_validation_and_access_errors_are_typed(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.push(Reply.failure(403, "You don't have access to the model."))
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="extraneous key \\[bogus\\]"):
            await client.embed(f"bedrock/{TITAN}", "x", extra={"bogus": 1})
        with pytest.raises(AuthenticationError, match="AccessDeniedException"):
            await client.embed(f"bedrock/{TITAN}", "x")


@pytest.mark.anyio
async def test_a_wrong_secret_is_refused_without_showing_it(mock: BedrockMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"bedrock": {"base_url": mock.base_url, "region": mock.region}},
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_SECRET_ACCESS_KEY", "notTheSecretKey0123456789abcdefghijklmno")
        async with relaykit.Client(config) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.embed(f"bedrock/{TITAN}", "x")
    assert "InvalidSignatureException" in str(info.value)
    assert "notTheSecretKey" not in f"{info.value!s} {info.value!r}"


def test_answers_without_float_vectors_are_provider_errors() -> None:
    titan, cohere = family_of(TITAN), family_of(COHERE_V4)
    for family, data, count in [
        (titan, {"inputTextTokenCount": 3}, 1),
        (titan, ["not", "an", "object"], 1),
        (cohere, {"embeddings": {"int8": [[1, 2]]}}, 1),
        (cohere, {"embeddings": [[0.1], [0.2]]}, 3),
    ]:
        with pytest.raises(ProviderUnavailableError):
            parse_answer(family, data, {}, count, provider="bedrock", model="m")


def test_cohere_answers_in_either_shape_and_tokens_from_the_header() -> None:
    cohere = family_of(COHERE_V3)
    header = {"x-amzn-bedrock-input-token-count": "12"}
    bare = parse_answer(cohere, {"embeddings": [[0.5, 1]]}, header, 1, provider="b", model="m")
    typed = parse_answer(
        cohere, {"embeddings": {"float": [[0.5, 1]]}}, {}, 1, provider="b", model="m"
    )
    assert bare == ([(0.5, 1.0)], 12)
    assert typed == ([(0.5, 1.0)], None)  # no header: embed estimates the count


# -- the mock's own checks and the price table --------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "problem"),
    [
        (TITAN, {}, "#: required key [inputText] not found"),
        (TITAN, {"inputText": ""}, "#/inputText: expected minLength: 1"),
        (TITAN, {"inputText": "x", "dimensions": 300}, "#/dimensions: 300 is not a valid enum"),
        (TITAN_V1, {"inputText": "x", "dimensions": 256}, "extraneous key [dimensions]"),
        (COHERE_V3, {"texts": ["x"]}, "#: required key [input_type] not found"),
        (
            COHERE_V3,
            {"texts": ["x"] * 97, "input_type": "search_query"},
            "#/texts: expected maximum item count: 96, found: 97",
        ),
        (
            COHERE_V3,
            {"texts": ["x"], "input_type": "search_query", "output_dimension": 256},
            "extraneous key [output_dimension]",
        ),
        (
            COHERE_V4,
            {"texts": ["x"], "input_type": "query"},
            "#/input_type: query is not a valid enum value",
        ),
        ("meta.llama3-3-70b-instruct-v1:0", {"prompt": "x"}, "model identifier is invalid"),
    ],
)
def test_the_mock_refuses_what_bedrock_refuses(model: str, body: Any, problem: str) -> None:
    message = validate_invoke(model, body)
    assert message is not None and problem in message


def test_embedding_prices_per_million_input_tokens() -> None:
    for model, price in [
        (TITAN, "0.02"),
        (TITAN_V1, "0.10"),
        ("cohere.embed-english-v3", "0.10"),
        ("eu.cohere.embed-multilingual-v3", "0.10"),
        (COHERE_V4, "0.12"),
    ]:
        found = lookup(model)[1]
        assert found is not None
        assert (found.input, found.output) == (Decimal(price), Decimal(0))


@pytest.mark.anyio
async def test_an_answer_without_a_token_count_is_estimated(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Cohere's body has no count, and the header may not come (or not be a number).
    mock.script.push(Reply(headers={"x-amzn-bedrock-input-token-count": "n/a"}))
    async with make_client() as client:
        r = await client.embed(f"bedrock/{COHERE_V3}", ["abcdefgh", "abc"])
    assert r.usage.input_tokens == 2 + 1  # four characters a token, one at least a text
    assert r.tokens_estimated
    assert r.cost == Decimal("0.10") * 3 / 1_000_000
