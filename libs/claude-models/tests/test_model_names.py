"""A Claude model's version and family, read from each host's id form (moved here
from relaykit-anthropic's tests, with the Bedrock and Vertex AI forms)."""

from __future__ import annotations

import pytest

from relaykit_claude_models import (
    as_deployment,
    claude_family,
    claude_version,
    model_words,
    thinking_style,
)


@pytest.mark.parametrize(
    ("model", "version", "style"),
    [
        ("claude-opus-4-7", (4, 7), "adaptive"),
        ("claude-sonnet-4-6", (4, 6), "adaptive"),
        ("claude-fable-5", (5, 0), "adaptive"),
        ("claude-opus-4-5-20251101", (4, 5), "budget"),
        ("claude-opus-4-20250514", (4, 0), "budget"),  # a date is no minor version
        ("claude-3-7-sonnet-20250219", (3, 7), "budget"),
        ("claude-3-5-haiku-latest", (3, 5), "none"),
        ("claude-3-haiku-20240307", (3, 0), "none"),
        ("my-gateway-alias", None, "budget"),
    ],
)
def test_the_style_is_read_from_the_models_name(
    model: str, version: tuple[int, int] | None, style: str
) -> None:
    assert claude_version(model) == version
    assert thinking_style(model) == style


@pytest.mark.parametrize(
    ("model", "version", "family"),
    [
        ("claude-opus-4-6@20260205", (4, 6), "opus"),  # Vertex AI
        ("anthropic.claude-opus-4-6-v1", (4, 6), "opus"),  # Bedrock
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", (4, 5), "sonnet"),
        ("anthropic.claude-opus-4-20250514-v1:0", (4, 0), "opus"),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", (3, 7), None),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-7", (4, 7), "opus"),
        ("global.anthropic.claude-fable-5-1", (5, 1), "fable"),
        ("anthropic.claude-v2:1", None, None),
        ("CLAUDE-OPUS-4-7", (4, 7), "opus"),
    ],
)
def test_every_hosts_id_form_is_read(
    model: str, version: tuple[int, int] | None, family: str | None
) -> None:
    assert (claude_version(model), claude_family(model)) == (version, family)


def test_a_model_in_words() -> None:
    assert model_words("opus", (4, 7)) == "Claude Opus 4.7"
    assert model_words("fable", (5, 0)) == "Claude Fable 5"
    assert model_words("mythos", None) == "Claude Mythos"
    assert as_deployment("Claude Opus 4.7", "my-claude", "claude-opus-4-7") == (
        "Claude Opus 4.7 (deployment 'my-claude')"
    )
    assert as_deployment("Claude Opus 4.7", "claude-opus-4-7", "claude-opus-4-7") == (
        "Claude Opus 4.7"
    )
    assert as_deployment("Claude Opus 4.7", "claude-opus-4-7", None) == "Claude Opus 4.7"
