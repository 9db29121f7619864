"""``loads``: json.loads for the request path, a C call instead of three Python frames.

A streamed answer is one JSON document per event, so decoding is most of a
stream's work: ``json.loads`` wraps the C scanner in ``JSONDecoder.decode`` and
``raw_decode``, with two whitespace matches. Provider payloads start with ``{``
and end with ``}``, so the scanner alone reads them; anything else (whitespace
around the value, bytes that are not UTF-8, an error) goes to ``json.loads``,
which decodes it or raises its usual ``JSONDecodeError``.
"""

from __future__ import annotations

import json
from json.scanner import make_scanner
from typing import Any

# typeshed wants a scanner as the context; the real argument is the decoder
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def loads(document: str | bytes) -> Any:
    """Decode one JSON document, exactly as ``json.loads`` would."""
    try:
        text = document if isinstance(document, str) else document.decode()
        value, end = _scan(text, 0)
    except (StopIteration, ValueError):  # not a value at 0, bad UTF-8, a syntax error
        return json.loads(document)
    if end != len(text):
        return json.loads(document)  # trailing text: json.loads says what is wrong
    return value
