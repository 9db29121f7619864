"""Which web pages may call the gateway from a browser (CORS), and the headers that say so.

A page served from another origin can only read the gateway's answers when
the gateway names that origin in ``Access-Control-Allow-Origin``; before a
``POST`` with ``Authorization`` or a JSON body, the browser first asks with an
``OPTIONS`` preflight. None are allowed unless configured: the gateway's own
keys still guard every call, and a page that holds one is the operator's
choice to make.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from relaykit import ConfigError

#: where :meth:`CorsPolicy.from_env` reads the allowed origins
CORS_ENV = "RELAYKIT_GATEWAY_CORS_ORIGINS"
#: how long a browser may reuse a preflight's answer, in seconds
MAX_AGE = 600
#: headers of ours a page's script may read (the call's provider, model and cost, and
#: the request id the vendors' SDKs read: OpenAI's name for it, and Anthropic's)
_EXPOSED = (
    b"x-relaykit-provider, x-relaykit-model, x-relaykit-cost, x-relaykit-estimated,"
    b" retry-after, x-request-id, request-id"
)
_METHODS = b"GET, POST, DELETE, OPTIONS"  # DELETE: kept responses and files
_HINT = "write origins as scheme://host[:port], comma-separated, or * for any"


@attrs.frozen
class CorsPolicy:
    """The origins allowed to call from a browser: exact ``scheme://host[:port]``
    values, or ``*`` for any. Empty: no cross-origin calls (the default)."""

    origins: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> CorsPolicy:
        """Origins from comma-separated text; a malformed one is a :class:`ConfigError`
        that names it."""
        origins = [o.strip().rstrip("/") for o in text.split(",") if o.strip()]
        for origin in origins:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ConfigError(f"CORS origin {origin!r} is not an origin", hint=_HINT)
        return cls(frozenset(origins))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CorsPolicy:
        """The origins in ``$RELAYKIT_GATEWAY_CORS_ORIGINS`` (none when unset)."""
        env = os.environ if env is None else env
        return cls.parse(env.get(CORS_ENV, ""))

    def __bool__(self) -> bool:
        return bool(self.origins)

    def allows(self, origin: str) -> bool:
        """Whether a page from ``origin`` may call."""
        return "*" in self.origins or origin in self.origins

    @staticmethod
    def preflight(asked: str) -> list[tuple[bytes, bytes]]:
        """What a preflight's answer adds to :meth:`answer`'s: the methods, the
        request headers it asked for (``Authorization`` must be named: a wildcard
        does not cover it) and how long to remember that."""
        return [
            (b"access-control-allow-methods", _METHODS),
            (b"access-control-allow-headers", asked.encode("latin-1")),
            (b"access-control-max-age", str(MAX_AGE).encode()),
        ]

    @staticmethod
    def answer(origin: str) -> list[tuple[bytes, bytes]]:
        """The headers that let an allowed origin's script read an answer: its own
        origin echoed (so ``Vary: Origin`` keeps caches apart) and ours exposed."""
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", _EXPOSED),
        ]
