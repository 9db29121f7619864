"""Parse how long a provider asked us to wait before retrying."""

from __future__ import annotations

import datetime
import email.utils
import re
import time
from collections.abc import Mapping

#: a wait as HTTP writes one: digits, maybe a fraction (RFC 9110 has whole seconds;
#: the vendors' ``retry-after-ms``, and some ``retry-after``, have decimals). What
#: ``float()`` takes besides (``nan``, ``inf``, ``-5``, ``1e400``, ``1_000``) is no wait.
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after``.

    ``retry-after-ms`` (OpenAI, Anthropic, Azure OpenAI) wins because it is more
    precise, then Azure's ``x-ms-retry-after-ms`` (the Azure SDKs read both);
    ``retry-after`` may be seconds or an HTTP date (in the past: 0, retry now; one
    without a zone is GMT, as HTTP dates are). Returns ``None`` when absent or
    unparseable, never a negative number: a value that is not plain digits
    (``nan``, ``inf``, ``-5``, ``1e400``) is unparseable, so the next header, or
    else the retry's own backoff, decides (the OpenAI and Anthropic SDKs, too,
    fall back to their backoff for such a value).

    ``x-ratelimit-reset-requests`` / ``-tokens`` are not read: they say when a
    quota window refills (up to a day away), not when to try again, and the
    OpenAI SDK does not wait on them either.
    """
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        ms = seconds(header(headers, name))
        if ms is not None:
            return ms / 1000
    value = header(headers, "retry-after")
    if value is None:
        return None
    wait = seconds(value)
    if wait is not None:
        return wait
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": no zone said; an HTTP date is GMT
        when = when.replace(tzinfo=datetime.UTC)
    try:
        at = when.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, at - (time.time() if now is None else now))


def seconds(value: str | None) -> float | None:
    """``value`` as a non-negative finite number of seconds (or milliseconds), if it is
    written as one: digits, maybe with a fraction; else ``None``."""
    if value is None or _NUMBER.fullmatch(value) is None:
        return None
    number = float(value)
    return number if number != float("inf") else None  # 400 digits: no wait either


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (lower case), stripped, in any mapping of headers."""
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; httpx.Headers is not
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value.strip() if value is not None else None
