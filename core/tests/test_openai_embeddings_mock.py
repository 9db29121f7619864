"""OpenAIMock's embeddings, spoken to over raw HTTP: its wire, and what it refuses."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock, Reply, mock_embedding_tokens, mock_vector
from relaykit.testing.openai_embeddings import INVALID_INPUT, NO_DIMENSIONS

MODEL = "text-embedding-3-small"


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock() as m:
        yield m


def post(mock: OpenAIMock, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{mock.base_url}/embeddings", json=body, timeout=10)


def test_a_list_of_embeddings_in_openais_shape(mock: OpenAIMock) -> None:
    texts = ["the cat sat", "on the mat"]
    r = post(mock, {"model": MODEL, "input": texts})
    assert r.status_code == 200
    tokens = sum(map(mock_embedding_tokens, texts))
    assert r.json() == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": list(mock_vector(text))}
            for i, text in enumerate(texts)
        ],
        "model": MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def test_base64_is_little_endian_float32(mock: OpenAIMock) -> None:
    r = post(mock, {"model": MODEL, "input": "one text", "encoding_format": "base64"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    assert struct.unpack("<8f", raw) == mock_vector("one text")


def test_dimensions_shorten_the_vectors(mock: OpenAIMock) -> None:
    r = post(mock, {"model": MODEL, "input": ["short"], "dimensions": 3})
    assert r.json()["data"][0]["embedding"] == list(mock_vector("short", 3))


def test_scripted_tokens_failures_and_delays_take_one_reply_per_request(
    mock: OpenAIMock,
) -> None:
    mock.script.push(
        Reply(input_tokens=42), Reply.failure(429, "slow down", retry_after=2), Reply()
    )
    assert post(mock, {"model": MODEL, "input": ["a", "b"]}).json()["usage"]["prompt_tokens"] == 42
    limited = post(mock, {"model": MODEL, "input": ["a"]})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["error"]["message"] == "slow down"
    assert post(mock, {"model": MODEL, "input": ["a"]}).status_code == 200
    assert len(mock.script) == 0


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        (
            {"model": MODEL},
            "Missing required parameter: 'input'.",
            "input",
            "missing_required_parameter",
        ),
        (
            {"input": ["x"]},
            "Missing required parameter: 'model'.",
            "model",
            "missing_required_parameter",
        ),
        ({"model": MODEL, "input": []}, INVALID_INPUT, None, None),
        ({"model": MODEL, "input": ""}, INVALID_INPUT, None, None),
        ({"model": MODEL, "input": ["fine", ""]}, INVALID_INPUT, None, None),
        ({"model": MODEL, "input": ["x"] * 2049}, INVALID_INPUT, None, None),
        (
            {"model": "text-embedding-ada-002", "input": ["x"], "dimensions": 8},
            NO_DIMENSIONS,
            None,
            None,
        ),
        (
            {"model": MODEL, "input": ["x"], "dimensions": 0},
            "Invalid 'dimensions': integer below minimum value. Expected a value >= 1,"
            " but got 0 instead.",
            "dimensions",
            None,
        ),
        (
            {"model": MODEL, "input": ["x"], "encoding_format": "int8"},
            "Invalid value: 'int8'. Supported values are: 'float' and 'base64'.",
            "encoding_format",
            "invalid_value",
        ),
    ],
)
def test_what_openai_refuses(
    mock: OpenAIMock, body: dict[str, Any], message: str, param: str | None, code: str | None
) -> None:
    """Each refusal in OpenAI's words, its param and its code (what OpenAI sends for a
    missing parameter and a value it does not take)."""
    mock.script.push(Reply(input_tokens=1))
    r = post(mock, body)
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }
    assert len(mock.script) == 1, "a refused request takes no scripted reply"


def test_2048_texts_are_taken(mock: OpenAIMock) -> None:
    r = post(mock, {"model": MODEL, "input": ["x"] * 2048})
    assert len(r.json()["data"]) == 2048


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            # 300,001 tokens (a word each) in two texts: over the request's 300,000
            {"model": MODEL, "input": ["w " * 8000] * 37 + ["w " * 4001]},
            {
                "message": "Requested 300001 tokens, max 300000 tokens per request",
                "type": "max_tokens_per_request",
                "param": None,
                "code": "max_tokens_per_request",
            },
        ),
        (
            {"model": MODEL, "input": ["fine", "w " * 8193]},
            {
                "message": "Invalid 'input[1]': maximum input length is 8192 tokens.",
                "type": "invalid_request_error",
                "param": "input[1]",
                "code": None,
            },
        ),
        (
            {"model": "mistral-embed", "input": ["x"] * 513},
            {
                "message": "Too many inputs in request, split into more batches.",
                "type": "invalid_request_prompt",
                "param": None,
                "code": "3210",
            },
        ),
        (
            {"model": "codestral-embed-2505", "input": ["w " * 8000, "w " * 8385]},
            {
                "message": "Too many tokens overall, split into more batches.",
                "type": "invalid_request_prompt",
                "param": None,
                "code": "3210",
            },
        ),
    ],
    ids=["openai-request-tokens", "openai-text-tokens", "mistral-inputs", "mistral-tokens"],
)
def test_requests_over_the_vendors_size_limits_are_refused_in_their_words(
    mock: OpenAIMock, body: dict[str, Any], error: dict[str, Any]
) -> None:
    r = post(mock, body)
    assert r.status_code == 400
    assert r.json() == {"error": error}


def test_requests_at_the_size_limits_are_taken(mock: OpenAIMock) -> None:
    at_limits = [
        {"model": MODEL, "input": ["w " * 8000] * 37 + ["w " * 4000]},
        {"model": MODEL, "input": ["w " * 8192]},
        {"model": "mistral-embed", "input": ["x"] * 512},
        {"model": "mistral-embed", "input": ["w " * 8000, "w " * 8384]},
    ]
    for body in at_limits:
        r = post(mock, body)
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == len(body["input"])
