"""``[mcp.servers.NAME]`` and ``--mcp SPEC`` checked before anything starts: each mistake a
typed error naming the key (or option) and the fix, never a value that may be a token."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError, InvalidRequestError, RelayError, Secret
from relaykit.cli import main
from relaykit_mcp.server_config import ServerConfig, configured_servers, expand, expanded_env
from relaykit_mcp.tool_source import _arg, tool_source

TOKEN = "tok-2c9d7e41a8b6"
TIME = {"command": "uvx", "args": ["mcp-server-time"]}
DOCS = {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": f"Bearer {TOKEN}"}}


def servers(**tables: Any) -> dict[str, Any]:
    return {"servers": tables}


def test_a_good_table_reads_as_written() -> None:
    found = configured_servers(
        servers(
            time={**TIME, "type": "stdio", "cwd": "~/work", "call_timeout": 5},
            docs={
                **DOCS,
                "type": "http",
                "prefix": "docs_",
                "include": ["search"],
                "max_output_chars": 500_000,
            },
        )
    )
    assert found["time"] == ServerConfig(
        "time", command="uvx", args=("mcp-server-time",), cwd="~/work", call_timeout=5.0
    )
    docs = found["docs"]
    assert (found["time"].max_output_chars, docs.max_output_chars) == (100_000, 500_000)
    assert (docs.url, docs.prefix, docs.include, docs.start_timeout) == (
        "https://mcp.example.com/mcp",
        "docs_",
        ("search",),
        30.0,
    )
    assert TOKEN not in repr(docs)


@pytest.mark.parametrize(
    ("mcp", "message", "hint"),
    [
        ({"srevers": {}}, "unknown config key mcp.srevers", "did you mean 'servers'?"),
        ({"servers": ["time"]}, "mcp.servers must be a table of servers", None),
        (servers(time="uvx"), "config key mcp.servers.time must be a table", "command = ..."),
        (
            servers(time={**TIME, "comand": "x"}),
            "unknown config key mcp.servers.time.comand",
            "did you mean 'command'?",
        ),
        (
            servers(time={**TIME, "url": DOCS["url"]}),
            "mcp.servers.time has both command and url",
            "keep command",
        ),
        (servers(time={"args": ["x"]}), "mcp.servers.time needs command or url", "url = 'https://"),
        (
            servers(time={**TIME, "headers": {}}),
            "mcp.servers.time.headers is not for a server with a command",
            "takes command, args, env, cwd",
        ),
        (
            servers(docs={**DOCS, "env": {}}),
            "mcp.servers.docs.env is not for a server with a url",
            "takes url, headers",
        ),
        (
            servers(time={"command": "uvx", "args": "mcp-server-time"}),
            "mcp.servers.time.args must be a list of strings",
            "args = [",
        ),
        (
            servers(time={"command": "uvx", "args": ["a", 1]}),
            "args must be a list of strings, and holds 1",
            "quote it",
        ),
        (
            servers(time={"command": ""}),
            "mcp.servers.time.command must be a non-empty string",
            None,
        ),
        (
            servers(docs={"url": "mcp.example.com"}),
            "mcp.servers.docs.url must be an http(s) URL",
            None,
        ),
        (
            servers(docs={**DOCS, "start_timeout": 0}),
            "start_timeout must be a number of seconds above 0",
            None,
        ),
        (
            servers(docs={**DOCS, "max_output_chars": 2.5}),
            "max_output_chars must be a whole number of characters above 0",
            "e.g. max_output_chars = 200000",
        ),
        (
            servers(docs={**DOCS, "call_timeout": True}),
            "call_timeout must be a number of seconds",
            None,
        ),
        (
            servers(docs={**DOCS, "type": "sse"}),
            "speaks streamable HTTP, not the older SSE",
            "type = 'http'",
        ),
        (
            servers(docs={**DOCS, "type": "stdio"}),
            "mcp.servers.docs.type is 'stdio', which needs command",
            None,
        ),
        (
            servers(docs={**DOCS, "type": "htp"}),
            "type must be 'stdio' or 'http'",
            "did you mean 'http'?",
        ),
        (servers(docs={**DOCS, "include": "search"}), "include must be a list of strings", None),
    ],
)
def test_a_bad_table_is_a_config_error_naming_the_key_and_the_fix(
    mcp: dict[str, Any], message: str, hint: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        configured_servers(mcp)
    assert message in caught.value.message
    if hint is not None:
        assert hint in (caught.value.hint or "")


def test_a_header_that_is_no_string_is_named_by_its_type_never_its_value() -> None:
    with pytest.raises(ConfigError) as caught:
        configured_servers(servers(docs={**DOCS, "headers": {"X-Key": 1234567890123}}))
    assert "mcp.servers.docs.headers.X-Key must be a string, not int" in str(caught.value)
    assert "1234567890123" not in str(caught.value)


def test_variables_are_read_with_defaults_and_a_missing_one_names_the_key() -> None:
    assert expand("Bearer ${T}", "k", {"T": TOKEN}) == (f"Bearer {TOKEN}", True)
    assert expand("${LEVEL:-info}", "k", {}) == ("info", True)
    assert expand("plain $T", "k", {"T": "x"}) == ("plain $T", False)
    with pytest.raises(ConfigError) as caught:
        expand("Bearer ${DOCS_TOKEN}", "config key mcp.servers.docs.headers.Authorization", {})
    assert str(caught.value) == (
        "config key mcp.servers.docs.headers.Authorization reads ${DOCS_TOKEN}, which is not "
        "set (set DOCS_TOKEN in the environment, or give a default: ${DOCS_TOKEN:-value})"
    )


def test_env_values_read_from_variables_or_named_as_credentials_are_secrets() -> None:
    env = {"GITHUB_TOKEN": "ghp-literal", "FROM_ENV": "${X}", "LOG_LEVEL": "debug"}
    [server] = configured_servers(servers(gh={"command": "x", "env": env})).values()
    assert expanded_env(server, {"X": TOKEN}) == {
        "GITHUB_TOKEN": Secret("ghp-literal"),
        "FROM_ENV": Secret(TOKEN),
        "LOG_LEVEL": "debug",  # masked, it would hide "debug" in the stderr errors quote
    }


def test_env_values_named_only_like_credentials_are_not_secrets() -> None:
    # "false" masked would be masked in every quoted stderr line and tool result
    env = {
        "TOKENIZERS_PARALLELISM": "false",
        "MAX_TOKENS": "4096",
        "AUTHOR_NAME": "Ada",
        "SSH_KEY_PATH": "/home/a/.ssh/id",
        "PGPASSWORD": "pg-literal",
        "apiKey": "k-literal",
        "AWS_SECRET_ACCESS_KEY": "aws-literal",
    }
    [server] = configured_servers(servers(s={"command": "x", "env": env})).values()
    assert expanded_env(server, {}) == {
        "TOKENIZERS_PARALLELISM": "false",
        "MAX_TOKENS": "4096",
        "AUTHOR_NAME": "Ada",
        "SSH_KEY_PATH": "/home/a/.ssh/id",
        "PGPASSWORD": Secret("pg-literal"),
        "apiKey": Secret("k-literal"),
        "AWS_SECRET_ACCESS_KEY": Secret("aws-literal"),
    }


def test_an_argument_read_from_a_variable_is_a_secret() -> None:
    # args = ["--token", "${TOKEN}"]: the value read is masked wherever the command
    # line is quoted; a literal argument is shown as written
    assert _arg("${T}", "k", {"T": TOKEN}) == Secret(TOKEN)
    assert _arg("--token=${T}", "k", {"T": TOKEN}) == Secret(f"--token={TOKEN}")
    assert _arg("mcp-server-time", "k", {}) == "mcp-server-time"


@pytest.mark.parametrize(
    ("spec", "headers", "named"),
    [
        # a command's env values and args read from variables (or named *_TOKEN)
        ("gh", {}, {"literal-ghp-token", TOKEN, "--key=k2-7654321", "k2-7654321"}),
        # a URL's headers, its own and the --mcp-header's, as read; what its own
        # ${VAR}s read (a default is written in the file: no secret)
        (
            "docs",
            {"X-Extra": Secret("v1.${X}")},
            {f"Bearer {TOKEN}", TOKEN, "v1.x-value-1234", "x-value-1234"},
        ),
        ("keyed", {}, {"k-1234567", "pw-12345678"}),
        (
            "https://h.example/mcp",
            {"Authorization": Secret("Bearer ${T}")},
            {f"Bearer {TOKEN}", TOKEN},
        ),
        ("plain", {}, set()),  # a URL written out, nothing read: nothing named
        (f"{sys.executable} -m server", {}, set()),
        # a count is no credential: named, every "1000" a tool answers would be masked
        (f"{sys.executable} -m server --max-tokens 1000", {}, set()),
    ],
)
def test_a_source_names_the_secrets_it_sends_and_its_repr_shows_none(
    spec: str, headers: dict[str, Secret], named: set[str]
) -> None:
    env = {"GH_TOKEN": "literal-ghp-token", "FROM": "${T}"}
    gh = {"command": "x", "args": ["--key=${K2}"], "env": env}
    docs = {**DOCS, "headers": {"Authorization": "Bearer ${T}"}}
    keyed = {"url": "https://u:${PW}@h.example/mcp?key=${K}&lang=${L:-en}&v=${V:-2}"}
    mcp = servers(gh=gh, docs=docs, keyed=keyed, plain={"url": "https://h.example/mcp?a=b"})
    environ = {"T": TOKEN, "X": "x-value-1234", "K": "k-1234567", "K2": "k2-7654321"}
    environ["PW"] = "pw-12345678"

    source = tool_source(spec, headers, mcp, environ=environ)

    assert all(isinstance(s, Secret) for s in source.secrets)
    assert {s.reveal() for s in source.secrets} == named
    assert repr(source) == "<relaykit_mcp tool source>"


@pytest.mark.parametrize(
    ("spec", "headers", "error", "message"),
    [
        ("tiem", {}, ConfigError, "--mcp tiem: no MCP server of that name is configured"),
        ("uvx 'mcp-server", {}, InvalidRequestError, "is not a command line: No closing"),
        (
            f"{sys.executable} -m server",
            {"Authorization": Secret(TOKEN)},
            InvalidRequestError,
            "--mcp-header is for a server reached by URL",
        ),
        ("time", {"Authorization": Secret(TOKEN)}, InvalidRequestError, "'time' is started by"),
        ("docs", {}, ConfigError, "mcp.servers.docs.headers.Authorization reads ${DOCS_TOKEN}"),
        (
            "https://mcp.example.com/mcp",
            {"Authorization": Secret("Bearer ${NOT_SET_HERE}")},
            ConfigError,
            "--mcp-header Authorization reads ${NOT_SET_HERE}",
        ),
    ],
)
def test_a_spec_that_cannot_be_used_fails_before_anything_starts(
    spec: str, headers: dict[str, Secret], error: type[RelayError], message: str
) -> None:
    mcp = servers(time=TIME, docs={**DOCS, "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}})
    with pytest.raises(error) as caught:
        tool_source(spec, headers, mcp, environ={})
    assert message in str(caught.value) and TOKEN not in str(caught.value)
    if spec == "tiem":
        assert caught.value.hint == "did you mean 'time'?"


@pytest.mark.parametrize(
    ("mcp", "message", "hint"),
    [
        ({"srevers": {}}, "unknown config key mcp.srevers", "did you mean 'servers'?"),
        (
            servers(time={**TIME, "comand": "x"}),
            "unknown config key mcp.servers.time.comand",
            "did you mean 'command'?",
        ),
    ],
)
def test_a_bad_table_is_refused_when_the_client_is_built(
    mcp: dict[str, Any],
    message: str,
    hint: str,
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    # as a bad [exporters.prometheus] key is: checked only when --mcp was used, a
    # mistake in [mcp] stayed unseen until the server it names was wanted
    with pytest.raises(ConfigError) as caught:
        closed_after(relaykit.Client({"storage": {"backend": "none"}, "mcp": mcp}, env={}))
    assert caught.value.message == message
    assert caught.value.hint == hint
    closed_after(
        relaykit.Client({"storage": {"backend": "none"}, "mcp": servers(time=TIME)}, env={})
    )


def test_the_cli_refuses_a_bad_table_without_mcp_too(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text('[storage]\nbackend = "none"\n[mcp.server.time]\ncommand = "uvx"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))

    assert main(["prompt", "-m", "openai/gpt-4o-mini", "Hi"]) == 1

    assert capsys.readouterr() == (
        "",
        "error: unknown config key mcp.server (did you mean 'servers'?)\n",
    )


def test_the_cli_prints_a_bad_config_as_one_line(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text('[mcp.servers.time]\ncommand = "uvx"\nurl = "https://x.example/mcp"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))

    assert main(["prompt", "-m", "openai/gpt-4o-mini", "--mcp", "time", "Hi"]) == 1

    assert capsys.readouterr() == (
        "",
        "error: config key mcp.servers.time has both command and url (keep command, for a "
        "server relaykit starts, or url, for one it connects to)\n",
    )


def test_loading_the_plugin_leaves_the_mcp_sdk_unimported() -> None:
    # Every client and CLI run loads the plugin; the SDK takes a second or more.
    code = (
        "import sys; from relaykit.plugins import build_plugin_manager; "
        "pm = build_plugin_manager(); assert pm.get_plugin('mcp') is not None; "
        "print(sorted(m for m in ('mcp', 'httpx2', 'relaykit_mcp.connect') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
