"""The Gemini price table: the Gemini 3.x rows and the longest-prefix match among them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from relaykit_gemini.prices import known_model


@pytest.mark.parametrize(
    ("model", "inp", "out"),
    [
        ("gemini-3.5-flash", "1.50", "9.00"),
        ("gemini-3.5-flash-lite", "0.30", "2.50"),
        ("gemini-3.1-pro-preview", "2.00", "12.00"),
        ("gemini-3.1-flash-lite", "0.25", "1.50"),
        ("gemini-3.1-flash-lite-preview", "0.25", "1.50"),
        ("gemini-3-flash-preview", "0.50", "3.00"),
        ("models/gemini-3.5-flash", None, None),  # the provider strips "models/" first
    ],
)
def test_gemini_3_prices(model: str, inp: str | None, out: str | None) -> None:
    price = known_model(model)[1]
    if inp is None:
        assert price is None
        return
    assert price is not None
    assert (price.input, price.output) == (Decimal(inp), Decimal(out or "0"))


def test_longer_names_take_their_own_rows() -> None:
    # 3.5 Flash-Lite is not 3.5 Flash; 3.1 Flash-Lite is not 3.1 Flash Image
    assert known_model("gemini-3.5-flash-lite")[1] != known_model("gemini-3.5-flash")[1]
    lite = known_model("gemini-3.1-flash-lite")[1]
    image = known_model("gemini-3.1-flash-image")[1]
    assert lite is not None and image is not None
    assert image.per_image is not None and lite.per_image is None
    # gemini-3-flash does not match gemini-3.1-*, nor gemini-3-pro-image gemini-3-pro
    assert known_model("gemini-3.1-flash")[1] is None
    assert known_model("gemini-3-pro-preview") == (None, None)
    # introductory prices, left out
    assert known_model("gemini-3.6-flash") == (None, None)
    assert known_model("gemini-3.8-flash") == (None, None)
    cached = known_model("gemini-3-flash-preview")[1]
    assert cached is not None and cached.cached_input == Decimal("0.05")
