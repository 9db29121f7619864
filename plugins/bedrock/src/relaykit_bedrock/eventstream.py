"""An incremental decoder for the AWS event-stream framing (``application/vnd.amazon.eventstream``).

ConverseStream answers with binary messages, not SSE. Each message is::

    total length (4) | headers length (4) | prelude CRC32 (4)
    headers (headers length bytes) | payload | message CRC32 (4)

all integers big-endian. The prelude CRC covers the first 8 bytes; the message
CRC covers everything before it. A header is a one-byte name length, the name,
a one-byte value type and the value (see :data:`_FIXED_SIZES`; strings and
byte arrays carry a two-byte length).

:class:`EventStreamDecoder` takes bytes cut at any boundary and returns whole
messages once both CRCs check out.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from typing import TypeAlias

import attrs

HeaderValue: TypeAlias = bool | int | bytes | str | uuid.UUID

_PRELUDE = 12  # total length, headers length, prelude CRC
_MIN_MESSAGE = _PRELUDE + 4  # an empty message: prelude plus message CRC
# The service's own limits are 16 MiB of payload and 128 KiB of headers; a
# length far above that means we are not reading an event stream at all.
MAX_MESSAGE = 24 * 1024 * 1024

# Value type -> size of the fixed-width value that follows it.
_FIXED_SIZES = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_INT_FORMATS = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}
TYPE_BYTES = 6
TYPE_STRING = 7


class EventStreamError(ValueError):
    """The bytes are not a valid event stream: a CRC mismatch or an impossible length."""


@attrs.frozen
class EventStreamMessage:
    """One decoded message: its headers (names as sent) and its raw payload."""

    headers: Mapping[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        """A header's value as text, or ``None`` when absent."""
        value = self.headers.get(name)
        if value is None:
            return None
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    @property
    def message_type(self) -> str:
        """``event``, ``exception`` or ``error`` (``:message-type``)."""
        return self.header(":message-type") or "event"

    @property
    def event_type(self) -> str | None:
        """The event's name, e.g. ``contentBlockDelta`` (``:event-type``)."""
        return self.header(":event-type")

    @property
    def exception_type(self) -> str | None:
        """The exception's name, e.g. ``throttlingException`` (``:exception-type``)."""
        return self.header(":exception-type")


class EventStreamDecoder:
    """Feed it bytes as they arrive; it returns the messages they complete.

    One read may carry whole messages and then a corrupt one (aiohttp hands
    over whatever is buffered): the messages come back first, and the
    :class:`EventStreamError` is raised by the next :meth:`feed` or :meth:`close`.
    """

    __slots__ = ("_buf", "_error")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._error: EventStreamError | None = None  # held back behind the messages before it

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message held back, waiting for the rest."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """Decode the messages ``data`` completes; :class:`EventStreamError` on corruption."""
        self._raise_pending()
        buf = self._buf
        buf += data
        out: list[EventStreamMessage] = []
        pos = 0
        try:
            while len(buf) - pos >= _PRELUDE:
                total, headers_len, prelude_crc = struct.unpack_from(">III", buf, pos)
                if zlib.crc32(memoryview(buf)[pos : pos + 8]) != prelude_crc:
                    raise EventStreamError("event-stream prelude CRC mismatch")
                if not _MIN_MESSAGE <= total <= MAX_MESSAGE or headers_len > total - _MIN_MESSAGE:
                    raise EventStreamError(
                        f"event-stream message length {total} (headers {headers_len}) is impossible"
                    )
                if len(buf) - pos < total:
                    break
                end = pos + total
                (message_crc,) = struct.unpack_from(">I", buf, end - 4)
                if zlib.crc32(memoryview(buf)[pos : end - 4]) != message_crc:
                    raise EventStreamError("event-stream message CRC mismatch")
                headers_start = pos + _PRELUDE
                payload_start = headers_start + headers_len
                headers = _headers(bytes(buf[headers_start:payload_start]))
                out.append(EventStreamMessage(headers, bytes(buf[payload_start : end - 4])))
                pos = end
        except EventStreamError as e:
            if not out:
                raise
            self._error = e
        if pos:
            del buf[:pos]
        return out

    def close(self) -> None:
        """End of input: raise the error held back from the last :meth:`feed`, if any."""
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def _headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos, end = 0, len(data)
    try:
        while pos < end:
            name_len = data[pos]
            name = data[pos + 1 : pos + 1 + name_len].decode("utf-8")
            pos += 1 + name_len
            kind = data[pos]
            pos += 1
            value: HeaderValue
            if kind in (TYPE_BYTES, TYPE_STRING):
                (size,) = struct.unpack_from(">H", data, pos)
                raw = data[pos + 2 : pos + 2 + size]
                if len(raw) != size:
                    raise EventStreamError(f"event-stream header {name!r} is truncated")
                value = raw.decode("utf-8") if kind == TYPE_STRING else raw
                pos += 2 + size
            elif kind in _FIXED_SIZES:
                size = _FIXED_SIZES[kind]
                raw = data[pos : pos + size]
                if len(raw) != size:
                    raise EventStreamError(f"event-stream header {name!r} is truncated")
                if kind in (0, 1):
                    value = kind == 0
                elif kind == 9:
                    value = uuid.UUID(bytes=raw)
                else:
                    (value,) = struct.unpack(_INT_FORMATS[kind], raw)
                pos += size
            else:
                raise EventStreamError(f"event-stream header {name!r} has unknown type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as e:
        raise EventStreamError(f"event-stream headers are malformed: {e}") from e
    return headers
