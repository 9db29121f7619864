"""The files callers upload for OpenAI's Batch API (``POST /v1/files``), kept on disk.

An upload precedes the batch that reads it, maybe from another gateway process,
so the files are kept in a directory, never in memory:

- where: ``$RELAYKIT_GATEWAY_FILES_DIR``, else ``gateway-files`` in relaykit's
  user config dir (created on the first upload). Gateway processes that share
  the directory share the files;
- how big: each file up to :data:`MAX_FILE_BYTES` (OpenAI's 200 MB for batch
  input), all of them together up to :data:`MAX_TOTAL_BYTES`
  (``$RELAYKIT_GATEWAY_FILES_MAX_BYTES``); an upload streams to disk and is
  refused the moment it would pass either;
- how long: a file expires :data:`TTL` (30 days, as OpenAI's batch files do)
  after its upload, or as the caller's ``expires_after`` says (an hour to 30
  days); expired files are removed at the next upload, or when asked for;
- whose: each file belongs to the gateway key that uploaded it (by the key's
  name, never its value); another key cannot see, read or delete it.

Beside each file, ``{id}.json`` holds its description; ``batches/`` holds a
small record per batch created over a file (its owner and ``metadata``), for
the batch object and the batch list, and one per Message Batch (its owner), for
Anthropic's batch list; ``settings/`` the settings each request of a
Responses API batch gave, which its answer repeats (:meth:`FileStore.keep_settings`).
A batch's status always comes from its provider: the gateway's batch ids carry the batch (see
:mod:`relaykit_gateway.openai_batches`), so any process can answer for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import attrs

from relaykit import ConfigError
from relaykit.config import user_config_dir

from .whole_numbers import whole_number

#: where :meth:`FileStore.from_env` keeps the files
DIR_ENV = "RELAYKIT_GATEWAY_FILES_DIR"
#: and how many bytes all of them may hold together
MAX_BYTES_ENV = "RELAYKIT_GATEWAY_FILES_MAX_BYTES"
#: the largest file taken: OpenAI's limit for a batch input file (200 MB)
MAX_FILE_BYTES = 200 * 1024 * 1024
#: all files together: 10 GiB
MAX_TOTAL_BYTES = 10 * 1024**3
#: how long a file is kept unless its upload says otherwise: 30 days
TTL = 30 * 24 * 3600
#: the expiry a caller may ask for (OpenAI's ``expires_after.seconds`` bounds)
MIN_TTL, MAX_TTL = 3600, 30 * 24 * 3600
#: a half-written upload older than this was abandoned by a process that died
_STALE_PART = 3600
_ID = re.compile(r"file-[0-9a-f]{24}")


class StoreFullError(Exception):
    """An upload that would pass the per-file or the total size cap."""


@attrs.frozen
class StoredFile:
    """An uploaded file, as its description says."""

    id: str
    owner: str | None
    filename: str
    bytes: int
    created_at: int
    expires_at: int
    purpose: str = "batch"


class Upload:
    """One upload being written: :meth:`write` its bytes in order."""

    def __init__(self, file: anyio.AsyncFile[bytes], limit: int, full: str) -> None:
        self._file = file
        self._limit = limit
        self._full = full
        #: the bytes written so far
        self.size = 0
        #: how long the file is kept (``None``: as long as the store keeps files)
        self.ttl: int | None = None
        #: the kept file, once the upload ended cleanly
        self.stored: StoredFile | None = None

    async def write(self, data: bytes) -> None:
        """Append ``data``; :class:`StoreFullError` past the store's caps."""
        self.size += len(data)
        if self.size > self._limit:
            raise StoreFullError(self._full)
        await self._file.write(data)


class FileStore:
    """Uploaded files in ``directory``, each its owner's, expiring (see the module)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_total_bytes: int = MAX_TOTAL_BYTES,
        ttl: int = TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.ttl = ttl
        self._clock = clock
        #: bytes being uploaded now, counted against the total before they land
        self._writing = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FileStore:
        """The store ``$RELAYKIT_GATEWAY_FILES_DIR`` and ``$RELAYKIT_GATEWAY_FILES_MAX_BYTES``
        say (defaults: ``gateway-files`` in the user config dir, :data:`MAX_TOTAL_BYTES`)."""
        env = os.environ if env is None else env
        directory = env.get(DIR_ENV) or user_config_dir(env) / "gateway-files"
        total = env.get(MAX_BYTES_ENV, "").strip()
        most = whole_number(total) if total else MAX_TOTAL_BYTES
        if most is None:
            shown = total if len(total) <= 40 else total[:40] + "..."
            raise ConfigError(
                f"{MAX_BYTES_ENV} must be a whole number of bytes in digits 0-9, not {shown!r}",
                hint=f"e.g. {MAX_BYTES_ENV}={MAX_TOTAL_BYTES}",
            )
        return cls(directory, max_total_bytes=most)

    # -- files

    @asynccontextmanager
    async def upload(self, owner: str | None, filename: str) -> AsyncIterator[Upload]:
        """Write a new file of ``owner``'s. On a clean exit it is kept, expiring
        :attr:`Upload.ttl` seconds (else the store's) after its upload, and
        :attr:`Upload.stored` describes it; on an error, the half-written file is
        removed."""
        await anyio.to_thread.run_sync(self._sweep)
        used = await anyio.to_thread.run_sync(self._used) + self._writing
        room = max(0, self.max_total_bytes - used)
        if room < self.max_file_bytes:
            limit = room
            full = (
                f"the gateway's file store is full ({used:,} of its {self.max_total_bytes:,}"
                " bytes): delete files you no longer need (DELETE /v1/files/{id}), or ask"
                f" its operator to raise {MAX_BYTES_ENV}"
            )
        else:
            limit = self.max_file_bytes
            full = (
                f"the file is larger than {self.max_file_bytes:,} bytes, the most a batch"
                " input file may hold: split its requests over several files and batches"
            )
        file_id = "file-" + secrets.token_hex(12)
        part = self.directory / f"{file_id}.part"
        await anyio.Path(self.directory).mkdir(parents=True, exist_ok=True)
        self._writing += limit
        try:
            async with await anyio.open_file(part, "wb") as out:
                upload = Upload(out, limit, full)
                yield upload
            now = int(self._clock())
            stored = StoredFile(
                file_id, owner, filename, upload.size, now, now + (upload.ttl or self.ttl)
            )
            # the bytes first: a description is only ever of a whole file
            await anyio.Path(part).rename(self._data(file_id))
            await anyio.Path(self._meta(file_id)).write_text(json.dumps(attrs.asdict(stored)))
            upload.stored = stored
        finally:
            self._writing -= limit
            with anyio.CancelScope(shield=True):
                await anyio.Path(part).unlink(missing_ok=True)

    async def get(self, owner: str | None, file_id: str) -> StoredFile | None:
        """``owner``'s file ``file_id``, or ``None`` (unknown, expired, another's)."""
        if not _ID.fullmatch(file_id):
            return None  # never a path on disk: not an id this store made
        try:
            text = await anyio.Path(self._meta(file_id)).read_text()
        except OSError:
            return None
        stored = StoredFile(**json.loads(text))
        if stored.expires_at <= self._clock():
            await self._remove(file_id)
            return None
        return stored if stored.owner == owner else None

    async def chunks(
        self, stored: StoredFile, size: int = 64 * 1024
    ) -> AsyncGenerator[bytes, None]:
        """The file's bytes, ``size`` at a time."""
        async with await anyio.open_file(self._data(stored.id), "rb") as file:
            while chunk := await file.read(size):
                yield chunk

    async def lines(self, stored: StoredFile) -> AsyncGenerator[bytes, None]:
        """The file's lines, one at a time (with their line breaks)."""
        # read in chunks, not a line per read: each read is a trip to a worker thread
        rest = b""
        async with aclosing(self.chunks(stored)) as chunks:
            async for chunk in chunks:
                *whole, rest = (rest + chunk).split(b"\n")
                for line in whole:
                    yield line + b"\n"
        if rest:
            yield rest

    async def delete(self, owner: str | None, file_id: str) -> bool:
        """Remove ``owner``'s file ``file_id``; whether there was one."""
        if await self.get(owner, file_id) is None:
            return False
        await self._remove(file_id)
        return True

    async def files(self, owner: str | None) -> list[StoredFile]:
        """``owner``'s files, newest first."""
        await anyio.to_thread.run_sync(self._sweep)
        found = await anyio.to_thread.run_sync(self._described, self.directory, owner)
        return sorted((StoredFile(**entry) for entry in found), key=lambda f: (-f.created_at, f.id))

    # -- batch records

    async def keep_batch(
        self, owner: str | None, batch_id: str, metadata: Mapping[str, str] | None
    ) -> None:
        """Keep ``owner``'s batch ``batch_id`` (the gateway's id) and its ``metadata``, for
        as long as a file is kept."""
        now = int(self._clock())
        record = {
            "id": batch_id,
            "owner": owner,
            "metadata": dict(metadata) if metadata is not None else None,
            "created_at": now,
            "expires_at": now + self.ttl,
        }
        path = anyio.Path(self._record(batch_id))
        await path.parent.mkdir(parents=True, exist_ok=True)
        await path.write_text(json.dumps(record))

    async def batch(self, owner: str | None, batch_id: str) -> dict[str, Any] | None:
        """``owner``'s record of ``batch_id``, if this store keeps one."""
        try:
            record: dict[str, Any] = json.loads(
                await anyio.Path(self._record(batch_id)).read_text()
            )
        except OSError:
            return None
        if record["owner"] != owner or record["id"] != batch_id:
            return None
        return record if record["expires_at"] > self._clock() else None

    async def batches(self, owner: str | None, prefix: str = "") -> list[dict[str, Any]]:
        """``owner``'s batch records whose ids start with ``prefix`` (one API's: OpenAI's
        and Anthropic's batches are kept here alike), newest first."""
        found = await anyio.to_thread.run_sync(self._described, self.directory / "batches", owner)
        now = self._clock()
        live = [r for r in found if r["expires_at"] > now and r["id"].startswith(prefix)]
        return sorted(live, key=lambda r: (-r["created_at"], r["id"]))

    async def keep_settings(
        self, owner: str | None, batch_id: str, settings: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Keep the settings each request of ``owner``'s relaykit batch ``batch_id``
        gave, by custom id, for as long as a file is kept: a Responses API answer
        repeats its request's, and the batch's results come back without them (the
        input file may be gone by then)."""
        now = int(self._clock())
        record = {
            "id": batch_id,
            "owner": owner,
            "settings": dict(settings),
            "created_at": now,
            "expires_at": now + self.ttl,
        }
        path = anyio.Path(self._settings(batch_id))
        await path.parent.mkdir(parents=True, exist_ok=True)
        await path.write_text(json.dumps(record))

    async def settings(self, owner: str | None, batch_id: str) -> dict[str, dict[str, Any]]:
        """The settings :meth:`keep_settings` kept for ``owner``'s ``batch_id``, by custom
        id (empty: none kept, expired, or not ``owner``'s)."""
        try:
            record = json.loads(await anyio.Path(self._settings(batch_id)).read_text())
        except (OSError, ValueError):
            return {}
        if record.get("owner") != owner or record.get("id") != batch_id:
            return {}
        if record["expires_at"] <= self._clock():
            return {}
        kept: dict[str, dict[str, Any]] = record["settings"]
        return kept

    async def forget_settings(self, batch_id: str) -> None:
        """Drop the settings kept for relaykit's batch ``batch_id`` (its provider no
        longer knows it)."""
        await anyio.Path(self._settings(batch_id)).unlink(missing_ok=True)

    async def forget_batch(self, batch_id: str) -> None:
        """Drop the record of ``batch_id`` (its provider no longer knows it)."""
        await anyio.Path(self._record(batch_id)).unlink(missing_ok=True)

    # -- on disk

    def _data(self, file_id: str) -> Path:
        return self.directory / f"{file_id}.jsonl"

    def _meta(self, file_id: str) -> Path:
        return self.directory / f"{file_id}.json"

    def _record(self, batch_id: str) -> Path:
        # hashed: a batch id is long, and its characters are the caller's
        digest = hashlib.sha256(batch_id.encode()).hexdigest()[:32]
        return self.directory / "batches" / f"{digest}.json"

    def _settings(self, batch_id: str) -> Path:
        digest = hashlib.sha256(batch_id.encode()).hexdigest()[:32]
        return self.directory / "settings" / f"{digest}.json"

    async def _remove(self, file_id: str) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.Path(self._data(file_id)).unlink(missing_ok=True)
            await anyio.Path(self._meta(file_id)).unlink(missing_ok=True)

    def _used(self) -> int:
        """Bytes the kept files hold (in a worker thread)."""
        if not self.directory.is_dir():
            return 0
        total = 0
        for path in self.directory.iterdir():
            if path.suffix in (".jsonl", ".part"):
                with suppress(OSError):
                    total += path.stat().st_size
        return total

    def _sweep(self) -> None:
        """Remove expired files and records, and abandoned uploads (in a worker thread)."""
        if not self.directory.is_dir():
            return
        now = self._clock()
        for path in [*self.directory.iterdir(), *self._records()]:
            with suppress(OSError, ValueError, KeyError):
                if path.suffix == ".part":
                    if path.stat().st_mtime < now - _STALE_PART:
                        path.unlink()
                elif path.suffix == ".json" and json.loads(path.read_text())["expires_at"] <= now:
                    path.unlink()
                    path.with_suffix(".jsonl").unlink(missing_ok=True)

    def _records(self) -> list[Path]:
        found: list[Path] = []
        for name in ("batches", "settings"):
            directory = self.directory / name
            if directory.is_dir():
                found += directory.iterdir()
        return found

    @staticmethod
    def _described(directory: Path, owner: str | None) -> list[dict[str, Any]]:
        """The descriptions in ``directory`` that are ``owner``'s (in a worker thread)."""
        if not directory.is_dir():
            return []
        found = []
        for path in directory.glob("*.json"):
            with suppress(OSError, ValueError):
                entry = json.loads(path.read_text())
                if isinstance(entry, dict) and entry.get("owner") == owner:
                    found.append(entry)
        return found
