"""ToolIds: tool call ids renamed the same way every time, valid and each once."""

from __future__ import annotations

from relaykit_claude_models import ToolIds


def test_valid_ids_seen_once_go_out_as_they_are() -> None:
    ids = ToolIds()
    assert [ids.call("toolu_01A"), ids.call("call-2")] == ["toolu_01A", "call-2"]
    assert [ids.result("toolu_01A"), ids.result("call-2")] == ["toolu_01A", "call-2"]


def test_a_repeated_id_gets_a_name_of_its_own_and_its_results_follow() -> None:
    ids = ToolIds()
    assert ids.call("call_0") == "call_0"
    assert ids.result("call_0") == "call_0"
    assert ids.call("call_0") == "call_0_2"
    assert ids.result("call_0") == "call_0_2"  # the latest call given that id
    assert ids.call("call_0_2") == "call_0_2_2"  # a real id that a rename took
    assert ids.call("call_0") == "call_0_3"


def test_invalid_and_long_ids_are_made_valid() -> None:
    ids = ToolIds(max_length=10)
    assert ids.call("functions.get_weather:0") == "functions_"
    assert ids.call("functions.now:1") == "function_2"  # cut to room for the suffix
    assert ids.result("functions.now:1") == "function_2"
    assert ids.call("") == "call"
    assert ids.result("never-called.x") == "never-call"
