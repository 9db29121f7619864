"""Tests that need a local service (Redis, PostgreSQL) or program (Prometheus): skip when
it is missing, except in CI.

On a developer's machine a missing service should not turn the suite red, so
those tests skip and say why. In CI (``CI=true``) the services are part of the
contract: a test that cannot reach one fails, so a broken setup never passes
as "all green, 40 skipped"::

    @pytest.fixture
    def redis_url() -> str:
        require_service("redis", "127.0.0.1", 6379, start="redis-server --daemonize yes ...")
        return "redis://127.0.0.1:6379/15"

A program the test starts itself is found on ``PATH`` the same way::

    prometheus = require_program("prometheus", install="apt-get install prometheus")
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import NoReturn

import pytest


def service_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int, *, start: str | None = None) -> None:
    """Skip the calling test when ``name`` is not reachable; fail instead when ``CI=true``."""
    if service_reachable(host, port):
        return
    how = f" (start it with: {start})" if start else ""
    _missing(f"{name} is not reachable at {host}:{port}{how}", "service")


def require_program(name: str, *, install: str | None = None) -> str:
    """The path of the program ``name`` on ``PATH``.

    Skips the calling test when it is not there; fails it instead when ``CI=true``.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    how = f" (install it with: {install})" if install else ""
    _missing(f"{name} is not on PATH{how}", "program")


def _missing(message: str, kind: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI needs every {kind}", pytrace=False)
    pytest.skip(message)
