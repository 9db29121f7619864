"""relaykit.tool_ids: tool call ids renamed the same way every time, each once."""

from __future__ import annotations

from relaykit import Message, ToolCall
from relaykit.messages import ToolResultPart
from relaykit.tool_ids import ToolIds, unique_tool_ids


def test_repeated_ids_across_answers_go_out_once_each_results_following() -> None:
    ids = ToolIds()
    assert [ids.call("call_0"), ids.call("call_1")] == ["call_0", "call_1"]
    assert [ids.result("call_0"), ids.result("call_1")] == ["call_0", "call_1"]
    assert ids.call("call_0") == "call_0_2"
    assert ids.result("call_0") == "call_0_2"
    assert ids.result("call_0") == "call_0_2"  # a second result keeps its call's id


def test_one_answer_repeating_an_id_pairs_its_results_in_order() -> None:
    # Kimi behind some proxies gives two calls of one answer one id.
    ids = ToolIds()
    assert [ids.call("edit:22"), ids.call("edit:22")] == ["edit_22", "edit_22_2"]
    assert [ids.result("edit:22"), ids.result("edit:22")] == ["edit_22", "edit_22_2"]


def test_a_call_left_unanswered_does_not_take_a_later_answers_result() -> None:
    ids = ToolIds()
    ids.call("call_0")
    ids.call("call_1")
    ids.result("call_1")  # call_0 never answered
    assert ids.call("call_0") == "call_0_2"
    assert ids.result("call_0") == "call_0_2"


def test_length_and_characters_follow_the_vendor() -> None:
    ids = ToolIds(max_length=10)
    assert ids.call("functions.get_weather:0") == "functions_"
    assert ids.call("functions.now:1") == "function_2"
    assert ids.result("never-called.x") == "never-call"
    assert ToolIds(invalid=None).call("functions.now:0") == "functions.now:0"
    assert ToolIds().call("") == "call"


def test_unique_tool_ids_renames_the_request_only() -> None:
    messages = (
        Message.user("hi"),
        Message.assistant("", [ToolCall("call_0", "a", {})]),
        Message.tool("call_0", "A"),
        Message.assistant("", [ToolCall("call_0", "b", {})]),
        Message.tool("call_0", "B"),
    )
    sent = unique_tool_ids(messages, max_length=40, invalid=None)
    assert [m.tool_calls[0].id for m in (sent[1], sent[3])] == ["call_0", "call_0_2"]
    results = [p.tool_call_id for m in sent for p in m.content if isinstance(p, ToolResultPart)]
    assert results == ["call_0", "call_0_2"]
    assert messages[3].tool_calls[0].id == "call_0"  # the caller's keep theirs
    first = messages[:3]
    assert unique_tool_ids(first) is first  # nothing renamed: nothing copied


def test_a_made_up_id_takes_none_the_request_holds() -> None:
    ids = ToolIds(invalid=None, reserved=["call_0", "call_0_2"])
    assert [ids.call("call_0"), ids.call("call_0"), ids.call("call_0_2")] == [
        "call_0",
        "call_0_3",
        "call_0_2",
    ]
