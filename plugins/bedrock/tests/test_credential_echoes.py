"""AWS credentials quoted back by the service (a SigV4 mismatch's canonical request
holds the session token) are masked in the error, the stored record, the span and
the log line: from the environment and from a profile's credentials file alike."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import relaykit
from relaykit import AuthenticationError
from relaykit.known_secrets import KnownSecrets
from relaykit.log_format import JsonFormatter
from relaykit.testing import RecordingExporter
from relaykit.testing.loopback import Request, Response
from relaykit_bedrock.auth import BedrockAuth
from relaykit_bedrock.testing import ACCESS_KEY, SECRET_KEY, BedrockMock, error

pytestmark = pytest.mark.anyio

MODEL = "bedrock/amazon.nova-micro-v1:0"
#: shaped as STS's tokens are, which no pattern of the built-in redactor knows
TOKEN = "FwoGZXIvYXdzEBAaDMockSessionTokenQ29uc3RhbnRseVJvdGF0ZWQ"


class _Tracing(RecordingExporter):
    def __init__(self) -> None:
        super().__init__()
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))


async def _canonical_request_refused(request: Request, _: Response) -> Response:
    # AWS's answer to a signature it computes otherwise: the canonical request it
    # expected, signed headers and their values (the session token) included, and a
    # word on the secret (which a proxy logging the environment might quote too)
    lines = [f"{name}:{request.headers.get(name, '')}" for name in sorted(request.headers)]
    message = (
        "The request signature we calculated does not match the signature you provided."
        f" Check your AWS Secret Access Key ({SECRET_KEY}) and signing method."
        " The Canonical String for this request should have been\n'POST\n"
        + request.path
        + "\n\n"
        + "\n".join(lines)
        + "'"
    )
    return error(403, message, "InvalidSignatureException")


@pytest.mark.parametrize("source", ["environment", "profile"])
async def test_echoed_aws_credentials_are_masked_everywhere(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    source: str,
) -> None:
    if source == "environment":
        monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
        provider: dict[str, str] = {}
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        credentials = tmp_path / "credentials"
        credentials.write_text(
            f"[echo]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
            f"aws_session_token = {TOKEN}\n"
        )
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        provider = {"profile": "echo"}
    caplog.set_level(logging.INFO, logger="relaykit")
    db = tmp_path / "calls.db"
    tracing = _Tracing()
    with BedrockMock(session_token=TOKEN) as mock:
        mock.rewrite = _canonical_request_refused
        config = {
            "storage": {"backend": "sqlite", "path": str(db)},
            "retry": {"attempts": 1},
            "providers": {"bedrock": {"base_url": mock.base_url, **provider}},
        }
        async with relaykit.Client(config, plugins=[tracing]) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.chat(MODEL, "hi")
    assert mock.requests[-1].headers["x-amz-security-token"] == TOKEN  # it was sent
    assert "Canonical String" in str(caught.value)
    with closing(sqlite3.connect(db)) as conn:
        stored = "\n".join(conn.iterdump())
    spans = [(s.attributes, s.status.description) for s in tracing.spans.get_finished_spans()]
    logged = [JsonFormatter().format(r) for r in caplog.records]
    everywhere = "\n".join(
        [
            str(caught.value),
            repr(caught.value),
            repr(vars(caught.value)),
            stored,
            repr(spans),
            *logged,
        ]
    )
    assert [TOKEN in everywhere, SECRET_KEY in everywhere] == [False, False]


class _Rotating:
    """Stands in for botocore's RefreshableCredentials: a new pair on each refresh."""

    def __init__(self) -> None:
        self.pairs = [
            (f"rotated-secret-{i:04d}-abcdef", f"rotated-token-{i:04d}-abcdef") for i in range(3)
        ]
        self.served = 0

    def refresh_needed(self) -> bool:
        return True

    def get_frozen_credentials(self) -> Any:
        secret_key, token = self.pairs[self.served]
        self.served += 1
        return SimpleNamespace(access_key=ACCESS_KEY, secret_key=secret_key, token=token)


async def test_refreshed_credentials_are_masked_and_the_pair_before_the_last_is_dropped() -> None:
    known = KnownSecrets()
    auth = BedrockAuth(region="us-east-1", known=known)
    credentials = _Rotating()
    auth._credentials = credentials
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/x"
    pairs = " ".join(" ".join(pair) for pair in credentials.pairs)
    await auth.headers("POST", url, b"{}", {})
    assert known.redact(pairs).count("[REDACTED]") == 2
    await auth.headers("POST", url, b"{}", {})
    assert known.redact(pairs).count("[REDACTED]") == 4  # the last pair still answers
    await auth.headers("POST", url, b"{}", {})
    assert (
        known.redact(pairs).split()
        == ["rotated-secret-0000-abcdef", "rotated-token-0000-abcdef"] + ["[REDACTED]"] * 4
    )
