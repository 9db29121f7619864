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

__all__ = ["loads"]

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
