"""Retries on one deployment, fallbacks across deployments: the loop chat and stream share.

For each target in the planned order: ask its circuit breaker and make an
attempt; on a failure ``[retry] on`` names, retry the same target on stamina
(see retry.py for the waits), up to ``[retry] attempts``. When a target is exhausted,
move to the next if the failure says another deployment could do better: a
retryable error, an open circuit, one of our own quota limits, a request the
provider plugin refused to encode (a document it cannot read), a key refused
(a 401/403: on to another provider's deployment, the same provider's skipped,
as its key would be refused again), or a context
length error when the next target's window is larger (both windows known, from
the providers' listings, each bounded by the call's total timeout). A prompt
too long for the whole route goes on to the route's ``context_window_fallbacks``,
one a content filter refused (a :class:`~relaykit.ContentFilterError` before any
content, a non-streamed answer that ended ``content_filter``, or a stream that
ended so before any content: :func:`filtered_answer`) to its
``content_policy_fallbacks``, if it names any, in their order.

A failure that asks for a wait (a 429's Retry-After, as retries honour it) is
not waited out while another deployment of the route is left to ask: the call
moves on at once, as LiteLLM's router does, and the deployment, cooling down
meanwhile (routing.py), is put off. Only when every deployment has failed or
asked for a wait are the ones put off asked again, the soonest wait first,
each wait made only if it fits the call's total timeout. A lone deployment
waits, as before; so does one whose failure asked for no wait (a 503's
backoff is short, and the same deployment is retried first). A failure that
falls back nowhere (a 400) ends the call at once, the ones put off unasked.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import anyio

from .closing_gate import closed_under_call
from .deadline_scope import scope_until
from .errors import (
    AuthenticationError,
    CircuitOpenError,
    ContentFilterError,
    ContextLengthError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    RelayError,
)
from .protocols import Provider
from .request import ChatRequest
from .retry import may_retry, retry
from .routing import Target

if TYPE_CHECKING:
    from .breaker import CircuitBreaker
    from .client import Client, _Call
    from .config import RetryConfig

T = TypeVar("T")
Attempt = Callable[[Provider, ChatRequest, Target], Awaitable[T]]


async def run_attempts(
    client: Client,
    call: _Call,
    attempt: Attempt[T],
    targets: tuple[Target, ...] | None = None,
    *,
    failed: RelayError | None = None,
    retried: bool = False,
    fallbacks_for: type[RelayError] | None = None,
) -> T:
    """Run ``attempt`` over ``targets`` (default: the call's plan) until one succeeds.

    ``failed``: the first attempt on the first target, made with
    :func:`first_attempt`, failed with this error; carry on from there.
    ``retried``: and its retries were made already, apart (a hedged call's first
    target, see hedging.py): carry on with the next target, if ``failed`` says
    another could do better, by the rules every route follows.
    ``fallbacks_for``: ``targets`` are fallbacks the route names for this kind of
    error (:func:`route_fallbacks`), asked because the route's own failed with it:
    another such error moves on to the next.
    Raises the last error when every target has failed or a failure is final; when
    the route names fallbacks for it (a prompt too long, or refused by a content
    filter), those are asked first.
    """
    whole_route = targets is None or targets is call.targets
    targets = call.targets if targets is None else targets
    retry_config = client.config.retry
    error: RelayError | None = None
    refused: list[CircuitOpenError] | None = None  # open circuits met, made on the first
    # targets that ended asking for a wait, and when (monotonic), likewise
    waiting: list[tuple[_Wait, float]] | None = None
    # targets put off: each failed asking for a wait (its index, error, and when)
    deferred: list[tuple[int, RelayError, float]] | None = None
    # providers whose key was refused (a 401/403): none of their deployments is asked
    keys_refused: set[str] | None = None
    for index, target in enumerate(targets):
        if keys_refused is not None and target.provider in keys_refused:
            continue  # the same key, refused again
        if failed is not None and index == 0:
            error = failed
        else:
            provider = client._registry.get(target.provider)
            request = client._request_for(call, target)
            breaker = client._breaker_of(target)
            try:
                return await _once(client, call, attempt, provider, request, target, breaker)
            except RelayError as e:
                error = e
        if may_retry(error, retry_config) and not (retried and index == 0):
            if (deferred or index + 1 < len(targets)) and asks_to_wait(error, retry_config):
                # Another deployment may answer at once: ask it before waiting here
                # (LiteLLM's router falls back at once too). This one is asked again
                # only if every other fails too, the soonest wait first.
                if deferred is None:
                    deferred = []
                deferred.append((index, error, time.monotonic()))
                if index + 1 < len(targets):
                    call.fallbacks += 1
                continue
            try:
                return await _retried(client, call, attempt, target, error)
            except RelayError as e:
                if client._shut:  # aclose ended the retries: no other target either
                    raise closed_under_call() from None
                error = e
        refused, waiting = _note_end(error, refused, waiting)
        if isinstance(error, AuthenticationError):
            keys_refused = {*(keys_refused or ()), target.provider}
        # who would be asked next: the route's next target, else the first put off
        nxt, put_off = _next_asked(targets, index, deferred, keys_refused)
        if nxt is None:
            break
        if not await _worth_falling_back(client, call, error, target, nxt, fallbacks_for):
            # A final failure (a 400: the caller's mistake) falls back nowhere, not to
            # a deployment put off either: asked again after its wait, it only made
            # the caller wait that long for the same error.
            deferred = None
            break
        if put_off:
            break
        call.fallbacks += 1
    if deferred is not None:
        # Every deployment has failed or asked for a wait: wait for the soonest, and
        # ask it again, then the next soonest.
        cap = retry_config.max_retry_after
        deferred.sort(key=lambda put_off: put_off[2] + min(_wait_of(put_off[1]), cap))
        # (Back to one put off is no new fallback: ``fallbacks`` counts the targets
        # given up on, each once.)
        if keys_refused is not None:  # their provider refused the call's key since
            deferred = [d for d in deferred if targets[d[0]].provider not in keys_refused]
        for index, error, at in deferred:
            # what is left of its wait, which retry() waits if it fits the deadline
            left = max(0.0, _wait_of(error) - (time.monotonic() - at))
            error.retry_after = left  # type: ignore[attr-defined]
            try:
                return await _retried(client, call, attempt, targets[index], error)
            except RelayError as e:
                if client._shut:
                    raise closed_under_call() from None
                error = e
            refused, waiting = _note_end(error, refused, waiting)
    assert error is not None
    if refused is not None and len(refused) == len(targets) > 1:
        raise _all_open(call, refused)
    if waiting is not None and len(waiting) == len(targets) > 1:
        raise _soonest(waiting)
    if whole_route:
        more, kind = route_fallbacks(client, call, error)
        if more:
            call.fallbacks += 1  # the route's last target, given up on
            return await run_attempts(client, call, attempt, more, fallbacks_for=kind)
    raise error


#: the route settings naming fallbacks for one kind of failure, and that kind
_ROUTE_FALLBACKS: tuple[tuple[str, type[RelayError]], ...] = (
    ("context_window_fallbacks", ContextLengthError),
    ("content_policy_fallbacks", ContentFilterError),
)


def route_fallbacks(
    client: Client, call: _Call, error: RelayError
) -> tuple[tuple[Target, ...], type[RelayError] | None]:
    """The targets to ask after ``error`` ended ``call``'s route, and the kind of
    error they are asked for: its ``context_window_fallbacks`` when the prompt was
    too long, its ``content_policy_fallbacks`` when a content filter refused it;
    else none.

    Apart from the route's targets, as LiteLLM's are: a larger (dearer) model, or
    one with other filters, asked only when the prompt needs it, never for an
    outage of the route's own. Nothing about them need be known (a vLLM or
    OpenRouter model's window often is not): the configuration says they fit.
    """
    for setting, kind in _ROUTE_FALLBACKS:
        if isinstance(error, kind):
            route = client.config.models.get(call.model_requested)
            ids: tuple[str, ...] = getattr(route, setting) if route is not None else ()
            return tuple(Target.parse(model_id) for model_id in ids), kind
    return (), None


def filtered_answer(client: Client, call: _Call, target: Target) -> ContentFilterError | None:
    """The error to fall back with when ``target``'s answer ended ``content_filter``
    (Anthropic's ``refusal`` stop reason, Gemini's ``SAFETY`` finish or blocked
    prompt, Azure's filtered output), or ``None`` to return it.

    LiteLLM's router does the same: such an answer goes on to the route's
    ``content_policy_fallbacks`` while one is left to ask; without any (or from the
    last of them), it is the caller's answer, as before. A stream's only when the
    filter withheld all of it (its finish came before any content): once content
    has reached the caller, another model would start the answer over mid-way.
    """
    route = client.config.models.get(call.model_requested)
    if route is None or not route.content_policy_fallbacks:
        return None
    if Target.parse(route.content_policy_fallbacks[-1]) == target:
        return None  # none left to ask: the refusal is the answer
    return ContentFilterError(
        f"{target}'s answer ended content_filter (its content filter withheld it):"
        " asking the route's content_policy_fallbacks",
        provider=target.provider,
        model=target.model,
        # the status it came with: sent, and billed (one without a status is a
        # request the plugin refused to send: transport_errors.never_sent)
        status=200,
        hint="rephrase the prompt, or list models with other filters in content_policy_fallbacks",
    )


def asks_to_wait(error: RelayError, config: RetryConfig) -> bool:
    """Whether a retry of ``error`` on its deployment would first wait its Retry-After:
    a wait the route's other deployments need not make (only for an error worth a
    retry at all: :func:`~relaykit.retry.may_retry`)."""
    wait = getattr(error, "retry_after", None)
    return may_retry(error, config) and wait is not None and min(wait, config.max_retry_after) > 0


def _wait_of(error: RelayError) -> float:
    """The wait ``error`` asked for (see :func:`asks_to_wait`)."""
    wait: float = getattr(error, "retry_after", None) or 0.0
    return wait


async def _retried(
    client: Client, call: _Call, attempt: Attempt[T], target: Target, error: RelayError
) -> T:
    """Retry ``target`` after its attempt failed with ``error`` (see retry.py); raise
    the last error when the retries give up."""
    breaker = client._breaker_of(target)
    # The retries wait out their backoff (a Retry-After of a minute, say) in
    # a scope the client's aclose cancels once its wait is over, as it
    # cancels an attempt's; the call then ends with ClientClosedError.
    with anyio.CancelScope() as retrying:
        client._running.add(retrying)
        try:
            return await retry(
                error,
                partial(first_attempt, client, call, attempt, target),
                config=client.config.retry,
                deadline=call.deadline,
                breaker=breaker,
                target=target,
            )
        finally:
            client._running.discard(retrying)
    raise closed_under_call()  # aclose cancelled the wait: the scope caught it


def _note_end(
    error: RelayError,
    refused: list[CircuitOpenError] | None,
    waiting: list[tuple[_Wait, float]] | None,
) -> tuple[list[CircuitOpenError] | None, list[tuple[_Wait, float]] | None]:
    """Note how a target's attempts ended: refused by its open circuit, or asking for a
    wait (made on the first of each)."""
    if isinstance(error, CircuitOpenError):
        refused = [*(refused or ()), error]
    if isinstance(error, _Wait):
        waiting = [*(waiting or ()), (error, time.monotonic())]
    return refused, waiting


#: the failures that ask the caller to wait, each with the wait if it is known
_Wait = RateLimitError | QuotaExceededError | CircuitOpenError


def _soonest(waiting: list[tuple[_Wait, float]]) -> _Wait:
    """The error to raise when every deployment of a route ended asking for a wait
    (each with when it did): the one whose wait ends the soonest, its
    ``retry_after`` what is left of it, its message naming every wait.

    The last deployment's error alone said its own wait, which a caller honouring
    ``retry_after`` took for the route's (a minute, while the first could serve in
    3 s). When a wait is unknown (a 429 without Retry-After) that deployment may
    be free at once: the last error is raised as it is. One that no wait ends (a
    used-up quota's 429: ``should_retry`` false) is left out.
    """
    now = time.monotonic()
    left: list[tuple[_Wait, float]] = []
    for error, at in waiting:
        if error.should_retry is False:
            continue
        if error.retry_after is None:
            return waiting[-1][0]
        # the retries of the deployments after it took time too
        left.append((error, max(0.0, error.retry_after - (now - at))))
    if not left:
        return waiting[-1][0]
    soonest, wait = min(left, key=lambda pair: pair[1])
    each = ", ".join(f"{e.provider}/{e.model} ({w:.1f}s)" for e, w in left)
    soonest.retry_after = wait
    soonest.message = f"{soonest.message}; every deployment of the route asked to wait: {each}"
    return soonest


def _all_open(call: _Call, refused: list[CircuitOpenError]) -> CircuitOpenError:
    """One error for a route whose every deployment refused with an open circuit.

    The last deployment's error alone said nothing of the others, and its hint
    asked for the fallback route the caller had: this names each with its wait,
    and ``retry_after`` is the soonest.
    """
    known = [e.retry_after for e in refused if e.retry_after is not None]
    soonest = min(known) if known else None
    each = ", ".join(
        f"{e.provider}/{e.model} "
        + (
            f"(next trial in {e.retry_after:.1f}s)"
            if e.retry_after is not None
            else "(a trial call is in flight)"
        )
        for e in refused
    )
    return CircuitOpenError(
        f"every deployment of the route has its circuit open: {each}",
        model=call.model_requested,
        retry_after=soonest,
        hint=(
            f"retry in {soonest:.1f}s, when the first of them takes a trial call"
            if soonest is not None
            else "retry once a trial call in flight shows its deployment is back"
        ),
    )


def first_attempt(client: Client, call: _Call, attempt: Attempt[T], target: Target) -> Awaitable[T]:
    """The attempt :func:`run_attempts` starts with, alone: one attempt on ``target``.

    Not a coroutine itself, but one to await at once: a frame less per call.
    """
    return _once(
        client,
        call,
        attempt,
        client._registry.get(target.provider),
        client._request_for(call, target),
        target,
        client._breaker_of(target),
    )


async def _once(
    client: Client,
    call: _Call,
    attempt: Attempt[T],
    provider: Provider,
    request: ChatRequest,
    target: Target,
    breaker: CircuitBreaker,
) -> T:
    """One attempt on ``target``, through its breaker, told to the router.

    A refusal by the breaker counts as an attempt (the call's ``attempts`` say
    which deployments it asked) but is no failure of the deployment: the router
    only keeps the target back until its circuit lets a trial through.
    """
    call.attempts += 1
    tried = len(call.tried)
    call.tried += (target,)
    client._router.started(target)
    started = time.monotonic()
    admitted = False
    try:
        # A stream's verdict waits for its end (StreamLifecycle tells the breaker).
        guard = (breaker.stream_guard if call.streamed else breaker.guard)(
            target.provider, target.model
        )
        with guard:
            admitted = True
            result = await attempt(provider, request, target)
    except RelayError as e:
        # Every error names its provider and model (DESIGN.md); one a plugin raised
        # before sending (a request its vendor refuses) does not know the deployment.
        # Filled in here, once for every plugin, on the error path only.
        if e.provider is None:
            e.provider = target.provider
        if e.model is None:
            e.model = target.model
        # A server may quote our key back, whatever its shape: masked before the
        # error is logged (retry.py), recorded, or raised.
        client._known.mask_error(e)
        _note_failure(call, tried, e)
        if admitted:
            # A caller's mistake says nothing about the deployment's health.
            client._router.finished(target, ok=not e.retryable)
            wait = getattr(e, "retry_after", None) if e.retryable else None
            if wait:  # as far as retries honour it: a day's would keep it back a day
                client._router.asked_to_wait(target, min(wait, client.config.retry.max_retry_after))
        else:  # refused by the open circuit (a CircuitOpenError): nothing was sent
            client._router.finished(target, ok=True)
            client._router.refused(target, getattr(e, "retry_after", None))
        call.last_error = e
        raise
    except BaseException:
        client._router.finished(target, ok=True)  # cancelled: no verdict
        raise
    else:
        # A stream's attempt ends at its first content, not with the answer: the
        # stream tells the router when it ends (in flight until then), with its
        # time to first token, which would skew the chats' latencies here.
        if not call.streamed:
            client._router.finished(target, ok=True, latency=time.monotonic() - started)
        else:
            call.served_period = guard.period  # its end's verdict belongs there
        call.served = target
        return result
    finally:
        client._note_breaker(breaker)


def _next_asked(
    targets: tuple[Target, ...],
    index: int,
    deferred: list[tuple[int, RelayError, float]] | None,
    keys_refused: set[str] | None,
) -> tuple[Target | None, bool]:
    """The target asked after ``targets[index]`` failed, and whether it is one put
    off (asked after the route's others): the route's next, else the first put
    off, leaving out the providers that refused the call's key; ``None`` if none."""
    for later in targets[index + 1 :]:
        if keys_refused is None or later.provider not in keys_refused:
            return later, False
    for put_off, _, _ in deferred or ():
        if keys_refused is None or targets[put_off].provider not in keys_refused:
            return targets[put_off], True
    return None, False


def _note_failure(call: _Call, index: int, error: RelayError) -> None:
    """Note what the attempt at ``index`` of ``call.tried`` failed with: its
    error's type, and its HTTP status if it had one (CallRecord.route_errors)."""
    errors = call.tried_errors
    if errors is None:
        errors = call.tried_errors = {}
    name = type(error).__name__
    errors[index] = name if error.status is None else f"{name} {error.status}"


async def _worth_falling_back(
    client: Client,
    call: _Call,
    error: RelayError,
    failed: Target,
    nxt: Target,
    fallbacks_for: type[RelayError] | None,
) -> bool:
    if fallbacks_for is not None and isinstance(error, fallbacks_for):
        # the configuration names the next one for just this failure (a larger
        # window, other content filters)
        return True
    if error.retryable or isinstance(error, QuotaExceededError):
        return True
    if isinstance(error, AuthenticationError):
        # Another provider's key (LiteLLM's router falls back from a 401 too): a key
        # revoked or mistyped for one provider says nothing of another's. Never the
        # same provider's (run_attempts skips them): its key would be refused again.
        return nxt.provider != failed.provider
    if isinstance(error, NotFoundError):
        # This deployment has no such model (retired, or not served there): the
        # next deployment is another model or provider, which a route names for
        # just this. Vendors retire models often (Claude 3, Titan Image, DALL-E).
        return True
    if type(error) is InvalidRequestError and error.status is None:
        # The plugin refused to encode the request (a document, an embedding or
        # a size it cannot send, or a model its vendor shut down, as Imagen on
        # the Gemini API): nothing was sent, and the next deployment may well
        # take it.
        return True
    if isinstance(error, ContextLengthError):
        # The windows may take a listing over the network: aclose cuts it short
        # (else it went on over closed connections, past the call log's close), and
        # so does the call's deadline (a stalled /models held the call past its
        # total timeout). Cut short, no window is known: the call ends with the
        # deployment's own error, which says what went wrong.
        failed_window = next_window = None
        with client._cut_by_close(), scope_until(client._scopes, call.deadline):
            failed_window = await client._context_window(failed)
            next_window = await client._context_window(nxt)
        return failed_window is not None and next_window is not None and next_window > failed_window
    return False
