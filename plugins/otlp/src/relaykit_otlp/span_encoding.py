"""OTLP protobuf for a batch of lean spans, written straight from their records.

The SDK's path turns every span into a ``ReadableSpan``, then builds a tree
of protobuf message objects from it (two objects per attribute) and
serializes the tree: ~40-120 µs per relaykit span (by the machine's load),
most of the export thread's CPU (docs/benchmarks-observability.md). This
writes the protobuf wire format itself, ~7 µs per span: a span is a few
length-prefixed byte strings joined; the resource and each instrumentation
scope are encoded once per queue and reused; the attributes seen before (same
key, same value of the same type) are found in one pass of dict look-ups in C
(``bench/otlp_thread.py`` counts ~53 k instructions per realistic span on the
unoptimised interpreter of the session-9 VM, ~79 k with a Python loop per
attribute). (Building the ``opentelemetry.proto`` messages straight from the
lean spans instead costs ~29 µs per span.)
The queue's export lock keeps one thread at a time in an encoder.

What it writes is what the SDK's encoder writes for the span the SDK's path
would have built (the parity tests compare the bytes): the same fields in
the same order, the same defaults left out, the same span limits applied
through the SDK's own ``BoundedAttributes`` (their warnings and dropped
counts), and an attribute value the SDK's encoder refuses (an int outside
int64) is left out with the same log line. Not so a str that is not valid
UTF-8 (a lone surrogate), which the SDK leaves out too, or fails the batch
with: it is written with the surrogate's escape (see :func:`_utf8`).
The message layouts are those of ``opentelemetry/proto/trace/v1/trace.proto``
and ``common/v1/common.proto`` (field numbers in the tags below).
"""

from __future__ import annotations

import logging
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind
from opentelemetry.trace.span import DEFAULT_TRACE_STATE, TraceState

from .lean_spans import UNSET as _UNSET

if TYPE_CHECKING:
    from .lean_spans import LeanSpan, SpanFields

# The SDK's encoder logs a value it cannot encode under its own name: so does this.
_encoder_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.common._internal")

_pack_fixed64 = struct.Struct("<Q").pack
_pack_double = struct.Struct("<d").pack
#: a span's start and end times, with their tags, in one call
_pack_times = struct.Struct("<BQBQ").pack
_SMALL = [bytes((n,)) for n in range(128)]
_INT64 = (-(1 << 63), 1 << 63)


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8, a lone surrogate written as its ``\\udxxx`` escape.

    The SDK's encoder raises on such a text: for a span's name or status
    message that fails the whole batch (every other span in it is never sent);
    an attribute value it logs and leaves out, captured messages and all. A
    name holds the caller's model id, and a str may hold half an emoji (text
    cut at a UTF-16 boundary). Inside captured JSON the escape is JSON's own,
    so the attribute still decodes to the text.
    """
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _varint(n: int) -> bytes:
    """A non-negative int as a protobuf varint."""
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:  # a span's length, most often: two bytes without a loop
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field: its tag, the body's length, the body."""
    return tag + _varint(len(body)) + body


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message, as the SDK's ``_encode_value`` fills it (oneof fields
    are written even when zero or empty; None is the empty message)."""
    kind = type(value)
    if kind is str:
        try:
            return _field(b"\x0a", value.encode())
        except UnicodeEncodeError:  # a lone surrogate: see _utf8 (the SDK leaves it out)
            return _field(b"\x0a", _utf8(value))
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        return b"\x18" + _int64(value)
    if kind is float:
        return b"\x21" + _pack_double(value)
    if value is None:
        return b""
    # Subclasses, sequences and mappings: the SDK encoder's order of checks.
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", _utf8(value))
    if isinstance(value, int):
        return b"\x18" + _int64(value)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        pairs = b"".join(_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items())
        return _field(b"\x32", pairs)
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _int64(value: int) -> bytes:
    low, high = _INT64
    if not low <= value < high:
        raise ValueError(f"Value out of range: {value}")  # as protobuf refuses it
    return _varint(value if value >= 0 else value + (1 << 64))


def _key_value(key: str, value: Any) -> bytes:
    """A ``KeyValue`` message."""
    name = _field(b"\x0a", key.encode()) if key else b""
    return name + _field(b"\x12", _any_value(value))


#: Encoded attributes kept per encoder (see :class:`SpanEncoder`); the longest str kept.
_PAIRS_MAX = 4096
_CACHED_LENGTH = 256

#: Where an attribute's encoded field is kept: (key, value, type of the value), the
#: type because equal values of other types encode differently (1, 1.0 and True).
_Pairs = dict[tuple[Any, Any, type], bytes]


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None, pairs: _Pairs) -> list[bytes]:
    """Each attribute as a field (``tag``) holding a ``KeyValue``; one the SDK's
    encoder could not encode is logged and left out, as there. ``pairs`` keeps the
    field of each (key, value, type) of a small plain value, for this ``tag`` only."""
    if not attributes:
        return []
    found = _look_up(attributes, pairs)
    if None in found:
        _fill(tag, attributes, pairs, found)
    return found


def _look_up(attributes: Mapping[str, Any], pairs: _Pairs) -> list[Any]:
    """The field of each attribute kept in ``pairs``, None for the others.

    The look-ups run in one pass in C (``map`` over ``zip``): most attributes of
    a span were seen before (the model, the operation, the server, the token
    counts), and a Python loop over them cost more than the encoding it saved.
    """
    values = attributes.values()
    try:
        # zip's strict= costs a keyword argument per call; the lengths are equal
        return list(map(pairs.get, zip(attributes, values, map(type, values))))  # noqa: B905
    except TypeError:  # an unhashable value: none is kept, all are encoded
        return [None] * len(attributes)


def _fill(
    tag: bytes,
    attributes: Mapping[str, Any],
    pairs: _Pairs,
    found: list[Any],
    *,
    any_key: bool = True,
) -> bool:
    """Encode the attributes :func:`_look_up` did not find (None in ``found``) into
    ``found``, keeping the small plain ones in ``pairs``; one the SDK's encoder
    could not encode is logged and left out (an empty field), as there.

    Without ``any_key``, False (and ``found`` incomplete) at the first key that is
    not a non-empty str: the attributes need the SDK's ``BoundedAttributes``.
    """
    keys = list(attributes)  # not items(): most often one attribute is missing
    index = -1
    for _ in range(found.count(None)):
        index = found.index(None, index + 1)
        key = keys[index]
        if not any_key and (type(key) is not str or not key):
            return False
        value = attributes[key]
        try:
            pair = _key_value(key, value)
        except Exception as error:
            _encoder_logger.exception("Failed to encode key %s: %s", key, error)
            found[index] = b""
            continue
        field = tag + _varint(len(pair)) + pair
        found[index] = field
        kind = type(value)
        if kind is str:
            cached = len(value) <= _CACHED_LENGTH  # not a captured prompt
        elif kind is float:
            cached = value != 0.0  # -0.0 and 0.0 are one dict key, and two encodings
        elif kind is tuple:
            # ("stop",): equal tuples of str are the same text (not so (1,) and (True,))
            cached = len(value) == 1 and type(value[0]) is str and len(value[0]) <= 64
        else:
            cached = kind is int or kind is bool
        if cached:
            if len(pairs) >= _PAIRS_MAX:
                pairs.clear()
            pairs[key, value, kind] = field
    return True


def _dropped(tag: bytes, count: int) -> bytes:
    return tag + _varint(count) if count else b""


def _dropped_of(attributes: Any) -> int:
    return attributes.dropped if isinstance(attributes, BoundedAttributes) else 0


def _trace_state(state: TraceState | None) -> bytes:
    if not state:
        return b""
    return _field(b"\x1a", ",".join(f"{k}={v}" for k, v in state.items()).encode())


def _flags(context: SpanContext | None) -> bytes:
    """The ``flags`` of a span (of its parent's context) or a link, as the SDK sets them:
    the context's remoteness is known (0x100), and it is remote (0x200)."""
    return b"\x00\x03\x00\x00" if context and context.is_remote else b"\x00\x01\x00\x00"


def needs_bounding(
    attributes: Mapping[str, Any] | None, most: int | None, length: int | None
) -> bool:
    """Whether the SDK's ``BoundedAttributes`` would change ``attributes``.

    Their values are plain or were cleaned when set (see :mod:`.lean_spans`); so
    when no key is empty or other than a str, none is over the count limit and
    no length limit applies, they are exported as they are, without a second pass.
    """
    if not attributes:
        return False
    return not (
        length is None
        and (most is None or len(attributes) <= most)
        and "" not in attributes
        and _STR.issuperset(map(type, attributes))
    )


_STR = frozenset({str})


def span_attributes(
    attributes: Mapping[str, Any], dropped: int, limits: SpanLimits
) -> Mapping[str, Any]:
    """A span's attributes as the SDK's span keeps them: a copy (a late set from
    another thread cannot break the iteration), through the SDK's
    ``BoundedAttributes`` when a limit applies or some were dropped when set."""
    kept: Mapping[str, Any] = dict(attributes)
    if dropped or needs_bounding(
        kept, limits.max_span_attributes, limits.max_span_attribute_length
    ):
        bounded = BoundedAttributes(
            limits.max_span_attributes,
            kept,
            immutable=True,
            max_value_len=limits.max_span_attribute_length,
        )
        bounded.dropped += dropped
        return bounded
    return kept


#: ``Span.kind`` fields (OTLP counts from 1, SPAN_KIND_INTERNAL; the API from 0), by the
#: member's id: an ``Enum`` member's hash is a Python call
_KINDS = {id(kind): b"\x30" + _varint(kind.value + 1) for kind in SpanKind}
_STATUS_CODES = {0: b"", 1: b"\x18\x01", 2: b"\x18\x02"}
#: a span's ``flags`` with no parent or a local one, and with a remote parent
_LOCAL_FLAGS = b"\x85\x01\x00\x01\x00\x00"
_REMOTE_FLAGS = b"\x85\x01\x00\x03\x00\x00"


class SpanEncoder:
    """Encodes batches of ended lean spans as one ``ExportTraceServiceRequest``."""

    def __init__(self, resource: Resource, limits: SpanLimits) -> None:
        self.limits = limits
        # The same attributes come back span after span (the model, the operation,
        # the server): each is encoded once (the cache is emptied when it fills up),
        # one cache per kind of field (a span's, an event's, a link's attributes).
        self._span_pairs: _Pairs = {}
        self._event_pairs: _Pairs = {}
        self._link_pairs: _Pairs = {}
        self._names: dict[str, bytes] = {}
        resource_body = b"".join(_attributes(b"\x0a", resource.attributes, {}))
        #: the ``resource`` field of the batch's ``ResourceSpans``, encoded once
        self._resource = _field(b"\x0a", resource_body)
        schema = resource.schema_url
        self._resource_schema = _field(b"\x1a", schema.encode()) if schema else b""
        self._scopes: dict[InstrumentationScope, tuple[bytes, bytes]] = {}
        # Whether a span's attributes, as kept when set, may need the SDK's
        # BoundedAttributes at export: only past the count limit, or with a length
        # limit (see needs_bounding, which this inlines).
        self._most = (
            sys.maxsize if limits.max_span_attributes is None else limits.max_span_attributes
        )
        self._length_limited = limits.max_span_attribute_length is not None

    def _scope(self, scope: InstrumentationScope) -> tuple[bytes, bytes]:
        """What a ``ScopeSpans`` holds before its spans (the ``scope`` field) and after
        them (``schema_url``), encoded once per scope."""
        found = self._scopes.get(scope)
        if found is None:
            body = b"".join(
                (
                    _field(b"\x0a", scope.name.encode()) if scope.name else b"",
                    _field(b"\x12", scope.version.encode()) if scope.version else b"",
                    *_attributes(b"\x1a", scope.attributes, {}),
                )
            )
            schema = scope.schema_url
            found = (_field(b"\x0a", body), _field(b"\x1a", schema.encode()) if schema else b"")
            self._scopes[scope] = found
        return found

    def encode(self, spans: Iterable[LeanSpan]) -> bytes:
        """The serialized ``ExportTraceServiceRequest`` of ``spans`` (one resource; the
        spans grouped by instrumentation scope in the order the scopes first appear)."""
        # Grouped by the tracer that started them (an identity look-up), not by their
        # scope (whose hash is a Python call per span): a provider has one tracer per
        # scope, so the groups are the scopes'.
        if not isinstance(spans, list):
            spans = list(spans)  # gone through twice when two tracers share a scope
        by_tracer: dict[Any, list[bytes]] = {}
        encode = self._span
        for span in spans:
            fields = span.fields()
            encoded = by_tracer.get(fields[0])
            if encoded is None:
                encoded = by_tracer[fields[0]] = []
            body = encode(fields)
            encoded.append(b"\x12")  # ScopeSpans.spans
            encoded.append(_varint(len(body)))
            encoded.append(body)
        if not by_tracer:
            return b""
        by_scope: dict[InstrumentationScope, list[bytes]] = {}
        for tracer, encoded in by_tracer.items():
            found = by_scope.get(tracer.scope)
            if found is None:
                by_scope[tracer.scope] = encoded
            else:
                # Two tracers of one scope (not from one provider): the SDK's order
                # within the scope is the spans' own, so they are grouped again.
                return self._encode_by_scope(spans)
        scope_spans = []
        for scope, encoded in by_scope.items():
            head, tail = self._scope(scope)
            scope_spans.append(_field(b"\x12", head + b"".join(encoded) + tail))
        return _field(b"\x0a", self._resource + b"".join(scope_spans) + self._resource_schema)

    def _encode_by_scope(self, spans: Iterable[LeanSpan]) -> bytes:
        by_scope: dict[InstrumentationScope, list[bytes]] = {}
        for span in spans:
            encoded = by_scope.setdefault(span.scope, [])
            body = self.span(span)
            encoded += (b"\x12", _varint(len(body)), body)
        scope_spans = []
        for scope, encoded in by_scope.items():
            head, tail = self._scope(scope)
            scope_spans.append(_field(b"\x12", head + b"".join(encoded) + tail))
        return _field(b"\x0a", self._resource + b"".join(scope_spans) + self._resource_schema)

    def _name(self, name: str) -> bytes:
        """The ``name`` field (a span's name is most often one of a few: kept)."""
        found = self._names.get(name)
        if found is None:
            found = _field(b"\x2a", _utf8(name)) if name else b""
            if len(self._names) >= _PAIRS_MAX:
                self._names.clear()
            self._names[name] = found
        return found

    def span(self, span: LeanSpan) -> bytes:
        """One ``Span`` message, with the SDK's span limits applied."""
        return self._span(span.fields())

    def _span(self, fields: SpanFields) -> bytes:
        (_, name, context, parent, kind, start, end, attributes, dropped, events, links, status) = (
            fields
        )
        kept: Mapping[str, Any] = dict(attributes)  # a copy: see span_attributes
        pairs = self._span_pairs
        if dropped or self._length_limited or len(kept) > self._most:
            kept = span_attributes(kept, dropped, self.limits)
            found = _attributes(b"\x4a", kept, pairs)
        else:
            found = _look_up(kept, pairs)
            # Only the keys not found are checked: a key found in the cache is a
            # non-empty str, as every key of a span's attributes it was filled from.
            if None in found and not _fill(b"\x4a", kept, pairs, found, any_key=False):
                kept = span_attributes(kept, 0, self.limits)
                found = _attributes(b"\x4a", kept, pairs)
        state = context.trace_state
        parts = [
            b"\x0a\x10",
            context.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            context.span_id.to_bytes(8, "big"),
            b"" if state is DEFAULT_TRACE_STATE else _trace_state(state),
            b"\x22\x08" + parent.span_id.to_bytes(8, "big") if parent else b"",
            self._name(name),
            _KINDS[id(kind)],
        ]
        if start and end:
            parts.append(_pack_times(0x39, start, 0x41, end))
        else:
            parts.append(b"\x39" + _pack_fixed64(start) if start else b"")
            parts.append(b"\x41" + _pack_fixed64(end) if end else b"")
        parts += found
        if type(kept) is not dict:
            parts.append(_dropped(b"\x50", _dropped_of(kept)))
        if events:
            parts.extend(self._events(events))
        if links:
            most = self.limits.max_links
            if most is not None and len(links) > most:
                parts.extend(self._link(link) for link in links[len(links) - most :])
                parts.append(_dropped(b"\x70", len(links) - most))
            else:
                parts.extend(self._link(link) for link in links)
        if status is _UNSET:
            parts.append(b"\x7a\x00")  # the status of most spans: UNSET, no message
        else:
            code = status.status_code.value
            message = status.description
            parts.append(
                _field(
                    b"\x7a",
                    (_field(b"\x12", _utf8(message)) if message else b"") + _STATUS_CODES[code],
                )
            )
        parts.append(_REMOTE_FLAGS if parent is not None and parent.is_remote else _LOCAL_FLAGS)
        return b"".join(parts)

    def _events(self, events: list[tuple[str, Any, int]]) -> list[bytes]:
        """The ``events`` fields (the newest ``max_events`` kept) and the count dropped."""
        limits = self.limits
        most, length = limits.max_event_attributes, limits.max_attribute_length
        # Every event is cleaned, the dropped ones too: the SDK's span cleans each
        # as it is added (and warns the same); only the ones kept are encoded.
        cleaned = [
            (name, BoundedAttributes(most, attributes, max_value_len=length), timestamp)
            if not isinstance(attributes, BoundedAttributes)
            and needs_bounding(attributes, most, length)
            else (name, attributes, timestamp)
            for name, attributes, timestamp in events
        ]
        dropped = 0
        if limits.max_events is not None and len(cleaned) > limits.max_events:
            dropped = len(cleaned) - limits.max_events
            cleaned = cleaned[dropped:]
        out = [
            _field(
                b"\x5a",
                b"".join(
                    (
                        b"\x09" + _pack_fixed64(timestamp) if timestamp else b"",
                        _field(b"\x12", name.encode()) if name else b"",
                        *_attributes(b"\x1a", attributes, self._event_pairs),
                        _dropped(b"\x20", _dropped_of(attributes)),
                    )
                ),
            )
            for name, attributes, timestamp in cleaned
        ]
        if dropped:
            out.append(_dropped(b"\x60", dropped))
        return out

    def _link(self, link: Any) -> bytes:
        """A ``links`` field (the SDK's encoder writes no trace state for a link)."""
        context = link.context
        body = b"".join(
            (
                b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
                b"\x12\x08" + context.span_id.to_bytes(8, "big"),
                *_attributes(b"\x22", link.attributes, self._link_pairs),
                _dropped(b"\x28", link.dropped_attributes),
                b"\x35" + _flags(context),
            )
        )
        return _field(b"\x6a", body)
