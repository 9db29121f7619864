"""``BedrockProvider.count_tokens``: CountTokens (``/model/{modelId}/count-tokens``) on the mock."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ChatRequest,
    DocumentPart,
    InvalidRequestError,
    Message,
    ProviderUnavailableError,
    RateLimitError,
    TextPart,
    TokenCount,
    ToolCall,
)
from relaykit.testing.loopback import Request, Response
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_bedrock import BedrockProvider
from relaykit_bedrock.testing import BedrockMock, validate_count_tokens

from .conftest import MakeClient

MODEL_ID = "anthropic.claude-haiku-4-5-20251001-v1:0"
#: called through Anthropic's Messages API by default (relaykit_bedrock.claude_api)
OPUS_4_7 = "global.anthropic.claude-opus-4-7"


@asynccontextmanager
async def bedrock(client: relaykit.Client) -> AsyncIterator[BedrockProvider]:
    async with client:
        provider = client.provider("bedrock")
        assert isinstance(provider, BedrockProvider)
        yield provider


def conversation(model: str = MODEL_ID, **params: Any) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=(
            Message.system("Answer in one word."),
            Message.user("Weather in Paris?"),
            Message.assistant(
                "Checking.", tool_calls=[ToolCall("t1", "get_weather", {"city": "Paris"})]
            ),
            Message.tool("t1", '{"sky": "sunny"}'),
            Message.assistant("Sunny."),
            Message.user("And in Oslo tomorrow?"),
        ),
        tools=(relaykit.Tool.coerce(WEATHER_TOOL),),
        **params,
    )


@pytest.mark.anyio
async def test_count_tokens_sends_the_converse_prompt(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    request = conversation(max_tokens=20, temperature=0.5)
    async with bedrock(make_client()) as provider:
        # One token per word of the system (4) and text blocks (3+1+1+4).
        assert await provider.count_tokens(request) == 13
    r = mock.requests[-1]
    assert (r.method, r.path) == ("POST", f"/model/{quote(MODEL_ID, safe='')}/count-tokens")
    # SigV4-signed, and the mock recomputed the signature over this path and body.
    assert r.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    # Only the prompt: inferenceConfig has no place in a ConverseTokensRequest.
    assert r.json() == {
        "input": {
            "converse": {
                "messages": [
                    {"role": "user", "content": [{"text": "Weather in Paris?"}]},
                    {
                        "role": "assistant",
                        "content": [
                            {"text": "Checking."},
                            {
                                "toolUse": {
                                    "toolUseId": "t1",
                                    "name": "get_weather",
                                    "input": {"city": "Paris"},
                                }
                            },
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "toolResult": {
                                    "toolUseId": "t1",
                                    "content": [{"text": '{"sky": "sunny"}'}],
                                }
                            }
                        ],
                    },
                    {"role": "assistant", "content": [{"text": "Sunny."}]},
                    {"role": "user", "content": [{"text": "And in Oslo tomorrow?"}]},
                ],
                "system": [{"text": "Answer in one word."}],
                "toolConfig": {
                    "tools": [
                        {
                            "toolSpec": {
                                "name": "get_weather",
                                "description": "Current weather in a city",
                                "inputSchema": {"json": WEATHER_TOOL["parameters"]},
                            }
                        }
                    ]
                },
            }
        }
    }


@pytest.mark.anyio
async def test_client_count_tokens_is_bedrock_s_exact_count(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        count = await client.count_tokens(
            f"bedrock/{MODEL_ID}",
            [Message.system("Be brief."), Message.user("one two three")],
            tools=[WEATHER_TOOL],
            max_tokens=50,
        )
    assert count == TokenCount(5, exact=True)
    r = mock.requests[-1]
    assert r.path.endswith("/count-tokens")
    assert set(r.json()["input"]["converse"]) == {"messages", "system", "toolConfig"}


@pytest.mark.anyio
async def test_the_count_matches_what_converse_then_reports(make_client: MakeClient) -> None:
    async with bedrock(make_client()) as provider:
        counted = await provider.count_tokens(conversation())
        response = await provider.chat(conversation())
    assert counted == response.usage.input_tokens


@pytest.mark.anyio
async def test_a_refused_request_is_an_invalid_request_error(make_client: MakeClient) -> None:
    # A blank system block, put there by extra (the wire leaves blank text out).
    blank = ChatRequest(
        model=MODEL_ID, messages=(Message.user("Hi"),), extra={"system": [{"text": " "}]}
    )
    async with bedrock(make_client()) as provider:
        with pytest.raises(InvalidRequestError, match="must contain non-whitespace text") as info:
            await provider.count_tokens(blank)
    assert info.value.status == 400


@pytest.mark.anyio
async def test_a_wrong_secret_is_an_authentication_error_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    async with bedrock(make_client()) as provider:
        with pytest.raises(AuthenticationError, match="InvalidSignatureException") as info:
            await provider.count_tokens(conversation())
    err = info.value
    assert err.status == 403
    assert "x" * 40 not in f"{err} {err!r} {err.provider_message} {err.hint}"


@pytest.mark.anyio
async def test_a_wrong_api_key_is_an_authentication_error_without_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "ABSKd3Jvbmcta2V5LXZhbHVl"
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", wrong)
    with BedrockMock(bearer_token="ABSKcmlnaHQta2V5LXZhbHVl") as mock:
        config = {
            "storage": {"backend": "none"},
            "providers": {"bedrock": {"base_url": mock.base_url}},
        }
        async with bedrock(relaykit.Client(config)) as provider:
            with pytest.raises(AuthenticationError, match="UnrecognizedClientException") as info:
                await provider.count_tokens(conversation())
        assert mock.requests[-1].headers["authorization"] == f"Bearer {wrong}"
    err = info.value
    assert wrong not in f"{err} {err!r} {err.provider_message} {err.hint}"


@pytest.mark.anyio
async def test_count_tokens_connection_failure_is_typed(make_client: MakeClient) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with bedrock(make_client(base_url=url)) as provider:
        with pytest.raises(ProviderUnavailableError):
            await provider.count_tokens(conversation())


def test_the_mock_checks_the_count_tokens_body() -> None:
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    assert validate_count_tokens({"input": {"converse": {"messages": messages}}}) is None
    assert "'input'" in str(validate_count_tokens({"converse": {"messages": messages}}))
    assert "input.converse.messages" in str(validate_count_tokens({"input": {"converse": {}}}))
    both = {"converse": {"messages": messages}, "invokeModel": {"body": "{}"}}
    assert "exactly one" in str(validate_count_tokens({"input": both}))
    sampled = {"messages": messages, "inferenceConfig": {"maxTokens": 5}}
    assert "inferenceConfig" in str(validate_count_tokens({"input": {"converse": sampled}}))
    # The conversation itself is checked as Converse checks it.
    backwards = [{"role": "assistant", "content": [{"text": "hi"}]}]
    assert "start with a user" in str(
        validate_count_tokens({"input": {"converse": {"messages": backwards}}})
    )


# -- the Messages API's models: their body, as an InvokeModel body ----------------------


def invoked(body: dict[str, Any]) -> Any:
    """The InvokeModel body a CountTokens request carries (``input.invokeModel.body``)."""
    (form,) = body["input"]
    assert form == "invokeModel"
    return json.loads(base64.b64decode(body["input"]["invokeModel"]["body"], validate=True))


@pytest.mark.anyio
async def test_a_messages_api_model_counts_the_body_its_call_sends(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # metadata is a Messages API field Converse lacks: extra sends it as it is.
    request = conversation(OPUS_4_7, max_tokens=300, extra={"metadata": {"user_id": "u-7"}})
    async with bedrock(make_client()) as provider:
        counted = await provider.count_tokens(request)
        response = await provider.chat(request)
    count, chat = mock.requests
    assert count.path == f"/model/{quote(OPUS_4_7, safe='')}/count-tokens"
    sent = chat.json()
    assert sent["metadata"] == {"user_id": "u-7"} and sent["model"] == OPUS_4_7
    # The whole body, but what InvokeModel takes elsewhere (model in its path).
    assert invoked(count.json()) == {k: v for k, v in sent.items() if k != "model"}
    assert counted == response.usage.input_tokens == 13


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "claude_api", "form"),
    [
        (OPUS_4_7, None, "invokeModel"),
        (OPUS_4_7, "converse", "converse"),
        (MODEL_ID, "messages", "invokeModel"),
        (MODEL_ID, None, "converse"),
        ("amazon.nova-pro-v1:0", "messages", "converse"),  # Claude only
    ],
)
async def test_the_form_follows_the_api_the_call_goes_through(
    mock: BedrockMock, make_client: MakeClient, model: str, claude_api: str | None, form: str
) -> None:
    async with bedrock(make_client(claude_api=claude_api)) as provider:
        assert await provider.count_tokens(conversation(model)) == 13
    assert list(mock.requests[-1].json()["input"]) == [form]


@pytest.mark.anyio
async def test_a_stream_setting_is_not_counted(mock: BedrockMock, make_client: MakeClient) -> None:
    # The body has no stream key even when extra gives one: InvokeModel's schema refuses it.
    request = conversation(OPUS_4_7, extra={"stream": False})
    async with bedrock(make_client()) as provider:
        assert await provider.count_tokens(request) == 13
    body = invoked(mock.requests[-1].json())
    assert "stream" not in body and "model" not in body
    assert body["anthropic_version"] == "bedrock-2023-05-31"


@pytest.mark.anyio
async def test_what_the_messages_api_refuses_is_refused_before_counting(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Converse reads Word files; the Messages API does not, so neither does its count.
    word = DocumentPart(
        data=b"PK\x03\x04",
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        name="notes.docx",
    )
    request = ChatRequest(model=OPUS_4_7, messages=(Message.user([TextPart("Sum up"), word]),))
    async with bedrock(make_client()) as provider:
        with pytest.raises(InvalidRequestError, match="reads PDF and text documents") as info:
            await provider.count_tokens(request)
    assert info.value.status is None
    assert not mock.requests


def test_the_mock_checks_the_invoke_model_body() -> None:
    def counted(body: Any, model_id: str = OPUS_4_7) -> str | None:
        encoded = base64.b64encode(json.dumps(body).encode()).decode()
        return validate_count_tokens({"input": {"invokeModel": {"body": encoded}}}, model_id)

    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    good = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": messages}
    assert counted(good) is None
    assert "extraneous key [model]" in str(counted({**good, "model": OPUS_4_7}))
    assert "extraneous key [stream]" in str(counted({**good, "stream": True}))
    no_tokens = {k: v for k, v in good.items() if k != "max_tokens"}
    assert "required key [max_tokens] not found" in str(counted(no_tokens))
    assert "expected type: JSONObject" in str(counted([good]))
    # Checked as the Messages route checks its body.
    backwards = [{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}]
    assert "user role" in str(counted({**good, "messages": backwards}))
    assert "Claude models only" in str(counted(good, "amazon.nova-pro-v1:0"))
    raw = {"input": {"invokeModel": {"body": "{not base64}"}}}
    assert "not base64" in str(validate_count_tokens(raw, OPUS_4_7))
    missing: dict[str, Any] = {"input": {"invokeModel": {}}}
    assert "input.invokeModel.body" in str(validate_count_tokens(missing, OPUS_4_7))


#: a page a captive portal or a proxy's sign-in answers with, status 200
SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>"


def answer_count_with(
    mock: BedrockMock, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> None:
    """Answer ``mock``'s CountTokens requests with ``body`` and status 200 (a proxy's
    or a gateway's answer, in place of ``{"inputTokens": n}``)."""

    async def rewrite(request: Request, response: Response) -> Response:
        if not request.path.endswith("/count-tokens"):
            return response
        return Response(200, {"content-type": content_type, **(headers or {})}, body)

    mock.rewrite = rewrite


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "headers", "expected", "named"),
    [
        (
            {"__type": "ThrottlingException", "message": "Too many requests, please wait."},
            {},
            RateLimitError,
            "ThrottlingException",
        ),
        (
            {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad input"},
            {},
            InvalidRequestError,
            "ValidationException",
        ),
        (
            {"message": "The security token included in the request is expired"},
            {"x-amzn-ErrorType": "ExpiredTokenException:http://internal.amazon.com/coral/"},
            AuthenticationError,
            "ExpiredTokenException",
        ),
        (
            {"Message": "Service unavailable"},
            {"x-amzn-ErrorType": "ServiceUnavailableException"},
            ProviderUnavailableError,
            "ServiceUnavailableException",
        ),
    ],
    ids=["__type throttled", "__type with namespace", "header expired token", "header 503"],
)
async def test_an_aws_error_sent_with_status_200_in_place_of_the_count_is_that_error(
    mock: BedrockMock,
    make_client: MakeClient,
    body: dict[str, Any],
    headers: dict[str, str],
    expected: type[relaykit.RelayError],
    named: str,
) -> None:
    answer_count_with(mock, json.dumps(body).encode(), "application/json", headers)
    async with bedrock(make_client()) as provider:
        with pytest.raises(expected, match=named) as info:
            counted = await provider.count_tokens(conversation())
            pytest.fail(f"counted as {counted}")
    assert info.value.provider == "bedrock" and info.value.model == MODEL_ID


@pytest.mark.anyio
async def test_an_error_object_sent_with_status_200_in_place_of_the_count_is_that_error(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # as OpenAI-compatible gateways in front of Bedrock word one
    error = {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": 429}}
    answer_count_with(mock, json.dumps(error).encode(), "application/json")
    async with bedrock(make_client()) as provider:
        with pytest.raises(RateLimitError, match="Rate limit reached"):
            await provider.count_tokens(conversation())


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        (SIGN_IN_PAGE, "text/html", "Sign in"),
        (b"{}", "application/json", "{}"),
        (b'{"inputTokens": "many"}', "application/json", "many"),
        (b'{"inputTokens": -3}', "application/json", "-3"),
        (b"[1, 2]", "application/json", "[1, 2]"),
        (b'{"inputTokens": 1', "application/json", "inputTokens"),
        (b"", "application/json", "no body"),
    ],
    ids=["html page", "empty object", "a string", "negative", "a list", "cut short", "empty"],
)
async def test_a_200_that_is_no_count_is_a_malformed_response_naming_what_came(
    mock: BedrockMock, make_client: MakeClient, body: bytes, content_type: str, shown: str
) -> None:
    answer_count_with(mock, body, content_type)
    async with bedrock(make_client()) as provider:
        with pytest.raises(ProviderUnavailableError) as info:
            counted = await provider.count_tokens(conversation())
            pytest.fail(f"counted as {counted}")
    err = info.value
    assert err.retryable and err.status == 200
    assert "CountTokens" in str(err) and "inputTokens" in str(err)
    assert shown in str(err)
