"""Cohere's Rerank API (``POST {base}/v2/rerank``): request bodies and answers.

A request carries ``{"model", "query", "documents"}`` (the texts, as strings:
v2 takes no document objects) and, when asked, ``top_n`` and
``max_tokens_per_doc`` (longer documents are cut to it; Cohere's default is
4,096); ``extra`` is merged in last. Cohere takes at most
:data:`MAX_DOCUMENTS` documents a request, and recommends no more than 1,000.

The answer's ``results`` are ``{"index", "relevance_score"}`` pairs, best
first, ``top_n`` of them; ``meta.billed_units.search_units`` is what Cohere
bills (a query with up to 100 documents is one search unit, and the chunks of
a document longer than the model's window count as documents). Cohere counts
no tokens for a rerank as a rule: ``meta.tokens.input_tokens`` (or billed
input tokens) are reported when present, otherwise usage stays 0 and the core
estimates it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import relaykit
from relaykit.json_decode import SHAPE_ERRORS, wrong_shape
from relaykit.rerank import ranked

from .wire import usage

#: Documents Cohere ranks in one request.
MAX_DOCUMENTS = 10_000
#: Documents one search unit covers.
DOCUMENTS_PER_SEARCH_UNIT = 100

#: ``post(body) -> JSON answer``: one ``/v2/rerank`` call, raising typed errors.
Post = Callable[[dict[str, Any]], Awaitable[Any]]


def check_documents(request: relaykit.RerankRequest) -> None:
    """Refuse more documents than Cohere takes in one request, before anything is sent."""
    count = len(request.documents)
    if count > MAX_DOCUMENTS:
        raise relaykit.InvalidRequestError(
            f"Cohere ranks at most {MAX_DOCUMENTS:,} documents a request, not {count:,}",
            model=request.model,
            param="documents",
            hint="narrow the candidates first (Cohere recommends at most 1,000 a request),"
            " or rank them in several calls and merge the results by score",
        )


def request_body(request: relaykit.RerankRequest) -> dict[str, Any]:
    """The ``/v2/rerank`` body for ``request``."""
    body: dict[str, Any] = {
        "model": request.model,
        "query": request.query,
        "documents": list(request.documents),
    }
    if request.top_n is not None:
        body["top_n"] = request.top_n
    if request.max_tokens_per_doc is not None:
        body["max_tokens_per_doc"] = request.max_tokens_per_doc
    body.update(request.extra)
    return body


#: the parts of a ``/v2/rerank`` answer read for its usage, to name the one that
#: does not fit (json_decode.misfit)
_META_SHAPE: dict[str, Any] = {"meta": {"billed_units": {}, "tokens": {}}}


def search_units(meta: Mapping[str, Any], documents: int) -> int:
    """The search units ``meta`` billed; without them, one per 100 ``documents``.

    An answer that does not say (a Cohere-compatible deployment, an older
    version) is costed as Cohere's public API would bill it, rather than as
    free.
    """
    value = (meta.get("billed_units") or {}).get("search_units")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return -(-documents // DOCUMENTS_PER_SEARCH_UNIT)


def parse_answer(
    data: Any, request: relaykit.RerankRequest, *, provider: str
) -> relaykit.RerankResponse:
    """A :class:`relaykit.RerankResponse` from one ``/v2/rerank`` answer.

    Raises :class:`relaykit.ProviderUnavailableError` when the answer holds no
    ``results`` of ``index`` and ``relevance_score``, and
    :class:`relaykit.RelayError` (from :func:`relaykit.rerank.ranked`) when an
    index is out of range or repeated.
    """
    try:
        pairs = [
            (_index(item["index"]), float(item["relevance_score"])) for item in data["results"]
        ]
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise relaykit.ProviderUnavailableError(
            "Cohere answered without ranked results", provider=provider, model=request.model
        ) from e
    meta = data.get("meta") or {}
    if not isinstance(meta, Mapping):
        meta = {}
    try:
        # A ranking has no output; the input tokens, when Cohere counts them at all.
        tokens = usage(meta).input_tokens
        units = search_units(meta, len(request.documents))
    except SHAPE_ERRORS as e:
        raise wrong_shape("a rerank answer", e, data, _META_SHAPE) from e
    id_ = data.get("id")
    return relaykit.RerankResponse(
        results=ranked(request, pairs, provider=provider),
        model=request.model,
        id=str(id_) if id_ else None,
        usage=relaykit.Usage(tokens),
        search_units=units,
    )


def _index(value: Any) -> int:
    """A result's ``index``: an integer (``3.0`` is 3; ``True`` or ``"3"`` is no index)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"not a document index: {value!r}")
    return int(value)


async def rerank(
    request: relaykit.RerankRequest, post: Post, *, provider: str
) -> relaykit.RerankResponse:
    """Rank ``request.documents`` with one ``post``; the results best first."""
    check_documents(request)
    data = await post(request_body(request))
    return parse_answer(data, request, provider=provider)
