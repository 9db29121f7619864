"""The error types of Anthropic's Messages API and the HTTP status each stands for.

An error comes as ``{"type": "error", "error": {"type": ..., "message": ...}}``:
the body of an HTTP error answer, an ``error`` event that ends a stream which
already began (its status was 200), and a failed batch request's result. In the
last two only the type tells what went wrong, so relaykit's typed error (and
whether another attempt may help) is read from the status the type stands for.
The types and statuses are those of Anthropic's errors page
(platform.claude.com/docs/en/api/errors, read 2026-12-03), which Claude on
Bedrock's Messages API answers in too. A type added later is taken as a server
error (500): a retry is cheaper than giving up on what may be passing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

#: the HTTP status each error type stands for
ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
#: the status of a type not in :data:`ERROR_STATUS`
UNKNOWN_STATUS = 500


class ApiError(NamedTuple):
    """What an Anthropic error object says: its status, type and message."""

    status: int
    type: str
    message: str


def error_status(kind: object) -> int:
    """The HTTP status error type ``kind`` stands for (500 for one not known)."""
    return ERROR_STATUS.get(kind, UNKNOWN_STATUS) if isinstance(kind, str) else UNKNOWN_STATUS


def read_error(data: Mapping[str, Any]) -> ApiError:
    """The error in ``data``, an error body or ``error`` event (``{"error": {...}}``);
    a missing type is ``api_error``, a missing message empty."""
    error = data.get("error")
    if not isinstance(error, Mapping):
        error = {}
    kind = str(error.get("type") or "api_error")
    return ApiError(error_status(kind), kind, str(error.get("message") or ""))
