"""``relaykit prompt/chat --mcp`` end to end: relaykit_mcp.testing's server over stdio (a
subprocess per test: a few) and over HTTP (conftest's, one per module), the model the
loopback OpenAI server; asyncio and trio."""

from __future__ import annotations

import io
import json
import os
import shlex
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.secrets import MASK
from relaykit.testing import OpenAIMock, Reply
from relaykit_mcp.testing import stdio_command

MODEL = "openai/gpt-4o-mini"
KEY = "sk-mock-1234567890abcdef"
TOKEN = "mcp-test-token-5b7f0c2d9e"  # conftest's
COMMAND_LINE = shlex.join([stdio_command()[0], *stdio_command()[1]])


@pytest.fixture
def openai_mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as mock:
        yield mock


Configure = Callable[[str], None]


@pytest.fixture
def configure(
    openai_mock: OpenAIMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Configure:
    """``configure(toml)``: a relaykit.toml (OpenAI at the mock, no call log, plus
    ``toml``) the CLI finds through $RELAYKIT_CONFIG."""

    def write(extra: str = "") -> None:
        path = tmp_path / "relaykit.toml"
        path.write_text(
            f'[storage]\nbackend = "none"\n\n[providers.openai]\n'
            f'base_url = "{openai_mock.base_url}"\napi_key = "{KEY}"\n\n{extra}'
        )
        monkeypatch.setenv("RELAYKIT_CONFIG", str(path))

    write()
    return write


def test_prompt_streams_with_a_stdio_servers_tools_beside_a_functions_file(
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    functions = tmp_path / "tools.py"
    functions.write_text('def double(n: int) -> int:\n    """Twice n."""\n    return 2 * n\n')
    openai_mock.script.push(
        Reply(text="Adding.", tool_calls=(("add", {"a": 2, "b": 3}), ("double", {"n": 5}))),
        Reply(text="Five, and ten."),
    )
    argv = ["prompt", "-m", MODEL, "--functions", str(functions), "--mcp", COMMAND_LINE, "Sums?"]

    assert main(argv) == 0

    out, err = capsys.readouterr()
    assert out == "Adding.\nFive, and ten.\n"
    # the tools' lines, and nothing of the server's own stderr ("...: starting")
    assert sorted(err.splitlines()) == ["tool add: ok", "tool double: ok"]
    first, second = (r.json() for r in openai_mock.requests)
    names = [t["function"]["name"] for t in first["tools"]]
    assert names[0] == "double" and {"add", "chart", "docs_search", "pid"} <= set(names)
    assert [m["content"] for m in second["messages"][-2:]] == ["5", "10"]


def test_chat_keeps_a_configured_stdio_server_for_the_whole_session_on_trio(
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    command, args = stdio_command()
    configure(
        f"[mcp.servers.calc]\ncommand = {command!r}\nargs = {args!r}\n"
        'include = ["pid", "add"]\nenv = { CRASH_NOTE = "${NOTE:-unused}" }\n'.replace("'", '"')
    )
    openai_mock.script.push(
        Reply(tool_calls=(("pid", {}),)),
        Reply(text="One."),
        Reply(tool_calls=(("pid", {}),)),
        Reply(text="Two."),
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("first\nsecond\n"))

    assert main(["--backend", "trio", "chat", "-m", MODEL, "--mcp", "calc"]) == 0

    assert capsys.readouterr() == ("One.\nTwo.\n", "tool pid: ok\ntool pid: ok\n")
    assert [t["function"]["name"] for t in openai_mock.requests[0].json()["tools"]] == [
        "add",
        "pid",
    ]
    last = openai_mock.requests[-1].json()["messages"]
    first_pid, second_pid = (m["content"] for m in last if m["role"] == "tool")
    assert first_pid == second_pid  # one server process for the session
    assert not _alive(int(first_pid))  # stopped when the chat ended


def _alive(pid: int) -> bool:
    for _ in range(50):  # the SDK reaps it as it leaves; allow the OS a moment
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.02)
    return True


def test_prompt_with_an_http_server_and_a_header_read_from_the_environment_on_trio(
    http_url: str,
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TEST_TOKEN", TOKEN)
    openai_mock.script.push(
        Reply(tool_calls=(("docs_search", {"query": "reset"}),)), Reply(text="Nothing.")
    )
    header = "Authorization=Bearer ${MCP_TEST_TOKEN}"  # read by relaykit, not the shell
    argv = ["--backend", "trio", "prompt", "-m", MODEL, "--no-stream"]

    assert main([*argv, "--mcp", http_url, "--mcp-header", header, "Reset?"]) == 0

    assert capsys.readouterr() == ("Nothing.\n", "")
    # the server is called by its own name, docs.search
    assert openai_mock.last_request.json()["messages"][-1]["content"] == "nothing found for reset"


def test_a_configured_http_servers_prefix_keeps_its_tools_apart_and_without_it_they_clash(
    http_url: str,
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCS_TOKEN", TOKEN)
    server = (
        f'url = "{http_url}"\nheaders = {{ Authorization = "Bearer ${{DOCS_TOKEN}}" }}\n'
        'include = ["add"]\n'
    )
    configure(f'[mcp.servers.docs]\n{server}prefix = "docs_"\n[mcp.servers.more]\n{server}')
    openai_mock.script.push(
        Reply(tool_calls=(("docs_add", {"a": 1, "b": 1}), ("add", {"a": 2, "b": 2}))),
        Reply(text="2 and 4."),
    )
    argv = ["prompt", "-m", MODEL, "--mcp", "docs", "--mcp", "more", "Add."]

    assert main(argv) == 0

    out, err = capsys.readouterr()
    assert out == "2 and 4.\n"
    assert sorted(err.splitlines()) == ["tool add: ok", "tool docs_add: ok"]  # as each ends
    assert [m["content"] for m in openai_mock.last_request.json()["messages"][-2:]] == ["2", "4"]

    header = f"Authorization=Bearer {TOKEN}"
    argv = ["prompt", "-m", MODEL, "--mcp", "more", "--mcp", http_url, "--mcp-header", header]
    assert main([*argv, "Add."]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: two tools are named 'add': --mcp more and --mcp {http_url} both have one "
        "(give a configured server a prefix"
    )


def test_a_refused_token_is_one_error_line_that_never_shows_it(
    http_url: str,
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "wrong-token-8d1f3a6b0c"
    argv = ["prompt", "-m", MODEL, "--mcp", http_url, "--mcp-header", f"Authorization: {wrong}"]

    assert main([*argv, "Hi"]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: HTTP 401: MCP server 'http://127.0.0.1:")
    assert "refused the credentials during initialize" in err
    assert len(err.splitlines()) == 1 and wrong not in err
    assert openai_mock.requests == []


def test_a_server_that_cannot_start_is_an_error_naming_the_fix(
    openai_mock: OpenAIMock, configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"{sys.executable}-not-there --serve"
    assert main(["prompt", "-m", MODEL, "--mcp", missing, "Hi"]) == 1
    err = capsys.readouterr().err
    assert "could not start" in err and "is installed and on PATH" in err
    assert "Traceback" not in err


def test_tools_lists_a_configured_http_servers_tools_and_calls_no_model(
    http_url: str,
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCS_TOKEN", TOKEN)
    configure(
        f'[mcp.servers.docs]\nurl = "{http_url}"\n'
        'headers = { Authorization = "Bearer ${DOCS_TOKEN}" }\n'
        'prefix = "docs_"\ninclude = ["add", "docs.search"]\n'
    )

    assert main(["--backend", "trio", "tools", "--mcp", "docs"]) == 0

    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "name              source    description",
        "docs_add          mcp:docs  Add two whole numbers.",
        "docs_docs_search  mcp:docs  Search the docs.",  # the model's spelling of docs.search
    ]
    assert err == ""

    wrong = "wrong-token-8d1f3a6b0c"  # a refused token: the error, as prompt's, never shows it
    assert main(["tools", "--mcp", http_url, "--mcp-header", f"Authorization: {wrong}"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: HTTP 401: MCP server 'http://127.0.0.1:")
    assert len(err.splitlines()) == 1 and wrong not in err
    header = f"Authorization=Bearer {TOKEN}"
    assert main(["tools", "--json", "--mcp", http_url, "--mcp-header", header]) == 0
    out = capsys.readouterr().out
    listed = {tool["name"]: tool for tool in json.loads(out)}
    assert listed["add"] == {
        "name": "add",
        "description": "Add two whole numbers.",
        "input_schema": listed["add"]["input_schema"],
        "source": f"mcp:{http_url}",
    }
    schema = listed["add"]["input_schema"]
    assert schema["required"] == ["a", "b"] and schema["properties"]["a"]["type"] == "integer"
    assert {"chart", "docs_search", "pid"} <= set(listed) and TOKEN not in out
    assert openai_mock.requests == []


def test_tools_with_a_server_that_cannot_start_is_prompts_error(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tools", "--mcp", f"{sys.executable}-not-there --serve"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert "could not start" in err and "is installed and on PATH" in err
    assert "Traceback" not in err


def test_a_banner_a_server_prints_on_stdout_is_skipped_quietly(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    # many servers print a line before speaking JSON-RPC; the SDK skips it, and
    # its log record (an ERROR, with the line) used to land on the terminal
    script = (
        "print('listening, key sk-banner-0000')\n"
        "from relaykit_mcp.testing import main; main(['stdio'])"
    )
    command_line = shlex.join([sys.executable, "-c", script])

    assert main(["tools", "--mcp", command_line]) == 0

    out, err = capsys.readouterr()
    assert "add" in out and err == ""


def test_a_configured_max_output_chars_cuts_what_the_model_reads(
    openai_mock: OpenAIMock, configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    command, args = stdio_command()
    configure(
        f"[mcp.servers.calc]\ncommand = {command!r}\nargs = {args!r}\n"
        'include = ["big"]\nmax_output_chars = 30\n'.replace("'", '"')
    )
    openai_mock.script.push(Reply(tool_calls=(("big", {"chars": 95}),)), Reply(text="Cut."))

    assert main(["prompt", "-m", MODEL, "--no-stream", "--mcp", "calc", "Big?"]) == 0

    assert capsys.readouterr().out == "Cut.\n"
    [sent] = [m for m in openai_mock.requests[-1].json()["messages"] if m["role"] == "tool"]
    assert (
        sent["content"] == "012345678901234567890123456789\n[output truncated: 30 of 95 characters]"
    )


# -- a configured server's credentials in what the command stores, logs and traces ---------


def _leak_config(kind: str, http_url: str, openai_mock: OpenAIMock, db: Path) -> str:
    """A relaykit.toml: calls stored in ``db``, content traced, and the server ``me``
    with its token from $GITHUB_TOKEN: in its env (stdio) or its headers (http)."""
    command, args = stdio_command()
    server = (
        f"command = {json.dumps(command)}\nargs = {json.dumps(args)}\n"
        'env = { MCP_TOKEN = "${GITHUB_TOKEN}" }\n'
        if kind == "stdio"
        else f'url = "{http_url}"\nheaders = {{ Authorization = "Bearer ${{GITHUB_TOKEN}}" }}\n'
    )
    return (
        f'[storage]\npath = "{db}"\n[telemetry]\ncapture_content = true\n'
        f'[providers.openai]\nbase_url = "{openai_mock.base_url}"\napi_key = "{KEY}"\n'
        f"[mcp.servers.me]\n{server}"
    )


@pytest.mark.parametrize("kind", ["stdio", "http", "url"])
@pytest.mark.parametrize("command", ["prompt", "chat"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_token_the_plugin_reads_itself_is_masked_where_a_tool_quotes_it(
    kind: str,
    command: str,
    backend: str,
    http_url: str,
    openai_mock: OpenAIMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token from [mcp.servers.NAME] env or headers, or from a --mcp-header's ${VAR}
    (read by the plugin, not the shell), is the client's to mask, as a --mcp-header
    written out is: a tool's result quoting it is stored, logged and traced masked."""
    from relaykit.testing import TracingExporter

    db = tmp_path / "calls.db"
    config = tmp_path / "relaykit.toml"
    config.write_text(_leak_config(kind, http_url, openai_mock, db))
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    openai_mock.script.push(Reply(tool_calls=(("whoami", {}),)), Reply(text="You are you."))
    argv = ["--backend", backend, "--log-json", "-v", command, "-m", MODEL]
    if kind == "url":
        argv += ["--mcp", http_url, "--mcp-header", "Authorization=Bearer ${GITHUB_TOKEN}"]
    else:
        argv += ["--mcp", "me"]
    if command == "prompt":
        argv.append("Who am I?")
    else:
        monkeypatch.setattr("sys.stdin", io.StringIO("Who am I?\n"))
    tracing = TracingExporter()

    assert main(argv, plugins=[tracing]) == 0

    out, log = capsys.readouterr()
    assert out == "You are you.\n"
    # the model got the result as the tool gave it
    sent = openai_mock.last_request.json()["messages"][-1]["content"]
    assert sent == f"signed in with token {TOKEN}"
    with sqlite3.connect(db) as conn:
        stored = "\n".join(conn.iterdump())
    spans = tracing.dumped()
    assert "signed in with token [REDACTED]" in stored
    assert "signed in with token [REDACTED]" in spans
    assert '"logger": "relaykit.calls"' in log  # the JSON log has each call's line
    for where, text in {"record": stored, "log": log, "spans": spans}.items():
        assert TOKEN not in text, where


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_configured_server_that_fails_quoting_its_token_is_one_error_line_without_it(
    backend: str,
    http_url: str,
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that dies as it starts, its token (from env and args) on its stderr, and
    one that refuses its token with a 401 quoting the header: the CLI's one line
    names each, and the fix, never the token."""
    wrong = "wrong-config-token-71c9e0"
    monkeypatch.setenv("GITHUB_TOKEN", wrong)
    script = (
        "import os, sys\n"
        "print('token', os.environ['MCP_TOKEN'], 'or', sys.argv[-1], 'refused', file=sys.stderr)\n"
        "sys.exit(1)"
    )
    configure(
        f"[mcp.servers.dies]\ncommand = {json.dumps(sys.executable)}\n"
        f'args = ["-c", {json.dumps(script)}, "--token", "${{GITHUB_TOKEN}}"]\n'
        'env = { MCP_TOKEN = "${GITHUB_TOKEN}" }\n'
        f'[mcp.servers.refuses]\nurl = "{http_url}"\n'
        'headers = { Authorization = "Bearer ${GITHUB_TOKEN}" }\n'
    )
    argv = ["--backend", backend, "prompt", "-m", MODEL, "--mcp"]

    assert main([*argv, "dies", "Hi"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: MCP server 'dies' ")
    assert "its stderr ends: token [REDACTED] or [REDACTED] refused" in err

    assert main([*argv, "refuses", "Hi"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: HTTP 401: MCP server 'refuses' refused the credentials")
    for text in (out, err):
        assert wrong not in text
    assert openai_mock.requests == []


@pytest.mark.parametrize("given", ["config", "option"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_tool_error_quoting_the_bearer_token_alone_never_shows_it(
    given: str,
    backend: str,
    http_url: str,
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server's error that quotes the token of its ``Authorization: Bearer ...``
    header without the scheme: masked in the tool's line on stderr (and so in the
    error result the model reads: the plugin's error text)."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    configure(
        f'[mcp.servers.me]\nurl = "{http_url}"\n'
        'headers = { Authorization = "Bearer ${GITHUB_TOKEN}" }\n'
    )
    openai_mock.script.push(
        Reply(tool_calls=(("whoami", {"refuse": True}),)), Reply(text="Refused.")
    )
    argv = ["--backend", backend, "prompt", "-m", MODEL, "--mcp"]
    if given == "config":
        argv.append("me")
    else:
        argv += [http_url, "--mcp-header", f"Authorization=Bearer {TOKEN}"]

    assert main([*argv, "Who am I?"]) == 0

    out, err = capsys.readouterr()
    said = "MCP tool whoami failed: Error executing tool whoami: token [REDACTED] may not do that"
    assert (out, err) == ("Refused.\n", f"tool whoami: error: McpToolError: {said}\n")
    assert openai_mock.last_request.json()["messages"][-1]["content"] == f"McpToolError: {said}"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_command_lines_secret_arguments_never_show_in_its_error(
    backend: str,
    openai_mock: OpenAIMock,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--mcp "server --token T --api-key=K sk-..."``: the values after secret-named
    flags, a secret ``--flag=value`` and a known key format are masked in the server's
    label and in its stderr, which the one error line quotes; other arguments show."""
    token, key, openai_key = "plain-token-3f9a1c", "plain-key-8d2e4b", "sk-proj-abcdef0123456789XYZ"
    script = "import sys;print(sys.argv[1:],file=sys.stderr);sys.exit(1)"
    spec = shlex.join(
        [sys.executable, "-c", script, "--token", token, f"--api-key={key}", openai_key, "-v"]
    )
    argv = ["--backend", backend, "prompt", "-m", MODEL, "--mcp", spec, "Hi"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    shown = f"--token {MASK} --api-key={MASK} {MASK} -v"
    label = f"{Path(sys.executable).name} -c {script} {shown}"
    assert f"MCP server {label[:80]!r}" in err
    assert f"{{'{token}'" not in err and f"'{MASK}', '{MASK}', '{MASK}', '-v']" in err
    for secret in (token, key, openai_key):
        assert secret not in err
    assert openai_mock.requests == []
