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
    # Each has its own row (Sonnet 4.6 is not Sonnet 4, Opus 5.5 not Opus 5); one
    # with no published price (Fable 5.2) has none rather than Fable 5's.
    inputs = {
        "global.anthropic.claude-sonnet-4-6": Decimal("3"),
        "global.anthropic.claude-opus-4-6-v1": Decimal("5"),
        "global.anthropic.claude-opus-5": Decimal("5"),
        "global.anthropic.claude-opus-5-5": Decimal("4"),
        "global.anthropic.claude-haiku-5-5": Decimal("0.10"),
    }
    for model, expected in inputs.items():
        price = lookup(model)[1]
        assert price is not None and price.input == expected, model
    assert lookup("anthropic.claude-fable-5-2") == (None, None)
    # Sonnet 4.5 still finds its own row
    assert lookup("global.anthropic.claude-sonnet-4-5-20250929-v1:0")[1] is not None
