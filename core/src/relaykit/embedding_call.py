""":meth:`relaykit.Client.embed`: the chat pipeline's steps, for an embeddings call.

validate -> redact outbound -> route -> cache lookup (per text) -> rate-limit
reserve -> breaker -> retry(provider embed with timeouts) -> cost -> reconcile
limits -> span, metrics and log record -> return.

Everything but the first and last steps is the chat call's own code
(:func:`~relaykit.attempts.run_attempts`, ``Client._attempt`` and what it
calls); this module builds the call, merges cached vectors with new ones, and
finishes it. Routes work as for chat (aliases, fallbacks, balancing) but do
not hedge. A route that falls back to another model gets vectors from
another space: :mod:`relaykit.embedding_cache` never mixes the two in one
answer, but what an application stores is its own choice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from . import single_calls
from .cancellation import is_cancellation
from .embedding_cache import embedding_key
from .embeddings import (
    BatchLedger,
    EmbeddingRequest,
    EmbeddingResponse,
    Vector,
    answered_batches,
    build_embedding_request,
    input_size,
    name_callers_input,
)
from .errors import ClientClosedError, InvalidRequestError, RelayError
from .protocols import CallRecord, Provider
from .response import Usage
from .routing import Target
from .single_calls import (
    Operation,
    answer,
    capability,
    check_one_per_input,
    conclude,
    finish,
    new_call,
    run_call,
)
from .tracing import CallTracer
from .validation import cache_choice, check_chars

if TYPE_CHECKING:
    from .call_outcomes import CallOutcomes
    from .client import Client, _Call


_FREE = Decimal(0)


_WHO_EMBEDS = (
    "embed with a provider that has one: openai (and most compatibles), gemini, ollama,"
    " bedrock or cohere"
)


async def send_embeddings(
    provider: Provider, request: EmbeddingRequest, target: Target
) -> EmbeddingResponse:
    """``provider.embed(request)``, checked: a typed refusal when the provider has
    no embeddings, an error when its answer does not hold one vector per input,
    all of one length: the ``dimensions`` asked for, when given."""
    embed = capability(provider, "embed", target, "embeddings", _WHO_EMBEDS)
    response: EmbeddingResponse = await embed(request)
    check_one_per_input(len(response.vectors), "vectors", len(request.inputs), target)
    _check_lengths(response.vectors, request.dimensions, target)
    ledger = answered_batches.get()
    if ledger is not None and ledger.settled:
        # Batches an earlier attempt answered, whose limits that attempt settled
        # (_partly_billed): this attempt's hold settles with the rest (the call's
        # answer gets them back, see _run).
        response = attrs.evolve(response, usage=_less(response.usage, ledger.settled_usage))
    return response


def _less(usage: Usage, settled: Usage) -> Usage:
    """``usage`` without ``settled``, field by field (never below zero)."""
    fields = attrs.fields(Usage)
    return Usage(
        **{f.name: max(0, getattr(usage, f.name) - getattr(settled, f.name)) for f in fields}
    )


def _check_lengths(vectors: Sequence[Vector], dimensions: int | None, target: Target) -> None:
    """Refuse vectors of differing (or no) length, or of another length than the
    ``dimensions`` asked for: a vector store sized for them would refuse them far
    from the cause, and the cache would keep them under the size asked for."""
    lengths = {len(vector) for vector in vectors}
    if len(lengths) > 1 or 0 in lengths:
        raise RelayError(
            f"{target.provider} answered vectors of {min(lengths)} to {max(lengths)} numbers"
            " in one answer",
            provider=target.provider,
            model=target.model,
            hint="this is a bug in the provider plugin or the service: report it",
        )
    if dimensions is not None and lengths and lengths != {dimensions}:
        # A service that cannot shorten the model's vectors and ignores the field
        # (some OpenAI-compatible servers do) instead of refusing it.
        raise InvalidRequestError(
            f"{target.provider} answered vectors of {lengths.pop()} dimensions, not the"
            f" {dimensions} asked for: {target.model} does not shorten its vectors there",
            provider=target.provider,
            model=target.model,
            param="dimensions",
            hint="leave `dimensions` out, or embed with a model that shortens its vectors",
        )


async def embed(
    client: Client, model: str, inputs: str | Sequence[str], params: dict[str, Any]
) -> EmbeddingResponse:
    """Run one embeddings call through ``client``'s pipeline (see the module docstring)."""
    call = _start(client, model, inputs, params)
    return await run_call(client, call, lambda: _run(client, call))


def _start(
    client: Client, model: str, inputs: str | Sequence[str], params: dict[str, Any]
) -> _Call:
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")
    use_cache = cache_choice(params)  # relaykit's own: not a request parameter
    targets = client._router.plan(model)
    request = build_embedding_request(targets[0].model, inputs, params)
    size = input_size(request)
    limit = client.config.validation.max_chars
    check_chars(size, limit, "the inputs carry", "inputs", "embed them in smaller batches")
    if client._outbound is not None:
        # Outbound redaction keeps PII from the provider: placeholders are
        # embedded in its place (there is nothing to restore in a vector).
        request = attrs.evolve(request, inputs=tuple(map(client._outbound.redact, request.inputs)))
    call = new_call(client, model, request, targets, size, EMBEDDINGS)
    if client.config.cache.enabled if use_cache is None else bool(use_cache):
        call.cache_key = "embeddings"  # marks the call as cached; keys are per text
    return call


async def _run(client: Client, call: _Call) -> EmbeddingResponse:
    request = _request(call)
    first = call.targets[0]
    cache = client._embedding_cache if call.cache_key is not None else None
    keys: list[str] = []
    hits: list[Vector | None] = []
    if cache is not None:
        try:
            keys = [embedding_key(first, request, text) for text in request.inputs]
        except (TypeError, ValueError, RecursionError):
            # An extra the key's sorted JSON cannot hold (keys of two types, a loop):
            # embedded uncached, as without the cache (the body's encoder takes
            # mixed keys, and refuses a loop as bad input).
            cache = None
    if cache is not None:
        hits = await client._cut_short(call, cache.get_many, keys)
        whole = _whole(hits)
        held_by = first
        # A route plans another deployment first on another call (balanced, or a
        # fallback while its first cools down): one of the same model (the same
        # space: never another model's, even whole) that holds every text answers.
        for other in call.targets[1:] if whole is None else ():
            if other.model != first.model:
                continue
            others = [embedding_key(other, request, t) for t in request.inputs]
            whole = _whole(await client._cut_short(call, cache.get_many, others))
            if whole is not None:
                held_by = other
                break
        if whole is not None:
            call.cache_hit = True
            response = EmbeddingResponse(
                vectors=whole,
                model=held_by.model,
                provider=held_by.provider,
                cost=_FREE,
                latency=time.monotonic() - call.started,
                attempts=0,
                cache_hit=True,
            )
            await finish(client, call, held_by, response)
            return response
    misses = [i for i, hit in enumerate(hits) if hit is None] if hits else []
    answered: dict[Target, BatchLedger] = {}  # each deployment's batch answers

    async def attempt(provider: Provider, req: Any, target: Target) -> EmbeddingResponse:
        if misses and target == first:
            # The first deployment's cached vectors stand: it embeds only the rest.
            # Another deployment (a fallback) embeds everything, so that one
            # answer never mixes two models' vectors.
            req = attrs.evolve(req, inputs=tuple(req.inputs[i] for i in misses))
        # A retry on the same deployment resends only the batches that failed
        # (see send_batches); another deployment starts afresh.
        token = answered_batches.set(answered.setdefault(target, BatchLedger()))
        try:
            return await client._attempt(provider, req, target, call)  # type: ignore[return-value]
        except InvalidRequestError as e:
            if misses and target == first:
                # The provider named a text of the cache's misses: the caller's is another.
                name_callers_input(e, lambda k: misses[k] if k < len(misses) else k)
            raise
        finally:
            answered_batches.reset(token)

    def sent(target: Target) -> tuple[str, ...]:
        """The texts an attempt on ``target`` sent (the cache's misses, or all)."""
        if misses and target == first:
            return tuple(request.inputs[i] for i in misses)
        return request.inputs

    try:
        response, target = await answer(client, call, attempt, lambda: _billed(answered))
    except BaseException as exc:
        cancelled = is_cancellation(exc) and not call.ended
        if cancelled or isinstance(exc, RelayError):
            with anyio.CancelScope(shield=True):
                if cancelled:
                    # Recorded here, not by run_call: with what the answered
                    # requests billed, which its limits were settled with.
                    await client._outcomes.cancelled(call, billed=_billed(answered))
                if cache is not None:
                    # The vectors the answered requests brought were billed: kept,
                    # so that trying the call again pays only for the rest.
                    await _cache_answered(client, call, cache, answered, sent)
        raise
    ledger = answered.get(target)
    if ledger is not None and ledger.settled:
        # Its failed attempts' limits were settled with the batches they had
        # answered (see _partly_billed), which this answer reuses: it is billed,
        # and recorded, whole.
        response = attrs.evolve(response, usage=response.usage + ledger.settled_usage)
    await _record_other_deployments(client, call, target, answered)
    fresh = response.vectors
    if misses and target == first:
        merged = list(hits)
        for index, vector in zip(misses, fresh, strict=True):
            merged[index] = vector
        response = attrs.evolve(response, vectors=tuple(v for v in merged if v is not None))
    response = await conclude(client, call, target, response)
    if cache is not None:
        if target != first:  # a fallback embedded everything: kept under its own name
            keys = [embedding_key(target, request, text) for text in request.inputs]
            misses = list(range(len(keys)))
        # Shielded, as a chat's answer is cached: the call has ended and is recorded a
        # success, so a cancellation now would show the caller a failure its record
        # denies (and lose vectors it was billed for). It comes at the caller's next
        # checkpoint instead; the store's writes are bounded by [cache] timeout.
        with anyio.CancelScope(shield=True):
            await cache.put_many(
                [(keys[i], response.vectors[i]) for i in misses], client.config.cache.ttl
            )
            # What the deployments it fell back from answered first was billed too:
            # kept under each one's own name (the deployment that made it), as when
            # the call fails there, never in this answer.
            await _cache_answered(client, call, cache, answered, sent, served=target)
    return response


def _partly_billed(
    client: Client, call: _Call, target: Target, error: BaseException
) -> EmbeddingResponse | None:
    """What a failed attempt on ``target`` settles its limits with: the usage of the
    requests it had answered before ``error`` (the vendor billed them), noted on the
    deployment's ledger (:class:`~relaykit.embeddings.BatchLedger`) for the call's
    record; ``None`` when none was answered (or the plugin does not say what its
    answers billed: ``send_batches(billed=...)``)."""
    ledger = answered_batches.get()
    if ledger is None:
        return None
    fresh = ledger.unsettled()
    if fresh is None:
        return None
    usage = fresh[0]
    price = client._price(target)
    cost = price.cost(usage) if price is not None else None
    if cost is not None:
        ledger.settled_cost = cost if ledger.settled_cost is None else ledger.settled_cost + cost
    if isinstance(error, Exception):
        ledger.error = error
    return EmbeddingResponse(vectors=(), usage=usage, cost=cost)


def _billed(answered: dict[Target, BatchLedger]) -> tuple[Usage, Decimal | None, bool] | None:
    """What a failed call's answered requests billed, over its deployments, and
    whether any of it is estimated: its record's usage and cost (``None``: none)."""
    settled = [ledger for ledger in answered.values() if ledger.settled]
    if not settled:
        return None
    usage = Usage()
    cost: Decimal | None = None
    for ledger in settled:
        usage += ledger.settled_usage
        if ledger.settled_cost is not None:
            cost = ledger.settled_cost if cost is None else cost + ledger.settled_cost
    return usage, cost, any(ledger.settled_estimated for ledger in settled)


async def _record_other_deployments(
    client: Client, call: _Call, served: Target, answered: dict[Target, BatchLedger]
) -> None:
    """Record what deployments other than ``served`` billed for a call that fell back
    from them after some of their requests were answered: a record each (id
    ``<call id>-attempt-<provider/model>``), as a retried stream's billed attempt
    gets, so the call's records add up to what its budget charged."""
    outcomes = client._outcomes
    for target, ledger in answered.items():
        if target == served or not ledger.settled or not outcomes.recording:
            continue
        error = ledger.error
        fields = outcomes.record_fields(call, target)
        fields["id"] = f"{call.id}-attempt-{target}"
        record = CallRecord(
            **fields,
            latency=time.monotonic() - call.started,
            attempts=call.attempts,
            usage=ledger.settled_usage,
            cost=ledger.settled_cost,
            usage_estimated=ledger.settled_estimated,
            error_type=type(error).__name__ if error is not None else "RelayError",
            error_message="a request failed after others were answered (billed): fell back"
            + (f": {error}" if error is not None else ""),
            status=getattr(error, "status", None),
        )
        await outcomes.emit(record)


async def _cache_answered(
    client: Client,
    call: _Call,
    cache: Any,
    answered: dict[Target, BatchLedger],
    sent: Any,
    served: Target | None = None,
) -> None:
    """Cache the vectors the answered requests of a failed call brought, or of a call
    ``served`` by another deployment than theirs, each under the deployment that
    embedded it (its key names it: another model's vectors never answer for it)."""
    request = _request(call)
    entries: list[tuple[str, Vector]] = []
    for target, ledger in answered.items():
        if target == served:
            continue  # its answer holds them, and is cached whole
        texts = sent(target)
        mine: list[tuple[str, Vector]] = []
        for part in ledger.billed.values():
            for offset, vector in enumerate(part.vectors):
                place = part.first + offset
                if 0 <= place < len(texts):
                    mine.append((embedding_key(target, request, texts[place]), vector))
        lengths = {len(vector) for _, vector in mine}
        if len(lengths) > 1 or 0 in lengths or (request.dimensions not in (None, *lengths)):
            continue  # not the vectors a whole answer would pass (_check_lengths): not kept
        entries += mine
    if entries:
        await cache.put_many(entries, client.config.cache.ttl)


def _whole(hits: list[Vector | None]) -> tuple[Vector, ...] | None:
    """``hits`` when every text was found (one deployment's vectors), else ``None``."""
    if any(hit is None for hit in hits):
        return None
    return tuple(hit for hit in hits if hit is not None)


def _request(call: _Call) -> EmbeddingRequest:
    """The embeddings call's request (see ``_Call.request``)."""
    request: Any = call.request
    return request  # type: ignore[no-any-return]


def record_fields(outcomes: CallOutcomes, call: _Call, target: Target) -> dict[str, Any]:
    """The fields every record of an embeddings call has (``CallOutcomes.record_fields``'s).

    The inputs are its messages, one user message each, when something reads
    the records' content: ``relaykit logs`` shows and searches them as it does
    a chat's. Its parameters: ``dimensions``, ``input_type``, ``timeout``, and
    with content, ``extra`` and metadata.
    """
    request = _request(call)
    params: dict[str, Any] = {"inputs": len(request.inputs)}
    if request.dimensions is not None:
        params["dimensions"] = request.dimensions
    if request.input_type is not None:
        params["input_type"] = request.input_type
    return single_calls.record_fields(
        outcomes,
        call,
        target,
        texts=request.inputs,
        params=params,
    )


#: how the client sends, prices (by the token), traces and records an embeddings call
EMBEDDINGS = Operation(
    "embeddings",
    send_embeddings,
    record_fields,
    start_span=CallTracer.start_embeddings,
    finish_span=CallTracer.finish_embeddings,
    partly_billed=_partly_billed,
)
