"""Gemini's log probabilities (``extra={"generationConfig": {"responseLogprobs": True,
"logprobs": N}}``): ``candidates[0].logprobsResult``'s ``chosenCandidates`` and
``topCandidates`` read into ``ChatResponse.logprobs`` as ``relaykit.TokenLogprob``
values; streamed, each chunk's as a ``relaykit.LogprobsDelta``."""

from __future__ import annotations

import json
from typing import Any

import pytest

import relaykit
from relaykit import LogprobsDelta, TokenLogprob
from relaykit.testing import LoopbackServer, Request, Response, one_try_config

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
EXTRA = {"generationConfig": {"responseLogprobs": True, "logprobs": 2}}


def chunk(text: str, tokens: list[tuple[str, float]], finish: bool) -> dict[str, Any]:
    """A GenerateContentResponse whose candidate carries ``tokens``' logprobsResult (a
    log probability of 0 left out, as proto3 JSON leaves zeros out)."""

    def scored(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "tokenId": 7, **({"logProbability": logprob} if logprob else {})}

    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": text}], "role": "model"},
        "index": 0,
        "logprobsResult": {
            "topCandidates": [
                {"candidates": [scored(t, lp), scored("alt", lp - 1.5)]} for t, lp in tokens
            ],
            "chosenCandidates": [scored(t, lp) for t, lp in tokens],
        },
    }
    if finish:
        candidate["finishReason"] = "STOP"
        candidate["avgLogprobs"] = -0.3
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 3, "totalTokenCount": 5},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    }


PIECES = [
    ("Hello", [("Hello", 0.0)]),
    (" there, you", [(" there", -0.5), (",", -0.25), (" you", -1.0)]),
]


def expected() -> tuple[TokenLogprob, ...]:
    return tuple(
        TokenLogprob(t, lp, top_logprobs=(TokenLogprob(t, lp), TokenLogprob("alt", lp - 1.5)))
        for _, tokens in PIECES
        for t, lp in tokens
    )


@pytest.mark.anyio
async def test_logprobs_are_read_whole_and_streamed() -> None:
    seen: list[Request] = []

    async def handler(request: Request) -> Response:
        seen.append(request)
        if request.query.get("alt") == "sse":
            frames = [
                b"data: "
                + json.dumps(chunk(text, tokens, i == len(PIECES) - 1)).encode()
                + b"\r\n\r\n"
                for i, (text, tokens) in enumerate(PIECES)
            ]
            return Response(200, {"content-type": "text/event-stream"}, frames)
        whole = chunk("Hello there, you", [t for _, ts in PIECES for t in ts], True)
        return Response.json(whole)

    with LoopbackServer(handler) as server:
        config = one_try_config({"gemini": {"base_url": server.url, "api_key": KEY}})
        async with relaykit.Client(config) as client:
            r = await client.chat("gemini/gemini-2.5-flash", "hi", extra=EXTRA)
            async with client.stream("gemini/gemini-2.5-flash", "hi", extra=EXTRA) as s:
                events = [e async for e in s]
            plain = await client.chat("gemini/gemini-2.5-flash", "hi")
    sent = seen[0].json()["generationConfig"]
    assert (sent["responseLogprobs"], sent["logprobs"]) == (True, 2)
    assert r.text == "Hello there, you"
    assert r.logprobs == expected()
    deltas = [e for e in events if isinstance(e, LogprobsDelta)]
    assert [len(d.logprobs) for d in deltas] == [1, 3]
    assert s.response.logprobs == expected()
    assert plain.logprobs == expected(), "read wherever Gemini sends them"
