"""Map httpx's transport failures to relaykit errors, once, for every provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ProviderUnavailableError, RelayError, RequestTimeoutError

if TYPE_CHECKING:
    from .routing import Target


def map_transport_error(exc: BaseException, target: Target) -> RelayError | None:
    """The relaykit error for an httpx exception, or ``None`` if ``exc`` is not one."""
    import httpx

    kw: dict[str, Any] = {"provider": target.provider, "model": target.model}
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return RequestTimeoutError(
            f"connecting timed out ({type(exc).__name__})",
            which="connect",
            hint="check the base URL and network, or raise [timeouts] connect",
            **kw,
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(f"request timed out ({type(exc).__name__})", which="total", **kw)
    if isinstance(exc, httpx.ConnectError):
        return ProviderUnavailableError(
            f"could not connect: {exc}", hint="check the provider's base_url", **kw
        )
    if isinstance(exc, httpx.TransportError):
        return ProviderUnavailableError(f"connection failed: {type(exc).__name__}: {exc}", **kw)
    if isinstance(exc, ValueError | KeyError):
        # Not JSON, or JSON without the fields the vendor documents: a proxy's error
        # page, a truncated body, a protocol change. The caller gets a typed error
        # (retryable: such garbage is usually transient); the cause stays attached.
        return ProviderUnavailableError(
            f"malformed response from the provider ({type(exc).__name__}: {str(exc)[:200]})", **kw
        )
    return None
