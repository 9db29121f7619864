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


#: a key as it comes from ``$(cat two-keys.txt)``, and as it is pasted from a page
#: that renders quotes typographically
BROKEN_KEYS = {
    "line-break": ("sk-proj-0123456789\nsk-proj-abcdefghij", "a line break"),
    "nul": ("sk-proj-0123456789\x00abcdef", "a control character"),
    "smart-quotes": ("\u201csk-proj-0123456789abcdef\u201d", "a character that is not ASCII"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("source", ["config", "env", "api_key_env"])
@pytest.mark.parametrize("broken", sorted(BROKEN_KEYS))
async def test_an_api_key_no_http_header_can_carry_is_a_config_error_naming_where_it_came_from(
    source: str, broken: str
) -> None:
    """A key holding a line break failed every call as a retryable ProviderUnavailableError,
    "malformed response from the provider (ValueError: ...)": nothing came back, the
    header could not be sent. One in typographic quotes was sent, and refused with a
    401 that said to check a key that looked right."""
    from relaykit.testing import OpenAIMock, one_try_config

    key, problem = BROKEN_KEYS[broken]
    with OpenAIMock(api_key="sk-right") as mock:
        provider: dict[str, str] = {"base_url": mock.base_url}
        env: dict[str, str] = {}
        if source == "config":
            provider["api_key"], where = key, "config key providers.openai.api_key"
        elif source == "env":
            env["OPENAI_API_KEY"], where = key, "environment variable OPENAI_API_KEY"
        else:
            provider["api_key_env"] = "MY_KEY"
            env["MY_KEY"], where = key, "environment variable MY_KEY"
        async with relaykit.Client(one_try_config({"openai": provider}), env=env) as client:
            with pytest.raises(relaykit.ConfigError) as info:
                await client.chat("openai/gpt-4o-mini", "hi")
        assert mock.requests == []
    text = str(info.value)
    assert f"the API key of provider 'openai' ({where}) holds {problem}" in text
    assert "paste the key again" in text
    for piece in key.split("\n"):
        assert piece.strip("\x00\u201c\u201d") not in text


@pytest.mark.anyio
async def test_a_header_no_http_request_can_carry_is_a_config_error_without_its_value() -> None:
    """As for a key: a configured header with a line break failed every call as a
    retryable "malformed response"."""
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Client(
            {"providers": {"openai": {"headers": {"X-Token": "tok-123\ntok-456"}}}}, env={}
        )
    text = str(info.value)
    assert "config key providers.openai.headers.X-Token holds a line break" in text
    assert "tok-" not in text


def test_one_plugin_not_in_a_list_is_a_config_error_saying_to_wrap_it() -> None:
    """``Client(plugins=FakePlugin())`` raised TypeError: object is not iterable."""
    with pytest.raises(relaykit.ConfigError, match=r"plugins must be a list.*plugins=\[plugin\]"):
        relaykit.Client({"storage": {"backend": "none"}}, plugins=FakePlugin())  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", "the body is empty"),
        (b"  \r\n", "the body is empty"),
        (b"upstream connect error", "not JSON: 'upstream connect error'"),
        # a page is summed up (tests/every_provider/test_web_page_answers.py)
        (b"<html><body>Sign in to the proxy</body></html>", "it reads: 'Sign in to the proxy'"),
    ],
)
async def test_an_answer_that_is_not_json_says_what_came(body: bytes, said: str) -> None:
    """A 200 with an empty body, or a proxy's page, was "malformed response from the
    provider (JSONDecodeError: Expecting value: line 1 column 1 (char 0))", which
    said neither that the body was empty nor what it held."""
    from relaykit.testing import Response, ScriptedServer, one_try_config

    page = Response(200, {"content-type": "text/html"}, body)
    with ScriptedServer(page) as server:
        config = one_try_config({"openai": {"base_url": server.url, "api_key": "sk-test"}})
        async with relaykit.Client(config, env={}) as client:
            with pytest.raises(relaykit.ProviderUnavailableError) as info:
                await client.chat("openai/gpt-4o-mini", "hi")
    assert said in str(info.value)
    assert str(info.value).startswith("openai/gpt-4o-mini: malformed response from the provider")
