"""Ollama's ``format`` schema and ``tool_choice``: what cannot reach the model as given is
refused before sending (never dropped without a word); the rest goes as it is."""

from __future__ import annotations

import re
from typing import Any

import pytest

from relaykit import InvalidRequestError
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_ollama.testing import OllamaMock
from relaykit_ollama.testing import client_for as client

MODEL = "ollama/llama3.2"
CLOCK = {"name": "get_time", "description": "", "parameters": {"type": "object"}}

#: what llama.cpp's grammar takes: local refs, recursion, anyOf, constraints
TREE = {
    "type": "object",
    "properties": {
        "root": {"$ref": "#/$defs/Node"},
        "kind": {"anyOf": [{"type": "string", "pattern": "^[0-9]{4}$"}, {"type": "null"}]},
    },
    "required": ["root", "kind"],
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
            "required": ["name", "children"],
        }
    },
}


def fmt(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


# -- tool_choice --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(("choice", "what"), [("required", "'required'"), ("get_time", "get_time")])
async def test_a_tool_choice_ollama_cannot_honour_is_refused_before_sending(
    mock: OllamaMock, choice: str, what: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=what) as info:
            await c.chat(MODEL, "x", tools=[WEATHER_TOOL, CLOCK], tool_choice=choice)
    assert info.value.param == "tool_choice"
    assert info.value.hint and "response_format" in info.value.hint
    assert mock.requests == []


@pytest.mark.anyio
async def test_auto_offers_every_tool_and_none_offers_none(mock: OllamaMock) -> None:
    async with client(mock) as c:
        await c.chat(MODEL, "x", tools=[WEATHER_TOOL, CLOCK], tool_choice="auto")
        assert [t["function"]["name"] for t in mock.last_request.json()["tools"]] == [
            "get_weather",
            "get_time",
        ]
        await c.chat(MODEL, "x", tools=[WEATHER_TOOL, CLOCK], tool_choice="none")
        assert "tools" not in mock.last_request.json()


# -- format -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_schema_the_grammar_takes_goes_as_given(mock: OllamaMock) -> None:
    async with client(mock) as c:
        await c.chat(MODEL, "x", response_format=fmt(TREE))
    assert mock.last_request.json()["format"] == TREE


@pytest.mark.anyio
async def test_mock_refuses_a_ref_the_schema_does_not_hold(mock: OllamaMock) -> None:
    dangling = {"type": "object", "properties": {"b": {"$ref": "#/$defs/Block"}}}
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="invalid JSON schema in format"):
            await c.chat(MODEL, "x", extra={"format": dangling})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("schema", "match", "hint"),
    [
        (
            {"type": "object", "properties": {"b": {"$ref": "#/$defs/Block"}}},
            "at b refers to '#/\\$defs/Block', which is not in the schema",
            "put the definition",
        ),
        (
            {"type": "object", "properties": {"b": {"$ref": "other.json#/Block"}}},
            "refers to 'other.json#/Block'",
            "inline it",
        ),
        (
            {"$defs": {"D": {"type": "string", "pattern": "^\\d{4}-\\d{2}$"}}, "$ref": "#/$defs/D"},
            "at \\$defs.D has the pattern",
            "write \\\\d as \\[0-9\\]",
        ),
        (
            {"type": "object", "properties": {"id": {"type": "string", "pattern": "\\S+"}}},
            "at id has the pattern",
            "write \\\\S as \\[\\^ ",
        ),
    ],
)
async def test_a_schema_ollama_would_refuse_or_drop_is_refused_before_sending(
    mock: OllamaMock, schema: dict[str, Any], match: str, hint: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=match) as info:
            await c.chat(MODEL, "x", response_format=fmt(schema))
    assert info.value.param == "response_format"
    assert info.value.hint is not None
    assert re.search(hint, info.value.hint)
    assert mock.requests == []


@pytest.mark.anyio
async def test_an_escaped_backslash_before_d_is_no_class(mock: OllamaMock) -> None:
    schema = {"type": "object", "properties": {"p": {"type": "string", "pattern": "a\\\\d"}}}
    async with client(mock) as c:
        await c.chat(MODEL, "x", response_format=fmt(schema))
    assert mock.last_request.json()["format"] == schema
