"""The AWS SDKs' endpoint variables, in their order: ``[providers.NAME] base_url`` /
``control_plane_url`` beat ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` /
``AWS_ENDPOINT_URL_BEDROCK``, which beat ``AWS_ENDPOINT_URL``, which beats the
regional default; ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`` drops the variables
but never the table's URLs. Each URL is a mock of its own on loopback, so which
one a request reached says which setting won."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError, ProviderSettings
from relaykit_bedrock import BedrockProvider
from relaykit_bedrock.endpoints import endpoint_url
from relaykit_bedrock.testing import BedrockMock

MODEL = "bedrock/amazon.nova-lite-v1:0"
RUNTIME = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
CONTROL = "AWS_ENDPOINT_URL_BEDROCK"
GLOBAL = "AWS_ENDPOINT_URL"
IGNORE = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


@pytest.fixture
def mocks() -> Iterator[dict[str, BedrockMock]]:
    """One mock per place an endpoint can come from."""
    with BedrockMock() as a, BedrockMock() as b, BedrockMock() as c:
        yield {"config": a, "service": b, "global": c}


def _client(name: str = "bedrock", **provider: Any) -> relaykit.Client:
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {name: provider},
        }
    )


def _reached(mocks: dict[str, BedrockMock]) -> dict[str, list[str]]:
    return {k: [r.path for r in m.requests] for k, m in mocks.items() if m.requests}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("configured", "service", "global_", "ignore", "winner"),
    [
        (True, True, True, False, "config"),
        (False, True, True, False, "service"),
        (False, False, True, False, "global"),
        (True, True, True, True, "config"),  # the ignore switch never drops the table's URL
    ],
)
async def test_the_sdks_order_picks_the_endpoint(
    mocks: dict[str, BedrockMock],
    monkeypatch: pytest.MonkeyPatch,
    configured: bool,
    service: bool,
    global_: bool,
    ignore: bool,
    winner: str,
) -> None:
    if service:
        monkeypatch.setenv(RUNTIME, mocks["service"].base_url)
        monkeypatch.setenv(CONTROL, mocks["service"].base_url + "/")
    if global_:
        monkeypatch.setenv(GLOBAL, mocks["global"].base_url)
    if ignore:
        monkeypatch.setenv(IGNORE, "True")
    url = mocks["config"].base_url
    provider = {"base_url": url, "control_plane_url": url} if configured else {}
    async with _client(**provider) as client:
        answer = await client.chat(MODEL, "hi")
        models = await client.models("bedrock")
    assert answer.text and models
    paths = ["/model/amazon.nova-lite-v1%3A0/converse", "/foundation-models", "/inference-profiles"]
    assert _reached(mocks) == {winner: paths}


@pytest.mark.anyio
async def test_each_service_takes_its_own_variable(
    mocks: dict[str, BedrockMock], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the runtime from its own variable, the control plane from the global one
    monkeypatch.setenv(RUNTIME, mocks["service"].base_url)
    monkeypatch.setenv(GLOBAL, mocks["global"].base_url)
    async with _client() as client:
        await client.chat(MODEL, "hi")
        await client.models("bedrock")
    assert _reached(mocks) == {
        "service": ["/model/amazon.nova-lite-v1%3A0/converse"],
        "global": ["/foundation-models", "/inference-profiles"],
    }


@pytest.mark.anyio
async def test_a_table_of_type_bedrock_reads_the_variables_too(
    mocks: dict[str, BedrockMock], monkeypatch: pytest.MonkeyPatch
) -> None:
    # as every AWS SDK client does, whatever relaykit calls the table
    monkeypatch.setenv(GLOBAL, mocks["global"].base_url)
    async with _client("work", type="bedrock") as client:
        assert (await client.chat("work/amazon.nova-lite-v1:0", "hi")).text
    assert list(_reached(mocks)) == ["global"]


@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_ignoring_the_variables_leaves_the_default(value: str) -> None:
    env = {IGNORE: value, RUNTIME: "http://runtime.test", GLOBAL: "http://all.test"}
    default = BedrockProvider.default_base_url
    assert endpoint_url(None, "base_url", RUNTIME, env, default) == (default, "the default")
    settings = ProviderSettings(name="bedrock", base_url=default, env=env)
    assert "base_url='https://bedrock-runtime.{region}.amazonaws.com'" in repr(
        BedrockProvider(settings, http=None)  # type: ignore[arg-type]
    )


def test_false_or_empty_values_do_not_ignore_or_override() -> None:
    env = {IGNORE: "false", RUNTIME: "", GLOBAL: "http://all.test/"}
    assert endpoint_url(None, "o", RUNTIME, env, "d") == (
        "http://all.test",
        "environment variable AWS_ENDPOINT_URL",
    )


@pytest.mark.anyio
@pytest.mark.parametrize("var", [RUNTIME, CONTROL, GLOBAL])
async def test_credentials_in_a_variables_url_are_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    monkeypatch.setenv(var, "https://user:s3cret-pass@gateway.test")
    with pytest.raises(ConfigError) as caught:
        async with _client() as client:
            await client.chat(MODEL, "hi")
    text = f"{caught.value} {caught.value.hint}"
    assert f"environment variable {var}" in text
    assert "s3cret-pass" not in text
