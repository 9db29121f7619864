"""Any Python string as text every storage backend accepts, and back, exactly.

A Python ``str`` may hold what no database text column takes: a lone
surrogate (``"\\ud800"``, half an emoji a vendor's JSON escaped alone, or
anything a caller passes) cannot be encoded as UTF-8, so SQLite and
PostgreSQL refuse it; PostgreSQL also refuses NUL (``"\\x00"``) in ``text``
and its escape ``\\u0000`` in ``jsonb``. A record holding one was refused
whole (and kept only in the spill file). Backends store text through
:func:`encode_text` and read it through :func:`decode_text` instead, so every
string a user can hand relaykit is stored and reads back equal.

The rule. U+FFFF (a Unicode noncharacter: never assigned, meant for a
program's own use) opens and closes an escape: each NUL, each surrogate code
point and each U+FFFF of the text becomes U+FFFF, its code point as four
lower-case hex digits, U+FFFF (``"\\ud800"`` becomes ``"\\uffffd800\\uffff"``).
Nothing else changes, so text without those characters (all ordinary text,
and every row stored before the rule) is stored as it is and costs one scan.
Decoding turns each escape back into its character; since every U+FFFF of
stored text belongs to an escape, no plain text can be read as one. Full-text
search still finds a stored text's words: U+FFFF separates words in SQLite's
``unicode61`` tokenizer and in PostgreSQL's parser, so the escape is a word
of its own (``d800``) between them.

JSON text (messages, params, tool calls) follows the same rule inside its
strings: :func:`encode_json` returns JSON whose strings hold escapes (raw
U+FFFF, never a ``\\u`` escape PostgreSQL's ``jsonb`` would refuse), and
:func:`decode_json` parses stored JSON back into the original values.

Public plugin API: plugins may import this module; the names in ``__all__``
are stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

#: opens and closes an escape; never stored outside one
ESCAPE = "\uffff"

# What must be escaped in a text: NUL, any surrogate code point, the escape character.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff\uffff]")
_ESCAPED = re.compile("\uffff([0-9a-f]{4})\uffff")
# The \u escapes in JSON text of what must be escaped (a false alarm, such as an
# escaped backslash before "u0000", only costs the slow path).
_JSON_ESCAPES = re.compile(r"\\u(?:0000|[dD][89a-fA-F]|[fF]{4})")

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _escape(match: re.Match[str]) -> str:
    return f"{ESCAPE}{ord(match.group()):04x}{ESCAPE}"


def _unstorable(text: str) -> bool:
    # Scans the C library does fast (a regex takes ~5 ns a character): every
    # record's texts go through here on their way to storage.
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    if ESCAPE in text:
        return True
    try:
        text.encode()
    except UnicodeEncodeError:  # a surrogate
        return True
    return False


def needs_encoding(text: str) -> bool:
    """Whether :func:`encode_text` or :func:`encode_json` may change ``text``.

    A few fast scans; it may say yes when neither would (an escaped backslash
    before ``u0000`` in JSON), never no when one would. To check a row, join its
    texts first.
    """
    if "\\" in text and "\\u" in text and _JSON_ESCAPES.search(text):
        return True
    return _unstorable(text)


def encode_text(text: str) -> str:
    """``text`` as storable text: NUL, surrogates and U+FFFF escaped (see the module docs).

    Text without them comes back unchanged (the same object).
    """
    return _UNSTORABLE.sub(_escape, text) if _unstorable(text) else text


def decode_text(stored: str) -> str:
    """The text :func:`encode_text` stored as ``stored``; text without escapes comes back as is."""
    if ESCAPE not in stored:
        return stored
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), stored)


def _mapped(value: Any, text: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {text(k): _mapped(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_mapped(v, text) for v in value]
    return value


def encode_json(text: str) -> str:
    """JSON ``text`` with :func:`encode_text` applied to every string in it (keys too).

    Valid JSON with no NUL, no surrogate and no escape of either (what both
    SQLite and PostgreSQL's ``jsonb`` accept). JSON without them comes back
    unchanged (the same object), after one scan. Write ``text`` with raw
    characters (``ensure_ascii=False``): as JSON ``\\u`` escapes, a high
    surrogate followed by a low one means one character, and is stored so.
    """
    if not needs_encoding(text):
        return text
    return _dumps(_mapped(json.loads(text), encode_text))


def decode_json(stored: str) -> Any:
    """The values :func:`encode_json` stored as ``stored`` (JSON text), parsed.

    Stored JSON without escapes is only parsed. (The escapes are not turned
    into JSON ``\\u`` escapes before parsing: the parser would join an escaped
    high surrogate and an escaped low one after it into one character.)
    """
    value = json.loads(stored)
    return _mapped(value, decode_text) if ESCAPE in stored else value


def decode_value(value: Any) -> Any:
    """:func:`decode_text` applied to every string in ``value`` (dicts and lists of them,
    as a driver hands back stored JSON already parsed); walks it all, so prefer
    :func:`decode_json` on JSON text."""
    return _mapped(value, decode_text)


__all__ = [
    "ESCAPE",
    "decode_json",
    "decode_text",
    "decode_value",
    "encode_json",
    "encode_text",
    "needs_encoding",
]
