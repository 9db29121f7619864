"""The redact-outbound / restore-inbound pipeline step, with a reversible redactor plugin."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs
import pytest

import relaykit
from relaykit import LogprobsDelta, ReasoningPart, TextDelta, TokenLogprob, hookimpl
from relaykit.config import Config
from relaykit.events import StreamEvent
from relaykit.outbound_redaction import OutboundRedaction, StreamEventRestorer, StreamRestorer
from relaykit.testing import FakePlugin, Reply


class TicketRedactor:
    """Replaces TICKET-123 with <T0>, <T1>, ... and back."""

    pattern = re.compile(r"TICKET-\d+")
    placeholder = re.compile(r"<T(\d+)>")

    def __init__(self) -> None:
        self.values: list[str] = []

    def redact(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            if match.group() not in self.values:
                self.values.append(match.group())
            return f"<T{self.values.index(match.group())}>"

        return self.pattern.sub(swap, text)

    def restore(self, text: str) -> str:
        return self.placeholder.sub(lambda m: self.values[int(m.group(1))], text)

    def holdback(self, text: str) -> int:
        match = re.search(r"<(T\d*)?$", text)
        return len(text) - match.start() if match else 0

    @hookimpl
    def relaykit_redactors(self, config: Config) -> Sequence[Any]:
        return [self]


def test_the_stream_restorer_holds_back_split_placeholders() -> None:
    tickets = TicketRedactor()
    tickets.redact("TICKET-7 TICKET-8")
    restorer = StreamRestorer(tickets.restore, [tickets.holdback])
    pieces = [restorer.feed(c) for c in ["see <", "T", "0> and <T1", "> ok <"]]
    assert pieces == ["see ", "", "TICKET-7 and ", "TICKET-8 ok "]
    assert restorer.flush() == "<"


@pytest.mark.anyio
async def test_log_probabilities_between_pieces_of_a_placeholder_leave_it_held() -> None:
    # Each chunk's LogprobsDelta follows its text: it must not end the run of text
    # and release a placeholder's first half unrestored.
    tickets = TicketRedactor()
    tickets.redact("TICKET-7")
    scored = LogprobsDelta((TokenLogprob("x", -1.0),))

    async def stream() -> AsyncIterator[StreamEvent]:
        for event in (TextDelta("see <T"), scored, TextDelta("0> ok"), scored):
            yield event

    restorer = StreamEventRestorer(tickets.restore, [tickets.holdback])
    events = [e async for e in restorer.events(stream())]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "see TICKET-7 ok"
    assert [e for e in events if isinstance(e, LogprobsDelta)] == [scored, scored]


@pytest.mark.anyio
async def test_relaykit_redactors_reversible_redacts_prompts_and_restores_answers() -> None:
    fake, tickets = FakePlugin(), TicketRedactor()
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, tickets]) as client:
        r = await client.chat("fake/m", "about TICKET-42 please")
        assert fake.calls[-1].messages[0].text == "about <T0> please"
        assert r.text == "echo: about TICKET-42 please"

        class OneCharChunks(Reply):
            def chunks(self, size: int = 8) -> list[str]:
                return list(self.text)

        fake.script.push(
            OneCharChunks(text="closing <T0> now", tool_calls=(("close", {"id": "<T0>"}),))
        )
        async with client.stream("fake/m", "close TICKET-42") as s:
            events = [e async for e in s]
    text = "".join(e.text for e in events if isinstance(e, relaykit.TextDelta))
    assert text == "closing TICKET-42 now"
    assert s.response.tool_calls[0].arguments == {"id": "TICKET-42"}


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_reasoning_text_is_restored_and_redacted_again_but_opaque_data_never(
    streamed: bool,
) -> None:
    fake, tickets = FakePlugin(), TicketRedactor()
    # Signatures and redacted data are opaque: even what looks like a placeholder
    # or a secret in them goes back byte for byte.
    signature, redacted = "sig-<T0>-TICKET-42", "data-<T0>-TICKET-42"
    blocks = (
        ReasoningPart("about <T0>", signature),
        ReasoningPart(redacted=redacted),
        ReasoningPart(" then <T0> again", "sig-2"),
    )
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, tickets]) as client:
        fake.script.reply("ok", reasoning_blocks=blocks)
        question = relaykit.Message.user("about TICKET-42")
        if streamed:
            async with client.stream("fake/m", [question]) as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await client.chat("fake/m", [question])
        assert r.reasoning == "about TICKET-42 then TICKET-42 again"
        assert r.reasoning_parts == (
            ReasoningPart("about TICKET-42", signature, origin="fake"),
            ReasoningPart(redacted=redacted, origin="fake"),
            ReasoningPart(" then TICKET-42 again", "sig-2", origin="fake"),
        )
        await client.chat("fake/m", [question, r.to_message(), relaykit.Message.user("so?")])
    # The provider gets its blocks back as it wrote them.
    sent = fake.calls[-1].messages[1].content
    assert sent == (*[attrs.evolve(b, origin="fake") for b in blocks], relaykit.TextPart("ok"))


@pytest.mark.anyio
async def test_without_a_reversible_redactor_there_is_no_outbound_step() -> None:
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin()]) as client:
        assert client._outbound is None


@pytest.mark.anyio
async def test_citation_offsets_follow_the_restored_text() -> None:
    # The model cites "it is open" after a placeholder, which is shorter than the
    # ticket it stands for: the caller's offsets must index the caller's text.
    fake, tickets = FakePlugin(), TicketRedactor()
    answer = "<T0> says: it is open."
    cited = relaykit.Citation(url="https://status.example", start=11, end=21)
    assert answer[cited.start : cited.end] == "it is open"
    fake.script.push(*[Reply(text=answer, citations=(cited,))] * 2)
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, tickets]) as client:
        r = await client.chat("fake/m", "Is TICKET-4242 open?", web_search=True)
        async with client.stream("fake/m", "Is TICKET-4242 open?", web_search=True) as s:
            streamed = [e async for e in s if isinstance(e, relaykit.Citation)]
    for response, citations in ((r, r.citations), (s.response, tuple(streamed))):
        assert response.text == "TICKET-4242 says: it is open."
        (moved,) = citations
        assert response.text[moved.start : moved.end] == "it is open"
    assert s.response.citations == tuple(streamed)


@pytest.mark.anyio
async def test_the_queries_searched_for_are_restored_and_the_suggestions_left_as_sent() -> None:
    # The model searched for the placeholder it was shown: the caller reads the
    # ticket, as in the answer. The suggestions are HTML: a value put back into
    # it unescaped could break it, so they show what Google searched for.
    fake, tickets = FakePlugin(), TicketRedactor()
    suggestions = '<a class="chip">status &lt;T0&gt;</a>'
    reply = Reply(
        text="<T0> is open.",
        search_queries=("status <T0>", "outages today"),
        search_suggestions=suggestions,
    )
    fake.script.push(reply, reply)
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, tickets]) as client:
        r = await client.chat("fake/m", "Is TICKET-4242 open?", web_search=True)
        async with client.stream("fake/m", "Is TICKET-4242 open?", web_search=True) as s:
            searched = [e async for e in s if isinstance(e, relaykit.SearchQuery)]
    for response in (r, s.response):
        assert response.search_queries == ("status TICKET-4242", "outages today")
        assert response.search_suggestions == suggestions
    # each search event restored as it passes, not only the assembled response
    assert searched == [
        relaykit.SearchQuery("status TICKET-4242"),
        relaykit.SearchQuery("outages today"),
    ]


@pytest.mark.anyio
async def test_an_older_providers_finish_queries_are_restored_too() -> None:
    """A provider that reports its searches on the finish only (no SearchQuery events)."""
    tickets = TicketRedactor()
    tickets.redact("TICKET-4242")  # what the prompt's redaction did
    restorer = OutboundRedaction([tickets]).restorer()

    async def events() -> AsyncIterator[relaykit.StreamEvent]:
        yield relaykit.TextDelta("<T0> is open.")
        yield relaykit.Finish("stop", search_queries=("status <T0>",))

    out = [e async for e in restorer.events(events())]
    assert out[-1] == relaykit.Finish("stop", search_queries=("status TICKET-4242",))


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_stop_sequences_go_out_as_the_model_will_write_them_and_come_back_restored(
    streamed: bool,
) -> None:
    # The model sees placeholders and writes placeholders: a stop sequence holding
    # a redacted value must be sent redacted too, or it could never match; the
    # sequence the vendor says it stopped on is given back to the caller restored.
    fake, tickets = FakePlugin(), TicketRedactor()
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, tickets]) as client:
        fake.script.reply("done before", stop_sequence="<T0> closed")
        stop = ["TICKET-42 closed", "END"]
        if streamed:
            async with client.stream("fake/m", "close TICKET-42", stop=stop) as s:
                async for _ in s:
                    pass
            response = s.response
        else:
            response = await client.chat("fake/m", "close TICKET-42", stop=stop)
    assert fake.calls[-1].stop == ("<T0> closed", "END")
    assert response.stop_sequence == "TICKET-42 closed"


@pytest.mark.anyio
async def test_a_participant_name_goes_out_redacted_as_the_text_does() -> None:
    fake, tickets = FakePlugin(), TicketRedactor()
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, tickets]) as client:
        messages = [{"role": "user", "name": "TICKET-42", "content": "from TICKET-42"}]
        await client.chat("fake/m", messages)
    sent = fake.calls[-1].messages[0]
    assert (sent.name, sent.text) == ("<T0>", "from <T0>")
