"""Converse's ``citationsContent`` blocks (a grounded or document-citing answer) over
loopback, streamed (``citation`` deltas) and not: the cited text stays in the answer,
and each web location is a :class:`relaykit.Citation` over the stretch it supports."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import relaykit
from relaykit import Citation
from relaykit.testing import Reply, answer_and_stream
from relaykit_bedrock import wire
from relaykit_bedrock.stream_events import ConverseStreamTranslator
from relaykit_bedrock.testing import BedrockMock

NOVA = "bedrock/amazon.nova-pro-v1:0"
TEXT = "Paris is the capital. It has 2.1 million people. Ask more."
CITED = (
    Citation(
        url="https://example.org/france",
        title="France",
        cited_text="capital: Paris",
        start=0,
        end=22,
    ),
    Citation(
        url="https://stats.example/paris",
        title="Paris stats",
        cited_text="2,102,650",
        start=22,
        end=48,
    ),
)


@pytest.mark.anyio
async def test_cited_stretches_keep_their_text_and_web_citations(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    mock.script.push(*[Reply(text=TEXT, citations=CITED)] * 2)
    async with make_client(region=mock.region) as c:
        r, events, s = await answer_and_stream(c, NOVA, events=Citation)
    assert r.text == s.text == TEXT
    assert r.citations == s.citations == CITED
    assert tuple(events) == CITED
    assert [TEXT[c.start : c.end] for c in r.citations] == [
        "Paris is the capital. ",
        "It has 2.1 million people.",
    ]


DOCUMENT_BLOCK = {
    "citationsContent": {
        "content": [{"text": "The contract ends "}, {"text": "in May."}],
        "citations": [
            {
                "title": "contract",
                "sourceContent": [{"text": "Term: until 31 May"}],
                "location": {"documentChar": {"documentIndex": 0, "start": 10, "end": 28}},
            }
        ],
    }
}


def test_a_document_citation_keeps_its_text_and_is_not_a_web_source() -> None:
    # A document's location (documentChar, documentPage, documentChunk) names no
    # page: relaykit.Citation is a web source, so it is left out (as relaykit-anthropic
    # leaves a document's char_location out); the text it supports is the answer's.
    data = {
        "output": {"message": {"content": [{"text": "Yes. "}, DOCUMENT_BLOCK]}},
        "stopReason": "end_turn",
    }
    r = wire.response(data, "m")
    assert (r.text, r.citations) == ("Yes. The contract ends in May.", ())
    translator = ConverseStreamTranslator("m")
    events = translator.events(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Yes."}}
    )
    citation = DOCUMENT_BLOCK["citationsContent"]["citations"][0]  # type: ignore[index]
    events += translator.events(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"citation": citation}}
    )
    events += translator.events("contentBlockStop", {"contentBlockIndex": 0})
    assert not [e for e in events if isinstance(e, Citation)]
