"""How long to wait before the next attempt, and whether to make one at all."""

from __future__ import annotations

import random

from .config import RetryConfig
from .errors import (
    CircuitOpenError,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
    RequestTimeoutError,
)


def next_wait(
    error: RelayError, attempt: int, config: RetryConfig, remaining: float | None
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or ``None`` to stop retrying.

    Exponential backoff with full jitter, capped at ``max_wait``; a provider's
    Retry-After wins but is clamped to ``max_retry_after``. If the wait would not
    fit in the ``remaining`` total timeout there is no point waiting: stop.
    """
    if not error.retryable or attempt >= config.attempts or _kind(error) not in config.on:
        return None
    if isinstance(error, CircuitOpenError):
        return None  # the same deployment will refuse again: move on to a fallback

    backoff = min(config.max_wait, config.initial_wait * 2 ** (attempt - 1))
    wait = random.uniform(backoff / 2, backoff) if backoff > 0 else 0.0
    retry_after = getattr(error, "retry_after", None)
    if isinstance(error, RateLimitError) and retry_after is not None:
        wait = min(retry_after, config.max_retry_after)
    if remaining is not None and wait >= remaining:
        return None
    return wait


def _kind(error: RelayError) -> str:
    """The ``[retry] on`` name of a retryable error."""
    if isinstance(error, RateLimitError):
        return "rate_limit"
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, ProviderUnavailableError) and error.status is None:
        return "connection"
    return "unavailable"
