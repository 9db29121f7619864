"""``POST /v1/embeddings`` seen with a plain HTTP client: OpenAI's body shapes both ways,
the refusals, and the headers operators read."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit.testing import FakePlugin, mock_embedding_tokens, mock_vector
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway import CorsPolicy
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {KEY}"}
BASE = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}


@asynccontextmanager
async def gateway_over(
    fake: FakePlugin, config: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client over ``fake`` behind a gateway; yields an HTTP client for the gateway."""
    async with (
        relaykit.Client({**BASE, **(config or {})}, plugins=[fake]) as client,
        running(client, **options) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH) as http,
    ):
        yield http


async def test_texts_get_their_vectors_in_openais_list_shape(fake: FakePlugin) -> None:
    texts = ["the cat sat on the mat", "a dog barked"]
    async with gateway_over(fake) as http:
        r = await http.post("/v1/embeddings", json={"model": "fake/emb", "input": texts})
    assert r.status_code == 200
    tokens = sum(map(mock_embedding_tokens, texts))
    # key for key and in OpenAI's order, the vectors as JSON numbers by default
    assert list(r.json().items()) == [
        ("object", "list"),
        (
            "data",
            [
                {"object": "embedding", "index": i, "embedding": list(mock_vector(text))}
                for i, text in enumerate(texts)
            ],
        ),
        ("model", "emb"),
        ("usage", {"prompt_tokens": tokens, "total_tokens": tokens}),
    ]
    (request,) = fake.embeddings
    assert request.inputs == tuple(texts)
    assert request.model == "emb"


async def test_one_string_is_one_input_and_the_route_answers_without_v1(fake: FakePlugin) -> None:
    async with gateway_over(fake) as http:
        r = await http.post("/embeddings", json={"model": "fake/emb", "input": "hello"})
    [item] = r.json()["data"]
    assert item["embedding"] == list(mock_vector("hello"))
    assert fake.embeddings[0].inputs == ("hello",)


async def test_base64_is_little_endian_float32_and_dimensions_shorten_vectors(
    fake: FakePlugin,
) -> None:
    body = {"model": "fake/emb", "input": ["x", "y"], "encoding_format": "base64", "dimensions": 3}
    async with gateway_over(fake) as http:
        r = await http.post("/v1/embeddings", json=body)
    decoded = [struct.unpack("<3f", base64.b64decode(d["embedding"])) for d in r.json()["data"]]
    assert decoded == [mock_vector("x", 3), mock_vector("y", 3)]
    assert fake.embeddings[0].dimensions == 3


async def test_user_input_type_and_unknown_fields_reach_the_call(fake: FakePlugin) -> None:
    body = {
        "model": "fake/emb",
        "input": "what is relaykit?",
        "input_type": "query",  # relaykit's own: OpenAI has none
        "user": "end-user-7",
        "metadata": {"gateway_key": "forged", "ticket": "T-1"},
        "truncate": "END",  # a vendor's own: sent untouched
    }
    async with gateway_over(fake) as http:
        await http.post("/v1/embeddings", json=body, headers={"x-request-id": "req-42"})
    (request,) = fake.embeddings
    assert request.input_type == "query"
    assert request.extra == {"truncate": "END"}
    assert request.metadata == {
        "gateway_key": "alice",  # the key's name, whatever the body says
        "ticket": "T-1",
        "user": "end-user-7",
        "correlation_id": "req-42",
    }


@pytest.mark.parametrize("tokens", [[15339, 1917], [[15339], [1917, 0]], ["hello", [1917]]])
async def test_token_ids_are_refused_since_relaykit_embeds_text(
    fake: FakePlugin, tokens: list[Any]
) -> None:
    async with gateway_over(fake) as http:
        r = await http.post("/v1/embeddings", json={"model": "fake/emb", "input": tokens})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "input"
    assert "token ids" in error["message"]
    assert "as strings" in error["message"]
    assert fake.embeddings == []


@pytest.mark.parametrize("inputs", [[], "", ["fine", "   "], ["fine", None]])
async def test_empty_or_non_text_inputs_get_the_cores_refusal_in_openais_names(
    fake: FakePlugin, inputs: Any
) -> None:
    """The core's refusal, naming the field as the caller sent it: OpenAI's ``input``
    (``input[1]``), not relaykit's ``inputs``."""
    async with relaykit.Client(BASE, plugins=[fake]) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.embed("fake/emb", inputs)
        async with running(client) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            r = await http.post("/v1/embeddings", json={"model": "fake/emb", "input": inputs})
    assert r.status_code == 400
    error = r.json()["error"]
    assert caught.value.param is not None and caught.value.param.startswith("inputs")
    assert error["param"] == "input" + caught.value.param.removeprefix("inputs")
    assert error["message"] == "input" + str(caught.value).removeprefix("inputs")
    assert "inputs" not in error["message"]
    assert fake.embeddings == []


@pytest.mark.parametrize(
    ("change", "param", "needle"),
    [
        ({"input": None}, "input", "`input` is required"),
        ({"model": ""}, "model", "`model`"),
        ({"encoding_format": "int8"}, "encoding_format", "'float' or 'base64'"),
        ({"dimensions": 0}, "dimensions", "positive integer"),
        ({"input_type": "search_query"}, "input_type", "'query' or 'document'"),
        ({"metadata": {"n": 1}}, "metadata", "object of strings"),
    ],
)
async def test_bad_fields_are_400s_that_name_them(
    fake: FakePlugin, change: dict[str, Any], param: str, needle: str
) -> None:
    body = {"model": "fake/emb", "input": "hi", **change}
    async with gateway_over(fake) as http:
        r = await http.post("/v1/embeddings", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param
    assert needle in r.json()["error"]["message"]
    assert fake.embeddings == []


async def test_no_key_or_a_wrong_one_is_a_401_before_any_call(fake: FakePlugin) -> None:
    body = {"model": "fake/emb", "input": "hi"}
    async with gateway_over(fake) as http:
        missing = await http.post("/v1/embeddings", json=body, headers={"authorization": ""})
        wrong = await http.post(
            "/v1/embeddings", json=body, headers={"authorization": "Bearer gw-mallory-0123456789"}
        )
        wrong_method = await http.get("/v1/embeddings")
        # Anthropic has no embeddings API: its SDK's header does not change the shape
        anthropic_shaped = await http.post(
            "/v1/embeddings",
            json=body,
            headers={"authorization": "", "anthropic-version": "2023-06-01"},
        )
    assert missing.status_code == wrong.status_code == anthropic_shaped.status_code == 401
    # OpenAI's 401: an invalid_request_error of code invalid_api_key
    assert (missing.json()["error"]["type"], missing.json()["error"]["code"]) == (
        "invalid_request_error",
        "invalid_api_key",
    )
    assert anthropic_shaped.json() == missing.json()  # OpenAI's: no top-level "type"
    assert "is missing" in missing.json()["error"]["message"]
    assert "not a gateway key" in wrong.json()["error"]["message"]
    assert wrong_method.status_code == 405
    assert fake.embeddings == []


async def test_operators_see_which_deployment_answered_and_its_cost(fake: FakePlugin) -> None:
    fake.script.reply(input_tokens=1000)
    async with gateway_over(fake) as http:
        r = await http.post("/v1/embeddings", json={"model": "fake/emb", "input": "hi"})
    assert r.json()["usage"] == {"prompt_tokens": 1000, "total_tokens": 1000}
    assert "x-relaykit-estimated" not in r.headers  # the provider counted them
    assert r.headers["x-relaykit-provider"] == "fake"
    assert r.headers["x-relaykit-model"] == "emb"
    # the fake's price: USD 1 per million input tokens
    assert math.isclose(float(r.headers["x-relaykit-cost"]), 0.001)


async def test_a_providers_error_comes_back_in_openais_shape_with_its_status(
    fake: FakePlugin,
) -> None:
    fake.script.fail(429, "slow down", retry_after=4)
    async with gateway_over(fake) as http:
        r = await http.post(
            "/v1/embeddings",
            json={"model": "fake/emb", "input": "hi"},
            # Anthropic has no embeddings API: its error shape never applies here
            headers={"anthropic-version": "2023-06-01"},
        )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "4"
    assert r.json() == {
        "error": {
            "message": "fake/emb: HTTP 429: slow down",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


async def test_a_provider_without_embeddings_is_a_400_that_names_it(
    anthropic_mock: AnthropicMock,
) -> None:
    providers = {"anthropic": {"base_url": anthropic_mock.base_url, "api_key": UPSTREAM_KEY}}
    async with (
        relaykit.Client({**BASE, "providers": providers}) as client,
        running(client) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH) as http,
    ):
        body = {"model": "anthropic/claude-haiku-4-5", "input": "hi"}
        r = await http.post("/v1/embeddings", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model"
    assert "anthropic has no embeddings API" in r.json()["error"]["message"]
    assert anthropic_mock.requests == []


async def test_an_alias_routes_and_a_bare_name_goes_to_openai(fake: FakePlugin) -> None:
    aliases = {"models": {"vectors": {"targets": ["fake/emb-small"]}}}
    async with gateway_over(fake, aliases) as http:
        routed = await http.post("/v1/embeddings", json={"model": "vectors", "input": "hi"})
        bare = await http.post(
            "/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hi"}
        )
    assert routed.status_code == 200
    assert fake.embeddings[0].model == "emb-small"
    # no OPENAI_API_KEY here: the openai provider refuses before any request
    assert bare.status_code == 400
    assert "openai" in bare.json()["error"]["message"].lower()


async def test_an_allowed_page_reads_the_answer_and_its_headers(fake: FakePlugin) -> None:
    app = "https://app.example"
    async with gateway_over(fake, cors=CorsPolicy.parse(app)) as http:
        r = await http.post(
            "/v1/embeddings", json={"model": "fake/emb", "input": "hi"}, headers={"origin": app}
        )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == app
    assert "x-relaykit-cost" in r.headers["access-control-expose-headers"]


async def test_tokens_the_provider_did_not_count_are_said_to_be_estimated() -> None:
    from relaykit_gemini.testing import GeminiMock

    with GeminiMock(api_key=UPSTREAM_KEY, embedding_usage=False) as gemini:
        providers = {"gemini": {"base_url": gemini.base_url, "api_key": UPSTREAM_KEY}}
        config = {"storage": {"backend": "none"}, "providers": providers}
        async with (
            relaykit.Client(config) as client,
            running(client) as url,
            httpx.AsyncClient(base_url=url, headers=AUTH) as http,
        ):
            body = {"model": "gemini/gemini-embedding-001", "input": "abcdefgh"}
            r = await http.post("/v1/embeddings", json=body)
    assert r.json()["usage"] == {"prompt_tokens": 2, "total_tokens": 2}  # a quarter of 8
    assert r.headers["x-relaykit-estimated"] == "true"
