"""``relaykit prompt/chat --mcp``: the core's half, through the ``relaykit_tool_source`` hook.

A plugin here answers each ``--mcp`` spec with tools of its own (relaykit-mcp's
tests run real MCP servers); the model is the loopback OpenAI server.
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import types
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from relaykit import Config, FunctionTool, Secret, hookimpl
from relaykit.cli import main
from relaykit.cli.mcp_option import McpOption, add_mcp_options, spec_label
from relaykit.testing import OpenAIMock, Reply

from .conftest import TOKEN, ToolServers, clock, get_weather, uninstall

MODEL = "openai/gpt-4o-mini"


def _functions(tmp_path: Path) -> str:
    path = tmp_path / "tools.py"
    path.write_text('def get_weather(city: str) -> str:\n    """Weather."""\n    return "rain"\n')
    return str(path)


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_relaykit_tool_source_gives_prompt_the_tools_with_the_functions(
    backend: str, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    servers = ToolServers({"time": [clock]})
    script = (
        Reply(tool_calls=(("clock", {"city": "Oslo"}), ("get_weather", {"city": "Oslo"}))),
        Reply(text="Noon, and rain."),
    )
    openai_mock.script.push(*script)
    argv = ["--backend", backend, "prompt", "-m", MODEL, "--functions", _functions(tmp_path)]
    argv += ["--mcp", "time", "--mcp-header", f"Authorization=Bearer {TOKEN}", "Oslo?"]

    assert main(argv, plugins=[servers]) == 0

    out, err = capsys.readouterr()
    assert out == "Noon, and rain.\n"
    assert sorted(err.splitlines()) == ["tool clock: ok", "tool get_weather: ok"]
    first, second = (r.json() for r in openai_mock.requests)
    # the functions first, then each --mcp's tools
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "clock"]
    assert [m["content"] for m in second["messages"][-2:]] == ["12:00 in Oslo", "rain"]
    [(spec, headers, config)] = servers.asked
    assert (spec, headers) == ("time", {"Authorization": f"Bearer {TOKEN}"})
    assert isinstance(config, Config)
    assert servers.log == ["open time", "close time"]

    openai_mock.script.push(*script)
    assert main([*argv, "--no-stream", "--json"], plugins=[servers]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "Noon, and rain."
    assert servers.log[2:] == ["open time", "close time"]


@pytest.mark.usefixtures("cli_config")
def test_relaykit_tool_source_tools_are_counted_with_the_prompt(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = ToolServers({"time": [clock]})
    argv = ["prompt", "-m", MODEL, "--count-tokens", "--mcp", "time", "Oslo?"]
    assert main(argv, plugins=[servers]) == 0
    [tool] = openai_mock.last_request.json()["tools"]
    assert tool["name"] == "clock"
    assert servers.log == ["open time", "close time"]


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_relaykit_tool_source_stays_connected_for_the_whole_chat(
    backend: str,
    openai_mock: OpenAIMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    servers = ToolServers({})

    def connections(city: str) -> str:
        """What has been opened and closed so far."""
        return ", ".join(servers.log)

    servers.tools["time"] = [FunctionTool.from_function(connections)]
    openai_mock.script.push(
        Reply(tool_calls=(("connections", {"city": "Oslo"}),)),
        Reply(text="Noon."),
        Reply(tool_calls=(("connections", {"city": "Rome"}),)),
        Reply(text="Noon too."),
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("Oslo?\nAnd Rome?\n"))

    argv = ["--backend", backend, "chat", "-m", MODEL, "--mcp", "time"]
    assert main(argv, plugins=[servers]) == 0

    out, err = capsys.readouterr()
    assert out == "Noon.\nNoon too.\n"
    assert err.splitlines() == ["tool connections: ok", "tool connections: ok"]
    # opened once, before the first turn, still open in the second; closed at the end
    assert servers.log == ["open time", "close time"]
    last = openai_mock.requests[-1].json()["messages"]
    roles = ["user", "assistant", "tool", "assistant", "user", "assistant", "tool"]
    assert [m["role"] for m in last] == roles  # the first turn's tool call stays in it
    assert last[2]["content"] == last[-1]["content"] == "open time"


@pytest.mark.usefixtures("cli_config")
def test_mcp_without_a_plugin_names_the_package_to_install(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall(monkeypatch, "mcp")
    argv = ["prompt", "-m", MODEL, "--mcp", "https://u:pw@mcp.example.com/mcp?key=k-77aa9", "Hi"]

    assert main(argv) == 1

    err = capsys.readouterr().err
    assert err == (
        "error: --mcp https://mcp.example.com/mcp: no plugin turns it into tools (pip install "
        "relaykit-mcp, which connects to MCP servers; `relaykit plugins` lists the plugins "
        "loaded)\n"
    )
    assert openai_mock.requests == []


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mcp", "time", "--mcp", "also-time"], "--mcp time and --mcp also-time both have one"),
        (["--functions", "FILE", "--mcp", "weather"], "--functions FILE and --mcp weather both"),
        (["--mcp", "time", "--mcp", "time"], "error: --mcp time is given twice"),
    ],
)
def test_two_tools_of_one_name_or_one_server_twice_are_an_error(
    extra: list[str],
    message: str,
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    servers = ToolServers({"time": [clock], "also-time": [clock], "weather": [get_weather]})
    path = _functions(tmp_path)
    argv = ["prompt", "-m", MODEL, *[path if a == "FILE" else a for a in extra], "Hi"]

    assert main(argv, plugins=[servers]) == 1

    err = capsys.readouterr().err
    assert message.replace("FILE", path) in err and "Traceback" not in err
    if "twice" not in message:
        assert err.startswith("error: two tools are named ")
        assert "prefix = 'NAME_'" in err
    assert openai_mock.requests == []
    # what had connected is closed again, last first (given twice, nothing connects)
    opened = [e for e in servers.log if e.startswith("open")]
    assert servers.log == [*opened, *(e.replace("open", "close") for e in reversed(opened))]
    assert len(opened) == (0 if "twice" in message else extra.count("--mcp"))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_mcp_options(parser)
    return parser.parse_args(argv)


def test_each_mcp_header_belongs_to_the_mcp_before_it() -> None:
    args = _parse(
        [
            "--mcp",
            "https://a.example/mcp",
            "--mcp-header",
            f"Authorization=Bearer {TOKEN}",
            "--mcp-header",
            "X-Trace: a=b",
            "--mcp",
            "https://b.example/mcp",
        ]
    )
    first, second = args.mcp
    assert first == McpOption(
        "https://a.example/mcp",
        (("Authorization", Secret(f"Bearer {TOKEN}")), ("X-Trace", Secret("a=b"))),
    )
    assert second == McpOption("https://b.example/mcp")  # a token for a never goes to b
    assert TOKEN not in repr(args)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mcp-header", f"Authorization=Bearer {TOKEN}"], "give it after the --mcp URL"),
        (["--mcp", "x", "--mcp-header", f"Bearer {TOKEN}"], "expected NAME=VALUE"),
        (["--mcp", " "], "give a URL, a command line or a configured name"),
    ],
)
def test_a_misplaced_or_malformed_mcp_option_is_a_usage_error_that_never_shows_the_value(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompt", "-m", MODEL, *argv, "Hi"]) == 2
    err = capsys.readouterr().err
    assert message in err and TOKEN not in err


def test_a_spec_is_shown_without_its_query_or_credentials() -> None:
    assert spec_label("https://u:pw@h.example/mcp?api_key=k-1234567") == "https://h.example/mcp"
    assert spec_label("uvx mcp-server-time") == "uvx mcp-server-time"


def whoami() -> str:
    """Who the MCP server takes the caller for."""
    return f"signed in with {TOKEN}"  # a server quoting the token it was given


@pytest.mark.parametrize("command", ["prompt", "chat"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_mcp_header_value_a_tool_quotes_back_is_not_stored(
    backend: str,
    command: str,
    openai_mock: OpenAIMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A ``--mcp-header`` value is a credential the client holds: a tool's result
    that quotes it (or its bearer token) is masked in the stored call log."""
    db = tmp_path / "calls.db"
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\npath = "{db}"\n[retry]\ninitial_wait = 0.01\n'
        f'[providers.openai]\nbase_url = "{openai_mock.base_url}"\n'
        f'api_key = "{openai_mock.api_key}"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    servers = ToolServers({"me": [whoami]})
    openai_mock.script.push(Reply(tool_calls=(("whoami", {}),)), Reply(text="You are you."))
    argv = ["--backend", backend, command, "-m", MODEL, "--mcp", "me"]
    argv += ["--mcp-header", f"Authorization=Bearer {TOKEN}"]
    if command == "prompt":
        argv.append("Who am I?")
    else:
        monkeypatch.setattr("sys.stdin", io.StringIO("Who am I?\n"))
    assert main(argv, plugins=[servers]) == 0
    assert capsys.readouterr().out == "You are you.\n"
    # the model got the result as the tool gave it
    assert openai_mock.last_request.json()["messages"][-1]["content"] == f"signed in with {TOKEN}"
    with closing(sqlite3.connect(db)) as conn:
        stored = "\n".join(conn.iterdump())
    assert "signed in with [REDACTED]" in stored
    assert TOKEN not in stored


#: what a plugin reads itself, from its [mcp] table or the environment
READ_TOKEN = "read-by-plugin-7c2e91d04b"
HEADER_TOKEN = "header-by-plugin-0f5a3b"


def whoami_twice() -> str:
    """Who the MCP server takes the caller for."""
    return f"signed in as {READ_TOKEN}, then as {HEADER_TOKEN}"


@pytest.mark.parametrize("command", ["prompt", "chat"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_secrets_a_tool_source_names_are_masked_where_a_tool_quotes_them(
    backend: str,
    command: str,
    openai_mock: OpenAIMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A source's ``secrets`` (a str, a Secret, a ``Bearer ...`` Secret's token) are
    masked as ``--mcp-header`` values are: in the stored call, the log and spans."""
    from relaykit.testing import TracingExporter

    db = tmp_path / "calls.db"
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\npath = "{db}"\n[telemetry]\ncapture_content = true\n'
        f'[providers.openai]\nbase_url = "{openai_mock.base_url}"\n'
        f'api_key = "{openai_mock.api_key}"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    named = [READ_TOKEN, Secret(f"Bearer {HEADER_TOKEN}")]
    servers = ToolServers({"me": [whoami_twice]}, secrets={"me": named})
    tracing = TracingExporter()
    openai_mock.script.push(Reply(tool_calls=(("whoami_twice", {}),)), Reply(text="You."))
    argv = ["--backend", backend, "--log-json", "-v", command, "-m", MODEL, "--mcp", "me"]
    if command == "prompt":
        argv.append("Who am I?")
    else:
        monkeypatch.setattr("sys.stdin", io.StringIO("Who am I?\n"))

    assert main(argv, plugins=[servers, tracing]) == 0

    out, log = capsys.readouterr()
    assert out == "You.\n"
    sent = openai_mock.last_request.json()["messages"][-1]["content"]
    assert sent == whoami_twice()  # the model got it whole
    with closing(sqlite3.connect(db)) as conn:
        stored = "\n".join(conn.iterdump())
    spans = tracing.dumped()
    for text in (stored, spans):
        assert "signed in as [REDACTED], then as [REDACTED]" in text
    assert '"logger": "relaykit.calls"' in log
    for where, text in {"record": stored, "log": log, "spans": spans}.items():
        assert READ_TOKEN not in text and HEADER_TOKEN not in text, where
    assert servers.log == ["open me", "close me"]


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("secrets", "named"),
    [
        (READ_TOKEN, "its plugin's `secrets` is str, not a sequence"),
        ([READ_TOKEN.encode()], "its plugin named a secret of type bytes, not relaykit.Secret"),
    ],
)
def test_a_tool_source_naming_its_secrets_wrongly_is_an_error_that_never_shows_them(
    secrets: object, named: str, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = ToolServers({"me": [whoami_twice]}, secrets={"me": secrets})

    assert main(["prompt", "-m", MODEL, "--mcp", "me", "Hi"], plugins=[servers]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"error: --mcp me: {named}") and len(err.splitlines()) == 1
    assert READ_TOKEN not in err
    assert openai_mock.requests == [] and servers.log == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_hook_references_secrets_example_masks_its_token(
    backend: str,
    openai_mock: OpenAIMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/plugin-hooks.md's source naming its ``secrets``, run as written: an
    ``asynccontextmanager``'s result with the attribute set."""
    doc = (Path(__file__).parents[2] / "docs" / "plugin-hooks.md").read_text()
    [block] = [b for b in doc.split("```python\n") if "source.secrets = [token]" in b]
    plugin = types.ModuleType("whoami_plugin")
    exec(compile(block.partition("```")[0], "plugin-hooks.md", "exec"), plugin.__dict__)
    db = tmp_path / "calls.db"
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\npath = "{db}"\n[providers.openai]\nbase_url = "{openai_mock.base_url}"\n'
        f'api_key = "{openai_mock.api_key}"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.setenv("WHOAMI_TOKEN", READ_TOKEN)
    openai_mock.script.push(Reply(tool_calls=(("whoami", {}),)), Reply(text="You."))
    argv = ["--backend", backend, "prompt", "-m", MODEL, "--mcp", "whoami", "Who?"]

    assert main(argv, plugins=[plugin]) == 0

    assert capsys.readouterr().out == "You.\n"
    assert openai_mock.last_request.json()["messages"][-1]["content"] == (
        f"signed in with {READ_TOKEN}"
    )
    with closing(sqlite3.connect(db)) as conn:
        stored = "\n".join(conn.iterdump())
    assert "signed in with [REDACTED]" in stored and READ_TOKEN not in stored


class BrokenSource:
    @hookimpl
    def relaykit_tool_source(self, spec: str, headers: Any, config: Config) -> Any:
        raise RuntimeError("the tool list was not where it should be")


@pytest.mark.usefixtures("cli_config")
def test_a_tool_source_that_raises_is_one_line_naming_its_plugin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["prompt", "-m", MODEL, "--mcp", "mine", "Hi"]
    assert main(argv, plugins=[BrokenSource()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'extra-0 (BrokenSource)': its relaykit_tool_source")
    assert "the tool list was not where" in err and err.count("\n") == 1
