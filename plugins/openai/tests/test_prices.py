"""The OpenAI price table: the GPT-5.x rows and how a model name finds its row."""

from __future__ import annotations

from decimal import Decimal

import pytest

from relaykit_openai.prices import OPENAI_MODELS, known_model


def _price(model: str) -> tuple[Decimal, Decimal, Decimal | None] | None:
    price = known_model(OPENAI_MODELS, model)[1]
    return None if price is None else (price.input, price.output, price.cached_input)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-5", ("1.25", "10.00", "0.125")),
        ("gpt-5-2025-08-07", ("1.25", "10.00", "0.125")),
        ("gpt-5-mini", ("0.25", "2.00", "0.025")),
        ("gpt-5.1", ("1.25", "10.00", "0.125")),
        ("gpt-5.1-2025-11-13", ("1.25", "10.00", "0.125")),
        ("gpt-5.2", ("1.75", "14.00", "0.175")),
        ("gpt-5.2-pro", ("21.00", "168.00", None)),
        ("gpt-5.4", ("2.50", "15.00", "0.25")),
        ("gpt-5.4-mini", ("0.75", "4.50", "0.075")),
        ("gpt-5.4-mini-2026-03-17", ("0.75", "4.50", "0.075")),
        ("gpt-5.4-nano", ("0.20", "1.25", "0.02")),
        ("gpt-5.4-pro", ("30.00", "180.00", None)),
        ("gpt-5.5", ("5.00", "30.00", "0.50")),
        ("gpt-5.5-pro", ("30.00", "180.00", None)),
        # a Codex variant is priced as its base model, as OpenAI prices them
        ("gpt-5.1-codex", ("1.25", "10.00", "0.125")),
        ("gpt-5.2-codex", ("1.75", "14.00", "0.175")),
    ],
)
def test_gpt_5_family_prices(model: str, expected: tuple[str, str, str | None]) -> None:
    inp, out, cached = expected
    assert _price(model) == (Decimal(inp), Decimal(out), Decimal(cached) if cached else None)


@pytest.mark.parametrize(
    "model",
    [
        # not gpt-5 (nor gpt-5.5): a row matches only where the name ends or at a "-"
        "gpt-5.6-sol",
        "gpt-5.3-codex",
        "gpt-6-astra",
        # not their base model's price: rows of their own, with no price
        "gpt-5.1-codex-mini",
        "o3-deep-research",
        "o4-mini-deep-research-2025-06-26",
    ],
)
def test_models_whose_price_is_unknown_have_none(model: str) -> None:
    assert _price(model) is None


def test_the_longest_prefix_wins_at_a_dash() -> None:
    assert _price("gpt-image-1.5") == (Decimal("5.00"), Decimal("32.00"), Decimal("1.25"))
    assert _price("gpt-image-1") == (Decimal("5.00"), Decimal("40.00"), Decimal("1.25"))
    assert _price("gpt-4o-mini-2024-07-18") == _price("gpt-4o-mini")
    assert _price("gpt-4.1-nano") != _price("gpt-4.1")
    assert known_model(OPENAI_MODELS, "gpt-5.4")[0] == 1_050_000


@pytest.mark.parametrize(
    ("model", "text", "image", "out"),
    [
        ("gpt-image-2", "5.00", "8.00", "30.00"),
        ("gpt-image-2-2026-04-21", "5.00", "8.00", "30.00"),
        ("gpt-image-1.5", "5.00", "8.00", "32.00"),
        ("gpt-image-1-mini", "2.00", "2.50", "8.00"),
        ("gpt-image-1", "5.00", "10.00", "40.00"),
    ],
)
def test_the_gpt_image_models_price_an_edits_input_images_apart(
    model: str, text: str, image: str, out: str
) -> None:
    price = known_model(OPENAI_MODELS, model)[1]
    assert price is not None
    assert (price.input, price.image_input, price.output) == tuple(
        Decimal(v) for v in (text, image, out)
    )
