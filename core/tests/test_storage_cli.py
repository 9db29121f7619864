"""The storage commands' handlers: relaykit logs [prune], relaykit keys set|list|rm|rotate."""

from __future__ import annotations

import argparse
import io
import json
import time
from decimal import Decimal
from typing import Protocol

import anyio
import pytest

import relaykit
from relaykit.cli import keys, logs
from relaykit.cli.when import duration, point_in_time
from relaykit.key_vault import key_file
from relaykit.messages import Message, ReasoningPart, ToolCall
from relaykit.response import Usage
from relaykit.testing import MemoryStorage
from relaykit.testing.storage_contract import failed_record, make_record

KEY = "sk-proj-" + "CliKey" * 6


class Cli(Protocol):
    """The ``cli`` fixture's command runner."""

    def __call__(self, *argv: str, backend: str = "asyncio") -> tuple[int, str, str]: ...


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def cli(storage: MemoryStorage, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run a storage command against ``storage``; return (exit code, stdout, stderr)."""

    def invoke(*argv: str, backend: str = "asyncio") -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="relaykit")
        register(parser.add_subparsers())
        args = parser.parse_args(argv)
        args.config = {"storage": {"backend": "memory"}}
        args.plugins = [storage.plugin()]
        args.backend = backend
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def seed(storage: MemoryStorage) -> None:
    now = time.time()
    anyio.run(
        storage.write_batch,
        [
            make_record(0, started_at=now - 40 * 86400, text="ancient history"),
            make_record(1, started_at=now - 3600, text="the weather is sunny", cost=Decimal("0.5")),
            failed_record(2, started_at=now - 60),
            make_record(
                3,
                started_at=now - 30,
                provider="fake",
                model="m",
                model_requested="fast",
                usage=Usage(7, 3, 2, cache_write_input_tokens=4, cache_write_1h_input_tokens=1),
                cost=Decimal("0.25"),
            ),
        ],
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_logs_lists_newest_first_with_filters(
    cli: Cli, storage: MemoryStorage, backend: str
) -> None:
    seed(storage)
    code, out, _ = cli("logs", backend=backend)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["STARTED", "STATUS", "MODEL"]
    assert len(lines) == 5
    assert "fast → fake/m" in lines[1]
    assert "RateLimitError" in lines[2]
    assert "sunny" in lines[3]
    _, out, _ = cli("logs", "-q", "sunny weather")
    assert len(out.splitlines()) == 2
    _, out, _ = cli("logs", "--status", "error")
    assert len(out.splitlines()) == 2
    _, out, _ = cli("logs", "--since", "2h", "--provider", "openai")
    assert len(out.splitlines()) == 3
    _, out, _ = cli("logs", "--model", "fast", "--json")
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert relaykit.converter.structure(record, relaykit.CallRecord).model == "m"
    code, out, err = cli("logs", "-q", "nothing-like-this")
    assert (code, out) == (0, "")
    assert "no logged calls match" in err


def test_logs_note_reasoning_signatures_and_redacted_data_without_printing_them(
    cli: Cli, storage: MemoryStorage
) -> None:
    signature, redacted = "c2lnbmF0dXJlLW9mLWEtYmxvY2s=", "RW5jcnlwdGVkVGhpbmtpbmc="
    blocks = (
        ReasoningPart("Look it up.", signature, origin="anthropic"),
        ReasoningPart(redacted=redacted, origin="anthropic"),
    )
    turn = Message("assistant", (*blocks, ToolCall("c1", "lookup", {})))
    record = make_record(
        0,
        messages=(Message.user("q"), turn, Message.tool("c1", "ok")),
        reasoning="Look it up.",
        reasoning_parts=blocks,
    )
    anyio.run(storage.write_batch, [record])
    _, full, _ = cli("logs", "--full")
    _, as_json, _ = cli("logs", "--json")
    for out in (full, as_json):
        assert signature not in out
        assert redacted not in out
    assert "reasoning blocks: 2 (1 redacted, 1 signed, from anthropic)" in full
    logged = json.loads(as_json)
    noted = {"signature": "[28 characters of provider data]", "origin": "anthropic"}
    assert logged["reasoning_parts"][0] == {
        **noted,
        "text": "Look it up.",
        "type": "reasoning",
        "redacted": None,
    }
    assert logged["messages"][1]["content"][1]["redacted"] == "[24 characters of provider data]"


def test_logs_totals_per_model_and_day(cli: Cli, storage: MemoryStorage) -> None:
    seed(storage)
    _, out, _ = cli("logs", "--totals", "--since", "7d")
    lines = out.splitlines()
    assert lines[0].split() == [
        "DAY",
        "(UTC)",
        "MODEL",
        "CALLS",
        "ERRORS",
        "INPUT",
        "CACHE",
        "R/W",
        "OUTPUT",
        "COST",
    ]
    # one of the four cache writes went to the one-hour cache
    assert lines[-1].split() == ["total", "3", "1", "17", "2/4", "(1", "1h)", "8", "$0.750000"]
    plain = [line for line in lines[1:-1] if "openai" in line]
    assert plain and all("1h" not in line for line in plain)
    _, out, _ = cli("logs", "--totals", "--json", "--provider", "fake")
    (total,) = [json.loads(line) for line in out.splitlines()]
    assert total["model"] == "m"
    assert total["cost"] == "0.25"
    assert total["usage"]["input_tokens"] == 7
    assert total["usage"]["cache_write_input_tokens"] == 4
    assert total["usage"]["cache_write_1h_input_tokens"] == 1


def test_logs_per_caller_spend_from_metadata(cli: Cli, storage: MemoryStorage) -> None:
    now = time.time()

    def call(n: int, cost: str, **metadata: str) -> relaykit.CallRecord:
        params = {"metadata": metadata}
        return make_record(n, started_at=now - 60 + n, params=params, cost=Decimal(cost))

    anyio.run(
        storage.write_batch,
        [call(0, "0.5", gateway_key="alice"), call(1, "0.25", gateway_key="bob"), call(2, "1")],
    )
    _, out, _ = cli("logs", "--meta", "gateway_key=alice", "--json")
    assert [json.loads(line)["cost"] for line in out.splitlines()] == ["0.5"]
    _, out, _ = cli("logs", "--totals", "--by", "gateway_key")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["DAY", "(UTC)", "GATEWAY_KEY", "MODEL"]
    assert [line.split()[1] for line in lines[1:-1]] == ["-", "alice", "bob"]
    assert lines[-1].split()[-1] == "$1.750000"
    _, out, _ = cli("logs", "--totals", "--by", "gateway_key", "--json")
    assert [json.loads(line)["gateway_key"] for line in out.splitlines()] == [None, "alice", "bob"]
    with pytest.raises(relaykit.InvalidRequestError, match="--by groups totals: it needs"):
        cli("logs", "--by", "gateway_key")


def test_logs_prune(cli: Cli, storage: MemoryStorage) -> None:
    seed(storage)
    code, out, _ = cli("logs", "prune", "--older-than", "30d")
    assert code == 0
    assert out.startswith("deleted 1 call started before ")
    assert len(storage.records) == 3
    with pytest.raises(SystemExit):  # argparse: not a duration
        cli("logs", "prune", "--older-than", "a while")


def test_when_parsing() -> None:
    assert duration("30d").days == 30
    assert duration("1d12h").total_seconds() == 36 * 3600
    assert point_in_time("2025-03-14").isoformat() == "2025-03-14T00:00:00"
    with pytest.raises(argparse.ArgumentTypeError, match="neither a duration"):
        point_in_time("yesterday-ish")


def test_keys_set_list_rm_rotate(
    cli: Cli,
    storage: MemoryStorage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin", Terminal())

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return KEY

    monkeypatch.setattr("getpass.getpass", getpass)
    code, out, _ = cli("keys", "set", "openai")
    assert code == 0
    assert prompts == ["API key for openai (input hidden): "]
    assert "sk-p…" in out
    assert KEY not in out
    assert key_file().exists()
    assert KEY.encode() not in storage.blobs["openai"]

    monkeypatch.setattr("sys.stdin", io.StringIO("gsk_" + "p" * 30 + "\n"))  # piped
    cli("keys", "set", "groq")
    code, out, _ = cli("keys", "list")
    assert out.splitlines() == ["PROVIDER  KEY", "groq      gsk_…", "openai    sk-p…"]

    before = dict(storage.blobs)
    code, out, _ = cli("keys", "rotate")
    assert code == 0
    assert "re-encrypted 2 keys" in out
    assert all(storage.blobs[k] != v for k, v in before.items())
    assert cli("keys", "list")[1].splitlines()[1:] == ["groq      gsk_…", "openai    sk-p…"]

    assert cli("keys", "rm", "groq")[0] == 0
    with pytest.raises(relaykit.NotFoundError, match="no key stored for 'groq'"):
        cli("keys", "rm", "groq")  # main() prints it as one `error:` line, exit code 1


def test_keys_set_refuses_an_empty_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    with pytest.raises(relaykit.ConfigError, match="no key given for 'openai'"):
        cli("keys", "set", "openai")


def test_commands_need_storage(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="relaykit")
    register(parser.add_subparsers())
    args = parser.parse_args(["logs"])
    args.config = {"storage": {"backend": "none"}}
    with pytest.raises(relaykit.ConfigError, match="storage is off"):
        args.func(args)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The storage commands alone, on a bare parser (no CLI context)."""
    logs.register(subparsers, ())
    keys.register(subparsers, ())


def test_keys_set_without_the_master_key_of_a_filled_vault_creates_no_new_key(
    cli: Cli,
    storage: MemoryStorage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    assert cli("keys", "set", "openai")[0] == 0
    key_file().unlink()  # the master key is lost (or on another machine)
    stored = dict(storage.blobs)
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    with pytest.raises(relaykit.ConfigError, match="holds keys for openai but no master key"):
        cli("keys", "set", "groq")
    assert not key_file().exists()
    assert storage.blobs == stored


def test_logs_full_shows_the_whole_request_and_answer(cli: Cli, storage: MemoryStorage) -> None:
    from relaykit.messages import Message, ToolCall

    record = make_record(
        0,
        started_at=time.time() - 5,
        messages=(Message.system("Be brief."), Message.user("Weather in Paris?")),
        params={
            "max_tokens": 100,
            "tools": [{"name": "weather", "description": "Current weather.", "parameters": {}}],
            "tool_choice": "auto",
        },
        text="",
        reasoning="The user wants the weather; call the tool.",
        tool_calls=(ToolCall("call_1", "weather", {"city": "Paris"}),),
        finish_reason="tool_calls",
        usage=Usage(1200, 20, 1000, cache_write_input_tokens=150, cache_write_1h_input_tokens=50),
        attempts=3,
        fallbacks=1,
        route=("openai/gpt-4o-mini", "openai/gpt-4o-mini", "groq/llama-3.3-70b-versatile"),
        route_errors=("RateLimitError 429", "RateLimitError 429", ""),
    )
    anyio.run(storage.write_batch, [record])
    code, out, _ = cli("logs", "--full")
    assert code == 0
    assert record.id in out
    assert "  attempts: 3, fallbacks: 1" in out
    # the path the call took, each failed attempt with its error
    assert (
        "  route: openai/gpt-4o-mini (RateLimitError 429) → openai/gpt-4o-mini"
        " (RateLimitError 429) → groq/llama-3.3-70b-versatile\n"
    ) in out
    assert "prompt cache (read/write): 1000/150 (50 1h)" in out
    assert '"tools": [{"name": "weather"' in out
    assert "system: Be brief." in out
    assert "user: Weather in Paris?" in out
    assert "reasoning: The user wants the weather; call the tool." in out
    assert 'tool call weather {"city": "Paris"}' in out
    _, table, _ = cli("logs")
    assert "reasoning" not in table  # the table stays one line per call


def test_logs_names_a_call_that_failed_before_it_was_sent(cli: Cli, storage: MemoryStorage) -> None:
    unsent = failed_record(
        0,
        started_at=time.time() - 5,
        provider="",
        model="",
        model_requested="openai/gpt-4o-mini",
        error_type="QuotaExceededError",
        error_message="rate limit 'openai/*' allows 1 request per minute",
        status=None,
    )
    anyio.run(storage.write_batch, [unsent])
    for argv in (("logs",), ("logs", "--full")):
        _, out, _ = cli(*argv)
        assert "→ /" not in out
        assert "openai/gpt-4o-mini (not sent)" in out
    _, out, _ = cli("logs", "--totals")
    assert " / " not in out and "(not sent)" in out  # totals group them under none


def test_logs_mark_estimated_usage_in_rows_totals_and_json(
    cli: Cli, storage: MemoryStorage
) -> None:
    # A stream left before the vendor's usage came, and a call cut off mid-call:
    # relaykit's estimates, shown apart from the vendor's own counts.
    now = time.time()
    anyio.run(
        storage.write_batch,
        [
            make_record(0, started_at=now - 90, usage=Usage(10, 5), cost=Decimal("0.5")),
            make_record(
                1,
                started_at=now - 60,
                usage=Usage(1000, 45),
                cost=Decimal("0.0004"),
                usage_estimated=True,
            ),
            failed_record(
                2,
                started_at=now - 30,
                error_type="Cancelled",
                usage=Usage(1000),
                cost=Decimal("0.001"),
                usage_estimated=True,
            ),
        ],
    )
    _, out, _ = cli("logs")
    rows = out.splitlines()[1:]
    assert rows[0].split()[4:6] == ["~1000/0", "~$0.001000"]  # newest first: the cut call
    assert rows[1].split()[4:6] == ["~1000/45", "~$0.000400"]
    assert rows[2].split()[4:6] == ["10/5", "$0.500000"]  # the vendor's counts, unmarked
    # and one line under the table says what the mark means
    assert rows[3:] == [
        "~ estimated by relaykit: the call ended before the vendor said what it billed"
    ]
    _, out, _ = cli("logs", "--full")
    first, *_ = out.split("\n\n")
    assert "~1000/0 tokens  ~$0.001000" in first
    assert "usage: estimated by relaykit" in first
    assert "estimated" not in out.split("\n\n")[2]
    _, out, _ = cli("logs", "--json")
    assert [json.loads(line)["usage_estimated"] for line in out.splitlines()] == [
        True,
        True,
        False,
    ]
    _, out, _ = cli("logs", "--totals")
    total = out.splitlines()[-1]
    assert total.split()[0] == "total"
    assert total.endswith("$0.501400 (of which ~$0.001400 estimated)")
    _, out, _ = cli("logs", "--totals", "--json")
    (day,) = [json.loads(line) for line in out.splitlines()]
    assert (day["cost"], day["estimated"], day["estimated_cost"]) == ("0.5014", 2, "0.0014")


def test_logs_totals_count_cache_hits_apart_and_none_of_their_tokens(
    cli: Cli, storage: MemoryStorage
) -> None:
    # a hit's record keeps its answer's usage; the provider processed none of it
    now = time.time()
    anyio.run(
        storage.write_batch,
        [
            make_record(0, started_at=now - 90, usage=Usage(10, 5), cost=Decimal("0.5")),
            make_record(
                1, started_at=now - 60, usage=Usage(10, 5), cost=Decimal(0), cache_hit=True
            ),
            make_record(
                2, started_at=now - 30, usage=Usage(10, 5), cost=Decimal(0), cache_hit=True
            ),
        ],
    )
    _, out, _ = cli("logs", "--totals")
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["DAY", "(UTC)", "MODEL", "CALLS", "HITS", "ERRORS"]
    assert lines[-1].split() == ["total", "3", "2", "0", "10", "0/0", "5", "$0.500000"]
    _, out, _ = cli("logs", "--totals", "--json")
    (day,) = [json.loads(line) for line in out.splitlines()]
    assert (day["calls"], day["cache_hits"]) == (3, 2)
    assert (day["usage"]["input_tokens"], day["usage"]["output_tokens"]) == (10, 5)
    # the records themselves say what each answer used
    _, out, _ = cli("logs", "--json")
    assert [json.loads(line)["usage"]["input_tokens"] for line in out.splitlines()] == [10] * 3
    # and the rows say which came from the cache (newest first)
    _, out, _ = cli("logs")
    assert [row.split()[2] for row in out.splitlines()[1:]] == ["cached", "cached", "ok"]
    _, out, _ = cli("logs", "--full")
    assert [block.split("\n")[0].count("cached") for block in out.split("\n\n")] == [1, 1, 0]


def test_logs_totals_without_estimates_say_nothing_of_them(
    cli: Cli, storage: MemoryStorage
) -> None:
    seed(storage)
    _, out, _ = cli("logs", "--totals")
    assert "estimated" not in out and "~" not in out
    _, out, _ = cli("logs")
    assert "~" not in out
    _, out, _ = cli("logs", "--totals", "--json")
    assert all(json.loads(line)["estimated_cost"] is None for line in out.splitlines())
    assert all(json.loads(line)["cache_hits"] == 0 for line in out.splitlines())


@pytest.mark.parametrize("option", [["--full"], ["--offset", "1"], ["--before", "WzEuMCwiaWQiXQ"]])
def test_totals_refuse_what_they_would_drop(
    option: list[str], cli: Cli, storage: MemoryStorage
) -> None:
    """--totals adds up every matching call: --full and --offset were ignored silently
    (and --before would be)."""
    seed(storage)
    with pytest.raises(relaykit.InvalidRequestError) as caught:
        cli("logs", "--totals", *option)
    assert str(caught.value).startswith(f"--totals adds up every call: {option[0]} does not apply")


def _next_page(err: str) -> list[str]:
    """The ``--before CURSOR`` a full page printed under itself (none: the last page)."""
    said = [line for line in err.splitlines() if line.startswith("more calls may follow")]
    return said[0].split("add ", 1)[1].split() if said else []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_logs_page_on_from_the_before_a_full_page_prints(
    cli: Cli, storage: MemoryStorage, backend: str
) -> None:
    """Each full page ends with the --before of the next; calls logged between pages
    (newer than any shown) neither repeat a call nor hide one."""
    records = [make_record(n, started_at=1e9 + n) for n in range(7)]
    anyio.run(storage.write_batch, records)
    seen: list[str] = []
    before: list[str] = []
    for page in range(5):
        code, out, err = cli("logs", "--json", "-n", "3", *before, backend=backend)
        assert code == 0
        seen += [json.loads(line)["id"] for line in out.splitlines()]
        anyio.run(storage.write_batch, [make_record(100 + page, started_at=2e9 + page)])
        before = _next_page(err)
        if not before:
            break
    assert seen == [r.id for r in records[::-1]]
    assert page == 2  # 3 + 3 + 1: the short page prints no --before


def test_logs_before_and_offset_are_either_or(cli: Cli, storage: MemoryStorage) -> None:
    from relaykit.log_cursor import log_cursor

    seed(storage)
    cursor = log_cursor(make_record(0))
    with pytest.raises(relaykit.InvalidRequestError) as caught:
        cli("logs", "--before", cursor, "--offset", "2")
    assert str(caught.value).startswith("--before and --offset both say where the page starts")
    assert caught.value.hint == "drop --offset to go on from the page --before names"


def test_keys_set_for_a_provider_nothing_knows_is_refused_before_the_key_is_asked(
    cli: Cli, storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt name (``opneai``) would be stored and never used: refused, with
    the providers known and how to get the one meant."""
    stdin = io.StringIO(KEY + "\n")
    monkeypatch.setattr("sys.stdin", stdin)
    with pytest.raises(relaykit.ConfigError) as caught:
        cli("keys", "set", "opneai")
    message = str(caught.value)
    assert "no installed plugin or [providers] table knows provider 'opneai'" in message
    assert "known: " in message and "openai" in message and "anthropic" in message
    assert "did you mean 'openai'?" in message
    assert "pip install relaykit-opneai" in message
    assert "--force" in message
    assert stdin.tell() == 0  # the key was not read
    assert storage.blobs == {}


def test_keys_set_force_stores_a_key_for_a_plugin_installed_elsewhere(
    cli: Cli, storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage shared with a gateway whose machine has the plugin this one lacks."""
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    assert cli("keys", "set", "--force", "inhouse")[0] == 0
    assert "inhouse" in storage.blobs
