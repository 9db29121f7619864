"""Files handed to a command that hold nothing (or not what they should): the error
names the file and says the fix, as every CLI error does."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("command", "message", "fix"),
    [
        (
            ["transcribe", "-m", "fake/whisper-1", "{file}"],
            "the audio '{file}' is empty (0 bytes)",
            "give a recording with sound in it",
        ),
        (
            ["image", "-m", "fake/gpt-image-1", "--edit", "{file}", "add a hat"],
            "the image '{file}' is empty (0 bytes)",
            "give a PNG, JPEG or WebP file",
        ),
    ],
)
def test_an_empty_file_is_named_with_the_fix(
    command: list[str],
    message: str,
    fix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    argv = [word.format(file=empty) for word in command]
    fake = FakePlugin()

    assert main(argv, plugins=[fake]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"error: {message.format(file=empty)}"), err
    assert fix in err


@pytest.mark.usefixtures("cli_config")
def test_empty_audio_on_stdin_says_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class _Piped(io.StringIO):
        buffer = io.BytesIO(b"")

    monkeypatch.setattr("sys.stdin", _Piped())
    assert main(["transcribe", "-m", "fake/whisper-1", "-"], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: stdin held no audio (0 bytes)")
    assert "relaykit transcribe - < memo.wav" in err


@pytest.mark.usefixtures("cli_config")
def test_a_schema_file_that_is_not_json_says_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "person.json"
    path.write_text("{name: string}")
    argv = ["prompt", "-m", "fake/m", "--schema", str(path), "Who?"]
    assert main(argv, plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} is not valid JSON"), err
    assert f"python -m json.tool {path}" in err
