"""Secrets a caller sends the gateway (its own key, a provider's key, a key of a known
shape) in the fields it copies into a call (``x-correlation-id``, ``user``,
``metadata``) reach no call record, span or log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.testing import FakePlugin
from relaykit_gateway.testing import KEY, running

from .conftest import Tracing, json_log, sqlite_dump

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
    tracing = Tracing()
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
