"""Plant real-shaped keys, make every provider fail with them, and look everywhere for them.

A provider that echoes the key back (in its error message, in a URL's ``?key=``),
a transport error that carries the URL, a key pasted into a prompt: none of it
may reach reprs, errors (and the exceptions they chain), log lines, stored
records, trace attributes or the CLI's output.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import relaykit
from relaykit import hookimpl
from relaykit.cli import main
from relaykit.config import Config, load_config
from relaykit.http import ConnectError, HttpClient, HttpOptions
from relaykit.serialization import converter
from relaykit.testing import (
    MemoryStorage,
    OpenAIMock,
    RecordingExporter,
    Request,
    Response,
    TracingExporter,
    VendorMock,
)

OPENAI = "sk-proj-" + "Op3nAiKeyPlant" * 3
ANTHROPIC = "sk-ant-api03-" + "Anthr0picKeyPlant" * 4
GOOGLE = "AIza" + "G00gleKeyPlant0123456789abcdefghijk"
AWS_ID = "AKIA" + "PLANTEDKEY123456"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTEDKEY"
BEARER = "plantedBearerToken" + "x9" * 10
BEDROCK = "ABSK" + "QmVkcm9ja0FQSUtleS1QbGFudGVkS2V5MDEyMzQ1Njc4OQ=="  # a Bedrock API key's shape
MASTER = "PlantedMasterKey0123456789abcdefghijklmnopq="  # a Fernet key's shape
ALL = (OPENAI, ANTHROPIC, GOOGLE, AWS_ID, AWS_SECRET, BEARER, BEDROCK, MASTER)


class EchoMock(VendorMock):
    """A vendor that rejects every request and echoes back what it was sent.

    Real ones do this: OpenAI-compatible proxies quote the key, Google puts the
    URL (with ``?key=``) in its error, gateways repeat the Authorization header.
    """

    async def route(self, request: Request) -> Response:
        sent = " ".join(f"{k}: {v}" for k, v in request.headers.items())
        key = (
            request.headers.get("x-api-key")
            or request.headers.get("x-goog-api-key")
            or request.headers.get("authorization", "").removeprefix("Bearer ")
        )
        message = (
            f"API key {key} not valid for "
            f"https://generativelanguage.googleapis.com{request.path}?key={key}&alt=sse "
            f"(request headers: {sent}; signed by {AWS_ID}, SecretAccessKey={AWS_SECRET})"
        )
        body = {"error": {"message": message, "type": "invalid_request_error", "code": 401}}
        return Response.json(body, 401)


async def make_call(client: relaykit.Client, call: str, model: str) -> None:
    """Make one ``call`` ("chat", "stream" or "models") for ``model`` (``provider/name``)."""
    if call == "chat":
        await client.chat(model, "hi")
    elif call == "stream":
        async with client.stream(model, "hi") as s:
            async for _ in s:
                pass
    else:
        await client.models(model.split("/", 1)[0])


def leaks(text: str) -> list[str]:
    return [key for key in ALL if key in text]


def chain(error: BaseException) -> str:
    """The error as a traceback prints it, with every exception it chains."""
    return "".join(traceback.format_exception(error))


@pytest.fixture
def mock() -> Iterator[EchoMock]:
    with EchoMock() as server:
        yield server


def provider_config(base_url: str) -> dict[str, Any]:
    headers = {"x-gateway-auth": f"Bearer {BEARER}"}
    return {
        "openai": {"base_url": f"{base_url}/v1", "api_key": OPENAI, "headers": headers},
        "anthropic": {"base_url": base_url, "api_key": ANTHROPIC, "headers": headers},
        "gemini": {"base_url": base_url, "api_key": GOOGLE, "headers": headers},
        "bedrock": {"base_url": base_url, "api_key": BEDROCK, "region": "us-east-1"},
    }


MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"]
MODELS.append("bedrock/anthropic.claude-3-haiku-20240307-v1:0")


@pytest.mark.anyio
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_an_echoed_key_reaches_no_error_log_record_or_span(
    mock: EchoMock, model: str, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    storage = MemoryStorage()
    tracing = TracingExporter()
    config = {
        "storage": {"backend": "memory"},
        "retry": {"attempts": 1},
        "telemetry": {"capture_content": True},
        "providers": provider_config(mock.base_url),
        "redactors": {},
    }
    prompt = f"keys {OPENAI} {GOOGLE} {BEDROCK}; AWS_SECRET_ACCESS_KEY={AWS_SECRET}; {MASTER}"
    caplog.set_level(logging.DEBUG, logger="relaykit")
    async with relaykit.Client(config, plugins=[storage.plugin(), tracing]) as client:
        shown = repr(client) + repr(client.config) + repr(client.provider(model.split("/")[0]))
        with pytest.raises(relaykit.RelayError) as caught:
            if stream:
                async with client.stream(model, prompt) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, prompt)
    error = caught.value
    assert mock.requests, "the request never reached the mock"
    assert error.status == 401
    assert leaks(shown) == []
    assert leaks(chain(error) + repr(error) + str(error.provider_message)) == []
    assert leaks(caplog.text + repr([r.__dict__ for r in caplog.records])) == []
    stored = json.dumps(converter.unstructure(list(storage.records.values())), default=str)
    assert "[REDACTED]" in stored  # the records were written, masked
    assert leaks(stored) == []
    assert leaks(repr(tracing.events)) == []
    assert tracing.spans.get_finished_spans()
    assert leaks(tracing.dumped()) == []


class UrlInErrorHttp:
    """An HTTP client whose transport errors quote the full URL, as aiohttp's do."""

    def __init__(self, options: HttpOptions) -> None:
        self.options = options

    async def post(self, url: str, **kw: Any) -> Any:
        raise ConnectError(f"Cannot connect to {url}?key={GOOGLE} (bearer {BEARER})")

    async def get(self, url: str, **kw: Any) -> Any:
        raise ConnectError(f"Cannot connect to {url}?key={GOOGLE} (bearer {BEARER})")

    def stream(self, method: str, url: str, **kw: Any) -> Any:
        raise ConnectError(f"Cannot connect to {url}?key={GOOGLE} (bearer {BEARER})")

    async def aclose(self) -> None:
        pass


class UrlInErrorPlugin:
    __name__ = "url-in-error"

    @hookimpl
    def relaykit_http_client(self, config: Config, options: HttpOptions) -> HttpClient:
        return UrlInErrorHttp(options)


@pytest.mark.anyio
@pytest.mark.parametrize("call", ["chat", "stream", "models"])
async def test_a_chained_transport_error_carrying_the_key_is_masked(call: str) -> None:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"gemini": {"base_url": "http://127.0.0.1:9", "api_key": GOOGLE}},
    }
    async with relaykit.Client(config, plugins=[UrlInErrorPlugin()]) as client:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            await make_call(client, call, "gemini/gemini-2.5-flash")
    text = chain(caught.value)
    assert "Cannot connect to" in text  # the cause is still shown, masked
    assert leaks(text) == []


def test_config_and_settings_reprs_hide_keys_in_headers_urls_and_dsns(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    config = load_config(
        {
            "providers": {
                # user:password@ is sent as basic auth: no API key or Authorization
                # header beside it (a ConfigError), so those are the other provider's
                "local": {
                    "type": "vllm",
                    "base_url": f"https://user:hunter2-{BEARER}@gpu-box/v1?key={GOOGLE}",
                    "headers": {"X-Gateway-Key": f"Bearer {BEARER}"},
                },
                "keyed": {
                    "type": "openai",
                    "base_url": f"https://gpu-box/v1?key={GOOGLE}",
                    "api_key": OPENAI,
                    "headers": {"Authorization": f"Bearer {BEARER}"},
                },
            },
            "storage": {"backend": "postgres", "dsn": f"postgresql://u:{BEARER}@db/x"},
            "limiter": {"url": f"redis://:{BEARER}@127.0.0.1:6379/0"},
            "exporters": {"otlp": {"headers": {"authorization": f"Bearer {BEARER}"}}},
        },
        env={},
    )
    assert leaks(repr(config)) == []
    client = closed_after(relaykit.Client(config, env={}))
    for name in ("local", "keyed"):
        provider = client.provider(name)
        settings = client._registry.settings(name)[1]
        assert leaks(repr(client) + repr(provider) + repr(settings)) == []
        assert "hunter2" not in repr(provider) + repr(settings)


@pytest.mark.parametrize(
    "argv",
    [
        ["prompt", "-m", "openai/gpt-4o-mini", "--no-stream", "hi"],
        ["prompt", "-m", "gemini/gemini-2.5-flash", "hi"],
        ["models", "anthropic"],
    ],
)
def test_cli_output_never_shows_an_echoed_key(
    mock: EchoMock,
    argv: list[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ['[storage]\nbackend = "sqlite"', f'path = "{tmp_path / "logs.db"}"', "[retry]"]
    lines.append("attempts = 1")
    for name, table in provider_config(mock.base_url).items():
        lines.append(f"[providers.{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items() if k != "headers")
    path = tmp_path / "relaykit.toml"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("RELAYKIT_MASTER_KEY", MASTER)

    assert main(["--config", str(path), *argv]) == 1
    assert main(["--config", str(path), "logs", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and "HTTP 401" in err
    assert leaks(out + err) == []


class AttributeMessageError(Exception):
    """Like aiohttp's errors: ``str`` is built from attributes, not from ``args``."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def __str__(self) -> str:
        return f"Cannot connect to {self.url}"


def test_a_cause_whose_text_cannot_be_masked_is_cut_from_the_chain() -> None:
    from relaykit.transport_errors import transport_error

    try:
        try:
            raise AttributeMessageError(f"https://g.example/v1?key={GOOGLE}")
        except AttributeMessageError as inner:
            raise ConnectError(f"connect failed: https://g.example/v1?key={GOOGLE}") from inner
    except ConnectError as outer:
        mapped = transport_error(outer, provider="gemini", model="m")
        assert mapped is not None
        try:
            raise mapped from outer
        except relaykit.RelayError as e:
            text = chain(e)
    assert "connect failed: https://g.example/v1?key=[REDACTED]" in text
    assert "AttributeMessageError" not in text
    assert leaks(text) == []


# -- keys of any shape: masked because the client knows them ----------------------

LOCAL_KEY = "local-key-1234567890"  # no vendor's shape, no label: only knowing it masks it
GATEWAY_TOKEN = "gw-0987654321-token"  # a configured header value, echoed the same way


class QuotingOpenAIMock(OpenAIMock):
    """An OpenAI-compatible server (vLLM, a gateway) that quotes what it was sent in its 401."""

    async def route(self, request: Request) -> Response:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        token = request.headers.get("x-gateway-token", "")
        message = f"Incorrect API key provided: {key}. Gateway token {token} is unknown."
        body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        return Response.json(body, 401)


@pytest.mark.anyio
@pytest.mark.parametrize("source", ["config", "env", "vault"])
@pytest.mark.parametrize("call", ["chat", "stream", "models"])
async def test_a_configured_key_of_any_shape_is_masked_everywhere(
    source: str, call: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from relaykit.key_vault import MASTER_KEY_ENV, KeyVault, MasterKey, generate_key
    from relaykit_sqlite import SQLiteStorage

    db = tmp_path / "logs.db"
    master = generate_key()
    env = {MASTER_KEY_ENV: master.reveal()}
    local: dict[str, Any] = {"type": "openai", "headers": {"x-gateway-token": GATEWAY_TOKEN}}
    if source == "config":
        local["api_key"] = LOCAL_KEY
    elif source == "env":
        local["api_key_env"] = "LOCAL_LLM_KEY"
        env["LOCAL_LLM_KEY"] = LOCAL_KEY
    else:
        vault_storage = SQLiteStorage(db)
        await KeyVault(vault_storage, MasterKey(master, MASTER_KEY_ENV)).set("local", LOCAL_KEY)
        await vault_storage.aclose()
    tracing = TracingExporter()
    caplog.set_level(logging.DEBUG, logger="relaykit")
    with QuotingOpenAIMock() as mock:
        local["base_url"] = mock.base_url
        config = {
            "storage": {"backend": "sqlite", "path": str(db)},
            "retry": {"attempts": 2, "initial_wait": 0},
            "telemetry": {"capture_content": True},
            "providers": {"local": local},
        }
        async with relaykit.Client(config, plugins=[tracing], env=env) as client:
            with pytest.raises(relaykit.AuthenticationError) as caught:
                await make_call(client, call, "local/any-model")
        assert mock.requests, "the request never reached the mock"
    error = caught.value
    seen = {
        "error": chain(error) + repr(error) + str(error.provider_message) + repr(error.args),
        "logs": caplog.text + repr([r.getMessage() for r in caplog.records]),
        "spans": tracing.dumped(),
        "exported records": repr(tracing.events),
    }
    import sqlite3

    with sqlite3.connect(db) as conn:
        seen["stored records"] = repr(conn.execute("SELECT * FROM logs").fetchall())
    assert "Incorrect API key provided: [REDACTED]" in seen["error"]
    assert "Gateway token [REDACTED] is unknown" in seen["error"]
    if call != "models":  # a model listing is not a call: it is neither stored nor traced
        assert "Incorrect API key provided: [REDACTED]" in seen["stored records"]
        assert tracing.spans.get_finished_spans()
    for where, text in seen.items():
        assert LOCAL_KEY not in text, where
        assert GATEWAY_TOKEN not in text, where


@pytest.mark.anyio
@pytest.mark.parametrize("variable", ["api_key_env", "the provider type's"])
async def test_a_key_from_the_environment_quoted_in_a_prompt_never_reaches_a_span(
    variable: str,
) -> None:
    # With capture_content the span redacts the prompt when it starts, before
    # the first call builds the provider that reads the key from the environment.
    tracing = TracingExporter()
    local: dict[str, Any] = {"type": "openai"}
    if variable == "api_key_env":
        local["api_key_env"] = "LOCAL_LLM_KEY"
        env = {"LOCAL_LLM_KEY": LOCAL_KEY}
    else:
        env = {"OPENAI_API_KEY": LOCAL_KEY}
    with OpenAIMock(api_key=LOCAL_KEY) as mock:
        local["base_url"] = mock.base_url
        config = {
            "storage": {"backend": "none"},
            "telemetry": {"capture_content": True},
            "providers": {"local": local},
        }
        async with relaykit.Client(config, plugins=[tracing], env=env) as client:
            await client.chat("local/any-model", f"is my key {LOCAL_KEY} still valid?")
        assert mock.requests, "the request never reached the mock"
    assert "is my key [REDACTED] still valid?" in tracing.dumped()
    assert LOCAL_KEY not in tracing.dumped()
    assert LOCAL_KEY not in repr(tracing.events)


# -- values an application asks the client to mask ----------------------------------

APP_TOKEN = "app-token-5555666677778888"  # no vendor's shape: only being told masks it


@pytest.mark.anyio
async def test_a_value_the_app_asks_to_mask_is_masked_in_records_logs_and_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from relaykit.testing import FakePlugin

    fake = FakePlugin()
    fake.script.reply(f"Your token is {APP_TOKEN}.")
    fake.script.fail(400, f"token {APP_TOKEN} is not allowed here")
    records = RecordingExporter()
    caplog.set_level(logging.DEBUG, logger="relaykit")
    config = {"storage": {"backend": "none"}, "telemetry": {"capture_content": True}}
    async with relaykit.Client(config, plugins=[fake, records]) as client:
        client.mask_secret(APP_TOKEN)
        answer = await client.chat("fake/m", f"remember {APP_TOKEN}")
        with pytest.raises(relaykit.InvalidRequestError) as caught:
            await client.chat("fake/m", "again")
    assert answer.text == f"Your token is {APP_TOKEN}."  # the caller's own answer is whole
    seen = {
        "records": repr(records.records),
        "error": chain(caught.value) + repr(caught.value),
        "logs": caplog.text,
    }
    assert "remember [REDACTED]" in seen["records"]
    assert "Your token is [REDACTED]." in seen["records"]
    assert "token [REDACTED] is not allowed" in seen["error"]
    for where, text in seen.items():
        assert APP_TOKEN not in text, where


#: a key of no known shape, so only masking (not scrub's formats) hides it
_PLAIN_KEY = "plain-provider-key-5d1c9e7b3a"
_BASIC_PASSWORD = "basic-pass-8f2a6c"

#: one provider of each first-party type that holds a credential once built
_KEYED_PROVIDERS: dict[str, dict[str, Any]] = {
    "openai": {"api_key": _PLAIN_KEY},
    "anthropic": {"api_key": _PLAIN_KEY},
    "gemini": {"api_key": _PLAIN_KEY},
    "ollama": {"api_key": _PLAIN_KEY},
    "groq": {"api_key": _PLAIN_KEY},
    "azure": {"base_url": "https://res.openai.azure.com", "api_key": _PLAIN_KEY},
    "foundry-anthropic": {"resource": "res", "api_key": _PLAIN_KEY},
    "vertex": {"express": True, "api_key": _PLAIN_KEY},
    "vertex-anthropic": {"project": "p-1", "api_key": _PLAIN_KEY},
    "bedrock": {"region": "us-east-1", "api_key": _PLAIN_KEY},
    "bedrock-mantle": {"region": "us-east-1", "api_key": _PLAIN_KEY},
    "cohere": {"api_key": _PLAIN_KEY},
    "gateway-basic": {
        "type": "vllm",
        "base_url": f"https://gw-user:{_BASIC_PASSWORD}@gpu-box/v1",
    },
    "with-header": {"type": "openai", "api_key": "x" * 20, "headers": {"x-team-key": _PLAIN_KEY}},
}


@pytest.mark.parametrize("name", list(_KEYED_PROVIDERS))
def test_vars_of_a_built_provider_show_no_credential(
    name: str, closed_after: Callable[[relaykit.Client], relaykit.Client]
) -> None:
    """``vars(provider)`` (a debugger's view, ``pprint(vars(p))``, an error reporter that
    walks objects) shows each attribute's repr: the headers a provider sends are a
    SecretHeaders, masked there, as the provider's own repr is."""
    import base64
    import pprint

    client = closed_after(
        relaykit.Client(
            {"storage": {"backend": "none"}, "providers": {name: _KEYED_PROVIDERS[name]}}, env={}
        )
    )
    provider = client.provider(name)
    shown = repr(vars(provider)) + str(vars(provider)) + pprint.pformat(vars(provider))
    basic = base64.b64encode(f"gw-user:{_BASIC_PASSWORD}".encode()).decode()
    for secret in (_PLAIN_KEY, _BASIC_PASSWORD, basic):
        assert secret not in shown
