"""Secrets a caller sends the gateway (its own key, a provider's key, a key of a known
shape) in the fields it copies into a call (``x-correlation-id``, ``user``,
``metadata``) reach no call record, span or log line."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.protocols import LogQuery
from relaykit.testing import FakePlugin, TracingExporter
from relaykit_gateway.testing import KEY, running

from .conftest import json_log, sqlite_dump

pytestmark = pytest.mark.anyio

#: a provider's key of no known shape, as an OpenAI-compatible server may take
PROVIDER_KEY = "vendor-7f3a9c2e5b8d1f4a"
#: a key of a shape the built-in redactor knows
SHAPED_KEY = "sk-proj-" + "Zr4" * 10
SECRETS = (KEY, PROVIDER_KEY, SHAPED_KEY)


def _config(db: Path) -> dict[str, Any]:
    return {
        "storage": {"backend": "sqlite", "path": str(db)},
        "retry": {"attempts": 1},
        "providers": {"local": {"type": "fake", "api_key": PROVIDER_KEY}},
        "telemetry": {"log_metadata": ["user", "note", "correlation_id"]},
    }


@pytest.mark.parametrize("secret", SECRETS, ids=["gateway-key", "provider-key", "shaped-key"])
async def test_a_secret_in_the_fields_copied_into_a_call_is_masked_everywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, secret: str
) -> None:
    db = tmp_path / "calls.db"
    tracing = TracingExporter()
    caplog.set_level(logging.INFO, logger="relaykit")
    body = {
        "model": "local/m",
        "messages": [{"role": "user", "content": "hi"}],
        "user": secret,
        "metadata": {"note": secret, "conversation_id": secret},
    }
    headers = {"authorization": f"Bearer {KEY}", "x-correlation-id": secret}
    client = relaykit.Client(_config(db), plugins=[FakePlugin(), tracing])
    embed = {"model": "local/e", "input": "hi", "user": secret, "metadata": {"note": secret}}
    async with client, running(client) as url, httpx.AsyncClient(base_url=url) as http:
        for path, sent in [
            ("/v1/chat/completions", body),
            ("/v1/chat/completions", {**body, "stream": True}),
            ("/v1/embeddings", embed),
        ]:
            answer = await http.post(path, headers=headers, json=sent)
            assert answer.status_code == 200, answer.text
    stored, spans, logged = sqlite_dump(db), tracing.dumped(), json_log(caplog)
    assert "correlation_id" in logged and "chat" in spans  # each was written
    assert stored.count("'embeddings'") == 1 and "[REDACTED]" in stored
    assert [secret in stored, secret in spans, secret in logged] == [False, False, False]


async def test_a_request_id_too_long_to_keep_is_kept_as_its_digest(tmp_path: Path) -> None:
    """An id past the length kept is not cut (the cut would keep most of a long key,
    an STS session token, unmasked: a part of a key is not the key): its SHA-256
    stands for it, which the caller can work out to find the call."""
    long_key = "IQoJb3JpZ2luX2VjEMock" + "Tk9" * 80  # as long as an STS session token
    db = tmp_path / "calls.db"
    config = _config(db)
    config["providers"]["local"]["api_key"] = long_key
    body = {"model": "local/m", "messages": [{"role": "user", "content": "hi"}]}
    client = relaykit.Client(config, plugins=[FakePlugin()])
    async with client, running(client) as url, httpx.AsyncClient(base_url=url) as http:
        for request_id in (long_key, "req-42"):
            headers = {"authorization": f"Bearer {KEY}", "x-request-id": request_id}
            answer = await http.post("/v1/chat/completions", headers=headers, json=body)
            assert answer.status_code == 200, answer.text
    reader = relaykit.Client({"storage": {"backend": "sqlite", "path": str(db)}})
    async with reader:  # the records are all written once the gateway's client closed
        assert reader.storage is not None
        records = await reader.storage.query_logs(LogQuery(limit=10))
    digest = "sha256:" + hashlib.sha256(long_key.encode()).hexdigest()
    assert sorted(r.correlation_id or "" for r in records) == sorted([digest, "req-42"])
    assert long_key[:24] not in sqlite_dump(db)
