"""``client.stream(...)``: a streamed call as an async context manager and iterator."""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import attrs

from .assembly import NotAnEvent, ResponseAssembler
from .attempts import filtered_answer
from .billed_usage import so_far
from .cancellation import is_cancellation
from .closing_gate import closed_under_call
from .deadline_scope import scope_until
from .errors import ContentFilterError, PartFieldError, RelayError, StreamError
from .events import (
    Finish,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from .outbound_redaction import StreamEventRestorer, as_written
from .plugin_faults import wrong_event
from .protocols import Provider
from .response import ChatResponse
from .response_cache import replay, worth_keeping
from .routing import Target
from .stream_lifecycle import END, StreamLifecycle, unstarted_stream_error
from .stream_read_timeout import STREAM_READ_TIMEOUT
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
    """A streamed chat call. Enter it (once), iterate it, then read :attr:`response`.

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
        #: with outbound redaction and the cache, the events as the provider sent
        #: them, placeholders unrestored: what the cache keeps (see Client._start)
        self._unrestored: ResponseAssembler | None = None
        # Time per output chunk (the conventions' metric): a content event ends when
        # the caller asks for the next event, whose clock reading (taken for the
        # timeouts anyway) is its end. _timed: a record is built to carry them;
        # _content_out: a content event was handed over since the last reading;
        # _chunk_end: the last one's end; _gaps: the times between ends, as plain
        # doubles (no float object kept per chunk).
        self._timed = client._outcomes.recording
        self._content_out = False
        self._chunk_end: float | None = None
        self._gaps: array[float] | None = None

    # -- opening, with retries and fallbacks ---------------------------------

    async def _enter(self, call: _Call) -> None:
        client = self._client
        if call.cache_key is not None:
            cached = await client._look_up(call)
            if cached is not None:
                # A cached answer to a stream is replayed as a stream, its
                # placeholders restored with this call's values as a fresh one's are.
                call.cache_hit = True
                self._gen = _replay(cached)
                if client._outbound is not None:
                    self._restorer = (call.outbound or client._outbound).restorer()
                    self._gen = self._restorer.events(self._gen)
                self._target = Target(cached.provider, cached.model)
                self._attempt_started = time.monotonic()
                return
        await self._attempt_all(call, self._open)

    async def _open(self, provider: Provider, request: Any, target: Target) -> None:
        client = self._client
        await self._reserve(target)
        try:
            await self._start_attempt(target)
            # No new ResponseAssembler per attempt: events reach it only once the
            # stream is open (in __anext__), and attempts end before that.
            if request.web_search is not None and not getattr(provider, "searches_web", False):
                raise refuse_unsearched(target)
            gen = provider.stream(request)
            if client._outbound is not None:
                if self._call.cache_key is not None:
                    self._unrestored = ResponseAssembler()
                    gen = _copied(gen, self._unrestored)
                outbound = self._call.outbound
                self._restorer = (outbound or client._outbound).restorer()
                gen = self._restorer.events(gen)
        except BaseException:
            await self._settle(None, sent=False)
            raise
        self._gen = gen
        token = self._offer_read_timeout()  # the request goes out during the read-ahead
        try:
            await self._read_ahead()
        except StreamError as e:
            # Nothing has reached the caller yet, so trying again (or elsewhere) is
            # safe: worth it unless the vendor said the request itself was refused.
            await self._close_gen()
            typed = unstarted_stream_error(e)
            await self._settle(await self._billed_before_break(target, typed))
            if typed is e:
                raise
            raise typed from e
        except BaseException as e:
            await self._close_gen()
            # A request that never went out (no connection, or one the provider
            # plugin could not encode) gives its limits everything back; one the
            # caller cancelled, a timeout of ours or the client's close cut off
            # keeps its prompt, which the vendor bills (as Client._attempt's does).
            # A failure of the provider's own (a 5xx, a dropped connection) is not
            # a cut, even while the client closes: it bills what it reported.
            sent = not never_sent(e)
            cut = None
            cut_by, self._cut_by = self._cut_by, None
            ours = not isinstance(e, Exception) or cut_by is not None
            reported = self._reported_ahead(target) if sent and ours else None
            if reported is not None:
                # The vendor had counted the prompt (Anthropic's message_start): what
                # it billed, not the prompt's estimate, as a break's attempt is
                # charged. A record of its own, whether the call tries again or ends.
                if isinstance(e, RelayError):
                    why = type(e).__name__, f"cut off before its first piece: {e}"
                else:
                    why = "Cancelled", "cancelled before its first piece"
                with anyio.CancelScope(shield=True):  # billed: recorded however the call ends
                    cut = await client._outcomes.record_reported_attempt(
                        self._call, target, reported, *why
                    )
            elif sent and ours and not self._call.cache_hit:
                if cut_by == "first_token":  # tried again: a record of its own
                    with anyio.CancelScope(shield=True):
                        cut = await client._outcomes.record_timed_out_attempt(self._call, target)
                else:  # the call ends here: its record carries it (call.cut)
                    cut = client._cut_off(self._call, target)
            elif sent and isinstance(e, RelayError):
                cut = await self._billed_before_break(target, e)
            self._buffered = deque()  # read ahead, never handed over
            await self._settle(cut, sent=sent)
            raise
        finally:
            STREAM_READ_TIMEOUT.reset(token)
        ahead = self._buffered
        if ahead and isinstance(ahead[-1], Finish) and ahead[-1].reason == "content_filter":
            # The filter withheld the whole answer (the read-ahead stops at the first
            # content, so none came before this finish): nothing has reached the
            # caller, and the route's content_policy_fallbacks may answer instead.
            refused = filtered_answer(client, self._call, target)
            if refused is not None:
                await self._refused(target, refused)
        # Open: from here the stream, not the attempt, tells the router how it went.
        self._routed = target

    async def _refused(self, target: Target, refused: ContentFilterError) -> NoReturn:
        """End the attempt on ``target``, whose answer its content filter withheld
        whole, with ``refused``, falling back as a non-streamed refused answer does
        (``Client._attempt``): its rest read for the usage the vendor reports after
        the finish (a prompt it bills), within the idle timeout and the call's
        deadline (a vendor gone quiet after the finish never holds the call; nor
        does the read hold a caller who cancels: both close the connection), and a
        record of its own carrying that usage, or the prompt's estimate when none
        came (it went quiet first, or the caller cancelled)."""
        deadline = min(self._call.deadline, time.monotonic() + self._client.config.timeouts.idle)
        running = self._client._running
        try:
            with scope_until(self._client._scopes, deadline) as scope:
                running.add(scope)  # aclose cancels it once its wait is over
                try:
                    while (item := await self._pull()) is not END:
                        self._buffered.append(item)
                except RelayError:
                    pass  # the refusal is what the call goes on with: its usage is what came
                finally:
                    running.discard(scope)
        finally:
            # Cancelled meanwhile too: the connection closes and the hold settles.
            await self._close_gen()
            reported = self._reported_ahead(target)
            outcomes = self._client._outcomes
            why = type(refused).__name__, str(refused), refused.status
            with anyio.CancelScope(shield=True):  # billed: recorded however the call ends
                if reported is not None:
                    billed = await outcomes.record_reported_attempt(
                        self._call, target, reported, *why
                    )
                else:
                    billed = await outcomes.record_unreported_attempt(self._call, target, *why)
            await self._settle(billed)
        raise refused

    async def _billed_before_break(self, target: Target, error: RelayError) -> ChatResponse | None:
        """What an attempt on ``target`` that failed with ``error`` before its first
        piece is settled with: the usage the vendor had reported by then, in what was
        read ahead (Anthropic's ``message_start`` counts the prompt), recorded as an
        attempt of its own (:meth:`CallOutcomes.record_broken_attempt`); ``None``
        (nothing used) if it reported none. The read-ahead is dropped: it never
        reaches the caller."""
        reported = self._reported_ahead(target)
        if reported is None:
            return None
        with anyio.CancelScope(shield=True):  # billed: recorded however the call ends
            billed = await self._client._outcomes.record_broken_attempt(
                self._call, target, reported, error
            )
        return billed

    def _reported_ahead(self, target: Target) -> ChatResponse | None:
        """The usage the vendor reported in what was read ahead of the first piece
        (Anthropic's ``message_start`` counts the prompt), as an answer from
        ``target``; ``None`` if none (or a replay from the cache). Drops the
        read-ahead: it never reaches the caller."""
        read, self._buffered = self._buffered, deque()
        if self._call.cache_hit or not any(isinstance(item, UsageUpdate) for item in read):
            return None
        assembler = ResponseAssembler()
        for item in read:
            if isinstance(item, UsageUpdate | StreamStart):
                assembler.add(item)
        if not assembler.usage_reported:
            return None
        return assembler.response(provider=target.provider, model=target.model)

    def _delivers(self, item: Any) -> bool:
        return isinstance(item, _DELIVER)

    def _is_content(self, item: Any) -> bool:
        return isinstance(item, _CONTENT)

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
            now = time.monotonic()
            if self._content_out:
                # The content handed over last ended now: one more time per output
                # chunk, unless it was the first (the conventions count those after it).
                # Inline: this runs for nearly every event of a stream.
                self._content_out = False
                end, self._chunk_end = self._chunk_end, now
                if end is not None:
                    gaps = self._gaps
                    if gaps is None:
                        gaps = self._gaps = array("d")
                    gaps.append(now - end)
            try:
                if self._unscoped_until > now:
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
                    event = await self._next(now)
            except RelayError as e:
                error = await self._abort(e)
                if error is e:
                    raise
                raise error from e
        if event is END:
            await self._complete()
            raise StopAsyncIteration
        try:
            self._assembler.add(event)
        except NotAnEvent as e:
            assert self._target is not None
            raise await self._abort(wrong_event(self._target.provider, e.item)) from None
        if self._timed and isinstance(event, _CONTENT):
            self._content_out = True
        return event

    async def _next(self, now: float) -> StreamEvent:
        """The provider's next event, within the first-token, idle and total timeouts
        (``now``: the monotonic clock as the caller asked for it)."""
        assert self._gen is not None and self._target is not None
        timeouts = self._client.config.timeouts
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

    async def _record_whole(self) -> None:
        response = self._assembled()
        if not (self._assembler.usage_reported or self._call.cache_hit):
            # The vendor sent no usage (``stream_usage = false``, or a compatible
            # server that ignores ``stream_options``), yet billed the prompt and
            # the answer: charge relaykit's estimate, marked so, never nothing.
            # A usage event counting zero is the vendor's word, and kept.
            response = self._billed_so_far()
        await self._settle(response)
        assert self._target is not None
        client, call = self._client, self._call
        if self._gaps is not None and not call.cache_hit:  # a replay's chunks came from memory
            call.chunk_gaps = tuple(self._gaps)
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
            kept = self._response
            if self._unrestored is not None:
                kept = as_written(kept, self._unrestored.response())
            with anyio.CancelScope(shield=True):
                await client._cache.put(call.cache_key, kept, client.config.cache.ttl)

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
        and its record and response carry (marked ``usage_estimated`` when
        relaykit estimated it; the span and log line read the mark from it)."""
        response = self._assembled()
        call = self._call
        if call.cache_hit:
            return response  # a replay: nothing billed
        return so_far(
            response,
            call.size // 4,  # the prompt as limits estimate it (call_limits.prompt_tokens)
            finished=self._assembler.finished,
        )

    def _kept_partial(self, partial: ChatResponse) -> ChatResponse:
        return partial  # on the StreamError, and priced in the record

    def _assembled(self) -> ChatResponse:
        assert self._target is not None
        first = self._first_at
        return self._assembler.response(
            provider=self._target.provider,
            model=self._target.model,
            time_to_first_token=None if first is None else first - self._call.first_request_at,
        )

    def _leaving(self) -> None:
        # The last content handed over ends as the caller leaves: its time per
        # output chunk is the last of the chunks the caller received.
        if self._content_out:
            self._content_out = False
            now = time.monotonic()
            end, self._chunk_end = self._chunk_end, now
            if end is not None:
                if self._gaps is None:
                    self._gaps = array("d")
                self._gaps.append(now - end)

    async def _record_left_early(self, exc: BaseException | None) -> None:
        # What arrived, with the usage it was likely billed, is the record's answer
        # (a break's finish reason "other" unless the model's own had arrived).
        response = self._billed_so_far()
        await self._settle(response)
        assert self._target is not None
        client = self._client
        if self._gaps is not None and not self._call.cache_hit:
            self._call.chunk_gaps = tuple(self._gaps)  # the chunks the caller received
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
                f"left before the stream ended: the caller's code raised {type(exc).__name__}",
            )

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


async def _copied(
    events: AsyncIterator[StreamEvent], into: ResponseAssembler
) -> AsyncIterator[StreamEvent]:
    """``events``, each also folded into ``into`` (the answer before restoring)."""
    try:
        async for event in events:
            # Something that is no event: the stream names the plugin when it
            # reaches the caller (and the call fails, so nothing is cached).
            with suppress(NotAnEvent):
                into.add(event)
            yield event
    finally:
        # closed with the restorer's generator, as the provider's stream must be
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
