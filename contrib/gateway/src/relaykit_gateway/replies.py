"""How a call's answer or failure goes back to the caller.

A call runs :func:`watched`: in the caller's trace context, and cancelled if the
caller hangs up. Its answer goes out as JSON with the ``x-relaykit-*`` headers
(:func:`json_reply`, :func:`answer_headers`), as pieces as they arrive
(:func:`streamed`; as server-sent events, a chat's too, through
:func:`send_events`) or as JSONL lines read from a batch's results
(:func:`send_lines`); a relaykit error as the vendor's error body, with the
status its SDK expects (:func:`send_error`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any, Protocol, TypeVar

import anyio
import attrs
from opentelemetry import context as otel_context
from opentelemetry import propagate

from relaykit import (
    BatchResult,
    ChatResponse,
    Client,
    EmbeddingResponse,
    ImageResponse,
    ModerationResponse,
    RelayError,
    RerankResponse,
    SpeechResponse,
    TranscriptionResponse,
)
from relaykit.json_encode import dumps

from .asgi_messages import (
    EVENT_STREAM,
    Headers,
    Receive,
    Send,
    cancel_on_disconnect,
    send_json,
    send_more,
)
from .dialect import (
    SSE_COMMENT,
    Dialect,
    ShuttingDown,
    caller_message,
    error_code,
    retry_after,
    spent_budget,
    status_of,
    upstream_quota_used_up,
)
from .stream_pings import HeldHead, PacedSender

T = TypeVar("T")
#: what a call answers: its cost and served model go out in headers
Answer = (
    ChatResponse
    | EmbeddingResponse
    | RerankResponse
    | TranscriptionResponse
    | ImageResponse
    | SpeechResponse
    | ModerationResponse
)
A = TypeVar("A", bound=Answer)

logger = logging.getLogger("relaykit.gateway")

#: how long the calls a gateway's drain ends have to send their last words (a slow
#: reader's are lost)
ENDING_SECONDS = 1.0


async def watched(
    headers: dict[str, str], receive: Receive, answer: Callable[[], Awaitable[None]]
) -> None:
    """Run ``answer`` in the caller's trace context, cancelled if the caller hangs up."""
    # A caller's W3C trace context makes the call's span a child of theirs.
    token = None
    if "traceparent" in headers:
        token = otel_context.attach(propagate.extract(headers))
    try:
        # A caller that hangs up cancels its call: the provider's connection
        # closes, and a stream stops generating what nobody will read.
        async with anyio.create_task_group() as watch:
            watch.start_soon(cancel_on_disconnect, receive, watch.cancel_scope)
            await answer()
            watch.cancel_scope.cancel()
    finally:
        if token is not None:
            otel_context.detach(token)


async def answered(
    headers: dict[str, str],
    receive: Receive,
    send: Send,
    call: Callable[[], Awaitable[T]],
    reply: Callable[[T], Awaitable[None]],
    errors: Dialect,
) -> None:
    """One call that is not a chat (embeddings, rerank, speech, images, moderation, a
    batch's), watched as :func:`watched` says: its answer goes out through ``reply``,
    a relaykit error in the ``errors`` dialect's shape."""

    async def answer() -> None:
        try:
            response = await call()
        except RelayError as error:  # raised here, not out of the watching task group
            await send_error(send, errors, error)
            return
        await reply(response)

    await watched(headers, receive, answer)


def json_reply(send: Send, body_of: Callable[[A], Any]) -> Callable[[A], Awaitable[None]]:
    """What :func:`answered` sends an answer with: ``body_of(answer)`` as JSON, with
    the answer's cost and served model in :func:`answer_headers`."""

    async def reply(response: A) -> None:
        await send_json(send, 200, body_of(response), answer_headers(response))

    return reply


def answer_headers(response: Answer) -> Headers:
    """Which deployment answered and what it cost, for operators (LiteLLM's proxy
    sends the like as ``x-litellm-*``), and, as the token counters do, whether the
    input tokens reported are relaykit's estimate (the vendor counted none)."""
    out = [
        (b"x-relaykit-provider", response.provider.encode()),
        (b"x-relaykit-model", response.model.encode()),
    ]
    if response.cost is not None:
        out.append((b"x-relaykit-cost", str(response.cost).encode()))
    if getattr(response, "tokens_estimated", False):  # embeddings', rerank's, moderation's
        out.append((b"x-relaykit-estimated", b"true"))
    return out


async def send_error(send: Send, dialect: Dialect, error: RelayError) -> None:
    """``error`` as ``dialect``'s error body, with the status its SDK expects (and
    ``Retry-After`` when the error says when to)."""
    status = status_of(error, dialect.overloaded_status)
    if status >= 500:
        # The caller sees the message; the operator's log gets the kind too (both
        # scrubbed of keys, as every relaykit error's message is).
        logger.warning("gateway call failed: %s: %s", type(error).__name__, error)
    body = dialect.error_body(
        status, caller_message(error), getattr(error, "param", None), error_code(error)
    )
    wait = retry_after(error)
    headers = [(b"retry-after", wait.encode())] if wait is not None else []
    no_retry_cures = spent_budget(error) or upstream_quota_used_up(error)
    if ((wait is None and not error.retryable) or no_retry_cures) and _sdks_retry(status):
        # OpenAI's and Anthropic's SDKs retry such a status (twice by default) unless
        # told not to: each retry would meet the same failure (the provider refusing
        # the gateway's key, after the gateway's own retries; the gateway's account
        # out of credit; a budget spent, which only its next period cures, however
        # soon the SDK tries again).
        headers.append((b"x-should-retry", b"false"))
    await send_json(send, status, body, headers)


def _sdks_retry(status: int) -> bool:
    """Whether OpenAI's and Anthropic's SDKs retry an answer of ``status`` by default."""
    return status in (408, 409, 429) or status >= 500


def error_event(error: RelayError, dialect: Dialect) -> bytes:
    """OpenAI's ``error`` event (in ``dialect``'s error body), for a stream of
    server-sent events that broke."""
    status = status_of(error, dialect.overloaded_status)
    body = dialect.error_body(status, caller_message(error), None, error_code(error))
    return b"data: " + dumps({"type": "error", **body}) + b"\n\n"


async def streamed(
    send: Send,
    stream: Any,
    start: Headers,
    piece: Callable[[Any], bytes],
    tail: Callable[[Any], bytes],
    errors: Dialect,
    *,
    ending: Callable[[], bool],
    head_seconds: float = float("inf"),
    ping_seconds: float = float("inf"),
) -> None:
    """Answer with a streamed speech or transcription as it arrives: each piece as
    ``piece`` frames it, then ``tail(response)``.

    Entering sends the request, retrying and falling back, so a call that fails
    before its first piece gets a plain error response (in ``errors``' shape). A
    failure after it, or the gateway ending the call as it stops (``ending()``
    says it is: its drain's time is up), is an ``error`` event in an event
    stream, as a chat stream's is; raw audio has no way to say so, so its body
    just ends (the call's record and log line say it broke, or was cancelled).

    An event stream goes out as a chat stream's does (:func:`send_events`): its
    head goes out after ``head_seconds`` without a first piece (a failure then ends
    it as its error event), then a comment each ``ping_seconds`` of silence, before
    the first piece and between pieces (see :mod:`relaykit_gateway.stream_pings`). Raw
    audio cannot: its body is the audio's bytes, and any byte of a keep-alive
    would be heard (or break the file), so its head waits for the first piece
    and a silence goes without a byte.
    """
    try:
        if start is EVENT_STREAM:
            events = _AudioEvents(piece, tail, errors)
            await send_events(
                send,
                stream,
                events,
                ending=ending,
                head_seconds=head_seconds,
                ping_seconds=ping_seconds,
            )
            return
        async with stream:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [*start, *_who(stream)]}
            )
            try:
                async for item in stream:
                    await send_more(send, piece(item))
                end = tail(stream.response)
            except RelayError as error:  # broke after it started
                logger.warning("gateway stream broke: %s: %s", type(error).__name__, error)
                end = b""
            await send({"type": "http.response.body", "body": end, "more_body": False})
    except RelayError as error:
        await send_error(send, errors, error)


def _who(stream: Any) -> Headers:
    """Which provider and model answer an entered stream."""
    return [
        (b"x-relaykit-provider", stream.response.provider.encode()),
        (b"x-relaykit-model", stream.response.model.encode()),
    ]


class EventFrames(Protocol):
    """How a stream's pieces go out as server-sent events: a chat stream's
    :class:`~relaykit_gateway.dialect.StreamEncoder`, or an audio stream's events."""

    def event(self, piece: Any) -> bytes:
        """The frames ``piece`` becomes (``b""`` when it adds nothing yet)."""
        ...

    def end(self, response: Any) -> bytes:
        """The frames that end a stream that finished, with ``response`` assembled."""
        ...

    def error(self, error: RelayError) -> bytes:
        """The frames that end a stream that broke after it had started."""
        ...

    def keepalive(self) -> bytes:
        """The frames that keep a quiet stream's connection open (``b""``: none yet)."""
        ...


@attrs.frozen
class _AudioEvents:
    """An audio stream's :class:`EventFrames`: each piece as ``piece`` frames it, then
    ``tail(response)``; OpenAI's ``error`` event, and a comment to keep alive."""

    piece: Callable[[Any], bytes]
    tail: Callable[[Any], bytes]
    errors: Dialect

    def event(self, piece: Any) -> bytes:
        return self.piece(piece)

    def end(self, response: Any) -> bytes:
        return self.tail(response)

    def error(self, error: RelayError) -> bytes:
        return error_event(error, self.errors)

    def keepalive(self) -> bytes:
        return SSE_COMMENT


async def send_events(
    send: Send,
    stream: Any,
    frames: EventFrames,
    *,
    ending: Callable[[], bool],
    head_seconds: float,
    ping_seconds: float,
    done: Callable[[Any], Awaitable[None]] | None = None,
) -> None:
    """Answer with ``stream`` (a relaykit stream, not yet entered) as server-sent
    events, as ``frames`` renders them: the one way every streamed answer of events
    goes out (chat on each route, speech and transcripts).

    Entering sends the request, retrying and falling back, with the head held
    meanwhile (:class:`HeldHead`): it goes out once the first piece is here (with
    :func:`_who`'s headers), or anyway after ``head_seconds``, then a comment each
    ``ping_seconds`` until the first piece. A relaykit error before the first piece
    is raised as it came while the head has not gone out (the caller answers it as
    a plain error response); once the head is out it ends the stream as
    ``frames.error``'s event. After the first piece, ``frames.keepalive()`` goes out
    after each ``ping_seconds`` of silence (:class:`PacedSender`); the stream's end
    is ``frames.end(response)``, once ``done(response)`` (if given) has run. A
    failure then ends it as its error event (and the operator's log says why), and
    the gateway ending the call as it stops (``ending()`` says it is: its drain's
    time is up) as the error event of :class:`ShuttingDown`, the cancellation going
    on (the call's record says it was cancelled). Anything else (a bug of ours) is
    raised as it came.
    """
    head = HeldHead(send, EVENT_STREAM, SSE_COMMENT, head_seconds, ping_seconds)
    failure: BaseException | None = None
    async with anyio.create_task_group() as holding:
        # Everything is caught in here: nothing but a cancellation leaves the task
        # group (a failure would leave it wrapped in an exception group).
        holding.start_soon(head.hold)
        try:
            await _paced_events(send, stream, head, frames, ending, ping_seconds, done)
        except RelayError as error:  # before the first piece
            if head.streaming or not await head.release():
                failure = error
            else:  # the head went out while it waited: the stream ends as its error event
                last = frames.error(error)
                await send({"type": "http.response.body", "body": last, "more_body": False})
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(ENDING_SECONDS):
                holding.cancel_scope.cancel()
                if ending() and await head.release() and not head.streaming:
                    await send_more(send, frames.error(ShuttingDown()))
            raise
        except Exception as error:  # a bug of ours: raised as it came
            failure = error
        finally:
            holding.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _paced_events(
    send: Send,
    stream: Any,
    head: HeldHead,
    frames: EventFrames,
    ending: Callable[[], bool],
    ping_seconds: float,
    done: Callable[[Any], Awaitable[None]] | None,
) -> None:
    """Enter ``stream`` (``head`` held meanwhile), then send its pieces' events, with a
    keep-alive after each silence of ``ping_seconds``."""
    async with stream:
        await head.open(_who(stream))
        paced = PacedSender(send, frames.keepalive, ping_seconds)
        failure: Exception | None = None
        async with anyio.create_task_group() as pinging:
            # As the holding task group: nothing but a cancellation leaves it, and the
            # pings stop before the last frame.
            pinging.start_soon(paced.keep_alive)
            try:
                async for item in stream:
                    framed = frames.event(item)
                    if framed:
                        await paced.send(framed)
                end = frames.end(stream.response)
                if done is not None:
                    await done(stream.response)
            except RelayError as error:  # broke after it started
                logger.warning("gateway stream broke: %s: %s", type(error).__name__, error)
                end = frames.error(error)
            except anyio.get_cancelled_exc_class():
                if ending():
                    # Without it the stream just ended: a caller could not tell a cut
                    # answer from a whole one. The cancellation goes on, so the call's
                    # record says it was cancelled.
                    with anyio.CancelScope(shield=True), anyio.move_on_after(ENDING_SECONDS):
                        pinging.cancel_scope.cancel()
                        await paced.send(frames.error(ShuttingDown()))
                raise
            except Exception as error:  # a bug of ours: raised as it came
                failure = error
            finally:
                pinging.cancel_scope.cancel()
        if failure is not None:
            raise failure
        await send({"type": "http.response.body", "body": end, "more_body": False})


def raw(chunk: bytes) -> bytes:
    """A piece of raw audio, framed as itself."""
    return chunk


def no_tail(response: Any) -> bytes:
    """Nothing after the last piece (raw audio)."""
    return b""


async def send_lines(
    send: Send,
    client: Client,
    batch_id: str,
    line: Callable[[BatchResult], bytes | None],
    errors: Dialect,
    headers: Headers,
) -> None:
    """The results of the batch ``batch_id`` as JSONL, each line (``line(result)``; none
    for ``None``) sent as the provider's result file yields it (never the whole file
    in memory).

    A batch without results (not ended, failed, unknown) gets a plain error
    response in the ``errors`` dialect: the first result is read before the answer
    starts. A failure after that ends the body early (the log says why): JSONL has
    no way to say so.
    """
    async with aclosing(client.batch_results(batch_id)) as results:
        try:
            first = await anext(results, None)
        except RelayError as error:
            await send_error(send, errors, error)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            if first is not None:
                rendered = line(first)
                if rendered:
                    await send_more(send, rendered)
                async for result in results:
                    rendered = line(result)
                    if rendered:
                        await send_more(send, rendered)
        except RelayError as error:
            logger.warning("gateway batch results broke: %s: %s", type(error).__name__, error)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
