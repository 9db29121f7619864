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


BOM = b"\xef\xbb\xbf"


@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8),
    st.lists(st.integers(0, 200), max_size=6),
)
def test_a_leading_bom_is_stripped_however_the_chunks_split_it(
    pieces: list[bytes], cuts: list[int]
) -> None:
    # WHATWG: "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are present."
    stream = BOM + b"".join(pieces)
    bounds = sorted({min(c, len(stream)) for c in [1, 2, *cuts]})  # 1 and 2 split the BOM
    chunks = [stream[i:j] for i, j in zip([0, *bounds], [*bounds, len(stream)], strict=True)]
    assert decode(chunks) == decode([b"".join(pieces)])


def test_a_leading_bom_keeps_the_first_event() -> None:
    assert decode([BOM + b"data: first\n\n"]) == [ServerSentEvent("message", "first")]
    assert decode([b"\xef", b"\xbb", b"\xbf", b"data: first\n\n"]) == [
        ServerSentEvent("message", "first")
    ]
    assert decode([b"", b"\xef\xbb", b"\xbfevent: x\ndata: 1\n\n"]) == [ServerSentEvent("x", "1")]


def test_only_one_bom_and_only_at_the_start_is_stripped() -> None:
    # A second BOM belongs to the field name, so that line is an unknown field and ignored.
    assert decode([BOM + BOM + b"data: a\n\ndata: b\n\n"]) == [ServerSentEvent("message", "b")]
    assert decode([b"data: a\n\n", BOM + b"data: b\n\n"]) == [ServerSentEvent("message", "a")]
    # A start that only looks like a BOM's first bytes is kept as it is.
    assert decode([b"\xef", b"data: a\n\n"]) == []
    assert decode([b"\xefdata: a\n\ndata: b\n\n"]) == [ServerSentEvent("message", "b")]
