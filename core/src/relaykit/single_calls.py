"""What the calls that are not chats share: embeddings (:mod:`relaykit.embedding_call`),
rerank (:mod:`relaykit.rerank_call`), transcriptions
(:mod:`relaykit.transcription_call`), image generations
(:mod:`relaykit.image_generation_call`), speech (:mod:`relaykit.speech_call`) and
moderation (:mod:`relaykit.moderation_call`).

Each is one request and one answer, through the chat pipeline's routing,
limits and attempts; what differs is the request, the answer and how each is
sent, priced, traced and recorded. Each of those modules says how in one
:class:`Operation`, which its calls carry (``_Call.kind``), so the client's
shared steps ask the call rather than branch on its name. This module holds the
rest: running the call (in-flight accounting, a caller's cancellation
recorded), concluding it (the answer's call fields and cost, then its span, log
line and record), and the record's fields.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from math import inf
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from .attempts import run_attempts
from .cancellation import is_cancellation
from .embeddings import estimate_tokens
from .errors import InvalidRequestError, RelayError
from .messages import Message, TextPart
from .protocols import CallRecord, Provider
from .record_params import ID_KEYS
from .response import ModelPrice, Usage
from .routing import Target
from .tracing import current

if TYPE_CHECKING:
    from decimal import Decimal

    from .call_outcomes import CallOutcomes
    from .client import Client, _Call
    from .tracing import CallTracer

T = TypeVar("T")
R = TypeVar("R")

calls_log = logging.getLogger("relaykit.calls")


def token_cost(price: ModelPrice, request: Any, response: Any) -> Decimal | None:
    """The cost of an answer billed by the tokens in its ``usage`` (embeddings,
    moderation): :meth:`ModelPrice.cost`."""
    return price.cost(response.usage)


def no_text(response: Any) -> str:
    """A record's text for an answer that has none to keep (a vector, a verdict)."""
    return ""


def no_params(response: Any) -> Mapping[str, Any] | None:
    """What a record adds to its parameters from an answer that adds nothing."""
    return None


@attrs.frozen
class Operation:
    """A kind of call that is not a chat, as the client's shared steps need it.

    ``name`` is the call's operation (its span's ``gen_ai.operation.name``, its
    records' and metrics' ``operation``); ``send(provider, request, target)``
    makes one attempt's provider call and checks its answer; ``record_fields(outcomes,
    call, target)`` the call's record before the answer's part
    (:func:`record_fields` builds the shared ones); ``cost(price, request,
    response)`` what an answer cost at ``price`` (the budget's settlement and
    ``response.cost`` both use it). ``start_span(tracer, call)`` and
    ``finish_span(tracer, call, response)`` are the :class:`~relaykit.tracing.CallTracer`
    methods that open and end its span; ``answer_text(response)`` the record's
    text (a transcript, an image's revised prompt) and ``answer_params(response)``
    what the answer adds to the record's parameters (the audio's length, the
    images' sizes). Adding a kind of call is one module that defines its
    Operation and passes it to :func:`new_call`.
    """

    name: str
    send: Callable[[Provider, Any, Target], Awaitable[Any]]
    record_fields: Callable[[CallOutcomes, _Call, Target], dict[str, Any]]
    cost: Callable[[ModelPrice, Any, Any], Decimal | None] = token_cost
    start_span: Callable[[CallTracer, _Call], Any] = attrs.field(kw_only=True)
    finish_span: Callable[[CallTracer, _Call, Any], None] = attrs.field(kw_only=True)
    answer_text: Callable[[Any], str] = attrs.field(kw_only=True, default=no_text)
    answer_params: Callable[[Any], Mapping[str, Any] | None] = attrs.field(
        kw_only=True, default=no_params
    )
    #: ``partly_billed(client, call, target, error)``: what a failed attempt's
    #: requests that were answered before ``error`` billed, as an answer to settle
    #: its limits with (``None``: nothing); a kind whose calls are split into
    #: several requests has one (embeddings)
    partly_billed: Callable[[Client, _Call, Target, BaseException], Any] | None = attrs.field(
        kw_only=True, default=None
    )


def check_one_per_input(got: int, what: str, inputs: int, target: Target) -> None:
    """Refuse an answer with ``got`` items (``what``: vectors, moderation results) for
    ``inputs`` inputs: they are matched to the inputs by position, so a short answer
    would pin one on the wrong text. A plugin's or the service's bug."""
    if got != inputs:
        raise RelayError(
            f"{target.provider} answered {got} {what} for {inputs} inputs",
            provider=target.provider,
            model=target.model,
            hint="this is a bug in the provider plugin or the service: report it",
        )


def with_input_tokens(response: R, texts: Sequence[str]) -> R:
    """``response`` as it came when it counts its input tokens; else with them
    estimated from ``texts`` (:func:`~relaykit.embeddings.estimate_tokens`) and marked
    ``tokens_estimated``, so that token limits still count the texts (moderation, and
    rerank with vendors that bill per search, count none)."""
    answer: Any = response
    if answer.usage.input_tokens:
        return response
    return attrs.evolve(answer, usage=Usage(estimate_tokens(texts)), tokens_estimated=True)  # type: ignore[no-any-return]


def capability(provider: Any, name: str, target: Target, api: str, hint: str) -> Any:
    """``provider``'s optional method ``name`` (``embed``, ``rerank``, ``transcribe``,
    ``generate_image``, ``speak``, ``moderate``), or the typed refusal naming what the
    provider lacks (``api``) and who has it (``hint``).

    The refusal has no status: nothing was sent, so a rate limit gets all of the
    call back, and a route falls back to its next deployment.
    """
    method = getattr(provider, name, None)
    if method is None:
        raise InvalidRequestError(
            f"{target.provider} has no {api} API in relaykit",
            provider=target.provider,
            model=target.model,
            param="model",
            hint=hint,
        )
    return method


async def answer(
    client: Client,
    call: _Call,
    attempt: Callable[[Any, Any, Target], Awaitable[Any]] | None = None,
    billed: Callable[[], tuple[Usage, Decimal | None, bool] | None] | None = None,
) -> tuple[Any, Target]:
    """The answer to ``call`` and the deployment that gave it: the client warmed up,
    then each target of its route tried in turn (``attempt``, by default the
    client's own ``_attempt``). A failure is recorded as the call's
    (``CallOutcomes.fail``, with what ``billed()`` says its attempts' answered
    requests billed) and raised."""
    if client._cold:
        await client._warm_up(call)
    if attempt is None:

        async def attempt(provider: Any, request: Any, target: Target) -> Any:
            return await client._attempt(provider, request, target, call)

    try:
        response = await run_attempts(client, call, attempt)
    except RelayError as error:
        await client._outcomes.fail(call, error, billed=billed() if billed else None)
        raise
    assert call.served is not None
    return response, call.served


def new_call(
    client: Client,
    model: str,
    request: Any,
    targets: tuple[Target, ...],
    size: int,
    operation: Operation,
    **fields: Any,
) -> _Call:
    """The :class:`~relaykit.client._Call` for ``request``, a call of ``operation``'s
    kind: started now, its deadline
    the request's timeout or ``[timeouts] total``, no output tokens held, under the
    ``[limits."NAME=GLOB"]`` its metadata falls under, its span started (when the
    client traces); ``fields`` set the rest (``streamed=True`` for a streamed
    speech or transcription)."""
    from .client import _Call

    now = time.monotonic()
    total = request.timeout if request.timeout is not None else client.config.timeouts.total
    fields.setdefault("streamed", False)
    call = _Call(
        id=os.urandom(16).hex(),
        model_requested=model,
        request=request,
        targets=targets,
        started=now,
        started_wall=time.time(),
        deadline=now + total,
        size=size,
        operation=operation.name,
        kind=operation,
        output_hold=0,  # no output to hold for: none for embeddings and rankings, and a
        # transcript's length follows the audio's (held per minute, where billed so);
        # an image generation sets its own (image_generation_call.py)
        **fields,
    )
    limits = client._limits
    if limits is not None and limits.scoped and request.metadata:
        call.scoped = limits.scoped_limits(request.metadata)
    if client._tracer is not None:
        call.span = operation.start_span(client._tracer, call)
    return call


async def run_call(client: Client, call: _Call, run: Callable[[], Awaitable[T]]) -> T:
    """``run()`` as ``call``: counted in flight (``aclose`` waits for it), under its
    span, and recorded as failed when the caller cancels it before it ended."""
    client._in_flight += 1
    try:
        with current(client._tracer, call):
            try:
                return await run()
            except BaseException as exc:
                # Cancelled by the caller: a failed call, recorded as chat's is.
                if not call.ended and is_cancellation(exc):
                    with anyio.CancelScope(shield=True):
                        await client._outcomes.cancelled(call)
                raise
    finally:
        client._call_ended()


def priced(client: Client, call: _Call, target: Target, response: R) -> R:
    """``response`` with its cost: the one a budget's settlement worked out for this
    answer (``_Call.priced``), else its price (of ``target``, as the model that
    answered) applied by the call's kind (:attr:`Operation.cost`)."""
    answer: Any = response
    done = call.priced
    if done is not None and done[0] is answer.usage and done[1] == target:
        cost = done[2]  # worked out already, to settle a budget
    else:
        assert call.kind is not None
        price = client._price(target, answer.model)
        cost = call.kind.cost(price, call.request, answer) if price is not None else None
    return attrs.evolve(answer, cost=cost)  # type: ignore[no-any-return]


async def conclude(client: Client, call: _Call, target: Target, response: R, **fields: Any) -> R:
    """``response`` as ``call``'s answer, from ``target``: its provider, model (the
    vendor's, else the target's), latency and attempts set, ``fields`` too (what a
    kind of call changes in it: a rerank's results, a transcript's language),
    priced (:func:`priced`), then traced, logged and recorded (:func:`finish`)."""
    answer: Any = response
    answer = attrs.evolve(
        answer,
        provider=target.provider,
        model=answer.model or target.model,
        latency=time.monotonic() - call.started,
        attempts=call.attempts,
        **fields,
    )
    answer = priced(client, call, target, answer)
    await finish(client, call, target, answer)
    return answer  # type: ignore[no-any-return]


async def finish(client: Client, call: _Call, target: Target, response: Any) -> None:
    """End a successful call: its span (when it has one), its log line, its record
    (whose fields are ``CallOutcomes.record_fields``'s, the content redacted on the way).

    The call's kind says what the answer adds (:class:`Operation`): its
    ``answer_text``, kept as the record's when something reads the records'
    content, and its ``answer_params``, added to the record's parameters.
    """
    kind = call.kind
    assert kind is not None
    call.ended = True
    if call.span is not None:
        tracer: Any = client._tracer  # there is one when the call has a span
        kind.finish_span(tracer, call, response)
    outcomes = client._outcomes
    if calls_log.isEnabledFor(logging.INFO):
        outcomes.log_call(call, target, response.latency or 0.0, response=response)
    if outcomes.recording:
        fields = outcomes.record_fields(call, target)
        params = kind.answer_params(response)
        if params:
            fields["params"].update(params)
        record = CallRecord(
            **fields,
            text=kind.answer_text(response) if outcomes.content else "",
            usage=response.usage,
            cost=response.cost,
            latency=response.latency,
            attempts=response.attempts,
            cache_hit=getattr(response, "cache_hit", False),
            model_served=response.model or None,
        )
        await outcomes.emit(record)


def record_fields(
    outcomes: CallOutcomes,
    call: _Call,
    target: Target,
    *,
    texts: Sequence[str],
    params: dict[str, Any],
) -> dict[str, Any]:
    """The fields every record of such a call has: ``texts`` are its messages (one user
    message each) when something reads the records' content, as ``relaykit logs``
    shows and searches them; ``params`` gets the request's timeout and, with content,
    its ``extra`` and metadata (redacted here, as a chat's are:
    ``CallOutcomes.record_params``). Every kind's request has those three."""
    request: Any = call.request  # the kind's own (an EmbeddingRequest, ...)
    timeout: float | None = request.timeout
    extra: Mapping[str, Any] = request.extra
    metadata: Mapping[str, str] = request.metadata
    if timeout is not None:
        params["timeout"] = timeout if timeout != inf else None
    content = outcomes.content
    if content:
        if extra:
            params["extra"] = outcomes.redaction.value(dict(extra))
        kept = {k: v for k, v in metadata.items() if k not in ID_KEYS}
        if kept:
            params["metadata"] = outcomes.redaction.value(kept)
    return {
        "id": call.id,
        "started_at": call.started_wall,
        "operation": call.operation,
        "provider": target.provider,
        "model_requested": call.model_requested,
        "model": target.model,
        "streamed": call.streamed,
        "fallbacks": call.fallbacks,
        "messages": tuple(Message("user", (TextPart(t),)) for t in texts) if content else (),
        "params": params,
        "correlation_id": outcomes.mask_id(metadata.get("correlation_id")),
        "finished_at": time.time(),
        "route": outcomes.route_names(call),
        "route_errors": outcomes.route_errors(call),
    }
