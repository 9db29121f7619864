"""The Claude price table: the Claude 4.6 to 5.5 rows, and names that must not share one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from relaykit_anthropic.prices import known_model


@pytest.mark.parametrize(
    ("model", "window", "max_out", "prices"),
    [
        # input, output, cache read, 5-minute cache write, 1-hour cache write
        ("claude-fable-5-1", 1_000_000, 128_000, ("10", "50", "0.25", "12.50", "20")),
        ("claude-fable-5", 1_000_000, 128_000, ("10", "50", "1", "12.50", "20")),
        ("claude-opus-5-5", 1_000_000, 128_000, ("4", "20", "0.20", "5", "8")),
        ("claude-opus-5", 1_000_000, 128_000, ("5", "25", "0.50", "6.25", "10")),
        ("claude-sonnet-5-5", 1_000_000, 128_000, ("2", "10", "0.10", "2.50", "4")),
        ("claude-sonnet-5", 1_000_000, 128_000, ("2", "10", "0.20", "2.50", "4")),
        ("claude-haiku-5-5", 1_000_000, 128_000, ("0.10", "0.50", "0.01", "0.125", "0.20")),
        ("claude-opus-4-8", 1_000_000, 128_000, ("5", "25", "0.50", "6.25", "10")),
        ("claude-opus-4-7", 1_000_000, 128_000, ("5", "25", "0.50", "6.25", "10")),
        ("claude-sonnet-4-6", 1_000_000, 128_000, ("3", "15", "0.30", "3.75", "6")),
        ("claude-opus-4-5-20251101", 200_000, 64_000, ("5", "25", "0.50", "6.25", "10")),
        ("claude-haiku-4-5-20251001", 200_000, 64_000, ("1", "5", "0.10", "1.25", "2")),
    ],
)
def test_current_models(
    model: str, window: int, max_out: int, prices: tuple[str, str, str, str, str]
) -> None:
    row = known_model(model)
    assert row is not None
    p = row.price
    assert (row.context_window, row.max_output_tokens) == (window, max_out)
    assert (p.input, p.output, p.cached_input, p.cache_write_input, p.cache_write_1h_input) == (
        tuple(Decimal(x) for x in prices)
    )


@pytest.mark.parametrize(
    ("model", "family"),
    [
        # a point release is a model of its own, never its major's snapshot
        ("claude-opus-5-5", "claude-opus-5-5"),
        ("claude-opus-5", "claude-opus-5"),
        ("claude-sonnet-5-5", "claude-sonnet-5-5"),
        ("claude-fable-5-1", "claude-fable-5-1"),
        ("claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-0", "claude-opus-4"),
    ],
)
def test_names_find_their_own_row(model: str, family: str) -> None:
    assert known_model(model) == known_model(family)
    assert known_model(model) is not None


def test_unknown_point_releases_have_no_price() -> None:
    assert known_model("claude-opus-5-6") is None
    assert known_model("claude-sonnet-5-1") is None
    assert known_model("claude-haiku-5") is None
    # Opus 5.5 reads its cache at 0.05x input, not Opus 5's 0.1x
    assert known_model("claude-opus-5-5") != known_model("claude-opus-5")
