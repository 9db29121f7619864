"""Credentials in a provider's ``base_url`` (``user:password@``, ``?key=``) and in a
proxy's URL are configured secrets: a vendor that quotes one back in its error gets
it masked in the error, the stored record, the span and the log line, whatever its
shape."""

from __future__ import annotations

import base64
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.log_format import JsonFormatter
from relaykit.testing import FakePlugin, OpenAIMock, RecordingExporter, TracingExporter
from relaykit.testing.loopback import Request, Response

pytestmark = pytest.mark.anyio

#: secrets of no shape the built-in redactor knows
QUERY_KEY = "qk-5Rt8Yu2Io4Pa7Sd"
PASSWORD = "upw-Hq8Zt3Lm9Xc"


async def _quote_credentials(request: Request, _: Response) -> Response:
    # A server that names what it was sent: the query's values and basic credentials
    said = list(request.query.values())
    scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        said.append(base64.b64decode(token).decode())
    message = f"not accepted: {' '.join(said)}"
    return Response.json({"error": {"message": message, "type": "invalid_request_error"}}, 401)


def _everywhere(db: Path, tracing: TracingExporter, caplog: pytest.LogCaptureFixture) -> str:
    with closing(sqlite3.connect(db)) as conn:
        stored = "\n".join(conn.iterdump())
    spans = [(s.name, dict(s.attributes or {}), s.status.description) for s in tracing.finished()]
    formatter = JsonFormatter()
    logged = [formatter.format(r) for r in caplog.records]
    return "\n".join([stored, repr(spans), *logged])


@pytest.mark.parametrize(
    ("provider", "secret"),
    [
        ({"api_key": "sk-test-0123456789abcdef0123", "url": "{base}?key={secret}"}, QUERY_KEY),
        ({"type": "vllm", "url": "{scheme}bob:{secret}@{rest}"}, PASSWORD),
    ],
    ids=["query-key", "userinfo-password"],
)
async def test_a_base_url_credential_quoted_back_is_masked_everywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, provider: dict[str, str], secret: str
) -> None:
    caplog.set_level(logging.INFO, logger="relaykit")
    db = tmp_path / "calls.db"
    tracing = TracingExporter()
    with OpenAIMock() as mock:
        mock.rewrite = _quote_credentials
        scheme, rest = mock.base_url.split("//", 1)
        url = provider["url"].format(
            base=mock.base_url, secret=secret, scheme=scheme + "//", rest=rest
        )
        settings: dict[str, Any] = {"base_url": url, "type": provider.get("type", "openai")}
        if "api_key" in provider:
            settings["api_key"] = provider["api_key"]
        config = {
            "storage": {"backend": "sqlite", "path": str(db)},
            "retry": {"attempts": 1},
            "providers": {"p": settings},
        }
        async with relaykit.Client(config, plugins=[tracing]) as client:
            with pytest.raises(relaykit.AuthenticationError) as caught:
                await client.chat("p/m", "hi")
    assert mock.requests, "the request reached the mock"
    assert "not accepted" in str(caught.value)
    error = f"{caught.value} {caught.value!r} {vars(caught.value)}"
    assert secret not in error
    assert secret not in _everywhere(db, tracing, caplog)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_proxy_password_quoted_back_is_masked(variable: str) -> None:
    """A proxy's URL in the environment (``http://user:password@proxy:3128``) is
    configuration too: its password, quoted back alone, is masked."""

    async def quote(request: Request, _: Response) -> Response:
        body = {"error": {"message": f"proxy said: bob {PASSWORD}", "type": "server_error"}}
        return Response.json(body, 401)

    with OpenAIMock() as mock:
        mock.rewrite = quote
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {
                "p": {
                    "type": "openai",
                    "base_url": mock.base_url,
                    "api_key": "sk-test-0123456789ab",
                }
            },
        }
        # given to the client only: the HTTP clients read os.environ, so the call
        # goes straight to the mock, which quotes the password as a proxy might
        env = {variable: f"http://bob:{PASSWORD}@127.0.0.1:3128"}
        async with relaykit.Client(config, env=env) as client:
            with pytest.raises(relaykit.AuthenticationError) as caught:
                await client.chat("p/m", "hi")
    assert "proxy said: bob [REDACTED]" in str(caught.value)


async def test_an_exporters_header_value_is_a_known_secret() -> None:
    """``[exporters.NAME] headers`` carry a collector's key: pasted into a prompt, it is
    masked in the record as a provider's key is, whatever its shape."""
    token = "hcKeyPlainValue0123456789"
    fake, records = FakePlugin(), RecordingExporter()
    config = {
        "storage": {"backend": "none"},
        "exporters": {
            "otlp": {"headers": {"x-honeycomb-team": token}, "traces": False, "metrics": False}
        },
    }
    async with relaykit.Client(config, plugins=[fake, records]) as client:
        await client.chat("fake/m", f"the team key is {token}")
    (record,) = records.records
    assert record.messages[0].text == "the team key is [REDACTED]"


def test_the_passwords_of_configured_stores_and_collectors_are_known_secrets() -> None:
    """A database's, a cache's, a limiter's or a collector's URL holds a password as a
    base_url may: each is masked wherever it shows (a store's error quoting it alone)."""
    from relaykit.config import load_config
    from relaykit.plugins import build_plugin_manager
    from relaykit.provider_registry import ProviderRegistry

    passwords = ["pg-pass-0123456789", "cache-pass-0123456789", "limit-pass-0123456789"]
    passwords.append("collector-pass-0123456789")
    config = load_config(
        {
            "storage": {"backend": "none", "dsn": f"postgresql://u:{passwords[0]}@db/calls"},
            "cache": {"url": f"redis://:{passwords[1]}@cache:6379/0"},
            "limiter": {"url": f"redis://u:{passwords[2]}@limits:6379/1"},
            "exporters": {"otlp": {"endpoint": f"https://u:{passwords[3]}@otel:4318"}},
        },
        env={},
    )
    registry = ProviderRegistry(config, build_plugin_manager((), {}), {})
    assert registry.known_secrets.redact(" ".join(passwords)) == " ".join(["[REDACTED]"] * 4)
