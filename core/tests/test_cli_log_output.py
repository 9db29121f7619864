"""What the ``relaykit`` command does with log records: stderr, masked, by ``-v``."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
from typing import Any

import pytest

from relaykit import hookimpl
from relaykit.cli import main
from relaykit.cli.log_output import TextFormatter, log_output

MODEL = "openai/gpt-4o-mini"
SECRET = "sk-proj-" + "Abc123XyZ" * 6


def _noisy(args: argparse.Namespace) -> int:
    logging.getLogger("relaykit.something").warning("skipped a thing holding %s", SECRET)
    logging.getLogger("some_library.client").warning("session ended oddly")
    logging.getLogger("relaykit.something").info("a detail")
    logging.getLogger("some_library.client").info("library chatter")
    logging.getLogger("some_library.client").debug("library debug")
    try:
        raise ValueError(f"bad value {SECRET}")
    except ValueError:
        logging.getLogger("relaykit.something").warning("it went wrong", exc_info=True)
    return 0


class _NoisyCommands:
    """A plugin adding ``relaykit noisy`` (which logs) and ``relaykit serve-ish``
    (which logs the same, as a command that serves)."""

    @hookimpl
    def relaykit_commands(self, cli: Any) -> None:
        cli.add_parser("noisy").set_defaults(func=_noisy)
        cli.add_parser("serve-ish").set_defaults(func=_noisy, log_calls=True)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(argv, plugins=[_NoisyCommands()]) == 0
    return capsys.readouterr().err.splitlines()


def test_warnings_are_lines_that_say_whose_they_are_and_mask_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _run(["noisy"], capsys)

    assert err == [
        "warning: skipped a thing holding [REDACTED]",
        "warning: some_library.client: session ended oddly",
        "warning: it went wrong (ValueError: bad value [REDACTED])",
    ]


def test_v_adds_relaykits_info_with_times_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = "\n".join(_run(["-v", "noisy"], capsys))

    assert " info a detail" in err
    assert " warning some_library.client: session ended oddly" in err
    assert "Traceback (most recent call last)" in err
    assert "library chatter" not in err  # another library's INFO waits for -vv
    assert SECRET not in err


def test_vv_shows_every_loggers_debug(capsys: pytest.CaptureFixture[str]) -> None:
    err = "\n".join(_run(["-vv", "noisy"], capsys))

    assert "library chatter" in err and "library debug" in err


def test_a_command_that_serves_logs_info_without_v(capsys: pytest.CaptureFixture[str]) -> None:
    err = "\n".join(_run(["serve-ish"], capsys))

    assert " info a detail" in err
    assert "library chatter" not in err


def test_log_json_writes_one_object_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.loads(line) for line in _run(["--log-json", "noisy"], capsys) if line]

    assert [(r["level"], r["logger"]) for r in lines] == [
        ("WARNING", "relaykit.something"),
        ("WARNING", "some_library.client"),
        ("WARNING", "relaykit.something"),
    ]
    assert SECRET not in json.dumps(lines)
    assert "ValueError" in lines[2]["exception"]


def test_logging_is_left_as_it_was_found(capsys: pytest.CaptureFixture[str]) -> None:
    root, ours = logging.getLogger(), logging.getLogger("relaykit")
    before = (list(root.handlers), root.level, ours.level)

    _run(["-vv", "noisy"], capsys)

    assert (list(root.handlers), root.level, ours.level) == before


def test_a_level_someone_else_lowered_is_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """An application (here: pytest's caplog) that asked for relaykit's INFO keeps
    getting it while the CLI shows only warnings."""
    caplog.set_level(logging.INFO, logger="relaykit")

    with log_output(0):
        logging.getLogger("relaykit.calls").info("a call line")

    assert [r.getMessage() for r in caplog.records] == ["a call line"]
    assert logging.getLogger("relaykit").level == logging.INFO


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_v_prints_a_line_per_call_with_its_tokens(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--backend", backend, "-v", "prompt", "--no-stream", "-m", MODEL, "Hi"]) == 0

    out = capsys.readouterr()
    assert out.out == "echo: Hi\n"
    [line] = [line for line in out.err.splitlines() if "completed in" in line]
    assert f" info {MODEL} completed in " in line
    assert "request_id=" in line and "input_tokens=" in line and "output_tokens=" in line


@pytest.mark.usefixtures("cli_config")
def test_without_v_a_call_prints_nothing_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "--no-stream", "-m", MODEL, "Hi"]) == 0

    assert capsys.readouterr().err == ""


def test_text_lines_of_a_record_without_call_fields_have_none() -> None:
    record = logging.LogRecord("relaykit.x", logging.INFO, __file__, 1, "plain %s", ("text",), None)

    line = TextFormatter(detailed=True).format(record)

    assert line.endswith(" info plain text")


@pytest.mark.parametrize("level", [0, 1])
def test_a_workers_text_lines_start_with_its_number(level: int) -> None:
    """``relaykit gateway --workers N``: the workers share stderr, each line says whose."""
    stream = io.StringIO()
    with log_output(level, stream=stream, worker=2):
        logging.getLogger("relaykit.calls").warning("a call holding %s", SECRET)
    [line] = stream.getvalue().splitlines()
    assert line.startswith("[w2] ")
    assert line.endswith("a call holding [REDACTED]")


def test_a_workers_json_lines_carry_its_number_and_pid() -> None:
    stream = io.StringIO()
    with log_output(1, json_lines=True, stream=stream, worker=3):
        logging.getLogger("relaykit.calls").info("done", extra={"request_id": "r1"})
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["worker"], record["pid"], record["request_id"]) == (3, os.getpid(), "r1")


def test_one_process_lines_have_no_worker() -> None:
    text, lines = io.StringIO(), io.StringIO()
    with log_output(1, stream=text), log_output(1, json_lines=True, stream=lines):
        logging.getLogger("relaykit.calls").info("done")
    assert not text.getvalue().startswith("[w")
    assert not {"worker", "pid"} & set(json.loads(lines.getvalue()))
