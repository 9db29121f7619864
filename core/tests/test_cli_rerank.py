"""``relaykit rerank``: texts ranked by their relevance to a query, best first."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin, mock_relevance

QUERY = "capital of France"
DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]


class _Stdin(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_documents_are_printed_best_first(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--backend", backend, "rerank", "-m", "fake/rerank-1", QUERY, *DOCUMENTS]
    assert main(argv, plugins=[FakePlugin()]) == 0
    assert capsys.readouterr().out.splitlines() == [DOCUMENTS[1], DOCUMENTS[2], DOCUMENTS[0]]


@pytest.mark.usefixtures("cli_config")
def test_stdin_lines_top_n_and_scores(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    monkeypatch.setattr("sys.stdin", _Stdin("".join(f"{d}\n" for d in DOCUMENTS)))
    assert (
        main(["rerank", "-m", "fake/rerank-1", QUERY, "-n", "1", "--scores"], plugins=[fake]) == 0
    )
    score = mock_relevance(QUERY, DOCUMENTS[1], 1)
    assert capsys.readouterr().out == f"{score:.4f}\t1\t{DOCUMENTS[1]}\n"
    assert fake.reranks[0].top_n == 1


@pytest.mark.usefixtures("cli_config")
def test_json_has_the_results_usage_and_cost(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["rerank", "-m", "fake/rerank-1", QUERY, *DOCUMENTS, "--json"], plugins=[FakePlugin()])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [r["index"] for r in out["results"]] == [1, 2, 0]
    assert out["results"][0]["document"] == DOCUMENTS[1]
    assert (out["provider"], out["model"], out["search_units"], out["cost_usd"]) == (
        "fake",
        "rerank-1",
        1,
        "0.002",
    )


@pytest.mark.usefixtures("cli_config")
def test_without_a_model_or_documents_it_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rerank", QUERY, "a text"], plugins=[FakePlugin()]) != 0
    err = capsys.readouterr().err
    assert "no rerank model given" in err and "[defaults] rerank_model" in err
    assert "Traceback" not in err
    monkeypatch.setattr("sys.stdin", _Stdin("one\n\nthree\n"))
    assert main(["rerank", "-m", "fake/rerank-1", QUERY], plugins=[FakePlugin()]) != 0
    err = capsys.readouterr().err
    assert "line 2 of stdin is blank: every line is a text to rerank" in err


def test_logs_show_a_rerank_call_by_its_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "calls.db"}"\n'
        '[defaults]\nrerank_model = "fake/rerank-1"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    fake = FakePlugin()
    assert main(["rerank", QUERY, *DOCUMENTS], plugins=[fake]) == 0
    capsys.readouterr()
    assert main(["logs", "-q", "Berlin"], plugins=[fake]) == 0  # documents are searchable
    out = capsys.readouterr().out
    assert "fake/rerank-1" in out and f"{QUERY} → 3 documents ranked" in out
    assert main(["logs", "--full"], plugins=[fake]) == 0
    full = capsys.readouterr().out
    assert f"user: {QUERY}" in full and f"user: {DOCUMENTS[0]}" in full
