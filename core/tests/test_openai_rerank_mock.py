"""OpenAIMock's rerank (the compatible services'), spoken to over raw HTTP: its wire,
and what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock, Reply, mock_ranking

MODEL = "BAAI/bge-reranker-v2-m3"
QUERY = "capital of France"
DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock() as m:
        yield m


def post(mock: OpenAIMock, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{mock.base_url}/rerank", json=body, timeout=10)


def test_a_ranking_in_jinas_shape_best_first(mock: OpenAIMock) -> None:
    r = post(mock, {"model": MODEL, "query": QUERY, "documents": DOCUMENTS})
    assert r.status_code == 200
    data = r.json()
    assert data["id"].startswith("rerank-")
    assert data["model"] == MODEL
    assert data["results"] == [
        {"index": i, "relevance_score": score, "document": {"text": DOCUMENTS[i]}}
        for i, score in mock_ranking(QUERY, DOCUMENTS)
    ]
    assert [x["index"] for x in data["results"]] == [1, 2, 0]
    # words of the query and of every document
    assert data["usage"] == {"total_tokens": 3 + 4 + 6 + 3}


def test_top_n_keeps_the_best(mock: OpenAIMock) -> None:
    r = post(mock, {"model": MODEL, "query": QUERY, "documents": DOCUMENTS, "top_n": 2})
    assert [x["index"] for x in r.json()["results"]] == [1, 2]


def test_scripted_tokens_failures_and_delays_take_one_reply_per_request(
    mock: OpenAIMock,
) -> None:
    mock.script.push(Reply(input_tokens=42), Reply.failure(429, "slow down", retry_after=7))
    mock.script.fail(503, "try again")
    body = {"model": MODEL, "query": "q", "documents": ["d"]}
    assert post(mock, body).json()["usage"] == {"total_tokens": 42}
    limited = post(mock, body)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.json()["error"]["message"] == "slow down"
    unavailable = post(mock, body)
    assert unavailable.status_code == 503
    assert unavailable.json()["error"]["type"] == "server_error"
    assert post(mock, body).status_code == 200
    assert len(mock.script) == 0


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"query": QUERY, "documents": DOCUMENTS}, "Missing required parameter: 'model'.", "model"),
        ({"model": MODEL, "documents": DOCUMENTS}, "Missing required parameter: 'query'.", "query"),
        ({"model": MODEL, "query": QUERY}, "Missing required parameter: 'documents'.", "documents"),
        (
            {"model": MODEL, "query": ["a list"], "documents": DOCUMENTS},
            "Invalid type for 'query': expected a string, but got a list instead.",
            "query",
        ),
        (
            {"model": MODEL, "query": QUERY, "documents": []},
            "Invalid 'documents': expected a non-empty array of strings.",
            "documents",
        ),
        (
            {"model": MODEL, "query": QUERY, "documents": "one text"},
            "Invalid 'documents': expected a non-empty array of strings.",
            "documents",
        ),
        (
            {"model": MODEL, "query": QUERY, "documents": ["fine", {"text": "an object"}]},
            "Invalid type for 'documents[1]': expected a string, but got a dict instead.",
            "documents[1]",
        ),
        (
            {"model": MODEL, "query": QUERY, "documents": DOCUMENTS, "top_n": 0},
            "Invalid 'top_n': integer below minimum value. Expected a value >= 1,"
            " but got 0 instead.",
            "top_n",
        ),
        (
            {"model": MODEL, "query": QUERY, "documents": DOCUMENTS, "top_n": True},
            "Invalid type for 'top_n': expected an integer, but got a bool instead.",
            "top_n",
        ),
    ],
)
def test_what_it_refuses(
    mock: OpenAIMock, body: dict[str, Any], message: str, param: str | None
) -> None:
    mock.script.push(Reply(input_tokens=1))
    r = post(mock, body)
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": None,
        }
    }
    assert len(mock.script) == 1, "a refused request takes no scripted reply"


def test_the_key_is_checked_first() -> None:
    with OpenAIMock(api_key="sk-right") as mock:
        r = httpx.post(
            f"{mock.base_url}/rerank",
            json={"model": MODEL, "query": QUERY, "documents": DOCUMENTS},
            headers={"authorization": "Bearer sk-wrong"},
            timeout=10,
        )
    assert r.status_code == 401
