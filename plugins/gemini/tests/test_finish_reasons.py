"""Every ``finishReason`` and ``promptFeedback.blockReason`` of generateContent over
loopback (the Gemini API and Vertex AI), streamed and not: the answer's ``finish_reason``
and the stream's ``Finish``, with Google's word."""

from __future__ import annotations

from pathlib import Path

import pytest

import relaykit
from relaykit.events import Finish, TextDelta
from relaykit.response import FinishReason
from relaykit.testing import Reply, answer_and_stream, one_try_config
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
MODEL = "gemini/gemini-2.5-flash"

#: the API's FinishReason values, and relaykit's word for each; one added after this
#: was written is "other"
FINISH_REASONS = [
    ("STOP", "stop"),
    ("MAX_TOKENS", "length"),
    ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"),
    ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"),
    ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
    ("IMAGE_RECITATION", "content_filter"),
    ("LANGUAGE", "other"),
    ("OTHER", "other"),
    ("MALFORMED_FUNCTION_CALL", "other"),
    ("UNEXPECTED_TOOL_CALL", "other"),
    ("TOO_MANY_TOOL_CALLS", "other"),
    ("IMAGE_OTHER", "other"),  # an image model stopped for a reason of its own
    ("NO_IMAGE", "other"),  # an image model made none
    ("MISSING_THOUGHT_SIGNATURE", "other"),  # a turn sent back without its signature
    ("A_REASON_FROM_THE_FUTURE", "other"),
]

#: the API's BlockReason values for a prompt refused whole
#: (and one added after this was written: the prompt is still refused, not answered)
BLOCK_REASONS = [
    "SAFETY",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "IMAGE_SAFETY",
    "A_REASON_FROM_THE_FUTURE",
]


def client(mock: GeminiMock) -> relaykit.Client:
    return relaykit.Client(one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY}}))


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), FINISH_REASONS)
async def test_each_finish_reason(mock: GeminiMock, said: str, reason: FinishReason) -> None:
    mock.script.push(*[Reply(text="Partial answer, in pieces", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r, events, s = await answer_and_stream(c, MODEL)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer, in pieces"
    assert [e for e in events if isinstance(e, Finish)] == [Finish(reason, said)]


@pytest.mark.anyio
@pytest.mark.parametrize("blocked", BLOCK_REASONS)
async def test_a_prompt_blocked_whole_is_a_filtered_empty_answer(
    mock: GeminiMock, blocked: str
) -> None:
    """No candidates, only ``promptFeedback``: the filters refused the prompt itself."""
    mock.block_prompts += [blocked, blocked]
    async with client(mock) as c:
        r, events, s = await answer_and_stream(c, MODEL)
    assert (r.finish_reason, s.finish_reason) == ("content_filter", "content_filter")
    assert r.text == s.text == ""
    assert r.usage.input_tokens == s.usage.input_tokens == 2  # "Go on": the prompt is billed
    assert [e for e in events if isinstance(e, Finish)] == [Finish("content_filter", blocked)]
    assert not [e for e in events if isinstance(e, TextDelta)]
    # The next prompt is answered.
    async with client(mock) as c:
        assert (await c.chat(MODEL, "Hello there")).text == "echo: Hello there"


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), [("SPII", "content_filter"), ("OTHER", "other")])
async def test_vertex_ai_says_the_same(
    vertex_mock: VertexMock, sa_file: Path, said: str, reason: FinishReason
) -> None:
    vertex_mock.script.push(*[Reply(text="Partial", vendor_finish=said)] * 2)
    vertex_mock.block_prompts += ["PROHIBITED_CONTENT"] * 2
    provider = {
        "type": "vertex",
        "base_url": vertex_mock.base_url,
        "project": "mock-project",
        "location": "us-central1",
        "credentials_file": str(sa_file),
    }
    async with relaykit.Client(one_try_config({"vertex": provider}), env={}) as c:
        blocked, blocked_events, blocked_stream = await answer_and_stream(
            c, "vertex/gemini-2.5-flash"
        )
        r, events, s = await answer_and_stream(c, "vertex/gemini-2.5-flash")
    assert (blocked.finish_reason, blocked_stream.finish_reason) == ("content_filter",) * 2
    assert Finish("content_filter", "PROHIBITED_CONTENT") in blocked_events
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert [e for e in events if isinstance(e, Finish)] == [Finish(reason, said)]


@pytest.mark.anyio
async def test_an_answer_with_no_candidates_and_no_block_reason_is_empty_either_way(
    mock: GeminiMock,
) -> None:
    """Gemini at times answers with no candidates and no block reason (the model made
    nothing; ``BLOCK_REASON_UNSPECIFIED`` says as much): an empty answer that ends as
    ``other``, streamed as whole, not a stream cut off before its finish reason."""
    mock.block_prompts += ["BLOCK_REASON_UNSPECIFIED"] * 2
    async with client(mock) as c:
        r, events, s = await answer_and_stream(c, MODEL)
    assert (r.finish_reason, s.finish_reason) == ("other", "other")
    assert r.text == s.text == ""
    assert r.usage == s.usage and r.usage.input_tokens == 2 and not s.usage_estimated
    assert [e for e in events if isinstance(e, Finish)] == [Finish("other")]
