"""The Messages API's error types and the status each stands for (its errors page)."""

from __future__ import annotations

import pytest

from relaykit_claude_models import ERROR_STATUS, ApiError, error_status, read_error


def test_every_type_on_anthropics_errors_page_has_its_status() -> None:
    assert dict(ERROR_STATUS) == {
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


@pytest.mark.parametrize("kind", ["quota_error", None, 42, ""])
def test_a_type_not_known_is_a_server_error(kind: object) -> None:
    assert error_status(kind) == 500


@pytest.mark.parametrize(
    ("data", "read"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ApiError(529, "overloaded_error", "Overloaded"),
        ),
        ({"type": "error", "error": {"type": "timeout_error"}}, ApiError(504, "timeout_error", "")),
        ({"type": "error"}, ApiError(500, "api_error", "")),
        ({"type": "error", "error": "broken"}, ApiError(500, "api_error", "")),
        ({"error": {"type": "billing_error", "message": 7}}, ApiError(402, "billing_error", "7")),
    ],
)
def test_read_error_reads_a_body_or_event_and_survives_a_malformed_one(
    data: dict[str, object], read: ApiError
) -> None:
    assert read_error(data) == read
