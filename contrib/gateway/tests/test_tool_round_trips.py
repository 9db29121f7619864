"""Two-step tool conversations through each dialect to each vendor, as SDK users write them.

Each test calls the gateway with OpenAI's or Anthropic's SDK, the gateway calls a
vendor's loopback mock through relaykit's plugin for it, and the mock checks what it
gets as the vendor would (a tool result for an id it never issued is its 400). So a
tool call's id has to survive: vendor -> relaykit -> dialect -> SDK -> dialect ->
relaykit -> vendor, streamed or not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

import relaykit
from relaykit import ToolChoice
from relaykit.testing import OpenAIMock, Reply
from relaykit.testing.vendor_mock import VendorMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_bedrock.testing import BedrockMock
from relaykit_gateway.responses_dialect import ResponsesDialect
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running
from relaykit_gemini.testing import GeminiMock

pytestmark = pytest.mark.anyio

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
TIME_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}
CALLS = (("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"}))


@dataclass(frozen=True)
class Vendor:
    """One upstream: its mock, its ``[providers]`` table and a model of it."""

    mock: Callable[[], VendorMock]
    table: Callable[[str], dict[str, Any]]
    model: str


def _keyed(name: str) -> Callable[[str], dict[str, Any]]:
    return lambda url: {name: {"base_url": url, "api_key": UPSTREAM_KEY}}


VENDORS = {
    "openai": Vendor(
        lambda: OpenAIMock(api_key=UPSTREAM_KEY), _keyed("openai"), "openai/gpt-4o-mini"
    ),
    "anthropic": Vendor(
        lambda: AnthropicMock(api_key=UPSTREAM_KEY),
        _keyed("anthropic"),
        "anthropic/claude-made-up-1",
    ),
    "gemini": Vendor(
        lambda: GeminiMock(api_key=UPSTREAM_KEY), _keyed("gemini"), "gemini/gemini-2.5-flash"
    ),
    "gemini-ids": Vendor(
        lambda: GeminiMock(api_key=UPSTREAM_KEY, call_ids=True),
        _keyed("gemini"),
        "gemini/gemini-2.5-flash",
    ),
    "bedrock": Vendor(
        lambda: BedrockMock(bearer_token=UPSTREAM_KEY),
        lambda url: {
            "bedrock": {"base_url": url, "control_plane_url": url, "api_key": UPSTREAM_KEY}
        },
        "bedrock/amazon.nova-pro-v1:0",
    ),
    "bedrock-claude": Vendor(
        lambda: BedrockMock(bearer_token=UPSTREAM_KEY),
        lambda url: {
            "bedrock": {"base_url": url, "control_plane_url": url, "api_key": UPSTREAM_KEY}
        },
        "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
}


#: upstreams a few tests add to :data:`VENDORS`
OTHER_VENDORS = {
    "openai-responses": Vendor(
        lambda: OpenAIMock(api_key=UPSTREAM_KEY),
        lambda url: {"openai": {"base_url": url, "api_key": UPSTREAM_KEY, "api": "responses"}},
        "openai/gpt-4o-mini",
    ),
}


@dataclass(frozen=True)
class Upstream:
    mock: VendorMock
    url: str
    model: str


@asynccontextmanager
async def upstream_of(name: str) -> AsyncIterator[Upstream]:
    vendor = VENDORS.get(name) or OTHER_VENDORS[name]
    async with AsyncExitStack() as stack:
        mock = stack.enter_context(vendor.mock())
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": vendor.table(mock.base_url),
        }
        client = await stack.enter_async_context(relaykit.Client(config))
        url = await stack.enter_async_context(running(client))
        yield Upstream(mock, url, vendor.model)


@pytest.fixture(params=list(VENDORS))
async def upstream(request: pytest.FixtureRequest) -> AsyncIterator[Upstream]:
    async with upstream_of(request.param) as up:
        yield up


def _sdk(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def _claude(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)


# -- OpenAI Chat Completions -------------------------------------------------------

CHAT_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA},
    },
    {"type": "function", "function": {"name": "get_time", "parameters": TIME_SCHEMA}},
]


async def _chat(sdk: openai.AsyncOpenAI, streamed: bool, **kw: Any) -> Any:
    """The completion's message: created, or accumulated by the SDK's stream parser."""
    if not streamed:
        return (await sdk.chat.completions.create(**kw)).choices[0]
    # the SDK's own accumulator (its stream() helper takes strict tools only)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    async for chunk in await sdk.chat.completions.create(stream=True, **kw):
        state.handle_chunk(chunk)
    return state.get_final_completion().choices[0]


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_chat_completions_tool_round_trip(upstream: Upstream, streamed: bool) -> None:
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(text="Sunny, 14:00."))
    messages: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    async with _sdk(upstream.url) as sdk:
        first = await _chat(
            sdk, streamed, model=upstream.model, messages=messages, tools=CHAT_TOOLS
        )
        assert first.finish_reason == "tool_calls"
        calls = first.message.tool_calls or []
        assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            (n, a) for n, a in CALLS
        ]
        ids = [c.id for c in calls]
        assert all(ids) and len(set(ids)) == 2
        messages.append(first.message.model_dump(exclude_none=True, exclude={"parsed"}))
        for c, out in zip(calls, ('{"sky": "clear"}', "14:00"), strict=True):
            messages.append({"role": "tool", "tool_call_id": c.id, "content": out})
        second = await _chat(
            sdk, streamed, model=upstream.model, messages=messages, tools=CHAT_TOOLS
        )
    assert second.message.content == "Sunny, 14:00."
    assert second.finish_reason == "stop"


# -- OpenAI Responses ----------------------------------------------------------------

RESPONSES_TOOLS: list[Any] = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False},
    {"type": "function", "name": "get_time", "parameters": TIME_SCHEMA, "strict": False},
]


async def _respond(sdk: openai.AsyncOpenAI, streamed: bool, **kw: Any) -> Any:
    if not streamed:
        return await sdk.responses.create(**kw)
    async with sdk.responses.stream(**kw) as stream:
        async for _ in stream:
            pass
        return await stream.get_final_response()


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_responses_tool_round_trip(upstream: Upstream, streamed: bool) -> None:
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(text="Sunny, 14:00."))
    items: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    async with _sdk(upstream.url) as sdk:
        first = await _respond(
            sdk, streamed, model=upstream.model, input=items, tools=RESPONSES_TOOLS
        )
        calls = [item for item in first.output if item.type == "function_call"]
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [(n, a) for n, a in CALLS]
        ids = [c.call_id for c in calls]
        assert all(ids) and len(set(ids)) == 2
        items += [item.model_dump(exclude_none=True, exclude={"parsed"}) for item in first.output]
        for c, out in zip(calls, ('{"sky": "clear"}', "14:00"), strict=True):
            items.append({"type": "function_call_output", "call_id": c.call_id, "output": out})
        second = await _respond(
            sdk, streamed, model=upstream.model, input=items, tools=RESPONSES_TOOLS
        )
    assert second.output_text == "Sunny, 14:00."
    assert second.status == "completed"


# -- Anthropic Messages --------------------------------------------------------------

MESSAGES_TOOLS: list[Any] = [
    {"name": "get_weather", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "input_schema": TIME_SCHEMA},
]


async def _message(sdk: anthropic.AsyncAnthropic, streamed: bool, **kw: Any) -> Any:
    if not streamed:
        return await sdk.messages.create(max_tokens=256, **kw)
    async with sdk.messages.stream(max_tokens=256, **kw) as stream:
        async for _ in stream:
            pass
        return await stream.get_final_message()


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_messages_tool_round_trip(upstream: Upstream, streamed: bool) -> None:
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(text="Sunny, 14:00."))
    messages: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    async with _claude(upstream.url) as sdk:
        first = await _message(
            sdk, streamed, model=upstream.model, messages=messages, tools=MESSAGES_TOOLS
        )
        assert first.stop_reason == "tool_use"
        calls = [b for b in first.content if b.type == "tool_use"]
        assert [(c.name, c.input) for c in calls] == [(n, a) for n, a in CALLS]
        ids = [c.id for c in calls]
        assert all(ids) and len(set(ids)) == 2
        messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": ids[0], "content": '{"sky": "clear"}'},
                    {
                        "type": "tool_result",
                        "tool_use_id": ids[1],
                        "content": [{"type": "text", "text": "14:00"}],
                        "is_error": False,
                    },
                ],
            }
        )
        second = await _message(
            sdk, streamed, model=upstream.model, messages=messages, tools=MESSAGES_TOOLS
        )
    assert [b.text for b in second.content if b.type == "text"] == ["Sunny, 14:00."]
    assert second.stop_reason == "end_turn"


# -- what streams accumulate to equals what a whole answer says --------------------


def _no_ids(value: Any) -> Any:
    """``value`` without what differs between two answers to one request: ids, times."""
    if isinstance(value, dict):
        return {
            k: _no_ids(v)
            for k, v in value.items()
            # and what the SDK's Responses stream accumulator adds of its own
            if k not in ("id", "call_id", "created", "created_at", "parsed", "parsed_arguments")
        }
    if isinstance(value, list):
        return [_no_ids(v) for v in value]
    return value


async def test_streamed_tool_calls_accumulate_to_the_whole_answer(upstream: Upstream) -> None:
    reply = Reply(text="Let me look.", tool_calls=CALLS, input_tokens=5, output_tokens=7)
    upstream.mock.script.push(*[reply] * 6)
    question: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    async with _sdk(upstream.url) as sdk, _claude(upstream.url) as claude:
        chat = [
            (
                await _chat(
                    sdk, streamed, model=upstream.model, messages=question, tools=CHAT_TOOLS
                )
            ).model_dump(exclude={"logprobs"})
            for streamed in (False, True)
        ]
        responses = [
            (
                await _respond(
                    sdk, streamed, model=upstream.model, input=question, tools=RESPONSES_TOOLS
                )
            ).model_dump()["output"]
            for streamed in (False, True)
        ]
        messages = [
            (
                await _message(
                    claude, streamed, model=upstream.model, messages=question, tools=MESSAGES_TOOLS
                )
            ).model_dump()
            for streamed in (False, True)
        ]
    # what the SDK's stream accumulator adds of its own (parsing is not asked for)
    chat[1]["message"].pop("parsed")
    for call in chat[1]["message"]["tool_calls"]:
        assert (call.pop("index"), call["function"].pop("parsed_arguments")) == (
            chat[1]["message"]["tool_calls"].index(call),
            None,
        )
    assert _no_ids(chat[1]) == _no_ids(chat[0])
    assert _no_ids(responses[1]) == _no_ids(responses[0])
    assert _no_ids(messages[1]) == _no_ids(messages[0])


# -- a tool result for an id nobody issued ---------------------------------------------


async def test_a_tool_result_for_an_unknown_id_is_a_400_in_each_dialect(
    upstream: Upstream,
) -> None:
    upstream.mock.script.push(*[Reply(text="never")] * 3)
    async with _sdk(upstream.url) as sdk, _claude(upstream.url) as claude:
        with pytest.raises(openai.BadRequestError) as chat:
            await sdk.chat.completions.create(
                model=upstream.model,
                tools=CHAT_TOOLS,
                messages=[
                    {"role": "user", "content": "Weather?"},
                    {"role": "tool", "tool_call_id": "call_nobody", "content": "sunny"},
                ],
            )
        with pytest.raises(openai.BadRequestError) as responses:
            await sdk.responses.create(
                model=upstream.model,
                tools=RESPONSES_TOOLS,
                input=[
                    {"role": "user", "content": "Weather?"},
                    {"type": "function_call_output", "call_id": "call_nobody", "output": "x"},
                ],
            )
        with pytest.raises(anthropic.BadRequestError) as messages:
            await claude.messages.create(
                model=upstream.model,
                max_tokens=16,
                tools=MESSAGES_TOOLS,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "toolu_nobody", "content": "x"}
                        ],
                    }
                ],
            )
    # refused before sending (relaykit's check, naming the id) or by the vendor, in
    # its words, reaching the caller as a 400 in the dialect's shape either way
    assert chat.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert responses.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert messages.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


# -- a call id a later turn uses again ---------------------------------------------


@pytest.mark.parametrize("name", [*VENDORS, *OTHER_VENDORS])
async def test_a_call_id_a_later_turn_uses_again_reaches_each_vendor(name: str) -> None:
    # Agents that number their calls per turn (hermes-agent's "terminal:0") send a
    # history where two turns' calls share an id. OpenAI's Responses API refuses that
    # ("Duplicate function_call_output for call_id 'terminal:0'. ..."): relaykit
    # sends the later pair under an id of its own, so every vendor gets the turn.
    items: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "terminal:0", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "terminal:0", "output": "sunny"},
        {"role": "user", "content": "And in Rome?"},
        {"type": "function_call", "call_id": "terminal:0", "name": "get_weather",
         "arguments": '{"city": "Rome"}'},
        {"type": "function_call_output", "call_id": "terminal:0", "output": "rain"},
    ]  # fmt: skip
    async with upstream_of(name) as up, _sdk(up.url) as sdk:
        up.mock.script.push(Reply(text="Sunny there, rain here."))
        answer = await sdk.responses.create(model=up.model, input=items, tools=RESPONSES_TOOLS)
    assert answer.output_text == "Sunny there, rain here."
    if name == "openai-responses":
        sent = up.mock.last_request.json()["input"]
        assert [(i["type"], i["call_id"]) for i in sent if "call_id" in i] == [
            ("function_call", "terminal:0"),
            ("function_call_output", "terminal:0"),
            ("function_call", "terminal:0_2"),
            ("function_call_output", "terminal:0_2"),
        ]


# -- Anthropic's tool_result forms ---------------------------------------------------

#: a 1x1 PNG
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_an_errored_tool_result_with_text_and_image_reaches_each_vendor(
    upstream: Upstream, streamed: bool
) -> None:
    upstream.mock.script.push(Reply(tool_calls=CALLS[:1]), Reply(text="The camera broke."))
    messages: list[Any] = [{"role": "user", "content": "Show me Paris."}]
    async with _claude(upstream.url) as sdk:
        first = await _message(
            sdk, streamed, model=upstream.model, messages=messages, tools=MESSAGES_TOOLS
        )
        (call,) = [b for b in first.content if b.type == "tool_use"]
        messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        result = {
            "type": "tool_result",
            "tool_use_id": call.id,
            "is_error": True,
            "content": [
                {"type": "text", "text": "camera offline"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
        }
        messages.append({"role": "user", "content": [result]})
        second = await _message(
            sdk, streamed, model=upstream.model, messages=messages, tools=MESSAGES_TOOLS
        )
    assert [b.text for b in second.content if b.type == "text"] == ["The camera broke."]
    sent = upstream.mock.requests[-1].body.decode()
    assert "camera offline" in sent
    assert PNG[:40] in sent


# -- tool_choice in each dialect's spellings -------------------------------------------


def _sent_choice(request: Any) -> ToolChoice | None:
    """The tool choice a vendor's request carried, read back (``None``: none sent, the
    vendor's default, which is auto)."""
    body = request.json()
    config = body.get("toolConfig") or {}  # Gemini's and Bedrock's
    if "converse" in request.path:
        if "toolConfig" not in body:
            return ToolChoice("none")  # Converse has no "none": the tools are left out
        value = config.get("toolChoice")
    elif "generateContent" in request.path or "GenerateContent" in request.path:
        value = config.get("functionCallingConfig")
    else:
        value = body.get("tool_choice")
    return None if value is None else ToolChoice.coerce(value)


CHOICES = [
    ("chat", "auto", ToolChoice("auto")),
    ("chat", "none", ToolChoice("none")),
    ("chat", "required", ToolChoice("required")),
    (
        "chat",
        {"type": "function", "function": {"name": "get_time"}},
        ToolChoice("tool", "get_time"),
    ),
    ("responses", "auto", ToolChoice("auto")),
    ("responses", "none", ToolChoice("none")),
    ("responses", "required", ToolChoice("required")),
    ("responses", {"type": "function", "name": "get_time"}, ToolChoice("tool", "get_time")),
    ("messages", {"type": "auto"}, ToolChoice("auto")),
    ("messages", {"type": "none"}, ToolChoice("none")),
    ("messages", {"type": "any"}, ToolChoice("required")),
    ("messages", {"type": "tool", "name": "get_time"}, ToolChoice("tool", "get_time")),
    (
        "messages",
        {"type": "auto", "disable_parallel_tool_use": False},
        ToolChoice("auto"),
    ),
]


@pytest.mark.parametrize(("dialect", "choice", "expected"), CHOICES)
async def test_tool_choice_reaches_each_vendor_as_its_own(
    upstream: Upstream, dialect: str, choice: Any, expected: ToolChoice
) -> None:
    upstream.mock.script.push(
        Reply(tool_calls=CALLS[1:]) if expected.mode in ("required", "tool") else Reply(text="ok")
    )
    question: list[Any] = [{"role": "user", "content": "Time in Paris?"}]
    async with _sdk(upstream.url) as sdk, _claude(upstream.url) as claude:
        if dialect == "chat":
            await sdk.chat.completions.create(
                model=upstream.model, messages=question, tools=CHAT_TOOLS, tool_choice=choice
            )
        elif dialect == "responses":
            await sdk.responses.create(
                model=upstream.model, input=question, tools=RESPONSES_TOOLS, tool_choice=choice
            )
        else:
            await claude.messages.create(
                model=upstream.model,
                max_tokens=64,
                messages=question,
                tools=MESSAGES_TOOLS,
                tool_choice=choice,
            )
    sent = _sent_choice(upstream.mock.last_request)
    if expected.mode == "auto":
        assert sent in (None, expected)
    else:
        assert sent == expected


# -- the Responses API's streamed items, one after another -----------------------------


async def test_a_responses_stream_finishes_each_call_item_before_the_next(
    upstream: Upstream,
) -> None:
    # OpenAI streams output items one at a time: an item is added, filled and done
    # before the next is added. A client that keeps one current item (not the SDK's
    # accumulator, which tracks each by output_index) breaks on interleaved items.
    upstream.mock.script.push(Reply(text="Checking.", tool_calls=CALLS))
    body = {
        "model": upstream.model,
        "input": "Weather and time in Paris?",
        "tools": RESPONSES_TOOLS,
        "stream": True,
    }
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{upstream.url}/v1/responses",
            json=body,
            headers={"authorization": f"Bearer {KEY}"},
        )
    events = [
        json.loads(line[len("data: ") :])
        for line in answer.text.splitlines()
        if line.startswith("data: ")
    ]
    order: list[tuple[str, int]] = [
        (e["type"], e["output_index"]) for e in events if "output_index" in e
    ]
    open_item: int | None = None
    for kind, index in order:
        if kind == "response.output_item.added":
            assert open_item is None, f"item {index} added while {open_item} is open: {order}"
            open_item = index
        else:
            assert index == open_item, f"{kind} for item {index} while {open_item} is open"
            if kind == "response.output_item.done":
                open_item = None
    assert open_item is None
    kinds = [kind for kind, _ in order]
    assert kinds.count("response.function_call_arguments.done") == 2
    assert [e["type"] for e in events][-1] == "response.completed"


def test_interleaved_call_fragments_still_make_whole_calls_in_the_response() -> None:
    # No vendor relaykit speaks interleaves its calls' fragments today, but relaykit's
    # events allow it: an item already done keeps what came late in the final response.
    from relaykit import ChatResponse, ToolCallDelta

    dialect = ResponsesDialect()
    encoder = dialect.encoder(dialect.parse({"model": "fake/m", "input": "hi"}, ()))
    events = [
        ToolCallDelta(0, "c0", "get_weather", '{"city": '),
        ToolCallDelta(1, "c1", "get_time", '{"tz": "CET"}'),
        ToolCallDelta(0, arguments='"Paris"}'),
    ]
    frames = b"".join(encoder.event(e) for e in events)
    frames += encoder.end(ChatResponse(finish_reason="tool_calls"))
    streamed = [
        json.loads(line[6:]) for line in frames.decode().splitlines() if line[:6] == "data: "
    ]
    output = streamed[-1]["response"]["output"]
    assert [(i["call_id"], json.loads(i["arguments"])) for i in output] == [
        ("c0", {"city": "Paris"}),
        ("c1", {"tz": "CET"}),
    ]
    deltas = [e["delta"] for e in streamed if e["type"].endswith("arguments.delta")]
    assert deltas == ['{"city": ', '{"tz": "CET"}', '"Paris"}']


BAD_CHOICES = [
    # a named tool the request does not define: each vendor refuses it its own way,
    # or (a mock, a lenient vendor) forces a call to nothing; refused here by name
    ("chat", {"type": "function", "function": {"name": "nope"}}, "'nope'"),
    ("responses", {"type": "function", "name": "nope"}, "'nope'"),
    ("messages", {"type": "tool", "name": "nope"}, "'nope'"),
    # a word that is no mode: relaykit reads a bare string as a tool's name, which
    # made the typo a forced call to a tool called "requried"
    ("chat", "requried", "'requried'"),
    ("responses", "requried", "'requried'"),
]


@pytest.mark.parametrize(("dialect", "choice", "named"), BAD_CHOICES)
async def test_a_tool_choice_naming_no_tool_is_a_400_in_the_dialects_shape(
    dialect: str, choice: Any, named: str
) -> None:
    async with upstream_of("anthropic") as up:
        async with _sdk(up.url) as sdk, _claude(up.url) as claude:
            question: list[Any] = [{"role": "user", "content": "Time?"}]
            caught: Any
            if dialect == "chat":
                with pytest.raises(openai.BadRequestError) as caught:
                    await sdk.chat.completions.create(
                        model=up.model, messages=question, tools=CHAT_TOOLS, tool_choice=choice
                    )
            elif dialect == "responses":
                with pytest.raises(openai.BadRequestError) as caught:
                    await sdk.responses.create(
                        model=up.model, input=question, tools=RESPONSES_TOOLS, tool_choice=choice
                    )
            else:
                with pytest.raises(anthropic.BadRequestError) as caught:
                    await claude.messages.create(
                        model=up.model,
                        max_tokens=9,
                        messages=question,
                        tools=MESSAGES_TOOLS,
                        tool_choice=choice,
                    )
        assert up.mock.requests == []
    assert named in str(caught.value)
    if dialect == "messages":
        assert caught.value.body["error"]["type"] == "invalid_request_error"
    else:
        assert caught.value.body["param"].startswith("tool_choice")


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_responses_tool_outputs_continue_a_kept_response(
    upstream: Upstream, streamed: bool
) -> None:
    # The Responses API's own way: only the outputs, after previous_response_id.
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(text="Sunny, 14:00."))
    async with _sdk(upstream.url) as sdk:
        first = await _respond(
            sdk, streamed, model=upstream.model, input="Weather and time?", tools=RESPONSES_TOOLS
        )
        calls = [item for item in first.output if item.type == "function_call"]
        outputs: list[Any] = [
            {"type": "function_call_output", "call_id": c.call_id, "output": out}
            for c, out in zip(calls, ('{"sky": "clear"}', "14:00"), strict=True)
        ]
        second = await _respond(
            sdk,
            streamed,
            model=upstream.model,
            previous_response_id=first.id,
            input=outputs,
            tools=RESPONSES_TOOLS,
        )
    assert second.output_text == "Sunny, 14:00."
    sent = upstream.mock.last_request.body.decode()
    # both results went, each vendor's way (Gemini's as objects, the others' as text)
    assert "clear" in sent and "14:00" in sent


async def test_parallel_tool_calls_true_asks_for_nothing_and_reaches_no_vendor(
    upstream: Upstream,
) -> None:
    # true is every vendor's default: sent on, it broke Gemini (an unknown field)
    # and went into Anthropic's and Bedrock's bodies, which have no such field
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(tool_calls=CALLS))
    question: list[Any] = [{"role": "user", "content": "Weather and time?"}]
    async with _sdk(upstream.url) as sdk:
        chat = await sdk.chat.completions.create(
            model=upstream.model, messages=question, tools=CHAT_TOOLS, parallel_tool_calls=True
        )
        assert "parallel_tool_calls" not in upstream.mock.last_request.json()
        responses = await sdk.responses.create(
            model=upstream.model, input=question, tools=RESPONSES_TOOLS, parallel_tool_calls=True
        )
        assert "parallel_tool_calls" not in upstream.mock.last_request.json()
    assert len(chat.choices[0].message.tool_calls or ()) == 2
    assert len([i for i in responses.output if i.type == "function_call"]) == 2


async def test_parallel_tool_calls_false_still_reaches_openai() -> None:
    async with upstream_of("openai") as up, _sdk(up.url) as sdk:
        up.mock.script.push(Reply(tool_calls=CALLS[:1]), Reply(tool_calls=CALLS[:1]))
        question: list[Any] = [{"role": "user", "content": "Weather?"}]
        await sdk.chat.completions.create(
            model=up.model, messages=question, tools=CHAT_TOOLS, parallel_tool_calls=False
        )
        assert up.mock.last_request.json()["parallel_tool_calls"] is False
        await sdk.responses.create(
            model=up.model, input=question, tools=RESPONSES_TOOLS, parallel_tool_calls=False
        )
        assert up.mock.last_request.json()["parallel_tool_calls"] is False
