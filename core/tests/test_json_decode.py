"""relaykit.json_decode.loads answers as json.loads does, errors included, with
orjson and without; relaykit.json_encode.dumps writes the same JSON values."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit import InvalidRequestError, json_decode, json_encode
from relaykit.http import never_sent

# Both implementations are tested whichever one this environment picks.
DECODERS = {"scanner": json_decode._scanner_loads}
ENCODERS = {"stdlib": json_encode._json_dumps}
if json_decode._orjson_loads is not None:
    DECODERS["orjson"] = json_decode._orjson_or_json
if json_encode._orjson_dumps is not None:
    ENCODERS["orjson"] = json_encode._orjson_or_json


def values(integers: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[Any]:
    integers = st.integers() if integers is None else integers
    # finite floats: NaN and infinity are not JSON (request numbers are checked to be finite)
    floats = st.floats(allow_nan=False, allow_infinity=False)
    return st.recursive(
        st.none() | st.booleans() | integers | floats | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )


@dataclasses.dataclass
class Point:
    x: int
    y: int


# orjson reads integers beyond 64 bits as floats (the one documented difference)
within_64_bits = st.integers(min_value=-(2**63), max_value=2**64 - 1)


def outcome(document: str | bytes, decode: Any) -> tuple[str, Any]:
    try:
        return ("value", decode(document))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return (type(e).__name__, str(e))


@pytest.mark.parametrize("name", DECODERS)
@given(
    value=values(within_64_bits),
    before=st.sampled_from(["", " ", "\n", "x"]),
    after=st.sampled_from(["", " ", "\r\n", "}"]),
)
def test_same_answers_as_json_loads(name: str, value: Any, before: str, after: str) -> None:
    loads = DECODERS[name]
    document = before + json.dumps(value, ensure_ascii=False) + after
    assert outcome(document, loads) == outcome(document, json.loads)
    encoded = document.encode()
    assert outcome(encoded, loads) == outcome(encoded, json.loads)


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize(
    "document",
    [
        *(b"\xef\xbb\xbf{}", b"\xff{}", '{"a": 1'.encode("utf-16")),
        *("", "nul", "[1,]", "NaN", '"\\ud800"'),
    ],
)
def test_odd_inputs_fall_back_to_json_loads(name: str, document: str | bytes) -> None:
    assert outcome(document, DECODERS[name]) == outcome(document, json.loads)


def test_the_scanner_keeps_integers_beyond_64_bits() -> None:
    assert json_decode._scanner_loads(b'{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }


@pytest.mark.parametrize("name", ENCODERS)
@given(value=values())
def test_dumps_writes_the_same_json_value(name: str, value: Any) -> None:
    body = ENCODERS[name](value)
    assert isinstance(body, bytes)
    assert json.loads(body) == value
    assert b" " not in body.replace(b"\\ ", b"") or " " in json.dumps(value)  # compact


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize(
    "value", [{"n": 2**70}, {"s": "\ud800 lone surrogate"}, {"t": "naïve – ✓"}, [1.5e-7, -0.0]]
)
def test_dumps_takes_what_orjson_refuses_to_the_standard_library(name: str, value: Any) -> None:
    assert json.loads(ENCODERS[name](value)) == value


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("value", [object(), datetime.datetime(2026, 1, 1), Point(1, 2)])
def test_dumps_refuses_what_json_cannot_hold(name: str, value: Any) -> None:
    # the same with orjson and without: orjson would write datetimes and dataclasses
    dumps: Callable[[Any], bytes] = ENCODERS[name]
    with pytest.raises(TypeError):  # what it raised before it was typed: still caught so
        dumps({"x": value})
    with pytest.raises(InvalidRequestError, match="JSON cannot encode") as caught:
        dumps({"x": value})
    assert type(caught.value).__name__ == "InvalidRequestError" and caught.value.status is None


@pytest.mark.parametrize("name", ENCODERS)
def test_dumps_refuses_a_loop_as_bad_input_still_a_value_error(name: str) -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(InvalidRequestError, match="Circular reference") as caught:
        ENCODERS[name]({"x": looped})
    assert isinstance(caught.value, ValueError) and never_sent(caught.value)


# -- answers of the wrong shape ---------------------------------------------------


@pytest.mark.parametrize("value", [12, 12.0, "12"])
def test_count_reads_a_whole_number_as_vendors_write_one(value: Any) -> None:
    assert json_decode.count(value, "usage.prompt_tokens") == 12


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("x", "str"),
        ("1.5", "str"),
        ("-3", "str"),
        (1.5, "1.5"),
        (None, "null"),
        ([], "list"),
        ({}, "dict"),
        (True, "bool"),
        (False, "bool"),
        (-3, "-3"),
        (-3.0, "-3.0"),
    ],
)
def test_count_refuses_what_is_not_a_count_naming_the_field(value: Any, shown: str) -> None:
    """A string count used to reach pricing and fail there as a bare TypeError; a
    negative one was taken (a negative cost, tokens handed back to a limiter)."""
    with pytest.raises(ValueError, match=rf"^usage\.prompt_tokens: .*got {shown}$"):
        json_decode.count(value, "usage.prompt_tokens")


@pytest.mark.parametrize(
    ("document", "shown"), [("1e400", "inf"), ("-1e400", "-inf"), ("NaN", "nan")]
)
def test_count_refuses_a_number_too_large_to_be_one(document: str, shown: str) -> None:
    """JSON's 1e400 decodes to inf: no count, and not a whole number either."""
    with pytest.raises(ValueError, match=rf"^usage\.prompt_tokens: .*got {shown}$"):
        json_decode.count(json_decode.loads(document), "usage.prompt_tokens")


def test_a_number_too_large_for_an_int_is_an_answer_of_the_wrong_shape() -> None:
    """``int(inf)`` (a context length of 1e400, read as it came) raises OverflowError:
    a property of the answer, caught with the rest."""
    try:
        int(json_decode.loads('{"context_length": 1e400}')["context_length"])
    except json_decode.SHAPE_ERRORS as e:
        error = json_decode.wrong_shape("a model", e)
    assert str(error).startswith("a model has the wrong shape (OverflowError: ")


def test_wrong_shape_is_the_value_error_the_core_maps_naming_where_and_what() -> None:
    try:
        None.get("message")  # type: ignore[attr-defined]
    except json_decode.SHAPE_ERRORS as e:
        error = json_decode.wrong_shape("choices[0]", e)
    assert type(error) is ValueError
    assert str(error) == (
        "choices[0] has the wrong shape (AttributeError: 'NoneType' object has no attribute 'get')"
    )


COMPLETION = {"choices": [{"message": {"content": str, "tool_calls": [{}]}}], "usage": {"n": int}}


@pytest.mark.parametrize(
    ("doc", "found"),
    [
        ({"choices": [None]}, "choices[0]: expected an object, got null"),
        ({"choices": 7}, "choices: expected a list, got int"),
        ({"choices": [{"message": "hi"}]}, "choices[0].message: expected an object, got text"),
        (
            {"choices": [{"message": {"content": []}}]},
            "choices[0].message.content: expected text, got a list",
        ),
        ({"usage": {"n": "7"}}, "usage.n: expected a number, got text"),
        ([], "the document: expected an object, got a list"),
        ({"choices": None, "usage": {}, "extra": 1}, None),  # null and absent fields fit
        ({"choices": [{"message": {"content": "hi", "tool_calls": [{}]}}]}, None),
    ],
)
def test_misfit_names_the_first_place_that_does_not_fit(doc: Any, found: str | None) -> None:
    assert json_decode.misfit(doc, COMPLETION) == found


def test_wrong_shape_with_the_document_names_the_place() -> None:
    doc: Any = {"choices": [None]}
    try:
        doc["choices"][0].get("message")
    except json_decode.SHAPE_ERRORS as e:
        error = json_decode.wrong_shape("a chat.completion", e, doc, COMPLETION)
    assert str(error) == (
        "a chat.completion: choices[0]: expected an object, got null"
        " (AttributeError: 'NoneType' object has no attribute 'get')"
    )
