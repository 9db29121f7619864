"""A key one provider refuses (401/403, :class:`~relaykit.AuthenticationError`) moves a
route on to another provider's deployment, as LiteLLM's router falls back from one;
never to the same provider's (its key would be refused again), and the refused
deployment is not retried. Over loopback, with two OpenAI-compatible mocks, one
configured with a key it does not take.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import relaykit
from relaykit.testing import OpenAIMock, RecordingExporter, Reply

from .conftest import MOCK_KEY


def config(revoked: OpenAIMock, backup: OpenAIMock, targets: list[str]) -> dict[str, Any]:
    """``revoked`` as provider ``primary`` with a key it refuses, ``backup`` as
    provider ``backup`` with its own; a route ``r`` of ``targets``."""
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0, "max_wait": 0},
        "providers": {
            "primary": {"type": "openai", "base_url": revoked.base_url, "api_key": "sk-revoked-0"},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": MOCK_KEY},
        },
        "models": {"r": {"targets": targets}},
    }


@pytest.mark.anyio
async def test_a_refused_key_falls_back_to_another_provider_unretried() -> None:
    exporter = RecordingExporter()
    with OpenAIMock(api_key=MOCK_KEY) as revoked, OpenAIMock(api_key=MOCK_KEY) as backup:
        backup.script.push(Reply(text="from backup"))
        cfg = config(revoked, backup, ["primary/gpt-4o-mini", "backup/gpt-4o-mini"])
        async with relaykit.Client(cfg, plugins=[exporter]) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("r", "hi")
    assert (r.provider, r.text, r.attempts) == ("backup", "from backup", 2)
    assert (len(revoked.requests), len(backup.requests)) == (1, 1)
    [record] = exporter.records
    assert record.route == ("primary/gpt-4o-mini", "backup/gpt-4o-mini")
    assert record.route_errors == ("AuthenticationError 401", "")
    assert record.fallbacks == 1


@pytest.mark.anyio
async def test_the_same_providers_other_deployments_are_skipped() -> None:
    # Its key is refused for every model: the next provider is asked instead.
    with OpenAIMock(api_key=MOCK_KEY) as revoked, OpenAIMock(api_key=MOCK_KEY) as backup:
        backup.script.push(Reply(text="from backup"))
        targets = ["primary/gpt-4o-mini", "primary/gpt-4o", "backup/gpt-4o-mini"]
        async with relaykit.Client(config(revoked, backup, targets)) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("r", "hi")
    assert (r.provider, r.attempts) == ("backup", 2)
    assert [req.json()["model"] for req in revoked.requests] == ["gpt-4o-mini"]


@pytest.mark.anyio
async def test_a_route_of_one_provider_ends_with_the_refused_key() -> None:
    with OpenAIMock(api_key=MOCK_KEY) as revoked, OpenAIMock(api_key=MOCK_KEY) as backup:
        targets = ["primary/gpt-4o-mini", "primary/gpt-4o"]
        async with relaykit.Client(config(revoked, backup, targets)) as client:
            with anyio.fail_after(30), pytest.raises(relaykit.AuthenticationError) as caught:
                await client.chat("r", "hi")
    assert caught.value.status == 401 and caught.value.provider == "primary"
    assert "sk-revoked-0" not in str(caught.value)
    assert len(revoked.requests) == 1 and not backup.requests


@pytest.mark.anyio
async def test_a_stream_falls_back_from_a_refused_key_before_its_first_event() -> None:
    with OpenAIMock(api_key=MOCK_KEY) as revoked, OpenAIMock(api_key=MOCK_KEY) as backup:
        backup.script.push(Reply(text="streamed from backup"))
        cfg = config(revoked, backup, ["primary/gpt-4o-mini", "backup/gpt-4o-mini"])
        async with relaykit.Client(cfg) as client:
            with anyio.fail_after(30):  # a safety net only
                async with client.stream("r", "hi") as s:
                    text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
    assert (s.response.provider, text) == ("backup", "streamed from backup")
    assert (len(revoked.requests), len(backup.requests)) == (1, 1)


@pytest.mark.anyio
async def test_a_deployment_put_off_is_not_asked_again_once_its_provider_refused_the_key() -> None:
    # gpt-4o-mini asked to wait (a 429 with Retry-After), gpt-4o, the same provider's,
    # then refused the key: waiting to ask gpt-4o-mini again would only meet the
    # refusal again, so the call ends with it at once.
    with OpenAIMock(api_key=MOCK_KEY) as primary, OpenAIMock(api_key=MOCK_KEY) as backup:
        primary.script.push(
            Reply.failure(429, "slow down", retry_after=5),
            Reply.failure(401, "Incorrect API key provided"),
            Reply(text="unasked"),
        )
        cfg = config(primary, backup, ["primary/gpt-4o-mini", "primary/gpt-4o"])
        cfg["providers"]["primary"]["api_key"] = MOCK_KEY
        async with relaykit.Client(cfg) as client:
            with anyio.fail_after(30), pytest.raises(relaykit.AuthenticationError):
                await client.chat("r", "hi")
    assert [req.json()["model"] for req in primary.requests] == ["gpt-4o-mini", "gpt-4o"]
