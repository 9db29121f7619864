"""Standard output closed (``relaykit prompt ... >&-``): Python sets ``sys.stdout`` to
None and ``print`` writes nowhere, so the answer (paid for) was dropped and the
exit status 0. A built-in command now refuses before any call, in one line."""

from __future__ import annotations

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    "argv",
    [
        ["prompt", "-m", MODEL, "Hi"],
        ["prompt", "--no-stream", "-m", MODEL, "Hi"],
        ["embed", "-m", "openai/text-embedding-3-small", "Hi"],
        ["models"],
    ],
)
def test_a_command_with_stdout_closed_refuses_before_calling(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdout", None)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: stdout is closed"), err
    assert "> /dev/null" in err, err
    assert openai_mock.requests == []
