"""Cohere's Embed API (``POST {base}/v2/embed``): request bodies, answers and batching.

A request carries ``{"model", "texts", "input_type", "embedding_types":
["float"]}`` and, with ``dimensions``, ``output_dimension`` (Embed v4 and
later: 256, 512, 1024 or 1536); ``extra`` is merged in. Cohere requires an
input type for its v3 and later models: ``input_type="query"`` sends
``search_query``, anything else (or none) ``search_document``. It takes at
most 96 texts a request, so longer calls are split into requests that run
:data:`MAX_CONCURRENT_REQUESTS` at a time, their vectors put back in the
inputs' order. The answer's ``embeddings.float`` are the vectors and
``meta.billed_units.input_tokens`` the billed tokens (estimated, about four
characters a token, for an answer without them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import relaykit
from relaykit import json_decode
from relaykit.embeddings import BatchAnswer, estimate_tokens, send_batches

#: Texts Cohere takes in one request.
MAX_TEXTS = 96
#: Requests of one call in flight together: Cohere limits embeddings per minute, not connections.
MAX_CONCURRENT_REQUESTS = 4

#: The ``dimensions`` each known model can shorten its vectors to; an empty
#: tuple: it takes none. Models missing here are sent whatever is asked.
DIMENSIONS: dict[str, tuple[int, ...]] = {
    "embed-v4.0": (256, 512, 1024, 1536),
    "embed-english-v3.0": (),
    "embed-multilingual-v3.0": (),
    "embed-english-light-v3.0": (),
    "embed-multilingual-light-v3.0": (),
}

#: ``post(body) -> JSON answer``: one ``/v2/embed`` call, raising typed errors.
Post = Callable[[dict[str, Any]], Awaitable[Any]]


def check_dimensions(request: relaykit.EmbeddingRequest) -> None:
    """Refuse a ``dimensions`` a known model cannot give, before anything is sent."""
    size = request.dimensions
    allowed = DIMENSIONS.get(request.model)
    if size is None or allowed is None or size in allowed:
        return
    if allowed:
        sizes = ", ".join(map(str, allowed))
        message = f"{request.model} takes `dimensions` of {sizes} only, not {size}"
        hint = f"pass one of {sizes}, or leave `dimensions` out for the full length"
    else:
        message = f"{request.model} takes no `dimensions`: its vectors have one length"
        hint = "leave `dimensions` out, or embed with embed-v4.0, which shortens its vectors"
    raise relaykit.InvalidRequestError(message, model=request.model, param="dimensions", hint=hint)


def request_body(request: relaykit.EmbeddingRequest, texts: Sequence[str]) -> dict[str, Any]:
    """The ``/v2/embed`` body embedding ``texts`` (at most :data:`MAX_TEXTS`)."""
    body: dict[str, Any] = {
        "model": request.model,
        "texts": list(texts),
        # Required by Cohere; documents are what most embedding calls are for.
        "input_type": "search_query" if request.input_type == "query" else "search_document",
        "embedding_types": ["float"],
    }
    if request.dimensions is not None:
        body["output_dimension"] = request.dimensions
    body.update(request.extra)
    return body


def parse_answer(
    data: Any, count: int, *, provider: str, model: str
) -> tuple[list[tuple[float, ...]], int | None]:
    """The vectors of one ``/v2/embed`` answer and the input tokens it billed
    (``None`` when it does not say: :func:`embed` estimates them).

    Raises :class:`relaykit.ProviderUnavailableError` when the answer does not
    hold ``count`` float vectors.
    """
    try:
        raw = data["embeddings"]
        if isinstance(raw, Mapping):  # the v2 shape: {"float": [[...]], ...}
            raw = raw["float"]
        vectors = [tuple(float(x) for x in vector) for vector in raw]
    except (KeyError, TypeError, ValueError) as e:
        raise relaykit.ProviderUnavailableError(
            "Cohere answered without float embeddings", provider=provider, model=model
        ) from e
    if len(vectors) != count:
        raise relaykit.ProviderUnavailableError(
            f"Cohere answered {len(vectors)} embeddings for {count} texts",
            provider=provider,
            model=model,
        )
    meta = data.get("meta")
    billed = (meta.get("billed_units") if isinstance(meta, Mapping) else None) or {}
    tokens = billed.get("input_tokens") if isinstance(billed, Mapping) else None
    if not isinstance(tokens, int | float) or isinstance(tokens, bool):
        return vectors, None
    return vectors, json_decode.count(tokens, "meta.billed_units.input_tokens")


async def embed(
    request: relaykit.EmbeddingRequest, post: Post, *, provider: str
) -> relaykit.EmbeddingResponse:
    """Embed ``request.inputs`` with ``post``: 96 texts a request, the vectors in order."""
    check_dimensions(request)
    texts = request.inputs
    batches = [texts[i : i + MAX_TEXTS] for i in range(0, len(texts), MAX_TEXTS)]

    async def one(batch: tuple[str, ...]) -> tuple[list[tuple[float, ...]], int | None]:
        data = await post(request_body(request, batch))
        return parse_answer(data, len(batch), provider=provider, model=request.model)

    def billed(index: int, answer: tuple[list[tuple[float, ...]], int | None]) -> BatchAnswer:
        vectors, counted = answer
        tokens = estimate_tokens(batches[index]) if counted is None else counted
        return BatchAnswer(
            first=index * MAX_TEXTS,
            vectors=tuple(vectors),
            usage=relaykit.Usage(tokens),
            tokens_estimated=counted is None,
        )

    answers = await send_batches(batches, one, concurrency=MAX_CONCURRENT_REQUESTS, billed=billed)
    # A batch answered without billed units (a compatible service, an older API
    # version) is estimated, as on Bedrock, so that cost and token limits still
    # count its texts instead of taking them as free.
    tokens = [
        estimate_tokens(batch) if billed is None else billed
        for batch, (_, billed) in zip(batches, answers, strict=True)
    ]
    return relaykit.EmbeddingResponse(
        vectors=tuple(v for vectors, _ in answers for v in vectors),
        model=request.model,
        usage=relaykit.Usage(sum(tokens)),
        tokens_estimated=any(billed is None for _, billed in answers),
    )
