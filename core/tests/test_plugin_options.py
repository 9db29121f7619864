"""relaykit.plugin_options: a plugin's config numbers, or a ConfigError naming the key."""

from __future__ import annotations

import math
from typing import Any

import pytest

from relaykit import ConfigError
from relaykit.plugin_options import seconds, whole_number


@pytest.mark.parametrize(
    ("given", "taken"),
    [({}, 8125), ({"port": 9464}, 9464), ({"port": "9464"}, 9464), ({"port": 80.0}, 80)],
)
def test_a_whole_number_is_taken_as_written_or_as_a_string(
    given: dict[str, Any], taken: int
) -> None:
    assert whole_number(given, "port", 8125, where="exporters.x", high=65535) == taken


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (70000, "a port number from 0 to 65535, not 70000"),
        (-1, "a port number from 0 to 65535, not -1"),
        (True, "not True"),
        ("http", "not 'http'"),
        (1.5, "not 1.5"),
        (math.inf, "not inf"),
        (10**30, "not 1000000000000000000000000000000"),
    ],
)
def test_a_port_out_of_range_or_of_another_kind_names_the_key(value: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"config key exporters\.x\.port must be") as e:
        whole_number({"port": value}, "port", 8125, where="exporters.x", high=65535)
    assert expected in str(e.value)


def test_a_count_names_its_lower_bound() -> None:
    with pytest.raises(
        ConfigError, match=r"exporters\.x\.max_packet must be a whole number from 1, not 0"
    ):
        whole_number({"max_packet": 0}, "max_packet", 1432, where="exporters.x", low=1)


@pytest.mark.parametrize(("value", "taken"), [(2, 2.0), ("0.5", 0.5), (None, None)])
def test_seconds_are_taken_as_written_or_as_a_string(value: object, taken: float | None) -> None:
    table = {} if value is None else {"timeout": value}
    assert seconds(table, "timeout", 10.0, where="exporters.x") == (taken or 10.0)


@pytest.mark.parametrize("value", [0, -1, math.inf, math.nan, "soon", False])
def test_seconds_not_finite_and_above_zero_name_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"exporters\.x\.timeout must be a number of seconds > 0"):
        seconds({"timeout": value}, "timeout", 10.0, where="exporters.x")
