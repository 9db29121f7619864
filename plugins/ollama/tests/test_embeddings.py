"""Ollama embeddings on the wire: /api/embed bodies, tokens, cost, errors, the mock."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from relaykit import InvalidRequestError, NotFoundError, Usage
from relaykit.testing import Reply, mock_vector
from relaykit_ollama import embeddings
from relaykit_ollama.testing import OllamaMock
from relaykit_ollama.testing import client_for as client

MODEL = "ollama/nomic-embed-text"


def sent(mock: OllamaMock) -> dict[str, Any]:
    request = mock.last_request
    assert (request.method, request.path) == ("POST", "/api/embed")
    body: dict[str, Any] = json.loads(request.body)
    return body


# -- the request -------------------------------------------------------------------


@pytest.mark.anyio
async def test_every_text_goes_in_one_request_in_order(mock: OllamaMock) -> None:
    texts = [f"chunk {i}" for i in range(300)]
    async with client(mock) as c:
        r = await c.embed(MODEL, texts)
    assert len(mock.requests) == 1
    assert sent(mock) == {"model": "nomic-embed-text", "input": texts}
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert (r.provider, r.model) == ("ollama", "nomic-embed-text")


@pytest.mark.anyio
async def test_dimensions_are_sent_and_input_type_is_not(mock: OllamaMock) -> None:
    async with client(mock) as c:
        r = await c.embed(MODEL, "a question", dimensions=4, input_type="query")
    assert sent(mock) == {"model": "nomic-embed-text", "input": ["a question"], "dimensions": 4}
    assert r.vectors == (mock_vector("a question", 4),)


@pytest.mark.anyio
async def test_provider_options_and_extra_are_merged_as_for_chat(mock: OllamaMock) -> None:
    extra = {"truncate": False, "options": {"num_thread": 2}}
    async with client(mock, num_ctx=8192, keep_alive="10m", think=True) as c:
        await c.embed(MODEL, "x", extra=extra)
    assert sent(mock) == {
        "model": "nomic-embed-text",
        "input": ["x"],
        "options": {"num_ctx": 8192, "num_thread": 2},
        "keep_alive": "10m",
        "truncate": False,
    }


@pytest.mark.anyio
async def test_a_bearer_key_goes_with_the_request() -> None:
    with OllamaMock(api_key="ollama-test-key-0123456789") as mock:
        async with client(mock, api_key="ollama-test-key-0123456789") as c:
            await c.embed(MODEL, "x")
        assert mock.last_request.headers["authorization"] == "Bearer ollama-test-key-0123456789"


# -- tokens and cost ---------------------------------------------------------------


@pytest.mark.anyio
async def test_prompt_eval_count_is_the_usage_and_local_models_cost_nothing(
    mock: OllamaMock,
) -> None:
    mock.script.push(Reply(input_tokens=42))
    async with client(mock) as c:
        r = await c.embed(MODEL, ["one", "two"])
    assert r.usage == Usage(42) and not r.tokens_estimated
    assert r.cost == Decimal(0)
    assert isinstance(r.cost, Decimal)


def test_tokens_are_estimated_from_an_answer_without_a_count() -> None:
    assert embeddings.input_tokens({"prompt_eval_count": 7}, ["x"]) == 7
    assert embeddings.input_tokens({"embeddings": [[0.1]]}, ["abcdefghi", "a"]) == 3 + 1


# -- errors ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_model_not_pulled_is_not_found(mock: OllamaMock) -> None:
    async with client(mock) as c:
        with pytest.raises(NotFoundError, match="model 'mxbai-embed-large' not found"):
            await c.embed("ollama/mxbai-embed-large", "x")


@pytest.mark.anyio
async def test_an_embedding_model_does_not_chat(mock: OllamaMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="does not support chat"):
            await c.chat(MODEL, "hello")


@pytest.mark.anyio
async def test_options_ollama_refuses_are_its_typed_error(mock: OllamaMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=r"EmbedRequest\.truncate of type bool"):
            await c.embed(MODEL, "x", extra={"truncate": "no"})


# -- the mock ----------------------------------------------------------------------


async def post(mock: OllamaMock, body: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(mock.base_url + "/api/embed", json=body)


@pytest.mark.anyio
async def test_mock_answers_in_ollama_wire_format(mock: OllamaMock) -> None:
    r = await post(mock, {"model": "nomic-embed-text", "input": "Why is the sky blue?"})
    assert r.status_code == 200
    assert r.json() == {
        "model": "nomic-embed-text",
        "embeddings": [list(mock_vector("Why is the sky blue?"))],
        "total_duration": 14_143_917,
        "load_duration": 1_019_500,
        "prompt_eval_count": 5,
    }
    empty = await post(mock, {"model": "nomic-embed-text", "input": []})
    assert empty.json() == {"model": "nomic-embed-text", "embeddings": []}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"input": ["x"]}, 400, "model is required"),
        ({"model": "nomic-embed-text", "input": [1, 2]}, 400, "invalid input type"),
        ({"model": "nomic-embed-text", "input": {"text": "x"}}, 400, "invalid input type"),
        ({"model": "nomic-embed-text", "input": "x", "dimensions": "4"}, 400, "of type int"),
        # Ollama reads options where it loads the model, and answers a bad one with 500.
        (
            {"model": "nomic-embed-text", "input": "x", "options": {"num_ctx": "8k"}},
            500,
            'option "num_ctx" must be of type integer',
        ),
        ({"model": "all-minilm", "input": "x"}, 404, "model 'all-minilm' not found"),
    ],
)
async def test_mock_refuses_what_ollama_refuses(
    mock: OllamaMock, body: dict[str, Any], status: int, message: str
) -> None:
    r = await post(mock, body)
    assert r.status_code == status
    assert message in r.json()["error"]
