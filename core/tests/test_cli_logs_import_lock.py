"""``relaykit logs import FILE`` leaves nothing beside FILE that was not there: the
``FILE.lock`` it takes FILE under was left behind by every import, failed or not
(``notes.jsonl.lock`` next to a file named by mistake). A lock file that was there
before (a spill file clients append to) stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit.cli import main


def _config(tmp_path: Path, storage_path: Path) -> Path:
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{storage_path}"\n')
    return config


@pytest.fixture
def record_line(logged_config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A call record's JSON line, as ``relaykit logs --json`` prints one."""
    assert main(["prompt", "--no-stream", "-m", "openai/gpt-4o-mini", "Hi"]) == 0
    capsys.readouterr()
    assert main(["logs", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return line + "\n"


@pytest.mark.parametrize(
    "content",
    [b"not json\n", b'{"id": "abc"}\n', b'{"record": \xff}\n', b""],
    ids=["not-json", "no-record", "not-utf8", "empty"],
)
def test_an_import_leaves_no_lock_file(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    spilled = folder / "notes.jsonl"
    spilled.write_bytes(content)
    config = _config(tmp_path, tmp_path / "logs.db")

    code = main(["-c", str(config), "logs", "import", str(spilled)])

    err = capsys.readouterr().err
    assert code == (0 if not content else 1), err
    left = sorted(p.name for p in folder.iterdir())
    assert left == ([] if not content else ["notes.jsonl"]), left
    if content:
        assert spilled.read_bytes() == content  # given back as it was


def test_an_import_storage_refuses_leaves_no_lock_file(
    record_line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    spilled = folder / "spill.jsonl"
    line = record_line
    spilled.write_text(line)
    config = _config(tmp_path, tmp_path)  # the call log's path is a directory

    assert main(["-c", str(config), "logs", "import", str(spilled)]) == 1

    assert "still in" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["spill.jsonl"]
    assert spilled.read_text() == line


def test_a_lock_file_that_was_there_stays(
    record_line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Clients appending to a spill file lock it through FILE.lock: removing theirs
    while an older relaykit waits on it would let two lock two files of one name."""
    spilled = tmp_path / "spill.jsonl"
    spilled.write_text(record_line)
    (tmp_path / "spill.jsonl.lock").touch()
    config = _config(tmp_path, tmp_path / "other.db")

    assert main(["-c", str(config), "logs", "import", str(spilled)]) == 0

    assert "stored 1 call record from" in capsys.readouterr().out
    assert (tmp_path / "spill.jsonl.lock").exists()
    assert not spilled.exists()


def test_a_lock_waited_on_while_its_file_is_removed_is_taken_on_the_new_one(
    tmp_path: Path,
) -> None:
    """drop_lock removes the lock file under the lock: a process that opened the old
    file and waited locks the file now at the name, so it excludes the next one."""
    import fcntl
    import os
    import threading

    from relaykit.record_spill import lock_path, locked

    path = tmp_path / "spill.jsonl"
    excluded: list[bool] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        with locked(path):
            fd = os.open(lock_path(path), os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                excluded.append(True)
            else:
                excluded.append(False)
            finally:
                os.close(fd)

    with locked(path):
        thread = threading.Thread(target=waiter)
        thread.start()
        started.wait(5)
        thread.join(0.2)  # it opened the lock file and waits on it
        lock_path(path).unlink()  # as drop_lock does, under the lock
    thread.join(10)
    assert excluded == [True]


def test_an_import_through_a_symbolic_link_refuses_and_leaves_both_alone(
    record_line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The link itself was moved aside and, the import failing, a copy of the file
    written in its place (as root, ``logs import /dev/stdin`` replaced /dev/stdin's
    link with a file); succeeding, the link went and the file stayed."""
    folder = tmp_path / "data"
    folder.mkdir()
    target = folder / "real.jsonl"
    target.write_text("not json\n")
    link = folder / "spill.jsonl"
    link.symlink_to(target)
    config = _config(tmp_path, tmp_path / "other.db")

    assert main(["-c", str(config), "logs", "import", str(link)]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{link} is a symbolic link to {target}" in err, err
    assert "--keep" in err, err
    assert link.is_symlink() and target.read_text() == "not json\n"
    assert sorted(p.name for p in folder.iterdir()) == ["real.jsonl", "spill.jsonl"]
    target.write_text(record_line)
    assert main(["-c", str(config), "logs", "import", "--keep", str(link)]) == 0
    assert link.is_symlink() and target.read_text() == record_line
