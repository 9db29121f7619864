"""The README's example, run offline (its stdio server is relaykit_mcp.testing's, its
HTTP one the loopback one, its model the fake provider); its configuration valid and
its command lines parsed by the real parser."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from relaykit import Secret
from relaykit.cli.main import build_parser
from relaykit.config import load_config
from relaykit.plugins import build_plugin_manager
from relaykit.testing import FakePlugin, Reply
from relaykit_mcp.server_config import configured_servers, expanded_env
from relaykit_mcp.testing import stdio_command

README = (Path(__file__).parents[1] / "README.md").read_text()
TOKEN = "mcp-test-token-5b7f0c2d9e"  # conftest's


def test_the_example_runs_both_servers_tools(
    http_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [block] = re.findall(r"```python\n(.*?)```", README, re.S)
    command, args = stdio_command()
    source = (
        block.replace('"uvx", ["mcp-server-time"]', f"{command!r}, {args!r}")
        .replace("https://mcp.example.com/mcp", http_url)
        .replace('include=["search"]', 'include=["docs.search"]')
        .replace("relaykit.Client()", "relaykit.Client(CONFIG, plugins=[FAKE])")
        .replace('"openai/gpt-4o-mini"', '"fake/m"')
    )
    fake = FakePlugin()
    fake.script.push(
        Reply(tool_calls=(("add", {"a": 1, "b": 2}), ("docs_docs_search", {"query": "DST"}))),
        Reply(text="Three, and nothing on DST."),
    )
    monkeypatch.setenv("DOCS_MCP_TOKEN", TOKEN)
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "CONFIG": {"storage": {"backend": "none"}},
        "FAKE": fake,
    }
    exec(compile(source, "README.md", "exec"), namespace)
    assert capsys.readouterr().out == "Three, and nothing on DST.\n"
    tool_messages = [m for m in fake.calls[1].messages if m.role == "tool"]
    assert [m.content[0].content for m in tool_messages] == ["3", "nothing found for DST"]  # type: ignore[union-attr]
    assert [t.name for t in fake.calls[0].tools][-1] == "docs_docs_search"


def test_the_configuration_example_is_valid_and_names_what_it_shows() -> None:
    [block] = re.findall(r"```toml\n(.*?)```", README, re.S)
    mcp = load_config(tomllib.loads(block), env={}).mcp
    servers = configured_servers(mcp)
    assert sorted(servers) == ["docs", "github", "time"]
    assert servers["github"].prefix == "github_"
    # ${VAR} read when a server is used: each a variable the README names
    assert expanded_env(servers["github"], {"GITHUB_TOKEN": "t"}) == {
        "GITHUB_PERSONAL_ACCESS_TOKEN": Secret("t")
    }


def test_the_command_lines_parse() -> None:
    [block] = re.findall(r"```sh\n(.*?)```", README, re.S)
    parser = build_parser(build_plugin_manager())
    lines = block.strip().splitlines()
    assert len(lines) == 5
    for line in lines:
        args = parser.parse_args(shlex.split(line.removeprefix("relaykit ")))
        assert args.mcp and callable(args.func)
