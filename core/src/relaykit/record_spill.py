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
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from .protocols import CallRecord
from .serialization import converter

#: the file's name in the user config dir when ``[storage] spill_path`` is unset
SPILL_FILE = "spilled-records.jsonl"


def default_spill_path() -> Path:
    """Where records are spilled unless ``[storage] spill_path`` says otherwise."""
    from .config import user_config_dir

    return user_config_dir() / SPILL_FILE


def spill(path: Path, records: Sequence[CallRecord], reason: str) -> list[CallRecord]:
    """Append ``records`` to ``path`` as JSON lines, with why they were not stored.

    Returns the records that cannot be written as JSON (left out: the caller
    says they are lost). Blocking: call it in a worker thread. One ``write`` of
    whole lines to a file opened for appending, so processes sharing the file
    do not interleave their lines.
    """
    when = datetime.now(UTC).isoformat()
    lines, unwritable = [], []
    for record in records:
        try:
            line = {"spilled_at": when, "reason": reason, "record": converter.unstructure(record)}
            lines.append(json.dumps(line, ensure_ascii=False))
        except Exception:
            unwritable.append(record)
    if not lines:
        return unwritable
    text = ("\n".join(lines) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(text)
        while view:  # a short write (a signal, a nearly full disk) goes on where it stopped
            view = view[os.write(fd, view) :]
        os.fsync(fd)  # the records' only copy: durable before the writer forgets them
    finally:
        os.close(fd)
    return unwritable


def read_spilled(path: Path) -> Iterator[CallRecord]:
    """The records in a spill file (or any JSON Lines file of records), in order.

    A line may be a spill line (``{"record": {...}, ...}``) or a record's JSON
    alone, as ``relaykit logs --json`` does not write but a script may.
    Blank lines are skipped; a line that is not a record raises ``ValueError``
    naming its number.
    """
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and isinstance(data.get("record"), dict):
                    data = data["record"]
                yield converter.structure(data, CallRecord)
            except Exception as e:
                raise ValueError(f"{path}:{number}: not a call record ({e})") from None


__all__ = ["SPILL_FILE", "default_spill_path", "read_spilled", "spill"]
