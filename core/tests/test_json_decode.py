"""relaykit.json_decode.loads answers exactly as json.loads does, errors included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit.json_decode import loads

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def outcome(document: str | bytes, decode: Any) -> tuple[str, Any]:
    try:
        return ("value", decode(document))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return (type(e).__name__, str(e))


@given(values, st.sampled_from(["", " ", "\n", "x"]), st.sampled_from(["", " ", "\r\n", "}"]))
def test_same_answers_as_json_loads(value: Any, before: str, after: str) -> None:
    document = before + json.dumps(value, ensure_ascii=False) + after
    assert outcome(document, loads) == outcome(document, json.loads)
    encoded = document.encode()
    assert outcome(encoded, loads) == outcome(encoded, json.loads)


@pytest.mark.parametrize(
    "document", [b"\xef\xbb\xbf{}", b"\xff{}", '{"a": 1'.encode("utf-16"), "", "nul", "[1,]"]
)
def test_odd_inputs_fall_back_to_json_loads(document: str | bytes) -> None:
    assert outcome(document, loads) == outcome(document, json.loads)
