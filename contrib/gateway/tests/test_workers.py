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
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import socket
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
from relaykit_gateway import workers
from relaykit_gateway.testing import UPSTREAM_KEY
from relaykit_gateway.workers import WorkerPlan, _stop, _Worker

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
    one_error_line(capsys.readouterr().err, "--workers", "from 1 to 1024")


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
def gateway(upstream: OpenAIMock, tmp_path: Path, backend: str, *options: str) -> Iterator[Served]:
    """``relaykit gateway --workers 2 --port 0`` (and ``options``) over ``upstream``,
    started in a process group of its own (as a terminal runs a command) and read up
    to its banner; the group is killed on the way out if the gateway still runs."""
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
    argv += ["gateway", "--workers", "2", "--port", "0", *options]
    server = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
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
            os.killpg(server.pid, signal.SIGKILL)
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


def stream(port: int, chunks: int, received: list[bytes]) -> None:
    """POST a streamed chat whose answer ``upstream`` sends in ``chunks`` pieces; each
    piece of the response body goes to ``received`` as it arrives."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = {
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": f"{chunks} chunks"}],
        }
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=json.dumps(body),
            headers={"authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200
        while piece := response.read1():
            received.append(piece)
    except (OSError, http.client.HTTPException):
        pass  # cut off: what arrived is in ``received``
    finally:
        conn.close()


@contextmanager
def streaming(upstream: OpenAIMock, port: int, chunks: int, delay: float) -> Iterator[list[bytes]]:
    """A streamed call, in a thread, whose answer takes ``chunks * delay`` seconds; entered
    once ``upstream`` is sending it (the call is in flight). Yields what it receives,
    complete once the block ends (it waits for the call to end)."""
    upstream.script.push(Reply(text="12345678" * chunks, chunk_delay=delay))
    seen = len(upstream.requests)
    received: list[bytes] = []
    caller = threading.Thread(target=stream, args=(port, chunks, received))
    caller.start()
    try:
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received and len(upstream.requests) > seen, "the stream never started"
        yield received
    finally:
        caller.join(timeout=30)


def idle_connection(port: int) -> socket.socket:
    """A keep-alive connection that has had one answer and sends nothing more."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/health")
    response = conn.getresponse()
    response.read()
    assert conn.sock is not None and not response.will_close
    return conn.sock


def stopped_within(server: subprocess.Popen[str], seconds: float) -> tuple[float, str, str]:
    """How long ``server`` took to exit (at most ``seconds``, or the test fails), and
    its stdout and stderr."""
    start = time.monotonic()
    try:
        out, err = server.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the gateway did not stop within {seconds} s")
    return time.monotonic() - start, out, err


def test_ctrl_c_stops_past_an_idle_connection_once_a_stream_in_flight_ends(
    upstream: OpenAIMock, tmp_path: Path
) -> None:
    # an idle connection the workers waited on would hold them for the whole grace period (30 s)
    with gateway(upstream, tmp_path, "asyncio") as served:
        idle = idle_connection(served.port)
        with streaming(upstream, served.port, chunks=10, delay=0.1) as received:
            # a terminal's Ctrl-C: SIGINT to every process of the group, workers too
            os.killpg(served.process.pid, signal.SIGINT)
            took, out, err = stopped_within(served.process, 10)
        idle.settimeout(5)
        closed = idle.recv(1) == b""
        idle.close()
    assert served.process.returncode == 0, err
    assert took < 5, took  # the stream's last second, then the workers exit
    body = b"".join(received).decode()
    assert (
        "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in body.splitlines()
            if line.startswith("data: {")
        )
        == "12345678" * 10
    )
    assert body.rstrip().endswith("data: [DONE]")
    assert closed  # the server closed the idle connection rather than wait on it
    assert "stopping" in out
    assert "Traceback" not in err and "killing" not in err
    for pid in served.pids:
        assert not Path(f"/proc/{pid}").exists()


def test_a_second_signal_stops_at_once(upstream: OpenAIMock, tmp_path: Path) -> None:
    with (
        gateway(upstream, tmp_path, "trio") as served,
        streaming(upstream, served.port, chunks=100, delay=0.2) as received,
    ):
        server = served.process
        server.send_signal(signal.SIGINT)
        assert server.stdout is not None
        assert "stopping" in server.stdout.readline()
        server.send_signal(signal.SIGINT)  # the stream has 20 s to go
        took, _, err = stopped_within(server, 10)
    assert took < 3, took
    assert server.returncode == 1
    assert "killing worker" in err and "(asked again)" in err
    assert "Traceback" not in err
    assert not b"".join(received).rstrip().endswith(b"data: [DONE]")  # cut off
    for pid in served.pids:
        assert not Path(f"/proc/{pid}").exists()


def test_calls_in_flight_are_cut_off_after_the_graceful_timeout(
    upstream: OpenAIMock, tmp_path: Path
) -> None:
    with (
        gateway(upstream, tmp_path, "trio", "--graceful-timeout", "0.5") as served,
        streaming(upstream, served.port, chunks=100, delay=0.2) as received,
    ):
        served.process.send_signal(signal.SIGTERM)
        took, _, err = stopped_within(served.process, 10)
    assert took < 4, took  # 0.5 s, then the call log and the workers' exit
    assert served.process.returncode == 0, err  # the workers stopped when told
    assert "Traceback" not in err and "killing" not in err
    assert not b"".join(received).rstrip().endswith(b"data: [DONE]")


class ExitingNow:
    """A worker's process in the moment between exiting (its descriptors closed, so its
    sentinel reads as closed) and being reapable: asked whether it runs, it says yes
    ``answers`` more times, then (or once joined) tells the truth."""

    def __init__(self, process: Any, answers: int) -> None:
        self._process = process
        self._answers = answers

    def _running(self) -> bool:
        self._answers -= 1
        return self._answers >= 0 or self._process.is_alive()

    def is_alive(self) -> bool:
        return self._running()

    @property
    def exitcode(self) -> int | None:
        return None if self._running() else self._process.exitcode

    def join(self, timeout: float | None = None) -> None:
        self._process.join(timeout)
        self._answers = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._process, name)


def stop_within(seconds: float, process: Any, received: list[int]) -> int | None:
    """The supervisor's stop of one worker running as ``process``, after ``received``
    signals: its exit code, or ``None`` if it still waits after ``seconds``."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe(duplex=False)
    wake, other_end = socket.socketpair()
    wake.setblocking(False)
    plan = WorkerPlan(
        None, "asyncio", "127.0.0.1", None, 20, False, graceful_timeout=30, close_timeout=15
    )
    code: list[int] = []
    stopper = threading.Thread(
        target=lambda: code.append(_stop([_Worker(1, process, ours)], received, wake, plan, None)),
        daemon=True,
    )
    stopper.start()
    stopper.join(timeout=seconds)
    if not stopper.is_alive():  # else it still waits on them: left to the collector
        for end in (ours, theirs, wake, other_end):
            end.close()
    return code[0] if code else None


@pytest.mark.parametrize("answers", [1, 2, 3])
def test_stopping_waits_on_no_worker_that_has_exited(answers: int) -> None:
    # The race behind a Ctrl-C that took 45 s: a worker seen running, then reaped by
    # the next question, was left out of what the parent waited on.
    process = multiprocessing.get_context("spawn").Process(target=sys.exit, args=(0,))
    process.start()
    assert multiprocessing.connection.wait([process.sentinel], timeout=30)
    assert stop_within(5, ExitingNow(process, answers), []) == 0


IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_two_signals_before_the_stop_begins_stop_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a worker that would not stop when told: the parent must kill it
    process = multiprocessing.get_context("spawn").Process(
        target=os.execv, args=(sys.executable, [sys.executable, "-c", IGNORES_SIGTERM])
    )
    process.start()
    status = Path(f"/proc/{process.pid}/status")
    deadline = time.monotonic() + 30
    while not int(re.findall(r"SigIgn:\s*(\w+)", status.read_text())[0], 16) & (
        1 << (signal.SIGTERM - 1)
    ):
        assert time.monotonic() < deadline, "the worker never ignored SIGTERM"
        time.sleep(0.01)
    try:
        # a double Ctrl-C, both seen before the stop began
        assert stop_within(5, process, [signal.SIGINT, signal.SIGINT]) == 1
    finally:
        process.kill()
        process.join()
    assert "killing worker 1 (asked again)" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_graceful_timeout_that_is_no_duration_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gateway", "--graceful-timeout", value]) == 2
    one_error_line(capsys.readouterr().err, "--graceful-timeout", ">= 0", repr(value))


class StartsNothing:
    """A worker process that starts (and has exited at once), or fails to start."""

    def __init__(self, fails: bool) -> None:
        self.fails = fails
        self.pid = None
        self.exitcode = 0

    def start(self) -> None:
        if self.fails:
            raise OSError(24, "Too many open files")

    def is_alive(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def test_a_worker_failing_to_start_leaves_no_pipe_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second worker's start raises (out of processes, of descriptors): every pipe
    made so far is closed, its own two ends included, and so is the listening socket."""
    spawn = multiprocessing.get_context("spawn")
    pipes: list[multiprocessing.connection.Connection] = []

    class Context:
        def Pipe(self, duplex: bool) -> tuple[Any, Any]:
            ends = spawn.Pipe(duplex=duplex)
            pipes.extend(ends)
            return ends

        def Process(self, name: str, **kwargs: Any) -> StartsNothing:
            return StartsNothing(fails=name.endswith("-2"))

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: Context())
    sock = socket.create_server(("127.0.0.1", 0))
    plan = WorkerPlan(
        None, "asyncio", "127.0.0.1", None, 0, False, graceful_timeout=1, close_timeout=1
    )
    with pytest.raises(OSError, match="Too many open files"):
        workers.supervise(plan, sock, 3, "{url} {workers}")
    assert len(pipes) == 4  # two workers' (the third was never tried)
    assert [end.closed for end in pipes] == [True] * 4
    assert sock.fileno() == -1
