"""A listing larger than a pipe holds, read only in part (``relaykit logs -n 2000 |
head -1``): the system takes the first part of the one big write, then the reader is
gone. Python's unbuffered stdout (``PYTHONUNBUFFERED=1``, common in containers)
returned that short count and the text layer dropped the rest, silently: exit 0 and
"more calls may follow" under a cut listing; a disk filling up halfway through cut
the file the same way. The rest is now written until the system says why it cannot
be: a closed pipe exits 141 quietly."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.cli.table import write_text


def test_write_text_keeps_what_the_stream_cannot_encode_as_escapes() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii", write_through=True)

    write_text("Grüße \ud83d\n", out)

    assert raw.getvalue() == b"Gr\\xfc\\xdfe \\ud83d\n"


def test_write_text_writes_after_what_the_stream_holds_already() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    out.write("first ")

    write_text("é" * 100_000 + "\n", out)
    out.write("last")
    out.flush()

    assert raw.getvalue().decode("utf-8") == "first " + "é" * 100_000 + "\nlast"


@pytest.fixture
def many_calls(logged_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> int:
    """2,000 logged calls: one real call, imported again under other ids."""
    assert main(["prompt", "--no-stream", "-m", "openai/gpt-4o-mini", "Hi"]) == 0
    capsys.readouterr()
    assert main(["logs", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    spilled = tmp_path / "many.jsonl"
    with spilled.open("w") as f:
        for i in range(1, 2000):
            record["id"] = f"{i:032x}"
            record["started_at"] -= 1
            f.write(json.dumps(record) + "\n")
    assert main(["logs", "import", str(spilled)]) == 0
    capsys.readouterr()
    return 2000


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["PYTHONUNBUFFERED", "buffered"])
@pytest.mark.parametrize("view", [[], ["--full"]])
def test_a_listing_read_in_part_exits_141_quietly(
    many_calls: int, view: list[str], unbuffered: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    process = subprocess.Popen(
        [sys.executable, "-m", "relaykit.cli", "logs", "-n", str(many_calls), *view],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()  # head -1: the listing is far bigger than the pipe
        process.stdout.close()
        err = process.stderr.read()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # closes the pipes

    assert (process.returncode, err) == (141, b"")
