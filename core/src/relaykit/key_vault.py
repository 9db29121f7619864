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

The vault also stores which master key it is under: the entry
:data:`GENERATION_ENTRY` (never a provider's name, which has no ``/``) holds a
fixed text encrypted with it. ``set`` and ``rotate`` read the vault and write
it in one step (the storage's optional ``vault_update``), so a ``keys set``
racing a ``keys rotate`` finds out, inside its transaction, that the vault has
moved to the new key, and encrypts under that one (re-reading the key file)
instead of the old.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .config import header_problem, user_config_dir
from .errors import ConfigError
from .protocols import Storage
from .secrets import Secret

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

__all__ = ["MASTER_KEY_ENV", "MasterKey", "load_master_key"]

log = logging.getLogger("relaykit.key_vault")

MASTER_KEY_ENV = "RELAYKIT_MASTER_KEY"
NEW_MASTER_KEY_ENV = "RELAYKIT_NEW_MASTER_KEY"
KEY_FILE = "master.key"
_NEW_SUFFIX = ".new"
#: the vault entry naming the master key the vault is under (see the module docstring)
GENERATION_ENTRY = "/master-key"
#: shaped as an entry (an empty key), so a relaykit from before it reads it as a harmless
#: key of a provider nobody has, rather than failing on it
_GENERATION_TEXT = json.dumps({"name": GENERATION_ENTRY, "key": ""}).encode()
#: how long a `keys set` that lost the race to create master.key waits for the winner to
#: finish writing it, where the file cannot be linked into place whole
_CREATED_KEY_WAIT = 2.0
#: a full disk (or quota): left to propagate, as for any write
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
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

    def ciphers(self) -> list[Fernet]:
        """One Fernet per key, ``key`` first then the fallbacks (call :meth:`fernet` first:
        it names an invalid key)."""
        fernet = _fernet_module()
        return [fernet.Fernet(key.reveal().encode()) for key in (self.key, *self.fallbacks)]


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
    if not text.strip():
        raise ConfigError(
            f"the master key file {path} is empty: creating it was cut short (a crash), "
            "or it was emptied",
            hint=f"if no key was stored under it, delete it and run `relaykit keys set` again; "
            f"else restore it from a backup, or set {MASTER_KEY_ENV} to the vault's key",
        )
    return Secret(text.strip())


def _write_key(path: Path, key: Secret) -> bool:
    """:func:`_write_new_key`, a failure to create the file (a file where the user
    config dir should be, a read-only home) a :class:`ConfigError` naming it: it
    was an OSError traceback."""
    try:
        return _write_new_key(path, key)
    except OSError as e:
        if e.errno in _NO_ROOM:  # the CLI names a full disk as for any write
            raise
        raise ConfigError(
            f"cannot create the master key file {path}: {e.strerror or e}",
            hint=f"make {path.parent} a writable directory, or set {MASTER_KEY_ENV} "
            f"instead; {_GENERATE_HINT}",
        ) from None


def _write_new_key(path: Path, key: Secret) -> bool:
    """Create ``path`` holding ``key``, whole and owner-only (0600) from the start.

    Return ``False``, writing nothing, when ``path`` exists already (another
    process created it meanwhile: its key is the one to use). The key goes to a
    private temporary file first and is hard-linked into place, so nobody (a
    crash, a concurrent reader) ever sees a half-written key. Where the
    filesystem has no hard links (some FUSE, SMB and overlay mounts), the file
    is created with ``O_EXCL`` instead (:func:`_create_key_file`).
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
        except OSError as e:  # EPERM, ENOTSUP, EXDEV, ENOSYS...: no hard links here
            log.debug("cannot hard-link %s (%s); creating it in place", path, e.strerror)
            return _create_key_file(path, key)
        _fsync_dir(path.parent)  # the new name survives a power cut before keys use it
        return True
    finally:
        os.unlink(tmp)


def _create_key_file(path: Path, key: Secret) -> bool:
    """:func:`_write_new_key` without hard links: create ``path`` with ``O_EXCL``, mode 0600.

    ``O_EXCL`` still makes one creator win a race (the others return ``False``
    and wait for the whole key: :func:`_read_created_key`). A failed write
    removes the file; a crash in the middle leaves it empty or cut short,
    which every reader names (never a key that silently decrypts nothing).
    The winner reads the file back: a filesystem that ignored ``O_EXCL``
    (old NFS) may have let another creator overwrite it, and then its key is
    the one in the file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return False
    data = memoryview((key.reveal() + "\n").encode())
    try:
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return _read_key(path).reveal() == key.reveal()


def _read_created_key(path: Path) -> Secret:
    """The key of a ``path`` another process has just created (it may still be writing it).

    A linked file is whole at once; one created in place (:func:`_create_key_file`)
    is whole when it ends with its newline. One still cut short after
    ``_CREATED_KEY_WAIT`` seconds was left by a crash: a ``ConfigError`` names it.
    """
    deadline = time.monotonic() + _CREATED_KEY_WAIT
    while True:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        if text.endswith("\n") or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    if not text.endswith("\n"):
        raise ConfigError(
            f"the master key file {path} is half-written: the `relaykit keys set` that "
            "created it stopped before finishing (a crash?)",
            hint="if no key was stored under it, delete it and run `relaykit keys set` again; "
            f"else restore it from a backup, or set {MASTER_KEY_ENV} to the vault's key",
        )
    return _read_key(path)


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
    found = _load_key_file(path)
    if found is not None or not create:
        return found
    key = generate_key()
    if not _write_key(path, key):  # another `keys set` created it meanwhile: share it
        return MasterKey(_read_created_key(path), str(path), (), path)
    log.info("created the key vault's master key in %s", path)
    return MasterKey(key, str(path), (), path)


def _load_key_file(path: Path) -> MasterKey | None:
    """The master key in ``path`` (with ``master.key.new`` as a fallback), or ``None``."""
    pending = path.with_name(path.name + _NEW_SUFFIX)
    if path.exists():
        fallbacks = (_read_key(pending),) if pending.exists() else ()
        return MasterKey(_read_key(path), str(path), fallbacks, path)
    if pending.exists():  # a rotation got as far as writing the new key only
        return MasterKey(_read_key(pending), str(pending), (), path)
    return None


def check_provider_name(provider: str) -> None:
    """Refuse a name no provider has: empty, or with a ``/`` (a model id splits at its first)."""
    if not provider or "/" in provider:
        raise ConfigError(
            f"{provider!r} is not a provider name",
            hint="name the provider as in a model id's part before the first '/', e.g. openai",
        )


class _Undecryptable(Exception):
    """A vault entry the master key (and its fallbacks) cannot decrypt."""


class _Rotated(Exception):
    """The vault is under a master key this process does not hold (rotated meanwhile)."""


#: what ``vault_update`` is given: the stored blobs in, the blobs to store out
_Change = Callable[[dict[str, bytes]], Mapping[str, bytes]]


class KeyVault:
    """Provider keys in ``storage``, encrypted under ``master``."""

    def __init__(self, storage: Storage, master: MasterKey) -> None:
        self._storage = storage
        self._use(master)

    def _use(self, master: MasterKey) -> None:
        self._master = master
        self._fernet = master.fernet()
        self._ciphers = master.ciphers()

    @property
    def master(self) -> MasterKey:
        """The master key in use."""
        return self._master

    def _encrypt(self, name: str, key: Secret, fernet: MultiFernet | Fernet | None = None) -> bytes:
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

    async def _update(self, change: _Change) -> None:
        """Read the vault and write ``change``'s blobs, in one step where the storage can."""
        update = getattr(self._storage, "vault_update", None)
        if update is not None:
            await update(change)
        else:  # a backend without it: a write racing this one can land in between
            await self._storage.vault_put(change(await self._storage.vault_items()))

    def _cipher_of(self, blobs: Mapping[str, bytes]) -> Fernet | None:
        """Which of this vault's keys the stored entries are under; ``None``: none of them."""
        marker = blobs.get(GENERATION_ENTRY)
        stored = marker is not None
        if not stored:  # a vault from before the marker: ask an entry, if any
            marker = next((blobs[n] for n in sorted(blobs)), None)
        if marker is not None:
            invalid = _fernet_module().InvalidToken
            for cipher in self._ciphers:
                try:
                    cipher.decrypt(marker)
                except invalid:
                    continue
                return cipher
        return None if stored else self._ciphers[0]

    async def set(self, provider: str, key: Secret | str) -> None:
        """Store (or replace) the key of ``provider``, without surrounding whitespace.

        Under the master key the vault is under when the write commits: a
        rotation that committed since this vault's key was loaded means
        reading the key file again (with ``$RELAYKIT_MASTER_KEY``, a
        :class:`ConfigError` asking for the new key).
        """
        check_provider_name(provider)
        # A pasted key often ends in a newline; in an HTTP header it fails every call.
        text = (key.reveal() if isinstance(key, Secret) else key).strip()
        if not text:
            raise ConfigError(
                f"the key for {provider!r} is empty", hint="pass the provider's API key"
            )
        # Stored, it would be listed as fine and fail every call that sends it.
        problem = header_problem(text)
        if problem is not None:
            raise ConfigError(
                f"the key for {provider!r} holds {problem}: every call sending it would fail",
                hint="paste the key again: it is one line of ASCII characters, without quotes",
            )
        reloaded = False
        while True:
            try:
                await self._update(
                    functools.partial(self._adding, provider=provider, text=text, reloaded=reloaded)
                )
                return
            except _Rotated:
                # A rotation committed since the key file was read: read it again
                # (master.key, or master.key.new as a fallback until it is renamed).
                assert self._master.path is not None
                again = _load_key_file(self._master.path)
                if again is None:
                    raise ConfigError(
                        f"the master key file {self._master.path} went away while storing "
                        f"the key for {provider!r}",
                        hint="restore it from a backup, or set "
                        f"{MASTER_KEY_ENV} to the vault's key, and store the key again",
                    ) from None
                self._use(again)
                reloaded = True

    def _adding(
        self, blobs: dict[str, bytes], provider: str, text: str, reloaded: bool
    ) -> dict[str, bytes]:
        """The blobs that store ``provider``'s key in ``blobs`` (run inside the vault write)."""
        cipher = self._cipher_of(blobs)
        if cipher is None and not reloaded and self._master.path is not None:
            raise _Rotated
        # Refuse to mix master keys in one vault: check the existing entries first (a
        # master key the vault is not under, from the environment, fails here).
        self._decrypted(blobs)
        # With no entry under it, the marker's key encrypts nothing: any key will do.
        cipher = cipher or self._ciphers[0]
        return {
            provider: self._encrypt(provider, Secret(text), cipher),
            GENERATION_ENTRY: cipher.encrypt(_GENERATION_TEXT),
        }

    async def keys(self) -> dict[str, Secret]:
        """Every stored key, decrypted. A wrong master key is a :class:`ConfigError`."""
        return self._decrypted(await self._storage.vault_items())

    def _decrypted(self, blobs: Mapping[str, bytes]) -> dict[str, Secret]:
        keys: dict[str, Secret] = {}
        failed: list[str] = []
        for name, blob in sorted(blobs.items()):
            if name == GENERATION_ENTRY:
                continue
            try:
                keys[name] = self._decrypt(name, blob)
            except _Undecryptable:
                failed.append(name)
        if failed:
            # The marker entry counts too: with one key stored, it is the only other.
            marker_decrypts = GENERATION_ENTRY in blobs and self._cipher_of(blobs) is not None
            raise self._cannot_decrypt(failed[0], others_decrypt=bool(keys) or marker_decrypts)
        return keys

    async def hints(self) -> dict[str, str]:
        """Every stored key as a short prefix (:meth:`relaykit.Secret.hint`), by provider."""
        return {name: key.hint() for name, key in (await self.keys()).items()}

    async def remove(self, provider: str) -> bool:
        """Delete the key of ``provider``; return whether there was one."""
        check_provider_name(provider)
        return await self._storage.vault_delete(provider)

    async def rotate(self, new: MasterKey) -> int:
        """Re-encrypt every key under ``new`` in one write; return how many keys."""
        fernet = new.fernet()
        cipher = new.ciphers()[0]
        count = 0

        def rotating(blobs: dict[str, bytes]) -> dict[str, bytes]:
            nonlocal count
            keys = self._decrypted(blobs)
            count = len(keys)
            rotated = {name: self._encrypt(name, k, fernet) for name, k in keys.items()}
            # Written even for an empty vault: a `keys set` racing this rotation reads it.
            rotated[GENERATION_ENTRY] = cipher.encrypt(_GENERATION_TEXT)
            return rotated

        await self._update(rotating)
        self._use(new)
        return count


async def rotate_master_key(
    storage: Storage, env: Mapping[str, str] | None = None
) -> tuple[MasterKey, int]:
    """Move the vault to a new master key; return it and how many keys were re-encrypted.

    With ``$RELAYKIT_MASTER_KEY`` the new key must come from
    ``$RELAYKIT_NEW_MASTER_KEY`` (relaykit cannot change your environment);
    with a key file, a new key is generated and replaces the file
    (``$RELAYKIT_NEW_MASTER_KEY`` set then is refused, rather than ignored).
    """
    env = os.environ if env is None else env
    current = load_master_key(env)
    if current is None:
        raise ConfigError(
            "there is no key vault to rotate", hint="store a key with `relaykit keys set`"
        )
    if current.path is not None and env.get(NEW_MASTER_KEY_ENV):
        # Ignored, the vault moved to a generated key, not the one its owner chose.
        raise ConfigError(
            f"{NEW_MASTER_KEY_ENV} is set, but the master key is the key file "
            f"{current.path}, and rotating a key file generates its new key",
            hint=f"unset {NEW_MASTER_KEY_ENV} to rotate the file; or, to keep the master "
            f"key in the environment, set {MASTER_KEY_ENV} to the file's key and rotate "
            f"again with {NEW_MASTER_KEY_ENV}",
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
    # Read with the new key too: a concurrent rotation with the same pending key may
    # have committed first (then this one re-encrypts under the same key again).
    reading = attrs.evolve(current, fallbacks=(*current.fallbacks, new_key))
    count = await KeyVault(storage, reading).rotate(MasterKey(new_key, str(path), (), path))
    _move_into_place(pending, path, new_key)
    return MasterKey(new_key, str(path), (), path), count


def _move_into_place(pending: Path, path: Path, new_key: Secret) -> None:
    """Rename ``pending`` (the new key, which the vault is under now) over ``path``.

    A failure (a read-only directory, an immutable file, a Windows lock) loses
    nothing: both files stay, both keys are read, and ``keys rotate`` run again
    finishes. It was an OSError traceback that left the user to guess that.
    """
    try:
        try:
            os.replace(pending, path)
        except FileNotFoundError:
            # A concurrent rotation took the same pending key and moved it into place
            # first: the vault is on that key, so this one is done too.
            if _read_key(path).reveal() != new_key.reveal():
                raise
        _fsync_dir(path.parent)
    except OSError as e:
        if e.errno in _NO_ROOM:  # the CLI names a full disk as for any write
            raise
        raise ConfigError(
            f"the vault's keys are under the new master key in {pending}, but it could not "
            f"replace {path}: {e.strerror or e}",
            hint=f"nothing is lost (both files' keys are read meanwhile; keep them): make "
            f"{path.parent} writable and {path} replaceable, then run "
            "`relaykit keys rotate` again to finish",
        ) from None


async def load_vault_keys(
    storage: Storage, env: Mapping[str, str] | None = None
) -> dict[str, Secret]:
    """The vault's keys for a starting client: empty when no master key exists yet."""
    master = load_master_key(env)
    if master is None:
        return {}
    return await KeyVault(storage, master).keys()
