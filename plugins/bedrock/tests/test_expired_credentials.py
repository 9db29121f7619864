"""Credentials that have expired for good (the environment's, with an expiry past) are an
authentication error that says to renew them, and no retry asks for them again."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from relaykit import AuthenticationError
from relaykit_bedrock import auth as auth_module
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

MODEL = "bedrock/amazon.nova-micro-v1:0"


@pytest.mark.anyio
async def test_credentials_expired_for_good_are_not_retried(
    monkeypatch: pytest.MonkeyPatch, mock: BedrockMock, make_client: MakeClient
) -> None:
    # botocore reads AWS_CREDENTIAL_EXPIRATION beside the keys as refreshable credentials
    # that refresh from the environment again: past, they stay expired
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEMock//token")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2020-01-01T00:00:00Z")
    refreshes: list[str] = []
    original = auth_module.BedrockAuth._frozen_credentials

    async def counting(self: Any) -> Any:
        refreshes.append(threading.current_thread().name)
        return await original(self)

    monkeypatch.setattr(auth_module.BedrockAuth, "_frozen_credentials", counting)
    async with make_client(retry=3) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.chat(MODEL, "hi")
    err = info.value
    assert "expired" in str(err)
    assert err.retryable is False
    assert err.hint is not None and "renew" in err.hint
    assert len(refreshes) == 1  # asked once, not once an attempt
    assert mock.requests == []  # nothing went out unsigned or signed with stale keys
    assert "FwoGZXIvYXdzEMock//token" not in f"{err} {err!r}"
