"""The README's ``relaykit-offline`` commands run as written: offline, exit code 0."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import httpx
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def offline_commands() -> list[list[str]]:
    """The README's ``uv run relaykit-offline ...`` lines, as argv without ``uv run``."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith("uv run relaykit-offline "):
                found.append(shlex.split(line.removeprefix("uv run ")))
    return found


COMMANDS = offline_commands()
SCRIPTS = [argv for argv in COMMANDS if "hypercorn" not in argv]
SERVERS = [argv for argv in COMMANDS if "hypercorn" in argv]


def environment() -> dict[str, str]:
    """This environment's programs first on PATH, as under ``uv run``; warnings are errors."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "PYTHONWARNINGS": "error"}


def forward(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Put each line of ``stream`` on ``lines`` (in a thread: reading blocks)."""
    for line in stream:
        lines.put(line)


def test_the_readme_shows_each_example_offline() -> None:
    assert [argv[-1] for argv in SCRIPTS] == [
        "relaykit_examples.asyncio_batch",
        "relaykit_examples.trio_fanout",
    ]
    assert [argv[1:] for argv in SERVERS] == [
        ["hypercorn", "relaykit_examples.fastapi_app:app"],
        ["hypercorn", "-k", "trio", "relaykit_examples.fastapi_app:app"],
    ]


@pytest.mark.parametrize("argv", SCRIPTS, ids=lambda argv: argv[-1].rpartition(".")[2])
def test_script_runs_offline(argv: list[str]) -> None:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=environment(), check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("relaykit-offline: a mock of OpenAI at http://127.0.0.1:")
    assert "(offline mock) You said: " in done.stdout
    if argv[-1].endswith("asyncio_batch"):
        assert "2 attempt(s)" in done.stdout  # the mock's first answer, a 429, was retried
        assert "5 of 5 answered" in done.stdout


@pytest.mark.parametrize("argv", SERVERS, ids=["asyncio", "trio"])
def test_app_serves_offline(argv: list[str]) -> None:
    # Port 0: the system picks a free one, and hypercorn logs which.
    with subprocess.Popen(
        [*argv, "--bind", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=environment(),
        start_new_session=True,  # a process group of its own, to Ctrl-C as a terminal would
    ) as server:
        assert server.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=forward, args=(server.stderr, lines))
        reader.start()
        try:
            url = None
            while url is None:
                match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", lines.get(timeout=30))
                url = match and match.group(1)
            with httpx.Client(base_url=url, timeout=30) as http:
                answer = http.post("/chat", json={"prompt": "Hello"})
                streamed = http.post("/chat/stream", json={"prompt": "Hello"})
        finally:
            os.killpg(server.pid, signal.SIGINT)
            code = server.wait(timeout=30)
            reader.join()

    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == "(offline mock) You said: Hello"
    assert streamed.status_code == 200
    assert 'data: {"text": "(offline"}' in streamed.text
    assert "event: done" in streamed.text
    assert code == 0
