import pytest

import relaykit
from relaykit.testing import FakePlugin


@pytest.mark.anyio
async def test_fake_provider_answers_under_both_backends() -> None:
    fake = FakePlugin()
    fake.script.reply("hello")
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        response = await client.chat("fake/m", "hi")
    assert response.text == "hello"
    assert response.provider == "fake"
