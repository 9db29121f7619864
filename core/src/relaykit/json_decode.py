"""``loads``: json.loads for the request path, as cheap as it can be made.

A streamed answer is one JSON document per event, so decoding is most of a
stream's work. When orjson is installed (relaykit-aiohttp, the fast transport,
brings it) it decodes, in about 40% of the time of the standard library's C
scanner. Without it, the scanner is called directly: ``json.loads`` wraps it in
``JSONDecoder.decode`` and ``raw_decode``, with two whitespace matches, and
provider payloads start with ``{`` and end with ``}``, so the scanner alone
reads them. Anything either fast path refuses (whitespace around the value, a
byte-order mark, ``NaN``, bytes that are not UTF-8, an error) goes to
``json.loads``, which decodes it or raises its usual ``JSONDecodeError``.

A decoder that reads the document with plain lookups (``data["choices"][0].get(
"message")``) raises ``TypeError``, ``AttributeError`` or ``IndexError`` when
valid JSON has the wrong shape (``"choices": null``, a string where an object
is documented). The core maps only ``ValueError`` and ``KeyError`` out of a
provider call to its "malformed response" error (the others, out of a plugin's
request encoding, are the plugin's bugs), so a decoder catches
:data:`SHAPE_ERRORS` at its entry and raises :func:`wrong_shape`'s error.

The one difference from ``json.loads``: orjson reads an integer beyond 64 bits
as a float. No provider field holds one (tool arguments arrive as JSON text
inside a string, and are not decoded here).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

__all__ = ["SHAPE_ERRORS", "count", "loads", "wrong_shape"]

_orjson_loads: Callable[[str | bytes], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # optional: the standard library's scanner is the fallback
    _orjson_loads = None

# typeshed wants a scanner as the context; the real argument is the decoder
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _scanner_loads(document: str | bytes) -> Any:
    """Decode one JSON document as ``json.loads`` would (see the module's note on big integers)."""
    try:
        text = document if isinstance(document, str) else document.decode()
        value, end = _scan(text, 0)
    except (StopIteration, ValueError):  # not a value at 0, bad UTF-8, a syntax error
        return json.loads(document)
    if end != len(text):
        return json.loads(document)  # trailing text: json.loads says what is wrong
    return value


def _orjson_or_json(document: str | bytes) -> Any:
    """Decode one JSON document as ``json.loads`` would (see the module's note on big integers)."""
    try:
        return _orjson_loads(document)  # type: ignore[misc]
    except ValueError:  # orjson.JSONDecodeError: json.loads decides, or says what is wrong
        return json.loads(document)


#: Decode one JSON document as ``json.loads`` would (see the module's note on big integers).
loads: Callable[[str | bytes], Any] = (
    _orjson_or_json if _orjson_loads is not None else _scanner_loads
)


#: what plain reads of a decoded document raise when its shape is wrong: a decoder
#: catches these (``except SHAPE_ERRORS as e: raise wrong_shape("choices", e) from e``)
SHAPE_ERRORS = (TypeError, AttributeError, IndexError)


def wrong_shape(where: str, error: Exception) -> ValueError:
    """The ``ValueError`` for an answer of the wrong shape, found at ``where`` (a field,
    such as ``"choices[0]"``, or the event or document read, such as ``"a
    message_delta event"``) as ``error`` (one of :data:`SHAPE_ERRORS`).

    Raise it ``from error``: the core turns it into the retryable "malformed
    response" :class:`~relaykit.ProviderUnavailableError`, which quotes this message.
    """
    return ValueError(f"{where} has the wrong shape ({type(error).__name__}: {error})")


def count(value: Any, where: str) -> int:
    """``value``, a count the answer gave (tokens, say), as an ``int``; a
    ``ValueError`` naming ``where`` (``"usage.prompt_tokens"``) when it is not a
    whole number, which the core reports as a malformed response (a count of the
    wrong type would otherwise fail later, in pricing, as a bare ``TypeError``).

    A whole float (``12.0``) and decimal digits (``"12"``: protobuf's JSON form
    of a 64-bit integer, which Google's APIs use) are read as the number.
    """
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    shown = "null" if value is None else type(value).__name__
    raise ValueError(f"{where}: expected a whole number, got {shown}")
