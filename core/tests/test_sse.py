"""The SSE decoder against the WHATWG rules, with input split anywhere."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaykit.sse import ServerSentEvent, SSEDecoder


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    d = SSEDecoder()
    out = [e for c in chunks for e in d.feed(c)]
    return out + d.flush()


def test_lf_crlf_and_cr_line_ends() -> None:
    for nl in (b"\n", b"\r\n", b"\r"):
        body = b"data: one" + nl + nl + b"data: two" + nl + nl
        assert [e.data for e in decode(body)] == ["one", "two"]


def test_multi_line_data_comments_event_names_ids_and_retry() -> None:
    body = (
        b": keep-alive comment\n"
        b"event: message_start\n"
        b"id: 7\n"
        b"retry: 1500\n"
        b"data: first\n"
        b"data:second\n"
        b"data:  third\n"
        b"\n"
    )
    assert decode(body) == [ServerSentEvent("message_start", "first\nsecond\n third", "7", 1500)]


def test_blank_lines_without_data_dispatch_nothing_and_reset_the_name() -> None:
    assert decode(b"event: ping\n\n\n") == []
    assert decode(b"event: x\n\ndata: y\n\n") == [ServerSentEvent("message", "y")]


def test_field_without_colon_and_unknown_fields() -> None:
    assert decode(b"data\nfoo: bar\n\n") == [ServerSentEvent("message", "")]


def test_final_event_without_trailing_blank_line() -> None:
    assert [e.data for e in decode(b"data: [DONE]")] == ["[DONE]"]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [
        ServerSentEvent("message", "a"),
        ServerSentEvent("message", "b"),
    ]


def test_utf8_split_inside_a_character() -> None:
    payload = "data: héllo 🌍\n\n".encode()
    i = payload.index("🌍".encode()) + 2
    assert decode(payload[:i], payload[i:]) == [ServerSentEvent("message", "héllo 🌍")]


lines = st.lists(
    st.one_of(
        # no lone surrogates: they cannot be UTF-8 encoded, so no server could send them
        st.text(
            alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]),
            max_size=12,
        ).map(lambda s: "data: " + s),
        st.text(alphabet="abc", max_size=5).map(lambda s: "event: " + s),
        st.just(": comment"),
        st.just(""),
    ),
    max_size=12,
)


@given(lines, st.sampled_from(["\n", "\r\n", "\r"]), st.data())
def test_any_split_gives_the_same_events(
    body_lines: list[str], nl: str, data: st.DataObject
) -> None:
    body = (nl.join(body_lines) + nl + nl).encode()
    whole = decode(body)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert decode(*pieces) == whole


@given(st.binary(max_size=200))
def test_every_byte_boundary(body: bytes) -> None:
    whole = decode(body)
    assert decode(*[body[i : i + 1] for i in range(len(body))]) == whole


def test_an_empty_chunk_between_a_cr_and_its_lf_keeps_them_one_line_end() -> None:
    # Found by the split test above: a transport may hand over an empty chunk.
    body = b"data: a\r\ndata: b\r\n\r\n"
    assert decode(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == decode(body)
    assert [e.data for e in decode(body)] == ["a\nb"]


# One whole event per chunk (what feed's shortcut takes): one data line, unnamed
# (OpenAI) or after one event line (Anthropic), or a near miss the shortcut must
# leave to the general path; after whatever an earlier chunk left pending: a name,
# an id, half a line, a CR whose LF may follow.
values = st.one_of(
    st.text(
        alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]),
        max_size=12,
    ).map(str.encode),
    st.binary(max_size=8).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),  # bad UTF-8
)
names = st.one_of(st.sampled_from([b"", b"x", b"content_block_delta", b"\xff", b" y"]), values)
unnamed = values.map(lambda v: b"data: " + v + b"\n\n")
named = st.tuples(names, values).map(lambda nv: b"event: " + nv[0] + b"\ndata: " + nv[1] + b"\n\n")
near_misses = st.sampled_from(
    [
        b"event: x\ndata: a\n",  # no blank line yet
        b"event: x\n\ndata: a\n\n",  # a blank line between: two dispatches
        b"event: x\ndata: a\n\n\n",
        b"event: x\ndata: a\ndata: b\n\n",  # two data lines
        b"event: x\r\ndata: a\r\n\r\n",
        b"event: x\ndata: a\r\n",  # CR: a line end the shortcut leaves alone
        b"event:x\ndata:a\n\n",  # no space after the colons
        b"event: x\nid: 1\n\n",
        b"id: 1\ndata: a\n\n",
        b"event: x\ndata: a\n\nevent: y\ndata: b\n\n",  # two events in one chunk
        b"data: a\nevent: x\n\n",
        b"event: x\ndata: a\nx\n",
    ]
)
whole_events = st.one_of(unnamed, named, near_misses)
before = st.sampled_from(
    [
        b"",
        b"event: x\n",
        b"id: 7\n",
        b"retry: 5\n",
        b"data: a\n",
        b"dat",
        b"data: a\r",
        b": c\n",
        b"event: y\r",
        b"even",
    ]
)


@given(st.lists(st.tuples(before, whole_events), max_size=6))
def test_whole_event_chunks_decode_as_their_bytes_one_by_one(
    chunks: list[tuple[bytes, bytes]],
) -> None:
    pieces = [piece for pair in chunks for piece in pair]
    body = b"".join(pieces)
    assert decode(*pieces) == decode(*[body[i : i + 1] for i in range(len(body))])


def test_a_whole_event_chunk_takes_what_earlier_chunks_left() -> None:
    assert decode(b"event: x\nid: 7\n", b"data: 1\n\n", b"data: 2\n\n") == [
        ServerSentEvent("x", "1", "7"),
        ServerSentEvent("message", "2", "7"),
    ]
    assert decode(b"data: a\n", b"data: b\n\n") == [ServerSentEvent("message", "a\nb")]
    assert decode(b"data: a\r", b"data: b\n\n") == [ServerSentEvent("message", "a\nb")]
    assert decode(b"da", b"data: b\n\n") == []  # one line, "dadata: b": an unknown field
    assert decode(b"data: \xff\n\n") == [ServerSentEvent("message", "\ufffd")]


def test_a_named_whole_event_chunk_is_one_event() -> None:
    # Anthropic's chunks: one event line, one data line, a blank line.
    assert decode(b"event: ping\ndata: {}\n\n", b"event: \ndata: 2\n\n") == [
        ServerSentEvent("ping", "{}"),
        ServerSentEvent("message", "2"),  # an empty name is no name
    ]
    # its own name wins over a pending one, and it keeps the pending id
    assert decode(b"event: x\nid: 7\n", b"event: y\ndata: 1\n\n", b"data: 2\n\n") == [
        ServerSentEvent("y", "1", "7"),
        ServerSentEvent("message", "2", "7"),
    ]
    assert decode(b"event: \xff\ndata: \xfe\n\n") == [ServerSentEvent("\ufffd", "\ufffd")]
    assert decode(b"data: a\n", b"event: x\ndata: b\n\n") == [ServerSentEvent("x", "a\nb")]
