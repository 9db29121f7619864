"""``relaykit tools``: the tools ``--functions`` and ``--mcp`` give, listed without a model.

The ``--mcp`` servers are test_cli_mcp's fake ``relaykit_tool_source`` plugin
(relaykit-mcp's tests list a real server's); no provider is configured and no
API key is set, since the command calls no model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from relaykit.cli import main

from .conftest import TOKEN, ToolServers, clock, get_weather, uninstall

FUNCTIONS = '''
import math


def lookup(city: str, limit: int = 3) -> list[str]:
    """Find places in a city.

    Longer text the table leaves out.
    """
    return []


def undocumented(x: int) -> int:
    return x


def chatty() -> str:
    """%s"""
    return ""


def _helper() -> None:
    """Not a tool: private."""
''' % ("word " * 30)


@pytest.fixture(autouse=True)
def no_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration with no provider in it, and no vendor's key in the environment."""
    path = tmp_path / "relaykit.toml"
    path.write_text('[storage]\nbackend = "none"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(path))
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _functions(tmp_path: Path) -> str:
    path = tmp_path / "tools.py"
    path.write_text(FUNCTIONS)
    return str(path)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_tools_lists_each_tool_with_its_source_in_the_order_a_prompt_sends_them(
    backend: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    servers = ToolServers({"time": [clock], "https://h.example/mcp?key=k-1": [get_weather]})
    path = _functions(tmp_path)
    argv = ["--backend", backend, "tools", "--functions", path, "--mcp", "time"]
    argv += ["--mcp", "https://h.example/mcp?key=k-1"]
    argv += ["--mcp-header", f"Authorization=Bearer {TOKEN}"]

    assert main(argv, plugins=[servers]) == 0

    out, err = capsys.readouterr()
    assert (
        [re.split(r"\s{2,}", line) for line in out.splitlines()]
        == [
            ["name", "source", "description"],
            ["lookup", path, "Find places in a city."],  # its first line
            ["undocumented", path, "-"],
            ["chatty", path, ("word " * 30)[:97] + "..."],
            ["clock", "mcp:time", "The time in a city."],
            ["get_weather", "mcp:https://h.example/mcp", "The weather in a city."],
        ]
    )
    assert err == ""
    # the header went to its server, and shows nowhere; every server closed again
    assert [(spec, headers) for spec, headers, _ in servers.asked] == [
        ("time", {}),
        ("https://h.example/mcp?key=k-1", {"Authorization": f"Bearer {TOKEN}"}),
    ]
    assert servers.log == [
        "open time",
        "open https://h.example/mcp?key=k-1",
        "close https://h.example/mcp?key=k-1",
        "close time",
    ]
    assert TOKEN not in out and "k-1" not in out


def test_tools_json_gives_each_tools_whole_description_and_input_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    servers = ToolServers({"uvx mcp-server-time": [clock]})
    argv = ["tools", "--json", "--functions", _functions(tmp_path)]

    assert main([*argv, "--mcp", "uvx mcp-server-time"], plugins=[servers]) == 0

    listed = json.loads(capsys.readouterr().out)
    assert [(t["name"], t["source"]) for t in listed] == [
        ("lookup", str(tmp_path / "tools.py")),
        ("undocumented", str(tmp_path / "tools.py")),
        ("chatty", str(tmp_path / "tools.py")),
        ("clock", "mcp:uvx mcp-server-time"),
    ]
    lookup = listed[0]
    assert lookup["description"].startswith("Find places in a city.\n")
    assert "Longer text" in lookup["description"]
    schema = lookup["input_schema"]
    assert schema["type"] == "object" and schema["required"] == ["city"]
    assert schema["properties"]["city"]["type"] == "string"
    assert schema["properties"]["limit"]["type"] == "integer"
    assert listed[3] == {
        "name": "clock",
        "description": "The time in a city.",
        "input_schema": listed[3]["input_schema"],
        "source": "mcp:uvx mcp-server-time",
    }
    assert listed[3]["input_schema"]["properties"]["city"]["type"] == "string"


def test_tools_without_functions_or_mcp_says_what_to_give(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tools"]) == 1
    assert capsys.readouterr() == (
        "",
        "error: no tools asked for (give --functions FILE.py or --mcp SPEC (a URL, a command "
        "line or a name from [mcp.servers]), as for `relaykit prompt`)\n",
    )


def test_tools_mcp_without_a_plugin_is_prompts_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uninstall(monkeypatch)
    assert main(["tools", "--mcp", "https://u:pw@mcp.example.com/mcp?key=k-77aa9"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        "error: --mcp https://mcp.example.com/mcp: no plugin turns it into tools "
        "(pip install relaykit-mcp"
    )
    assert "pw" not in err and "k-77aa9" not in err


def test_tools_mcp_with_relaykit_mcp_disabled_says_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # installed (the workspace installs it) but kept out: "pip install" would not help
    monkeypatch.setenv("RELAYKIT_DISABLE_PLUGINS", "mcp")
    assert main(["tools", "--mcp", "time"]) == 1
    assert capsys.readouterr().err == (
        "error: --mcp time: no plugin turns it into tools (relaykit-mcp, which connects to"
        " MCP servers, is installed but disabled: take 'mcp' out of RELAYKIT_DISABLE_PLUGINS;"
        " `relaykit plugins` lists the plugins loaded)\n"
    )


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--mcp", "time", "--mcp", "also-time"], 1, "--mcp time and --mcp also-time both"),
        (["--functions", "FILE", "--functions", "FILE"], 1, "FILE has two"),
        (["--functions", "missing.py"], 1, "--functions missing.py: there is no such file"),
        (["--mcp-header", f"Authorization=Bearer {TOKEN}"], 2, "give it after the --mcp URL"),
        (["--mcp", "x", "--mcp-header", f"Bearer {TOKEN}"], 2, "expected NAME=VALUE"),
    ],
)
def test_tools_fails_where_and_as_a_prompt_would(
    argv: list[str],
    code: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    servers = ToolServers({"time": [clock], "also-time": [clock]})
    path = _functions(tmp_path)
    argv = [path if a == "FILE" else a for a in argv]

    assert main(["tools", *argv], plugins=[servers]) == code

    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and len(err.splitlines()) == 1
    assert message.replace("FILE", path) in err and TOKEN not in err
    opened = [e for e in servers.log if e.startswith("open")]
    assert len(servers.log) == 2 * len(opened)  # each one that connected closed again
