"""Translate between relaykit's embeddings and Ollama's ``POST /api/embed``.

Every text goes in one request (``input`` as a list): Ollama sets no limit on
how many, and batches them itself. Ollama has no notion of queries and
documents, so ``input_type`` is not sent (models such as ``nomic-embed-text``
want a ``search_query: `` or ``search_document: `` prefix in the text
instead, which is the caller's to add).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from relaykit import EmbeddingRequest, json_decode
from relaykit.embeddings import estimate_tokens

from .wire import merge_extra


def request_body(
    request: EmbeddingRequest,
    *,
    options: Mapping[str, Any] | None = None,
    keep_alive: str | int | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /api/embed`` for ``request``.

    ``options`` (``num_ctx``) and ``keep_alive`` are the provider's, as for chat.
    ``extra`` is merged one level deep, so ``extra={"options": {"num_thread": 4}}``
    adds to the options and ``extra={"truncate": False}`` makes Ollama refuse a
    text longer than the context instead of cutting it.
    """
    body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if options:
        body["options"] = dict(options)
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    merge_extra(body, request.extra)
    return body


def vectors(data: Mapping[str, Any]) -> list[tuple[float, ...]]:
    """The vectors of an ``/api/embed`` answer, in its order."""
    # {} is no answer (the core would blame a count of 0 vectors on the plugin)
    json_decode.require_answer(data, "an /api/embed answer", "embeddings")
    return [tuple(map(float, v)) for v in data.get("embeddings") or ()]


def input_tokens(data: Mapping[str, Any], texts: Sequence[str]) -> int:
    """``prompt_eval_count``; estimated (four characters a token, one at least per
    text) from an answer without one, so that token limits still see the call."""
    count = data.get("prompt_eval_count")
    if count is not None:
        return json_decode.count(count, "prompt_eval_count")
    return estimate_tokens(texts)
