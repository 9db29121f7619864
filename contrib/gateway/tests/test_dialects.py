"""The two dialects' translation, case by case (no HTTP: the SDK tests cover the wire)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relaykit import (
    ChatResponse,
    ImagePart,
    InvalidRequestError,
    ReasoningDelta,
    ReasoningPart,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolResultPart,
    Usage,
    UsageUpdate,
)
from relaykit_gateway.anthropic_dialect import AnthropicDialect
from relaykit_gateway.openai_dialect import OpenAIDialect
from relaykit_gateway.responses_dialect import ResponsesDialect

OPENAI = OpenAIDialect()
ANTHROPIC = AnthropicDialect()
USER = [{"role": "user", "content": "hi"}]


def frames(data: bytes) -> list[tuple[str | None, Any]]:
    """Server-sent events as (event name, decoded data) pairs."""
    out: list[tuple[str | None, Any]] = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        payload = lines["data"]
        out.append((lines.get("event"), payload if payload == "[DONE]" else json.loads(payload)))
    return out


# -- OpenAI -------------------------------------------------------------------------


def test_openai_parameters_map_to_relaykits_and_the_rest_go_to_the_provider() -> None:
    call = OPENAI.parse(
        {
            "model": "fake/m",
            "messages": [{"role": "developer", "content": "Be brief."}, *USER],
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "temperature": None,
            "stop": "END",
            "seed": 7,
            "stream": True,
            "stream_options": {"include_usage": True},
            "logit_bias": {"50256": -100},
            "service_tier": None,
        },
        aliases=(),
    )
    assert call.model == "fake/m"
    assert [m.role for m in call.messages] == ["system", "user"]
    assert call.params == {
        "max_tokens": 20,  # max_completion_tokens, the newer name, wins
        "stop": "END",
        "seed": 7,
        "extra": {"logit_bias": {"50256": -100}},
    }
    assert call.stream and call.include_usage


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake/m"}, "messages"),
        ({"model": "", "messages": USER}, "model"),
        ({"model": 3, "messages": USER}, "model"),
        ({"model": "fake/m", "messages": USER, "metadata": {"n": 1}}, "metadata"),
        ({"model": "fake/m", "messages": USER, "n": 3}, "n"),
        ({"model": "fake/m", "messages": [{"role": "user"}, {"role": "x"}]}, "messages[1].role"),
    ],
)
def test_openai_bad_input_names_its_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        OPENAI.parse(body, aliases=())
    assert caught.value.param == param


def test_openai_response_keeps_unparsed_arguments_and_maps_other_to_stop() -> None:
    response = ChatResponse(
        tool_calls=(ToolCall("c1", "f", raw_arguments="{not json"),),
        finish_reason="other",
        reasoning="because",
        usage=Usage(5, 7, 2, 3),
    )
    body = OPENAI.response(response, "fake/m")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == "{not json"
    assert choice["message"]["reasoning_content"] == "because"
    assert body["model"] == "fake/m"
    assert body["id"].startswith("chatcmpl-")
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_an_openai_stream_with_nothing_in_it_still_says_who_spoke_and_ends() -> None:
    call = OPENAI.parse({"model": "fake/m", "messages": USER, "stream": True}, aliases=())
    encoder = OPENAI.encoder(call)
    out = encoder.event(StreamStart("resp-1", "m-2")) + encoder.end(ChatResponse())
    (_, first), (_, last), (_, done) = frames(out)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert (first["id"], first["model"]) == ("resp-1", "m-2")
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["id"] == "resp-1"
    assert done == "[DONE]"


# -- Anthropic ----------------------------------------------------------------------


def test_anthropic_blocks_become_relaykit_messages_in_order() -> None:
    call = ANTHROPIC.parse(
        {
            "model": "fake/m",
            "max_tokens": 5,
            "system": [{"type": "text", "text": "One. "}, {"type": "text", "text": "Two."}],
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Before."},
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "sunny"}],
                            "is_error": True,
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/a.png"},
                        },
                    ],
                },
            ],
            "top_k": 5,
            "metadata": {"user_id": "u-1"},
            "tools": [{"name": "w", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "w"},
        },
        aliases=(),
    )
    assert [(m.role, m.content) for m in call.messages] == [
        ("system", (TextPart("One. "), TextPart("Two."))),
        ("user", (TextPart("Weather?"),)),
        ("assistant", (ToolCall("t1", "w", {}),)),
        ("user", (TextPart("Before."),)),
        ("tool", (ToolResultPart("t1", "sunny", is_error=True),)),
        ("user", (ImagePart(url="https://example.com/a.png"),)),
    ]
    assert call.params == {
        "max_tokens": 5,
        "tools": [Tool("w", parameters={"type": "object"})],
        "tool_choice": ToolChoice("tool", "w"),
        "metadata": {"user": "u-1"},
        "extra": {"top_k": 5},
    }


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([], "messages"),
        ([{"role": "system", "content": "x"}], "messages.0"),
        ([{"role": "user", "content": 3}], "messages.0.content"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}],
                }
            ],
            "messages.0.content.0.type",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [{"type": "image", "source": {}}],
                        }
                    ],
                }
            ],
            "messages.0.content.0.content.0.source",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [{"type": "tool_use", "id": "u", "name": "n", "input": {}}],
                        }
                    ],
                }
            ],
            "messages.0.content.0.content.0",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "!!"},
                        }
                    ],
                }
            ],
            "messages.0.content.0.source.data",
        ),
    ],
)
def test_anthropic_bad_input_names_its_field(messages: list[Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ANTHROPIC.parse({"model": "fake/m", "max_tokens": 5, "messages": messages}, aliases=())
    assert caught.value.param == param


def test_anthropic_stream_blocks_open_and_close_as_the_events_change_kind() -> None:
    call = ANTHROPIC.parse(
        {"model": "fake/m", "max_tokens": 9, "messages": USER, "stream": True}, aliases=()
    )
    encoder = ANTHROPIC.encoder(call)
    events: list[StreamEvent] = [
        StreamStart("msg_01", "m-2"),
        UsageUpdate(Usage(input_tokens=12)),
        ReasoningDelta("a", new_block=True, origin="anthropic"),
        ReasoningDelta("", "sig-a"),
        ReasoningDelta(redacted="opaque", new_block=True),
        ReasoningDelta("b", new_block=True, origin="bedrock"),
        ReasoningDelta("", "sig-foreign"),
        TextDelta("Hi"),
        ToolCallDelta(0, "t1", "w", '{"a"'),
        ToolCallDelta(0, None, None, ": 1}"),
    ]
    out = b"".join(encoder.event(e) for e in events)
    out += encoder.end(ChatResponse(finish_reason="tool_calls", usage=Usage(12, 4)))
    seen = [
        (name, data.get("index"), data.get("content_block") or data.get("delta"))
        for name, data in frames(out)
    ]
    start = frames(out)[0][1]["message"]
    assert (start["id"], start["model"], start["usage"]["input_tokens"]) == ("msg_01", "m-2", 12)
    assert seen[1] == ("ping", None, None)  # as Anthropic's stream opens
    assert seen[2:] == [
        ("content_block_start", 0, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "a"}),
        ("content_block_delta", 0, {"type": "signature_delta", "signature": "sig-a"}),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, {"type": "redacted_thinking", "data": "opaque"}),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 2, {"type": "thinking_delta", "thinking": "b"}),
        ("content_block_stop", 2, None),  # Bedrock's signature is not passed on
        ("content_block_start", 3, {"type": "text", "text": ""}),
        ("content_block_delta", 3, {"type": "text_delta", "text": "Hi"}),
        ("content_block_stop", 3, None),
        ("content_block_start", 4, {"type": "tool_use", "id": "t1", "name": "w", "input": {}}),
        ("content_block_delta", 4, {"type": "input_json_delta", "partial_json": '{"a"'}),
        ("content_block_delta", 4, {"type": "input_json_delta", "partial_json": ": 1}"}),
        ("content_block_stop", 4, None),
        ("message_delta", None, {"stop_reason": "tool_use", "stop_sequence": None}),
        ("message_stop", None, None),
    ]


def test_only_openai_s_encrypted_reasoning_reaches_a_responses_client() -> None:
    dialect = ResponsesDialect()
    response = ChatResponse(
        text="hi",
        reasoning_parts=(
            ReasoningPart("mine", redacted="enc-1", origin="openai-responses"),
            ReasoningPart(redacted="anthropic-secret", origin="anthropic"),
        ),
    )
    items = [i for i in dialect.response(response, "m")["output"] if i["type"] == "reasoning"]
    assert [i.get("encrypted_content") for i in items] == ["enc-1", None]
    encoder = dialect.encoder(dialect.parse({"model": "openai/m", "input": "hi"}, ()))
    frames = encoder.event(ReasoningDelta(new_block=True, redacted="x", origin="anthropic"))
    assert frames == b""


def test_the_response_store_forgets_the_oldest_and_the_expired() -> None:
    from relaykit import Message
    from relaykit_gateway.response_store import ENTRY_CHARS, MESSAGE_CHARS, ResponseStore

    held = ENTRY_CHARS + MESSAGE_CHARS  # what a response of one message counts besides text
    now = [0.0]
    store = ResponseStore(ttl=60, max_chars=10 + 2 * held, clock=lambda: now[0])
    store.put("alice", "a", (Message.user("aaaa"),))
    store.put("alice", "b", (Message.user("bbbb"),))
    assert store.get("alice", "a") is not None  # a is now the most recently used
    assert store.get("bob", "a") is None  # another caller's
    store.put(None, "c", (Message.user("cccc"),))  # 12 characters of text: b, the oldest used, goes
    assert (store.get("alice", "b"), len(store)) == (None, 2)
    store.put(None, "huge", (Message.user("x" * (11 + held)),))  # larger than the store: not kept
    assert store.get(None, "huge") is None and len(store) == 2
    now[0] = 61
    assert store.get("alice", "a") is None and store.get(None, "c") is None


@pytest.mark.parametrize("choice", [{"type": "auto"}, {"type": "any", "name": "w"}])
def test_anthropic_tool_choice_is_read_as_the_core_reads_it(choice: dict[str, Any]) -> None:
    body = {"model": "fake/m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    if "name" in choice:  # not a shape Anthropic has: refused, naming the forms
        with pytest.raises(InvalidRequestError, match="tool_choice"):
            AnthropicDialect().parse({**body, "tool_choice": choice}, ())
    else:
        call = AnthropicDialect().parse({**body, "tool_choice": choice}, ())
        assert call.params["tool_choice"] == ToolChoice("auto")


def test_anthropic_disable_parallel_tool_use_is_refused_not_dropped() -> None:
    body = {
        "model": "fake/m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    }
    with pytest.raises(InvalidRequestError) as caught:
        AnthropicDialect().parse(body, ())
    assert caught.value.param == "tool_choice.disable_parallel_tool_use"


def test_openai_dialect_passes_a_messages_name_through() -> None:
    body = {
        "model": "fake/m",
        "messages": [
            {"role": "system", "content": "Two people talk."},
            {"role": "user", "name": "alice", "content": "hi"},
        ],
    }
    call = OpenAIDialect().parse(body, ())
    assert [m.name for m in call.messages] == [None, "alice"]
    body["messages"][1]["name"] = "alice smith"  # type: ignore[index]
    with pytest.raises(InvalidRequestError) as caught:
        OpenAIDialect().parse(body, ())
    assert caught.value.param == "messages[1].name"
