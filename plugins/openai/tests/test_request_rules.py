"""Messages Chat Completions refuses: the mock refuses them as OpenAI does, so a wire
that sends them fails its tests, and the wire refuses before sending what it would
otherwise send (an image outside a user message)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import relaykit
from relaykit import ImagePart, InvalidRequestError, Message, ToolCall
from relaykit.testing import OpenAIMock
from relaykit.testing.provider_contract import PNG
from relaykit_openai import responses_wire
from relaykit_openai.tool_call_ids import mistral_id

KEY = "sk-test-0123456789abcdef0123"
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
OTHER = {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}


def post(mock: OpenAIMock, messages: list[dict[str, Any]]) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": messages}
    return httpx.post(
        f"{mock.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {KEY}"},
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def asks(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def answer(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "done"}


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [user("go"), answer("call_1")],
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
        ),
        (
            [user("go"), asks(CALL), answer("call_9")],
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
        ),
        (
            [user("go"), asks(CALL, OTHER), answer("call_1"), user("and?")],
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            "response messages: call_2",
        ),
        (
            [user("go"), asks(CALL)],
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            "response messages: call_1",
        ),
    ],
)
def test_mock_refuses_unpaired_tool_messages(
    mock: OpenAIMock, messages: list[dict[str, Any]], message: str
) -> None:
    r = post(mock, messages)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == message and error["type"] == "invalid_request_error"


def test_mock_takes_every_call_answered_then_a_user_turn(mock: OpenAIMock) -> None:
    r = post(mock, [user("go"), asks(CALL, OTHER), answer("call_2"), answer("call_1"), user("ok")])
    assert r.status_code == 200, r.text


OPEN = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("path", "extra", "param", "message"),
    [
        (
            "chat/completions",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": OPEN, "strict": True},
                }
            },
            "response_format.json_schema",
            "Invalid schema for response_format 'r': In context=(), 'additionalProperties' is"
            " required to be supplied and to be false.",
        ),
        (
            "chat/completions",
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": OPEN, "strict": True},
                    }
                ]
            },
            "tools[0].function.parameters",
            "Invalid schema for function 'f': In context=(), 'additionalProperties' is required"
            " to be supplied and to be false.",
        ),
        (
            "chat/completions",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "Page[Item]", "schema": OPEN},
                }
            },
            "response_format.json_schema.name",
            "Invalid 'response_format.json_schema.name': string does not match pattern. Expected"
            " a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
        ),
        (
            "responses",
            {"tools": [{"type": "function", "name": "f", "parameters": OPEN}]},
            "tools[0].parameters",
            "Invalid schema for function 'f': In context=(), 'additionalProperties' is required"
            " to be supplied and to be false.",
        ),
    ],
)
def test_strict_schemas_and_names_openai_refuses_are_refused_in_its_words(
    path: str, extra: dict[str, Any], param: str, message: str
) -> None:
    """A function on the Responses API is strict unless it says not."""
    with OpenAIMock(api_key=KEY) as mock:
        first = [user("go")] if path == "chat/completions" else None
        body = {"model": "gpt-4o-mini", **extra}
        body["messages" if first else "input"] = first or "go"
        r = httpx.post(
            f"{mock.base_url}/{path}", json=body, headers={"authorization": f"Bearer {KEY}"}
        )
        error = r.json()["error"]
        assert (r.status_code, error["message"], error["param"]) == (400, message, param)
        extra_ok = {**extra}
        if "tools" in extra and path == "chat/completions":
            extra_ok = {
                "tools": [{"type": "function", "function": {"name": "f", "parameters": OPEN}}]
            }
            body = {"model": "gpt-4o-mini", "messages": first, **extra_ok}
            r = httpx.post(
                f"{mock.base_url}/{path}", json=body, headers={"authorization": f"Bearer {KEY}"}
            )
            assert r.status_code == 200  # Chat Completions' functions are not strict unasked


# -- images outside user messages -----------------------------------------------

IMAGE_PART = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@pytest.mark.parametrize("role", ["system", "assistant"])
def test_mock_refuses_an_image_outside_a_user_message(mock: OpenAIMock, role: str) -> None:
    content = [{"type": "text", "text": "look"}, IMAGE_PART]
    r = post(mock, [user("hi"), {"role": role, "content": content}, user("well?")])
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == (
        "Invalid 'messages[1]'. Image URLs are only allowed for messages with role 'user', "
        f"but this message with role '{role}' contains an image URL."
    )
    assert error["type"] == "invalid_request_error"


def config(mock: OpenAIMock, api: str) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY, "api": api}},
    }


PNG_PART = ImagePart(data=PNG, media_type="image/png")
CALL_1 = ToolCall("call_1", "f", {})


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    ("api", "messages", "where"),
    [
        ("chat", [Message("system", ("Brand:", PNG_PART)), Message.user("hi")], "messages[0]"),
        (
            "chat",
            [Message.user("draw"), Message("assistant", ("Done:", PNG_PART)), Message.user("ok")],
            "messages[1]",
        ),
        (
            "responses",
            [Message.user("draw"), Message("assistant", ("Done:", PNG_PART)), Message.user("ok")],
            "messages[1]",
        ),
    ],
)
async def test_an_image_outside_a_user_message_is_refused_before_sending(
    mock: OpenAIMock, api: str, messages: list[Message], where: str, streamed: bool
) -> None:
    # (An image beside a tool message's result: the core refuses it for every
    # provider, core/tests/test_message_parts_checked.py.)
    async with relaykit.Client(config(mock, api), env={}) as c:
        with pytest.raises(InvalidRequestError, match="with an image") as info:
            if streamed:
                async with c.stream("openai/gpt-4o-mini", messages) as s:
                    async for _ in s:
                        pass
            else:
                await c.chat("openai/gpt-4o-mini", messages)
    error = info.value
    role = messages[int(where.removeprefix("messages[").rstrip("]"))].role
    assert error.message.startswith(f"{where} is a {role} message with an image")
    assert error.param == f"{where}.content" and "user message" in str(error.hint)
    assert error.status is None and (error.provider, error.model) == ("openai", "gpt-4o-mini")
    assert mock.requests == []


@pytest.mark.anyio
async def test_an_image_in_a_system_message_goes_to_the_responses_api(mock: OpenAIMock) -> None:
    # Responses input takes images in system (developer) messages: sent as they are.
    async with relaykit.Client(config(mock, "responses"), env={}) as c:
        await c.chat(
            "openai/gpt-4o-mini", [Message("system", ("Brand:", PNG_PART)), Message.user("hi")]
        )
    system = mock.last_request.json()["input"][0]
    assert system["role"] == "system"
    assert [p["type"] for p in system["content"]] == ["input_text", "input_image"]


# -- Responses API: a tool result pairs with a call before it -------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_tool_result_without_its_call_is_refused_before_sending(
    mock: OpenAIMock, streamed: bool
) -> None:
    # A trimmed history that kept a result and dropped the call: the Responses API
    # refuses it ("No tool call found for function call output with call_id ...").
    messages = [Message.user("go"), Message.tool("call_1", "done"), Message.user("and?")]
    async with relaykit.Client(config(mock, "responses"), env={}) as c:
        with pytest.raises(InvalidRequestError, match="result of tool call 'call_1'") as info:
            if streamed:
                async with c.stream("openai/gpt-4o-mini", messages) as s:
                    async for _ in s:
                        pass
            else:
                await c.chat("openai/gpt-4o-mini", messages)
    assert info.value.param == "messages[1]" and "before their results" in str(info.value.hint)
    assert mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_max_tokens_below_16_is_refused_before_sending_on_the_responses_api(
    mock: OpenAIMock, streamed: bool
) -> None:
    # The API refuses it ("Invalid 'max_output_tokens': integer below minimum value.
    # Expected a value >= 16, but got 9 instead."); raising it to 16 would exceed the cap.
    async with relaykit.Client(config(mock, "responses"), env={}) as c:
        with pytest.raises(InvalidRequestError, match="max_tokens=9 is below 16") as info:
            if streamed:
                async with c.stream("openai/gpt-4o-mini", "hi", max_tokens=9) as s:
                    async for _ in s:
                        pass
            else:
                await c.chat("openai/gpt-4o-mini", "hi", max_tokens=9)
        assert info.value.param == "max_tokens" and 'api = "chat"' in str(info.value.hint)
        assert mock.requests == []
        # 16 is sent as it is; Chat Completions takes fewer
        await c.chat("openai/gpt-4o-mini", "hi", max_tokens=16)
        assert mock.last_request.json()["max_output_tokens"] == 16
    async with relaykit.Client(config(mock, "chat"), env={}) as c:
        await c.chat("openai/gpt-4o-mini", "hi", max_tokens=9)
    assert mock.last_request.json()["max_completion_tokens"] == 9


def test_a_token_count_takes_any_max_tokens() -> None:
    # The counter takes no max_output_tokens: a small cap is no reason to refuse a count.
    request = relaykit.ChatRequest(
        model="gpt-4o-mini", messages=(Message.user("hi"),), max_tokens=1
    )
    assert responses_wire.count_body(request) == {
        "model": "gpt-4o-mini",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    }


def test_a_result_of_a_call_openai_keeps_is_not_checked() -> None:
    # With previous_response_id (or a conversation) the calls are OpenAI's to pair.
    request = relaykit.ChatRequest(
        model="gpt-4o-mini",
        messages=(Message.tool("call_1", "done"),),
        extra={"previous_response_id": "resp_1", "store": True},
    )
    body = responses_wire.request_body(request, stream=False)
    assert body["input"] == [
        {"type": "function_call_output", "call_id": "call_1", "output": "done"}
    ]
    assert (body["previous_response_id"], body["store"]) == ("resp_1", True)


def test_mock_refuses_a_function_call_output_before_its_call(mock: OpenAIMock) -> None:
    output = {"type": "function_call_output", "call_id": "call_1", "output": "done"}
    call = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    r = httpx.post(
        f"{mock.base_url}/responses",
        json={"model": "gpt-4o-mini", "input": [user("go"), output, call]},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == "No tool call found for function call output with call_id call_1."
    assert (error["param"], error["type"]) == ("input", "invalid_request_error")


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_call_id_used_again_by_a_later_turn_is_sent_unique(
    mock: OpenAIMock, streamed: bool
) -> None:
    # Ids made per turn (Gemini's calls come without: relaykit numbers them call_0,
    # call_1 in each answer; so do agents such as hermes-agent, "terminal:0") recur in
    # a long history, and the Responses API refuses the repeat ("Duplicate
    # function_call_output for call_id 'call_0'. ..."). Each repeated call and its
    # results go out under an id of their own; the caller's messages keep theirs.
    messages = [
        Message.user("go"),
        Message.assistant(tool_calls=[ToolCall("call_0", "f", {"n": 1})]),
        Message.tool("call_0", "one"),
        Message.assistant(
            tool_calls=[ToolCall("call_0", "f", {"n": 2}), ToolCall("call_0_2", "g", {})]
        ),
        Message.tool("call_0", "two"),
        Message.tool("call_0_2", "three"),
        Message.assistant(tool_calls=[ToolCall("call_0", "f", {"n": 3})]),
        Message.tool("call_0", "four"),
        Message.user("and?"),
    ]
    async with relaykit.Client(config(mock, "responses"), env={}) as c:
        if streamed:
            async with c.stream("openai/gpt-4o-mini", messages) as s:
                async for _ in s:
                    pass
        else:
            await c.chat("openai/gpt-4o-mini", messages)
    sent = mock.last_request.json()["input"]
    pairs = [(i["type"], i["call_id"], i.get("output")) for i in sent if "call_id" in i]
    assert pairs == [
        ("function_call", "call_0", None),
        ("function_call_output", "call_0", "one"),
        ("function_call", "call_0_3", None),
        ("function_call", "call_0_2", None),
        ("function_call_output", "call_0_3", "two"),
        ("function_call_output", "call_0_2", "three"),
        ("function_call", "call_0_4", None),
        ("function_call_output", "call_0_4", "four"),
    ]
    assert messages[3].content[0].id == "call_0"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_tool_run_over_the_responses_api_pairs_every_result(mock: OpenAIMock) -> None:
    # Two steps of two parallel calls: every output follows its call, which the mock
    # (refusing an output with no call before it) checks on each step.
    mock.script.reply(tool_calls=[("weather", {"city": "Rome"}), ("weather", {"city": "Oslo"})])
    mock.script.reply(tool_calls=[("weather", {"city": "Lima"}), ("weather", {"city": "Pune"})])
    mock.script.reply("All sunny.")

    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    async with relaykit.Client(config(mock, "responses"), env={}) as c:
        run = await c.run_tools("openai/gpt-4o-mini", "Weather?", [weather])
    assert run.response.text == "All sunny."
    items = mock.last_request.json()["input"]
    calls = [i["call_id"] for i in items if i.get("type") == "function_call"]
    outputs = [i["call_id"] for i in items if i.get("type") == "function_call_output"]
    assert len(calls) == 4 and sorted(outputs) == sorted(calls)
    for call_id in calls:
        made = next(n for n, i in enumerate(items) if i.get("call_id") == call_id)
        answered = next(
            n
            for n, i in enumerate(items)
            if i.get("type") == "function_call_output" and i["call_id"] == call_id
        )
        assert made < answered


# -- Mistral: tool call ids of nine letters or digits ----------------------------


def test_mock_refuses_a_tool_call_id_mistral_refuses(mock: OpenAIMock) -> None:
    body = {"model": "mistral-small-latest", "messages": [user("go"), asks(CALL), answer("call_1")]}
    r = httpx.post(
        f"{mock.base_url}/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Tool call id was call_1 but must be a-z, A-Z, 0-9, with a length of 9."
    )
    # OpenAI's own models take any id.
    assert post(mock, [user("go"), asks(CALL), answer("call_1")]).status_code == 200


@pytest.mark.anyio
async def test_tool_call_ids_from_other_vendors_are_mapped_for_mistral(mock: OpenAIMock) -> None:
    messages = [
        Message.user("Weather?"),
        Message.assistant("", [ToolCall("toolu_01A", "f", {}), ToolCall("Ab3dE6gH9", "f", {})]),
        Message.tool("toolu_01A", "sunny"),
        Message.tool("Ab3dE6gH9", "rainy"),
    ]
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"mistral": {"base_url": mock.base_url, "api_key": KEY}},
    }
    async with relaykit.Client(config, env={}) as c:
        await c.chat("mistral/mistral-small-latest", messages)
    sent = mock.last_request.json()["messages"]
    mapped = sent[1]["tool_calls"][0]["id"]
    assert len(mapped) == 9 and mapped.isalnum() and mapped == mistral_id("toolu_01A")
    assert sent[1]["tool_calls"][1]["id"] == "Ab3dE6gH9"  # Mistral's own: as it is
    assert [m["tool_call_id"] for m in sent[2:]] == [mapped, "Ab3dE6gH9"]
    assert messages[1].tool_calls[0].id == "toolu_01A"  # the caller's messages unchanged


@pytest.mark.anyio
async def test_openai_itself_gets_the_ids_as_they_are(mock: OpenAIMock) -> None:
    messages = [Message.user("go"), Message.assistant("", [CALL_1]), Message.tool("call_1", "ok")]
    async with relaykit.Client(config(mock, "chat"), env={}) as c:
        await c.chat("openai/gpt-4o-mini", messages)
    assert mock.last_request.json()["messages"][2]["tool_call_id"] == "call_1"


# -- Chat Completions: tool results pair with the calls right before them ----------

UNPAIRED = [
    # a result whose call was trimmed away
    ([Message.user("go"), Message.tool("call_1", "done")], 1, "call_1", "result"),
    # a result for a call the assistant message before it does not make
    (
        [Message.user("go"), Message.assistant("", [CALL_1]), Message.tool("call_9", "x")],
        2,
        "call_9",
        "result",
    ),
    # a user message between a call and its result
    (
        [
            Message.user("go"),
            Message.assistant("", [CALL_1]),
            Message.user("hurry"),
            Message.tool("call_1", "done"),
        ],
        1,
        "call_1",
        "unanswered",
    ),
    # one of two calls answered, then a user turn
    (
        [
            Message.user("go"),
            Message.assistant("", [CALL_1, ToolCall("call_2", "g", {})]),
            Message.tool("call_1", "done"),
            Message.user("and?"),
        ],
        1,
        "call_2",
        "unanswered",
    ),
    # calls ending the conversation
    ([Message.user("go"), Message.assistant("", [CALL_1])], 1, "call_1", "unanswered"),
]


def preset_config(mock: OpenAIMock, name: str) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {name: {"base_url": mock.base_url, "api_key": KEY}},
    }


async def call(c: relaykit.Client, model: str, messages: list[Message], streamed: bool) -> Any:
    if not streamed:
        return await c.chat(model, messages)
    async with c.stream(model, messages) as s:
        async for _ in s:
            pass
    return s.response


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini"),
        ("deepseek", "deepseek-chat"),
        ("mistral", "mistral-small-latest"),
    ],
)
@pytest.mark.parametrize(("messages", "at", "call_id", "kind"), UNPAIRED)
async def test_unpaired_tool_messages_are_refused_before_sending(
    mock: OpenAIMock,
    provider: str,
    model: str,
    messages: list[Message],
    at: int,
    call_id: str,
    kind: str,
    streamed: bool,
) -> None:
    cfg = config(mock, "chat") if provider == "openai" else preset_config(mock, provider)
    async with relaykit.Client(cfg, env={}) as c:
        with pytest.raises(InvalidRequestError) as info:
            await call(c, f"{provider}/{model}", messages, streamed)
    error = info.value
    if kind == "result":
        assert error.message.startswith(f"messages[{at}] holds the result of tool call {call_id!r}")
        assert "right before its result" in str(error.hint)
    else:
        assert error.message.startswith(f"messages[{at}] makes tool call")
        assert repr(call_id) in error.message and "Message.tool(" in str(error.hint)
    assert error.param == f"messages[{at}]" and error.status is None
    assert (error.provider, error.model) == (provider, model)
    assert mock.requests == []


@pytest.mark.anyio
async def test_the_refusal_names_the_callers_id_not_mistrals(mock: OpenAIMock) -> None:
    # Mistral's ids are mapped before sending; the error names the id the caller has.
    messages = [Message.user("go"), Message.tool("toolu_01A", "done")]
    async with relaykit.Client(preset_config(mock, "mistral"), env={}) as c:
        with pytest.raises(InvalidRequestError, match="'toolu_01A'"):
            await c.chat("mistral/mistral-small-latest", messages)
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_service_documenting_no_such_rule_gets_the_messages_as_they_are(
    mock: OpenAIMock,
) -> None:
    # Groq documents no pairing rule: relaykit sends, and the service answers (here
    # the mock, which refuses as OpenAI does: its 400 comes back).
    async with relaykit.Client(preset_config(mock, "groq"), env={}) as c:
        with pytest.raises(InvalidRequestError) as info:
            await c.chat("groq/llama-3.3-70b-versatile", UNPAIRED[0][0])
    assert info.value.status == 400 and len(mock.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("provider", ["openai", "mistral"])
async def test_a_tool_run_handed_back_with_its_calls_unanswered_still_runs(
    mock: OpenAIMock, provider: str, streamed: bool
) -> None:
    # A run stopped after the model called tools, handed back: the loop runs those
    # calls first, so what is sent pairs every call with its result.
    mock.script.reply("Sunny in Rome and Oslo.")
    calls = [ToolCall("call_a", "weather", {"city": "Rome"}), ToolCall("call_b", "weather", {})]
    conversation = [Message.user("Weather?"), Message.assistant("", calls)]

    def weather(city: str = "Oslo") -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    cfg = config(mock, "chat") if provider == "openai" else preset_config(mock, provider)
    model = "openai/gpt-4o-mini" if provider == "openai" else "mistral/mistral-small-latest"
    async with relaykit.Client(cfg, env={}) as c:
        if streamed:
            async with c.stream_tools(model, conversation, [weather]) as run:
                async for _ in run:
                    pass
            result = run.run
        else:
            result = await c.run_tools(model, conversation, [weather])
    assert result.response.text == "Sunny in Rome and Oslo."
    sent = mock.last_request.json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert len(mock.requests) == 1


# -- Mistral: a final assistant message is a prefill ---------------------------


def mistral_post(mock: OpenAIMock, messages: list[dict[str, Any]]) -> httpx.Response:
    body = {"model": "mistral-small-latest", "messages": messages}
    return httpx.post(
        f"{mock.base_url}/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}
    )


def test_mock_refuses_a_last_message_mistral_does_not_serve(mock: OpenAIMock) -> None:
    prefill = {"role": "assistant", "content": "Voici"}
    r = mistral_post(mock, [user("Hi"), prefill])
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Expected last role User or Tool (or Assistant with prefix True) for serving but "
        "got assistant"
    )
    mock.script.reply(" la réponse.")
    r = mistral_post(mock, [user("Hi"), {**prefill, "prefix": True}])
    assert r.status_code == 200
    # Mistral's answer starts with the prefix (its prefix guide).
    assert r.json()["choices"][0]["message"]["content"] == "Voici la réponse."
    # OpenAI's own models take a final assistant message as it is.
    assert post(mock, [user("Hi"), prefill]).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_prefill_goes_to_mistral_with_prefix_true(mock: OpenAIMock, streamed: bool) -> None:
    mock.script.reply(" la réponse.")
    messages = [Message.user("Hi"), Message.assistant("Voici")]
    async with relaykit.Client(preset_config(mock, "mistral"), env={}) as c:
        response = await call(c, "mistral/mistral-small-latest", messages, streamed)
    sent = mock.last_request.json()["messages"]
    assert sent[-1] == {"role": "assistant", "content": "Voici", "prefix": True}
    assert sent[0] == {"role": "user", "content": "Hi"}  # only the last one
    # Mistral answers "Voici la réponse.": the echoed prefix is taken off (test_prefix_echo)
    assert response.text == " la réponse."


@pytest.mark.anyio
async def test_an_assistant_message_before_the_last_has_no_prefix(mock: OpenAIMock) -> None:
    messages = [Message.user("Hi"), Message.assistant("Hello."), Message.user("More?")]
    async with relaykit.Client(preset_config(mock, "mistral"), env={}) as c:
        await c.chat("mistral/mistral-small-latest", messages)
    assert all("prefix" not in m for m in mock.last_request.json()["messages"])


@pytest.mark.anyio
async def test_openai_gets_a_final_assistant_message_as_it_is(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, "chat"), env={}) as c:
        await c.chat("openai/gpt-4o-mini", [Message.user("Hi"), Message.assistant("Voici")])
    assert mock.last_request.json()["messages"][-1] == {"role": "assistant", "content": "Voici"}


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_final_assistant_message_without_text_is_refused_for_mistral(
    mock: OpenAIMock, streamed: bool
) -> None:
    # Mistral refuses an assistant message with neither content nor tool calls.
    messages = [Message.user("Hi"), Message.assistant("")]
    async with relaykit.Client(preset_config(mock, "mistral"), env={}) as c:
        with pytest.raises(InvalidRequestError) as info:
            await call(c, "mistral/mistral-small-latest", messages, streamed)
    error = info.value
    assert error.message.startswith("messages[1] is an assistant message with no text")
    assert error.param == "messages[1]" and "user or tool message" in str(error.hint)
    assert (error.provider, error.model) == ("mistral", "mistral-small-latest")
    assert mock.requests == []


def test_mock_refuses_calls_left_unanswered_in_mistrals_words(mock: OpenAIMock) -> None:
    call = {"id": "Ab3dE6gH9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    r = mistral_post(mock, [user("go"), asks(call), user("and?")])
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == "Not the same number of function calls and responses"
    assert error["type"] == "invalid_request_error"
    assert mistral_post(mock, [user("go"), asks(call), answer("Ab3dE6gH9")]).status_code == 200


# -- Mistral's role order: a user message right after tool results ------------------------


def test_mock_refuses_a_user_message_right_after_tool_results_as_mistral_does(
    mock: OpenAIMock,
) -> None:
    messages = [user("Weather?"), asks(CALL), answer("call_1"), user("And tomorrow?")]
    mistral = [{**m} for m in messages]
    mistral[1] = asks({**CALL, "id": "Ab3dE6gH9"})
    mistral[2] = answer("Ab3dE6gH9")
    r = mistral_post(mock, mistral)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == "Unexpected role 'user' after role 'tool'"
    assert error["type"] == "invalid_request_message_order"
    mock.script.reply("Sunny.")
    bridged = [*mistral[:3], {"role": "assistant", "content": "Noted."}, mistral[3]]
    assert mistral_post(mock, bridged).status_code == 200
    # OpenAI takes a user message right after tool results.
    mock.script.reply("Sunny.")
    assert post(mock, messages).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_mistral_gets_an_assistant_turn_between_tool_results_and_a_user_message(
    mock: OpenAIMock, streamed: bool
) -> None:
    # What OpenAI and Claude take (Claude's tool results and the user's next words share
    # a turn); Mistral refuses it, and LiteLLM users meet its 400 (litellm#11386, #17761)
    mock.script.reply("Rain tomorrow.")
    messages = [
        Message.user("Weather?"),
        Message.assistant("", [ToolCall("toolu_01A", "f", {})]),
        Message.tool("toolu_01A", "sunny"),
        Message.user("And tomorrow?"),
    ]
    async with relaykit.Client(preset_config(mock, "mistral"), env={}) as c:
        r = await call(c, "mistral/mistral-small-latest", messages, streamed)
    assert r.text == "Rain tomorrow."
    sent = mock.last_request.json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[3]["content"] and "tool_calls" not in sent[3]
    assert len(messages) == 4  # the caller's messages unchanged


# -- Chat Completions: tool call ids of other answers and vendors ------------------

#: vLLM's ids (chatcmpl-tool-<uuid>) have 46 characters; OpenAI takes 40
VLLM_ID = "chatcmpl-tool-" + "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("messages", "param", "message"),
    [
        (  # OpenAI's words (vercel/ai#5171, agno#5382)
            [user("go"), asks({**CALL, "id": VLLM_ID}), answer(VLLM_ID)],
            "messages[1].tool_calls[0].id",
            "Invalid 'messages[1].tool_calls[0].id': string too long. Expected a string with"
            " maximum length 40, but got a string with length 46 instead.",
        ),
        (  # one call answered twice: OpenAI's words (agno#5116, search2ai#30 on Azure)
            [user("go"), asks(CALL), answer("call_1"), answer("call_1")],
            "messages.[3].tool_call_id",
            "Invalid parameter: Duplicate value for 'tool_call_id' of 'call_1' in messages[2]"
            " and messages[3].",
        ),
        (  # two calls of one answer sharing an id: DeepSeek's words (pi#6796, agent-native#2312)
            [user("go"), asks(CALL, {**OTHER, "id": "call_1"}), answer("call_1"), answer("call_1")],
            "messages.[1].tool_calls",
            "Duplicate value for 'tool_call_id' of call_1 in message[1]",
        ),
    ],
)
def test_mock_refuses_tool_call_ids_it_cannot_pair(
    mock: OpenAIMock, messages: list[dict[str, Any]], param: str, message: str
) -> None:
    r = post(mock, messages)
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["message"], error["param"]) == (message, param)


def test_mock_takes_an_id_a_later_answer_uses_again(mock: OpenAIMock) -> None:
    # Kimi K2 on Fireworks and vLLM number ids per answer (fireconnect#16,
    # open-webui#28570) and their own APIs take the repeats; OpenAI documents no rule.
    again = [asks(CALL), answer("call_1")]
    assert post(mock, [user("go"), *again, *again]).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["openai", "deepseek", "mistral"])
async def test_ids_of_a_cross_provider_history_go_out_unique_and_paired(
    mock: OpenAIMock, provider: str
) -> None:
    # A Gemini tool run (relaykit numbers its calls gemini-call-0 in each answer), a
    # Kimi answer giving two calls one id, and a vLLM call of 46 characters, then
    # continued on Chat Completions: each call goes out under an id of its own, at
    # most 40 characters, each result under its call's.
    messages = [
        Message.user("go"),
        Message.assistant("", [ToolCall("gemini-call-0", "f", {})]),
        Message.tool("gemini-call-0", "A"),
        Message.assistant("", [ToolCall("gemini-call-0", "f", {"n": 2})]),
        Message.tool("gemini-call-0", "B"),
        Message.assistant("", [ToolCall("edit:22", "f", {}), ToolCall("edit:22", "f", {"n": 2})]),
        Message.tool("edit:22", "C"),
        Message.tool("edit:22", "D"),
        Message.assistant("", [ToolCall(VLLM_ID, "f", {})]),
        Message.tool(VLLM_ID, "E"),
    ]
    model = {"openai": "gpt-4o-mini", "deepseek": "deepseek-chat"}.get(
        provider, "mistral-small-latest"
    )
    providers = {provider: {"base_url": mock.base_url, "api_key": KEY}}
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
    async with relaykit.Client(config, env={}) as c:
        r = await c.chat(f"{provider}/{model}", messages)
    assert r.text
    sent = mock.last_request.json()["messages"]
    calls = [c["id"] for m in sent for c in m.get("tool_calls") or ()]
    results = [(m["tool_call_id"], m["content"]) for m in sent if m["role"] == "tool"]
    assert len(set(calls)) == 5 and all(len(c) <= 40 for c in calls)
    assert results == list(zip(calls, "ABCDE", strict=True))
    if provider == "openai":
        assert calls[:4] == ["gemini-call-0", "gemini-call-0_2", "edit:22", "edit:22_2"]
    assert messages[3].tool_calls[0].id == "gemini-call-0"  # the caller's keep theirs


@pytest.mark.anyio
async def test_a_call_answered_twice_is_refused_before_sending(mock: OpenAIMock) -> None:
    # OpenAI refuses it ("Duplicate value for 'tool_call_id' of 'call_1' in
    # messages[2] and messages[3]."): which result is the call's cannot be guessed.
    messages = [
        Message.user("go"),
        Message.assistant("", [CALL_1]),
        Message.tool("call_1", "first"),
        Message.tool("call_1", "again"),
    ]
    async with relaykit.Client(config(mock, "chat"), env={}) as c:
        with pytest.raises(InvalidRequestError) as info:
            await c.chat("openai/gpt-4o-mini", messages)
    error = info.value
    assert error.message == (
        "messages[3] holds a second result of tool call 'call_1' (the first is in messages[2])"
    )
    assert error.param == "messages[3]" and "one result per call" in str(error.hint)
    assert mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("n", [2, 5])
async def test_more_than_one_answer_a_call_is_refused_before_sending(
    mock: OpenAIMock, n: int, streamed: bool
) -> None:
    # extra={"n": 2} was sent: Chat Completions made (and billed) two answers, and
    # relaykit read choice 0 only (streamed, it skipped the other indexes): the
    # second answer was paid for and dropped without a word.
    async with relaykit.Client(config(mock, "chat"), env={}) as c:
        with pytest.raises(InvalidRequestError) as info:
            if streamed:
                async with c.stream("openai/gpt-4o-mini", "hi", extra={"n": n}) as s:
                    async for _ in s:
                        pass
            else:
                await c.chat("openai/gpt-4o-mini", "hi", extra={"n": n})
        assert (await c.chat("openai/gpt-4o-mini", "hi", extra={"n": 1})).text
    error = info.value
    assert error.param == "n" and f"n={n}" in error.message
    assert error.hint is not None and "one answer a call" in error.hint
    assert [r.json().get("n") for r in mock.requests] == [1]
