"""A streamed call that is not a chat: what :class:`relaykit.SpeechStream` (audio out)
and :class:`relaykit.TranscriptionStream` (text in) share.

Each is one request whose answer arrives in pieces, through the chat
pipeline's routing, limits, breakers and attempts, as :class:`relaykit.ChatStream`
is: entering sends the request and reads ahead to the first piece, retrying and
falling back as :meth:`relaykit.Client.speak` does, within the first-token
timeout; once a piece has reached the caller the call is never retried, and a
failure is a :class:`relaykit.StreamError` (or the idle or total timeout's
:class:`relaykit.RequestTimeoutError`). Leaving the block early closes the
connection. The call's span, log line and record come at its end, as
:mod:`relaykit.single_calls` makes them for the whole calls.

A subclass says which provider method streams (``stream_speech``,
``stream_transcription``), how a piece is told from the summary a provider may
send last (the vendor's usage, its id), and how the pieces make the response;
its call's :class:`~relaykit.single_calls.Operation` prices, traces and records it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from .call_limits import unit_hold
from .cancellation import is_cancellation
from .closing_gate import closed_under_call
from .deadline_scope import scope_until
from .errors import RelayError, StreamError
from .protocols import Provider
from .routing import Target
from .single_calls import finish, priced
from .stream_lifecycle import END, StreamLifecycle, unstarted_stream_error
from .stream_read_timeout import STREAM_READ_TIMEOUT
from .transport_errors import never_sent

if TYPE_CHECKING:
    from .client import _Call

Piece = TypeVar("Piece")
Response = TypeVar("Response")


class CallStream(StreamLifecycle, Generic[Piece, Response]):
    """Enter it (once), iterate its pieces, then read :attr:`response` (see the module
    docstring)."""

    #: the provider's optional method that streams; a provider without it is sent the
    #: whole call (the call's Operation: ``speak``, ``transcribe``), whose answer is
    #: then one piece, and one with neither is refused there
    method: ClassVar[str]

    _response: Response | None

    # -- what a subclass says ------------------------------------------------------

    def _items_of(self, response: Any) -> tuple[Any, ...]:
        """A whole answer as the items a provider's stream would have yielded: its
        one piece, then the whole (the summary)."""
        raise NotImplementedError

    def _from_whole(self, provider: Provider, target: Target) -> Any:
        """The call's whole-answer send (its Operation's: the capability checked, the
        answer too) to ``provider``, as a streaming method."""
        assert self._call is not None and self._call.kind is not None
        send = self._call.kind.send

        async def stream(request: Any) -> AsyncIterator[Any]:
            for item in self._items_of(await send(provider, request, target)):
                yield item

        return stream

    def _take(self, item: Any) -> Piece | None:
        """Note ``item`` from the provider; the piece to hand the caller, or ``None``
        for an item that is none (an empty piece, the vendor's summary)."""
        raise NotImplementedError

    def _assembled(self, *, whole: bool) -> Response:
        """The response from what arrived; ``whole``: the stream ended as the vendor
        meant it to (not left early, nor broken)."""
        raise NotImplementedError

    def _partial(self) -> Response:
        return self._assembled(whole=False)

    async def _finish(self, call: _Call, target: Target, response: Response) -> Response:
        """Price ``response``, trace, log and record it as the call's answer, as the
        whole call's kind does (:func:`~relaykit.single_calls.priced`,
        :func:`~relaykit.single_calls.finish`)."""
        response = priced(self._client, call, target, response)
        await finish(self._client, call, target, response)
        return response

    # -- opening, with retries and fallbacks -----------------------------------------

    async def _enter(self, call: _Call) -> None:
        await self._attempt_all(call, self._open)

    async def _open(self, provider: Provider, request: Any, target: Target) -> None:
        client, call = self._client, self._call
        assert call is not None
        stream = getattr(provider, self.method, None)
        if stream is None:
            # A provider that answers only whole (Gemini's speech, say) still streams:
            # its answer comes as one piece, later than a streamed first piece would.
            stream = self._from_whole(provider, target)
        if client._limits is not None and (call.minutes or call.characters):
            # audio per minute, speech per character: a budget holds those too
            call.unit_hold = unit_hold(call, client._price(target))
        await self._reserve(target)
        try:
            await self._start_attempt(target)
            self._gen = stream(request)
            token = self._offer_read_timeout()  # the request goes out during the read-ahead
            try:
                await self._read_ahead()
            finally:
                STREAM_READ_TIMEOUT.reset(token)
        except StreamError as e:
            # Nothing has reached the caller: trying again is safe (see stream.py).
            await self._close_gen()
            await self._settle(None)
            typed = unstarted_stream_error(e)
            if typed is e:
                raise
            raise typed from e
        except BaseException as e:
            await self._close_gen()
            # A request that never went out gives its limits everything back.
            await self._settle(None, sent=not never_sent(e))
            raise
        self._routed = target  # open: the stream, not the attempt, tells the router

    @staticmethod
    def _is_content(item: Any) -> bool:
        """Whether ``item`` is content (a non-empty piece), not a summary."""
        return isinstance(item, bytes | str) and bool(item)

    # -- iteration -------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Piece:
        while True:
            if self._buffered:
                item = self._buffered.popleft()
            elif self._gen is None:
                if self._closed_by_client:
                    raise closed_under_call()
                if self._finished:
                    raise StopAsyncIteration
                raise RelayError("iterate a stream inside its `async with` block")
            else:
                try:
                    item = await self._next()
                except RelayError as e:
                    error = await self._abort(e)
                    if error is e:
                        raise
                    raise error from e
            if item is END:
                await self._complete()
                raise StopAsyncIteration
            piece = self._take(item)
            if piece is not None:
                return piece

    async def _next(self) -> Any:
        """The provider's next item, within the first-token, idle and total timeouts."""
        call = self._call
        assert call is not None
        timeouts = self._client.config.timeouts
        now = time.monotonic()
        if self._first_at is None:
            limit, which = self._attempt_started + timeouts.first_token - now, "first_token"
        else:
            limit, which = timeouts.idle, "idle"
        if call.deadline - now < limit:
            limit, which = call.deadline - now, "total"
        if which == "idle" and self._idle_on_connection():
            return await self._next_unscoped()  # no scope: the connection times out
        item: Any = END
        with scope_until(self._client._scopes, now + limit) as scope:
            item = await self._pull()
        if scope.cancelled_caught:
            raise self._timeout(which)
        if self._first_at is None and self._is_content(item):
            self._first_at = time.monotonic()
        return item

    @property
    def time_to_first_chunk(self) -> float | None:
        """Seconds from the call's first request (its start, but for a limiter's wait
        before it: see ``_Call.issued``) to its first piece (``None``: none came)."""
        first = self._first_at
        call = self._call
        return None if first is None or call is None else first - call.first_request_at

    # -- ending ------------------------------------------------------------------------

    async def _record_whole(self) -> None:
        call, target = self._call, self._target
        assert call is not None and target is not None
        response = self._assembled(whole=True)
        await self._settle(response)
        self._response = await self._finish(call, target, response)

    async def _record_left_early(self, exc: BaseException | None) -> None:
        # The record carries no partial answer (see StreamLifecycle._kept_partial):
        # a break is priced and recorded with what had arrived, a failure only named.
        call, target = self._call, self._target
        assert call is not None and target is not None
        response = self._assembled(whole=False)
        await self._settle(response)
        self._response = response
        if exc is None:
            self._response = await self._finish(call, target, response)
        elif is_cancellation(exc):
            await self._client._outcomes.cancelled(call, "cancelled before the stream ended")
        else:
            await self._client._outcomes.cancelled(
                call,
                f"left before the stream ended: the caller's code raised {type(exc).__name__}",
                "CallerError",
            )

    @property
    def response(self) -> Response:
        """The response (so far, if the stream was left early or broke)."""
        if self._response is not None:
            return self._response
        if self._target is None:
            raise RelayError("the stream has not started: enter it with `async with`")
        return self._assembled(whole=False)
