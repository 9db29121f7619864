"""Numeric command-line options checked as they are parsed: a bad one is a usage
error that names the option (argparse adds it) and what to give, before any config
is read or call made.

Only ASCII digits are numbers here. Python's ``int()`` and ``float()`` also take
other scripts' digits (Arabic-Indic ``٣``, fullwidth ``３``): a value pasted from
such text would be read as a number some options took and others refused, and a
look-alike digit would silently become a different count. Every number option,
plugins' too, parses with these functions so all behave alike.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["integer", "real_number", "whole_number"]


def integer(text: str) -> int:
    """An argparse ``type`` for a whole number written in ASCII digits (range checks,
    if any, are left to the client, whose error is renamed to the option)."""
    if text.isascii():
        try:
            return int(text)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: write it in digits 0-9")


def real_number(text: str) -> float:
    """An argparse ``type`` for a finite number (``1``, ``0.5``, ``1e-3``) written in
    ASCII digits; ``nan`` and ``inf`` are refused."""
    if text.isascii():
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return value
    raise argparse.ArgumentTypeError(f"{text!r} is not a number: write it in digits 0-9 (e.g. 1.5)")


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number from ``low`` to ``high`` (no upper
    bound when ``None``), in ASCII digits; argparse's error names the option."""

    def parse(text: str) -> int:
        try:
            value = integer(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number: give {_range(low, high)}, in digits 0-9"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {_range(low, high)}")
        return value

    return parse


def _range(low: int, high: int | None) -> str:
    return f"{low} or more" if high is None else f"{low} to {high}"
