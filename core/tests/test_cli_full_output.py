"""Output that cannot be written (``> /dev/full``, a full disk, a device given to
``-o``): one ``error:`` line and a non-zero exit, never a traceback, and no file
made beside a device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from relaykit.cli import main

MODEL = "openai/gpt-4o-mini"
FULL = Path("/dev/full")


def _relaykit(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``relaykit ARGS > /dev/full`` as a real process (the config from the
    environment), stdin empty."""
    with FULL.open("w") as full:
        return subprocess.run(
            [sys.executable, "-m", "relaykit.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_listing_to_a_full_disk_is_one_error_line() -> None:
    line = _one_error_line(_relaykit("plugins"))
    assert line.startswith("error: cannot write the output: No space left on device")
    assert "free some space" in line


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("stream", [[], ["--no-stream"]])
def test_a_reply_to_a_full_disk_is_one_error_line(backend: str, stream: list[str]) -> None:
    done = _relaykit("--backend", backend, "prompt", *stream, "-m", MODEL, "Hi")
    assert _one_error_line(done).startswith("error: cannot write the output: No space left")


@pytest.mark.usefixtures("cli_config")
def test_speech_to_stdout_on_a_full_disk_is_one_error_line() -> None:
    done = _relaykit("speak", "-m", "openai/gpt-4o-mini-tts", "-o", "-", "Hello")
    assert _one_error_line(done).startswith("error: cannot write the output: No space left")


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    "command",
    [
        ["image", "-m", "openai/gpt-image-1", "a fox"],
        ["speak", "-m", "openai/gpt-4o-mini-tts", "Hello"],
        ["speak", "--stream", "-m", "openai/gpt-4o-mini-tts", "Hello"],
    ],
)
def test_o_naming_a_device_writes_to_it_not_to_a_file_beside_it(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o /dev/full`` is that device: no suffix is added, so no /dev/full.png is
    made, and the device's full disk is the error."""
    made = sorted(p for p in Path("/dev").glob("full.*"))

    assert main([command[0], "-o", str(FULL), *command[1:]]) == 1

    assert sorted(p for p in Path("/dev").glob("full.*")) == made
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write '/dev/full': No space left on device"), err


@pytest.mark.usefixtures("cli_config")
def test_o_dev_null_takes_the_image_and_makes_no_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["image", "-m", "openai/gpt-image-1", "-o", os.devnull, "a fox"]) == 0
    assert capsys.readouterr().out == f"{os.devnull}\n"
    assert not Path(f"{os.devnull}.png").exists()


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["prompt", "--help"], ["logs", "prune", "--help"], []]
)
def test_help_and_version_to_a_full_disk_are_one_error_line(args: list[str]) -> None:
    """argparse swallows the OSError of its own output and exits 0: ``relaykit
    --help > /dev/full`` must fail as every other command does."""
    line = _one_error_line(_relaykit(*args))
    assert line.startswith("error: cannot write the output: No space left on device")


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_into_a_closed_pipe_exits_141_quietly(args: list[str]) -> None:
    """``relaykit --help | head -0`` as other commands: 141, nothing on stderr. The
    pipe's reader is gone before relaykit starts, so every write meets EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "relaykit.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
