"""Tool call ids of another provider's history go to Gemini as they are.

Gemini pairs a turn's function responses with its function calls by count
("Please ensure that the number of function response parts is equal to the number
of function call parts of the function call turn.", gemini-cli#4504) and an
``id``, optional and any string, that the response echoes (ai.google.dev
FunctionCall.id: "If populated, the client to execute the function_call and
return the response with the matching id"); no rule on an id's form, or on one
an earlier turn used, is documented or reported. So relaykit sends the ids as the
history holds them (its own made-up ``gemini-call-*`` left out), and the mock,
which refuses the count mismatch, takes them.
"""

from __future__ import annotations

import pytest

import relaykit
from relaykit.testing.tool_histories import CROSS_PROVIDER_IDS, TOOL_NAMES, cross_provider_tool_run
from relaykit_gemini.testing import GeminiMock

from .conftest import KEY


@pytest.mark.anyio
async def test_a_cross_provider_history_goes_out_with_its_ids(mock: GeminiMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY}},
    }
    tools = [{"name": n, "parameters": {"type": "object"}} for n in TOOL_NAMES]
    async with relaykit.Client(config, env={}) as c:
        r = await c.chat("gemini/gemini-2.5-flash", cross_provider_tool_run(), tools=tools)
    assert r.text
    contents = mock.last_request.json()["contents"]
    parts = [p for content in contents for p in content["parts"]]
    calls = [p["functionCall"].get("id") for p in parts if "functionCall" in p]
    results = [
        (p["functionResponse"].get("id"), p["functionResponse"]["response"]["output"])
        for p in parts
        if "functionResponse" in p
    ]
    # relaykit's own made-up ids are not Gemini's: they go out as none
    assert calls == [None, None, *CROSS_PROVIDER_IDS[2:]]
    assert results == list(zip(calls, "ABCDEFG", strict=True))
