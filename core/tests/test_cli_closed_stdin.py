"""Standard input closed (``relaykit chat <&-``): Python sets ``sys.stdin`` to None.
Every command reading it says so in one line; none crashes on ``None.isatty()``."""

from __future__ import annotations

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


@pytest.mark.usefixtures("cli_config")
def test_chat_with_stdin_closed_ends_as_with_nothing_piped(
    monkeypatch: pytest.MonkeyPatch,
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As ``relaykit chat < /dev/null``: no message, so no call, exit 0."""
    monkeypatch.setattr("sys.stdin", None)
    assert main(["chat", "-m", MODEL]) == 0
    assert capsys.readouterr().err == ""
    assert openai_mock.requests == []


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    "argv",
    [
        ["prompt", "-m", MODEL, "-a", "-", "Describe it"],
        ["batch", "submit", "-m", MODEL, "-"],
    ],
)
def test_stdin_closed_is_not_called_a_terminal(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", None)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "stdin is closed" in err or "stdin: it is closed" in err, err
    assert "terminal" not in err.partition("(")[0], err
