"""Who may call the gateway: its own API keys, kept apart from the providers' keys.

Callers present a gateway key the way their SDK sends any key
(``Authorization: Bearer ...`` from OpenAI's, ``x-api-key`` from Anthropic's,
``api-key`` from Azure OpenAI's);
the providers' own keys stay in relaykit's configuration and never leave it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from fnmatch import fnmatchcase

import attrs

from relaykit import ConfigError
from relaykit.secrets import Secret

#: where :meth:`GatewayKeys.from_env` reads the keys
KEYS_ENV = "RELAYKIT_GATEWAY_KEYS"
#: and the models each key may use (every model, for a key it does not name)
KEY_MODELS_ENV = "RELAYKIT_GATEWAY_KEY_MODELS"
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
    #: the models a key may use, by key name: ``fnmatch`` patterns matched against
    #: the model the caller asks for (``openai/gpt-4o-mini``, an alias such as
    #: ``fast``; a bare name as its route completes it); a key not named here
    #: may use every model
    models: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    @classmethod
    def parse(cls, text: str, models: str = "") -> GatewayKeys:
        """Keys from ``name=key,name=key`` text, and what each may use from
        ``name=pattern,pattern;name=pattern`` text (:meth:`parse_models`); a
        malformed entry is a :class:`ConfigError` that names its position, never
        a key's value."""
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
        allowed = cls.parse_models(models)
        unknown = next((name for name in allowed if name not in names), None)
        if unknown is not None:
            raise ConfigError(
                f"{KEY_MODELS_ENV} names the key {unknown!r}, which is not a gateway key",
                hint=f"use the names of {KEYS_ENV}: {', '.join(names) or '(none set)'}",
            )
        return cls(tuple(keys), allowed)

    @staticmethod
    def parse_models(text: str) -> dict[str, tuple[str, ...]]:
        """What each key may use, from ``name=pattern,pattern;name=pattern`` text:
        ``interns=openai/gpt-4o-mini,fast;batch=*/text-embedding-*``."""
        allowed: dict[str, tuple[str, ...]] = {}
        entries = [entry.strip() for entry in text.split(";") if entry.strip()]
        for i, entry in enumerate(entries, 1):
            name, sep, patterns = entry.partition("=")
            found = tuple(p.strip() for p in patterns.split(",") if p.strip())
            if not sep or not name.strip() or not found:
                raise ConfigError(
                    f"entry {i} of {KEY_MODELS_ENV} is {entry!r}: write"
                    " name=pattern,pattern;name=pattern",
                    hint="e.g. interns=openai/gpt-4o-mini,fast;batch=*/text-embedding-*",
                )
            if name.strip() in allowed:
                raise ConfigError(
                    f"{KEY_MODELS_ENV} names the key {name.strip()!r} twice",
                    hint="list all of a key's patterns in one entry, comma-separated",
                )
            allowed[name.strip()] = found
        return allowed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> GatewayKeys:
        """The keys in ``$RELAYKIT_GATEWAY_KEYS`` (none when it is unset or empty), each
        limited to the models ``$RELAYKIT_GATEWAY_KEY_MODELS`` gives it."""
        return cls.parse(environ.get(KEYS_ENV, ""), environ.get(KEY_MODELS_ENV, ""))

    def __bool__(self) -> bool:
        return bool(self.keys)

    def allows(self, name: str | None, model: str) -> bool:
        """Whether the key named ``name`` may use ``model`` (``None``: no keys, no limits)."""
        patterns = self.models.get(name) if name is not None else None
        return patterns is None or any(fnmatchcase(model, p) for p in patterns)

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
