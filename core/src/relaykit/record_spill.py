"""Call records storage could not take, kept in a JSON Lines file instead of lost.

The call log (:mod:`relaykit.call_log`) spills a batch here when storage has
been failing for longer than ``[storage] retry_for`` (or than ``close_timeout``
while the client closes), and a record storage refuses outright (a poison
record) on its own. ``relaykit logs import FILE`` writes them back; both
built-in backends ignore a record whose id is already stored, so importing a
file twice, or a record that did get stored after all, stores nothing twice.

One line per record: ``{"spilled_at": ..., "reason": ..., "record": {...}}``.
Records are already redacted; the file is created readable by its owner only,
as the SQLite log is, since records hold prompts and answers.

Several processes may share one file, and one of them may replay it into
storage (the call log does once storage works again, see :mod:`relaykit.spill_replay`)
while others append. An exclusive ``flock`` on ``FILE.lock`` is held around
each append and around :func:`take`, which renames the file to a name of its
own (``FILE.<pid>.<token>.taken``): appends after it start a fresh file, so
no line is written into a file being replayed and then deleted. A process
that dies mid-replay leaves its taken file behind; the next :func:`take` (a
replay's or ``relaykit logs import``'s) picks it up, even in a process that has
the dead one's pid. A record may then be
stored twice; storage ignores a known id, so that stores nothing twice.
Lines storage refused (``"reason": "refused: ..."``) are not replayed but
moved to ``FILE.refused`` (see :func:`keep_refused`). Without ``fcntl``
(Windows) there is no lock and no automatic replay; ``relaykit logs import``
works everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so no automatic replay
    fcntl = None  # type: ignore[assignment]

from .protocols import CallRecord

#: the file's name in the user config dir when ``[storage] spill_path`` is unset and
#: the storage is not known (with a storage target: ``spilled-records-<hash>.jsonl``)
SPILL_FILE = "spilled-records.jsonl"

#: whether appends and takes lock the file, so a process may replay it while others
#: append (POSIX); without it only ``relaykit logs import`` loads spilled records
CAN_REPLAY = fcntl is not None

#: how a taken file's name ends (``FILE.<pid>.<token>.taken``); ``.importing`` was
#: what ``relaykit logs import`` used before, and is picked up as well
TAKEN_SUFFIXES = (".taken", ".importing")


def default_spill_path(target: str | None = None) -> Path:
    """Where records are spilled unless ``[storage] spill_path`` says otherwise.

    ``target`` names the storage the records belong to (see :func:`storage_target`):
    each storage gets a file of its own, so a replay never stores one storage's
    records in another. Without it: ``spilled-records.jsonl``.
    """
    from .config import user_config_dir

    if target is None:
        return user_config_dir() / SPILL_FILE
    digest = hashlib.sha256(target.encode()).hexdigest()[:12]
    return user_config_dir() / f"spilled-records-{digest}.jsonl"


def storage_target(backend: str, path: str | None, dsn: str | None) -> str:
    """A name for a storage, from ``[storage]``, without secrets (for :func:`default_spill_path`).

    The SQLite path made absolute; a DSN without its password (a password
    that changes must not change the file, and must not be hashed where a
    file name shows the hash).
    """
    parts = [backend]
    if path:
        parts.append(str(Path(path).expanduser().absolute()))
    if dsn:
        parts.append(_without_password(dsn))
    return "\n".join(parts)


def spill_target(storage: object) -> str | None:
    """The storage's own name for its spill file (its optional ``spill_target``), if any.

    Preferred to :func:`storage_target`: it names the storage actually built
    (a DSN from ``$RELAYKIT_POSTGRES_DSN``, a path given in code), which
    ``[storage]`` may not hold. Anything but a non-empty ``str`` counts as none.
    """
    target = getattr(storage, "spill_target", None)
    return target if isinstance(target, str) and target.strip() else None


def _without_password(dsn: str) -> str:
    """``dsn`` with its password left out: a URL's ``user:password@``, a
    key-value DSN's ``password=...``, and ``password=`` in a URL's query."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}@{host}"
        query = "&".join(
            item for item in parts.query.split("&") if not item.lower().startswith("password=")
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    return " ".join(item for item in dsn.split() if not item.lower().startswith("password="))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock on ``path``'s lock file (``FILE.lock``); blocking.

    Without ``fcntl`` it locks nothing. The lock file stays, but may be removed by
    one holding the lock (:func:`drop_lock`): a lock taken on a lock file that was
    removed meanwhile locks nothing the next process sees, so it is taken again
    on the file now at that name.
    """
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = lock_path(path)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                now = os.stat(lock)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)  # (releases the lock)


def lock_path(path: Path) -> Path:
    """The lock file of spill file ``path``: ``FILE.lock``."""
    return path.with_name(path.name + ".lock")


def drop_lock(path: Path) -> None:
    """Remove ``path``'s lock file, under its lock (:func:`locked` then takes the
    lock on a new one). For ``relaykit logs import``, which made one next to the
    file it was given, a file no client spills into. Blocking."""
    if fcntl is None or not lock_path(path).exists():
        return
    with locked(path):
        lock_path(path).unlink(missing_ok=True)


def spill(path: Path, records: Sequence[CallRecord], reason: str) -> list[CallRecord]:
    """Append ``records`` to ``path`` as JSON lines, with why they were not stored.

    Returns the records that cannot be written as JSON (left out: the caller
    says they are lost). Blocking: call it in a worker thread. One ``write`` of
    whole lines to a file opened for appending, so processes sharing the file
    do not interleave their lines.
    """
    from .serialization import converter  # cattrs: only once something is spilled

    when = datetime.now(UTC).isoformat()
    lines: list[bytes] = []
    unwritable: list[CallRecord] = []
    for record in records:
        try:
            line = {"spilled_at": when, "reason": reason, "record": converter.unstructure(record)}
            try:
                lines.append(json.dumps(line, ensure_ascii=False).encode())
            except UnicodeEncodeError:
                # A lone surrogate (text decoded with surrogateescape), which UTF-8
                # cannot carry, and JSON's \u escapes can: the same value, kept.
                lines.append(json.dumps(line).encode())
        except Exception:
            unwritable.append(record)
    if not lines:
        return unwritable
    _append(path, b"\n".join(lines) + b"\n")
    return unwritable


def _append(path: Path, text: bytes) -> None:
    """Append ``text`` to ``path`` (created for its owner only) under the lock, durably."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with locked(path):  # not while take() moves the file: no line lands in a taken file
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
            created = True
        except FileExistsError:
            fd = os.open(path, os.O_RDWR | os.O_APPEND, 0o600)
            created = False
        try:
            if _torn(fd):
                # A writer killed mid-write left half a line: end it, or the first
                # of these lines would be glued to it and lost with it.
                text = b"\n" + text
            view = memoryview(text)
            while view:  # a short write (a signal, a nearly full disk) goes on where it stopped
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # the records' only copy: durable before the writer forgets them
        finally:
            os.close(fd)
        if created:
            _sync_directory(path.parent)  # the new file's name: durable too


def _sync_directory(directory: Path) -> None:
    """fsync ``directory``, so a file just created in it survives a power cut (POSIX;
    elsewhere a directory cannot be opened, and this does nothing)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # (some file systems cannot sync a directory: the file's data is)
        pass
    finally:
        os.close(fd)


def _torn(fd: int) -> bool:
    """Whether the file open as ``fd`` ends without a line break (half a line)."""
    if os.fstat(fd).st_size == 0:
        return False
    os.lseek(fd, -1, os.SEEK_END)  # (os.pread is POSIX only; appends go to the end anyway)
    return os.read(fd, 1) != b"\n"


def take(path: Path) -> list[Path]:
    """Move ``path`` aside for a replay or import; the files taken, oldest first.

    Under the lock, ``path`` is renamed to ``FILE.<pid>.<token>.taken``, so
    appends from now on start a new file. Taken files left by processes that
    are gone (they died mid-replay) are claimed too, each renamed to a name of
    this process's, so two processes never both claim one. Blocking.
    """
    taken: list[Path] = []
    for leftover in _leftovers(path):
        mine = _taken_name(path)
        try:
            leftover.rename(mine)
        except FileNotFoundError:  # another process claimed it first
            continue
        taken.append(mine)
    mine = _taken_name(path)
    with locked(path):
        try:
            path.rename(mine)
        except FileNotFoundError:
            pass
        else:
            taken.append(mine)
    return taken


#: the names of the files this process has taken: one of its pid's that is not
#: among them was taken by an earlier process that had the same pid
_TAKEN_HERE: set[str] = set()


def _taken_name(path: Path) -> Path:
    name = f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.taken"
    _TAKEN_HERE.add(name)
    return path.with_name(name)


def _leftovers(path: Path) -> list[Path]:
    """Taken files of ``path`` whose process is gone, oldest first."""
    found = []
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        if not name.startswith(path.name + ".") or not name.endswith(TAKEN_SUFFIXES):
            continue
        pid = name[len(path.name) + 1 :].partition(".")[0]
        # ASCII digits: isdigit() is true of "²", which int() refuses
        if pid.isascii() and pid.isdigit() and _gone(int(pid), name):
            leftover = path.with_name(name)
            try:
                found.append((leftover.stat().st_mtime, leftover))
            except FileNotFoundError:
                continue
    return [leftover for _, leftover in sorted(found)]


def _gone(pid: int, name: str) -> bool:
    """Whether the process that took the file ``name`` (``pid``'s) is gone.

    One of this process's pid that it did not take was taken by a process
    before it: a container's main process, restarted after a crash mid-replay,
    often gets the pid it had (1, say), and would otherwise never replay it.
    """
    if pid == os.getpid():
        return name not in _TAKEN_HERE
    return not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a taken file of a live process is its own to finish)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # (someone else's)
        return True
    return True


def spilled_lines(path: Path) -> tuple[list[CallRecord], list[str]]:
    """The records in a taken file to replay, and the lines not to (as written).

    Not replayed: lines storage refused (``"reason": "refused: ..."``), and
    lines that are not a record (a line torn by a crash), kept for a person to
    look at rather than dropped.
    """
    records: list[CallRecord] = []
    kept: list[str] = []
    for line, text in _lines(path):
        record = _replayable(text) if text is not None else None
        if record is None:
            kept.append(line)
        else:
            records.append(record)
    return records, kept


def _lines(path: Path) -> Iterator[tuple[str, str | None]]:
    """``path``'s lines but blank ones: each as written (bytes that are not UTF-8
    escaped, see :func:`keep_refused`), and its text, ``None`` if not UTF-8.

    Decoded a line at a time: a line a crash tore inside a character must not
    stop the lines after it from being read.
    """
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield raw.decode("utf-8", "surrogateescape"), None
            else:
                yield text, text


def first_spilled(path: Path) -> CallRecord | None:
    """The first record a replay of ``path`` would store, read in place (nothing taken).

    Looks in the taken files of processes that are gone, then in ``path``; skips
    what :func:`spilled_lines` does not replay. ``None`` when there is no such
    record. For a probe of storage before :func:`take` moves anything. Blocking.
    """
    for file in [*_leftovers(path), path]:
        try:
            for _, text in _lines(file):
                record = _replayable(text) if text is not None else None
                if record is not None:
                    return record
        except FileNotFoundError:
            continue
    return None


def _replayable(line: str) -> CallRecord | None:
    """The record a spilled ``line`` holds; ``None`` for a line storage refused or
    one that is not a record (torn by a crash): those are kept apart, not replayed."""
    from .serialization import converter

    try:
        data = json.loads(line)
        if _refused(data):
            return None
        if isinstance(data, dict) and isinstance(data.get("record"), dict):
            data = data["record"]
        return converter.structure(data, CallRecord)
    except Exception:
        return None


def _refused(data: object) -> bool:
    return isinstance(data, dict) and str(data.get("reason", "")).startswith("refused:")


def refused_path(path: Path) -> Path:
    """Where a replay keeps ``path``'s lines storage refused: ``FILE.refused``."""
    return path.with_name(path.name + ".refused")


def keep_refused(path: Path, lines: Sequence[str]) -> Path:
    """Append ``lines`` (refused, or not records) to :func:`refused_path`; that path.

    A line :func:`spilled_lines` found not UTF-8 goes back to the bytes it was.
    """
    kept = refused_path(path)
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    _append(kept, text.encode("utf-8", "surrogateescape"))  # (a line not UTF-8: as it was)
    return kept


def give_back(taken: Sequence[Path], path: Path, *, skip_refused: bool = False) -> None:
    """Put taken files back: their lines appended to ``path``, then the files removed.

    For a replay or import that stops before it is done. Records it did store
    are stored again by the next one; storage ignores them. ``skip_refused``
    leaves out refused lines (and lines that are not records): a replay has
    put them in ``FILE.refused`` already.
    """
    for file in taken:
        try:
            # bytes: a file that is not UTF-8 goes back as it came
            text = file.read_bytes()
        except FileNotFoundError:
            continue
        kept = []
        for line in text.splitlines(keepends=True):
            if skip_refused and not _gives_back(line):
                continue
            kept.append(line if line.endswith(b"\n") else line + b"\n")
        if kept:
            _append(path, b"".join(kept))
        file.unlink(missing_ok=True)


def _gives_back(line: bytes) -> bool:
    """Whether a replay gives ``line`` back: one :func:`spilled_lines` would replay
    (it kept the others apart, in ``FILE.refused``: not twice)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(text.strip()) and _replayable(text) is not None


def has_spilled(path: Path) -> bool:
    """Whether ``path`` or a taken file of a process that is gone has records to replay."""
    return path.exists() or bool(_leftovers(path))


def read_spilled(path: Path) -> Iterator[CallRecord]:
    """The records in a spill file (or any JSON Lines file of records), in order.

    A line may be a spill line (``{"record": {...}, ...}``) or a record's JSON
    alone, as ``relaykit logs --json`` does not write but a script may.
    Blank lines are skipped; a line that is not a record raises ``ValueError``
    naming its number.
    """
    from .serialization import converter

    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(
                    f"{path}:{number}: not UTF-8 text (a spill file is JSON Lines of call"
                    " records, as relaykit writes them)"
                ) from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError(f"a JSON {type(data).__name__}, not an object")
                if isinstance(data.get("record"), dict):
                    data = data["record"]
                yield converter.structure(data, CallRecord)
            except Exception as e:
                raise ValueError(
                    f"{path}:{number}: not a call record ({_why(e)}; each line is a spill"
                    " line or a record as `relaykit logs --json` prints it)"
                ) from None


def _why(error: Exception) -> str:
    """What is wrong with a line: cattrs' nested errors as ``field: problem`` (its own
    message only counts them)."""
    import cattrs

    if isinstance(error, cattrs.ClassValidationError):
        found = cattrs.transform_error(error, path="record")
        return "; ".join(found[:4]) + ("; ..." if len(found) > 4 else "")
    return str(error)


__all__ = [
    "CAN_REPLAY",
    "SPILL_FILE",
    "default_spill_path",
    "drop_lock",
    "first_spilled",
    "give_back",
    "has_spilled",
    "keep_refused",
    "lock_path",
    "locked",
    "read_spilled",
    "refused_path",
    "spill",
    "spill_target",
    "spilled_lines",
    "storage_target",
    "take",
]
