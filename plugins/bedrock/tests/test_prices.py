"""The Bedrock price table: Claude's rows do not reach models of other versions."""

from __future__ import annotations

from decimal import Decimal

from relaykit_bedrock.prices import lookup


def test_sonnet_4_keeps_its_price_through_profiles() -> None:
    window, price = lookup("us.anthropic.claude-sonnet-4-20250514-v1:0")
    assert window == 200_000
    assert price is not None
    assert price.input == Decimal("3.00")  # no regional premium before Claude 4.5


def test_newer_claude_models_do_not_take_an_older_rows_price() -> None:
    # Sonnet 4.6 and the Claude 5 models are priced by AWS apart: not checked, no price
    for model in (
        "anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-sonnet-4-6",
        "anthropic.claude-opus-4-6-v1",
        "anthropic.claude-opus-5",
        "anthropic.claude-haiku-5-5",
    ):
        assert lookup(model) == (None, None), model
    # Sonnet 4.5 still finds its own row
    assert lookup("global.anthropic.claude-sonnet-4-5-20250929-v1:0")[1] is not None
