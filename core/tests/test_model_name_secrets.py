"""A key passed as the model (``chat(os.environ["OPENAI_API_KEY"], ...)``, an SDK's
fields swapped) is refused before the call: it would otherwise name the call's
record, span, log line and metric series."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.testing import FakePlugin, RecordingExporter

pytestmark = pytest.mark.anyio

#: a provider's key of no known shape
KEY = "vendor-7f3a9c2e5b8d1f4a"


@pytest.mark.parametrize("model", [f"local/{KEY}", KEY, f"local/{KEY}:latest"])
async def test_a_configured_key_as_the_model_is_refused_without_being_quoted(
    model: str,
) -> None:
    fake, records = FakePlugin(), RecordingExporter()
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "providers": {"local": {"type": "fake", "api_key": KEY}},
    }
    async with relaykit.Client(config, plugins=[fake, records]) as client:
        with pytest.raises(relaykit.InvalidRequestError) as caught:
            await client.chat(model, "hi")
        with pytest.raises(relaykit.InvalidRequestError):
            await client.embed(model, ["hi"])
        assert (await client.chat("local/m", "hi")).text  # other models still answer
    assert caught.value.param == "model"
    assert "api_key" in str(caught.value)  # the fix: where a key goes
    assert KEY not in f"{caught.value} {caught.value!r} {vars(caught.value)}"
    assert [c.model for c in fake.calls] == ["m"]
    assert [r.model_requested for r in records.records] == ["local/m"]


async def test_a_key_masked_from_now_on_is_refused_as_a_model_named_before() -> None:
    fake = FakePlugin()
    config: dict[str, Any] = {"storage": {"backend": "none"}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat(f"fake/{KEY}", "hi")  # not a secret yet
        client.mask_secret(KEY)
        with pytest.raises(relaykit.InvalidRequestError):
            await client.chat(f"fake/{KEY}", "hi")
    assert len(fake.calls) == 1


def test_masked_masks_what_the_client_knows_sync_and_async() -> None:
    """``Client.masked`` (and SyncClient's): the providers' keys of any shape and those
    given to ``mask_secret``, for an app's own log lines."""
    config = {
        "storage": {"backend": "none"},
        "providers": {
            "p": {
                "type": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key": "own-key-0123456789",
            }
        },
    }
    with relaykit.SyncClient(config, env={}) as client:
        client.mask_secret("told-secret-abcdef")
        text = client.masked("own-key-0123456789 told-secret-abcdef short")
    assert text == "[REDACTED] [REDACTED] short"
