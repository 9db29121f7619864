"""Provider API keys encrypted at rest, on top of a storage backend's blob primitives.

Keys are encrypted with Fernet (AES-128-CBC plus HMAC-SHA256, from the
``cryptography`` package: ``pip install relaykit[vault]``; the storage plugins
depend on it). The master key comes from ``$RELAYKIT_MASTER_KEY`` or, failing
that, from ``master.key`` in the user config dir, created (whole, mode 0600)
the first time a key is stored. A client reads the vault once, when it starts
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
import tempfile
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
    ``shadows`` is the key file a key from the environment overrides, if one exists.
    """

    key: Secret = attrs.field(repr=False)
    source: str
    fallbacks: tuple[Secret, ...] = attrs.field(default=(), repr=False)
    path: Path | None = None
    shadows: Path | None = None

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
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        # Name the file and why, never its bytes (a decode error quotes one).
        why = e.strerror if isinstance(e, OSError) and e.strerror else "it is not UTF-8 text"
        raise ConfigError(
            f"cannot read the master key file {path}: {why}",
            hint=f"restore it from a backup, or set {MASTER_KEY_ENV} to the key the vault "
            "was stored with",
        ) from None
    # Warn, as gpg does about its home, rather than refuse, as ssh does: a refusal
    # would stop every client until someone runs chmod, and the key may have been
    # read already. Windows reports no owner-only bits in st_mode.
    if os.name != "nt" and mode & 0o077:
        log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
    return Secret(text.strip())


def _write_key(path: Path, key: Secret) -> bool:
    """Create ``path`` holding ``key``, whole and owner-only (0600) from the start.

    Return ``False``, writing nothing, when ``path`` exists already (another
    process created it meanwhile: its key is the one to use). The key goes to a
    private temporary file first and is hard-linked into place, so nobody (a
    crash, a concurrent reader) ever sees a half-written key.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key.reveal() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        _fsync_dir(path.parent)  # the new name survives a power cut before keys use it
        return True
    finally:
        os.unlink(tmp)


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # no directory handles to flush; NTFS journals the rename
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_master_key(
    env: Mapping[str, str] | None = None, *, create: bool = False
) -> MasterKey | None:
    """The master key: ``$RELAYKIT_MASTER_KEY``, else the key file, else ``None``.

    With ``create``, a missing key file is generated (mode 0600) instead.
    """
    env = os.environ if env is None else env
    path = key_file(env)
    if env.get(MASTER_KEY_ENV):
        shadowed = path if path.exists() else None
        return MasterKey(Secret(env[MASTER_KEY_ENV].strip()), MASTER_KEY_ENV, shadows=shadowed)
    pending = path.with_name(path.name + _NEW_SUFFIX)
    if path.exists():
        fallbacks = (_read_key(pending),) if pending.exists() else ()
        return MasterKey(_read_key(path), str(path), fallbacks, path)
    if pending.exists():  # a rotation got as far as writing the new key only
        return MasterKey(_read_key(pending), str(pending), (), path)
    if not create:
        return None
    key = generate_key()
    if not _write_key(path, key):  # another `keys set` created it meanwhile: share it
        return MasterKey(_read_key(path), str(path), (), path)
    log.info("created the key vault's master key in %s", path)
    return MasterKey(key, str(path), (), path)


class _Undecryptable(Exception):
    """A vault entry the master key (and its fallbacks) cannot decrypt."""


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
            raise _Undecryptable(name) from None
        if payload.get("name") != name:
            raise ConfigError(
                f"the key vault entry {name!r} holds the key of {payload.get('name')!r}",
                hint=f"`relaykit keys rm {name}` and set the key again",
            )
        return Secret(payload["key"])

    def _cannot_decrypt(self, name: str, others_decrypt: bool) -> ConfigError:
        rm = f"`relaykit keys rm {name}` and set the key again"
        if others_decrypt:  # the master key is right: this one row was edited or damaged
            return ConfigError(
                f"the key vault entry {name!r} is damaged: the master key from "
                f"{self._master.source} decrypts the other entries but not this one",
                hint=rm,
            )
        hint = f"use the master key the keys were stored with, or {rm}"
        if self._master.shadows is not None:
            hint = (
                f"{MASTER_KEY_ENV} wins over the key file {self._master.shadows}: unset it to "
                f"use the file; or {hint}"
            )
        return ConfigError(
            f"the master key from {self._master.source} cannot decrypt the key vault "
            f"(entry {name!r})",
            hint=hint,
        )

    async def set(self, provider: str, key: Secret | str) -> None:
        """Store (or replace) the key of ``provider``, without surrounding whitespace."""
        # A pasted key often ends in a newline; in an HTTP header it fails every call.
        text = (key.reveal() if isinstance(key, Secret) else key).strip()
        if not text:
            raise ConfigError(
                f"the key for {provider!r} is empty", hint="pass the provider's API key"
            )
        # Refuse to mix master keys in one vault: check the existing entries first.
        await self.keys()
        await self._storage.vault_put({provider: self._encrypt(provider, Secret(text))})

    async def keys(self) -> dict[str, Secret]:
        """Every stored key, decrypted. A wrong master key is a :class:`ConfigError`."""
        blobs = await self._storage.vault_items()
        keys: dict[str, Secret] = {}
        failed: list[str] = []
        for name, blob in sorted(blobs.items()):
            try:
                keys[name] = self._decrypt(name, blob)
            except _Undecryptable:
                failed.append(name)
        if failed:
            raise self._cannot_decrypt(failed[0], others_decrypt=bool(keys))
        return keys

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
        if new.key == current.key:
            raise ConfigError(
                f"{NEW_MASTER_KEY_ENV} is already the master key ({MASTER_KEY_ENV})",
                hint=f"{_GENERATE_HINT}, and put it in {NEW_MASTER_KEY_ENV}",
            )
        # Read with the new key too: a run that committed, then died before the
        # variables were swapped, is finished by running it again.
        reading = attrs.evolve(current, fallbacks=(new.key,))
        count = await KeyVault(storage, reading).rotate(new)
        return new, count
    path = current.path
    pending = path.with_name(path.name + _NEW_SUFFIX)
    if pending.exists():  # finish an interrupted rotation with the key it chose
        new_key = _read_key(pending)
    else:
        new_key = generate_key()
        if not _write_key(pending, new_key):  # a concurrent rotation chose one first
            new_key = _read_key(pending)
    count = await KeyVault(storage, current).rotate(MasterKey(new_key, str(path), (), path))
    try:
        os.replace(pending, path)
    except FileNotFoundError:
        # A concurrent rotation took the same pending key and moved it into place
        # first: the vault is on that key, so this one is done too.
        if _read_key(path).reveal() != new_key.reveal():
            raise
    _fsync_dir(path.parent)
    return MasterKey(new_key, str(path), (), path), count


async def load_vault_keys(
    storage: Storage, env: Mapping[str, str] | None = None
) -> dict[str, Secret]:
    """The vault's keys for a starting client: empty when no master key exists yet."""
    master = load_master_key(env)
    if master is None:
        return {}
    return await KeyVault(storage, master).keys()
