"""Built-in plugins, registered before any entry point.

They use the same hooks as third-party plugins, so replacing one is a matter of
registering a plugin that answers first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._hookimpl import hookimpl
from .secrets import scrub

if TYPE_CHECKING:
    from .config import Config
    from .protocols import RateLimiter, Redactor


class SecretRedactor:
    """Masks API keys, tokens and other credentials (see :mod:`relaykit.secrets`)."""

    name = "secrets"
    #: its result depends on the text alone: a chain may reuse it (see RedactionChain)
    pure = True

    #: ``text`` with every recognised credential replaced by ``[REDACTED]``: scrub
    #: itself, not a method calling it, for a frame less on every text redacted
    #: (a Python call is ~1.5 k instructions, a KB's memchr ~0.4 k)
    redact = staticmethod(scrub)


class _Secrets:
    @hookimpl
    def relaykit_redactors(self, config: Config) -> Sequence[Redactor]:
        return [SecretRedactor()]

    @hookimpl
    def relaykit_config_tables(self, config: Config) -> Sequence[str]:
        return ()  # it always runs, configured by no [redactors.NAME] table


class _MemoryLimiter:
    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: Config) -> RateLimiter | None:
        if name != "memory":
            return None
        from .memory_limiter import MemoryRateLimiter

        return MemoryRateLimiter()


PLUGINS: dict[str, object] = {"secrets": _Secrets(), "memory-limiter": _MemoryLimiter()}
