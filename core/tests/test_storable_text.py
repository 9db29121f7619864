"""relaykit.storable_text: any string stored as text every backend takes, read back exactly."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit.protocols import CallRecord
from relaykit.record_rows import COLUMNS, JSON_COLUMNS, RowEncoder, row_to_record
from relaykit.storable_text import (
    ESCAPE,
    decode_json,
    decode_text,
    decode_value,
    encode_json,
    encode_text,
    needs_encoding,
)
from relaykit.testing.storage_strings_contract import ANY_TEXT, awkward_records

# What PostgreSQL's jsonb refuses: an unescaped \u0000, or a surrogate's escape
_JSONB_REFUSES = re.compile(r"(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f])", re.IGNORECASE)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)


def storable(text: str) -> bool:
    """What SQLite and PostgreSQL text takes: UTF-8 without NUL."""
    text.encode()
    return "\x00" not in text


@given(ANY_TEXT)
def test_any_text_is_stored_as_storable_text_and_read_back(text: str) -> None:
    stored = encode_text(text)
    assert storable(stored)
    assert decode_text(stored) == text


@given(ANY_TEXT, ANY_TEXT)
def test_two_texts_are_never_stored_alike(a: str, b: str) -> None:
    assert (encode_text(a) == encode_text(b)) == (a == b)


@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00\uffff")))
def test_ordinary_text_is_stored_as_it_is(text: str) -> None:
    # So every row stored before the rule reads back the same.
    assert encode_text(text) is text
    assert decode_text(text) is text


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("\ud800", "\uffffd800\uffff"),
        ("a\x00b", "a\uffff0000\uffffb"),
        ("\uffff", "\uffffffff\uffff"),
        ("\ud83d\ude00", "\uffffd83d\uffff\uffffde00\uffff"),  # two code points, kept two
        ("\U0001f600", "\U0001f600"),
        ("\\u0000", "\\u0000"),
    ],
)
def test_the_escape(text: str, stored: str) -> None:
    assert encode_text(text) == stored
    assert decode_text(stored) == text


def test_text_that_only_looks_like_an_escape_is_read_as_it_was_written() -> None:
    # Stored before the rule: a U+FFFF not in an escape's shape stays as it is.
    for old in ("a\uffffb", "\uffffd800", "\uffffD800\uffff", "\uffffzzzz\uffff", ESCAPE):
        assert decode_text(old) == old


@given(JSON_VALUES)
def test_json_keeps_every_string_and_is_what_jsonb_takes(value: object) -> None:
    text = json.dumps(value, ensure_ascii=False)
    stored = encode_json(text)
    assert storable(stored)
    assert not _JSONB_REFUSES.search(stored)
    assert decode_json(stored) == value
    assert needs_encoding(text) or stored is text


@given(JSON_VALUES)
def test_ascii_json_is_read_as_the_json_parser_reads_it(value: object) -> None:
    text = json.dumps(value)  # \u escapes: an escaped surrogate pair is one character
    stored = encode_json(text)
    assert storable(stored) and not _JSONB_REFUSES.search(stored)
    assert decode_json(stored) == json.loads(text)


def test_parsed_json_is_decoded_too() -> None:
    assert decode_value({"\uffffd800\uffff": ["\uffff0000\uffff", 1]}) == {"\ud800": ["\x00", 1]}


@given(awkward_records())
def test_rows_of_any_record_are_storable_and_read_back(drawn: tuple[CallRecord, str, str]) -> None:
    record = drawn[0]
    plain, (row, shared) = RowEncoder()(record), RowEncoder().shared(record)
    for stored in (plain, row):
        for name, value in zip(COLUMNS, stored, strict=True):
            if isinstance(value, str):
                assert storable(value), name
                assert name not in JSON_COLUMNS or not _JSONB_REFUSES.search(value), name
    for body in shared.values():
        assert storable(body) and not _JSONB_REFUSES.search(body)
    assert row_to_record(plain) == record
    assert row_to_record(row, shared) == record
