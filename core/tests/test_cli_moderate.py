"""``relaykit moderate``: one verdict per text, in order, with the vendor's categories."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin, mock_moderation

SAFE = "What a lovely day for a walk"
THREAT = "I will kill you"


class _Stdin(io.StringIO):
    def isatty(self) -> bool:
        return False


def top(text: str, n: int = 3) -> str:
    scores = mock_moderation(text)
    names = sorted(scores, key=lambda name: (-scores[name], name))[:n]
    return ", ".join(f"{name} {scores[name]:.2f}" for name in names)


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_each_text_is_one_line_flagged_or_ok(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--backend", backend, "moderate", "-m", "fake/omni-moderation-latest", SAFE, THREAT]
    assert main(argv, plugins=[FakePlugin()]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"ok\t{top(SAFE)}\t{SAFE}",
        f"flagged\tharassment 0.60, harassment/threatening 0.60, violence 0.60\t{THREAT}",
    ]


@pytest.mark.usefixtures("cli_config")
def test_stdin_lines_are_the_texts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    monkeypatch.setattr("sys.stdin", _Stdin(f"{THREAT}\n{SAFE}\n"))
    assert main(["moderate", "-m", "fake/omni-moderation-latest"], plugins=[fake]) == 0
    verdicts = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert verdicts == ["flagged", "ok"]
    assert fake.moderations[0].inputs == (THREAT, SAFE)


@pytest.mark.usefixtures("cli_config")
def test_json_has_every_verdict_and_score_with_the_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["moderate", "-m", "fake/omni-moderation-latest", THREAT, "--json"]
    assert main(argv, plugins=[FakePlugin()]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["provider"], out["model"], out["flagged"], out["cost_usd"]) == (
        "fake",
        "omni-moderation-latest",
        True,
        "0",
    )
    (result,) = out["results"]
    assert result["flagged_categories"] == ["harassment", "harassment/threatening", "violence"]
    assert result["scores"] == mock_moderation(THREAT)
    assert result["categories"]["self-harm/intent"] is False


@pytest.mark.usefixtures("cli_config")
def test_without_a_model_or_text_it_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["moderate", "a text"], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert "no moderation model given" in err and "[defaults] moderation_model" in err
    assert "Traceback" not in err and err.count("\n") == 1
    monkeypatch.setattr("sys.stdin", _Stdin("one\n\nthree\n"))
    assert main(["moderate", "-m", "fake/omni-moderation-latest"], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert "line 2 of stdin is blank: every line is a text to moderate" in err


@pytest.mark.usefixtures("cli_config")
def test_a_provider_error_is_one_line_and_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakePlugin()
    fake.script.fail(400, "input too long")
    assert main(["moderate", "-m", "fake/omni-moderation-latest", THREAT], plugins=[fake]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "input too long" in err and "Traceback" not in err


def test_the_default_model_and_the_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "calls.db"}"\n'
        '[defaults]\nmoderation_model = "fake/omni-moderation-latest"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    fake = FakePlugin()
    assert main(["moderate", THREAT, SAFE], plugins=[fake]) == 0
    capsys.readouterr()
    assert main(["logs", "-q", "lovely"], plugins=[fake]) == 0  # the texts are searchable
    out = capsys.readouterr().out
    assert "fake/omni-moderation-latest" in out
    assert f"{THREAT} (+1 more) → 1 of 2 flagged (har…" in out  # cut to the column's width
    assert main(["logs", "--full"], plugins=[fake]) == 0
    full = capsys.readouterr().out
    assert f"user: {THREAT}" in full and f"user: {SAFE}" in full
