"""One real MCP server over streamable HTTP on loopback for the module's tests, and
the command line that starts one over stdio."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from relaykit_mcp.testing import http_command

#: the bearer token the HTTP server wants (the tests' own copy: conftest is not importable)
TOKEN = "mcp-test-token-5b7f0c2d9e"


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The URL of relaykit_mcp.testing's server over HTTP (bearer TOKEN), one per module.

    The test makes the listening socket and the server inherits it: requests wait
    in its backlog until the server accepts them, so there is no port to race for
    and nothing to poll."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    fd, port = listener.fileno(), listener.getsockname()[1]
    server = subprocess.Popen(
        http_command(fd, TOKEN),
        pass_fds=[fd],
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(timeout=10)
