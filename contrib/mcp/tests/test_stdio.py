"""relaykit-mcp over stdio: a real MCP server (relaykit_mcp.testing) as a subprocess,
its tools in run_tools on the fake provider; a server that cannot start, dies or
stays silent."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ImagePart, Secret, ToolResultPart, ToolRun
from relaykit.testing import PNG, FakePlugin, Reply
from relaykit_mcp import McpError, connect_stdio
from relaykit_mcp.testing import stdio_command

CONFIG: dict[str, Any] = {"storage": {"backend": "none"}}
#: what the server prints to stderr as it dies: a secret it was given, masked when quoted
KEY = "mcp-upstream-key-94c1e07a5d"


def results(run: ToolRun) -> list[ToolResultPart]:
    return [p for m in run.messages if m.role == "tool" for p in m.content]  # type: ignore[misc]


@pytest.mark.anyio
async def test_run_tools_calls_the_servers_tools_and_survives_its_death() -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(tool_calls=(("add", {"a": 2, "b": 3}), ("chart", {"title": "sales"}))),
        Reply(tool_calls=(("crash", {}),)),
        Reply(text="The tool server is down."),
    )
    command, args = stdio_command()
    env: dict[str, str | Secret] = {"CRASH_NOTE": f"fatal: lost {KEY}", "KEY": Secret(KEY)}
    async with (
        relaykit.Client(CONFIG, plugins=[fake]) as client,
        connect_stdio(command, args, env=env, name="calc") as server,
    ):
        assert server.server_info.name == "relaykit-test"
        assert server.instructions == "Tools for relaykit-mcp's tests."
        tools = await server.tools(include=["add", "chart", "crash"])
        run = await client.run_tools("fake/m", "Add, draw, crash.", tools)

        add_schema = next(t.tool for t in tools if t.name == "add")
        assert add_schema.description == "Add two whole numbers."
        assert add_schema.parameters["required"] == ["a", "b"]
        assert fake.calls[0].tools == tuple(t.tool for t in tools)
        added, drawn, crashed = results(run)
        assert (added.content, added.is_error) == ("5", False)
        assert drawn.content == "chart: sales"
        assert drawn.attachments == (ImagePart(data=PNG, media_type="image/png"),)
        # the server died mid-call: an error result the model reads, naming the
        # server, quoting its stderr with the secret masked
        assert crashed.is_error and run.text == "The tool server is down."
        assert crashed.content.startswith(
            "McpError: MCP server 'calc' closed the connection during tools/call 'crash'"
        )
        assert "fatal: lost [REDACTED]" in crashed.content and KEY not in crashed.content
        assert KEY not in await server.stderr()

        # later calls fail at once; with tool_errors="raise" the run raises
        fake.script.push(Reply(tool_calls=(("add", {"a": 1, "b": 1}),)))
        with pytest.raises(McpError) as caught:
            await client.run_tools("fake/m", "Again.", tools, tool_errors="raise")
        assert caught.value.server == "calc"
        assert "closed the connection during tools/call 'add'" in str(caught.value)
        assert "see its stderr, then connect again" in str(caught.value)


@pytest.mark.anyio
async def test_a_command_that_cannot_start_names_the_fix() -> None:
    with pytest.raises(McpError) as caught:
        async with connect_stdio("relaykit-no-such-mcp-server", ["--x"]):
            pytest.fail("connected")
    message = str(caught.value)
    assert "MCP server 'relaykit-no-such-mcp-server --x' could not start" in message
    assert "is installed and on PATH" in message


@pytest.mark.anyio
async def test_a_server_that_exits_at_start_is_quoted_masked() -> None:
    script = "import os, sys; print('bad config, key', os.environ['K'], file=sys.stderr)"
    with pytest.raises(McpError) as caught:
        async with connect_stdio(sys.executable, ["-c", script], env={"K": Secret(KEY)}):
            pytest.fail("connected")
    message = str(caught.value)
    assert "closed the connection during initialize" in message
    assert "its stderr ends: bad config, key [REDACTED]" in message
    assert KEY not in message + repr(caught.value)


@pytest.mark.anyio
async def test_a_secret_argument_reaches_the_server_and_is_masked_where_quoted() -> None:
    # an argument of no known shape: only being a Secret masks it
    token = "plain-words-not-a-key-shape"
    script = "import sys; print('refused token', sys.argv[1], file=sys.stderr)"
    with pytest.raises(McpError) as caught:
        async with connect_stdio(sys.executable, ["-c", script, Secret(token)]):
            pytest.fail("connected")
    message = str(caught.value)
    assert "-c import sys" in message and "[REDACTED]" in message  # the label masks it
    assert "its stderr ends: refused token [REDACTED]" in message  # it reached the server
    assert token not in message + repr(caught.value)


@pytest.mark.anyio
async def test_a_command_that_cannot_start_masks_its_secret_arguments() -> None:
    with pytest.raises(McpError) as caught:
        async with connect_stdio(
            "relaykit-no-such-mcp-server", ["--token", Secret("hunter2hunter2")]
        ):
            pytest.fail("connected")
    message = str(caught.value)
    assert "'relaykit-no-such-mcp-server --token [REDACTED]' could not start" in message
    assert "hunter2" not in message


@pytest.mark.anyio
async def test_a_server_that_never_answers_times_out() -> None:
    # reads stdin to its end: alive, silent, gone as soon as the client closes it
    script = "import sys; sys.stdin.read()"
    with pytest.raises(McpError) as caught:
        async with connect_stdio(sys.executable, ["-c", script], name="mute", start_timeout=0.3):
            pytest.fail("connected")
    assert "MCP server 'mute' did not answer initialize within 0.3 s" in str(caught.value)
    assert "(start_timeout=)" in str(caught.value) and caught.value.retryable


#: a bare stdio MCP server: answers initialize, tools/list (none), and any other call
#: with the bytes of argv[1] (a Python bytes literal) as its text content's JSON string
RAW_SERVER = r"""
import ast, json, sys
out, answer = sys.stdout.buffer, ast.literal_eval(sys.argv[1])
tools = sys.argv[2].encode() if len(sys.argv) > 2 else b"[]"
for line in sys.stdin.buffer:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    if msg["method"] == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"],
                  "capabilities": {"tools": {}}, "serverInfo": {"name": "raw", "version": "1"}}
        out.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}).encode())
    elif msg["method"] == "tools/list":
        out.write(b'{"jsonrpc": "2.0", "id": %d, "result": {"tools": %s}}' % (msg["id"], tools))
    else:
        out.write(b'{"jsonrpc": "2.0", "id": %d, "result": {"content": [{"type": "text", '
                  b'"text": "%s"}]}}' % (msg["id"], answer))
    out.write(b"\n")
    out.flush()
"""


@pytest.mark.anyio
async def test_a_result_that_is_not_utf8_is_read_with_replacement_characters() -> None:
    # a server writing Latin-1 (a Windows tool's output, say) breaks no session; it
    # used to hang the call (the SDK's reader died, then drained stdout forever)
    args = ["-c", RAW_SERVER, repr(b"caf\xe9")]
    async with connect_stdio(sys.executable, args, call_timeout=10) as server:
        assert await server.call("any") == "caf\N{REPLACEMENT CHARACTER}"
        assert await server.call("again") == "caf\N{REPLACEMENT CHARACTER}"


@pytest.mark.anyio
async def test_a_tool_listed_without_its_input_schema_is_named_with_the_fix() -> None:
    # the spec requires inputSchema; the SDK refuses the whole listing with a long
    # pydantic message, which was hinted as "check the server is running and reachable"
    tools = [{"name": "add", "inputSchema": {"type": "object"}}, {"name": "lookup"}]
    args = ["-c", RAW_SERVER, repr(b"unused"), json.dumps(tools)]
    async with connect_stdio(sys.executable, args, name="calc", call_timeout=10) as server:
        with pytest.raises(McpError) as caught:
            await server.tools()
    error = caught.value
    assert str(error).startswith(
        "MCP server 'calc' answered tools/list against the MCP spec: tool 2 ('lookup')"
        " has no inputSchema"
    ), str(error)
    assert error.hint is not None and "inputSchema" in error.hint
    assert "pydantic" not in str(error) and "running and reachable" not in (error.hint or "")


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rpartition(")")[2].split()[0] == "Z")


@pytest.mark.anyio
async def test_a_servers_own_children_stop_with_it(tmp_path: Path) -> None:
    # a server that starts a helper (a browser, a language server) and exits when
    # its stdin closes, leaving the helper: it used to run on, orphaned
    script = (
        "import subprocess, sys; from relaykit_mcp.testing import main\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "open(sys.argv[1], 'w').write(str(helper.pid))\n"
        "main(['stdio'])\n"
    )
    pid_file = tmp_path / "helper.pid"
    async with connect_stdio(sys.executable, ["-c", script, str(pid_file)]) as server:
        assert await server.call("add", {"a": 1, "b": 2}) == "3"
        helper = int(pid_file.read_text())
        assert running(helper)
    for _ in range(100):  # a signal lands in moments
        if not running(helper):
            break
        await anyio.sleep(0.05)
    orphaned = running(helper)
    if orphaned:
        os.kill(helper, signal.SIGKILL)
    assert not orphaned


@pytest.mark.anyio
async def test_a_missing_working_directory_is_named_not_the_command(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    command, args = stdio_command()
    with pytest.raises(McpError) as caught:
        async with connect_stdio(command, args, cwd=missing, name="calc"):
            pytest.fail("connected")
    assert f"MCP server 'calc' could not start: no directory {str(missing)!r} (cwd)" in str(
        caught.value
    )
    assert "on PATH" not in str(caught.value)


@pytest.mark.anyio
async def test_a_relative_working_directory_is_the_config_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the core's own [storage] path: taken from wherever the command ran, the
    # server's directory beside the config was "no directory".
    from relaykit.config import load_config
    from relaykit_mcp.plugin import relaykit_tool_source

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "work").mkdir(parents=True)
    elsewhere.mkdir()
    command, args = stdio_command()
    servers = "".join(
        f"[mcp.servers.{name}]\ncommand = {json.dumps(command)}\n"
        f"args = {json.dumps(args)}\ncwd = {json.dumps(cwd)}\n"
        for name, cwd in (("calc", "work"), ("lost", "gone"))
    )
    (project / "relaykit.toml").write_text(f'[storage]\nbackend = "none"\n{servers}')
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../project/relaykit.toml"), env={})
    async with relaykit_tool_source("calc", {}, config) as tools:
        assert "add" in {tool.name for tool in tools}
    with pytest.raises(McpError) as caught:
        async with relaykit_tool_source("lost", {}, config):
            pytest.fail("connected")
    assert f"no directory {str(project / 'gone')!r} (cwd)" in str(caught.value)
