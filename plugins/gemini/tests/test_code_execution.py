"""Gemini's code execution tool (``extra={"tools": [{"codeExecution": {}}]}``): the
code the model ran and what it printed are ``executableCode`` and
``codeExecutionResult`` parts between its text parts. ChatResponse has no field for
them, so they are rendered into ``text`` as fenced blocks (as Google's first Python
SDK rendered them in ``.text``), the same streamed or not, rather than dropped."""

from __future__ import annotations

import json
from typing import Any

import pytest

import relaykit
from relaykit import Citation
from relaykit.testing import one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit_gemini import wire
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"  # the mock fixture's (conftest)
MODEL = "gemini/gemini-2.5-flash"
CODE: list[dict[str, Any]] = [
    {"text": "Let me add them up."},
    {"executableCode": {"language": "PYTHON", "code": "print(sum(range(5)))\n"}},
    {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "10\n"}},
    {"text": "The sum is 10."},
]
SHOWN = "Let me add them up.\n```python\nprint(sum(range(5)))\n```\n\n```\n10\n```\nThe sum is 10."
USAGE = {"promptTokenCount": 9, "candidatesTokenCount": 30, "totalTokenCount": 39}


def answer(parts: list[dict[str, Any]], **candidate: Any) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": "STOP",
                "index": 0,
                **candidate,
            }
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
    }


def replaced_by(chunks: list[dict[str, Any]]) -> Any:
    """A rewrite answering with ``chunks``: each an SSE event when streamed, else the
    parts of all of them in one answer."""

    async def rewrite(request: Request, response: Response) -> Response:
        if "streamGenerateContent" in request.path:
            events = [f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks]
            return Response(headers={"content-type": "text/event-stream"}, body=events)
        parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
        return Response.json(
            {
                **chunks[-1],
                "candidates": [
                    {**chunks[-1]["candidates"][0], "content": {"role": "model", "parts": parts}}
                ],
            }
        )

    return rewrite


async def ask(mock: GeminiMock, streamed: bool) -> relaykit.ChatResponse:
    config = one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY}})
    extra: dict[str, Any] = {"tools": [{"codeExecution": {}}]}
    async with relaykit.Client(config, env={}) as c:
        if not streamed:
            return await c.chat(MODEL, "Add 0 to 4.", extra=extra)
        async with c.stream(MODEL, "Add 0 to 4.", extra=extra) as s:
            async for _ in s:
                pass
        return s.response


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_code_and_its_output_are_kept_in_the_text(mock: GeminiMock, streamed: bool) -> None:
    # One part a chunk, as Gemini streams them.
    mock.rewrite = replaced_by([answer([p]) for p in CODE])
    r = await ask(mock, streamed)
    assert r.text == SHOWN
    assert r.finish_reason == "stop"


def test_a_failed_run_is_labelled_and_an_unnamed_language_left_bare() -> None:
    parts = [
        {"executableCode": {"language": "LANGUAGE_UNSPECIFIED", "code": "1/0"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_FAILED", "output": "ZeroDivisionError"}},
        {"executableCode": {"code": "while True: pass"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_DEADLINE_EXCEEDED"}},
    ]
    assert wire.response(answer(parts)).text == (
        "\n```\n1/0\n```\n"
        "\n```failed\nZeroDivisionError\n```\n"
        "\n```\nwhile True: pass\n```\n"
        "\n```deadline_exceeded\n```\n"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_citations_after_code_point_into_the_text_as_shown(
    mock: GeminiMock, streamed: bool
) -> None:
    # Google's offsets count bytes from the start of the part partIndex names: the
    # rendered code before it moves the span along.
    metadata = {
        "groundingChunks": [{"web": {"uri": "https://example.com/sum", "title": "Sums"}}],
        "groundingSupports": [
            {
                "segment": {"partIndex": 3, "startIndex": 4, "endIndex": 7},
                "groundingChunkIndices": [0],
            }
        ],
    }
    chunks = [answer([p]) for p in CODE]
    chunks[-1]["candidates"][0]["groundingMetadata"] = metadata
    mock.rewrite = replaced_by(chunks)
    r = await ask(mock, streamed)
    (cited,) = r.citations
    assert cited == Citation(
        url="https://example.com/sum", title="Sums", start=cited.start, end=cited.end
    )
    assert cited.start is not None and r.text[cited.start : cited.end] == "sum"


# -- URL context ---------------------------------------------------------------------

READ = "https://example.com/read"
URLS = {
    "urlMetadata": [
        {"retrievedUrl": READ, "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"},
        {
            "retrievedUrl": "https://example.com/gone",
            "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_ERROR",
        },
    ]
}


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_pages_url_context_read_are_sources(mock: GeminiMock, streamed: bool) -> None:
    # extra={"tools": [{"urlContext": {}}]}: Gemini reads the pages the prompt names and
    # says which in urlContextMetadata. A page it read is a source of the answer (a
    # citation without offsets, as a grounding chunk no support names); one it could
    # not fetch is none. Dropping them lost what the answer was written from.
    chunks = [answer([{"text": "It says hello."}], urlContextMetadata=URLS)]
    mock.rewrite = replaced_by(chunks)
    r = await ask(mock, streamed)
    assert (r.text, r.citations) == ("It says hello.", (Citation(url=READ),))


def test_a_page_grounding_cites_already_is_not_a_second_source() -> None:
    metadata = {
        "groundingChunks": [{"web": {"uri": READ, "title": "Read"}}],
        "groundingSupports": [
            {"segment": {"startIndex": 0, "endIndex": 2}, "groundingChunkIndices": [0]}
        ],
    }
    data = answer([{"text": "It says hello."}], urlContextMetadata=URLS, groundingMetadata=metadata)
    assert wire.response(data).citations == (Citation(url=READ, title="Read", start=0, end=2),)
