"""relaykit.testing.require_service and require_program: skip when missing, fail instead in CI."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from relaykit.testing import require_program, require_service, service_reachable


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket closes


def test_a_down_service_skips_outside_ci(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not service_reachable("127.0.0.1", closed_port)
    with pytest.raises(pytest.skip.Exception, match="redis is not reachable"):
        require_service("redis", "127.0.0.1", closed_port, start="redis-server --daemonize yes")


def test_a_down_service_fails_in_ci(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI needs every service"):
        require_service("redis", "127.0.0.1", closed_port)


def test_a_running_service_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        require_service("anything", "127.0.0.1", server.getsockname()[1])


def test_a_missing_program_skips_outside_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match=r"prometheus is not on PATH \(install it"):
        require_program("prometheus", install="apt-get install prometheus")


def test_a_missing_program_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="CI needs every program"):
        require_program("prometheus")


def test_a_program_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = tmp_path / "prometheus"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert require_program("prometheus") == str(program)
