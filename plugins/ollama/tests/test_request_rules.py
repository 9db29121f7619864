"""What Ollama's /api/chat refuses, and what it takes that other vendors refuse.

Ollama checks a request's types, its model's capabilities and the model's
name; it checks nothing of a conversation's shape (server/routes.go ChatHandler:
the messages go to the model's template as they are, and server/prompt.go takes
the images of every message, whatever its role). So the wire sends such a
conversation as it is, and the mock takes it; a model without the tools
capability refuses ``tools`` (400, ollama#14795), and a bad option or
``format`` is refused with 500, where Ollama loads or runs the model.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import ImagePart, InvalidRequestError, Message, ProviderUnavailableError, ToolCall
from relaykit.testing.provider_contract import PNG, WEATHER_TOOL
from relaykit.testing.tool_histories import CROSS_PROVIDER_IDS, TOOL_NAMES, cross_provider_tool_run
from relaykit_ollama.testing import OllamaMock
from relaykit_ollama.testing import client_for as client

B64_PNG = base64.b64encode(PNG).decode()


def post(mock: OllamaMock, **body: Any) -> httpx.Response:
    body = {"model": "llama3.2", "stream": False, **body}
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return httpx.post(f"{mock.base_url}/api/chat", json=body)


@pytest.mark.anyio
async def test_a_conversation_other_vendors_refuse_is_sent_as_it_is(mock: OllamaMock) -> None:
    image = ImagePart(data=PNG, media_type="image/png")
    call = ToolCall("c1", "get_weather", {"city": "Rome"})
    messages = [
        Message.user("   "),  # whitespace only
        Message.user("Weather in Rome?"),  # two user turns in a row
        Message.assistant("Here is the chart.", []),
        Message("assistant", ("Look:", image)),  # an image in an assistant turn
        Message.system("Answer in French."),  # a system message mid-way
        Message.user(""),  # empty
        Message.assistant("", [call]),
        Message.tool("c1", ""),  # an empty tool result
    ]
    async with client(mock) as c:
        await c.chat("ollama/llava:7b", messages)
    sent = mock.last_request.json()["messages"]
    assert sent == [
        {"role": "user", "content": "   "},
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": "Here is the chart."},
        {"role": "assistant", "content": "Look:", "images": [B64_PNG]},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": ""},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Rome"}},
                }
            ],
        },
        {"role": "tool", "content": "", "tool_call_id": "c1", "tool_name": "get_weather"},
    ]


def test_mock_refuses_tools_for_a_model_without_the_capability(mock: OllamaMock) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    r = post(mock, model="llava:7b", tools=[tool])
    assert r.status_code == 400
    assert r.json() == {"error": "registry.ollama.ai/library/llava:7b does not support tools"}
    assert post(mock, model="llava", tools=[tool]).status_code == 404  # no llava:latest here
    assert post(mock, model="llama3.2", tools=[tool]).status_code == 200
    assert post(mock, model="llava:7b").status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_tools_for_a_model_without_the_capability_is_an_invalid_request(
    mock: OllamaMock, streamed: bool
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="does not support tools") as info:
            if streamed:
                async with c.stream("ollama/llava:7b", "Weather?", tools=[WEATHER_TOOL]) as s:
                    async for _ in s:
                        pass
            else:
                await c.chat("ollama/llava:7b", "Weather?", tools=[WEATHER_TOOL])
    assert info.value.status == 400
    assert (info.value.provider, info.value.model) == ("ollama", "llava:7b")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"options": {"seed": "7"}}, 'option "seed" must be of type integer'),
        ({"options": {"num_predict": True}}, 'option "num_predict" must be of type integer'),
        ({"options": {"temperature": "hot"}}, 'option "temperature" must be of type float32'),
        ({"options": {"stop": "END"}}, 'option "stop" must be of type array'),
        ({"options": {"stop": ["END", 1]}}, 'option "stop" must be of an array of strings'),
        (
            {"format": "yaml"},
            'invalid format: "\\"yaml\\""; expected "json" or a valid JSON Schema object',
        ),
        (
            {"format": ["json"]},
            'invalid format: "[\\"json\\"]"; expected "json" or a valid JSON Schema object',
        ),
    ],
)
def test_mock_refuses_bad_options_and_formats_as_ollama_does(
    mock: OllamaMock, body: dict[str, Any], message: str
) -> None:
    r = post(mock, **body)
    assert r.status_code == 500
    assert r.json() == {"error": message}


@pytest.mark.anyio
async def test_the_wire_sends_options_and_format_of_the_types_ollama_reads(
    mock: OllamaMock,
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    async with client(mock) as c:
        await c.chat(
            "ollama/llama3.2",
            "hi",
            max_tokens=5,
            temperature=1,
            top_p=1,
            seed=3,
            stop=["x"],
            response_format=schema,
        )
    body = mock.last_request.json()
    assert body["options"] == {
        "num_predict": 5,
        "temperature": 1,
        "top_p": 1,
        "seed": 3,
        "stop": ["x"],
    }
    assert body["format"] == schema


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"options": {"top_k": "20"}}, 'option "top_k" must be of type integer'),
        ({"format": "yaml"}, "invalid format: "),
    ],
)
async def test_a_bad_option_or_format_in_extra_is_an_invalid_request_not_an_outage(
    mock: OllamaMock, extra: dict[str, Any], words: str
) -> None:
    # Ollama answers it with 500, which would otherwise be a retryable outage:
    # retried, then counted against the deployment's health, for the caller's mistake.
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0, "max_wait": 0},
        "providers": {"ollama": {"base_url": mock.base_url}},
    }
    async with relaykit.Client(config, env={}) as c:
        with pytest.raises(InvalidRequestError) as info:
            await c.chat("ollama/llama3.2", "hi", extra=extra)
    assert len(mock.requests) == 1  # not retried
    error = info.value
    assert type(error) is InvalidRequestError and not error.retryable
    assert error.status == 500 and error.message.startswith(words)
    assert "extra" in str(error.hint)
    assert not isinstance(error, ProviderUnavailableError)


@pytest.mark.parametrize(
    ("path", "go_type"), [("/api/chat", "ChatRequest"), ("/api/embed", "EmbedRequest")]
)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        # Ollama's handlers answer Go's JSON decoder's error as it is (server/routes.go)
        (b"", "missing request body"),
        (b"  \n", "missing request body"),
        (b'{"model": "llama3.2"', "unexpected EOF"),
        (b"{not json", "invalid character 'n' looking for beginning of value"),
        (b"[1]", "json: cannot unmarshal array into Go value of type api.{go_type}"),
        (b'"hi"', "json: cannot unmarshal string into Go value of type api.{go_type}"),
        (b"7", "json: cannot unmarshal number into Go value of type api.{go_type}"),
        (b"null", "model is required"),  # null decodes to an empty request
        (b'{"model": NaN}', "invalid character 'N' looking for beginning of value"),
        (b'{"model": -Infinity}', "invalid character 'I' in numeric literal"),
    ],
)
def test_a_body_ollama_cannot_decode_is_refused_in_gos_words(
    path: str, go_type: str, content: bytes, message: str
) -> None:
    # Before, each was answered in the mock's own words ("invalid character in request
    # body", "invalid request body").
    with OllamaMock() as mock:
        r = httpx.post(f"{mock.base_url}{path}", content=content, timeout=10)
        assert not mock.failures
    assert r.status_code == 400, r.text
    assert r.json() == {"error": message.format(go_type=go_type)}


@pytest.mark.parametrize("path", ["/api/chat", "/api/embed"])
def test_bytes_that_are_not_utf8_are_read_as_go_reads_them(path: str) -> None:
    # Go's decoder reads them as U+FFFD; Python's raised on them (a 500).
    with OllamaMock() as mock:
        r = httpx.post(f"{mock.base_url}{path}", content=b'{"model": "llama\xff"}', timeout=10)
        assert not mock.failures
    assert r.status_code == 404, r.text
    assert r.json() == {"error": "model 'llama\ufffd' not found"}


@pytest.mark.anyio
async def test_tool_call_ids_of_other_providers_are_sent_as_they_are(mock: OllamaMock) -> None:
    # Ollama checks no id (its tool messages also name the tool: tool_name; the
    # messages go to the model's template as they are), so ids an earlier answer
    # used, or of any form, go as the history holds them.
    tools = [{"name": n, "parameters": {"type": "object"}} for n in TOOL_NAMES]
    async with client(mock) as c:
        r = await c.chat("ollama/llama3.2", cross_provider_tool_run(), tools=tools)
    assert r.text
    sent = mock.last_request.json()["messages"]
    calls = [call["id"] for m in sent for call in m.get("tool_calls") or ()]
    results = [(m["tool_call_id"], m["content"]) for m in sent if m["role"] == "tool"]
    assert calls == list(CROSS_PROVIDER_IDS)
    assert results == list(zip(calls, "ABCDEFG", strict=True))


#: Ollama Cloud's 429s when an account's usage window is spent: no Retry-After, and
#: the window resets in hours or days (continue#9233, continue#11444, hermes-agent#68832)
USAGE_LIMITS = [
    "you've reached your hourly usage limit, please wait or upgrade to continue",
    "you (ann) have reached your session usage limit, upgrade for higher limits: "
    "https://ollama.com/upgrade",
    "you (ann) have reached your weekly usage limit, upgrade for higher limits: "
    "https://ollama.com/upgrade or add extra usage: https://ollama.com/settings",
]


def retrying_client(mock: OllamaMock, attempts: int) -> relaykit.Client:
    retry = {"attempts": attempts, "initial_wait": 0, "max_retry_after": 0}
    providers = {"ollama": {"base_url": mock.base_url}}
    return relaykit.Client({"storage": {"backend": "none"}, "retry": retry, "providers": providers})


@pytest.mark.anyio
@pytest.mark.parametrize("said", USAGE_LIMITS)
async def test_a_cloud_usage_limit_reached_is_not_retried(mock: OllamaMock, said: str) -> None:
    mock.script.fail(429, said)
    mock.script.reply("too late")
    async with retrying_client(mock, 3) as c:
        with pytest.raises(relaykit.RateLimitError) as info:
            await c.chat("ollama/gpt-oss:20b", "hi")
    assert len(mock.requests) == 1
    assert info.value.should_retry is False
    assert info.value.hint is not None and "usage limit" in info.value.hint


@pytest.mark.anyio
async def test_a_plain_429_is_retried(mock: OllamaMock) -> None:
    mock.script.fail(429, "too many requests")
    mock.script.reply("Hello")
    async with retrying_client(mock, 2) as c:
        answer = await c.chat("ollama/gpt-oss:20b", "hi")
    assert answer.text and len(mock.requests) == 2
