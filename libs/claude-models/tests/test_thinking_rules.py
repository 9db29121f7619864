"""How a Claude model takes thinking settings (the Claude 5 rules moved here from
relaykit-anthropic's tests), and what the functions raise for a deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit import InvalidRequestError, Reasoning
from relaykit_claude_models import (
    adaptive_fields,
    check_forced_tool,
    check_while_thinking,
    claude5,
    default_max_tokens,
    default_room,
    off_fields,
    thinking_budget,
    thinking_room,
)


@pytest.mark.parametrize(
    ("model", "name", "off", "effort", "forced_tool"),
    [
        ("claude-opus-5", "Claude Opus 5", "disabled", "high", True),
        ("claude-opus-5-5", "Claude Opus 5.5", None, "medium", False),
        ("claude-sonnet-5", "Claude Sonnet 5", "disabled", "high", True),
        ("claude-sonnet-5-5", "Claude Sonnet 5.5", "between_tools", "high", False),
        ("claude-haiku-5-5", "Claude Haiku 5.5", "disabled", "medium", True),
        ("claude-fable-5", "Claude Fable 5", None, "high", True),
        ("claude-fable-5-1", "Claude Fable 5.1", None, "high", False),
        ("claude-mythos-5", "Claude Mythos 5", None, "high", True),
        ("claude-mythos-5-1", "Claude Mythos 5.1", None, "high", False),
        ("claude-opus-6", "Claude Opus 6", "disabled", "high", True),  # not documented yet
        ("us.anthropic.claude-opus-5-5", "Claude Opus 5.5", None, "medium", False),  # Bedrock
    ],
)
def test_claude_5_rules_are_read_from_the_models_name(
    model: str, name: str, off: str | None, effort: str, forced_tool: bool
) -> None:
    rules = claude5(model)
    assert rules is not None
    assert (rules.name, rules.off, rules.default_effort, rules.forced_tool) == (
        name,
        off,
        effort,
        forced_tool,
    )
    assert claude5("claude-opus-4-8") is None and claude5("my-gateway-alias") is None


@pytest.mark.parametrize(
    ("reasoning", "model", "expected"),
    [
        (Reasoning("xhigh"), "claude-sonnet-4-6", {"effort": "high"}),  # xhigh came with 4.7
        (Reasoning("xhigh"), "claude-opus-4-7", {"effort": "xhigh"}),
        (Reasoning("minimal"), "claude-opus-5", {"effort": "low"}),
        (Reasoning(budget_tokens=2048), "claude-opus-4-7", {"effort": "medium"}),
        (Reasoning(), "claude-opus-4-7", None),  # on, no amount: the model's default
    ],
)
def test_an_adaptive_effort_is_one_the_model_takes(
    reasoning: Reasoning, model: str, expected: dict[str, str] | None
) -> None:
    fields = adaptive_fields(reasoning, model)
    assert fields["thinking"] == {"type": "adaptive"}
    assert fields.get("output_config") == expected


def test_a_deployment_is_read_as_the_model_it_serves() -> None:
    # "my-claude" names no version: only served says it is Opus 4.7, or Fable 5.1.
    assert adaptive_fields(Reasoning("xhigh"), "my-claude", "claude-opus-4-7") == {
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "xhigh"},
    }
    with pytest.raises(InvalidRequestError) as caught:
        off_fields("my-claude", "claude-fable-5-1")
    error = caught.value
    assert (error.param, error.model, error.status) == ("reasoning", "my-claude", None)
    assert error.message.startswith("Claude Fable 5.1 (deployment 'my-claude') always thinks")
    with pytest.raises(InvalidRequestError, match="deployment 'my-claude'") as caught:
        check_forced_tool("my-claude", forced=True, served="claude-fable-5-1")
    assert (caught.value.param, caught.value.model) == ("tool_choice", "my-claude")
    check_forced_tool("my-claude", forced=True)  # no version: left to the API


def test_thinking_off_is_the_models_own() -> None:
    assert off_fields("claude-opus-4-7") == {}  # off is its default
    assert off_fields("claude-sonnet-5-5") == {"thinking": {"type": "between_tools"}}
    assert off_fields("claude-opus-5") == {"thinking": {"type": "disabled"}}


def test_while_thinking_the_fix_offered_is_one_the_model_takes() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_while_thinking("claude-opus-5", temperature=0.5, top_p=None, forced=False)
    assert caught.value.hint == "drop temperature, or turn thinking off (reasoning='none')"
    with pytest.raises(InvalidRequestError) as caught:
        check_while_thinking("claude-fable-5", temperature=None, top_p=0.5, forced=False)
    assert caught.value.hint == "drop top_p or raise it to 0.95"  # it always thinks
    with pytest.raises(InvalidRequestError) as caught:
        check_while_thinking(
            "claude-haiku-4-5", temperature=None, top_p=None, forced=True, emulated=True
        )
    assert caught.value.hint is not None and "structured_output = 'native'" in caught.value.hint
    check_while_thinking("claude-haiku-4-5", temperature=1, top_p=0.95, forced=False)


def test_while_thinking_a_value_that_is_no_number_is_left_to_the_api() -> None:
    # extra may give any JSON; the API refuses a string for its type, thinking or not.
    check_while_thinking("claude-haiku-4-5", temperature="0.5", top_p="0.5", forced=False)
    check_while_thinking("claude-haiku-4-5", temperature=True, top_p=None, forced=False)
    with pytest.raises(InvalidRequestError, match=r"top_p under 0\.95"):
        check_while_thinking("claude-haiku-4-5", temperature=1, top_p=0, forced=False)


@pytest.mark.parametrize("top_k", [1, 40, "5"])
def test_while_thinking_any_top_k_is_refused(top_k: object) -> None:
    # "`top_k` must be unset when thinking is enabled": no value is taken, so none is
    # left to the API.
    with pytest.raises(InvalidRequestError) as caught:
        check_while_thinking(
            "claude-haiku-4-5", temperature=None, top_p=None, top_k=top_k, forced=False
        )
    assert (caught.value.param, caught.value.status) == ("reasoning", None)
    assert caught.value.message.startswith("Claude takes no top_k while it thinks")
    assert caught.value.hint == "drop top_k from extra, or turn thinking off (reasoning='none')"
    check_while_thinking("claude-haiku-4-5", temperature=None, top_p=None, forced=False)


def test_a_tool_extra_forces_is_named_in_the_fix() -> None:
    # The forced choice is extra's: relaykit's tool_choice= (or emulated JSON) is not it.
    with pytest.raises(InvalidRequestError) as caught:
        check_while_thinking(
            "claude-fable-5",
            temperature=None,
            top_p=None,
            forced=True,
            emulated=True,
            extra_choice="toolConfig.toolChoice",
        )
    assert caught.value.hint == "drop toolConfig.toolChoice from extra, or make it auto"
    with pytest.raises(InvalidRequestError) as caught:
        check_forced_tool("claude-opus-5-5", forced=True, emulated=True, extra_choice="tool_choice")
    error = caught.value
    assert error.message == "Claude Opus 5.5 takes no forced tool (extra's tool_choice forces one)"
    assert error.param == "tool_choice"
    assert error.hint is not None and error.hint.startswith("drop tool_choice from extra")


def test_a_budget_fits_below_max_tokens() -> None:
    assert thinking_budget(Reasoning("high"), "claude-haiku-4-5", None) == 24576
    assert thinking_budget(Reasoning("high"), "claude-haiku-4-5", 8000) == 4000  # half
    assert thinking_budget(Reasoning("low"), "claude-haiku-4-5", 1500) == 1024  # the least
    assert thinking_budget(Reasoning(budget_tokens=500), "claude-haiku-4-5", None) == 1024
    with pytest.raises(InvalidRequestError, match="leaves no room"):
        thinking_budget(Reasoning("low"), "claude-haiku-4-5", 1024)
    with pytest.raises(InvalidRequestError, match="does not fit"):
        thinking_budget(Reasoning(budget_tokens=4096), "claude-haiku-4-5", 4096)


def test_the_room_thinking_takes() -> None:
    assert thinking_room(Reasoning(), "claude-opus-5-5") == 8192  # its default: medium
    assert thinking_room(Reasoning(), "claude-opus-5") == 24576  # high
    assert default_room("claude-haiku-5-5") == 8192
    assert default_room("claude-opus-4-8") == 0  # thinks only when asked


@pytest.mark.parametrize(
    ("model", "reasoning", "given", "room"),
    [
        ("claude-opus-4-8", None, None, 0),  # thinks only when asked
        ("claude-opus-5", None, None, 24576),  # thinks unasked, at high
        ("claude-opus-5-5", None, None, 8192),  # medium by default
        ("claude-opus-4-8", Reasoning("low"), None, 1024),
        ("claude-opus-5", Reasoning("none"), None, 0),
        ("claude-haiku-4-5", Reasoning(budget_tokens=3000), None, 3000),
        ("claude-3-5-sonnet", Reasoning("high"), None, 0),  # does not think
        # the caller's own thinking field replaces reasoning=
        ("claude-haiku-4-5", Reasoning("high"), {"type": "enabled", "budget_tokens": 2000}, 2000),
        ("claude-opus-5", None, {"type": "adaptive"}, 0),
        ("claude-opus-5", None, "not a field", 0),
    ],
)
def test_the_default_max_tokens_is_the_answers_share_and_the_thinkings_room(
    model: str, reasoning: Reasoning | None, given: object, room: int
) -> None:
    assert default_max_tokens(4096, model, reasoning, given) == 4096 + room


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md", "exec"), {})
