"""Errors raised inside ``async with Client()`` reach the caller as themselves."""

import pytest

import relaykit
from relaykit.testing import FakePlugin


@pytest.mark.anyio
async def test_error_inside_the_client_block_is_not_wrapped_in_a_group() -> None:
    with pytest.raises(relaykit.ConfigError, match="no plugin provides provider 'nope'"):
        async with relaykit.Client({"storage": {"backend": "none"}}) as client:
            await client.chat("nope/x", "hi")


@pytest.mark.anyio
async def test_provider_error_inside_the_client_block_keeps_its_type() -> None:
    fake = FakePlugin()
    fake.script.fail(401, "bad key")
    with pytest.raises(relaykit.AuthenticationError):
        async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
            await client.chat("fake/m", "hi")
