"""The ASGI messages the gateway reads and sends: a request's headers and body in, a
response's start and body out.

Nothing here knows a vendor API or a relaykit call: :mod:`relaykit_gateway.replies`
sends a call's answer or failure with these, and :mod:`relaykit_gateway.app`
routes the requests. anyio only, so any ASGI server runs it, under asyncio or
trio.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import anyio

from relaykit import InvalidRequestError
from relaykit.json_encode import dumps

from .whole_numbers import whole_number

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = (b"content-type", b"application/json")
#: how Anthropic serves a batch's results
JSONL: Headers = [
    (b"content-type", b"application/x-jsonl"),
    (b"content-disposition", b'attachment; filename="results.jsonl"'),
]
EVENT_STREAM: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]
#: how OpenAI serves a file's content
OCTETS: Headers = [(b"content-type", b"application/octet-stream")]


class Problem(Exception):
    """A request the gateway refuses before any call: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HungUp(Exception):
    """The caller went away before its request had fully arrived."""


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by name (ASGI servers give names lower-cased); a repeated
    header keeps its last value."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


async def read_body(receive: Receive, headers: dict[str, str], max_bytes: int) -> bytes:
    """The whole request body, refused (413) past ``max_bytes``."""
    # not a number (another script's digits, thousands of them): the reads are
    # counted all the same
    length = whole_number(headers.get("content-length", ""))
    if length is not None and length > max_bytes:
        raise Problem(413, _too_large(max_bytes))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HungUp
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise Problem(413, _too_large(max_bytes))
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def read_json(receive: Receive, headers: dict[str, str], max_bytes: int) -> Any:
    """The request body parsed as JSON (:func:`read_body`'s limit); a 400 if it is not."""
    body = await read_body(receive, headers, max_bytes)
    try:
        parsed = json.loads(body)
    except ValueError as e:
        raise InvalidRequestError(f"the request body is not JSON: {e}", param="body") from e
    except RecursionError as e:
        # Arrays or objects nested thousands deep (a few KB of brackets): the parser
        # recurses once a level. No request the gateway serves nests like that.
        raise InvalidRequestError(
            "the request body nests arrays or objects too deep to read", param="body"
        ) from e
    if _SURROGATE_ESCAPE.search(body) is not None:
        _check_text(parsed)
    return parsed


#: a JSON escape of a UTF-16 surrogate (``\ud800`` to ``\udfff``): a high one then a low
#: one make one character; either alone is half of one. Only bodies with such an escape
#: (emoji, escaped as ASCII JSON) pay for :func:`_check_text`.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_text(parsed: Any) -> None:
    """Refuse a body whose strings hold a lone surrogate: Python's parser takes one, but
    it is no text. UTF-8 cannot encode it, so the call's record could not be stored
    (the client's close failed on it), and Anthropic refuses such a body as not JSON."""
    try:
        json.dumps(parsed, ensure_ascii=False).encode()
    except UnicodeEncodeError as e:
        half = ascii(e.object[e.start : e.end]).strip("'")
        raise InvalidRequestError(
            f"the request body is not JSON text: it escapes {half}, half of a character"
            " (a UTF-16 surrogate without its pair)",
            param="body",
        ) from None


def _too_large(max_bytes: int) -> str:
    return f"the request body is larger than the gateway's {max_bytes} bytes"


async def body_chunks(receive: Receive) -> AsyncGenerator[bytes, None]:
    """A request's body as it arrives (an upload: never all of it in memory)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HungUp
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` once the caller hangs up."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def send_json(
    send: Send, status: int, body: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A whole response: ``body`` as JSON, with ``headers`` besides its own."""
    payload = dumps(body)
    start_headers = [JSON, (b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": payload})


async def send_text(send: Send, text: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A whole 200 response of plain text, with ``headers`` besides its own."""
    payload = text.encode()
    start_headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": start_headers})
    await send({"type": "http.response.body", "body": payload})


async def send_more(send: Send, frames: bytes) -> None:
    """A piece of a response body, with more to come."""
    await send({"type": "http.response.body", "body": frames, "more_body": True})


def with_headers(send: Send, extra: Headers) -> Send:
    """``send`` adding ``extra`` to the response's headers."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan: nothing to set up or tear down (the client is the
    caller's to open and close)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
