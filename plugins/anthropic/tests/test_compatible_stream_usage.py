"""Usage from an Anthropic-compatible server, over loopback, streamed and not.

Anthropic repeats the input-side counts in ``message_delta`` (its usage is
cumulative); some compatible servers send them there as 0, having given them in
``message_start`` (SGLang did, and gateways that translate another vendor's
stream). A cumulative count never shrinks: the stream's usage must be the one
its non-streamed answer reports, not a prompt that cost nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit.response import Usage
from relaykit.testing import answer_and_stream, one_try_config
from relaykit.testing.loopback import LoopbackServer, Request, Response
from relaykit_anthropic.testing import sse

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"
#: the vendor's counts of the answer: 40 fresh prompt tokens, 300 read from the
#: cache and 20 written to it; 9 output tokens
WHOLE_USAGE = {
    "input_tokens": 40,
    "cache_read_input_tokens": 300,
    "cache_creation_input_tokens": 20,
    "output_tokens": 9,
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
}


def stream_body(final_usage: dict[str, Any]) -> list[bytes]:
    start_usage = {**WHOLE_USAGE, "output_tokens": 1}
    return [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    **MESSAGE,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
        sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Nine tokens of answer."},
            },
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": final_usage,
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]


@pytest.fixture
def compatible() -> Iterator[dict[str, Any]]:
    """An Anthropic-compatible server; ``["final_usage"]`` is its ``message_delta``'s usage."""
    state: dict[str, Any] = {}

    async def handler(request: Request) -> Response:
        if not request.json().get("stream"):
            whole = {
                **MESSAGE,
                "content": [{"type": "text", "text": "Nine tokens of answer."}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": WHOLE_USAGE,
            }
            return Response(200, {"content-type": "application/json"}, json.dumps(whole).encode())
        body = stream_body(state["final_usage"])
        return Response(200, {"content-type": "text/event-stream"}, body)

    with LoopbackServer(handler) as server:
        state["url"] = server.url
        yield state


@pytest.mark.anyio
@pytest.mark.parametrize(
    "final_usage",
    [
        {**WHOLE_USAGE},  # Anthropic's own: every count again
        {"output_tokens": 9},  # the input counts left out
        {  # the input counts as 0
            "input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "output_tokens": 9,
        },
        {**WHOLE_USAGE, "input_tokens": None},  # null
    ],
    ids=["repeated", "left-out", "zero", "null"],
)
async def test_a_streams_usage_is_its_whole_answers(
    compatible: dict[str, Any], final_usage: dict[str, Any]
) -> None:
    compatible["final_usage"] = final_usage
    config = one_try_config({"anthropic": {"base_url": compatible["url"], "api_key": KEY}})
    async with relaykit.Client(config) as c:
        r, _, s = await answer_and_stream(c, MODEL)
    expected = Usage(
        input_tokens=360, output_tokens=9, cached_input_tokens=300, cache_write_input_tokens=20
    )
    assert r.usage == expected
    assert s.usage == expected
    assert s.cost == r.cost and not s.usage_estimated
