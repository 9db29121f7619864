"""Instant retries for tests: relaykit retries on stamina, so stamina's test mode applies."""

from __future__ import annotations

from contextlib import AbstractContextManager


def instant_retries(active: bool = True, *, attempts: int = 100) -> AbstractContextManager[None]:
    """Make retries wait no time at all: no backoff, no Retry-After wait.

    This is stamina's test mode (``stamina.set_testing(True, attempts=..., cap=True)``),
    so relaykit's retries keep the ``[retry] attempts`` you configured (``attempts``
    only caps them) and still show in ``response.attempts``. It is process-wide and
    covers your own stamina retries too. Call it in a fixture, or use it as a block::

        with instant_retries():
            r = await client.chat("openai/gpt-4o-mini", "hi")  # a 429 is retried at once

    ``instant_retries(False)`` switches test mode off again.
    """
    import stamina

    return stamina.set_testing(active, attempts=attempts, cap=True)
