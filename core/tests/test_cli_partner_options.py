"""An option that only works with another one is refused without it, naming the
one missing, before any call: ignored silently, it would look like it had worked."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["prompt", "-m", MODEL, "--force", "Hi"], ["--force", "--save NAME"]),
        (["prompt", "-m", MODEL, "--max-steps", "3", "Hi"], ["--max-steps", "--functions"]),
        (["chat", "-m", MODEL, "--max-steps", "3"], ["--max-steps", "--functions", "--mcp"]),
    ],
)
def test_an_option_without_its_partner_is_refused_before_the_call(
    argv: list[str],
    needles: list[str],
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    assert openai_mock.requests == []


@pytest.mark.usefixtures("cli_config")
def test_max_steps_with_a_template_s_functions_is_taken(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    openai_mock: OpenAIMock,
) -> None:
    """A template's ``functions`` are tools too: --max-steps applies to them."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user"))
    templates = tmp_path / "user" / "relaykit" / "templates"
    templates.mkdir(parents=True)
    (templates / "clock.py").write_text('def now() -> str:\n    """The time."""\n    return "9"\n')
    (templates / "timed.toml").write_text('functions = ["clock.py"]\n')

    assert main(["prompt", "-m", MODEL, "-t", "timed", "--max-steps", "2", "Time?"]) == 0
    assert openai_mock.requests[0].json()["tools"][0]["function"]["name"] == "now"
