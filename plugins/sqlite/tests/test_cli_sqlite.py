"""``relaykit logs`` and ``relaykit keys`` against a real SQLite file, through the CLI's main()."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from relaykit.cli.main import main
from relaykit.messages import Message
from relaykit.response import Usage
from relaykit.testing.storage_contract import failed_record, make_record
from relaykit_sqlite import SQLiteStorage

DAY = 86400


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "relaykit.toml"
    path.write_text(f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "logs.db"}"\n')
    return path


def seed(db: Path) -> None:
    # Times relative to now, since the CLI's --since and --older-than are. The two
    # "today" calls share one moment: a minute apart, they fell on two UTC days
    # when the test ran just after midnight, and --totals grouped them apart.
    now = time.time()
    records = [
        make_record(0, started_at=now - 40 * DAY, text="ancient history"),
        make_record(1, started_at=now - 2 * DAY, text="sunny weather", cost=Decimal("0.1")),
        make_record(2, started_at=now - 2 * DAY, text="rain", cost=Decimal("0.2")),
        failed_record(3, started_at=now - 30),
        make_record(
            4,
            started_at=now - 30,
            provider="fake",
            model="m",
            model_requested="fast",
            usage=Usage(7, 3, 2, cache_write_input_tokens=4),
            cost=Decimal("0.000000001"),
            text="gpt-4o says hi",
        ),
    ]

    async def write() -> None:
        storage = SQLiteStorage(db)
        try:
            await storage.write_batch(records)
        finally:
            await storage.aclose()

    anyio.run(write)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_logs_filters_search_and_totals_on_sqlite(
    config: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(config.parent / "logs.db")

    def logs(*argv: str) -> list[str]:
        assert main(["--config", str(config), "--backend", backend, "logs", *argv]) == 0
        return capsys.readouterr().out.splitlines()

    assert len(logs()) == 1 + 5
    assert len(logs("-q", "weather sunny")) == 2
    assert len(logs("-q", "gpt-4o")) == 2  # punctuation is not query syntax
    assert logs("--search", "weather sunny") == logs("--query", "weather sunny")
    assert len(logs("--status", "error")) == 2
    assert len(logs("--model", "fast")) == 2
    assert len(logs("--provider", "openai", "--since", "3d")) == 1 + 3
    assert len(logs("--since", "3d", "--until", "1d")) == 1 + 2
    rows = [json.loads(line) for line in logs("--totals", "--json", "--since", "7d")]
    assert [(r["model"], r["calls"], r["errors"], r["cost"]) for r in rows] == [
        ("gpt-4o-mini", 2, 0, "0.3"),  # two days ago
        ("m", 1, 0, "0.000000001"),  # today: by day, then provider (fake, openai)
        ("gpt-4o-mini", 1, 1, None),
    ]
    total = logs("--totals", "--since", "7d")[-1].split()
    assert total == ["total", "4", "1", "27", "2/4", "13", "$0.300000"]
    assert main(["--config", str(config), "logs", "prune", "--older-than", "30d"]) == 0
    assert capsys.readouterr().out.startswith("deleted 1 call started before ")
    assert len(logs()) == 1 + 4
    assert len(logs("-q", "ancient")) == 0


def test_keys_on_sqlite_never_show_the_key(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    key = "sk-proj-" + "SecretSqlite" * 4
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert main(["--config", str(config), "keys", "set", "openai"]) == 0
    assert main(["--config", str(config), "keys", "list"]) == 0
    assert main(["--config", str(config), "keys", "rotate"]) == 0
    assert main(["--config", str(config), "keys", "list"]) == 0
    out = capsys.readouterr().out
    assert key not in out
    assert out.count("openai    sk-p…") == 2
    assert key.encode() not in (tmp_path / "logs.db").read_bytes()


def test_keys_rm_of_a_provider_without_a_key_is_an_error_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "keys", "rm", "NOSUCH"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: no key stored for 'NOSUCH'")
    assert "relaykit keys list" in captured.err
    assert len(captured.err.splitlines()) == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_logs_print_records_holding_lone_surrogates_and_nul(
    config: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lone surrogate (half an emoji) is stored now, so `relaykit logs` must print
    # it: escaped, as UTF-8 cannot encode it (a real stdout is strict UTF-8).
    record = make_record(
        1,
        started_at=time.time(),
        messages=(Message.user("half \ud83d emoji, a \x00 NUL"),),
        text="lone \udfff low",
        provider="odd\ud800",
    )

    async def write() -> None:
        storage = SQLiteStorage(config.parent / "logs.db")
        try:
            await storage.write_batch([record])
        finally:
            await storage.aclose()

    anyio.run(write)

    def logs(*argv: str) -> str:
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
        monkeypatch.setattr("sys.stdout", out)
        assert main(["--config", str(config), "--backend", backend, "logs", *argv]) == 0
        out.flush()
        return out.buffer.getvalue().decode()

    assert "lone \\udfff low" in logs()
    assert "half \\ud83d emoji" in logs("--full")
    [line] = logs("--json").splitlines()
    stored = json.loads(line)  # the JSON escape of each surrogate: it reads back
    assert stored["text"] == record.text
    assert stored["provider"] == record.provider
    assert "odd\\ud800" in logs("--totals")
