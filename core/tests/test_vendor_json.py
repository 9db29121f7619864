"""``relaykit.testing.strict_json`` (testing/vendor_json.py): JSON as the vendors'
parsers read it, without the ``NaN`` and ``Infinity`` Python's parser takes (what the
Gemini and Ollama mocks refuse)."""

from __future__ import annotations

import json

import pytest

from relaykit.testing import JSONConstant, strict_json


@pytest.mark.parametrize("name", ["NaN", "Infinity", "-Infinity"])
def test_a_constant_is_refused_naming_it(name: str) -> None:
    body = f'{{"t": "{name} in a string is text", "x": [1, {name}]}}'
    assert json.loads(body)  # Python's parser takes it
    with pytest.raises(JSONConstant) as caught:
        strict_json(body.encode())
    assert caught.value.name == name
    assert isinstance(caught.value, ValueError)  # a JSON error, as any other is


def test_json_is_read_as_json_loads_reads_it() -> None:
    body = '{"a": [1, 2.5, "NaN", null, true], "b": {"c": -1e400}}'
    assert strict_json(body) == json.loads(body)
    with pytest.raises(json.JSONDecodeError):
        strict_json('{"a": ')
