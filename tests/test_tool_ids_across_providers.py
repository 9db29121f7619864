"""A tool run that moves between providers keeps each result with its call.

Gemini's calls come without ids, and relaykit numbers them ``gemini-call-0``,
``gemini-call-1`` afresh in each answer, so a run of two Gemini steps repeats
``gemini-call-0``. The run then falls back to OpenAI's Chat Completions, then to
Amazon Nova on Bedrock (whose Converse API refuses an id twice in a turn and ids
outside ``[a-zA-Z0-9_-]{1,64}``). Each request must give every call an id of its
own and each result its call's, whatever ids the caller's history holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import relaykit
from relaykit import ToolCall
from relaykit.messages import ToolResultPart
from relaykit.testing import OpenAIMock
from relaykit_bedrock.testing import BedrockMock, mock_aws_environment
from relaykit_gemini.testing import GeminiMock

GEMINI_KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
OPENAI_KEY = "sk-test-0123456789abcdef0123"
TARGETS = ["gemini/gemini-2.5-flash", "openai/gpt-4o-mini", "bedrock/amazon.nova-pro-v1:0"]


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Bedrock mock's SigV4 credentials, and nothing of the developer's AWS setup."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in mock_aws_environment(tmp_path).items():
        monkeypatch.setenv(name, value)


def lookup(n: int) -> str:
    """Look up the record numbered ``n``."""
    return f"record {n}"


@pytest.mark.anyio
async def test_a_tool_run_from_gemini_through_openai_to_nova_pairs_every_result() -> None:
    with (
        GeminiMock(api_key=GEMINI_KEY) as gemini,
        OpenAIMock(api_key=OPENAI_KEY) as openai,
        BedrockMock() as bedrock,
    ):
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
            "providers": {
                "gemini": {"base_url": gemini.base_url, "api_key": GEMINI_KEY},
                "openai": {"base_url": openai.base_url, "api_key": OPENAI_KEY},
                "bedrock": {"base_url": bedrock.base_url, "control_plane_url": bedrock.base_url},
            },
            "models": {"route": {"targets": TARGETS, "strategy": "fallback"}},
        }
        gemini.script.reply(tool_calls=(("lookup", {"n": 1}), ("lookup", {"n": 2})))
        gemini.script.reply(tool_calls=(("lookup", {"n": 3}),))  # gemini-call-0 again
        gemini.script.fail(503, "The model is overloaded.")
        openai.script.reply(tool_calls=(("lookup", {"n": 4}),))
        gemini.script.fail(503, "The model is overloaded.")
        openai.script.fail(503, "The server is overloaded.")
        bedrock.script.reply("Four records.")
        async with relaykit.Client(config, env={}) as c:
            run = await c.run_tools("route", "Look up records 1 to 4.", [lookup])
        to_openai = openai.requests[0].json()["messages"]
        to_nova = bedrock.requests[-1].json()["messages"]
    assert (run.response.text, run.response.provider) == ("Four records.", "bedrock")
    # the caller's history keeps the ids Gemini's answers were given
    calls = [p for m in run.messages for p in m.content if isinstance(p, ToolCall)]
    assert [c.id for c in calls][:3] == ["gemini-call-0", "gemini-call-1", "gemini-call-0"]
    results = [p for m in run.messages for p in m.content if isinstance(p, ToolResultPart)]
    assert [r.tool_call_id for r in results] == [c.id for c in calls]

    # Chat Completions: ids once each, each tool message answering its own call
    chat_calls = {c["id"]: c for m in to_openai for c in m.get("tool_calls") or ()}
    assert list(chat_calls) == ["gemini-call-0", "gemini-call-1", "gemini-call-0_2"]
    for m in to_openai:
        if m["role"] == "tool":
            arguments = json.loads(chat_calls[m["tool_call_id"]]["function"]["arguments"])
            assert m["content"] == f"record {arguments['n']}"

    # Converse: the same, in Bedrock's form
    blocks = [b for m in to_nova for b in m["content"]]
    uses = {b["toolUse"]["toolUseId"]: b["toolUse"]["input"] for b in blocks if "toolUse" in b}
    assert len(uses) == 4
    answered = [b["toolResult"] for b in blocks if "toolResult" in b]
    assert [r["content"][0]["text"] for r in answered] == [
        f"record {uses[r['toolUseId']]['n']}" for r in answered
    ]
