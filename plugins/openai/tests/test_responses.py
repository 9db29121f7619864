"""relaykit-openai's Responses API mode: what goes on the wire, what comes back."""

from __future__ import annotations

import json
from typing import Any

import pytest

import relaykit
from relaykit import (
    ConfigError,
    ImagePart,
    InvalidRequestError,
    Message,
    NotFoundError,
    ReasoningPart,
    StreamError,
    ToolCall,
)
from relaykit.events import ReasoningDelta
from relaykit.testing import LoopbackServer, OpenAIMock, Reply, Request, Response
from relaykit.testing.openai_responses import encrypted_reasoning
from relaykit.testing.sample_files import PDF, PNG
from relaykit_openai import responses_wire, sampling_rules
from relaykit_openai.api_choice import responses_only

KEY = "sk-test-0123456789abcdef0123"
ORIGIN = "openai-responses"


def config(mock: OpenAIMock, api: str | None = "responses", **more: Any) -> dict[str, Any]:
    openai: dict[str, Any] = {"base_url": mock.base_url, "api_key": KEY, **more}
    if api is not None:
        openai["api"] = api
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": openai},
    }


async def drain(client: relaykit.Client, model: str, messages: Any, **kw: Any) -> Any:
    async with client.stream(model, messages, **kw) as s:
        events = [e async for e in s]
    return s.response, events


# -- requests ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_every_item_and_part_it_sends_is_of_a_shape_the_api_takes(
    mock: OpenAIMock, streamed: bool
) -> None:
    """The mock refuses a body of the wrong shape in OpenAI's words
    (relaykit.testing.openai_responses_shapes): a conversation with each item and
    part the encoder makes, and each field it sets, is answered."""
    pdf = relaykit.DocumentPart(data=PDF, name="rules.pdf")
    messages = [
        Message(
            "system",
            (relaykit.TextPart("be brief"), ImagePart(data=PNG, media_type="image/png"), pdf),
        ),
        Message(
            "user",
            (
                relaykit.TextPart("what do they say?"),
                relaykit.DocumentPart(url="https://example.com/a.pdf"),
            ),
        ),
        Message(
            "assistant",
            (
                ReasoningPart("read", redacted=encrypted_reasoning("read"), origin=ORIGIN),
                relaykit.TextPart("Looking."),
                ToolCall("call_1", "lookup", {"q": "rules"}),
            ),
        ),
        Message.tool("call_1", "found", ImagePart(data=PNG, media_type="image/png"), pdf),
        Message.user("and?"),
    ]
    fields: dict[str, Any] = {
        "max_tokens": 64,
        # o4-mini takes no other while it reasons (refused unsent: test_sampling_rules)
        "temperature": 1.0,
        "top_p": 1.0,
        "tools": [{"name": "lookup", "description": "Look up", "parameters": {"type": "object"}}],
        "tool_choice": "lookup",
        "response_format": {"type": "object", "properties": {}},
        "reasoning": relaykit.Reasoning("low", summary=True),
        "web_search": True,
    }
    async with relaykit.Client(config(mock)) as client:
        if streamed:
            await drain(client, "openai/o4-mini", messages, **fields)
        else:
            await client.chat("openai/o4-mini", messages, **fields)
    body = mock.last_request.json()
    kinds = {item.get("type", item.get("role")) for item in body["input"]}
    parts = {
        part["type"]
        for item in body["input"]
        for part in (item.get("content") or item.get("output") or [])
        if isinstance(part, dict)
    }
    assert kinds == {
        "system",
        "user",
        "assistant",
        "reasoning",
        "function_call",
        "function_call_output",
    }
    assert parts == {"input_text", "input_image", "input_file", "output_text"}
    assert {"text", "reasoning", "tool_choice", "max_output_tokens", "include"} <= set(body)


@pytest.mark.anyio
async def test_a_tool_extra_gives_is_sent_and_an_unknown_type_is_the_apis_400(
    mock: OpenAIMock,
) -> None:
    # extra's tools replace the body's: a built-in tool OpenAI knows is answered, a
    # type it does not know gets its 400 (relaykit.testing.openai_responses_shapes),
    # a typed error naming the place.
    code = {"type": "code_interpreter", "container": {"type": "auto"}}
    async with relaykit.Client(config(mock)) as client:
        await client.chat("openai/gpt-4.1", "hi", extra={"tools": [code]})
        assert mock.last_request.json()["tools"] == [code]
        with pytest.raises(InvalidRequestError) as info:
            await client.chat(
                "openai/gpt-4.1", "hi", extra={"tools": [code, {"type": "retrieval"}]}
            )
    assert info.value.status == 400 and info.value.param == "tools[1].type"
    assert "Invalid value: 'retrieval'. Supported values are: 'apply_patch'" in str(info.value)
    assert not mock.failures


@pytest.mark.anyio
async def test_request_body_has_the_responses_shape(mock: OpenAIMock) -> None:
    messages = [
        Message.system("sys"),
        Message.user("look", ImagePart(url="https://example.com/cat.png")),
        Message(
            "assistant",
            (
                ReasoningPart(
                    "I should look it up", redacted=encrypted_reasoning("x"), origin=ORIGIN
                ),
                relaykit.TextPart("Let me check."),
                ToolCall("call_1", "lookup", {"q": "cats"}),
            ),
        ),
        Message.tool("call_1", "cats are great"),
    ]
    async with relaykit.Client(config(mock)) as client:
        await client.chat(
            "openai/o4-mini",
            messages,
            max_tokens=20,
            temperature=1.0,  # o4-mini takes no other while it reasons
            top_p=1.0,
            tools=[{"name": "lookup", "description": "Look up", "parameters": {"type": "object"}}],
            tool_choice="lookup",
            response_format={"type": "object"},
            extra={"user": "u-1", "reasoning": {"effort": "high", "summary": "auto"}},
        )
    request = mock.last_request
    assert request.path == "/v1/responses"
    assert request.json() == {
        "model": "o4-mini",
        "input": [
            {"role": "system", "content": [{"type": "input_text", "text": "sys"}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {
                        "type": "input_image",
                        "image_url": "https://example.com/cat.png",
                        "detail": "auto",
                    },
                ],
            },
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "I should look it up"}],
                "encrypted_content": encrypted_reasoning("x"),
            },
            {"role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup",
                "arguments": '{"q": "cats"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "cats are great"},
        ],
        "max_output_tokens": 20,
        "temperature": 1.0,
        "top_p": 1.0,
        "tools": [
            {
                "type": "function",
                "name": "lookup",
                "description": "Look up",
                "parameters": {"type": "object"},
                "strict": False,
            }
        ],
        "tool_choice": {"type": "function", "name": "lookup"},
        "text": {
            "format": {
                "type": "json_schema",
                "name": "response",
                "schema": {"type": "object"},
                "strict": False,  # a schema that cannot be strict
            }
        },
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "user": "u-1",
        "reasoning": {"effort": "high", "summary": "auto"},
    }
    assert request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.anyio
async def test_streamed_request_and_plain_choices(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        await drain(
            client,
            "openai/gpt-4.1-mini",
            "hi",
            tools=[
                {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {},
                        "required": [],
                        "additionalProperties": False,
                    },
                    "strict": True,
                }
            ],
            tool_choice="required",
            response_format={"type": "json_object"},
        )
    body = mock.last_request.json()
    assert body["stream"] is True and "stream_options" not in body
    assert body["input"] == [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert body["tool_choice"] == "required"
    assert body["tools"][0]["strict"] is True
    assert body["text"] == {"format": {"type": "json_object"}}
    # gpt-4.1 has no reasoning: OpenAI refuses `include` of encrypted reasoning for it
    assert "include" not in body


@pytest.mark.parametrize(
    ("model", "reasons"),
    [
        ("o4-mini", True),
        ("o3-pro-2025-06-10", True),
        ("gpt-5", True),
        ("gpt-5.1-codex", True),
        ("codex-mini-latest", True),
        ("gpt-5-chat-latest", False),
        ("gpt-5.1-chat-latest", False),
        ("gpt-4o", False),
        ("gpt-4.1-mini", False),
    ],
)
def test_encrypted_reasoning_is_asked_for_reasoning_models_only(model: str, reasons: bool) -> None:
    assert sampling_rules.is_reasoning_model(model) is reasons


@pytest.mark.parametrize(
    ("model", "only"),
    [
        ("o1-pro", True),
        ("o3-pro-2025-06-10", True),
        ("gpt-5-pro", True),
        ("gpt-5.2-pro", True),
        ("codex-mini-latest", True),
        ("gpt-5-codex", True),
        ("gpt-5.1-codex-max", True),
        ("o3", False),
        ("o3-mini", False),
        ("gpt-5", False),
        ("gpt-4o-mini", False),
        ("o3-promo", False),
    ],
)
def test_responses_only_models(model: str, only: bool) -> None:
    assert responses_only(model) is only


#: (a Chat Completions field extra gives, words of the fix): OpenAI's Responses API
#: refuses each, for every model (moved, or unknown there)
CHAT_ONLY: list[tuple[dict[str, Any], str]] = [
    ({"max_tokens": 50}, "give max_tokens= instead: relaykit sends it as max_output_tokens"),
    ({"max_completion_tokens": 50}, "give max_tokens= instead"),
    ({"response_format": {"type": "json_object"}}, "give response_format= instead"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "chat()'s messages"),
    ({"reasoning_effort": "low"}, "give reasoning= instead"),
    ({"verbosity": "low"}, "extra's text object"),
    ({"functions": [{"name": "f", "parameters": {}}]}, "give tools= instead"),
    ({"function_call": "auto"}, "give tool_choice= instead"),
    ({"web_search_options": {}}, "give web_search= instead"),
    ({"stop": ["END"]}, "api = 'chat'"),
    ({"seed": 7}, "api = 'chat'"),
    ({"n": 2}, "one answer a call"),
    ({"logit_bias": {"50256": -100}}, "api = 'chat'"),
    ({"presence_penalty": 0.5}, "api = 'chat'"),
    ({"frequency_penalty": 0.5}, "api = 'chat'"),
    ({"logprobs": True}, "api = 'chat'"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["gpt-4.1-mini", "o3"])
@pytest.mark.parametrize(("extra", "fix"), CHAT_ONLY)
async def test_a_chat_completions_field_extra_gives_is_refused_unsent(
    model: str, extra: dict[str, Any], fix: str
) -> None:
    # relaykit sent them, and OpenAI (the mock) refused with a 400: a route could not
    # fall back, and the error named no relaykit parameter.
    (key,) = extra
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock), env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.chat(f"openai/{model}", "hi", extra=extra)
            with pytest.raises(InvalidRequestError):
                await drain(c, f"openai/{model}", "hi", extra=extra)
        assert mock.requests == []
    error = info.value
    assert (error.param, error.status, error.model) == (key, None, model)
    assert f"OpenAI's Responses API takes no {key}" in error.message
    assert error.hint is not None and fix in error.hint


@pytest.mark.anyio
async def test_azure_refuses_a_chat_completions_field_on_the_responses_api_unsent() -> None:
    from relaykit_openai.testing import AzureOpenAIMock

    with AzureOpenAIMock(api_key=KEY) as mock:
        provider = {
            "base_url": mock.base_url,
            "api_key": KEY,
            "api_version": "2025-04-01-preview",
            "api": "responses",
        }
        cfg = {"storage": {"backend": "none"}, "providers": {"azure": provider}}
        async with relaykit.Client(cfg, env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.chat("azure/gpt-4o", "hi", extra={"max_tokens": 50})
        assert mock.requests == []
    assert (info.value.param, info.value.status) == ("max_tokens", None)
    assert info.value.hint is not None and "give max_tokens=" in info.value.hint


@pytest.mark.anyio
@pytest.mark.parametrize(("extra", "_fix"), CHAT_ONLY)
async def test_a_compatible_services_responses_api_is_sent_what_extra_gives(
    extra: dict[str, Any], _fix: str
) -> None:
    # Its /responses may take a Chat Completions field: relaykit sends it. The mock,
    # standing in for OpenAI (a model named as OpenAI's), refuses each, as OpenAI does.
    with OpenAIMock(api_key=KEY) as mock:
        provider = {"base_url": mock.base_url, "api_key": KEY, "api": "responses"}
        cfg = {"storage": {"backend": "none"}, "providers": {"vllm": provider}}
        async with relaykit.Client(cfg, env={}) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.chat("vllm/gpt-4.1-mini", "hi", extra=extra)
        assert len(mock.requests) == 1
    assert info.value.status == 400


# -- choosing the API ------------------------------------------------------------


@pytest.mark.anyio
async def test_auto_picks_responses_for_responses_only_models(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, api=None)) as client:
        r = await client.chat("openai/o3-pro", "deep")
        assert mock.last_request.path == "/v1/responses"
        await drain(client, "openai/gpt-5-codex", "code")
        assert mock.last_request.path == "/v1/responses"
        await client.chat("openai/gpt-4o-mini", "plain")
        assert mock.last_request.path == "/v1/chat/completions"
        await drain(client, "openai/o3", "plain")
        assert mock.last_request.path == "/v1/chat/completions"
    assert r.text == "echo: deep"


@pytest.mark.anyio
async def test_chat_mode_sends_responses_only_models_to_chat_completions(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock, api="chat")) as client:
        with pytest.raises(NotFoundError) as info:
            await client.chat("openai/o3-pro", "deep")
    assert "only supported in v1/responses" in str(info.value)
    assert mock.last_request.path == "/v1/chat/completions"


@pytest.mark.anyio
async def test_compatible_presets_default_to_chat_completions(mock: OpenAIMock) -> None:
    cfg = config(mock)
    cfg["providers"] = {"box": {"type": "vllm", "base_url": mock.base_url, "api_key": KEY}}
    async with relaykit.Client(cfg) as client:
        with pytest.raises(NotFoundError):  # the mock is OpenAI, which refuses it there
            await client.chat("box/codex-mini-latest", "hi")
    assert mock.last_request.path == "/v1/chat/completions"
    cfg["providers"]["box"]["api"] = "responses"
    async with relaykit.Client(cfg) as client:
        await client.chat("box/some-model", "hi")
    assert mock.last_request.path == "/v1/responses"


@pytest.mark.anyio
async def test_unknown_api_is_a_config_error(mock: OpenAIMock) -> None:
    with pytest.raises(ConfigError) as info:
        async with relaykit.Client(config(mock, api="completions")) as client:
            await client.chat("openai/gpt-4o-mini", "hi")
    message = str(info.value)
    assert "providers.openai.api" in message and "'completions'" in message
    assert all(f"'{v}'" in message for v in ("chat", "responses", "auto"))


# -- responses -----------------------------------------------------------------


@pytest.mark.anyio
async def test_response_text_tool_calls_usage_and_finish(mock: OpenAIMock) -> None:
    mock.script.reply(
        "Checking.",
        tool_calls=(("lookup", {"q": "cats"}), ("lookup", {"q": "dogs"})),
        input_tokens=20,
        output_tokens=9,
        cached_input_tokens=8,
        reasoning_tokens=3,
    )
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/o4-mini", "pets")
    assert r.text == "Checking."
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("call_0_1", "lookup", {"q": "cats"}),
        ("call_1_1", "lookup", {"q": "dogs"}),
    ]
    assert r.finish_reason == "tool_calls"
    assert r.usage == relaykit.Usage(20, 9, 8, 3)
    assert (r.id, r.model) == ("resp_mock000001", "o4-mini")


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("reply", "finish"),
    [
        (Reply(text="cut sho", finish="length"), "length"),
        (Reply(text="", finish="content_filter"), "content_filter"),
        (Reply(refusal="I can't help with that."), "content_filter"),
        (Reply(text="done"), "stop"),
    ],
)
async def test_finish_reasons(mock: OpenAIMock, stream: bool, reply: Reply, finish: str) -> None:
    mock.script.push(reply)
    async with relaykit.Client(config(mock)) as client:
        if stream:
            r, _ = await drain(client, "openai/gpt-4.1-mini", "go")
        else:
            r = await client.chat("openai/gpt-4.1-mini", "go")
    assert r.finish_reason == finish
    assert r.text == reply.text + reply.refusal


@pytest.mark.anyio
async def test_structured_output(mock: OpenAIMock) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    mock.script.reply('{"answer": 42}')
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat(
            "openai/gpt-4.1-mini",
            "answer",
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            },
        )
    assert r.text == '{"answer": 42}'
    assert mock.last_request.json()["text"] == {
        "format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
    }


# -- reasoning -------------------------------------------------------------------


THOUGHTS = (ReasoningPart("first, the facts"), ReasoningPart("then, the answer"))


def expected_parts() -> tuple[ReasoningPart, ...]:
    return tuple(
        ReasoningPart(p.text, redacted=encrypted_reasoning(p.text), origin=ORIGIN) for p in THOUGHTS
    )


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_round_trip(mock: OpenAIMock, stream: bool) -> None:
    mock.script.reply("It is 4.", reasoning_blocks=THOUGHTS)
    async with relaykit.Client(config(mock)) as client:
        if stream:
            r, events = await drain(client, "openai/o4-mini", "2+2?")
            starts = [e for e in events if isinstance(e, ReasoningDelta) and e.new_block]
            assert [e.origin for e in starts] == [ORIGIN, ORIGIN]
        else:
            r = await client.chat("openai/o4-mini", "2+2?")
        assert r.text == "It is 4."
        assert r.reasoning_parts == expected_parts()
        assert r.reasoning == "first, the factsthen, the answer"
        mock.script.reply("Yes.")
        follow_up = [Message.user("2+2?"), r.to_message(), Message.user("sure?")]
        if stream:
            final, _ = await drain(client, "openai/o4-mini", follow_up)
        else:
            final = await client.chat("openai/o4-mini", follow_up)
    assert final.text == "Yes."  # the mock verified the encrypted content
    sent = mock.last_request.json()["input"]
    assert [item for item in sent if item.get("type") == "reasoning"] == [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": p.text}],
            "encrypted_content": encrypted_reasoning(p.text),
        }
        for p in THOUGHTS
    ]
    assert sent[1:3] == [item for item in sent if item.get("type") == "reasoning"]


@pytest.mark.anyio
async def test_streamed_reasoning_assembles_as_the_non_streamed(mock: OpenAIMock) -> None:
    # a redacted block (no summary), and summaries of several parts
    blocks = (ReasoningPart(redacted="hidden"), ReasoningPart("visible"))
    async with relaykit.Client(config(mock)) as client:
        mock.script.reply("a", reasoning_blocks=blocks)
        whole = await client.chat("openai/o4-mini", "x")
        mock.script.reply("a", reasoning_blocks=blocks)
        streamed, _ = await drain(client, "openai/o4-mini", "x")
    assert whole.reasoning_parts == streamed.reasoning_parts
    assert whole.reasoning_parts == (
        ReasoningPart(redacted=encrypted_reasoning("hidden"), origin=ORIGIN),
        ReasoningPart("visible", redacted=encrypted_reasoning("visible"), origin=ORIGIN),
    )


def test_summary_parts_of_one_item_are_one_part_in_both_paths() -> None:
    item = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}],
        "encrypted_content": "enc",
    }
    assert responses_wire.reasoning_part(item) == ReasoningPart(
        "a\n\nb", redacted="enc", origin=ORIGIN
    )
    state = responses_wire.StreamState()
    assembler = relaykit.assembly.ResponseAssembler()
    steps: list[tuple[str, dict[str, Any]]] = [
        ("response.output_item.added", {"item": {**item, "summary": []}}),
        ("response.reasoning_summary_part.added", {"item_id": "rs_1", "summary_index": 0}),
        ("response.reasoning_summary_text.delta", {"item_id": "rs_1", "delta": "a"}),
        ("response.reasoning_summary_part.added", {"item_id": "rs_1", "summary_index": 1}),
        ("response.reasoning_summary_text.delta", {"item_id": "rs_1", "delta": "b"}),
        ("response.output_item.done", {"item": item}),
    ]
    for kind, data in steps:
        for event in responses_wire.event_events(kind, data, state):
            assembler.add(event)
    assert assembler.response().reasoning_parts == (responses_wire.reasoning_part(item),)


@pytest.mark.anyio
async def test_responses_reasoning_is_not_sent_to_chat_completions(mock: OpenAIMock) -> None:
    turn = Message(
        "assistant",
        (
            ReasoningPart("summary", redacted=encrypted_reasoning("s"), origin=ORIGIN),
            relaykit.TextPart("answer"),
        ),
    )
    async with relaykit.Client(config(mock, api="chat")) as client:
        await client.chat("openai/o4-mini", [Message.user("q"), turn, Message.user("more")])
    body = mock.last_request.body.decode()
    assert "reasoning" not in body and encrypted_reasoning("s") not in body
    assert mock.last_request.json()["messages"][1] == {"role": "assistant", "content": "answer"}


@pytest.mark.anyio
async def test_other_reasoning_is_not_sent_to_the_responses_api(mock: OpenAIMock) -> None:
    turn = Message(
        "assistant",
        (
            ReasoningPart("claude thought", "sig", origin="anthropic"),
            ReasoningPart(redacted="opaque", origin="anthropic"),
            ReasoningPart("plain reasoning text"),  # a compatible server's, unsigned
            relaykit.TextPart("answer"),
        ),
    )
    async with relaykit.Client(config(mock)) as client:
        await client.chat("openai/o4-mini", [Message.user("q"), turn, Message.user("more")])
    sent = mock.last_request.json()["input"]
    assert sent[1] == {"role": "assistant", "content": [{"type": "output_text", "text": "answer"}]}
    assert len(sent) == 3


@pytest.mark.anyio
async def test_altered_encrypted_reasoning_is_refused(mock: OpenAIMock) -> None:
    turn = Message(
        "assistant",
        (ReasoningPart("s", redacted=encrypted_reasoning("s") + "x", origin=ORIGIN),),
    )
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat("openai/o4-mini", [Message.user("q"), turn, Message.user("more")])
    assert "could not be verified" in str(info.value)


# -- errors --------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_errors_are_typed(mock: OpenAIMock) -> None:
    mock.script.fail(429, "Rate limit reached", retry_after=3)
    mock.script.fail(400, "bad input", code="invalid_value")
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(relaykit.RateLimitError) as limited:
            await client.chat("openai/o4-mini", "x")
        with pytest.raises(InvalidRequestError) as invalid:
            await drain(client, "openai/o4-mini", "x")
    assert limited.value.retry_after == 3 and "Rate limit reached" in str(limited.value)
    assert "bad input" in str(invalid.value) and invalid.value.provider == "openai"


@pytest.mark.anyio
@pytest.mark.parametrize("failure", ["error", "response.failed"])
async def test_failure_inside_a_started_stream_is_a_stream_error(
    mock: OpenAIMock, failure: Any
) -> None:
    mock.responses_failure = failure
    mock.script.reply("partial", stream_fault="error", error="The model is overloaded.")
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(StreamError) as info:
            await drain(client, "openai/o4-mini", "x")
    assert "The model is overloaded." in str(info.value)
    assert info.value.provider_message == "The model is overloaded."
    assert info.value.partial is not None and info.value.partial.text == "partial"


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["truncate", "garbage"])
async def test_stream_ending_without_a_terminal_event_is_a_stream_error(
    mock: OpenAIMock, fault: Any
) -> None:
    mock.script.reply("cut", stream_fault=fault)
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(StreamError) as info:
            await drain(client, "openai/o4-mini", "x")
    assert info.value.partial is not None and info.value.partial.text == "cut"


@pytest.mark.anyio
async def test_streamed_usage_and_id(mock: OpenAIMock) -> None:
    mock.script.reply("hi there", input_tokens=5, output_tokens=4, reasoning_tokens=2)
    async with relaykit.Client(config(mock)) as client:
        r, _ = await drain(client, "openai/o4-mini", "x")
    assert r.usage == relaykit.Usage(5, 4, 0, 2)
    assert (r.id, r.model, r.finish_reason) == ("resp_mock000001", "o4-mini", "stop")


# -- counting tokens ---------------------------------------------------------------


@pytest.mark.anyio
async def test_openai_counts_tokens_with_its_input_tokens_endpoint(mock: OpenAIMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
    }
    prompt = [Message.system("Answer briefly."), Message.user("How many words is this?")]
    async with relaykit.Client(config) as client:
        count = await client.count_tokens("openai/gpt-4o-mini", prompt, max_tokens=10, seed=3)
    assert count == relaykit.TokenCount(7, exact=True)  # the mock: a word a token
    request = mock.last_request
    assert request.path == "/v1/responses/input_tokens"
    # the prompt only: the counter refuses sampling fields and store
    assert set(request.json()) == {"model", "input"}


@pytest.mark.anyio
async def test_compatible_services_have_no_counter_so_counts_are_estimated(
    mock: OpenAIMock,
) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {"groq": {"base_url": mock.base_url, "api_key": KEY}},
    }
    async with relaykit.Client(config) as client:
        count = await client.count_tokens("groq/llama-3.3-70b-versatile", "x" * 40)
    assert count == relaykit.TokenCount(10, exact=False)
    assert mock.requests == []


# -- function-call arguments in the done item only ---------------------------------


def _responses_sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    """Events as the Responses API frames them: ``event:`` and ``data:`` (with its
    ``type`` and ``sequence_number``)."""
    out = []
    for n, (kind, data) in enumerate(events):
        body = json.dumps({"type": kind, "sequence_number": n, **data})
        out.append(f"event: {kind}\ndata: {body}\n\n".encode())
    return b"".join(out)


def _call(item_id: str, call_id: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": "get_weather",
        "arguments": arguments,
        "status": status,
    }


@pytest.mark.anyio
async def test_arguments_only_in_the_done_item_are_kept_and_not_doubled() -> None:
    # A function call's arguments may come only in response.output_item.done, with
    # no function_call_arguments events; when they did stream, the done item repeats
    # them, and they count once.
    paris, oslo = '{"city":"Paris"}', '{"city":"Oslo"}'
    resp = {"id": "resp_1", "object": "response", "model": "o4-mini", "status": "in_progress"}
    body = _responses_sse(
        ("response.created", {"response": resp}),
        # 1: arguments only in the done item
        (
            "response.output_item.added",
            {"output_index": 0, "item": _call("fc_1", "call_1", "", "in_progress")},
        ),
        (
            "response.output_item.done",
            {"output_index": 0, "item": _call("fc_1", "call_1", paris, "completed")},
        ),
        # 2: the usual stream: deltas, their done event, the done item repeating them
        (
            "response.output_item.added",
            {"output_index": 1, "item": _call("fc_2", "call_2", "", "in_progress")},
        ),
        (
            "response.function_call_arguments.delta",
            {"item_id": "fc_2", "output_index": 1, "delta": oslo[:8]},
        ),
        (
            "response.function_call_arguments.delta",
            {"item_id": "fc_2", "output_index": 1, "delta": oslo[8:]},
        ),
        (
            "response.function_call_arguments.done",
            {"item_id": "fc_2", "output_index": 1, "arguments": oslo},
        ),
        (
            "response.output_item.done",
            {"output_index": 1, "item": _call("fc_2", "call_2", oslo, "completed")},
        ),
        # 3: no added event at all, the whole item in its done event
        (
            "response.output_item.done",
            {"output_index": 2, "item": _call("fc_3", "call_3", paris, "completed")},
        ),
        # 4: no deltas, only the arguments' done event, then the done item
        (
            "response.output_item.added",
            {"output_index": 3, "item": _call("fc_4", "call_4", "", "in_progress")},
        ),
        (
            "response.function_call_arguments.done",
            {"item_id": "fc_4", "output_index": 3, "arguments": oslo},
        ),
        (
            "response.output_item.done",
            {"output_index": 3, "item": _call("fc_4", "call_4", oslo, "completed")},
        ),
        (
            "response.completed",
            {
                "response": {
                    **resp,
                    "status": "completed",
                    "usage": {"input_tokens": 5, "output_tokens": 7},
                }
            },
        ),
    )

    async def handler(request: Request) -> Response:
        return Response(200, {"content-type": "text/event-stream"}, [body])

    with LoopbackServer(handler) as server:
        settings = {"base_url": server.url, "api_key": KEY, "api": "responses"}
        cfg = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"openai": settings},
        }
        async with relaykit.Client(cfg) as client:
            r, _ = await drain(client, "openai/o4-mini", "weather?")
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_weather", {"city": "Oslo"}),
        ("call_3", "get_weather", {"city": "Paris"}),
        ("call_4", "get_weather", {"city": "Oslo"}),
    ]
    assert r.finish_reason == "tool_calls"
