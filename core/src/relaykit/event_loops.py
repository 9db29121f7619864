"""Which event loop a blocking client or the command line runs on, checked before it starts."""

from __future__ import annotations

from .errors import ConfigError

#: the event loops relaykit runs on (anyio's names)
BACKENDS = ("asyncio", "trio")


def check_backend(backend: str, where: str) -> None:
    """Refuse a ``backend`` anyio would fail to start, as a :class:`ConfigError`.

    anyio's own failure is a ``LookupError`` at the first call ("Backend 'trio' is
    not available"): untyped, and far from where the backend was chosen.

    :param where: how the caller chose it, for the message (``"--backend trio"``).
    """
    if backend not in BACKENDS:
        raise ConfigError(
            f"{where}: there is no event loop backend {backend!r}",
            hint="use 'asyncio' or 'trio'",
        )
    if backend == "trio":
        try:
            import trio  # noqa: F401  (imported anyway by the loop about to start)
        except ImportError:
            raise ConfigError(
                f"{where}: trio is not installed",
                hint="pip install trio, or run on asyncio",
            ) from None
