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


@pytest.mark.anyio
@pytest.mark.parametrize("model", [None, 5, ["openai/gpt-4o"], {"model": "x"}])
@pytest.mark.parametrize("call", ["chat", "stream", "embed", "count_tokens"])
async def test_a_model_that_is_no_string_is_an_invalid_request(model: object, call: str) -> None:
    """``client.chat(os.environ.get("MODEL"), ...)`` with the variable unset raised
    AttributeError ("'NoneType' object has no attribute 'partition'"); a list or a
    dict raised TypeError (unhashable)."""
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin()]) as client:
        with pytest.raises(relaykit.InvalidRequestError) as info:
            if call == "stream":
                async with client.stream(model, "hi") as s:  # type: ignore[arg-type]
                    async for _ in s:
                        pass
            else:
                await getattr(client, call)(model, "hi")
    assert info.value.param == "model"
    assert "'provider/model'" in str(info.value) and type(model).__name__ in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("provider", [True, ["fake"], 5])
async def test_models_of_a_provider_that_is_no_string_is_an_invalid_request(
    provider: object,
) -> None:
    """``client.models(True)`` raised TypeError inside difflib; a list, unhashable."""
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin()]) as client:
        with pytest.raises(relaykit.InvalidRequestError, match="provider name"):
            await client.models(provider)  # type: ignore[arg-type]
