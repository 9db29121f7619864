"""The fix an error names fits the trouble: a file held by another process, or one
that is no SQLite database, is not cured by checking permissions and free disk
space, which every SQLite error said."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import relaykit
from relaykit.cli import main
from relaykit.protocols import LogQuery
from relaykit_sqlite import SQLiteStorage

GENERIC = "free disk space"


@pytest.mark.anyio
async def test_a_file_another_process_holds_says_to_wait_for_it(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # before relaykit made it: not even its schema
        storage = SQLiteStorage(path, busy_timeout=0.05)
        with pytest.raises(relaykit.RelayError, match="locked") as caught:
            await storage.query_logs(LogQuery())
        await storage.aclose()
    finally:
        holder.close()
    hint = caught.value.hint or ""
    assert "another process" in hint, hint
    assert "raise [storage] busy_timeout (now 0.05 s)" in hint, hint
    assert GENERIC not in hint, hint


def test_a_file_that_is_no_database_says_to_move_it_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "logs.db"
    path.write_bytes(b"a note kept under the wrong name\n" * 200)
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{path}"\n')

    assert main(["-c", str(config), "logs"]) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: SQLite storage {path}: file is not a database"), line
    assert "move it aside" in line, line
    assert GENERIC not in line, line


@pytest.mark.parametrize("kind", ["no-database", "folder"])
def test_an_embeddings_file_that_cannot_be_used_names_the_fix(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "embeddings.db"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"a note kept under the wrong name\n" * 200)

    assert main(["collections", "list", "-d", str(path)]) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: embeddings file {path}: "), line
    assert ("not a folder" if kind == "folder" else "move it aside") in line, line
    assert "-d PATH" in line, line
    assert GENERIC not in line, line
