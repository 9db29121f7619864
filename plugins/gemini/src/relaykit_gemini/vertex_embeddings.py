"""Embeddings on Vertex AI: the Text Embeddings API's ``:predict``.

``{"instances": [{"content": TEXT, "task_type": ...}], "parameters":
{"outputDimensionality": N}}`` answered by ``{"predictions": [{"embeddings":
{"values": [...], "statistics": {"token_count": N, "truncated": false}}}]}``,
one prediction per instance, in order (cloud.google.com/vertex-ai/generative-ai/
docs/model-reference/text-embeddings-api). Google's Gemini embedding models
take one instance a request ("gemini-embedding-001 supports one instance per
request"), the others up to :data:`BATCH_LIMIT` texts and :data:`MAX_TOKENS`
tokens ("Each call can include up to 250 input texts and the overall input
token cap is 20,000 tokens; exceeding that returns a 400 error", the Text
Embeddings guide). A call's one-text requests go :data:`CONCURRENCY` at a
time (their quota is input tokens a minute, not requests: Vertex's quotas
page), the vectors in the texts' order; the 250-text ones go one after another,
as the Gemini API's batches do. A retry sends only the requests that got no
answer. Vertex's own default truncates a text
over the model's 2048 tokens; ``extra={"parameters": {"autoTruncate": False}}``
makes it an error instead. ``extra`` is merged into the body one level deep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from relaykit import EmbeddingRequest

from .embeddings import TASK_TYPES
from .wire import merge_extra

#: the most instances a ``:predict`` call takes (the Text Embeddings API's limit)
BATCH_LIMIT = 250
#: the most input tokens a ``:predict`` call takes, summed over its instances
MAX_TOKENS = 20_000
#: how many one-text ``:predict`` calls of one embed run at once: 32 texts take
#: four round trips, not 32, with no burst a project's quota would notice
CONCURRENCY = 8


def batch_size(model: str) -> int:
    """How many texts one ``:predict`` call to ``model`` may carry."""
    return 1 if model.startswith("gemini-embedding") else BATCH_LIMIT


def concurrency(model: str) -> int:
    """How many ``:predict`` calls of one embed of ``model`` may be in flight together."""
    return CONCURRENCY if batch_size(model) == 1 else 1


def predict_body(request: EmbeddingRequest, texts: Sequence[str]) -> dict[str, Any]:
    """The JSON body of ``:predict`` for ``texts`` of ``request``."""
    instance: dict[str, Any] = {}
    if request.input_type is not None:
        instance["task_type"] = TASK_TYPES[request.input_type]
    body: dict[str, Any] = {"instances": [{"content": text, **instance} for text in texts]}
    if request.dimensions is not None:
        body["parameters"] = {"outputDimensionality": request.dimensions}
    if request.extra:
        merge_extra(body, request.extra)
    return body


def predictions(data: Mapping[str, Any]) -> tuple[list[tuple[float, ...]], int]:
    """The vectors of a ``:predict`` answer, in order, and the tokens it counted."""
    vectors: list[tuple[float, ...]] = []
    tokens = 0
    for prediction in data["predictions"]:
        embedding = prediction["embeddings"]
        vectors.append(tuple(map(float, embedding["values"])))
        statistics = embedding.get("statistics") or {}
        # Google's JSON gives the count as a number that may be a float (7.0).
        tokens += int(float(statistics.get("token_count") or 0))
    return vectors, tokens
