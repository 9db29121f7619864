"""A blank value (``""``, ``"  "``: a shell variable left unset) given to an option
that names a file, a directory or a filter is refused naming the option. Taken as
it was, ``Path("")`` is the current directory: ``--out-dir ""`` wrote there, ``-o ""``
said "'' is a directory", and ``relaykit models ""`` listed every provider's models."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["-c", "{}", "models"], "-c/--config"),
        (["image", "-m", "openai/gpt-image-1", "--out-dir", "{}", "a fox"], "--out-dir"),
        (["image", "-m", "openai/gpt-image-1", "-o", "{}", "a fox"], "-o/--output"),
        (["image", "-m", "openai/gpt-image-1", "--edit", "{}", "a hat"], "--edit"),
        (["speak", "-m", "openai/gpt-4o-mini-tts", "-o", "{}", "Hi"], "-o/--output"),
        (["transcribe", "-m", "openai/whisper-1", "{}"], "FILE"),
        (["prompt", "-m", MODEL, "--schema", "{}", "Hi"], "--schema"),
        (["prompt", "-m", MODEL, "--functions", "{}", "Hi"], "--functions"),
        (["batch", "submit", "-m", MODEL, "{}"], "FILE"),
        (["models", "{}"], "PROVIDER"),
        (["logs", "import", "{}"], "FILE"),
        (["logs", "-q", "{}"], "-q/--query/--search"),
        (["logs", "--model", "{}"], "--model"),
        (["logs", "--provider", "{}"], "--provider"),
        (["logs", "--conversation", "{}"], "--conversation"),
    ],
)
def test_a_blank_value_is_refused_naming_the_option(
    argv: list[str],
    option: str,
    blank: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([blank if word == "{}" else word for word in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"argument {option}: the value is blank" in err, err
    assert openai_mock.requests == []
    assert list(tmp_path.iterdir()) == [tmp_path / "relaykit.toml"]  # nothing written
