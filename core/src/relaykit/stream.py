"""``client.stream(...)``: a streamed call as an async context manager and iterator."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .assembly import ResponseAssembler
from .attempts import run_attempts
from .billed_usage import so_far
from .cancellation import is_cancellation
from .closing_gate import closed_under_call
from .deadline_scope import scope_until
from .errors import ClientClosedError, PartFieldError, RelayError, StreamError
from .events import Finish, ReasoningDelta, SearchQuery, StreamEvent, TextDelta, ToolCallDelta
from .outbound_redaction import StreamEventRestorer
from .protocols import Provider
from .response import ChatResponse
from .response_cache import replay, worth_keeping
from .routing import Target
from .stream_lifecycle import END, StreamLifecycle
from .stream_read_timeout import STREAM_READ_TIMEOUT, ReadTimeout
from .tracing import current
from .transport_errors import never_sent
from .web_search import Citation, refuse_unsearched

if TYPE_CHECKING:
    from .client import Client, _Call

# A citation is content too: once the caller has seen one, a retry would show it twice.
_CONTENT = (TextDelta, ToolCallDelta, ReasoningDelta, Citation)
# What ends the read-ahead: content, the finish, or a web search, which the caller
# should see as it runs (a UI shows it before the answer) and which was billed, so
# never retried. It does not start the time to first token: that is the answer's.
_DELIVER = (*_CONTENT, SearchQuery, Finish)


class ChatStream(StreamLifecycle):
    """A streamed chat call. Enter it, iterate it, then read :attr:`response`.

    Entering sends the request and waits for the first event, retrying and
    falling back as :meth:`Client.chat` does; once an event has reached you the
    stream is never retried. Leaving the block early closes the connection.
    """

    _call: _Call  # made before the stream is
    _gen: AsyncIterator[StreamEvent] | None
    _buffered: deque[StreamEvent]
    _response: ChatResponse | None

    def __init__(self, client: Client, call: _Call) -> None:
        super().__init__(client, call)
        self._assembler = ResponseAssembler()
        #: until when (monotonic) events may be awaited with no scope at all: set once
        #: content has arrived over a connection that carries the idle timeout itself
        self._unscoped_until = 0.0
        #: holds back split placeholders (outbound redaction only)
        self._restorer: StreamEventRestorer | None = None

    # -- opening, with retries and fallbacks ---------------------------------

    async def __aenter__(self) -> ChatStream:
        client = self._client
        if client._closed and client._refuses_calls():  # made before the client closed
            raise ClientClosedError("this client is closed")
        # In flight until it ends: the client's aclose waits for it.
        client._in_flight += 1
        self._counted = True
        try:
            if self._call.span is None:
                await self._recorded_enter()
            else:
                # The span is current while the request goes out, so it propagates.
                # The cancellation is recorded inside, so the span ends as the record
                # says (once it ended outside, on leaving this block, named after the
                # library's class: asyncio's "CancelledError" beside the record's
                # "Cancelled").
                with current(client._tracer, self._call):
                    await self._recorded_enter()
        except BaseException:
            self._routed_done(ok=True)
            self._ended()
            raise
        self._opened()
        return self

    async def _recorded_enter(self) -> ChatStream:
        """:meth:`_enter`; cancelled before the first event (waiting for it, a retry's
        backoff), the call is recorded failed, as chat() records one and as the speech
        and transcription streams do (call_stream.py). Without this the call left no
        record at all. Not when it had failed and been recorded."""
        try:
            return await self._enter()
        except BaseException as exc:
            if not self._call.ended and is_cancellation(exc):
                with anyio.CancelScope(shield=True):
                    await self._client._outcomes.cancelled(
                        self._call, "cancelled before the stream started"
                    )
            raise

    async def _enter(self) -> ChatStream:
        client, call = self._client, self._call
        if call.cache_key is not None:
            cached = await client._cache.get(call.cache_key)
            if cached is not None:
                # A cached answer to a stream is replayed as a stream.
                call.cache_hit = True
                self._gen = _replay(cached)
                self._target = Target(cached.provider, cached.model)
                self._attempt_started = time.monotonic()
                return self
        if client._cold:
            await client._warm_up(call)
        try:
            await run_attempts(client, call, self._open)
        except RelayError as error:
            await client._outcomes.fail(call, error)
            raise
        return self

    async def _open(self, provider: Provider, request: Any, target: Target) -> None:
        client = self._client
        limits = client._limits
        if limits is not None:
            reservations = limits.reserve_now(target, self._call)
            if reservations is None:
                reservations = await limits.reserve(target, self._call)
            self._reservations = reservations
        self._target = target  # the reservations' target, for _settle
        try:
            if self._call.span is not None:
                client._tracer.attempt(self._call, target)  # type: ignore[union-attr]
            self._attempt_started = time.monotonic()
            if self._call.deadline <= self._attempt_started:
                # The deadline passed while it waited on a limiter (over the network,
                # under load): nothing went out, so its limits get all of it back
                # (below), as Client._attempt does.
                raise self._timeout("total")
            # No new ResponseAssembler per attempt: events reach it only once the
            # stream is open (in __anext__), and attempts end before that.
            if request.web_search is not None and not getattr(provider, "searches_web", False):
                raise refuse_unsearched(target)
            gen = provider.stream(request)
            if client._outbound is not None:
                self._restorer = client._outbound.restorer()
                gen = self._restorer.events(gen)
        except BaseException:
            await self._settle(None, sent=False)
            raise
        self._gen = gen
        # The request goes out during the read-ahead below; see stream_read_timeout.
        # One read timeout covers the whole request, so it can stand for the idle
        # timeout only when it cannot cut the first-token wait short.
        timeouts = client.config.timeouts
        self._read_timeout = (
            ReadTimeout(timeouts.idle) if timeouts.first_token <= timeouts.idle else None
        )
        token = STREAM_READ_TIMEOUT.set(self._read_timeout)
        # Read ahead to the first content event: everything before it (the vendor's
        # start event, say) has not reached the caller yet, so a slow first token or
        # an early failure can still be retried or fall back.
        try:
            buffered = await self._read_ahead()
        except StreamError as e:
            # Nothing has reached the caller yet, so trying again (or elsewhere) is safe.
            e.retryable = True
            await self._close_gen()
            await self._settle(None)
            raise
        except BaseException as e:
            await self._close_gen()
            # A request that never went out (no connection, or one the provider
            # plugin could not encode) gives its limits everything back; one the
            # caller cancelled (or the client's close cut off) keeps its prompt,
            # which the vendor bills.
            sent = not never_sent(e)
            cut = None
            if sent and (not isinstance(e, Exception) or client._shut) and not self._call.cache_hit:
                cut = client._cut_off(self._call, target)
            await self._settle(cut, sent=sent)
            raise
        finally:
            STREAM_READ_TIMEOUT.reset(token)
        self._buffered = buffered
        # Open: from here the stream, not the attempt, tells the router how it went.
        self._routed = target

    async def _read_ahead(self) -> deque[StreamEvent]:
        """The events up to the first content (or the end), within the first-token timeout.

        One scope for them all: their deadline is the same (the attempt's start
        plus the first-token timeout, or the total deadline if nearer).
        """
        assert self._gen is not None and self._target is not None
        first_token = self._attempt_started + self._client.config.timeouts.first_token
        deadline, which = first_token, "first_token"
        if self._call.deadline < first_token:
            deadline, which = self._call.deadline, "total"
        buffered: deque[StreamEvent] = deque()
        event: StreamEvent = END
        running = self._client._running
        with scope_until(self._client._scopes, deadline) as scope:
            running.add(scope)  # aclose cancels it once its wait is over
            try:
                while True:
                    event = await self._pull()
                    buffered.append(event)
                    if event is END or isinstance(event, _DELIVER):
                        break
            finally:
                running.discard(scope)
        if scope.cancelled_caught:
            raise self._read_ahead_cut(which)
        if isinstance(event, _CONTENT):
            self._first_at = time.monotonic()
        return buffered

    # -- iteration -------------------------------------------------------------

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._buffered:
            event = self._buffered.popleft()
        elif self._gen is None:
            if self._closed_by_client:
                raise closed_under_call()
            if self._finished:
                raise StopAsyncIteration
            raise RelayError("iterate a stream inside `async with client.stream(...) as s:`")
        else:
            try:
                if self._unscoped_until > time.monotonic():
                    # Nearly every event of a stream: _next_unscoped, inlined.
                    try:
                        event = await self._gen.__anext__()
                    except StopAsyncIteration:
                        event = END
                    except PartFieldError as e:  # a part built from the answer: malformed
                        raise self._unscoped_error(e) from e
                    except RelayError:
                        raise
                    except Exception as e:
                        failure = self._unscoped_error(e)
                        if failure is e:
                            raise
                        raise failure from e
                else:
                    event = await self._next()
            except RelayError as e:
                error = await self._abort(e)
                if error is e:
                    raise
                raise error from e
        if event is END:
            await self._complete()
            raise StopAsyncIteration
        self._assembler.add(event)
        return event

    async def _next(self) -> StreamEvent:
        """The provider's next event, within the first-token, idle and total timeouts."""
        assert self._gen is not None and self._target is not None
        timeouts = self._client.config.timeouts
        now = time.monotonic()
        if self._first_at is None:
            limit, which = self._attempt_started + timeouts.first_token - now, "first_token"
        else:
            limit, which = timeouts.idle, "idle"
        if self._call.deadline - now < limit:
            limit, which = self._call.deadline - now, "total"
        event: StreamEvent = END
        if which == "idle" and self._idle_on_connection():
            # Until the total deadline comes nearer than the idle timeout, the next
            # events skip this method's arithmetic too (see __anext__).
            self._unscoped_until = self._call.deadline - timeouts.idle
            event = await self._next_unscoped()
            return event
        with scope_until(self._client._scopes, now + limit) as scope:
            event = await self._pull()
        if scope.cancelled_caught:
            raise self._timeout(which)
        if self._first_at is None and isinstance(event, _CONTENT):
            self._first_at = time.monotonic()
        return event

    # -- ending ---------------------------------------------------------------

    async def _complete(self) -> None:
        if self._closed_by_client:  # its end came as the client closed: recorded then
            raise closed_under_call()
        self._finished = True
        self._gen = None
        try:
            self._routed_done(ok=True)
            response = self._assembled()
            await self._settle(response)
            assert self._target is not None
            client, call = self._client, self._call
            if call.cache_hit:
                response = attrs.evolve(response, id=response.id, provider=self._target.provider)
            self._response = await client._outcomes.finish(call, self._target, response)
            if (
                call.cache_key is not None
                and not call.cache_hit
                and self._assembler.finished  # a stream that ended without its finish: cut
                and worth_keeping(call.request, self._response)
            ):
                # Shielded, as in Client.chat: recorded a success, the stream must end
                # as one for its caller too.
                with anyio.CancelScope(shield=True):
                    await client._cache.put(call.cache_key, self._response, client.config.cache.ttl)
        finally:
            self._ended()

    def _release_held(self) -> None:
        """Fold what outbound redaction still holds back into the partial response.

        A stream that broke, or ended without its finish event, would otherwise
        lose the tail of its text, reasoning or tool arguments that looked like
        the start of a placeholder.
        """
        if self._restorer is not None:
            for event in self._restorer.held():
                self._assembler.add(event)

    def _partial(self) -> ChatResponse:
        self._release_held()
        return self._billed_so_far()

    def _billed_so_far(self) -> ChatResponse:
        """What arrived of a stream that ended early, with the usage it was likely
        billed (:func:`relaykit.billed_usage.so_far`): what its limits settle with,
        and its record and response carry."""
        response = self._assembled()
        call = self._call
        if call.cache_hit:
            return response  # a replay: nothing billed
        billed = so_far(
            response,
            call.size // 4,  # the prompt as limits estimate it (call_limits.prompt_tokens)
            finished=self._assembler.finished,
        )
        if billed.usage_estimated:  # not all the vendor's counts: the span and log line say so
            call.usage_estimated = True
        return billed

    def _kept_partial(self, partial: ChatResponse) -> ChatResponse:
        return partial  # on the StreamError, and priced in the record

    def _assembled(self) -> ChatResponse:
        assert self._target is not None
        first = self._first_at
        return self._assembler.response(
            provider=self._target.provider,
            model=self._target.model,
            time_to_first_token=None if first is None else first - self._call.started,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        # Left early: close the connection and record what the caller had. A
        # break (or leaving without reading on) is the caller's choice: a success,
        # its finish reason "other" unless the model's own had arrived. An
        # exception in the caller's code or a cancellation is a failed call.
        self._finished = True
        try:
            await self._close_gen()
            self._routed_done(ok=True)
            with anyio.CancelScope(shield=True):
                response = self._billed_so_far()
                await self._settle(response)
                assert self._target is not None
                client = self._client
                if exc is None:  # left early: its text is partial, not parsed
                    self._response = await client._outcomes.finish(
                        self._call, self._target, response, parse=False
                    )
                elif is_cancellation(exc):
                    self._response = await client._outcomes.left_early(
                        self._call,
                        self._target,
                        response,
                        "Cancelled",
                        "cancelled before the stream ended",
                    )
                else:
                    self._response = await client._outcomes.left_early(
                        self._call,
                        self._target,
                        response,
                        "CallerError",
                        f"left before the stream ended: the caller's code raised "
                        f"{type(exc).__name__}",
                    )
        finally:
            self._ended()

    @property
    def response(self) -> ChatResponse:
        """The response assembled from the stream (so far, if it was left early)."""
        if self._response is not None:
            return self._response
        return self._assembled()

    @property
    def text(self) -> str:
        """The text received so far."""
        return self.response.text


async def _replay(response: ChatResponse) -> AsyncIterator[StreamEvent]:
    for event in replay(response):
        yield event
