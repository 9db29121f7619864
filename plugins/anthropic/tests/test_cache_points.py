"""Prompt caching: relaykit cache points as Anthropic cache_control marks, over loopback."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relaykit
from relaykit import (
    CachePoint,
    ChatRequest,
    InvalidRequestError,
    Message,
    ReasoningPart,
    TextPart,
    Tool,
    ToolCall,
)
from relaykit_anthropic import wire
from relaykit_anthropic.testing import AnthropicMock, thinking_signature, validate_cache_control

from .conftest import client

MODEL = "anthropic/claude-sonnet-4-5"
EPHEMERAL = {"type": "ephemeral"}
MANUAL = "word " * 1500  # 1,500 tokens to the mock: over the 1,024 a prefix needs


def body(*messages: Message, tools: tuple[Tool, ...] = ()) -> dict[str, Any]:
    return wire.request_body(
        ChatRequest(model="claude-sonnet-4-5", messages=messages, tools=tools), stream=False
    )


def test_without_cache_points_the_system_prompt_stays_one_string() -> None:
    b = body(Message.system("be terse"), Message.system("be kind"), Message.user("hi"))
    assert b["system"] == "be terse\n\nbe kind"


def test_a_cache_point_in_the_system_prompt_splits_it_there_and_marks_the_first_half() -> None:
    system = Message("system", (TextPart("the manual"), CachePoint("1h"), TextPart("today")))
    b = body(system, Message.system("be kind"), Message.user("hi"))
    assert b["system"] == [
        {"type": "text", "text": "the manual", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "today\n\nbe kind"},
    ]
    assert "".join(block["text"] for block in b["system"]) == "the manual" + "today\n\nbe kind"


def test_a_cache_point_marks_the_message_block_before_it() -> None:
    b = body(
        Message.system("be terse"),
        Message.user([TextPart("a long document"), CachePoint(), TextPart("question")]),
    )
    assert b["system"] == "be terse"
    assert b["messages"][0]["content"] == [
        {"type": "text", "text": "a long document", "cache_control": EPHEMERAL},
        {"type": "text", "text": "question"},
    ]


def test_a_cache_point_opening_a_turn_marks_what_came_before_it() -> None:
    # First in the first message: the prefix ends with the system prompt.
    b = body(Message.system("be terse"), Message.user([CachePoint(), TextPart("q")]))
    assert b["system"] == [{"type": "text", "text": "be terse", "cache_control": EPHEMERAL}]
    # Ending a tool result turn merged into the user turn that follows it.
    b = body(
        Message.user("q"),
        Message.assistant(tool_calls=[ToolCall("t1", "lookup", {})]),
        Message("tool", (relaykit.ToolResultPart("t1", "42"), CachePoint())),
        Message.user("and then?"),
    )
    assert b["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "42", "cache_control": EPHEMERAL},
        {"type": "text", "text": "and then?"},
    ]


def test_two_points_on_one_block_keep_the_longer_lifetime() -> None:
    for points in ((CachePoint("1h"), CachePoint()), (CachePoint(), CachePoint("1h"))):
        b = body(Message.user([TextPart("doc"), *points, TextPart("q")]))
        assert b["messages"][0]["content"][0]["cache_control"]["ttl"] == "1h"


def test_thinking_cannot_be_marked_so_the_block_before_it_is() -> None:
    thought = ReasoningPart("hmm", thinking_signature("hmm"), origin="anthropic")
    b = body(
        Message.user("q"),
        Message.assistant([TextPart("let me see"), thought, CachePoint()]),
        Message.user("go on"),
    )
    assert b["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": thinking_signature("hmm")},
        {"type": "text", "text": "let me see", "cache_control": EPHEMERAL},
    ]


def test_a_point_after_thinking_mid_turn_marks_the_text_before_it_once_reordered() -> None:
    # text, thinking, point, tool call: the thinking goes first (Claude's rule) and the
    # point marks the text, so the text and the thinking stay inside its prefix
    thought = ReasoningPart("hmm", thinking_signature("hmm"), origin="anthropic")
    call = ToolCall("t1", "get_weather", {})
    b = body(
        Message.user("q"),
        Message.assistant([TextPart("let me see"), thought, CachePoint("1h"), call]),
        Message.tool("t1", "sunny"),
        tools=(Tool("get_weather", parameters={"type": "object"}),),
    )
    assert [blk["type"] for blk in b["messages"][1]["content"]] == ["thinking", "text", "tool_use"]
    assert b["messages"][1]["content"][1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in b["messages"][1]["content"][2]


def test_tools_are_marked_by_their_cache_and_a_point_before_everything_is_left_out() -> None:
    b = body(Message.user([CachePoint(), TextPart("q")]))
    assert "cache_control" not in str(b)
    b = body(Message.user("q"), tools=(Tool("a"), Tool("b", cache=CachePoint())))
    assert [t.get("cache_control") for t in b["tools"]] == [None, EPHEMERAL]
    b = body(Message.user([CachePoint(), TextPart("q")]), tools=(Tool("a"),))
    assert b["tools"][0]["cache_control"] == EPHEMERAL


@pytest.mark.parametrize(
    ("marks", "complaint"),
    [
        (["5m"] * 5, "A maximum of 4 blocks with cache_control may be provided. Found 5."),
        (["5m", "1h"], "a ttl='1h' cache_control block must not come after a ttl='5m'"),
    ],
)
def test_the_mock_checks_marks_as_the_api_does(marks: list[str], complaint: str) -> None:
    content = [
        {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral", "ttl": ttl}}
        for i, ttl in enumerate(marks)
    ]
    problem = validate_cache_control({"messages": [{"role": "user", "content": content}]})
    assert problem is not None and complaint in problem
    assert validate_cache_control({"messages": [{"role": "user", "content": content[:1]}]}) is None


async def call(c: relaykit.Client, messages: Any, streamed: bool) -> relaykit.ChatResponse:
    if not streamed:
        return await c.chat(MODEL, messages, max_tokens=10)
    async with c.stream(MODEL, messages, max_tokens=10) as s:
        async for _ in s:
            pass
    return s.response


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_the_second_call_reads_what_the_first_wrote_and_costs_less(
    mock: AnthropicMock, streamed: bool
) -> None:
    system = Message("system", (TextPart(MANUAL), CachePoint()))
    async with client(mock) as c:
        first = await call(c, [system, Message.user("question one")], streamed)
        second = await call(c, [system, Message.user("question two")], streamed)
    assert mock.last_request.json()["system"][0]["cache_control"] == EPHEMERAL
    assert (first.usage.cache_write_input_tokens, first.usage.cached_input_tokens) == (1500, 0)
    assert (second.usage.cache_write_input_tokens, second.usage.cached_input_tokens) == (0, 1500)
    assert first.usage.input_tokens == second.usage.input_tokens > 1500
    # Sonnet 4.5 per million: $3.75 cache writes, $0.30 cache reads
    assert first.cost is not None and second.cost is not None
    assert first.cost - second.cost == 1500 * (Decimal("3.75") - Decimal("0.30")) / 1_000_000


@pytest.mark.anyio
async def test_one_hour_marks_write_to_the_one_hour_cache(mock: AnthropicMock) -> None:
    system = Message("system", (TextPart(MANUAL), CachePoint("1h")))
    user = Message.user([TextPart(MANUAL), CachePoint(), TextPart("q")])
    async with client(mock) as c:
        r = await c.chat(MODEL, [system, user], max_tokens=10)
    assert (r.usage.cache_write_input_tokens, r.usage.cache_write_1h_input_tokens) == (3000, 1500)


@pytest.mark.anyio
async def test_a_fifth_cache_point_is_refused_by_the_api_with_its_message(
    mock: AnthropicMock,
) -> None:
    parts: list[Any] = []
    for i in range(5):
        parts += [TextPart(f"part {i}"), CachePoint()]
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="A maximum of 4 blocks with cache_control"):
            await c.chat(MODEL, [Message.user(parts)], max_tokens=10)


@pytest.mark.anyio
async def test_auto_cache_makes_each_turn_read_the_conversation_before_it(
    mock: AnthropicMock,
) -> None:
    history: list[Message] = [Message.system(MANUAL)]
    usages = []
    async with client(mock, auto_cache=True) as c:
        for question in ("first question", "second question", "third question"):
            history.append(Message.user(question))
            r = await c.chat(MODEL, history, max_tokens=10)
            usages.append((r.usage.cached_input_tokens, r.usage.cache_write_input_tokens))
            history.append(r.to_message())
    sent = mock.last_request.json()
    assert sent["system"][0]["cache_control"] == EPHEMERAL
    assert sent["messages"][-1]["content"][-1]["cache_control"] == EPHEMERAL
    # Turn 1 writes the manual and its question; each later turn reads all that came
    # before it (found a few blocks before its mark) and writes only the answer and
    # question since: "echo: ... question" and "... question", one token per word.
    assert usages == [(0, 1502), (1502, 5), (1507, 5)]


@pytest.mark.anyio
async def test_auto_cache_leaves_a_call_with_its_own_points_alone(mock: AnthropicMock) -> None:
    system = Message("system", (TextPart(MANUAL), CachePoint("1h")))
    async with client(mock, auto_cache="5m") as c:
        await c.chat(MODEL, [system, Message.user("q")], max_tokens=10)
    sent = mock.last_request.json()
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "q"}]}]


# -- whatever the points, the prompt is the same --------------------------------------

_TEXTS = st.text(alphabet="ab \n", min_size=0, max_size=6)
_POINT = st.builds(CachePoint, st.sampled_from([None, "5m", "1h"]))


@st.composite
def _message(draw: st.DrawFn) -> Message:
    roles: list[Literal["system", "user", "assistant"]] = ["system", "user", "assistant"]
    role = draw(st.sampled_from(roles))
    parts: list[Any] = draw(st.lists(st.builds(TextPart, _TEXTS) | _POINT, max_size=4))
    if role == "assistant" and draw(st.booleans()):
        parts.insert(0, ReasoningPart("hmm", thinking_signature("hmm"), origin="anthropic"))
    return Message(role, tuple(parts))


def _unmarked(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without its marks, its system prompt as one string without trailing
    whitespace (a block of only whitespace is a 400 at Anthropic, so cutting the
    prompt at a point may leave a trailing one out; nothing else)."""
    text = json.dumps(body)
    for ttl in ("", ', "ttl": "1h"', ', "ttl": "5m"'):
        text = text.replace(f', "cache_control": {{"type": "ephemeral"{ttl}}}', "")
    plain: dict[str, Any] = json.loads(text)
    system = plain.pop("system", "")
    if isinstance(system, list):
        system = "".join(block["text"] for block in system)
    return {**plain, "system": system.rstrip()}


@given(
    st.lists(_message(), min_size=1, max_size=5),
    st.lists(_POINT | st.none(), min_size=0, max_size=2),
)
@settings(max_examples=300, deadline=None)
def test_cache_points_change_no_text_and_mark_only_what_may_be_marked(
    messages: list[Message], tool_points: list[CachePoint | None]
) -> None:
    tools = tuple(Tool(f"t{i}", cache=p) for i, p in enumerate(tool_points))
    stripped = tuple(
        Message(m.role, tuple(p for p in m.content if not isinstance(p, CachePoint)))
        for m in messages
    )
    try:
        marked = body(*messages, tools=tools)
    except InvalidRequestError:
        # Every message blank: nothing to send, marked or not.
        with pytest.raises(InvalidRequestError, match="nothing to send"):
            body(*stripped, tools=tuple(Tool(t.name) for t in tools))
        return
    plain = body(*stripped, tools=tuple(Tool(t.name) for t in tools))
    assert _unmarked(marked) == _unmarked(plain)
    points = sum(isinstance(p, CachePoint) for m in messages for p in m.content)
    points += sum(p is not None for p in tool_points)
    blocks = [*marked.get("tools", ())]
    if isinstance(marked.get("system"), list):
        blocks += marked["system"]
    blocks += [b for turn in marked["messages"] for b in turn["content"]]
    marks = [b for b in blocks if "cache_control" in b]
    assert len(marks) <= points
    assert all(b.get("type") not in ("thinking", "redacted_thinking") for b in marks)
