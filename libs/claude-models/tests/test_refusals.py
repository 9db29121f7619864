"""Which models refuse non-default sampling values and a prefill (moved here from
relaykit-anthropic's tests; the plugins check the same refusals over loopback HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import InvalidRequestError
from relaykit_claude_models import (
    check_sampling,
    prefill_refusal,
    refuses_prefill,
    refuses_sampling,
    refuses_sampling_pair,
)

REFUSING_SAMPLING = [
    ("claude-opus-4-7", "Claude Opus 4.7"),
    ("claude-opus-4-8", "Claude Opus 4.8"),
    ("claude-opus-5", "Claude Opus 5"),
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-sonnet-5", "Claude Sonnet 5"),
    ("claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("claude-haiku-5-5", "Claude Haiku 5.5"),
    ("claude-fable-5", "Claude Fable 5"),
    ("claude-fable-5-1", "Claude Fable 5.1"),
    ("claude-mythos-5", "Claude Mythos 5"),
    ("claude-mythos-5-1", "Claude Mythos 5.1"),
    ("anthropic.claude-opus-4-7", "Claude Opus 4.7"),  # Bedrock
    ("claude-opus-4-7@20260416", "Claude Opus 4.7"),  # Vertex AI
]
TAKING_SAMPLING = [
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5",
    "claude-3-7-sonnet-20250219",
    "my-gateway-alias",
    "claude-future-9",
]
REFUSING_PREFILL = [
    ("claude-opus-4-6", "Claude Opus 4.6"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-opus-4-7", "Claude Opus 4.7"),
    ("claude-opus-4-8", "Claude Opus 4.8"),
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-sonnet-5", "Claude Sonnet 5"),
    ("claude-haiku-5-5", "Claude Haiku 5.5"),
    ("claude-fable-5", "Claude Fable 5"),
    ("claude-mythos-5-1", "Claude Mythos 5.1"),
    ("claude-mythos-preview", "Claude Mythos"),
    ("claude-opus-4-6@20260205", "Claude Opus 4.6"),  # Vertex AI
    ("us.anthropic.claude-opus-4-6-v1", "Claude Opus 4.6"),  # Bedrock
]
TAKING_PREFILL = [
    "claude-opus-4-5",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5",
    "claude-3-7-sonnet-20250219",
    "my-gateway-alias",
    "claude-future-9",
    "claude-fabled-3",
]


def test_the_models_refusing_sampling_are_read_from_their_names() -> None:
    for model, name in REFUSING_SAMPLING:
        assert refuses_sampling(model) == name
    for model in TAKING_SAMPLING:
        assert refuses_sampling(model) is None


def test_the_models_refusing_a_prefill_are_read_from_their_names() -> None:
    for model, name in REFUSING_PREFILL:
        assert refuses_prefill(model) == name
    for model in TAKING_PREFILL:
        assert refuses_prefill(model) is None


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        ({"temperature": 0.2}, "temperature"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": True}, "temperature"),  # a bool is no number
        ({"top_p": 0.9}, "top_p"),
        ({"top_k": 40}, "top_k"),  # top_k has no default
        ({"temperature": 1, "top_p": 0.5}, "top_p"),
        ({"temperature": 1, "top_p": 0.99}, None),  # the defaults
        ({"top_p": 1}, None),
        ({}, None),
    ],
)
def test_only_the_defaults_are_taken(values: dict[str, Any], refused: str | None) -> None:
    if refused is None:
        check_sampling(values, name="Claude Opus 4.7", model="claude-opus-4-7")
        return
    with pytest.raises(InvalidRequestError) as caught:
        check_sampling(values, name="Claude Opus 4.7", model="my-claude")
    error = caught.value
    assert (error.param, error.model, error.status) == (refused, "my-claude", None)
    assert error.message.startswith(f"Claude Opus 4.7 takes no {refused} ")
    assert error.hint is not None and f"drop {refused}" in error.hint


def test_a_model_taking_sampling_refuses_nothing() -> None:
    check_sampling({"temperature": 0.2, "top_k": 5}, name=None, model="claude-opus-4-6")


#: the models that take temperature or top_p, not both ("Migrating to Claude 4.5")
REFUSING_PAIR = [
    ("claude-opus-4-1-20250805", "Claude Opus 4.1"),
    ("claude-opus-4-5", "Claude Opus 4.5"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-opus-4-6", "Claude Opus 4.6"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5"),  # Bedrock
    ("claude-opus-4-1@20250805", "Claude Opus 4.1"),  # Vertex AI
]
TAKING_PAIR = [
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-sonnet-4@20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
    "my-gateway-alias",
    # they take only the defaults (refuses_sampling): both defaults are left to the API
    "claude-opus-4-7",
    "claude-sonnet-5",
    "claude-haiku-5-5",
    "claude-fable-5-1",
    "claude-mythos-5",
]


def test_the_models_taking_one_sampler_are_read_from_their_names() -> None:
    for model, name in REFUSING_PAIR:
        assert refuses_sampling_pair(model) == name
    for model in TAKING_PAIR:
        assert refuses_sampling_pair(model) is None


@pytest.mark.parametrize(
    "values",
    [{"temperature": 0.2, "top_p": 0.9}, {"temperature": 1, "top_p": 0.99}],
    ids=["chosen", "defaults"],
)
def test_temperature_with_top_p_is_refused_where_one_is_taken(values: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_sampling(values, name=None, pair="Claude Sonnet 4.5", model="my-claude")
    error = caught.value
    assert (error.param, error.model, error.status) == ("top_p", "my-claude", None)
    assert error.message.startswith("Claude Sonnet 4.5 takes temperature or top_p, not both")
    assert error.hint is not None and "drop top_p and keep temperature" in error.hint
    for one in ({"temperature": 0.2}, {"top_p": 0.9}, {}):
        check_sampling(one, name=None, pair="Claude Sonnet 4.5", model="my-claude")
    check_sampling(values, name=None, pair=None, model="claude-opus-4")  # takes both


def test_a_refused_value_is_named_before_the_pair() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_sampling(
            {"temperature": 0.2, "top_p": 0.99},
            name="Claude Opus 4.7",
            pair="Claude Opus 4.7",  # were a model to refuse both
            model="claude-opus-4-7",
        )
    assert caught.value.param == "temperature"


def test_a_prefill_refusal_names_the_fix() -> None:
    error = prefill_refusal("Claude Opus 4.6", "claude-opus-4-6", provider="anthropic")
    assert (error.param, error.model, error.provider, error.status) == (
        "messages",
        "claude-opus-4-6",
        "anthropic",
        None,
    )
    assert error.hint is not None and "end the conversation with a user message" in error.hint
    calls = prefill_refusal("Claude Opus 4.6", "claude-opus-4-6", calls=True)
    assert calls.hint is not None and "Message.tool" in calls.hint and calls.provider is None
