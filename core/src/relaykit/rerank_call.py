""":meth:`relaykit.Client.rerank`: the chat pipeline's steps, for a rerank call.

validate -> redact outbound -> route -> rate-limit reserve -> breaker ->
retry(provider rerank with timeouts) -> cost -> reconcile limits -> span,
metrics and log record -> return.

As for embeddings (:mod:`relaykit.embedding_call`), everything but the first
and last steps is the chat call's own code; routes work as for chat but do not
hedge, and nothing is cached (a ranking is cheap next to the documents'
retrieval, and rarely asked twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import single_calls
from .errors import ClientClosedError
from .protocols import Provider
from .rerank import (
    RerankRequest,
    RerankResponse,
    RerankResult,
    build_rerank_request,
    input_size,
)
from .response import ModelPrice
from .routing import Target
from .single_calls import (
    Operation,
    answer,
    capability,
    conclude,
    new_call,
    run_call,
    with_input_tokens,
)
from .tracing import CallTracer
from .validation import check_chars

if TYPE_CHECKING:
    from decimal import Decimal

    from .call_outcomes import CallOutcomes
    from .client import Client, _Call


_WHO_RANKS = (
    "rerank with a provider that has one: cohere, bedrock, or the OpenAI-compatible"
    " vllm, together, openrouter or fireworks"
)


async def send_rerank(provider: Provider, request: RerankRequest, target: Target) -> RerankResponse:
    """``provider.rerank(request)``, checked: a typed refusal when the provider has no
    rerank API; an estimate of the input tokens when its answer does not count them."""
    rerank = capability(provider, "rerank", target, "rerank", _WHO_RANKS)
    response: RerankResponse = await rerank(request)
    # Vendors that bill per search say no tokens: estimated.
    return with_input_tokens(response, (request.query, *request.documents))


async def rerank(
    client: Client, model: str, query: str, documents: Sequence[str], params: dict[str, Any]
) -> RerankResponse:
    """Run one rerank call through ``client``'s pipeline (see the module docstring)."""
    call, texts = _start(client, model, query, documents, params)
    return await run_call(client, call, lambda: _run(client, call, texts))


def _start(
    client: Client, model: str, query: str, documents: Sequence[str], params: dict[str, Any]
) -> tuple[_Call, tuple[str, ...]]:
    """The call, and the documents as the caller gave them (the results carry those,
    not what outbound redaction sent)."""
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")
    targets = client._router.plan(model)
    request = build_rerank_request(targets[0].model, query, documents, params)
    texts = request.documents
    size = input_size(request)
    check_chars(
        size,
        client.config.validation.max_chars,
        "the query and documents carry",
        "documents",
        "rank fewer or shorter documents",
    )
    if client._outbound is not None:
        # Outbound redaction keeps PII from the provider; the results carry the
        # caller's own texts (by index), so nothing needs restoring.
        redact = client._outbound.redact
        request = attrs.evolve(
            request, query=redact(request.query), documents=tuple(map(redact, request.documents))
        )
    # Cohere's search unit: a query with up to 100 documents (longer ones, cut into
    # chunks, count more: the hold may fall short, the settlement not).
    searches = -(-len(request.documents) // 100)
    call = new_call(client, model, request, targets, size, RERANK, searches=searches)
    return call, texts


async def _run(client: Client, call: _Call, texts: tuple[str, ...]) -> RerankResponse:
    response: RerankResponse
    response, target = await answer(client, call)
    results = response.results
    if _request(call).documents is not texts:
        # Outbound redaction sent other texts: the caller gets its own back.
        results = tuple([RerankResult(r.index, r.score, texts[r.index]) for r in results])
    return await conclude(client, call, target, response, results=results)


def _request(call: _Call) -> RerankRequest:
    """The rerank call's request (see ``_Call.request``)."""
    request: Any = call.request
    return request  # type: ignore[no-any-return]


def record_fields(outcomes: CallOutcomes, call: _Call, target: Target) -> dict[str, Any]:
    """The fields every record of a rerank call has (``CallOutcomes.record_fields``'s).

    With content on, its messages are the query (a user message) and each
    document (one user message each), so ``relaykit logs`` shows and searches
    them as a chat's. Its parameters: ``documents`` (how many), ``top_n``,
    ``max_tokens_per_doc``, ``timeout``, and with content, ``extra`` and metadata.
    """
    request = _request(call)
    params: dict[str, Any] = {"documents": len(request.documents)}
    if request.top_n is not None:
        params["top_n"] = request.top_n
    if request.max_tokens_per_doc is not None:
        params["max_tokens_per_doc"] = request.max_tokens_per_doc
    return single_calls.record_fields(
        outcomes,
        call,
        target,
        texts=(request.query, *request.documents),
        params=params,
    )


def rerank_cost(price: ModelPrice, request: RerankRequest, response: RerankResponse) -> Decimal:
    """A ranking's cost at ``price``: per search unit where the vendor counted them,
    else by the token."""
    if response.search_units:
        return price.cost(response.usage, searches=response.search_units)
    return price.cost(response.usage)


#: how the client sends, prices, traces and records a rerank call
RERANK = Operation(
    "rerank",
    send_rerank,
    record_fields,
    rerank_cost,
    start_span=CallTracer.start_rerank,
    finish_span=CallTracer.finish_rerank,
)
