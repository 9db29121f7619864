"""Calls to OpenAI's Responses API (``POST /responses``), for :class:`OpenAIProvider`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from relaykit import ChatRequest, ChatResponse, SSEDecoder, StreamError, json_decode, json_encode
from relaykit.events import StreamEvent
from relaykit.http_errors import (
    error_from_http,
    error_in_answer,
    refuse_document_stream,
)
from relaykit.json_decode import wrong_shape

from . import responses_wire
from .body_end import read_to_end

if TYPE_CHECKING:
    from relaykit.http import HttpClient


async def chat(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    provider: str,
    request: ChatRequest,
    body: bytes,
) -> ChatResponse:
    """One non-streamed Responses call, sending ``body`` (the provider's, checked
    before this: see ``OpenAIProvider._responses_body``)."""
    r = await http.post(url, content=body, headers=headers)
    if r.status_code >= 400:
        raise error_from_http(
            r.status_code, r.headers, r.content, provider=provider, model=request.model
        )
    data = json_decode.loads(r.content)
    if isinstance(data, dict) and data.get("status") == "failed":
        # A failure reported with status 200: an error, not an empty answer; the
        # typed one of its code (a rate limit, a refused prompt), else a 502's.
        failed = {"response": data}
        message = responses_wire.stream_failure("response.failed", failed)
        status = responses_wire.failure_status("response.failed", failed)
        raise error_from_http(
            status, r.headers, _error_body(message), provider=provider, model=request.model
        )
    error = error_in_answer(
        data, r.headers, r.content, answer=("output",), provider=provider, model=request.model
    )
    if error is not None:  # an error object sent with status 200, as some proxies do
        raise error
    return responses_wire.response(data)


async def stream(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    provider: str,
    request: ChatRequest,
    body: Callable[[], bytes],
) -> AsyncIterator[StreamEvent]:
    """One streamed Responses call, sending what ``body()`` makes (when iterated, as
    Chat Completions streams make theirs): typed SSE events until ``response.completed``."""
    async with http.stream("POST", url, content=body(), headers=headers) as r:
        if r.status_code >= 400:
            await r.aread()
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=provider, model=request.model
            )
        await refuse_document_stream(  # a page, an error object
            r, expected="an event stream", provider=provider, model=request.model
        )
        decoder = SSEDecoder()
        state = responses_wire.StreamState()
        loads = json_decode.loads
        event_events = responses_wire.event_events
        async with aclosing(r.aiter_bytes()) as chunks:  # type: ignore[type-var]
            async for raw in chunks:
                for sse in decoder.feed(raw):
                    data = loads(sse.data)
                    try:  # _event_type, inline: this runs for every event
                        kind = data.get("type") or sse.event
                    except AttributeError as e:
                        raise wrong_shape(f"a {sse.event} event", e) from e
                    failure = responses_wire.stream_failure(kind, data)
                    if failure is not None:
                        raise _failed(failure, kind, data, provider, request.model)
                    for event in event_events(kind, data, state):
                        yield event
                    if state.finished:
                        # Read the end of the body, so the connection goes back to
                        # the pool (as after Chat Completions' [DONE]).
                        await read_to_end(chunks, r)
                        return
        # The body ended before response.completed: its last event may lack the
        # blank line that ends it; anything else means the stream was cut short.
        for sse in decoder.flush():
            try:
                data = loads(sse.data)
            except ValueError:
                raise StreamError(
                    "the stream ended part way through an event, before response.completed",
                    provider=provider,
                    model=request.model,
                ) from None
            kind = _event_type(data, sse.event)
            failure = responses_wire.stream_failure(kind, data)
            if failure is not None:
                raise _failed(failure, kind, data, provider, request.model)
            for event in event_events(kind, data, state):
                yield event
        if not state.finished:
            raise StreamError(
                "the stream ended before response.completed", provider=provider, model=request.model
            )


def _failed(
    message: str, kind: str, data: dict[str, Any], provider: str, model: str
) -> StreamError:
    """The error for the failure event ``kind`` in a stream: with the status its code
    stands for, which makes it that typed error before any text reached the caller."""
    status = responses_wire.failure_status(kind, data)
    return StreamError(
        message,
        provider=provider,
        model=model,
        status=status,
        provider_message=message,
        # The core does not retry a started stream, but a caller may: say whether it helps.
        retryable=status == 429 or status >= 500,
    )


def _event_type(data: Any, named: str) -> str:
    """An event's ``type`` (or the SSE event name it came under); a ``ValueError`` for
    an event that is not an object."""
    try:
        return data.get("type") or named
    except AttributeError as e:
        raise wrong_shape(f"a {named} event", e) from e


def _error_body(message: str | None) -> bytes:
    return json_encode.dumps({"error": {"message": message or "the response failed"}})
