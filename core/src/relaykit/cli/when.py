"""``--since 7d``, ``--until 2025-03-14``: points in time as a person types them."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (or ``1d12h``) as a timedelta."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; write e.g. 30d, 12h, 90m, 2w"
        )
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def point_in_time(text: str, *, now: datetime | None = None) -> datetime:
    """A duration ago (``7d``), a date (local midnight) or an ISO date-time."""
    now = now or datetime.now(UTC)
    try:
        return now - duration(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (7d, 12h) nor a date (2025-03-14)"
        ) from None
