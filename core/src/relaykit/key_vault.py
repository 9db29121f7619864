"""Provider API keys encrypted at rest, on top of a storage backend's blob primitives.

Keys are encrypted with Fernet (AES-128-CBC plus HMAC-SHA256, from the
``cryptography`` package: ``pip install relaykit[vault]``; the storage plugins
depend on it). The master key comes from ``$RELAYKIT_MASTER_KEY`` or, failing
that, from ``master.key`` in the user config dir, created with mode 0600 the
first time a key is stored. A client reads the vault once, when it starts
(``async with relaykit.Client()``), and looks a provider's key up after
explicit configuration and before environment variables.

Each blob encrypts the provider name with the key, so a blob copied to
another name is detected. ``rotate`` re-encrypts every key under a new master
key in one storage transaction; a key file rotation writes ``master.key.new``
first and renames it last, and a vault interrupted between the two is still
read (both keys are tried).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .config import user_config_dir
from .errors import ConfigError
from .protocols import Storage
from .secrets import Secret

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["MASTER_KEY_ENV", "MasterKey", "load_master_key"]

log = logging.getLogger("relaykit.key_vault")

MASTER_KEY_ENV = "RELAYKIT_MASTER_KEY"
NEW_MASTER_KEY_ENV = "RELAYKIT_NEW_MASTER_KEY"
KEY_FILE = "master.key"
_NEW_SUFFIX = ".new"
_GENERATE_HINT = (
    "generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


def _fernet_module() -> Any:
    try:
        from cryptography import fernet
    except ImportError:
        raise ConfigError(
            "the key vault needs the cryptography package",
            hint="pip install 'relaykit[vault]'",
        ) from None
    return fernet


def generate_key() -> Secret:
    """A new random master key (32 bytes, url-safe base64, as Fernet wants)."""
    return Secret(_fernet_module().Fernet.generate_key().decode())


@attrs.frozen
class MasterKey:
    """The key that encrypts the vault, where it came from, and older keys still accepted.

    ``source`` names the environment variable or the key file, for messages.
    ``fallbacks`` decrypt (never encrypt): the other key of an interrupted rotation.
    """

    key: Secret = attrs.field(repr=False)
    source: str
    fallbacks: tuple[Secret, ...] = attrs.field(default=(), repr=False)
    path: Path | None = None

    def fernet(self) -> MultiFernet:
        """The Fernet that encrypts with ``key`` and decrypts with it or a fallback."""
        fernet = _fernet_module()
        ciphers = []
        for key in (self.key, *self.fallbacks):
            try:
                ciphers.append(fernet.Fernet(key.reveal().encode()))
            except (ValueError, TypeError):
                raise ConfigError(
                    f"the master key from {self.source} is not a valid key",
                    hint=f"it must be 32 url-safe base64-encoded bytes; {_GENERATE_HINT}",
                ) from None
        multi: MultiFernet = fernet.MultiFernet(ciphers)
        return multi


def key_file(env: Mapping[str, str] | None = None) -> Path:
    """Where the generated master key lives: ``master.key`` in the user config dir."""
    return user_config_dir(env) / KEY_FILE


def _read_key(path: Path) -> Secret:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
    return Secret(path.read_text().strip())


def _write_key(path: Path, key: Secret) -> None:
    """Write ``key`` to a new file that only its owner can read (0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.reveal() + "\n")
        f.flush()
        os.fsync(f.fileno())


def load_master_key(
    env: Mapping[str, str] | None = None, *, create: bool = False
) -> MasterKey | None:
    """The master key: ``$RELAYKIT_MASTER_KEY``, else the key file, else ``None``.

    With ``create``, a missing key file is generated (mode 0600) instead.
    """
    env = os.environ if env is None else env
    if env.get(MASTER_KEY_ENV):
        return MasterKey(Secret(env[MASTER_KEY_ENV].strip()), MASTER_KEY_ENV)
    path = key_file(env)
    pending = path.with_name(path.name + _NEW_SUFFIX)
    if path.exists():
        fallbacks = (_read_key(pending),) if pending.exists() else ()
        return MasterKey(_read_key(path), str(path), fallbacks, path)
    if pending.exists():  # a rotation got as far as writing the new key only
        return MasterKey(_read_key(pending), str(pending), (), path)
    if not create:
        return None
    key = generate_key()
    _write_key(path, key)
    log.info("created the key vault's master key in %s", path)
    return MasterKey(key, str(path), (), path)


class KeyVault:
    """Provider keys in ``storage``, encrypted under ``master``."""

    def __init__(self, storage: Storage, master: MasterKey) -> None:
        self._storage = storage
        self._master = master
        self._fernet = master.fernet()

    @property
    def master(self) -> MasterKey:
        """The master key in use."""
        return self._master

    def _encrypt(self, name: str, key: Secret, fernet: MultiFernet | None = None) -> bytes:
        payload = json.dumps({"name": name, "key": key.reveal()}).encode()
        token: bytes = (fernet or self._fernet).encrypt(payload)
        return token

    def _decrypt(self, name: str, blob: bytes) -> Secret:
        try:
            payload = json.loads(self._fernet.decrypt(blob))
        except _fernet_module().InvalidToken:
            raise ConfigError(
                f"the master key from {self._master.source} cannot decrypt the key vault "
                f"(entry {name!r})",
                hint=f"use the master key the keys were stored with, or `relaykit keys rm {name}` "
                "and set the key again",
            ) from None
        if payload.get("name") != name:
            raise ConfigError(
                f"the key vault entry {name!r} holds the key of {payload.get('name')!r}",
                hint=f"`relaykit keys rm {name}` and set the key again",
            )
        return Secret(payload["key"])

    async def set(self, provider: str, key: Secret | str) -> None:
        """Store (or replace) the key of ``provider``."""
        key = key if isinstance(key, Secret) else Secret(key)
        if not key.reveal().strip():
            raise ConfigError(f"the key for {provider!r} is empty")
        # Refuse to mix master keys in one vault: check the existing entries first.
        await self.keys()
        await self._storage.vault_put({provider: self._encrypt(provider, key)})

    async def keys(self) -> dict[str, Secret]:
        """Every stored key, decrypted. A wrong master key is a :class:`ConfigError`."""
        blobs = await self._storage.vault_items()
        return {name: self._decrypt(name, blob) for name, blob in sorted(blobs.items())}

    async def hints(self) -> dict[str, str]:
        """Every stored key as a short prefix (:meth:`relaykit.Secret.hint`), by provider."""
        return {name: key.hint() for name, key in (await self.keys()).items()}

    async def remove(self, provider: str) -> bool:
        """Delete the key of ``provider``; return whether there was one."""
        return await self._storage.vault_delete(provider)

    async def rotate(self, new: MasterKey) -> int:
        """Re-encrypt every key under ``new`` in one write; return how many keys."""
        keys = await self.keys()
        fernet = new.fernet()
        await self._storage.vault_put(
            {name: self._encrypt(name, k, fernet) for name, k in keys.items()}
        )
        self._master, self._fernet = new, fernet
        return len(keys)


async def rotate_master_key(
    storage: Storage, env: Mapping[str, str] | None = None
) -> tuple[MasterKey, int]:
    """Move the vault to a new master key; return it and how many keys were re-encrypted.

    With ``$RELAYKIT_MASTER_KEY`` the new key must come from
    ``$RELAYKIT_NEW_MASTER_KEY`` (relaykit cannot change your environment);
    with a key file, a new key is generated and replaces the file.
    """
    env = os.environ if env is None else env
    current = load_master_key(env)
    if current is None:
        raise ConfigError(
            "there is no key vault to rotate", hint="store a key with `relaykit keys set`"
        )
    if current.path is None:
        if not env.get(NEW_MASTER_KEY_ENV):
            raise ConfigError(
                f"the master key comes from {MASTER_KEY_ENV}, so the new one must come from "
                f"{NEW_MASTER_KEY_ENV}",
                hint=f"{_GENERATE_HINT}, set {NEW_MASTER_KEY_ENV}, rotate, then replace "
                f"{MASTER_KEY_ENV} with it",
            )
        new = MasterKey(Secret(env[NEW_MASTER_KEY_ENV].strip()), NEW_MASTER_KEY_ENV)
        count = await KeyVault(storage, current).rotate(new)
        return new, count
    path = current.path
    pending = path.with_name(path.name + _NEW_SUFFIX)
    if pending.exists():  # finish an interrupted rotation with the key it chose
        new_key = _read_key(pending)
    else:
        new_key = generate_key()
        _write_key(pending, new_key)
    count = await KeyVault(storage, current).rotate(MasterKey(new_key, str(path), (), path))
    os.replace(pending, path)
    return MasterKey(new_key, str(path), (), path), count


async def load_vault_keys(
    storage: Storage, env: Mapping[str, str] | None = None
) -> dict[str, Secret]:
    """The vault's keys for a starting client: empty when no master key exists yet."""
    master = load_master_key(env)
    if master is None:
        return {}
    return await KeyVault(storage, master).keys()
