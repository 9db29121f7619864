"""Reranking: which of a list of documents best answer a query (:class:`RerankRequest`
in, :class:`RerankResponse` out).

:meth:`relaykit.Client.rerank` builds the request from the caller's arguments
(:func:`build_rerank_request`) and hands it to a provider's optional
``rerank`` method; routing, limits, retries, breakers, cost, traces, metrics
and the call log are the chat pipeline's, in :mod:`relaykit.rerank_call`.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any, NoReturn

import attrs

from .errors import InvalidRequestError, RelayError, did_you_mean
from .response import Usage
from .secrets import scrubbed_repr
from .validation import check_options

__all__ = ["RerankRequest", "RerankResponse", "RerankResult", "ranked"]


@attrs.frozen(kw_only=True)
class RerankRequest:
    """One rerank call, as the core hands it to a provider plugin's ``rerank``.

    ``model`` is the provider's own model name (without the ``provider/``
    prefix); ``query`` the search query; ``documents`` the texts to rank, at
    least one, none blank. ``top_n`` asks for that many best results (every
    document when ``None``); ``max_tokens_per_doc`` cuts longer documents
    (where the vendor takes it; the others leave it out). ``extra`` is merged
    into the request body.
    """

    model: str
    query: str
    documents: tuple[str, ...]
    top_n: int | None = None
    max_tokens_per_doc: int | None = None
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)


@attrs.frozen
class RerankResult:
    """One ranked document: its ``index`` among the documents sent, its relevance
    ``score`` (higher is more relevant; each vendor has its own scale) and its text."""

    index: int
    score: float
    document: str = ""


@attrs.frozen(kw_only=True)
class RerankResponse:
    """The result of one rerank call: the best documents first.

    ``results`` hold ``top_n`` of them (all, without one), most relevant first.
    ``search_units`` is what vendors that bill per search counted (Cohere: a
    query with up to 100 documents is one); ``usage.input_tokens`` what
    vendors that bill tokens counted, or, when the vendor said nothing
    (``tokens_estimated``), about a quarter of the characters sent, which rate
    limits count. ``cost`` is in USD when the model's price is known.
    """

    results: tuple[RerankResult, ...]
    model: str = ""
    provider: str = ""
    id: str | None = None
    usage: Usage = Usage()
    search_units: int = 0
    tokens_estimated: bool = False
    cost: Decimal | None = None
    latency: float | None = None
    attempts: int = 1

    @property
    def documents(self) -> tuple[str, ...]:
        """The ranked documents' texts, most relevant first."""
        return tuple(r.document for r in self.results)


PARAMS = ("top_n", "max_tokens_per_doc", "timeout", "metadata", "extra")


def coerce_documents(documents: Sequence[str]) -> tuple[str, ...]:
    """``documents`` as a tuple of texts; a typed error naming the first that is not one."""
    if isinstance(documents, str | bytes | bytearray) or not isinstance(documents, Sequence):
        raise InvalidRequestError(
            f"documents must be a list of strings, not {type(documents).__name__}",
            param="documents",
            hint="pass the texts to rank as a list, even one",
        )
    texts = tuple(documents)
    if not texts:
        raise InvalidRequestError(
            "documents is empty: pass at least one text to rank", param="documents"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidRequestError(
                f"documents[{i}] is a {type(text).__name__}, not a string: rerank takes text",
                param=f"documents[{i}]",
            )
        if not text.strip():
            raise InvalidRequestError(
                f"documents[{i}] is blank: the providers refuse blank texts",
                param=f"documents[{i}]",
                hint="leave blank texts out, and keep track of where they were",
            )
    return texts


def _positive_int(p: Mapping[str, Any], key: str) -> None:
    value = p.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidRequestError(f"`{key}` must be a positive integer, not {value!r}", param=key)


def build_rerank_request(
    model: str, query: str, documents: Sequence[str], params: Mapping[str, Any]
) -> RerankRequest:
    """Validate the caller's arguments into a :class:`RerankRequest` for ``model``."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequestError(
            f"query must be a non-blank string, not {query!r}"[:120], param="query"
        )
    texts = coerce_documents(documents)
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        name = unknown[0]
        fix = did_you_mean(
            name, PARAMS, f"rerank takes {', '.join(PARAMS)}; pass others in extra={{...}}"
        )
        raise InvalidRequestError(f"unknown parameter {name!r} for rerank: {fix}", param=name)
    p = {key: value for key, value in params.items() if value is not None}
    _positive_int(p, "top_n")
    _positive_int(p, "max_tokens_per_doc")
    if p.get("top_n", 0) > len(texts):
        p["top_n"] = len(texts)  # as the vendors do: every document, ranked
    check_options(p)
    return RerankRequest(model=model, query=query, documents=texts, **p)


def input_size(request: RerankRequest) -> int:
    """Characters of text the request carries (for the size check and limit estimates)."""
    return len(request.query) + sum(map(len, request.documents))


# -- for provider plugins -------------------------------------------------------


def ranked(
    request: RerankRequest, scores: Sequence[tuple[int, float]], *, provider: str
) -> tuple[RerankResult, ...]:
    """A vendor's ``(index, score)`` pairs as results, best first, with their texts.

    Raises :class:`~relaykit.RelayError` when an index is out of range or
    repeated: the answer is not one for this request.
    """
    documents = request.documents
    indices = {index for index, _ in scores}
    if len(indices) != len(scores) or (
        indices and (min(indices) < 0 or max(indices) >= len(documents))
    ):
        _refuse(request, scores, provider)
    # Stable, so documents the vendor scored alike keep the order it gave them.
    best = sorted(scores, key=itemgetter(1), reverse=True)
    if request.top_n is not None:
        best = best[: request.top_n]
    return tuple([RerankResult(i, float(score), documents[i]) for i, score in best])


def _refuse(request: RerankRequest, scores: Sequence[tuple[int, float]], provider: str) -> NoReturn:
    """Raise the error naming the first index out of range or ranked twice."""
    seen: set[int] = set()
    for index, _ in scores:
        if not 0 <= index < len(request.documents) or index in seen:
            raise RelayError(
                f"{provider} ranked document {index} of {len(request.documents)}, which"
                " is out of range or ranked twice",
                provider=provider,
                model=request.model,
                hint="this is a bug in the provider plugin or the service: report it",
            )
        seen.add(index)
    raise AssertionError("no bad index")  # _refuse is called only when there is one
