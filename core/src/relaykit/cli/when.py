"""``--since 7d``, ``--until 2025-03-14``: points in time as a person types them."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# ASCII digits only: \d alone takes other scripts' digits too (number_options says why)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.ASCII)


def duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (or ``1d12h``) as a timedelta, one
    that reaches back no further than the year 1 (``prune`` and ``--since`` take it
    from now)."""
    value = _duration(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; write e.g. 30d, 12h, 90m, 2w (digits 0-9)"
        )
    return value


def _duration(text: str) -> timedelta | None:
    """The duration ``text`` says; ``None`` when it is not written as one."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        return None
    try:
        value = timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    except OverflowError:  # more than timedelta's 999999999 days
        value = None
    if value is None or value >= datetime.now(UTC) - datetime.min.replace(tzinfo=UTC):
        raise argparse.ArgumentTypeError(
            f"{text!r} reaches back before the year 1; give a shorter duration"
        )
    return value


def point_in_time(text: str, *, now: datetime | None = None) -> datetime:
    """A duration ago (``7d``), a date (local midnight) or an ISO date-time."""
    now = now or datetime.now(UTC)
    ago = _duration(text)
    if ago is not None:
        return now - ago
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (7d, 12h) nor a date (2025-03-14), in digits 0-9"
        ) from None
    try:  # storage compares timestamps: 0001-01-01 local time has none
        moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; give a later date") from None
    return moment
