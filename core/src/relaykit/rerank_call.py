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

import logging
import os
import time
from collections.abc import Sequence
from math import inf
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .attempts import run_attempts
from .embeddings import estimate_tokens
from .errors import ClientClosedError, InvalidRequestError, RelayError
from .messages import Message, TextPart
from .protocols import CallRecord, Provider
from .record_params import ID_KEYS
from .rerank import RerankRequest, RerankResponse, build_rerank_request, input_size
from .response import Usage
from .routing import Target
from .tracing import current

if TYPE_CHECKING:
    from .client import Client, _Call

calls_log = logging.getLogger("relaykit.calls")


async def send_rerank(provider: Provider, request: RerankRequest, target: Target) -> RerankResponse:
    """``provider.rerank(request)``, checked: a typed refusal when the provider has no
    rerank API; an estimate of the input tokens when its answer does not count them."""
    rerank = getattr(provider, "rerank", None)
    if rerank is None:
        # No status: never sent, so any rate limit gets all of it back.
        raise InvalidRequestError(
            f"{target.provider} has no rerank API in relaykit",
            provider=target.provider,
            model=target.model,
            param="model",
            hint="rerank with a provider that has one: cohere, bedrock, or the"
            " OpenAI-compatible vllm, together, openrouter or fireworks",
        )
    response: RerankResponse = await rerank(request)
    if not response.usage.input_tokens:
        # Vendors that bill per search say no tokens: estimated, so that token
        # limits still count the texts.
        estimate = estimate_tokens((request.query, *request.documents))
        response = attrs.evolve(response, usage=Usage(estimate), tokens_estimated=True)
    return response


async def rerank(
    client: Client, model: str, query: str, documents: Sequence[str], params: dict[str, Any]
) -> RerankResponse:
    """Run one rerank call through ``client``'s pipeline (see the module docstring)."""
    call, texts = _start(client, model, query, documents, params)
    client._in_flight += 1  # aclose waits for calls in flight
    try:
        with current(client._tracer, call):
            try:
                return await _run(client, call, texts)
            except BaseException as exc:
                # Cancelled by the caller: a failed call, recorded as chat's is.
                if not call.ended and isinstance(exc, anyio.get_cancelled_exc_class()):
                    with anyio.CancelScope(shield=True):
                        await client._cancelled(call)
                raise
    finally:
        client._call_ended()


def _start(
    client: Client, model: str, query: str, documents: Sequence[str], params: dict[str, Any]
) -> tuple[_Call, tuple[str, ...]]:
    """The call, and the documents as the caller gave them (the results carry those,
    not what outbound redaction sent)."""
    from .client import _Call

    if client._closed:
        raise ClientClosedError("this client is closed")
    targets = client._router.plan(model)
    request = build_rerank_request(targets[0].model, query, documents, params)
    texts = request.documents
    size = input_size(request)
    limit = client.config.validation.max_chars
    if size > limit:
        raise InvalidRequestError(
            f"the query and documents carry {size:,} characters of text, over the limit"
            f" of {limit:,}",
            param="documents",
            hint="rank fewer or shorter documents, or raise [validation] max_chars",
        )
    if client._outbound is not None:
        # Outbound redaction keeps PII from the provider; the results carry the
        # caller's own texts (by index), so nothing needs restoring.
        redact = client._outbound.redact
        request = attrs.evolve(
            request, query=redact(request.query), documents=tuple(map(redact, request.documents))
        )
    now = time.monotonic()
    total = request.timeout if request.timeout is not None else client.config.timeouts.total
    call = _Call(
        id=os.urandom(16).hex(),
        model_requested=model,
        request=request,  # type: ignore[arg-type]  # see _Call.request
        targets=targets,
        started=now,
        started_wall=time.time(),
        deadline=now + total,
        streamed=False,
        size=size,
        operation="rerank",
        output_hold=0,  # a ranking has no output tokens
        # Cohere's search unit: a query with up to 100 documents (longer ones,
        # cut into chunks, count more: the hold may fall short, the settlement not)
        searches=-(-len(request.documents) // 100),
    )
    if client._scoped and request.metadata:
        call.scoped = client._scoped_limits(request.metadata)
    if client._tracer is not None:
        call.span = client._tracer.start_rerank(call)
    return call, texts


async def _run(client: Client, call: _Call, texts: tuple[str, ...]) -> RerankResponse:
    if client._cold:
        await client._warm_up(call)

    async def attempt(provider: Provider, req: Any, target: Target) -> RerankResponse:
        return await client._attempt(provider, req, target, call)  # type: ignore[return-value]

    try:
        response = await run_attempts(client, call, attempt)
    except RelayError as error:
        await client._fail(call, error)
        raise
    target = call.served
    assert target is not None
    results = tuple(attrs.evolve(r, document=texts[r.index]) for r in response.results)
    price = client._price(target, response.model)
    response = attrs.evolve(
        response,
        results=results,
        provider=target.provider,
        model=response.model or target.model,
        latency=time.monotonic() - call.started,
        cost=price.cost(response.usage, searches=response.search_units)
        if price is not None
        else None,
        attempts=call.attempts,
    )
    return await _finish(client, call, target, response)


def _request(call: _Call) -> RerankRequest:
    """The rerank call's request (see ``_Call.request``)."""
    request: Any = call.request
    return request  # type: ignore[no-any-return]


async def _finish(
    client: Client, call: _Call, target: Target, response: RerankResponse
) -> RerankResponse:
    """Trace, log and record a successful rerank call."""
    call.ended = True
    tracer = client._tracer
    if call.span is not None and tracer is not None:
        tracer.finish_rerank(call, response)
    if calls_log.isEnabledFor(logging.INFO):
        client._log_call(call, target, response.latency or 0.0, response=response)
    if client._recording:
        record = CallRecord(
            **record_fields(client, call, target),
            usage=response.usage,
            cost=response.cost,
            latency=response.latency,
            attempts=response.attempts,
            model_served=response.model or None,
        )
        await client._emit(record)  # redacts the query and documents, as a chat's messages
    return response


def record_fields(client: Client, call: _Call, target: Target) -> dict[str, Any]:
    """The fields every record of a rerank call has (``Client._record_fields``'s).

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
    if request.timeout is not None:
        params["timeout"] = request.timeout if request.timeout != inf else None
    content = client._content
    if content:  # redacted here, as a chat's are (Client._record_params)
        if request.extra:
            params["extra"] = client._redaction.value(request.extra)
        metadata = {k: v for k, v in request.metadata.items() if k not in ID_KEYS}
        if metadata:
            params["metadata"] = client._redaction.value(metadata)
    texts = (request.query, *request.documents)
    return {
        "id": call.id,
        "started_at": call.started_wall,
        "operation": "rerank",
        "provider": target.provider,
        "model_requested": call.model_requested,
        "model": target.model,
        "streamed": False,
        "fallbacks": call.fallbacks,
        "messages": tuple(Message("user", (TextPart(t),)) for t in texts) if content else (),
        "params": params,
        "correlation_id": request.metadata.get("correlation_id"),
        "finished_at": time.time(),
        "route": client._route_names(call),
    }
