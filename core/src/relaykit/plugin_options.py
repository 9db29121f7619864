"""A plugin's own config table read into numbers, or a ConfigError naming the key.

An exporter's or backend's options arrive as TOML (or ``RELAYKIT_*`` strings, or a
dict in code): ``int()`` and ``float()`` on them raised ValueError, TypeError or
OverflowError deep inside a plugin, or let through values (``inf``, a port of
70000) that failed later in a thread where nobody saw it. Numbers written as
strings (``port = "9464"``) are taken, as ``int()`` took them.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["seconds", "whole_number"]


def whole_number(
    table: Mapping[str, Any],
    key: str,
    default: int,
    *,
    where: str,
    low: int = 0,
    high: int | None = None,
) -> int:
    """``table[key]`` (``default`` when missing) as a whole number from ``low`` to
    ``high``; ``where`` names the table in the error (``"exporters.statsd"``).

    A key named ``port`` is described as a port number in the error.
    """
    raw = table.get(key, default)
    # ASCII digits only: isdigit() is true of "٣" (int() reads 3) and "²" (int() raises)
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw)
    whole = isinstance(raw, int) and not isinstance(raw, bool)
    if isinstance(raw, float) and raw.is_integer():
        raw, whole = int(raw), True
    if not whole or raw < low or (high is not None and raw > high):
        if key == "port":
            expected = f"a port number from {low} to {high}"
        else:
            expected = f"a whole number from {low}" + (f" to {high}" if high is not None else "")
        raise ConfigError(f"config key {where}.{key} must be {expected}, not {raw!r}"[:160])
    return int(raw)


def seconds(table: Mapping[str, Any], key: str, default: float, *, where: str) -> float:
    """``table[key]`` (``default`` when missing) as a finite number of seconds above 0;
    ``where`` names the table in the error."""
    raw = table.get(key, default)
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = float(raw)
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if not number or not math.isfinite(raw) or raw <= 0:
        raise ConfigError(
            f"config key {where}.{key} must be a number of seconds > 0, not {raw!r}"[:160]
        )
    return float(raw)
