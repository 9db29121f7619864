"""Whole numbers read from requests and the environment: ASCII digits only.

``str.isdigit()`` is true of other scripts' digits (``٣``, which ``int()`` reads
as 3: a look-alike taken as a count) and of superscripts (``³``, which
``int()`` refuses with a ``ValueError``: a 500); a run of thousands of digits
is past ``int()``'s digit limit (a ``ValueError`` too). Every number the
gateway parses from text goes through :func:`whole_number`.
"""

from __future__ import annotations

#: the most digits read: any count the gateway takes has far fewer
MAX_DIGITS = 30


def whole_number(text: str) -> int | None:
    """``text`` as a whole number of ASCII digits ``0-9`` (``None`` if it is not one,
    or longer than :data:`MAX_DIGITS`)."""
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)
