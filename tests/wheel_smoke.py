"""Smoke check of one distribution installed from its wheel, outside the workspace.

``nox -s wheels`` runs ``python tests/wheel_smoke.py NAME`` in a fresh virtualenv
holding only ``relaykit``, the distribution ``relaykit-NAME`` and what their
metadata pulls in (plus the few partners a check needs, e.g. a provider behind the
gateway). It imports the package, checks that ``relaykit plugins`` finds its entry
point with hooks, and makes one real call against the matching loopback mock, so a
missing dependency, entry point or package file fails here instead of on a user's
machine. Offline except for the local PostgreSQL and Redis (skipped, unless
``CI=true``, when they are down). Not collected by pytest: it must run without it.
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

import relaykit

#: distributions that are libraries, not plugins: no entry point to find
NOT_PLUGINS = {"google-auth", "claude-models", "examples"}
#: the entry point's name where it is not the distribution's
ENTRY_POINT = {"google-auth": None, "claude-models": None, "examples": None}
#: the call log off and one attempt: the checks look at one call only
QUIET: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}


class Skip(Exception):
    """A check that needs a local service that is not running."""


def check(condition: object, what: str) -> None:
    """Fail the smoke run with ``what`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(what)


def relaykit_cli(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the installed ``relaykit`` script (this venv's), returning its stdout."""
    script = Path(sys.executable).with_name("relaykit")
    done = subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    check(done.returncode == 0, f"relaykit {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def write_file(directory: str, text: str) -> str:
    """``text`` as ``relaykit.toml`` in ``directory``; its path."""
    path = Path(directory, "relaykit.toml")
    path.write_text(text)
    return str(path)


def reachable(port: int) -> None:
    """Raise :class:`Skip` when nothing listens on 127.0.0.1:``port`` (fail under CI)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"nothing listens on 127.0.0.1:{port} (CI=true)") from None
        raise Skip(f"nothing listens on 127.0.0.1:{port}") from None


async def fake_call(config: dict[str, Any], prompt: str = "hello there") -> Any:
    """One chat through :class:`relaykit.testing.FakePlugin`; returns (response, plugin)."""
    from relaykit.testing import FakePlugin

    fake = FakePlugin()
    async with relaykit.Client(config, plugins=[fake]) as client:
        response = await client.chat("fake/model", prompt)
    return response, fake


async def provider_call(mock: Any, provider: str, model: str, **settings: Any) -> None:
    """One chat through ``provider`` against the running ``mock``; checks its echo."""
    conf = {"base_url": mock.base_url, "api_key": mock.api_key, **settings}
    config = {**QUIET, "providers": {provider: {k: v for k, v in conf.items() if v is not None}}}
    async with relaykit.Client(config) as client:
        response = await client.chat(f"{provider}/{model}", "ping")
    check("ping" in response.text, f"{provider}: unexpected answer {response.text!r}")
    check(mock.requests, f"{provider}: the mock saw no request")


# -- one check per distribution -------------------------------------------------------


async def openai() -> None:
    from relaykit.testing import OpenAIMock

    with OpenAIMock(api_key="sk-smoke-0123456789abcdef0123") as mock:
        await provider_call(mock, "openai", "gpt-4o-mini")


async def anthropic() -> None:
    from relaykit_anthropic.testing import AnthropicMock

    with AnthropicMock(api_key="sk-ant-smoke-0123456789abcdef0123") as mock:
        await provider_call(mock, "anthropic", "claude-haiku-4-5")


async def gemini() -> None:
    from relaykit_gemini.testing import GeminiMock

    with GeminiMock(api_key="AIzaSyA-smoke-key-0123456789abcdefghijk") as mock:
        await provider_call(mock, "gemini", "gemini-2.5-flash")


async def ollama() -> None:
    from relaykit_ollama.testing import OllamaMock

    with OllamaMock() as mock:
        await provider_call(mock, "ollama", "llama3.2")


async def bedrock() -> None:
    from relaykit_bedrock.testing import ACCESS_KEY, REGION, SECRET_KEY, BedrockMock

    os.environ.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    with BedrockMock() as mock:
        mock.api_key = None
        model = "anthropic.claude-3-haiku-20240307-v1:0"
        await provider_call(mock, "bedrock", model, control_plane_url=mock.base_url)


async def cohere() -> None:
    from relaykit_cohere.testing import CohereMock, client_for

    with CohereMock(api_key="co-smoke-0123456789abcdef") as mock:
        async with client_for(mock) as client:
            response = await client.chat("cohere/command-a-03-2025", "ping")
    check("ping" in response.text, f"cohere: unexpected answer {response.text!r}")


async def sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "logs.db")
        await fake_call({"storage": {"backend": "sqlite", "path": str(path)}})
        config = write_file(tmp, f'[storage]\nbackend = "sqlite"\npath = {json.dumps(str(path))}\n')
        out = relaykit_cli("logs", "--json", "-c", config)
    check("fake/model" in out, f"sqlite: no logged call in {out!r}")


async def postgres() -> None:
    reachable(5432)
    dsn = os.environ.get("RELAYKIT_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    marker = f"smoke-{os.getpid()}-{time.time_ns()}"
    await fake_call({"storage": {"backend": "postgres", "dsn": dsn}}, prompt=marker)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_file(tmp, f'[storage]\nbackend = "postgres"\ndsn = {json.dumps(dsn)}\n')
        out = relaykit_cli("logs", "--json", "-q", marker, "-c", path)
    check(marker in out, f"postgres: the call was not logged: {out!r}")


async def redis() -> None:
    reachable(6379)
    config = {
        **QUIET,
        "limiter": {"backend": "redis", "prefix": f"smoke{os.getpid()}"},
        "limits": {"fake/*": {"rpm": 1}},
    }
    from relaykit.testing import FakePlugin

    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/model", "one")
        try:
            await client.chat("fake/model", "two", timeout=0.5)
        except relaykit.RelayError:
            return
    raise AssertionError("redis: the second call got past a 1 rpm limit")


async def pii() -> None:
    config = {**QUIET, "redactors": {"pii": {"enabled": True, "outbound": True}}}
    _, fake = await fake_call(config, prompt="mail me at jane.doe@example.com")
    sent = repr(fake.calls[-1].messages)
    check("jane.doe@example.com" not in sent, f"pii: the address reached the provider: {sent}")


async def prometheus() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await_scrape: dict[str, Any] = {**QUIET, "exporters": {"prometheus": {"port": port}}}
    from relaykit.testing import FakePlugin

    async with relaykit.Client(await_scrape, plugins=[FakePlugin()]) as client:
        await client.chat("fake/model", "ping")
        url = f"http://127.0.0.1:{port}/metrics"
        body = await anyio.to_thread.run_sync(lambda: urllib.request.urlopen(url).read())
    check(b"relaykit" in body, f"prometheus: no relaykit metric at {url}")


async def statsd() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        await fake_call({**QUIET, "exporters": {"statsd": {"port": port}}})
        packet = sock.recv(65536)
    check(packet.startswith(b"relaykit."), f"statsd: unexpected packet {packet!r}")


async def otlp() -> None:
    from relaykit_otlp.testing import Collector

    with Collector() as collector:
        await fake_call({**QUIET, "exporters": {"otlp": {"endpoint": collector.url}}})
    check(collector.traces or collector.metrics, "otlp: the collector got nothing")


async def aiohttp() -> None:
    # Under asyncio the plugin is the providers' HTTP client; relaykit-openai is
    # installed next to it to have a provider that makes HTTP calls.
    await openai()


async def gateway() -> None:
    import httpx

    from relaykit.testing import OpenAIMock
    from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running_over

    check("gateway" in relaykit_cli("gateway", "--help"), "gateway: no `relaykit gateway`")
    with OpenAIMock(api_key=UPSTREAM_KEY) as mock:
        async with running_over(openai=mock.base_url) as url, httpx.AsyncClient() as http:
            answer = await http.post(
                f"{url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {KEY}"},
                json={
                    "model": "openai/gpt-4o-mini",
                    "messages": [{"role": "user", "content": "ping"}],
                },
            )
    check(answer.status_code == 200, f"gateway: {answer.status_code} {answer.text}")
    check("ping" in answer.json()["choices"][0]["message"]["content"], f"gateway: {answer.text}")


async def mcp() -> None:
    from relaykit_mcp import testing

    command, args = testing.stdio_command()
    out = relaykit_cli("tools", "--mcp", shlex.join([command, *args]))
    check("mcp:" in out, f"mcp: `relaykit tools --mcp` listed no MCP tool: {out!r}")


async def google_auth() -> None:
    from relaykit_google_auth import mock_metadata

    check(hasattr(mock_metadata, "no_server_host"), "google-auth: no mock_metadata helpers")


async def claude_models() -> None:
    from relaykit_claude_models import refuses_prefill, thinking_style

    check(thinking_style("claude-opus-4-7") == "adaptive", "claude-models: Opus 4.7 not adaptive")
    check(refuses_prefill("claude-opus-4-6") == "Claude Opus 4.6", "claude-models: prefill")


async def examples() -> None:
    await anyio.to_thread.run_sync(run_offline_example)


def run_offline_example() -> None:
    """relaykit-examples' trio app under its ``relaykit-offline`` mock."""
    script = Path(sys.executable).with_name("relaykit-offline")
    done = subprocess.run(
        [str(script), sys.executable, "-m", "relaykit_examples.trio_fanout"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    check(done.returncode == 0, f"examples: trio_fanout failed:\n{done.stdout}\n{done.stderr}")


CHECKS: dict[str, Callable[[], Awaitable[None]]] = {
    "openai": openai,
    "anthropic": anthropic,
    "gemini": gemini,
    "ollama": ollama,
    "bedrock": bedrock,
    "cohere": cohere,
    "sqlite": sqlite,
    "postgres": postgres,
    "redis": redis,
    "pii": pii,
    "prometheus": prometheus,
    "statsd": statsd,
    "otlp": otlp,
    "aiohttp": aiohttp,
    "gateway": gateway,
    "mcp": mcp,
    "google-auth": google_auth,
    "claude-models": claude_models,
    "examples": examples,
}


def main(name: str) -> int:
    """Check ``relaykit-NAME``; exit status 0 when it works (or its service is down)."""
    package = "relaykit_" + name.replace("-", "_")
    module = importlib.import_module(package)
    check(Path(module.__file__ or "").with_name("py.typed").exists(), f"{package}: no py.typed")
    if name not in NOT_PLUGINS:
        listed = relaykit_cli("plugins").splitlines()
        row = next((line.split() for line in listed if line.split()[:1] == [name]), None)
        check(row and row[-1].startswith("relaykit_"), f"`relaykit plugins` misses {name}")
    try:
        anyio.run(CHECKS[name], backend="asyncio")
    except Skip as why:
        print(f"relaykit-{name}: SKIPPED ({why})")
        return 0
    print(f"relaykit-{name}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
