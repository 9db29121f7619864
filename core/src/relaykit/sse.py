"""A server-sent events decoder that takes bytes in whatever chunks they arrive.

Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR (a CRLF split
across two chunks is still one line end); ``data:`` lines accumulate with
``\\n``; a line starting with ``:`` is a comment; one leading space after the
colon is dropped; a blank line dispatches the event if it has data; one UTF-8
byte-order mark at the very start of the stream is dropped (even split across chunks).

Providers feed it from ``response.aiter_bytes()`` (which undoes gzip) inside their own ``stream``
generator rather than through a nested async generator, so that closing the
provider's stream closes everything at once, under asyncio and trio alike.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEDecoder", "ServerSentEvent"]


class ServerSentEvent(NamedTuple):
    """One dispatched event. ``event`` is ``"message"`` unless the server named it."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


#: builds a ServerSentEvent from a 4-tuple in C (the NamedTuple's own __new__ is Python)
_new_event = tuple.__new__

_BOM = b"\xef\xbb\xbf"  # U+FEFF in UTF-8

# What ``_head`` holds: what to check at the start of the next chunk. A non-zero
# value already kept a chunk off the fast path, so the BOM check costs it nothing.
_NOTHING = 0
_LF = 1  # the previous chunk ended in CR; a leading LF is its pair
_STREAM_START = 2  # no byte seen yet: a leading BOM is dropped


class SSEDecoder:
    """Incremental decoder: :meth:`feed` bytes, get the events they complete."""

    __slots__ = ("_buf", "_data", "_event", "_head", "_id", "_retry")

    def __init__(self) -> None:
        self._buf = b""
        self._head = _STREAM_START  # _NOTHING, _LF or _STREAM_START (see above)
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk``; return the events it completes (often none or one)."""
        if not chunk:
            return []  # an empty chunk between a CR and its LF leaves them a pair
        if (
            chunk[-1] == 10  # LF
            and 13 not in chunk  # CR (an int is found with memchr; b"\r" is not)
            and not (self._buf or self._data or self._head)
        ):
            # Nearly every chunk of an LLM stream is one whole event of one data
            # line, with nothing held from the chunk before: what the lines below
            # make of it, without splitting it into lines and looping over them.
            # Unnamed (OpenAI: "data: ...\n\n") or named (Anthropic: "event:
            # NAME\ndata: ...\n\n"); anything else takes the general path.
            first = chunk.find(10)
            blank = len(chunk) - 2  # where the data line's LF must be: then the blank line
            if first == blank:
                if chunk.startswith(b"data: "):
                    name = self._event or "message"
                    self._event = ""
                    text = chunk[6:blank].decode("utf-8", "replace")
                    return [_new_event(ServerSentEvent, (name, text, self._id, self._retry))]
            elif (
                chunk.startswith(b"event: ")
                and chunk.startswith(b"data: ", first + 1)
                and chunk.find(10, first + 1) == blank
            ):
                # The event line sets the name whatever an earlier chunk named.
                name = chunk[7:first].decode("utf-8", "replace") or "message"
                self._event = ""
                text = chunk[first + 7 : blank].decode("utf-8", "replace")
                return [_new_event(ServerSentEvent, (name, text, self._id, self._retry))]
        if self._head:
            if self._head == _LF:
                self._head = _NOTHING
                if chunk[:1] == b"\n":
                    chunk = chunk[1:]
                    if not chunk:
                        return []
            else:
                # The stream's first bytes, once: WHATWG drops one leading BOM. Bytes
                # that may be the start of a BOM wait in _buf for the next chunk.
                chunk = self._buf + chunk
                self._buf = b""
                if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                    self._buf = chunk
                    return []
                self._head = _NOTHING
                if chunk.startswith(_BOM):
                    chunk = chunk[len(_BOM) :]
                    if not chunk:
                        return []
        buf = self._buf + chunk if self._buf else chunk
        # bytes.splitlines() ends lines at CR, LF and CRLF, as the rules say; whether
        # the last line is complete shows in the last byte of the buffer.
        lines = buf.splitlines()
        end = buf[-1:]
        if end == b"\r":
            self._head = _LF
            self._buf = b""
        elif end == b"\n":
            self._buf = b""
        else:
            self._buf = lines.pop()
        out: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if not data:
                    self._event = ""
                elif len(data) == 1:
                    # Nearly every event of an LLM stream: one data line, unnamed
                    # (OpenAI) or named (Anthropic). What _dispatch makes, without
                    # its call and join.
                    name = self._event or "message"
                    out.append(_new_event(ServerSentEvent, (name, data[0], self._id, self._retry)))
                    data.clear()
                    self._event = ""
                else:
                    out.append(self._dispatch())
                    data = self._data
            elif line.startswith(b"data: "):  # nearly every line of an LLM stream
                data.append(line[6:].decode("utf-8", "replace"))
            elif line.startswith(b"event: "):  # the rest of a named event's lines
                self._event = line[7:].decode("utf-8", "replace")
            else:
                self._field(line)
        return out

    def flush(self) -> list[ServerSentEvent]:
        """End of input: a final line without a line end still counts (many servers omit it)."""
        if self._buf:
            self._field(self._buf)
            self._buf = b""
        return [self._dispatch()] if self._data else []

    def _field(self, line: bytes) -> None:
        # Nearly every line of an LLM stream; the general case below gives the same.
        if line.startswith(b"data: "):
            self._data.append(line[6:].decode("utf-8", "replace"))
            return
        if line[:1] == b":":
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> ServerSentEvent:
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = ServerSentEvent(self._event or "message", data, self._id, self._retry)
        self._data = []
        self._event = ""
        return event
