"""Translate between relaykit's embeddings and Gemini's ``batchEmbedContents``.

One ``EmbedContentRequest`` per text, each with its own one-part ``content``:
several parts in one content are one input to Gemini (``gemini-embedding-2``
fuses them into a single vector). Gemini takes at most :data:`BATCH_LIMIT`
of them per call ("at most 100 requests can be in one batch"), so longer
inputs go in several calls, whose vectors are joined in order.

Newer models report the tokens of a batch in a top-level ``usageMetadata``;
where an answer has none, the tokens are estimated (:func:`relaykit.embeddings.estimate_tokens`)
rather than asked of ``countTokens``, which would double the requests made
against the embedding model's per-minute quota for a number that is only
used for cost and limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from relaykit import EmbeddingRequest, InvalidRequestError, json_decode
from relaykit.errors import RelayError

from .wire import merge_extra

#: the most ``requests`` Gemini takes in one ``batchEmbedContents`` call
BATCH_LIMIT = 100

#: relaykit's ``input_type`` as Gemini's ``taskType``
TASK_TYPES = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}


#: tokens a text may add beyond its own (markers the model puts around it)
TEXT_OVERHEAD = 2

#: the output sizes Google documents per embedding model, smallest and largest
#: ("Output dimension size: Flexible, supports: 128 - 3072", the model's page)
DIMENSION_RANGES = {"gemini-embedding-001": (128, 3072)}


def check_dimensions(request: EmbeddingRequest, *, smallest: bool = True) -> None:
    """Refuse a ``dimensions`` outside the range Google documents for the model,
    before anything is sent (``smallest=False``: the largest only, as Vertex's
    ``:predict`` documents no smallest). Models not in :data:`DIMENSION_RANGES`
    are sent whatever is asked."""
    size = request.dimensions
    bounds = DIMENSION_RANGES.get(request.model)
    if size is None or bounds is None:
        return
    low, high = bounds
    if size > high or (smallest and size < low):
        raise InvalidRequestError(
            f"{request.model} gives vectors of {low} to {high} dimensions, not {size}",
            model=request.model,
            param="dimensions",
            hint=f"pass {low} to {high} (768, 1536 and 3072 are recommended), or leave"
            " `dimensions` out for the full length",
        )


def batches(
    texts: Sequence[str], size: int = BATCH_LIMIT, max_tokens: int | None = None
) -> list[tuple[str, ...]]:
    """``texts`` in order, cut into runs of at most ``size`` and, given
    ``max_tokens``, at most that many tokens (a longer text goes alone).

    No tokenizer is run: a text's tokens are counted as its UTF-8 bytes plus
    :data:`TEXT_OVERHEAD`, which no tokenizer exceeds (none has a token shorter
    than a byte), so a run is never over the limit.
    """
    texts = tuple(texts)
    n = len(texts)
    if max_tokens is None or sum(map(len, texts)) * 4 + n * TEXT_OVERHEAD <= max_tokens:
        return [texts[i : i + size] for i in range(0, n, size)]
    out: list[tuple[str, ...]] = []
    run: list[str] = []
    used = 0
    for text in texts:
        cost = len(text.encode()) + TEXT_OVERHEAD
        if run and (len(run) == size or used + cost > max_tokens):
            out.append(tuple(run))
            run, used = [], 0
        run.append(text)
        used += cost
    out.append(tuple(run))
    return out


def batch_body(request: EmbeddingRequest, texts: Sequence[str], resource: str) -> dict[str, Any]:
    """The JSON body of ``{resource}:batchEmbedContents`` for ``texts`` of ``request``.

    ``resource`` is the model's resource name (``models/gemini-embedding-001``),
    which every entry repeats: Gemini checks it matches the URL's. ``extra`` is
    merged into each entry (one level deep), as the batch body has no other
    field: ``extra={"taskType": "SEMANTIC_SIMILARITY"}`` replaces the task
    type ``input_type`` chose, ``extra={"title": ...}`` titles documents.
    """
    return {"requests": [_entry(request, text, resource) for text in texts]}


def _entry(request: EmbeddingRequest, text: str, resource: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": resource, "content": {"parts": [{"text": text}]}}
    if request.input_type is not None:
        entry["taskType"] = TASK_TYPES[request.input_type]
    if request.dimensions is not None:
        entry["outputDimensionality"] = request.dimensions
    if request.extra:
        merge_extra(entry, request.extra)
    return entry


def vectors(data: Mapping[str, Any]) -> list[tuple[float, ...]]:
    """The vectors of a ``BatchEmbedContentsResponse``, in its order."""
    return [tuple(map(float, e.get("values") or ())) for e in data.get("embeddings") or ()]


def reported_tokens(data: Mapping[str, Any]) -> int | None:
    """The input tokens a ``BatchEmbedContentsResponse`` reports, or ``None`` without them."""
    meta = data.get("usageMetadata")
    if not isinstance(meta, Mapping) or "promptTokenCount" not in meta:
        return None
    return json_decode.count(meta["promptTokenCount"] or 0, "usageMetadata.promptTokenCount")


#: where Google's message names one entry of the batch it refused
#: ("* BatchEmbedContentsRequest.requests[50].content.parts[0].text: ...")
_REFUSED_ENTRY = re.compile(r"BatchEmbedContentsRequest\.requests\[(\d+)\]")


def name_refused_text(error: RelayError) -> None:
    """Make a 400 that names one entry of a batch (Google's
    ``BatchEmbedContentsRequest.requests[k]``) name that text as relaykit does,
    ``inputs[k]`` in its ``param`` and message, so that
    :func:`relaykit.embeddings.name_callers_input` can turn it into the caller's
    place. One naming several entries, or none, is left as it is."""
    if not isinstance(error, InvalidRequestError) or error.param is not None:
        return
    named = {int(k) for k in _REFUSED_ENTRY.findall(error.provider_message or "")}
    if len(named) != 1:
        return
    (k,) = named
    error.param = f"inputs[{k}]"
    error.message = f"inputs[{k}] was refused: {error.message}"
