"""What relaykit-openai puts on the wire, beyond what the contract suite can see."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relaykit
from relaykit import ImagePart, Message, StreamError, ToolCall
from relaykit.events import TextDelta
from relaykit.sse import SSEDecoder
from relaykit.testing import OpenAIMock, Reply
from relaykit_openai import PRESETS, wire

KEY = "sk-test-0123456789abcdef0123"


def config(mock: OpenAIMock, **providers: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": providers or {"openai": {"base_url": mock.base_url, "api_key": KEY}},
    }


@pytest.mark.anyio
async def test_request_body_has_the_chat_completions_shape(mock: OpenAIMock) -> None:
    messages = [
        Message.system("sys"),
        Message.user("look", ImagePart(url="https://example.com/cat.png")),
        Message.assistant("", [ToolCall("call_1", "lookup", {"q": "cats"})]),
        Message.tool("call_1", "cats are great"),
    ]
    async with relaykit.Client(config(mock)) as client:
        await client.chat(
            "openai/gpt-4o-mini",
            messages,
            max_tokens=10,
            temperature=0.5,
            stop="END",
            seed=1,
            tools=[{"name": "lookup", "parameters": {"type": "object"}}],
            tool_choice="lookup",
            response_format={"type": "object"},
            extra={"user": "u-1", "logprobs": True},
        )
    body = mock.last_request.json()
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "cats"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "cats are great"},
    ]
    assert body["max_completion_tokens"] == 10 and "max_tokens" not in body
    assert (body["temperature"], body["stop"], body["seed"]) == (0.5, ["END"], 1)
    assert body["tools"] == [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    # a bare schema that does not close its object cannot be strict: sent non-strict
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}, "strict": False},
    }
    assert (body["user"], body["logprobs"]) == ("u-1", True)
    assert mock.last_request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.anyio
async def test_streaming_asks_for_usage(mock: OpenAIMock) -> None:
    async with (
        relaykit.Client(config(mock)) as client,
        client.stream("openai/gpt-4o-mini", "hi") as s,
    ):
        async for _ in s:
            pass
    body = mock.last_request.json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert s.response.usage.total_tokens > 0


@pytest.mark.anyio
async def test_compatible_presets_use_max_tokens_and_their_own_key(mock: OpenAIMock) -> None:
    cfg = config(mock, groq={"base_url": mock.base_url, "api_key": KEY})
    async with relaykit.Client(cfg) as client:
        await client.chat("groq/llama-3.3-70b-versatile", "hi", max_tokens=5)
    body = mock.last_request.json()
    assert body["max_tokens"] == 5 and "max_completion_tokens" not in body


@pytest.mark.anyio
async def test_organization_and_project_headers(mock: OpenAIMock) -> None:
    cfg = config(
        mock,
        openai={
            "base_url": mock.base_url,
            "api_key": KEY,
            "organization": "org-1",
            "project": "p-1",
        },
    )
    async with relaykit.Client(cfg) as client:
        await client.chat("openai/gpt-4o-mini", "hi")
    headers = mock.last_request.headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-1", "p-1")


def test_presets_cover_the_common_services() -> None:
    expected = {
        "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        "xai": ("https://api.x.ai/v1", "XAI_API_KEY"),
        "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
        "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        "fireworks": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        "cerebras": ("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
        "vllm": ("http://localhost:8000/v1", "VLLM_API_KEY"),
        "lmstudio": ("http://localhost:1234/v1", None),
        "ollama-openai": ("http://localhost:11434/v1", None),
    }
    assert {n: (p.default_base_url, p.api_key_env) for n, p in PRESETS.items()} == expected


def test_preset_key_comes_from_its_own_variable(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    client = closed_after(
        relaykit.Client(
            {"storage": {"backend": "none"}}, env={"XAI_API_KEY": "xai-key", "OPENAI_API_KEY": "no"}
        )
    )
    _, settings = client._registry.settings("xai")
    assert settings.api_key is not None and settings.api_key.reveal() == "xai-key"
    assert "xai-key" not in repr(client.provider("xai"))


@pytest.mark.anyio
async def test_stream_cut_before_done_is_a_stream_error(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text="cut", stream_fault="drop"))
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(StreamError):
            async with client.stream("openai/gpt-4o-mini", "hi") as s:
                async for _ in s:
                    pass


def test_usage_details_are_normalised() -> None:
    usage = wire.usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 20},
        }
    )
    assert usage == relaykit.Usage(100, 50, 60, 20)


def test_finish_reasons_are_normalised() -> None:
    def finish(raw: str | None) -> str:
        return wire.response(
            {"choices": [{"message": {"content": "x"}, "finish_reason": raw}]}
        ).finish_reason

    assert [
        finish(r) for r in ("stop", "length", "tool_calls", "function_call", "content_filter", None)
    ] == [
        "stop",
        "length",
        "tool_calls",
        "tool_calls",
        "content_filter",
        "other",
    ]


def _sample_stream() -> bytes:
    chunks = [
        {
            "id": "c",
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        },
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hé"}}]},
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "llo 🌍"}}]},
        {
            "id": "c",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ]
                    },
                }
            ],
        },
        {
            "id": "c",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]},
                }
            ],
        },
        {
            "id": "c",
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        },
        {
            "id": "c",
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        },
    ]
    return (
        b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)
        + b"data: [DONE]\r\n\r\n"
    )


def _events(pieces: list[bytes]) -> list[Any]:
    decoder = SSEDecoder()
    events: list[Any] = []
    state = wire.StreamState()
    for piece in pieces:
        for sse in decoder.feed(piece):
            if sse.data != "[DONE]":
                events += wire.chunk_events(json.loads(sse.data), state)
    return events


@settings(max_examples=50)
@given(st.data())
def test_stream_parsing_survives_any_split(data: st.DataObject) -> None:
    body = _sample_stream()
    whole = _events([body])
    assert any(isinstance(e, relaykit.ToolCallDelta) for e in whole)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert _events(pieces) == whole


def test_stream_parsing_byte_by_byte() -> None:
    body = _sample_stream()
    assert _events([body[i : i + 1] for i in range(len(body))]) == _events([body])


@pytest.mark.parametrize(
    ("delta", "extra", "expected"),
    [
        ({"content": "hi"}, {}, "hi"),
        ({"content": ""}, {}, ""),
        ({"role": "assistant", "content": "hi"}, {}, "hi"),
        ({"role": "assistant"}, {}, None),  # asks chunk_events, which gives no event
        ({"content": None}, {}, None),
        ({"content": "hi", "tool_calls": []}, {}, None),
        ({"reasoning_content": "hm"}, {}, None),
        ({"content": "hi"}, {"finish_reason": "stop"}, None),
        ({"content": "hi"}, {"index": 1}, None),
        ({"content": "", "refusal": "no"}, {}, None),  # a refusal is more than text
        ({"refusal": "no"}, {}, None),
    ],
)
def test_text_delta_agrees_with_chunk_events(
    delta: dict[str, object], extra: dict[str, object], expected: str | None
) -> None:
    chunk = {"id": "c", "choices": [{"index": 0, "delta": delta, **extra}]}
    assert wire.text_delta(chunk) == expected
    if expected is not None:
        state = wire.StreamState()
        state.started = True
        events = wire.chunk_events(chunk, state)
        assert events == ([TextDelta(expected)] if expected else [])


def test_text_delta_leaves_usage_and_many_choices_to_chunk_events() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 1}
    assert wire.text_delta({"choices": [{"delta": {"content": "a"}}], "usage": usage}) is None
    two = [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "b"}}]
    assert wire.text_delta({"choices": two}) is None
    assert wire.text_delta({"choices": []}) is None


def test_a_part_this_plugin_does_not_know_is_a_typed_refusal() -> None:
    # The client refuses non-parts before any plugin sees them; a Provider called
    # directly, or a part type from a newer relaykit, still meets this plugin's own check.
    odd = Message("user", (relaykit.TextPart("look:"), {"type": "text"}))  # type: ignore[arg-type]
    request = relaykit.ChatRequest(model="gpt-4o", messages=(odd,))
    with pytest.raises(relaykit.InvalidRequestError) as caught:
        wire.request_body(request, max_tokens_param="max_tokens", stream=False, stream_usage=False)
    e = caught.value
    assert "dict" in e.message and "Chat Completions" in e.message and e.status is None
    assert e.param == "messages.content" and e.hint is not None and "relaykit-openai" in e.hint
