"""Who may call the gateway: its own API keys, kept apart from the providers' keys.

Callers present a gateway key the way their SDK sends any key
(``Authorization: Bearer ...`` from OpenAI's, ``x-api-key`` from Anthropic's);
the providers' own keys stay in relaykit's configuration and never leave it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

import attrs

from relaykit import ConfigError
from relaykit.secrets import Secret

#: where :meth:`GatewayKeys.from_env` reads the keys
KEYS_ENV = "RELAYKIT_GATEWAY_KEYS"
#: shorter keys can be guessed by whoever can reach the port
MIN_KEY_CHARS = 16
_FIX = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@attrs.frozen
class GatewayKeys:
    """The keys callers may present, each with a name that goes into call logs.

    Written ``name=key,name=key`` (or bare keys, named ``key1``, ``key2``...).
    No keys means no check at all: :func:`relaykit_gateway.serve` allows that
    only on a loopback address.
    """

    keys: tuple[tuple[str, Secret], ...] = ()

    @classmethod
    def parse(cls, text: str) -> GatewayKeys:
        """Keys from ``name=key,name=key`` text; a malformed entry is a :class:`ConfigError`
        that names its position, never its value."""
        keys: list[tuple[str, Secret]] = []
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        for i, entry in enumerate(entries, 1):
            name, sep, key = entry.partition("=")
            if not sep:
                name, key = f"key{i}", entry
            name, key = name.strip(), key.strip()
            if not name or len(key) < MIN_KEY_CHARS:
                raise ConfigError(
                    f"gateway key {i} of {len(entries)} is shorter than {MIN_KEY_CHARS}"
                    " characters or has an empty name",
                    hint=_FIX,
                )
            keys.append((name, Secret(key)))
        names = [name for name, _ in keys]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ConfigError(
                f"gateway key name {duplicate!r} is used twice", hint="give each key its own name"
            )
        return cls(tuple(keys))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> GatewayKeys:
        """The keys in ``$RELAYKIT_GATEWAY_KEYS`` (none when it is unset or empty)."""
        return cls.parse(environ.get(KEYS_ENV, ""))

    def __bool__(self) -> bool:
        return bool(self.keys)

    def name_of(self, presented: str) -> str | None:
        """The name of the key ``presented`` is, or ``None``.

        Every key is compared, in constant time, so how long a refusal takes
        says nothing about how close a guess came, nor which key it was near.
        """
        found = None
        given = presented.encode()
        for name, key in self.keys:
            if hmac.compare_digest(given, key.reveal().encode()) and found is None:
                found = name
        return found
