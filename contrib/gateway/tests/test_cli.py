"""``relaykit gateway``: serves until SIGINT, refuses unsafe or broken settings in one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock, Reply
from relaykit_gateway.testing import UPSTREAM_KEY

GATEWAY_KEY = "gw-cli-0123456789abcdefghij"


def one_error_line(err: str, *needles: str) -> None:
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_the_help_lists_every_route(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--help"]) == 0
    # argparse wraps the description: a route may be split over two lines
    text = " ".join(capsys.readouterr().out.split())
    for route in (
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/responses/input_tokens",
        "/v1/embeddings",
        "/v1/audio/transcriptions",
        "/v1/images/generations",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/rerank",
        "/v2/rerank",
        "/v1/models",
    ):
        assert route in text


def test_without_keys_it_listens_on_loopback_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["gateway", "--host", "0.0.0.0", "--port", "0"])
    assert code != 0
    one_error_line(capsys.readouterr().err, "no keys", "0.0.0.0", "RELAYKIT_GATEWAY_KEYS")


def test_a_malformed_or_short_key_is_named_by_position_never_shown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAYKIT_GATEWAY_KEYS", f"alice={GATEWAY_KEY},bob=short-secret")
    code = main(["gateway", "--port", "0"])
    err = capsys.readouterr().err
    assert code != 0
    one_error_line(err, "gateway key 2 of 2", "16 characters")
    assert "short-secret" not in err and GATEWAY_KEY not in err


def test_a_port_in_use_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.chdir(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["gateway", "--port", str(port)])
    assert code != 0
    one_error_line(capsys.readouterr().err, f"127.0.0.1:{port}", "--port")


def test_an_address_not_on_this_machine_names_the_host_not_the_port(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--host 192.0.2.1 (TEST-NET-1, on no interface here): the error said to pick
    another --port, which cannot help."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAYKIT_GATEWAY_KEYS", f"alice={GATEWAY_KEY}")
    code = main(["gateway", "--host", "192.0.2.1", "--port", "0"])
    assert code != 0
    err = capsys.readouterr().err
    one_error_line(err, "192.0.2.1:0", "--host", "this machine")
    assert "--port" not in err


@pytest.fixture
def upstream() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=UPSTREAM_KEY) as mock:
        yield mock


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_it_serves_until_interrupted_then_stops_cleanly(
    upstream: OpenAIMock, tmp_path: Path, backend: str
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[providers.openai]\nbase_url = "{upstream.base_url}"\napi_key = "{UPSTREAM_KEY}"\n'
        f'[storage]\npath = "{tmp_path / "logs.db"}"\n'
    )
    env = {**os.environ, "RELAYKIT_GATEWAY_KEYS": f"ci={GATEWAY_KEY}", "PYTHONUNBUFFERED": "1"}
    upstream.script.push(Reply(text="served through the CLI"))
    argv = [sys.executable, "-m", "relaykit", "--backend", backend, "gateway", "--port", "0"]
    server = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert found, banner
        assert "1 key(s)" in banner
        r = httpx.post(
            f"{found.group(0)}/v1/chat/completions",
            headers={"authorization": f"Bearer {GATEWAY_KEY}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "served through the CLI"
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert "stopping" in out
    assert "Traceback" not in err
    assert GATEWAY_KEY not in out + err
    # a server logs a line per call without -v
    [call_line] = [line for line in err.splitlines() if "completed in" in line]
    assert " info openai/gpt-4o-mini completed in " in call_line and "request_id=" in call_line
    assert call_line.endswith(" gateway_key=ci")  # whose call it was, never the key itself
    # the call was logged (the client drained its queue on the way out), under its key's name
    logged = subprocess.run(
        [sys.executable, "-m", "relaykit", "logs", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    (record,) = [json.loads(line) for line in logged.stdout.splitlines()]
    assert record["text"] == "served through the CLI"
    assert record["params"]["metadata"]["gateway_key"] == "ci"
    assert GATEWAY_KEY not in logged.stdout


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_a_port_out_of_range_is_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["gateway", "--port", port])
    assert code == 2
    one_error_line(capsys.readouterr().err, "--port", repr(port), "0 to 65535")


def _stream_in_thread(url: str, received: list[bytes]) -> threading.Thread:
    """A streamed chat through the gateway at ``url``, read in a thread into ``received``."""

    def read() -> None:
        body = {
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "a long answer"}],
        }
        headers = {"authorization": f"Bearer {GATEWAY_KEY}"}
        try:
            with httpx.stream(
                "POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60
            ) as r:
                for piece in r.iter_bytes():
                    received.append(piece)
        except httpx.HTTPError:
            pass  # cut off: what arrived is in ``received``

    caller = threading.Thread(target=read)
    caller.start()
    return caller


@pytest.mark.parametrize(
    ("backend", "signum"),
    [("asyncio", signal.SIGINT), ("trio", signal.SIGINT), ("asyncio", signal.SIGTERM)],
)
def test_a_second_signal_says_it_stops_at_once(
    upstream: OpenAIMock, tmp_path: Path, backend: str, signum: signal.Signals
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[providers.openai]\nbase_url = "{upstream.base_url}"\napi_key = "{UPSTREAM_KEY}"\n'
        '[storage]\nbackend = "none"\n'
    )
    env = {**os.environ, "RELAYKIT_GATEWAY_KEYS": f"ci={GATEWAY_KEY}", "PYTHONUNBUFFERED": "1"}
    upstream.script.push(Reply(text="12345678" * 100, chunk_delay=0.2))  # 20 s of answer
    argv = [sys.executable, "-m", "relaykit", "--backend", backend, "gateway", "--port", "0"]
    server = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    received: list[bytes] = []
    caller = None
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert found, banner
        caller = _stream_in_thread(found.group(0), received)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received, "the stream never started"
        server.send_signal(signum)
        assert "stopping; calls in flight finish first" in server.stdout.readline()
        started = time.monotonic()
        server.send_signal(signum)  # the stream has 20 s to go
        out, err = server.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if caller is not None:
            caller.join(timeout=30)
    assert took < 3, took  # before: the stream's 20 s, the second signal unheard
    assert server.returncode == 1, err  # as --workers exits when asked again
    [line] = [x for x in err.splitlines() if "relaykit gateway" in x]
    assert line == (
        "relaykit gateway: asked again, stopping at once: calls in flight are cut off,"
        " call log records not yet written are lost"
    )
    assert "Traceback" not in err and GATEWAY_KEY not in out + err
    assert not b"".join(received).rstrip().endswith(b"data: [DONE]")  # cut off


def test_a_blank_host_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--host "$HOST"`` with HOST unset: a blank host listens on every interface."""
    assert main(["gateway", "--host", "", "--port", "0"]) == 2
    one_error_line(capsys.readouterr().err, "argument --host: the value is blank", "127.0.0.1")


@pytest.mark.parametrize("count", ["1025", "99999999999999999999"])
def test_a_worker_count_past_any_machine_is_a_usage_error(
    count: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--workers 99999999999999999999 was taken: with Redis set, that many processes
    would have been started, one after the other, until the machine ran out."""
    assert main(["gateway", "--workers", count, "--port", "0"]) == 2
    one_error_line(capsys.readouterr().err, "--workers", repr(count), "1 to 1024")


@pytest.mark.parametrize("origin", ["", "  "])
def test_a_blank_cors_origin_is_a_usage_error(
    origin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--cors-origin "$ORIGIN"`` with ORIGIN unset was dropped without a word."""
    assert main(["gateway", "--cors-origin", origin, "--port", "0"]) == 2
    one_error_line(capsys.readouterr().err, "argument --cors-origin: the value is blank")
