"""JSON text for the rows the writer inserts: orjson, with the standard library as fallback.

Encoding a record's params, messages and tool calls was the largest share of
the writer's Python time with :mod:`json` (a few microseconds per small
dict, most of it building the encoder); orjson does it in a tenth of that
and writes compact JSON of the same values. Values orjson refuses (lone surrogates,
integers beyond 64 bits, subclasses it does not know) go through :mod:`json`,
so what is stored never depends on which encoder ran.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_std_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (UTF-8, not ASCII-escaped)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _std_dumps(value)
