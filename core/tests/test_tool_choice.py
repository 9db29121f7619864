"""``tool_choice`` in each vendor's spelling reads as the same :class:`ToolChoice`;
what relaykit cannot say is refused, typed, never dropped."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import InvalidRequestError, ToolChoice
from relaykit.messages import coerce_messages
from relaykit.request import build_request

AUTO, NONE, REQUIRED, F = (
    ToolChoice("auto"),
    ToolChoice("none"),
    ToolChoice("required"),
    ToolChoice("tool", "f"),
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # relaykit's own words, and OpenAI's (Chat Completions and Responses API)
        ("auto", AUTO),
        ("none", NONE),
        ("required", REQUIRED),
        ("f", F),
        ({"type": "function", "function": {"name": "f"}}, F),
        ({"type": "function", "name": "f"}, F),
        ({"function": {"name": "f"}}, F),
        ({"name": "f"}, F),
        # Anthropic's, with and without the default disable_parallel_tool_use
        ("any", REQUIRED),
        ({"type": "auto"}, AUTO),
        ({"type": "any"}, REQUIRED),
        ({"type": "none"}, NONE),
        ({"type": "tool", "name": "f"}, F),
        ({"type": "auto", "disable_parallel_tool_use": False}, AUTO),
        ({"type": "tool", "name": "f", "disable_parallel_tool_use": False}, F),
        # OpenAI-compatible servers that take the mode as an object
        ({"type": "required"}, REQUIRED),
        # Bedrock's Converse toolChoice
        ({"auto": {}}, AUTO),
        ({"any": {}}, REQUIRED),
        ({"tool": {"name": "f"}}, F),
        # Gemini's functionCallingConfig, and Cohere's upper-case words
        ({"mode": "AUTO"}, AUTO),
        ({"mode": "ANY"}, REQUIRED),
        ({"mode": "NONE"}, NONE),
        ({"mode": "ANY", "allowed_function_names": ["f"]}, F),
        ({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}, F),
        ({"function_calling_config": {"mode": "AUTO"}}, AUTO),
        ("REQUIRED", REQUIRED),
        ("NONE", NONE),
        ("AUTO", AUTO),
        ("ANY", REQUIRED),
    ],
)
def test_every_vendors_spelling_reads_as_the_same_choice(given: Any, expected: ToolChoice) -> None:
    assert ToolChoice.coerce(given) == expected
    request = build_request("m", coerce_messages("hi"), {"tool_choice": given})
    assert request.tool_choice == expected


@pytest.mark.parametrize(
    ("given", "param", "words"),
    [
        (3, "tool_choice", "is not understood"),
        ("", "tool_choice", "is not understood"),
        ({"type": "tool"}, "tool_choice", "is not understood"),
        ({"type": "tool", "name": ""}, "tool_choice.name", "must be the name of a tool"),
        ({"type": "function", "function": {"name": 5}}, "tool_choice.function.name", "name"),
        ({"type": "function", "function": "f"}, "tool_choice", "is not understood"),
        ({"type": "web_search_preview"}, "tool_choice", "is not understood"),
        ({"type": ["auto"]}, "tool_choice", "is not understood"),
        ({"type": "auto", "name": "f"}, "tool_choice", "is not understood"),
        ({"tool": {"name": "f", "extra": 1}}, "tool_choice", "is not understood"),
        ({"mode": "VALIDATED"}, "tool_choice", "is not understood"),
        ({"mode": ["ANY"]}, "tool_choice", "is not understood"),
        (
            {"mode": "ANY", "allowed_function_names": ["f", "g"]},
            "tool_choice.allowed_function_names",
            "several tools",
        ),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function"}]},
            "tool_choice",
            "several tools",
        ),
        (
            {"type": "any", "disable_parallel_tool_use": True},
            "tool_choice.disable_parallel_tool_use",
            "no parallel-tool-calls setting",
        ),
        (
            {"type": "auto", "disable_parallel_tool_use": "yes"},
            "tool_choice.disable_parallel_tool_use",
            "no parallel-tool-calls setting",
        ),
    ],
)
def test_what_relaykit_cannot_say_is_refused_with_the_forms_it_takes(
    given: Any, param: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError, match=words) as caught:
        build_request("m", coerce_messages("hi"), {"tool_choice": given})
    assert caught.value.param == param
    assert caught.value.hint


def test_the_refusal_names_the_accepted_forms() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ToolChoice.coerce({"type": "web_search_preview"})
    hint = str(caught.value.hint)
    for form in ("'auto'", "'required'", "'any'", "{'type': 'tool', 'name': 'f'}", "Bedrock"):
        assert form in hint
    with pytest.raises(InvalidRequestError) as caught:
        ToolChoice.coerce({"type": "auto", "disable_parallel_tool_use": True})
    assert "parallel_tool_calls" in str(caught.value.hint)
