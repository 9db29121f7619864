"""Which quota a Gemini 429 says is used up, and whether waiting out its RetryInfo helps.

A 429 ``RESOURCE_EXHAUSTED`` lists the quotas exceeded in a ``google.rpc.QuotaFailure``
detail (``quotaId``: ``GenerateRequestsPerMinutePerProjectPerModel-FreeTier``, ...)
and a ``google.rpc.RetryInfo`` wait of seconds, which Google sends for a per-day
quota too. A per-minute quota clears in that wait; a per-day one only at midnight
Pacific time (https://ai.google.dev/gemini-api/docs/rate-limits), so retrying
after the wait fails again, and a fallback should be tried at once.
"""

from __future__ import annotations

import json
from typing import Any

_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


def daily_quota_used_up(body: bytes) -> str | None:
    """The ``quotaId`` of a per-day quota a Gemini error body says is used up, if any."""
    if b"PerDay" not in body:
        return None  # the common 429 (per minute) costs no decoding here
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, list) and data:  # Google sometimes wraps the error in a list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict) or detail.get("@type") != _QUOTA_FAILURE:
            continue
        for violation in detail.get("violations") or ():
            quota = violation.get("quotaId") if isinstance(violation, dict) else None
            if isinstance(quota, str) and "PerDay" in quota:
                return quota
    return None
