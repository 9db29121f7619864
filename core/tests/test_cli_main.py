"""The ``relaykit`` entry point: dispatch, plugin commands, and how errors are reported."""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import relaykit
from relaykit.cli import main

MODEL = "openai/gpt-4o-mini"


class CommandsPlugin:
    """A plugin adding commands the way a third-party package would."""

    __name__ = "commands-plugin"

    @relaykit.hookimpl
    def relaykit_commands(self, cli: argparse._SubParsersAction[Any]) -> None:
        greet = cli.add_parser("greet", help="say hello")
        greet.add_argument("name")
        greet.set_defaults(func=self.greet)
        cli.add_parser("loop").set_defaults(func=self.loop)
        cli.add_parser("fail").set_defaults(func=self.fail)
        cli.add_parser("fail-in-group").set_defaults(func=self.fail_in_group)
        cli.add_parser("interrupt").set_defaults(func=self.interrupt)
        cli.add_parser("pipe").set_defaults(func=self.pipe)
        cli.add_parser("crash").set_defaults(func=self.crash)
        own = cli.add_parser("own-c", help="a command whose -c is its own")
        own.add_argument("-c", "--count", type=int, default=0)
        own.set_defaults(func=self.own_c)
        nested = cli.add_parser("nested").add_subparsers()
        nested.add_parser("leaf").set_defaults(func=self.greet, name="leaf")

    def greet(self, args: argparse.Namespace) -> int:
        print(f"hello {args.name} on {args.context.backend}")
        return 3

    async def loop(self, args: argparse.Namespace) -> int:
        await anyio.lowlevel.checkpoint()
        # asyncio.exceptions or trio: proves which loop runs the async handler
        print(anyio.get_cancelled_exc_class().__module__.split(".")[0])
        return 0

    def fail(self, args: argparse.Namespace) -> int:
        raise relaykit.QuotaExceededError("daily budget spent", hint="raise [budgets] daily")

    async def fail_in_group(self, args: argparse.Namespace) -> int:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._fail_later)
        return 0

    async def _fail_later(self) -> None:
        raise relaykit.ProviderUnavailableError("line one\nline two", provider="p")

    def interrupt(self, args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    def pipe(self, args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def crash(self, args: argparse.Namespace) -> int:
        raise ValueError("a bug, not a user error")

    def own_c(self, args: argparse.Namespace) -> int:
        print(f"count {args.count}, config {args.context.config}")
        return 0


def test_relaykit_commands_plugin_command_runs_with_its_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["greet", "Ada"], plugins=[CommandsPlugin()]) == 3
    assert capsys.readouterr().out == "hello Ada on asyncio\n"


@pytest.mark.parametrize(("backend", "library"), [("asyncio", "asyncio"), ("trio", "trio")])
def test_async_plugin_command_runs_on_the_chosen_backend(
    backend: str, library: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--backend", backend, "loop"], plugins=[CommandsPlugin()]) == 0
    assert capsys.readouterr().out == f"{library}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["greet", "Ada", "--backend", "trio", "-c", "x.toml"],
        ["--backend", "asyncio", "greet", "--backend", "trio", "--config=x.toml", "Ada"],
        ["nested", "leaf", "--backend", "trio", "-c", "x.toml"],
    ],
)
def test_plugin_commands_take_the_global_options_after_their_name(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # what users type: relaykit gateway -c prod.toml
    assert main(argv, plugins=[CommandsPlugin()]) == 3
    assert capsys.readouterr().out.endswith("on trio\n")


def test_global_options_after_a_plugin_command_keep_its_own_option_strings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["own-c", "-c", "2", "--config", "x.toml"], plugins=[CommandsPlugin()]) == 0
    assert capsys.readouterr().out == "count 2, config x.toml\n"


def test_a_plugin_commands_help_lists_the_global_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["greet", "--help"], plugins=[CommandsPlugin()]) == 0
    out = capsys.readouterr().out
    for option in ("-c PATH, --config PATH", "--backend", "--verbose", "--log-json"):
        assert option in out


def test_plugin_commands_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], plugins=[CommandsPlugin()]) == 0
    out = capsys.readouterr().out
    assert "greet" in out
    assert "prompt" in out


def test_plugins_lists_a_passed_in_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"], plugins=[CommandsPlugin()]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "commands-plugin" in line)
    assert row.split() == ["commands-plugin", "-", "relaykit_commands"]


def test_relay_error_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fail"], plugins=[CommandsPlugin()]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: daily budget spent (raise [budgets] daily)\n"
    assert captured.out == ""


def test_relay_error_inside_a_task_group_is_one_line_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--backend", "trio", "fail-in-group"], plugins=[CommandsPlugin()]) == 1
    assert capsys.readouterr().err == "error: p: line one line two\n"


def test_ctrl_c_exits_130_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interrupt"], plugins=[CommandsPlugin()]) == 130
    assert capsys.readouterr() == ("", "")


def test_closed_pipe_exits_141_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pipe"], plugins=[CommandsPlugin()]) == 141
    assert capsys.readouterr() == ("", "")


def test_bugs_keep_their_traceback() -> None:
    with pytest.raises(ValueError, match="a bug"):
        main(["crash"], plugins=[CommandsPlugin()])


def test_a_plugin_command_may_not_replace_a_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    class Clash:
        @relaykit.hookimpl
        def relaykit_commands(self, cli: argparse._SubParsersAction[Any]) -> None:
            cli.add_parser("prompt")

    assert main(["plugins"], plugins=[Clash()]) == 1
    assert capsys.readouterr().err.startswith("error: a plugin's command clashes")


@pytest.mark.usefixtures("cli_config")
def test_unknown_provider_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "-m", "nope/x", "Hi"]) == 1

    captured = capsys.readouterr()
    assert captured.err.startswith("error: no plugin provides provider 'nope'")
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_wrong_key_is_one_error_line_without_the_key(
    write_config: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELAYKIT_CONFIG", str(write_config(api_key="sk-wrong-abcdef0123456789")))

    assert main(["prompt", "-m", MODEL, "Hi"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: openai/gpt-4o-mini: HTTP 401: Incorrect API key provided.")
    assert err.count("\n") == 1
    assert "sk-wrong" not in err
    assert "Traceback" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("usage: relaykit")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"relaykit {relaykit.__version__}\n"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "unknown", "meant"),
    [
        (["prompt", "-m", MODEL, "--max", "5", "hi"], "--max", "'--max-steps' or -o max_tokens"),
        (["prompt", "-m", MODEL, "--max=5", "hi"], "--max=5", "'--max-steps' or -o max_tokens"),
        (
            ["prompt", "-m", MODEL, "--tem=1", "hi"],
            "--tem=1",
            "'--template' or -o temperature=VALUE?",
        ),
        (["own-c", "--cou", "2"], "--cou", "'--count'"),  # a plugin's command
        (["greet", "bob", "--log"], "--log", "'--log-json'"),  # a global option after it
        (["nested", "leaf", "--verb"], "--verb", "'--verbose'"),  # a plugin's sub-command
    ],
)
def test_an_abbreviated_option_is_an_error_naming_the_nearest(
    argv: list[str], unknown: str, meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse would take --max for --max-steps; simonw/llm (click) takes no
    # abbreviation, and one that becomes ambiguous when an option is added breaks scripts
    assert main(argv, plugins=[CommandsPlugin()]) == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {unknown}" in err and f"did you mean {meant}" in err, err
    assert len(err.splitlines()) == 1


KEY = "sk-proj-" + "UsageErr" * 5


@pytest.mark.parametrize(
    "argv",
    [
        ["prompt", "-o", KEY, "Hi"],  # -o $OPENAI_API_KEY: meant to pass the key
        ["prompt", "Hi", KEY],  # unrecognized arguments
        ["--backend", KEY, "prompt", "Hi"],  # invalid choice
        ["prompt", "--max-steps", KEY, "Hi"],  # an argparse type's message
        ["logs", "--since", KEY],  # a type's message in the command's own words
    ],
)
def test_a_usage_error_masks_a_key_it_would_echo(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: relaykit") and "[REDACTED]" in err, err
    assert "UsageErr" not in err


def test_a_plugin_command_clash_names_the_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    class Clash:
        @relaykit.hookimpl
        def relaykit_commands(self, cli: argparse._SubParsersAction[Any]) -> None:
            cli.add_parser("prompt")

    assert main(["plugins"], plugins=[Clash()]) == 1
    err = capsys.readouterr().err
    assert "(Clash)" in err and "subparser: prompt" in err and err.count("\n") == 1


def test_a_relaykit_commands_hook_that_raises_is_one_line_naming_the_plugin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Broken:
        @relaykit.hookimpl
        def relaykit_commands(self, cli: argparse._SubParsersAction[Any]) -> None:
            raise RuntimeError("no parser today")

    assert main(["plugins"], plugins=[Broken()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'extra-0 (Broken)': its relaykit_commands raised")
    assert "no parser today" in err and err.count("\n") == 1


def test_a_config_file_with_a_utf8_bom_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Notepad saves UTF-8 with a byte order mark; tomllib calls it an invalid
    statement on line 1, an error whose cause cannot be seen."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user"))
    path = tmp_path / "relaykit.toml"
    path.write_bytes(b"\xef\xbb\xbf[defaults]\nmodel = 'openai/gpt-4o-mini'\n")
    assert main(["-c", str(path), "templates", "list"]) == 0, capsys.readouterr().err


def test_a_config_file_that_never_ends_is_one_error_line(tmp_path: Path) -> None:
    """``-c /dev/zero`` (or a huge file named by mistake) was read whole into memory:
    the process grew until the system killed it. Run under a memory cap, so that
    reading it whole fails here rather than on the machine."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (20 << 20) + b"\n")
    for path in ("/dev/zero", str(big)):
        done = subprocess.run(
            [sys.executable, "-m", "relaykit.cli", "-c", path, "templates", "list"],
            env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "user")},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=cap_memory,
        )
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith(f"error: config file {path} is larger than"), done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
