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

__all__ = [
    "SHAPE_ERRORS",
    "ErrorInAnswer",
    "count",
    "loads",
    "misfit",
    "require_answer",
    "wrong_shape",
]

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
#: catches these (``except SHAPE_ERRORS as e: raise wrong_shape("choices", e) from e``).
#: ``OverflowError`` is ``int()`` of a number too large for a double (JSON's
#: ``1e400`` decodes to ``inf``): a property of the answer, as a null is
SHAPE_ERRORS = (TypeError, AttributeError, IndexError, OverflowError)


def wrong_shape(where: str, error: Exception, doc: Any = None, shape: Any = None) -> ValueError:
    """The ``ValueError`` for an answer of the wrong shape, found at ``where`` (a field,
    such as ``"choices[0]"``, or the event or document read, such as ``"a
    message_delta event"``) as ``error`` (one of :data:`SHAPE_ERRORS`).

    With the document read (``doc``) and the ``shape`` the vendor documents for
    it (see :func:`misfit`), the message names the first place that does not
    fit: ``a chat.completion: choices[0]: expected an object, got null``. That
    walk runs here, on the error path only. Raise the result ``from error``:
    the core turns it into the retryable "malformed response"
    :class:`~relaykit.ProviderUnavailableError`, which quotes this message.
    """
    found = misfit(doc, shape) if shape is not None else None
    detail = f"{type(error).__name__}: {error}"
    if found is not None:
        return ValueError(f"{where}: {found} ({detail})")
    return ValueError(f"{where} has the wrong shape ({detail})")


def misfit(doc: Any, shape: Any, at: str = "") -> str | None:
    """The first place in ``doc`` whose value is not of the kind ``shape`` says, as
    ``"choices[0]: expected an object, got null"``, or ``None`` if it all fits.

    ``shape`` mirrors the document: a dict for an object (its keys the fields
    to check, each with its own shape), a one-item list for a list of that
    shape, ``str`` for text, ``int`` for a number. A field that is absent or
    null fits (decoders read optional fields with defaults); an item of a list
    must fit its shape.
    """
    if isinstance(shape, dict):
        if not isinstance(doc, dict):
            return _expected(at, "an object", doc)
        for key, inner in shape.items():
            value = doc.get(key)
            if value is not None:
                found = misfit(value, inner, f"{at}.{key}" if at else key)
                if found is not None:
                    return found
        return None
    if isinstance(shape, list):
        if not isinstance(doc, list):
            return _expected(at, "a list", doc)
        for i, item in enumerate(doc):
            place = f"{at}[{i}]"
            found = _expected(place, _kind(shape[0]), None) if item is None else None
            found = found or misfit(item, shape[0], place)
            if found is not None:
                return found
        return None
    if shape is str and not isinstance(doc, str):
        return _expected(at, "text", doc)
    if shape is int and (type(doc) is bool or not isinstance(doc, int | float)):
        return _expected(at, "a number", doc)
    return None


def _kind(shape: Any) -> str:
    if isinstance(shape, dict):
        return "an object"
    if isinstance(shape, list):
        return "a list"
    return "text" if shape is str else "a number"


def _expected(at: str, kind: str, value: Any) -> str:
    found = {dict: "an object", list: "a list", str: "text", type(None): "null"}.get(
        type(value), type(value).__name__
    )
    return f"{at or 'the document'}: expected {kind}, got {found}"


class ErrorInAnswer(ValueError):
    """:func:`require_answer`'s error for an error object sent in place of the answer
    (``{"error": {...}}`` with status 200, as some OpenAI-compatible servers and
    proxies answer a failure). Out of a provider call, the core raises the typed
    error it describes (:func:`relaykit.http_errors.error_status_of` reads which),
    not the malformed response a plain ``ValueError`` is."""

    def __init__(self, message: str, document: dict[str, Any]) -> None:
        super().__init__(message)
        #: the whole body, decoded: its ``error`` is the vendor's words
        self.document = document


def require_answer(doc: Any, what: str, *fields: str) -> None:
    """A ``ValueError`` when ``doc``, a vendor's answer (``what``: ``"a
    chat.completion"``), is an object without one of the ``fields`` that carry the
    answer itself (absent or null): ``{}``, or a proxy's own JSON, is no answer.

    A decoder that read optional fields with defaults turned such a body into a
    successful empty answer (text ``''``). Raised from a provider call, the error
    is the core's retryable "malformed response", naming the field. A document
    that is no object is left to the decoder's shape check, which says what it is;
    a field that is present but empty (``"content": []``) is left to the decoder
    too: an empty answer with a finish reason is an answer. An error object in
    their place (``{"error": {...}}``) raises :class:`ErrorInAnswer`, which the
    core types as the error it describes.
    """
    if not isinstance(doc, dict):
        return
    for field in fields:
        if doc.get(field) is None:
            if doc.get("error"):
                raise ErrorInAnswer(f"{what} with an error in place of {field!r}", doc)
            keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
            raise ValueError(f"{what} without {field!r}: no answer (its keys: {keys})")


def count(value: Any, where: str) -> int:
    """``value``, a count the answer gave (tokens, say), as an ``int``; a
    ``ValueError`` naming ``where`` (``"usage.prompt_tokens"``) when it is not a
    whole number >= 0, which the core reports as a malformed response (a count of
    the wrong type would otherwise fail later, in pricing, as a bare ``TypeError``;
    a negative one was taken: a negative cost, and tokens handed back to a rate
    limiter's budget). ``true`` and ``false`` are no counts either.

    A whole float (``12.0``) and decimal digits (``"12"``: protobuf's JSON form
    of a 64-bit integer, which Google's APIs use) are read as the number; a
    number too large for a double (``1e400``, which decodes to ``inf``) and
    ``NaN`` are refused.
    """
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and value.is_integer() and value >= 0:  # inf and nan are not
        return int(value)
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    shown = "null" if value is None else type(value).__name__
    if type(value) in (int, float):
        shown = repr(value)  # -3, inf: why a number is refused
    raise ValueError(f"{where}: expected a whole number >= 0, got {shown}")
