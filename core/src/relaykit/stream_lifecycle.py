"""What every streamed call does around its pieces: a chat's :class:`~relaykit.ChatStream`
(:mod:`relaykit.stream`) and the speech and transcription streams
(:mod:`relaykit.call_stream`).

Each holds a provider's async iterator, a target and its limits' reservations
while it is open; each pulls an item with transport errors mapped, turns a
fired deadline into the timeout's error, and, at its end, closes the
connection, settles its limits, and tells the router (once, with its time to
first piece) and the client (once) that it has ended. A failure after the
stream started is recorded the same way too (:meth:`StreamLifecycle._abort`):
only what arrived, and how the failure is recorded with it, differ.

Opening is shared too: entering counts the stream in flight, runs the route's
attempts (each holds its target's limits, starts its clock and reads ahead to the
first piece the caller should see) and records a cancellation before the first
piece; leaving early or reaching the end closes, settles and tells the router,
and only how the call is recorded differs (:meth:`StreamLifecycle._record_whole`,
:meth:`StreamLifecycle._record_left_early`).

Each also waits for a piece without a timeout scope of its own once the
connection's read timeout carries the idle one (:meth:`StreamLifecycle._next_unscoped`;
see :mod:`relaykit.stream_read_timeout`). The per-piece fast paths (handing a
piece over, choosing the next piece's timeout) stay in each stream: a chat's runs
for every event, inlined.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio

from .attempts import Attempt, run_attempts
from .cancellation import is_cancellation
from .closing_gate import closed_under_call, entered, left
from .deadline_scope import scope_until
from .errors import (
    ClientClosedError,
    ConfigError,
    PartFieldError,
    RelayError,
    RequestTimeoutError,
    StreamError,
    error_for_status,
)
from .protocols import Reservation
from .routing import Target
from .secrets import describe_error
from .stream_read_timeout import STREAM_READ_TIMEOUT, ReadTimeout
from .tracing import current
from .transport_errors import is_read_timeout, map_transport_error, next_item, timeout_fired

if TYPE_CHECKING:
    from .breaker import CircuitBreaker
    from .client import Client, _Call
    from .response import ChatResponse

log = logging.getLogger("relaykit")

#: what :meth:`StreamLifecycle._pull` returns at the end of the provider's iterator
END: Any = object()


def broken_stream_error(error: RelayError, partial: ChatResponse | None = None) -> RelayError:
    """What a stream raises for ``error``, a failure after it started: a timeout as it
    is, anything else a :class:`~relaykit.StreamError` carrying ``partial`` (what
    a chat had sent) when it does not carry one already."""
    if isinstance(error, StreamError):
        if partial is not None and error.partial is None:
            error.partial = partial
        return error
    if isinstance(error, RequestTimeoutError | ConfigError):
        # a plugin's fault (or a setting's) says what to fix; a StreamError would not
        return error
    return StreamError(
        f"the stream broke after it started: {error.message}",
        provider=error.provider,
        model=error.model,
        status=error.status,
        provider_message=error.provider_message,
        partial=partial,
        retry_after=getattr(error, "retry_after", None),
    )


def unstarted_stream_error(error: StreamError) -> RelayError:
    """What a stream raises for ``error``, a failure before any of the answer reached
    the caller (so one that may be tried again, or elsewhere).

    One whose ``status`` names its kind (a vendor's in-stream error that says one:
    Anthropic's ``rate_limit_error`` event, Gemini's ``RESOURCE_EXHAUSTED`` chunk)
    is the typed error of that status, as the same failure over HTTP is and as
    relaykit-bedrock gives ConverseStream's exceptions: retries (``[retry] on``),
    the breaker, fallbacks and the call's record then treat it alike on every
    provider, and a refused request is not sent again. One without (the stream
    broke, or the vendor named no kind, or a status no typed error stands for)
    stays a ``StreamError``, made retryable.
    """
    typed = (
        None
        if error.status is None
        else error_for_status(
            error.status,
            error.message,
            provider=error.provider or "",
            model=error.model,
            retry_after=error.retry_after,
        )
    )
    if typed is None or type(typed) is RelayError:
        error.retryable = True
        return error
    typed.provider = error.provider
    typed.provider_message = error.provider_message
    typed.should_retry = error.should_retry
    if error.hint:
        typed.hint = error.hint
    return typed


class StreamLifecycle:
    """A streamed call's shared state and steps (see the module docstring); a
    subclass reads its pieces and says what arrived (:meth:`_partial`)."""

    def __init__(self, client: Client, call: _Call | None) -> None:
        self._client = client
        #: ``None`` until made (a transcription stream reads its audio first)
        self._call = call
        self._gen: AsyncIterator[Any] | None = None
        #: the deployment of the attempt that opened (or is opening) the stream
        self._target: Target | None = None
        self._buffered: deque[Any] = deque()
        self._reservations: list[Reservation] = []
        self._attempt_started = 0.0
        #: when (monotonic) the first piece of content arrived
        self._first_at: float | None = None
        #: what cut this attempt's read-ahead off by its own scope: ``"first_token"``,
        #: ``"total"`` or ``"close"`` (the request was out: its vendor bills the
        #: prompt, see ChatStream._open); ``None``: nothing of ours
        self._cut_by: str | None = None
        self._response: Any = None
        self._finished = False
        #: whether the client counts this stream among its calls in flight
        self._counted = False
        #: the target the router counts this stream in flight at, until it ends
        self._routed: Target | None = None
        #: the breaker of the deployment serving the stream and its period then, told
        #: of the stream's end (:meth:`_book_verdict`); ``None``: told already, or none
        self._verdict: tuple[CircuitBreaker, int] | None = None
        #: the idle timeout offered to the request as its read timeout, while it opens
        self._read_timeout: ReadTimeout | None = None
        #: ended by the client's aclose (:meth:`_end_for_close`): every read after
        #: it raises :class:`~relaykit.ClientClosedError`
        self._closed_by_client = False
        #: entered already (a stream is entered once: :meth:`__aenter__`)
        self._entered = False

    # -- what a subclass says --------------------------------------------------------

    def _partial(self) -> Any:
        """The response from what arrived before the stream broke."""
        raise NotImplementedError

    def _kept_partial(self, partial: Any) -> ChatResponse | None:
        """What of ``partial`` the failure's error and record keep (a chat's response;
        nothing for the other calls, whose records carry no partial answer)."""
        return None

    async def _prepare(self) -> _Call:
        """The call, made when the stream is entered if it was not before (a
        transcription stream reads its audio first)."""
        assert self._call is not None
        return self._call

    async def _enter(self, call: _Call) -> None:
        """Open the stream for ``call``: its attempts (:meth:`_attempt_all`), or a
        cached answer's replay."""
        raise NotImplementedError

    def _delivers(self, item: Any) -> bool:
        """Whether ``item`` ends the read-ahead: the caller should see it now (by
        default, when it is content: :meth:`_is_content`)."""
        return self._is_content(item)

    def _is_content(self, item: Any) -> bool:
        """Whether ``item`` is content, whose first starts the time to first piece."""
        raise NotImplementedError

    async def _record_whole(self) -> None:
        """Record the call as a success, its stream read to the end (its limits
        settled, the router told)."""
        raise NotImplementedError

    def _leaving(self) -> None:
        """The caller leaves the stream before its end (called before the connection
        closes, so its clock reading is the caller's): nothing to note by default."""

    async def _record_left_early(self, exc: BaseException | None) -> None:
        """Record the call left before its end (shielded; the connection closed, the
        router told): a success with what arrived when ``exc`` is ``None`` (a break),
        else failed by the caller's exception or cancellation."""
        raise NotImplementedError

    # -- opening, with retries and fallbacks -----------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            # Its call has ended (or is under way): entering again would send it
            # again under the same call, ended span and attempts included.
            raise RelayError(
                "a stream is entered once, and this one was entered already",
                hint="make a new one for another call: call client.stream(...) "
                "(or stream_speech, stream_transcription) again",
            )
        self._entered = True
        client = self._client
        if client._closed and client._refuses_calls():  # made before the client closed
            raise ClientClosedError("this client is closed")
        client._in_flight += 1  # in flight until it ends: the client's aclose waits for it
        self._counted = True
        try:
            call = self._call = await self._prepare()
            if call.span is None:
                await self._recorded_enter(call)
            else:
                # The span is current while the request goes out, so it propagates.
                # The cancellation is recorded inside, so the span ends as the record
                # says (once it ended outside, on leaving this block, named after the
                # library's class: asyncio's "CancelledError" beside the record's
                # "Cancelled").
                with current(client._tracer, call):
                    await self._recorded_enter(call)
        except BaseException:
            self._routed_done(ok=True)
            self._ended()
            raise
        self._opened()
        return self

    async def _recorded_enter(self, call: _Call) -> None:
        """:meth:`_enter`; cancelled before the first piece (waiting for it, a retry's
        backoff), the call is recorded failed, as a whole call is. Without this the
        call left no record at all. Not when it had failed and been recorded."""
        try:
            await self._enter(call)
        except BaseException as exc:
            if not call.ended and is_cancellation(exc):
                with anyio.CancelScope(shield=True):
                    await self._client._outcomes.cancelled(
                        call, "cancelled before the stream started"
                    )
            raise

    async def _attempt_all(self, call: _Call, open_: Attempt[None]) -> None:
        """Open the stream with ``open_`` on the route's targets in turn, retrying and
        falling back (:func:`~relaykit.attempts.run_attempts`), the client warmed up
        first; a failure is recorded as the call's and raised."""
        client = self._client
        if client._cold:
            await client._warm_up(call)
        try:
            await run_attempts(client, call, open_)
        except RelayError as error:
            await client._outcomes.fail(call, error)
            raise
        if call.served is not None:
            self._verdict = (client._breaker_of(call.served), call.served_period)

    async def _reserve(self, target: Target) -> None:
        """Hold ``target``'s limits for this attempt (what :meth:`_settle` settles or
        gives back), and make it the stream's target."""
        limits = self._client._limits
        if limits is not None:
            call = self._call
            assert call is not None
            reservations = limits.reserve_now(target, call)
            if reservations is None:
                reservations = await self._client._reserve(limits, target, call)
            self._reservations = reservations
        self._target = target

    async def _start_attempt(self, target: Target) -> None:
        """Trace the attempt on ``target`` and start its clock. If the deadline passed
        while it waited on a limiter (over the network, under load), or the client
        shut down meanwhile, nothing goes out: its limits get all of it back, and the
        total timeout (or :class:`~relaykit.ClientClosedError`) is raised, as
        ``Client._attempt`` does."""
        call = self._call
        assert call is not None
        if call.span is not None:
            self._client._tracer.attempt(call, target)  # type: ignore[union-attr]
        self._attempt_started = time.monotonic()
        self._cut_by = None
        if self._client._shut:  # its close no longer waits for it: it must not start
            await self._settle(None, sent=False)
            raise closed_under_call()
        if call.deadline <= self._attempt_started:
            await self._settle(None, sent=False)
            raise self._timeout("total")
        if call.issued is None and self._client._limits is not None:
            call.issued = self._attempt_started  # after the limiter's wait (see _Call.issued)

    def _offer_read_timeout(self) -> Token[ReadTimeout | None]:
        """Offer the idle timeout as the request's read timeout while it goes out
        (during the read-ahead; see :mod:`relaykit.stream_read_timeout`); the token
        to reset. One read timeout covers the whole request, so it can stand for the
        idle timeout only when it cannot cut the first-token wait short; the pieces
        after the first are then awaited without a scope."""
        timeouts = self._client.config.timeouts
        self._read_timeout = (
            ReadTimeout(timeouts.idle) if timeouts.first_token <= timeouts.idle else None
        )
        return STREAM_READ_TIMEOUT.set(self._read_timeout)

    async def _read_ahead(self) -> None:
        """Buffer the items up to the first the caller should see (:meth:`_delivers`)
        or the end, within the first-token timeout (or the total one, if nearer).

        What comes before it (a vendor's start event, say) has not reached the
        caller, so a slow first piece or an early failure can still be retried or
        fall back. One scope for them all: their deadline is the same.
        """
        call = self._call
        assert call is not None
        deadline = self._attempt_started + self._client.config.timeouts.first_token
        which = "first_token"
        if call.deadline < deadline:
            deadline, which = call.deadline, "total"
        # Kept as it fills: an attempt that fails before its first piece still shows
        # what the vendor had reported (a prompt's usage, see ChatStream._open).
        buffered: deque[Any] = deque()
        self._buffered = buffered
        item: Any = END
        running = self._client._running
        with scope_until(self._client._scopes, deadline) as scope:
            running.add(scope)  # aclose cancels it once its wait is over
            try:
                while True:
                    item = await self._pull()
                    buffered.append(item)
                    if item is END or self._delivers(item):
                        break
            finally:
                running.discard(scope)
        if scope.cancelled_caught:
            self._cut_by = "close" if self._client._shut else which
            raise self._read_ahead_cut(which)
        if item is not END and self._is_content(item):
            self._first_at = time.monotonic()

    # -- reading ---------------------------------------------------------------------

    async def _pull(self) -> Any:
        """The provider's next item (:data:`END` at its end), transport errors mapped.

        The caller holds the timeout scope.
        """
        assert self._gen is not None and self._target is not None
        return await next_item(self._gen, self._target, END)

    def _idle_on_connection(self) -> bool:
        """Whether the request carries the idle timeout as its read timeout, so that
        a piece can be awaited without a scope (:meth:`_next_unscoped`)."""
        return self._read_timeout is not None and self._read_timeout.applied

    async def _next_unscoped(self) -> Any:
        """The next item (:data:`END` at the end), with the idle timeout left to the
        connection's read timeout."""
        assert self._gen is not None
        try:
            return await self._gen.__anext__()
        except StopAsyncIteration:
            return END
        except PartFieldError as e:  # a part built from the answer: malformed
            raise self._unscoped_error(e) from e
        except RelayError:
            raise
        except Exception as e:
            error = self._unscoped_error(e)
            if error is e:
                raise
            raise error from e

    def _unscoped_error(self, e: Exception) -> Exception:
        """What to raise for ``e`` from an unscoped wait (``e`` itself if not a transport error).

        A read timeout there is the idle timeout, carried by the connection.
        """
        t = self._target
        assert t is not None
        if is_read_timeout(e):
            return self._timeout("idle")
        mapped = map_transport_error(e, t)
        return e if mapped is None else mapped

    def _timeout(self, which: str) -> RequestTimeoutError:
        assert self._target is not None
        return timeout_fired(which, self._target)

    def _read_ahead_cut(self, which: str) -> RelayError:
        """What a read-ahead whose scope fired raises: the client's aclose cancelled
        it once its wait was over (the scope is in ``Client._running``), or the
        ``which`` timeout fired."""
        return closed_under_call() if self._client._shut else self._timeout(which)

    # -- ending ----------------------------------------------------------------------

    async def _complete(self) -> None:
        """The provider's iterator ended: the stream is read whole (:meth:`_record_whole`)."""
        if self._closed_by_client:  # its end came as the client closed: recorded then
            raise closed_under_call()
        self._finished = True
        self._gen = None
        try:
            self._book_verdict(ok=True)
            self._routed_done(ok=True)
            await self._record_whole()
        finally:
            self._ended()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        left(self)
        if self._finished:
            return
        # Left early: close the connection and record what the caller had. A break
        # (or leaving without reading on) is the caller's choice, a success; an
        # exception in the caller's code or a cancellation is a failed call.
        self._finished = True
        try:
            self._leaving()
            await self._close_gen()
            if exc is None:  # a break: the service was answering (a cancellation, say
                self._book_verdict(ok=True)  # the caller's own timeout, may be a stall)
            self._routed_done(ok=True)
            with anyio.CancelScope(shield=True):
                await self._record_left_early(exc)
        finally:
            self._ended()

    def _opened(self) -> None:
        """The stream is open (its first piece, or its end, is in): until it ends, the
        client's aclose ends it if its wait for calls in flight runs out."""
        self._client._streams.add(self)
        entered(self)  # an aclose inside the block ends it at once (Client._end_own_streams)

    async def _end_for_close(self) -> None:
        """End this open stream for the client's aclose, whose wait for it is over:
        recorded failed (``ClientClosedError``) with what had arrived, its limits
        settled as a broken stream's are (:meth:`_abort`).

        Runs in the closing task while the stream's reader may be waiting inside
        the provider's iterator; that wait is left to end as the client closes the
        connections, and the reader then gets :class:`~relaykit.ClientClosedError`
        (so does every later read).
        """
        if self._finished:
            return
        self._finished = True
        self._closed_by_client = True
        try:
            client, call = self._client, self._call
            assert call is not None
            self._buffered.clear()  # read ahead, never handed over
            gen, self._gen = self._gen, None
            # An async generator not being read is closed here, with its connection.
            # One being read (or an iterator that cannot say) is not: closing it
            # from this task would fail, or pull the rug from under its reader.
            if gen is not None and getattr(gen, "ag_running", True) is False:
                self._gen = gen
                await self._close_gen()
            self._routed_done(ok=True)  # the client's doing, not the deployment's
            partial = self._partial()
            self._response = partial
            kept = self._kept_partial(partial)
            await self._settle(kept)  # what arrived was billed
            await client._outcomes.fail(call, closed_under_call(), self._target, kept)
        finally:
            self._ended()

    async def _abort(self, error: RelayError) -> RelayError:
        """A failure after the stream started: record it; return the error to raise
        (:func:`broken_stream_error`)."""
        if self._closed_by_client:  # recorded already; the read failed as it closed
            return closed_under_call()
        self._finished = True
        try:
            client, call = self._client, self._call
            assert call is not None
            client._known.mask_error(error)  # before its message is copied below
            # A broken stream, an idle timeout: the deployment's doing. The total
            # timeout is the caller's budget running out: no verdict.
            ok = (isinstance(error, RequestTimeoutError) and error.which == "total") or not (
                error.retryable or isinstance(error, StreamError)
            )
            if not ok:
                self._book_verdict(ok=False)
            self._routed_done(ok=ok)
            await self._close_gen()
            partial = self._partial()
            self._response = partial
            kept = self._kept_partial(partial)
            # Settled with what arrived, as the record prices it: the tokens a
            # broken stream reported were billed (Anthropic counts the prompt at the
            # stream's start), so budgets and token rates count them too.
            await self._settle(kept)
            error = broken_stream_error(error, kept)
            await client._outcomes.fail(call, error, self._target, kept)
            return error
        finally:
            self._ended()

    def _book_verdict(self, *, ok: bool) -> None:
        """Tell the serving deployment's breaker how the stream ended (once): read to
        its end or left by a break (``ok``), or broken by the deployment. Leaving on
        an exception or a cancellation, or the total timeout, gives no verdict."""
        verdict, self._verdict = self._verdict, None
        if verdict is not None:
            breaker, period = verdict
            breaker.stream_ended(period, ok=ok)
            self._client._note_breaker(breaker)  # the gauge, if this opened the circuit

    def _routed_done(self, *, ok: bool) -> None:
        """Tell the router this stream has ended (once), with its time to first piece.

        ``ok=False``: the deployment broke the stream (it cools down). Leaving
        early, by a break, an exception or a cancellation, gives no verdict.
        """
        target, self._routed = self._routed, None
        if target is not None:
            first = self._first_at
            ttft = None if first is None else first - self._attempt_started
            self._client._router.finished(target, ok=ok, ttft=ttft)

    def _ended(self) -> None:
        """Tell the client this stream is no longer in flight (once)."""
        if self._counted:
            self._counted = False
            client = self._client
            client._streams.discard(self)
            client._call_ended()

    async def _settle(self, response: Any, *, sent: bool = True) -> None:
        """Settle the limits' reservations with ``response`` (``None``: nothing used);
        ``sent=False`` gives them back whole, the request included."""
        if self._reservations:
            reservations, self._reservations = self._reservations, []
            limits, call, target = self._client._limits, self._call, self._target
            assert limits is not None and call is not None and target is not None
            if not sent:
                await limits.release(reservations, call, target)
                return
            if limits.reconcile_now(reservations, call, response, target):
                return
            # Shielded: it runs on the way out of a cancelled stream too, and a
            # limiter that waits would otherwise keep the hold.
            with anyio.CancelScope(shield=True):
                await limits.reconcile(reservations, call, response, target)

    async def _close_gen(self) -> None:
        """Close the provider's iterator and its connection.

        A close that fails is logged and goes no further: the call's outcome is
        decided by then, and every caller of this still has to settle the limits,
        tell the router and record the call (raised from here, it left the holds
        held and the call unrecorded).
        """
        gen, self._gen = self._gen, None
        if gen is not None:
            aclose = getattr(gen, "aclose", None)
            if aclose is not None:
                # Shielded: closing must finish even when we leave because of a cancellation.
                with anyio.CancelScope(shield=True):
                    try:
                        await aclose()
                    except Exception as error:
                        target = self._target
                        log.warning(
                            "closing a stream from %s failed: %s",
                            "its provider"
                            if target is None
                            else f"{target.provider}/{target.model}",
                            describe_error(error),
                        )
