"""SSEDecoder gives the same events however the bytes are split into chunks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaykit.sse import ServerSentEvent, SSEDecoder

# Pieces of event streams, including the awkward ones: CR and CRLF line ends,
# comments, a field with no colon, two spaces after the colon, invalid UTF-8.
PIECES = [
    b"data: a\n\n",
    b"data: b\r\n\r\n",
    b"data: c\r\r",
    b": comment\n",
    b"event: x\ndata: y\nid: 7\nretry: 10\n\n",
    b"data:z\n",
    b"data:  two spaces\n\n",
    b"\n",
    b"\r\n",
    b"\r",
    b"data: [DONE]\n\n",
    b"id: a\x00b\n",
    b"data\n\n",
    b"data: \xc3\xa9\xff\n\n",
]


def decode(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


@given(st.lists(st.sampled_from(PIECES), max_size=12), st.lists(st.integers(0, 400), max_size=6))
def test_events_do_not_depend_on_chunking(pieces: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(pieces)
    bounds = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[i:j] for i, j in zip([0, *bounds], [*bounds, len(stream)], strict=True)]
    assert decode(chunks) == decode([stream])


def test_line_ends_fields_and_comments() -> None:
    stream = (
        b": hi\r\nevent: x\rdata: 1\ndata:2\r\nid: 7\nretry: 10\n\n"
        b"data:  a\r\n\r\ndata\n\ndata: last"  # a last line without a line end counts
    )
    assert decode([stream]) == [
        ServerSentEvent("x", "1\n2", "7", 10),
        ServerSentEvent("message", " a", "7", 10),
        ServerSentEvent("message", "", "7", 10),
        ServerSentEvent("message", "last", "7", 10),
    ]
