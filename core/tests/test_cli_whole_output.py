"""Every command's output is written whole, not only the listings ``write_text`` writes.

Under ``PYTHONUNBUFFERED=1`` (container images set it) Python's stdout hands each
write to the system once and drops what it did not take: an answer bigger than a
pipe holds, written to a non-blocking pipe (one a parent such as Node shares) or to
a reader that left, lost its end without an error, exit 0. A real ``relaykit``
process writes into a real pipe here, with an answer far bigger than one (64 KiB).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"
#: 4,000 numbered lines: 200 KB, three times what a Linux pipe holds
ANSWER = "".join(
    f"line {i:05d} of a long answer, written whole or not at all\n" for i in range(4000)
)


def _env(unbuffered: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    return env


def _relaykit(*argv: str) -> list[str]:
    return [sys.executable, "-m", "relaykit.cli", *argv]


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["PYTHONUNBUFFERED", "buffered"])
@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_a_big_answer_reaches_a_non_blocking_pipe_whole(
    openai_mock: OpenAIMock, unbuffered: str, json_output: bool
) -> None:
    openai_mock.script.reply(ANSWER)
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    argv = ["prompt", "--no-stream", "-m", MODEL, "Hi", *(["--json"] if json_output else [])]
    with open(read_end, "rb") as reader:
        process = subprocess.Popen(
            _relaykit(*argv),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=_env(unbuffered),
        )
        os.close(write_end)
        try:
            out = reader.read()
            err = process.stderr.read() if process.stderr else b""
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()

    assert (process.returncode, err) == (0, b"")
    text = json.loads(out)["text"] if json_output else out.decode()
    assert text.rstrip("\n") == ANSWER.rstrip("\n")


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["PYTHONUNBUFFERED", "buffered"])
@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_a_big_answer_read_in_part_exits_141_quietly(
    openai_mock: OpenAIMock, unbuffered: str, stream: bool
) -> None:
    openai_mock.script.reply(ANSWER)
    argv = ["prompt", "-m", MODEL, "Hi", *([] if stream else ["--no-stream"])]
    process = subprocess.Popen(
        _relaykit(*argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(unbuffered),
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert (
            process.stdout.readline()
            == b"line 00000 of a long answer, written whole or not at all\n"
        )
        process.stdout.close()  # head -1
        err = process.stderr.read()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()

    assert (process.returncode, err) == (141, b"")


def test_help_still_imports_no_anyio(tmp_path: Path) -> None:
    probe = (
        "import sys; from relaykit.cli import main; main(['--help']); print('anyio' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=_env("1"),
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert done.stdout.rstrip().endswith("False")
