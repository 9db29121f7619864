"""Reranking on Bedrock: InvokeModel (``POST /model/{modelId}/invoke``) with each reranker's body.

Bedrock's reranker models are called as its embedding models are, each with its
own JSON (the family is told by the model id, an inference profile id or the
ARN of either, as for embeddings):

- Cohere Rerank 3.5 (``cohere.rerank-v3-5:0``): ``{"query", "documents":
  [text, ...], "api_version": 2, "top_n"}``. Bedrock requires ``api_version``
  and refuses one below 2 (it selects Cohere's v2 Rerank API).
- Amazon Rerank 1.0 (``amazon.rerank-v1:0``): ``{"query", "documents"}``.
  ``top_n`` is not sent: the one public example of the body has none, so the
  results are cut to ``top_n`` here instead (a query costs the same either way).

Both answer ``{"results": [{"index", "relevance_score"}, ...]}`` best first
(Cohere adds an ``id``; otherwise AWS's request id serves as the response id,
as for Converse). ``max_tokens_per_doc`` is sent to neither: no published body
of either model shows it (Amazon's is reported to refuse it); pass
``extra={"max_tokens_per_doc": n}`` to try it. ``extra`` is merged into the
body last.

Bedrock bills a reranker per query, a query ranking up to 100 documents (more
count as several), and its answer says nothing of it, so ``search_units`` is
``ceil(documents / 100)`` (a lower bound: Bedrock may split a document longer
than the model's window into chunks, each counted). No tokens are reported
either; the core estimates them for rate limits. More than
:data:`MAX_DOCUMENTS` documents are refused before sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from relaykit import InvalidRequestError, ProviderUnavailableError, RerankRequest, RerankResponse
from relaykit.rerank import ranked

from . import invoke_models
from .invoke_models import Invoke

#: Documents one rerank request may carry: the limit AWS documents for its
#: reranker models (the Rerank operation's ``sources``).
MAX_DOCUMENTS = 1_000
#: Documents one billed query covers.
DOCUMENTS_PER_QUERY = 100
#: The header carrying AWS's id of a request, used when the answer has no id.
REQUEST_ID = "x-amzn-requestid"


@attrs.frozen
class RerankFamily:
    """One family of Bedrock reranker models: how its requests are shaped.

    ``prefix`` matches the model ids of the family (after any inference profile
    prefix); ``api`` is the body format (``"cohere"`` or ``"amazon"``).
    """

    prefix: str
    name: str
    api: Literal["cohere", "amazon"]


FAMILIES = (
    RerankFamily("cohere.rerank-v3-5", "Cohere Rerank 3.5", "cohere"),
    RerankFamily("amazon.rerank-v1", "Amazon Rerank 1.0", "amazon"),
)


def family_of(model: str) -> RerankFamily:
    """The reranker family of ``model``; a typed error naming the supported ones if none."""
    return invoke_models.family_of(
        model,
        FAMILIES,
        kind="reranker",
        does="ranks",
        hint="call a reranker by its model id (cohere.rerank-v3-5:0, amazon.rerank-v1:0)",
    )


def check_documents(family: RerankFamily, request: RerankRequest) -> None:
    """Refuse more documents than Bedrock ranks in one request, before anything is sent."""
    count = len(request.documents)
    if count > MAX_DOCUMENTS:
        raise InvalidRequestError(
            f"{family.name} on Bedrock ranks at most {MAX_DOCUMENTS:,} documents a request,"
            f" not {count:,}",
            model=request.model,
            param="documents",
            hint="narrow the candidates first, or rank them in several calls and merge"
            " the results by score",
        )


def request_body(family: RerankFamily, request: RerankRequest) -> dict[str, Any]:
    """The InvokeModel body ranking ``request.documents``, ``extra`` merged in last."""
    body: dict[str, Any] = {"query": request.query, "documents": list(request.documents)}
    if family.api == "cohere":
        body["api_version"] = 2  # required: Bedrock refuses Cohere's v1 API here
        if request.top_n is not None:
            body["top_n"] = request.top_n
    body.update(request.extra)
    return body


def queries_billed(documents: int) -> int:
    """The queries Bedrock bills for ranking ``documents`` documents: one per 100."""
    return -(-documents // DOCUMENTS_PER_QUERY)


def parse_answer(
    family: RerankFamily,
    data: Any,
    headers: Mapping[str, str],
    request: RerankRequest,
    *,
    provider: str,
) -> RerankResponse:
    """A :class:`relaykit.RerankResponse` from one InvokeModel answer, best first.

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
        raise ProviderUnavailableError(
            f"InvokeModel answered {family.name} without ranked results",
            provider=provider,
            model=request.model,
        ) from e
    id_ = data.get("id") or headers.get(REQUEST_ID)
    return RerankResponse(
        results=ranked(request, pairs, provider=provider),
        model=request.model,
        id=str(id_) if id_ else None,
        search_units=queries_billed(len(request.documents)),
    )


def _index(value: Any) -> int:
    """A result's ``index``: a whole number (``3.0`` is 3; ``True`` or ``"3"`` is none)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"not a document index: {value!r}")
    return int(value)


async def rerank(request: RerankRequest, invoke: Invoke, *, provider: str) -> RerankResponse:
    """Rank ``request.documents`` with one ``invoke``; the results best first."""
    family = family_of(request.model)
    check_documents(family, request)
    data, headers = await invoke(request.model, request_body(family, request))
    return parse_answer(family, data, headers, request, provider=provider)
