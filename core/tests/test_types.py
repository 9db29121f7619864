"""Values: constructors, coercion from user dicts, lossless JSON round trips."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    InvalidRequestError,
    Message,
    ModelInfo,
    ModelPrice,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    TokenLogprob,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResultPart,
    Usage,
    from_json,
    to_json,
)
from relaykit.assembly import ResponseAssembler
from relaykit.events import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.messages import coerce_messages
from relaykit.request import build_request
from relaykit.serialization import structure_event, unstructure_event

text = st.text(max_size=40)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=3)

tool_calls = st.builds(
    ToolCall, id=text, name=text, arguments=json_objects, raw_arguments=st.none() | text
)
images = st.one_of(
    st.builds(ImagePart, url=text.map(lambda s: "https://x/" + s)),
    st.builds(
        ImagePart,
        data=st.binary(max_size=64),
        media_type=st.sampled_from(["image/png", "image/jpeg"]),
    ),
)
parts = st.one_of(
    st.builds(TextPart, text=text),
    images,
    tool_calls,
    st.builds(ToolResultPart, tool_call_id=text, content=text, is_error=st.booleans()),
    st.builds(ReasoningPart, text=text, signature=st.none() | text),
)
messages = st.builds(
    Message,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.lists(parts, max_size=4).map(tuple),
)
usages = st.builds(Usage, *(st.integers(0, 10**9) for _ in range(6)))
decimals = st.decimals(
    allow_nan=False, allow_infinity=False, places=6, min_value=0, max_value=10**6
)
requests = st.builds(
    ChatRequest,
    model=text,
    messages=st.lists(messages, min_size=1, max_size=3).map(tuple),
    max_tokens=st.none() | st.integers(1, 10**6),
    temperature=st.none() | st.floats(0, 2),
    top_p=st.none() | st.floats(0, 1),
    stop=st.lists(text, max_size=3).map(tuple),
    seed=st.none() | st.integers(0, 2**31),
    tools=st.lists(
        st.builds(Tool, name=text, description=text, parameters=json_objects), max_size=2
    ).map(tuple),
    tool_choice=st.none()
    | st.builds(ToolChoice, mode=st.sampled_from(["auto", "none", "required"]))
    | st.builds(ToolChoice, mode=st.just("tool"), name=text),
    response_format=st.none()
    | st.builds(ResponseFormat, type=st.just("json_schema"), schema=json_objects, name=text),
    timeout=st.none() | st.floats(0.1, 600),
    metadata=st.dictionaries(text, text, max_size=3),
    extra=json_objects,
)
responses = st.builds(
    ChatResponse,
    text=text,
    reasoning=text,
    tool_calls=st.lists(tool_calls, max_size=2).map(tuple),
    finish_reason=st.sampled_from(["stop", "length", "tool_calls", "content_filter", "other"]),
    usage=usages,
    model=text,
    provider=text,
    id=st.none() | text,
    cost=st.none() | decimals,
    latency=st.none() | st.floats(0, 100),
    attempts=st.integers(1, 10),
    cache_hit=st.booleans(),
)
models = st.builds(
    ModelInfo,
    id=text,
    provider=text,
    context_window=st.none() | st.integers(1, 10**7),
    price=st.none()
    | st.builds(
        ModelPrice,
        input=decimals,
        output=decimals,
        cached_input=st.none() | decimals,
        cache_write_input=st.none() | decimals,
        cache_write_1h_input=st.none() | decimals,
    ),
)
events = st.one_of(
    st.builds(StreamStart, id=st.none() | text, model=st.none() | text),
    st.builds(TextDelta, text=text),
    st.builds(ReasoningDelta, text=text, signature=st.none() | text),
    st.builds(
        ToolCallDelta,
        index=st.integers(0, 5),
        id=st.none() | text,
        name=st.none() | text,
        arguments=text,
    ),
    st.builds(UsageUpdate, usage=usages, estimated=st.booleans()),
    st.builds(Finish, reason=st.sampled_from(["stop", "length"]), raw_reason=st.none() | text),
    st.builds(
        LogprobsDelta,
        logprobs=st.lists(
            st.builds(
                TokenLogprob,
                token=text,
                logprob=st.floats(-100, 0),
                bytes=st.none() | st.binary(max_size=8),
                top_logprobs=st.lists(
                    st.builds(TokenLogprob, token=text, logprob=st.floats(-100, 0)), max_size=2
                ).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
    ),
)


@given(requests)
def test_chat_request_json_round_trip_is_lossless(request: ChatRequest) -> None:
    assert from_json(to_json(request), ChatRequest) == request


@given(responses)
def test_chat_response_json_round_trip_is_lossless(response: ChatResponse) -> None:
    assert from_json(to_json(response), ChatResponse) == response


@given(models)
def test_model_info_json_round_trip_is_lossless(model: ModelInfo) -> None:
    assert from_json(to_json(model), ModelInfo) == model


@given(events)
def test_stream_events_round_trip_through_tagged_dicts(event: Any) -> None:
    assert structure_event(unstructure_event(event)) == event


def test_message_constructors() -> None:
    call = ToolCall("c1", "f", {"x": 1})
    assert Message.system("be brief") == Message("system", (TextPart("be brief"),))
    assert Message.user("hi").text == "hi"
    assert Message.assistant("ok", [call]).tool_calls == (call,)
    tool = Message.tool("c1", "42", is_error=True)
    assert tool.content == (ToolResultPart("c1", "42", True),)
    img = ImagePart(data=b"\x89PNG", media_type="image/png")
    assert Message.user("look", img).content[1] == img
    assert img.data_url().startswith("data:image/png;base64,")


def test_openai_shaped_dicts_are_accepted() -> None:
    msgs = coerce_messages(
        [
            {"role": "developer", "content": "sys"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ]
    )
    assert [m.role for m in msgs] == ["system", "user", "assistant", "tool"]
    assert msgs[1].content[1] == ImagePart(data=b"\x89\x50\x4e", media_type="image/png")
    assert msgs[2].tool_calls == (ToolCall("c1", "f", {"a": 1}),)
    assert msgs[3].content == (ToolResultPart("c1", "done"),)


def test_our_own_json_shape_is_accepted() -> None:
    original = (Message.user("hi", ImagePart(data=b"abc", media_type="image/gif")),)
    import json

    as_dicts = json.loads(to_json(list(original)))
    assert coerce_messages(as_dicts) == original


@given(
    role=st.sampled_from(["system", "user", "assistant", "developer"]),
    content=text,
)
def test_plain_dicts_coerce_as_any_mapping(role: str, content: str) -> None:
    # A two-key dict with string content takes a shortcut; any other mapping does not.
    # (A tool message needs the id of its call: tests/test_bad_message_parts.py.)
    from types import MappingProxyType

    d = {"role": role, "content": content}
    assert coerce_messages([d]) == coerce_messages([MappingProxyType(d)])
    assert coerce_messages([d])[0].content == (TextPart(content),)


@pytest.mark.parametrize(
    "message",
    [
        {"role": "robot", "content": "x"},
        {"role": "user", "content": 5},
        {"role": None, "content": "x"},
    ],
)
def test_plain_dicts_with_bad_fields_still_fail(message: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        coerce_messages([message])


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": [{"type": "video"}]}], "messages[0].content[0].type"),
        ([{"role": "user", "content": [{"type": "text"}]}], "messages[0].content[0]"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([42], "messages[0]"),
        (
            [Message.user("hi"), Message("user", (TextPart("a"), {"type": "text"}))],  # type: ignore[arg-type]
            "messages[1].content[1]",
        ),
        ([Message("assistant", (None,))], "messages[0].content[0]"),  # type: ignore[arg-type]
        ([], "messages"),
        ({"role": "user"}, "messages"),
        # these two escaped as TypeError (not iterable; unhashable)
        ([{"role": "assistant", "content": "x", "tool_calls": 5}], "messages[0].tool_calls"),
        ([{"role": ["user"], "content": "x"}], "messages[0].role"),
    ],
)
def test_malformed_messages_name_the_field(messages: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        coerce_messages(messages)
    assert info.value.param == field
    assert field in str(info.value)


def test_image_needs_exactly_one_source() -> None:
    with pytest.raises(InvalidRequestError):
        ImagePart()
    with pytest.raises(InvalidRequestError, match="media_type"):
        ImagePart(data=b"x")


def test_invalid_tool_arguments_are_kept_raw() -> None:
    call = ToolCall.from_json_arguments("c", "f", '{"a": ')
    assert call.arguments == {}
    assert call.raw_arguments == '{"a": '


@pytest.mark.parametrize("text", ["", "  ", "null", " null\n"])
def test_no_tool_arguments_are_an_empty_object(text: str) -> None:
    # "" from OpenAI for a function without parameters, "null" from Groq
    # (langchain#33896): both say "no arguments", as Gemini's absent args and
    # Ollama's null arguments do, not arguments that are not an object.
    call = ToolCall.from_json_arguments("c", "f", text)
    assert (call.arguments, call.raw_arguments) == ({}, None)


def test_build_request_normalises_parameters() -> None:
    req = build_request(
        "m",
        coerce_messages("hi"),
        {
            "stop": "END",
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "tool_choice": "f",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object"}},
            },
        },
    )
    assert req.stop == ("END",)
    assert req.tools == (Tool("f", "", {"type": "object"}),)
    assert req.tool_choice == ToolChoice("tool", "f")
    # OpenAI's default: not strict unless said; a schema that cannot be strict is not
    assert req.response_format == ResponseFormat("json_schema", {"type": "object"}, "r", False)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_token": 5}, "did you mean 'max_tokens'"),
        ({"max_tokens": "5"}, "must be an integer"),
        ({"max_tokens": 0}, "at least 1"),
        ({"temperature": "hot"}, "must be a finite number"),
        ({"temperature": float("nan")}, "must be a finite number"),
        ({"top_p": float("inf")}, "must be a finite number"),
        ({"timeout": float("nan")}, "must be a finite number"),
        # as every other call's: a timeout that has already passed is a mistake,
        # not a call that fails at once with "raise [timeouts] total"
        ({"timeout": 0}, "`timeout` must be a positive number of seconds, not 0"),
        ({"timeout": -1.5}, "`timeout` must be a positive number of seconds, not -1.5"),
        ({"tool_choice": 3}, "tool_choice"),
        # was AttributeError: 'int' object has no attribute 'get'
        ({"tool_choice": {"function": 5}}, "tool_choice .* is not understood"),
        ({"extra": [1]}, "`extra` must be a dict"),
        # a type that is not a class, or a word: said what it is and what to pass
        ({"response_format": list[int]}, r"response_format list\[int\] is a type, not a class"),
        ({"response_format": "json"}, "response_format must be a class or a dict, not 'json'"),
        # these escaped as TypeError ("'int' object is not iterable"), or were sent
        ({"stop": 0}, "`stop` must be a string or a list of strings, not 0"),
        ({"stop": ["END", None]}, r"`stop` must hold strings only: stop\[1\] is None"),
        ({"tools": True}, "`tools` must be a list of tools, not bool"),
        ({"tools": lambda: None}, r"`tools` must be a list of tools, not function.*tools=\[tool\]"),
        # a lone dict iterated as its keys: "tools[0] must be a relaykit.Tool, ..."
        (
            {"tools": {"type": "function", "function": {"name": "f"}}},
            r"`tools` must be a list of tools, not dict.*tools=\[tool\]",
        ),
        # a mapping went out as its keys
        ({"stop": {"END": 1}}, "`stop` must be a string or a list of strings"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        build_request("m", coerce_messages("hi"), params)


def test_cost_counts_cached_input_at_its_own_price() -> None:
    price = ModelPrice(Decimal("2"), Decimal("10"), Decimal("1"))
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cached_input_tokens=400_000)
    assert price.cost(usage) == Decimal("1.2") + Decimal("0.4") + Decimal("5")


def test_cost_counts_cache_writes_at_their_own_price() -> None:
    price = ModelPrice(Decimal("2"), Decimal("10"), Decimal("0.2"), Decimal("2.5"))
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=100_000,
        cached_input_tokens=300_000,
        cache_write_input_tokens=200_000,
    )
    # 500k plain input at 2, 300k reads at 0.2, 200k writes at 2.5, 100k out at 10
    assert price.cost(usage) == Decimal("1") + Decimal("0.06") + Decimal("0.5") + Decimal("1")


def test_cache_writes_cost_the_input_price_when_no_write_price_is_set() -> None:
    price = ModelPrice(Decimal("2"), Decimal("10"))
    usage = Usage(input_tokens=1_000_000, cache_write_input_tokens=1_000_000)
    assert price.cost(usage) == Decimal("2")


def test_one_hour_cache_writes_cost_their_own_price() -> None:
    price = ModelPrice(Decimal("2"), Decimal("10"), Decimal("0.2"), Decimal("2.5"), Decimal("4"))
    usage = Usage(
        input_tokens=1_000_000,
        cache_write_input_tokens=500_000,
        cache_write_1h_input_tokens=200_000,
    )
    # 500k plain input at 2, 300k five-minute writes at 2.5, 200k one-hour writes at 4
    assert price.cost(usage) == Decimal("1") + Decimal("0.75") + Decimal("0.8")


@pytest.mark.parametrize(
    ("write", "expected"),
    [(Decimal("2.5"), Decimal("2.5")), (None, Decimal("2"))],
    ids=["five-minute-price", "input-price"],
)
def test_one_hour_writes_without_their_price_cost_the_write_price(
    write: Decimal | None, expected: Decimal
) -> None:
    price = ModelPrice(Decimal("2"), Decimal("10"), cache_write_input=write)
    usage = Usage(1_000_000, cache_write_input_tokens=1_000_000, cache_write_1h_input_tokens=10**6)
    assert price.cost(usage) == expected


def test_a_one_hour_price_alone_leaves_five_minute_writes_at_the_input_price() -> None:
    price = ModelPrice(Decimal("2"), Decimal("10"), cache_write_1h_input=Decimal("4"))
    usage = Usage(1_000_000, cache_write_input_tokens=600_000, cache_write_1h_input_tokens=100_000)
    # 400k plain and 500k five-minute writes at 2, 100k one-hour writes at 4
    assert price.cost(usage) == Decimal("1.8") + Decimal("0.4")


def test_usages_add_every_count() -> None:
    assert Usage(1, 2, 3, 4, 5, 6) + Usage(10, 20, 30, 40, 50, 60) == Usage(11, 22, 33, 44, 55, 66)


def test_response_to_message_continues_the_conversation() -> None:
    r = ChatResponse(
        text="hi", reasoning="hmm", reasoning_signature="sig", tool_calls=(ToolCall("c", "f"),)
    )
    m = r.to_message()
    assert m.role == "assistant"
    assert m.content == (ReasoningPart("hmm", "sig"), TextPart("hi"), ToolCall("c", "f"))


def test_a_response_sends_its_reasoning_blocks_back_in_order() -> None:
    blocks = (
        ReasoningPart("one", "s1", origin="anthropic"),
        ReasoningPart(redacted="opaque", origin="anthropic"),
        ReasoningPart("two", "s2", origin="anthropic"),
    )
    r = ChatResponse(
        text="hi", reasoning="onetwo", reasoning_signature="s2", reasoning_parts=blocks
    )
    assert r.to_message().content == (*blocks, TextPart("hi"))


def test_a_reasoning_part_belongs_to_its_origin_or_to_anyone_when_unknown() -> None:
    assert ReasoningPart("x", "s", origin="gemini").belongs_to("gemini")
    assert not ReasoningPart("x", "s", origin="gemini").belongs_to("anthropic")
    assert ReasoningPart("x", "s").belongs_to("anthropic")  # built by hand: as before


def test_reasoning_parts_from_dicts_keep_redacted_data_and_origin() -> None:
    (m,) = coerce_messages(
        [
            {
                "role": "assistant",
                "content": [
                    {"type": "reasoning", "redacted": "opaque", "origin": "bedrock"},
                    {"type": "reasoning", "text": "t", "signature": "s"},
                ],
            }
        ]
    )
    assert m.content == (
        ReasoningPart(redacted="opaque", origin="bedrock"),
        ReasoningPart("t", "s"),
    )


def test_the_assembler_keeps_reasoning_blocks_apart() -> None:
    a = ResponseAssembler()
    events: list[StreamEvent] = [
        ReasoningDelta("one ", new_block=True, origin="anthropic"),
        ReasoningDelta("more"),
        ReasoningDelta(signature="s1"),
        ReasoningDelta(new_block=True, redacted="opaque", origin="anthropic"),
        ReasoningDelta("two", new_block=True, origin="anthropic"),
        ReasoningDelta(signature="s2"),
        TextDelta("answer"),
    ]
    for event in events:
        a.add(event)
    r = a.response()
    assert r.reasoning_parts == (
        ReasoningPart("one more", "s1", origin="anthropic"),
        ReasoningPart(redacted="opaque", origin="anthropic"),
        ReasoningPart("two", "s2", origin="anthropic"),
    )
    assert (r.reasoning, r.reasoning_signature, r.text) == ("one moretwo", "s2", "answer")


def test_a_usage_update_marked_estimated_marks_the_response() -> None:
    # Ollama leaves the prompt's count out when its KV cache served the prompt: the
    # plugin's estimate of it must reach the record marked, as a whole answer's does.
    for marks, estimated in (((False, False), False), ((True, False), True)):
        a = ResponseAssembler()
        for mark in marks:
            a.add(UsageUpdate(Usage(5, 2), estimated=mark))
        assert (a.response().usage, a.response().usage_estimated) == (Usage(5, 2), estimated)


def test_encrypted_reasoning_without_new_block_ends_the_block_its_text_came_in() -> None:
    # OpenAI's Responses API: a reasoning item's summary streams first, its
    # encrypted content arrives when the item is done; one part, as non-streamed.
    a = ResponseAssembler()
    events: list[StreamEvent] = [
        ReasoningDelta(new_block=True, origin="openai-responses"),
        ReasoningDelta("first "),
        ReasoningDelta("thought"),
        ReasoningDelta(redacted="enc-1", origin="openai-responses"),
        ReasoningDelta(new_block=True, origin="openai-responses"),
        ReasoningDelta(redacted="enc-2", origin="openai-responses"),
        ReasoningDelta(new_block=True, redacted="whole", origin="anthropic"),
        TextDelta("answer"),
    ]
    for event in events:
        a.add(event)
    assert a.response().reasoning_parts == (
        ReasoningPart("first thought", redacted="enc-1", origin="openai-responses"),
        ReasoningPart(redacted="enc-2", origin="openai-responses"),
        ReasoningPart(redacted="whole", origin="anthropic"),
    )


def test_plain_reasoning_text_stays_in_reasoning_alone() -> None:
    # OpenAI-compatible and Ollama reasoning: no blocks, as their chat responses have none.
    a = ResponseAssembler()
    events: list[StreamEvent] = [ReasoningDelta("think"), ReasoningDelta("ing"), TextDelta("hi")]
    for event in events:
        a.add(event)
    r = a.response()
    assert (r.reasoning, r.reasoning_parts) == ("thinking", ())
    assert r.to_message().content == (ReasoningPart("thinking"), TextPart("hi"))


def test_lazy_exports_match_all() -> None:
    import relaykit

    assert set(relaykit.__all__) == {*relaykit._EXPORTS, "__version__"}
    for name in relaykit.__all__:
        assert getattr(relaykit, name) is not None


@pytest.mark.parametrize("effort", [["high"], {"effort": "high"}])
def test_a_reasoning_effort_that_is_no_string_is_refused_by_name(effort: Any) -> None:
    """Reasoning(["high"]) raised TypeError (unhashable type: 'list')."""
    from relaykit import Reasoning

    with pytest.raises(InvalidRequestError, match=r"reasoning effort .* is not one relaykit knows"):
        Reasoning(effort)


def test_an_assistant_turns_refusal_is_kept_as_what_it_said() -> None:
    # OpenAI's SDK gives a refusal as the message's `refusal` (content null), or as a
    # `refusal` part; history built from model_dump() sends it back. It was dropped,
    # leaving an empty assistant turn.
    dumped, parted = coerce_messages(
        [
            {"role": "assistant", "content": None, "refusal": "I can't help.", "audio": None},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ]
    )
    assert dumped == Message.assistant("I can't help.")
    assert parted == Message.assistant("No.")
    (both,) = coerce_messages([{"role": "assistant", "content": "Well.", "refusal": " No."}])
    assert both.text == "Well. No."


def test_openais_deprecated_function_call_is_refused_not_dropped() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.function_call") as e:
        call = {"name": "f", "arguments": "{}"}
        coerce_messages([{"role": "assistant", "content": None, "function_call": call}])
    assert e.value.param == "messages[0].function_call"
    assert "tool_calls" in (e.value.hint or "")
    # as model_dump() leaves it: nothing to carry
    (plain,) = coerce_messages([{"role": "assistant", "content": "hi", "function_call": None}])
    assert plain == Message.assistant("hi")
