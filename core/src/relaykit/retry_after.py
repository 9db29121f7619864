"""Parse how long a provider asked us to wait before retrying."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after``.

    ``retry-after-ms`` (OpenAI, Anthropic, Azure OpenAI) wins because it is more
    precise, then Azure's ``x-ms-retry-after-ms`` (the Azure SDKs read both);
    ``retry-after`` may be seconds or an HTTP date. Returns ``None`` when absent
    or unparseable, never a negative number.

    ``x-ratelimit-reset-requests`` / ``-tokens`` are not read: they say when a
    quota window refills (up to a day away), not when to try again, and the
    OpenAI SDK does not wait on them either.
    """
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        ms = header(headers, name)
        if ms is not None:
            try:
                return max(0.0, float(ms) / 1000)
            except ValueError:
                pass
    value = header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (lower case), stripped, in any mapping of headers."""
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; httpx.Headers is not
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value.strip() if value is not None else None
