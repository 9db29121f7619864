"""Files a command reads whole, named by the user or piped in: a device (``/dev/zero``)
is refused unread and a file over the command's limit by its size, in one line,
where before each was read until the memory ran out.

The device cases run as real processes under a memory cap: before the fix they
read ``/dev/zero`` without end, and the cap turns that into a failure, not a
test worker killed by the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from relaykit.cli import main

MODEL = "openai/gpt-4o-mini"
#: the address space a checked process may use: far more than the CLI needs,
#: far less than reading /dev/zero to its end
MEMORY_CAP = 2 << 30


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _relaykit(*args: str, stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
    with open(stdin or os.devnull, "rb") as source:
        return subprocess.run(
            [sys.executable, "-m", "relaykit.cli", *args],
            stdin=source,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=_capped,
        )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


@pytest.fixture
def zero(tmp_path: Path) -> Path:
    """``/dev/zero`` under a name that looks like a file (``--schema`` reads a path
    ending in .json as a file)."""
    link = tmp_path / "input.json"
    link.symlink_to("/dev/zero")
    return link


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    "argv",
    [
        ["prompt", "-m", MODEL, "--schema", "{zero}", "Hi"],
        ["batch", "submit", "-m", MODEL, "{zero}"],
        ["transcribe", "-m", MODEL, "{zero}"],
        ["image", "-m", MODEL, "--edit", "{zero}", "add a hat"],
    ],
    ids=["schema", "batch", "transcribe", "image-edit"],
)
def test_a_device_named_as_a_file_is_refused_unread(argv: list[str], zero: Path) -> None:
    line = _one_error_line(_relaykit(*(a.format(zero=zero) for a in argv)))
    assert line.startswith("error: ") and "is a device, not a file" in line, line
    assert str(zero) in line, line


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "-m", MODEL],
        ["prompt", "-m", MODEL],
        ["embed", "-m", "openai/text-embedding-3-small"],
        ["batch", "submit", "-m", MODEL, "-"],
        ["transcribe", "-m", MODEL, "-"],
    ],
    ids=["chat", "prompt", "embed", "batch", "transcribe"],
)
def test_dev_zero_on_stdin_is_refused_past_the_limit(argv: list[str]) -> None:
    line = _one_error_line(_relaykit(*argv, stdin=Path("/dev/zero")))
    assert line.startswith("error: stdin holds more than "), line
    assert "/dev/zero" in line or "what is piped in" in line, line


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("argv", "size", "limit"),
    [
        (["prompt", "-m", MODEL, "--schema", "{file}", "Hi"], (8 << 20) + 1, "8 MB"),
        (["batch", "submit", "-m", MODEL, "{file}"], 256_000_001, "256 MB"),
        (["transcribe", "-m", MODEL, "{file}"], (100 << 20) + 1, "100 MB"),
        (["image", "-m", MODEL, "--edit", "{file}", "add a hat"], (100 << 20) + 1, "100 MB"),
        (
            ["image", "-m", MODEL, "--edit", "{small}", "--mask", "{file}", "add a hat"],
            (100 << 20) + 1,
            "100 MB",
        ),
    ],
    ids=["schema", "batch", "transcribe", "image-edit", "image-mask"],
)
def test_a_file_over_the_limit_is_refused_by_its_size(
    argv: list[str],
    size: int,
    limit: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = _sparse(tmp_path / "big.json", size)  # no byte written: nothing to read
    small = tmp_path / "small.png"
    small.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    assert main([a.format(file=file, small=small) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{file}' is {size / 1e6:,.1f} MB: relaykit reads at most {limit}" in err, err


@pytest.mark.usefixtures("cli_config")
def test_a_directory_given_to_transcribe_is_named_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", "-m", MODEL, str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "it is a directory" in err, err


@pytest.mark.usefixtures("cli_config")
def test_functions_naming_a_device_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """``--functions /dev/null`` was "there is no such file"."""
    assert main(["prompt", "-m", MODEL, "--functions", "/dev/null", "Hi"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "--functions /dev/null: it is a device, not a file" in err, err


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("text", ["[]", '["name"]', "[1, 2]"])
def test_a_schema_of_json_that_is_no_object_is_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--schema '[]'`` was read as a field list: one field named ``[]``."""
    assert main(["prompt", "-m", MODEL, "--schema", text, "Hi"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "must be a JSON object" in err, err
