"""``relaykit gateway --workers N``: N processes on one port, drained on SIGTERM, and
settings whose per-process state would answer wrongly refused in one line.

The served tests need Redis (kept responses are shared through it): skipped when it
is not running, failed under CI=true. Which worker answered a connection is read
from /proc (the worker holding the server side of it), so the gateway's answers
carry nothing for the test.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock, Reply, require_service
from relaykit_gateway.testing import UPSTREAM_KEY

GATEWAY_KEY = "gw-workers-0123456789abcdef"
REDIS = "redis://127.0.0.1:6379/15"  # a database of its own, as relaykit-redis's tests use
START = "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
BANNER = re.compile(r"http://127\.0\.0\.1:(\d+) .*2 workers \(pids (\d+), (\d+)\)")


def one_error_line(err: str, *needles: str) -> None:
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        # the default cache: kept conversations in each worker's memory
        ("", ("--workers 2", "404", '[cache] backend = "redis"')),
        ('[cache]\nbackend = "memory"\n', ("'memory'", '[cache] backend = "redis"')),
        # limits counted by each worker alone
        (
            '[cache]\nbackend = "redis"\n[limits."gateway_key=*"]\nbudget_usd = 10\n',
            ("2 times", '[limiter] backend = "redis"'),
        ),
        # one metrics port for two workers
        (
            '[cache]\nbackend = "redis"\n[exporters.prometheus]\nport = 9464\n',
            ("port 9464", "relaykit-otlp"),
        ),
    ],
)
def test_per_process_state_is_refused_in_one_line(
    config: str,
    needles: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAYKIT_GATEWAY_KEYS", f"ci={GATEWAY_KEY}")
    path = write_config(tmp_path / "relaykit.toml", config)
    code = main(["--config", str(path), "gateway", "--workers", "2", "--port", "0"])
    assert code == 1
    one_error_line(capsys.readouterr().err, *needles)


def test_without_keys_kept_responses_need_the_master_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELAYKIT_GATEWAY_KEYS", raising=False)
    monkeypatch.delenv("RELAYKIT_MASTER_KEY", raising=False)
    path = write_config(tmp_path / "relaykit.toml", '[cache]\nbackend = "redis"\n')
    code = main(["--config", str(path), "gateway", "--workers", "3", "--port", "0"])
    assert code == 1
    one_error_line(capsys.readouterr().err, "no gateway keys", "RELAYKIT_MASTER_KEY")


def test_a_worker_count_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--workers", "0"]) == 2
    one_error_line(capsys.readouterr().err, "--workers", ">= 1")


@pytest.fixture
def upstream() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=UPSTREAM_KEY) as mock:
        yield mock


def serving_pid(port: int, client_port: int, pids: tuple[int, ...]) -> int | None:
    """The worker holding the server side of the connection from ``client_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == port and (
                int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue  # closed meanwhile
    return None


def chat(port: int, text: str, pids: tuple[int, ...] = ()) -> tuple[int, Any, int | None]:
    """POST a chat on a new connection: the status, the body, and (given the workers'
    ``pids``) the worker that answered, found while the connection is still open."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=json.dumps(body),
            headers={"authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        answer = json.loads(response.read())
        assert conn.sock is not None
        pid = serving_pid(port, conn.sock.getsockname()[1], pids) if pids else None
        return response.status, answer, pid
    finally:
        conn.close()


@contextmanager
def gateway(upstream: OpenAIMock, tmp_path: Path, backend: str) -> Iterator[Served]:
    """``relaykit gateway --workers 2 --port 0`` over ``upstream``, started and read up to
    its banner; killed on the way out if it is still running."""
    require_service("redis", "127.0.0.1", 6379, start=START)
    config = write_config(
        tmp_path / "relaykit.toml",
        f'[providers.openai]\nbase_url = "{upstream.base_url}"\napi_key = "{UPSTREAM_KEY}"\n'
        '[storage]\nbackend = "none"\n'
        f'[cache]\nbackend = "redis"\nurl = "{REDIS}"\nprefix = "test-{uuid.uuid4().hex[:12]}"\n',
    )
    env = {
        **os.environ,
        "RELAYKIT_GATEWAY_KEYS": f"ci={GATEWAY_KEY}",
        "PYTHONUNBUFFERED": "1",
        # the plugins this needs: each worker starts sooner
        "RELAYKIT_PLUGINS": "openai,redis,gateway",
    }
    argv = [sys.executable, "-m", "relaykit", "--backend", backend, "--config", str(config)]
    argv += ["gateway", "--workers", "2", "--port", "0"]
    server = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        found = BANNER.search(banner)
        assert found, banner + (server.stderr.read() if server.stderr else "")
        pids = (int(found.group(2)), int(found.group(3)))
        assert server.pid not in pids and len(set(pids)) == 2
        yield Served(server, int(found.group(1)), pids)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@attrs.frozen
class Served:
    process: subprocess.Popen[str]
    port: int
    pids: tuple[int, int]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_two_workers_share_the_port_then_drain_on_sigterm(
    upstream: OpenAIMock, tmp_path: Path
) -> None:
    with gateway(upstream, tmp_path, "asyncio") as served:
        server, port, pids = served.process, served.port, served.pids
        # each new connection goes to whichever worker accepts it first
        answered: set[int] = set()
        for n in range(100):
            status, answer, pid = chat(port, f"hello {n}", pids)
            assert status == 200, answer
            assert pid is not None
            answered.add(pid)
            if answered == set(pids):
                break
        assert answered == set(pids)

        # SIGTERM to the parent while a call is in flight: it is answered, then all stop
        upstream.script.push(Reply(text="finished while draining", delay=0.4))
        seen = len(upstream.requests)
        result: list[tuple[int, Any, int | None]] = []
        caller = threading.Thread(target=lambda: result.append(chat(port, "slow")))
        caller.start()
        deadline = time.monotonic() + 10
        while len(upstream.requests) == seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(upstream.requests) > seen
        server.send_signal(signal.SIGTERM)
        caller.join(timeout=30)
        out, err = server.communicate(timeout=30)
    [(status, answer, _)] = result
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "finished while draining"
    assert server.returncode == 0, err
    assert "stopping" in out
    assert "Traceback" not in err
    assert GATEWAY_KEY not in out + err
    # both workers answered, and each call line says which one wrote it
    calls = [line for line in err.splitlines() if "completed in" in line]
    assert calls and {line[:5] for line in calls} == {"[w1] ", "[w2] "}
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()  # the parent reaped them


def test_a_worker_that_dies_stops_the_gateway_non_zero(
    upstream: OpenAIMock, tmp_path: Path
) -> None:
    # under trio: the other backend's workers serve, and drain on SIGTERM, too
    with gateway(upstream, tmp_path, "trio") as served:
        status, answer, _ = chat(served.port, "hello")
        assert status == 200, answer
        dead, other = served.pids
        os.kill(dead, signal.SIGKILL)
        _, err = served.process.communicate(timeout=30)
    assert served.process.returncode == 1
    assert f"worker 1 (pid {dead}) was killed by SIGKILL; stopping the others" in err
    assert "killing worker" not in err  # the other one stopped when told to
    assert "Traceback" not in err
    assert not Path(f"/proc/{other}").exists()
