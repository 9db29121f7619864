"""Text options checked as they are parsed: a blank value is a usage error naming
the option, before any config is read or call made.

A blank value is nearly always a shell variable left unset (``-o "$OUT"``). Taken
as it is, ``Path("")`` is the current directory (``--out-dir ""`` wrote there), and
an empty filter matches everything (``relaykit models ""`` listed every provider).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

__all__ = ["non_blank"]

T = TypeVar("T")


def non_blank(what: str, convert: Callable[[str], T] = str) -> Callable[[str], T]:  # type: ignore[assignment]
    """An argparse ``type`` refusing ``""`` and whitespace; ``what`` says what to give
    instead (``"a file name"``), ``convert`` makes the value (``Path``)."""

    def parse(text: str) -> T:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"the value is blank; give {what}")
        return convert(text)

    return parse
