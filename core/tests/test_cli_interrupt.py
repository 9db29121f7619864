"""Ctrl-C in the middle of a call, sent to a real ``relaykit`` process: exit 130
without a word, and the call is still in the call log, on either event loop.

asyncio delivers Ctrl-C as a cancellation of the main task; trio raises
KeyboardInterrupt at a checkpoint. A call cut off either way is recorded cancelled.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock, Reply

MODEL = "openai/gpt-4o-mini"


@pytest.mark.usefixtures("logged_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("stream", [True, False])
def test_ctrl_c_before_the_answer_exits_130_quietly_and_logs_the_call(
    backend: str, stream: bool, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_mock.script.push(Reply(text="too late", delay=30))
    argv = ["--backend", backend, "prompt", "-m", MODEL, "Hi"]
    if not stream:
        argv.append("--no-stream")
    process = subprocess.Popen(
        [sys.executable, "-m", "relaykit.cli", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # a safety net only: a fresh process imports relaykit and its HTTP stack
        # first, which on a CI machine loaded past its cores once took over 30 s
        deadline = time.monotonic() + 120
        while not openai_mock.requests:  # the call is under way: press Ctrl-C
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the request never came"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert (process.returncode, out, err) == (130, "", "")
    assert main(["logs", "--json"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["error_type"] == "Cancelled"
    assert '"Hi"' in json.dumps(record)  # the prompt is kept
