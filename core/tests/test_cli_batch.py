"""``relaykit batch``: submit a JSONL file, follow the batch, read its results (against
the loopback OpenAI Batch API)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock

REQUESTS = (
    '{"custom_id": "q1", "prompt": "first question", "max_tokens": 20}\n'
    "\n"
    '{"custom_id": "q2", "messages": [{"role": "user", "content": "second question"}]}\n'
)


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_submit_status_and_results_as_text_and_json(
    backend: str, openai_mock: OpenAIMock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(REQUESTS)
    openai_mock.script.reply("the first\nanswer")
    openai_mock.script.fail(400, "no such thing")
    cli = ["--backend", backend, "batch"]
    assert main([*cli, "submit", "-m", "openai/gpt-4o-mini", str(path)]) == 0
    out = capsys.readouterr()
    batch_id = out.out.strip()
    assert batch_id.startswith("openai/batch_") and "relaykit batch status" in out.err
    assert main([*cli, "status", batch_id]) == 0
    assert capsys.readouterr().out.split("\t")[1:3] == [
        "ended (completed)",
        "2 total, 1 succeeded, 1 errored, 0 pending\n",
    ]
    assert main([*cli, "results", batch_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "q1\tthe first answer"
    assert lines[1].startswith("q2\terror: ") and "no such thing" in lines[1]
    assert main([*cli, "results", batch_id, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["custom_id"] == "q1" and rows[0]["cost_usd"] is not None
    assert rows[1]["error"]["type"] == "InvalidRequestError" and rows[1]["error"]["status"] == 400
    sent = openai_mock.batches.files
    first_file = next(iter(sent.values()))[1].decode().splitlines()
    assert json.loads(first_file[0])["url"] == "/v1/chat/completions"


@pytest.mark.usefixtures("cli_config")
def test_stdin_cancel_and_errors_are_one_line_without_a_traceback(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_mock.hold_batches = True
    monkeypatch.setattr("sys.stdin", io.StringIO(REQUESTS))
    assert main(["batch", "submit", "-m", "openai/gpt-4o-mini", "-"]) == 0
    batch_id = capsys.readouterr().out.strip()
    assert main(["batch", "results", batch_id]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "wait until batch.done" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert main(["batch", "cancel", batch_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelling"
    monkeypatch.setattr("sys.stdin", io.StringIO('{"custom_id": "a", "prompt": "x"}\nnot json\n'))
    assert main(["batch", "submit", "-m", "openai/gpt-4o-mini", "-"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: stdin line 2 is not JSON") and "Traceback" not in err


@pytest.mark.usefixtures("cli_config", "openai_mock")
@pytest.mark.parametrize("command", ["status", "cancel", "results"])
def test_an_unknown_batch_id_gets_a_hint_about_batch_ids_not_models(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", command, "openai/batch_nope"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "batch_nope" in err
    assert "check the batch id" in err and "relaykit batch submit" in err
    assert "model id" not in err and "relaykit models" not in err


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_list_prints_the_newest_batches_first(
    backend: str, openai_mock: OpenAIMock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(REQUESTS)
    openai_mock.hold_batches = True
    cli = ["--backend", backend, "batch"]
    ids = []
    for _ in range(3):
        assert main([*cli, "submit", "-m", "openai/gpt-4o-mini", str(path)]) == 0
        ids.append(capsys.readouterr().out.strip())
    assert main([*cli, "list", "openai", "-n", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ids[::-1][:2]
    assert main([*cli, "list", "openai/gpt-4o-mini", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in rows] == ids[::-1] and rows[0]["total"] == 2
    # a usage error in the command's words: the client's names client.batches(...)
    assert main([*cli, "list", "openai", "--limit", "0"]) == 2
    err = capsys.readouterr().err
    assert "argument -n/--limit: 0 is out of range: give 1 or more" in err, err
    assert "client.batches" not in err, err


class _Unreadable(io.StringIO):
    """A terminal: nothing piped in; reading it would wait for typing."""

    def isatty(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise AssertionError("a terminal must not be read: it would wait for typing")

    def __iter__(self) -> Any:
        raise AssertionError("a terminal must not be read: it would wait for typing")


@pytest.mark.usefixtures("cli_config")
def test_submit_dash_refuses_a_terminal_instead_of_waiting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Unreadable())
    assert main(["batch", "submit", "-m", "openai/gpt-4o-mini", "-"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no requests on stdin: it is a terminal"), err
    assert "relaykit batch submit -m MODEL - < requests.jsonl" in err
