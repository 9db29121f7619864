"""The compatible services' rerank (``POST /v1/rerank``), for :class:`~relaykit.testing.OpenAIMock`.

OpenAI itself has no rerank API; vLLM, Together and OpenRouter serve this one
(Jina's shape) next to their Chat Completions: ``{"model", "query",
"documents": [text, ...], "top_n"}`` in, ``{"id", "model", "results":
[{"index", "relevance_score", "document": {"text"}}], "usage":
{"total_tokens"}}`` out, best first. Each document is scored with
:func:`~relaykit.testing.mock_relevance`; the usage counts the words of the
query and the documents.

What it refuses, in OpenAI's error shape: no ``model``; a ``query`` that is
not a string; ``documents`` that are not a non-empty list of strings; a
``top_n`` that is not a positive integer.
"""

from __future__ import annotations

from typing import Any

from .openai_responses import Refusal, _missing
from .rerank_scores import mock_ranking
from .script import Reply, count_tokens


def validate(body: Any) -> tuple[str, list[str]]:
    """The query and documents ``body`` asks to rank; :class:`Refusal` where refused."""
    if not isinstance(body, dict):
        raise Refusal("The request body must be a JSON object.")
    for key in ("model", "query", "documents"):
        if key not in body:
            raise _missing(key)
    if not isinstance(body["model"], str):
        raise _type("model", "a string", body["model"])
    query = body["query"]
    if not isinstance(query, str):
        raise _type("query", "a string", query)
    documents = body["documents"]
    if not isinstance(documents, list) or not documents:
        raise Refusal("Invalid 'documents': expected a non-empty array of strings.", "documents")
    for i, document in enumerate(documents):
        if not isinstance(document, str):
            raise _type(f"documents[{i}]", "a string", document)
    top_n = body.get("top_n")
    if top_n is not None:
        if not isinstance(top_n, int) or isinstance(top_n, bool):
            raise _type("top_n", "an integer", top_n)
        if top_n < 1:
            raise Refusal(
                "Invalid 'top_n': integer below minimum value. Expected a value >= 1,"
                f" but got {top_n} instead.",
                "top_n",
            )
    return query, documents


def render(body: dict[str, Any], query: str, documents: list[str], n: int, reply: Reply) -> Any:
    """The ranking answering a validated request (the ``n``-th the mock served);
    ``reply`` may set its ``input_tokens``."""
    ranking = mock_ranking(query, documents)
    top_n = body.get("top_n")
    if top_n is not None:
        ranking = ranking[:top_n]
    tokens = reply.input_tokens
    if tokens is None:
        tokens = count_tokens(query) + sum(map(count_tokens, documents))
    return {
        "id": f"rerank-mock{n:06d}",
        "model": body["model"],
        "results": [
            {"index": i, "relevance_score": score, "document": {"text": documents[i]}}
            for i, score in ranking
        ],
        "usage": {"total_tokens": tokens},
    }


def _type(param: str, expected: str, value: Any) -> Refusal:
    return Refusal(
        f"Invalid type for '{param}': expected {expected}, but got a"
        f" {type(value).__name__} instead.",
        param,
    )
