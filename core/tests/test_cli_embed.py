"""``relaykit embed``: one vector per text, one JSON array per line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin, mock_vector


class _Stdin(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_texts_become_one_json_array_per_line(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    argv = ["--backend", backend, "embed", "-m", "fake/emb", "first text", "second"]
    assert main(argv, plugins=[fake]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [tuple(json.loads(line)) for line in lines] == [
        mock_vector("first text"),
        mock_vector("second"),
    ]


@pytest.mark.usefixtures("cli_config")
def test_stdin_lines_and_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    monkeypatch.setattr("sys.stdin", _Stdin("a question\nanother one\n"))
    argv = ["embed", "-m", "fake/emb", "--dimensions", "4", "--input-type", "query", "--json"]
    assert main(argv, plugins=[fake]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["vectors"] == [list(mock_vector(t, 4)) for t in ("a question", "another one")]
    assert (out["provider"], out["model"], out["input_tokens"]) == ("fake", "emb", 4)
    assert out["cost_usd"] == "0.000004" and out["cache_hit"] is False
    (request,) = fake.embeddings
    assert (request.dimensions, request.input_type) == (4, "query")


@pytest.mark.usefixtures("cli_config")
def test_a_blank_stdin_line_is_refused_not_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    monkeypatch.setattr("sys.stdin", _Stdin("one\n\nthree\n"))
    assert main(["embed", "-m", "fake/emb"], plugins=[fake]) != 0
    err = capsys.readouterr().err
    assert "line 2 of stdin is blank" in err and "Traceback" not in err
    assert fake.embeddings == []


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "text"], "no embedding model given"),
        (["embed", "-m", "fake/emb", "--dimensions", "0", "x"], "--dimensions must be a positive"),
        (["embed", "-m", "fake/emb"], "no text given"),
    ],
)
def test_mistakes_are_one_line_errors(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(""))
    assert main(argv, plugins=[FakePlugin()]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_logs_show_an_embeddings_call_by_its_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "calls.db"}"\n'
        '[defaults]\nembedding_model = "fake/emb"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    fake = FakePlugin()
    assert main(["embed", "hello world", "second text"], plugins=[fake]) == 0
    capsys.readouterr()
    assert main(["logs"], plugins=[fake]) == 0
    out = capsys.readouterr().out
    assert "fake/emb" in out and "hello world (+1 more) → 2 vectors" in out
    assert main(["logs", "--full"], plugins=[fake]) == 0
    full = capsys.readouterr().out
    assert "user: hello world" in full and "user: second text" in full
