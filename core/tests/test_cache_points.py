"""CachePoint: where a cacheable prompt prefix ends, as users write it and as the core keeps it."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import CachePoint, InvalidRequestError, Message, TextPart, Tool, from_json, to_json
from relaykit.cache_points import add_cache_points, auto_cache_option
from relaykit.messages import ToolResultPart, coerce_messages
from relaykit.request import build_request
from relaykit.response_cache import cache_key
from relaykit.testing import FakePlugin

EPHEMERAL = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}


def test_a_cache_point_takes_the_two_lifetimes_providers_offer() -> None:
    assert CachePoint().ttl is None
    assert CachePoint("1h").ttl == "1h"
    with pytest.raises(InvalidRequestError, match="'2h'; use '5m', '1h'"):
        CachePoint("2h")


def test_cache_control_on_an_openai_shaped_part_ends_the_prefix_after_that_part() -> None:
    (m,) = coerce_messages(
        [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "a long manual", "cache_control": EPHEMERAL},
                    {"type": "text", "text": "today is Tuesday"},
                ],
            }
        ]
    )
    assert m.content == (TextPart("a long manual"), CachePoint(), TextPart("today is Tuesday"))
    assert m.text == "a long manualtoday is Tuesday"  # a cache point is not text


def test_cache_control_on_a_message_marks_its_end() -> None:
    user, tool = coerce_messages(
        [
            {"role": "user", "content": "the document", "cache_control": ONE_HOUR},
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": [{"type": "text", "text": "42", "cache_control": EPHEMERAL}],
            },
        ]
    )
    assert user.content == (TextPart("the document"), CachePoint("1h"))
    assert tool.content == (ToolResultPart("call_1", "42"), CachePoint())


def test_relaykit_json_keeps_cache_points() -> None:
    messages = (
        Message("system", (TextPart("manual"), CachePoint("1h"))),
        Message.user("hi"),
    )
    assert from_json(to_json(messages), tuple[Message, ...]) == messages
    assert coerce_messages([{"role": "user", "content": [{"type": "cache_point"}]}])[0].content == (
        CachePoint(),
    )


@pytest.mark.parametrize(
    ("mark", "complaint"),
    [
        ({"type": "persistent"}, r"messages\[0\].content\[0\].cache_control is"),
        ("ephemeral", r"use \{'type': 'ephemeral'\}"),
        ({"type": "ephemeral", "ttl": "1d"}, r"cache_control.ttl is '1d'; use '5m' or '1h'"),
    ],
)
def test_a_cache_control_we_cannot_honour_is_refused_by_name(mark: Any, complaint: str) -> None:
    with pytest.raises(InvalidRequestError, match=complaint):
        coerce_messages(
            [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": mark}]}]
        )


def test_a_cache_point_last_in_tools_caches_the_definitions() -> None:
    weather = {"type": "function", "function": {"name": "weather"}}
    r = build_request("m", coerce_messages("hi"), {"tools": [weather, Tool("time"), CachePoint()]})
    assert [t.cache for t in r.tools] == [None, CachePoint()]
    anthropic_shaped = {"name": "weather", "input_schema": {}, "cache_control": EPHEMERAL}
    r = build_request("m", coerce_messages("hi"), {"tools": [anthropic_shaped]})
    assert r.tools[0].cache == CachePoint()
    with pytest.raises(InvalidRequestError, match=r"tools\[0\] is a cache point with no tool"):
        build_request("m", coerce_messages("hi"), {"tools": [CachePoint(), weather]})


def test_the_response_cache_key_ignores_where_caching_ends() -> None:
    plain = build_request(
        "m", (Message("system", (TextPart("manual"),)), Message.user("q")), {"tools": [Tool("t")]}
    )
    marked = build_request(
        "m",
        (Message("system", (TextPart("manual"), CachePoint("1h"))), Message.user("q")),
        {"tools": [Tool("t"), CachePoint()]},
    )
    assert cache_key("p", plain) == cache_key("p", marked)


class Swapper:
    """A reversible redactor: SECRET-WORD out, <S> back."""

    def redact(self, text: str) -> str:
        return text.replace("SECRET-WORD", "<S>")

    def restore(self, text: str) -> str:
        return text.replace("<S>", "SECRET-WORD")

    @relaykit.hookimpl
    def relaykit_redactors(self, config: Any) -> list[Any]:
        return [self]


@pytest.mark.anyio
async def test_cache_points_reach_the_provider_through_outbound_redaction() -> None:
    fake = FakePlugin()
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, Swapper()]) as c:
        system = Message("system", (TextPart("manual for SECRET-WORD"), CachePoint()))
        await c.chat("fake/m", [system, Message.user("q")], tools=[Tool("t"), CachePoint()])
    sent = fake.calls[-1]
    assert sent.messages[0].content == (TextPart("manual for <S>"), CachePoint())
    assert sent.tools[0].cache == CachePoint()


def test_litellm_s_mark_inside_an_openai_tool_s_function_counts_too() -> None:
    inside = {"type": "function", "function": {"name": "t", "cache_control": ONE_HOUR}}
    assert Tool.coerce(inside).cache == CachePoint("1h")
    both = {**inside, "cache_control": EPHEMERAL}  # the tool's own mark first
    assert Tool.coerce(both).cache == CachePoint()
    bad = {"type": "function", "function": {"name": "t", "cache_control": {"type": "x"}}}
    with pytest.raises(InvalidRequestError, match=r"tools\[0\].function.cache_control is"):
        build_request("m", coerce_messages("hi"), {"tools": [bad]})


def test_a_tool_whose_schema_is_not_an_object_is_a_typed_error() -> None:
    with pytest.raises(InvalidRequestError, match=r"tools\[0\]'s parameters must be a JSON"):
        build_request("m", coerce_messages("hi"), {"tools": [{"name": "t", "parameters": "x"}]})


def test_auto_cache_points_go_after_tools_system_and_the_last_message() -> None:
    request = build_request(
        "m",
        (Message.system("manual"), Message.user("q1"), Message.assistant("a1"), Message.user("q2")),
        {"tools": [Tool("a"), Tool("b")]},
    )
    placed = add_cache_points(request, CachePoint("1h"))
    assert [t.cache for t in placed.tools] == [None, CachePoint("1h")]
    assert [m.content[-1] for m in placed.messages] == [
        CachePoint("1h"),
        TextPart("q1"),
        TextPart("a1"),
        CachePoint("1h"),
    ]
    # The caller's own points win: nothing is added to a request that has any.
    assert add_cache_points(placed, CachePoint()) is placed
    only_system = build_request("m", (Message.system("s"),), {})
    assert add_cache_points(only_system, CachePoint()).messages[0].content == (
        TextPart("s"),
        CachePoint(),
    )


@pytest.mark.parametrize(
    ("value", "point"),
    [(None, None), (False, None), (True, CachePoint()), ("1h", CachePoint("1h"))],
)
def test_the_auto_cache_option_reads_true_or_a_ttl(value: Any, point: CachePoint | None) -> None:
    assert auto_cache_option(value, "providers.x.auto_cache") == point


def test_a_bad_auto_cache_option_is_a_config_error_naming_it() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"providers.x.auto_cache is 'always'"):
        auto_cache_option("always", "providers.x.auto_cache")
