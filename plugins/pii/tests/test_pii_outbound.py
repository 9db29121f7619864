"""Outbound placeholders as a regulated user relies on them, over OpenAI's wire format.

Every async test runs under asyncio and trio against the loopback OpenAI mock:
what leaves for the vendor carries no personal data, and what comes back
carries the caller's own values, never another call's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import relaykit
from relaykit import DocumentPart, Message, TextPart, ToolCall, ToolResultPart
from relaykit.outbound_redaction import BatchSessions, OutboundRedaction, StreamRestorer
from relaykit.response import ChatResponse
from relaykit.testing import OpenAIMock, Reply
from relaykit_pii import ReversiblePiiRedactor

KEY = "sk-test-0123456789abcdef0123"
EMAIL = "jane.doe@example.com"
CARD = "4111111111111111"
IBAN = "DE89370400440532013000"
#: OpenAI's pattern for a message's ``name``, as its 400 quotes it
OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as m:
        yield m


def settings(mock: OpenAIMock) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        "redactors": {"pii": {"enabled": True, "outbound": True}},
    }


def sent_messages(mock: OpenAIMock) -> list[dict[str, Any]]:
    return list(mock.requests[-1].json()["messages"])


@pytest.mark.anyio
@pytest.mark.parametrize("name", [f"user_{CARD}", IBAN, f"agent-{IBAN}-2"])
async def test_a_name_with_personal_data_goes_out_as_openai_takes_a_name(
    mock: OpenAIMock, name: str
) -> None:
    # A name OpenAI takes may hold a card number or an IBAN (digits and capitals):
    # its placeholder must be one OpenAI takes too, or the call fails with a 400.
    async with relaykit.Client(settings(mock)) as client:
        r = await client.chat("openai/gpt-4o-mini", [Message("user", "hi", name=name)])
    assert r.text
    sent = sent_messages(mock)[0]["name"]
    assert OPENAI_NAME.fullmatch(sent), sent
    assert CARD not in sent and IBAN not in sent


@pytest.mark.anyio
async def test_a_text_document_goes_out_redacted(mock: OpenAIMock) -> None:
    # A text file the caller attaches is their text as a message is: with outbound
    # redaction its personal data must not reach the vendor either.
    doc = DocumentPart(
        f"Invoice for {EMAIL}, card {CARD}".encode(),
        media_type="text/plain",
        name=f"invoice-{IBAN}.txt",  # a file name is sent too
    )
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", [Message("user", (TextPart("read"), doc))])
    body = mock.requests[-1].body.decode()
    assert EMAIL not in body and CARD not in body and IBAN not in body
    assert re.search(r"invoice-IBAN_[a-z]{8}\.txt", body)


@pytest.mark.anyio
async def test_a_tool_results_attachment_and_unparsed_arguments_go_out_redacted(
    mock: OpenAIMock,
) -> None:
    history = [
        Message("user", "look up the customer"),
        Message(
            "assistant",
            (ToolCall("call_1", "find", raw_arguments=f'{{"email": "{EMAIL}", "card": {CARD}'),),
        ),
        Message(
            "tool",
            (
                ToolResultPart(
                    "call_1",
                    "found",
                    attachments=(DocumentPart(f"iban {IBAN}".encode(), media_type="text/plain"),),
                ),
            ),
        ),
    ]
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", history)
    body = mock.requests[-1].body.decode()
    assert EMAIL not in body and CARD not in body and IBAN not in body


def test_unparsed_tool_arguments_in_an_answer_are_restored() -> None:
    # A model that writes arguments that are no JSON still echoes placeholders in
    # them; the caller reads raw_arguments (a stream's assembled call restores them).
    redactor = ReversiblePiiRedactor()
    outbound = OutboundRedaction([redactor])
    placeholder = redactor.redact(EMAIL)
    response = ChatResponse(
        text="",
        tool_calls=(ToolCall("c", "send", raw_arguments=f'{{"to": "{placeholder}"'),),
        finish_reason="tool_calls",
        usage=relaykit.Usage(1, 1),
        model="m",
        provider="p",
    )
    assert outbound.response(response).tool_calls[0].raw_arguments == f'{{"to": "{EMAIL}"'


@pytest.mark.anyio
async def test_a_placeholder_from_another_call_is_not_restored(mock: OpenAIMock) -> None:
    # Placeholders are a keyed hash of the value, the same in every call of a
    # process: a model (or a user who read one in a log) that writes another
    # call's placeholder must not be handed that call's value.
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", f"mail {EMAIL}")
        theirs = sent_messages(mock)[0]["content"].removeprefix("mail ")
        assert theirs.startswith("<EMAIL_")
        mock.script.push(Reply(text=f"the address is {theirs}"))
        r = await client.chat("openai/gpt-4o-mini", "what is the address?")
        assert EMAIL not in r.text
        async with client.stream("openai/gpt-4o-mini", "and again?") as s:
            mock.script.push(Reply(text=f"it is {theirs}"))
        mock.script.push(Reply(text=f"it is {theirs}"))
        async with client.stream("openai/gpt-4o-mini", "and again?") as s:
            async for _ in s:
                pass
        assert EMAIL not in s.response.text


@pytest.mark.anyio
async def test_text_that_looks_like_a_placeholder_comes_back_as_typed(mock: OpenAIMock) -> None:
    # A user who pastes a placeholder (a log line, the docs) gets it back as typed,
    # even when it is the very placeholder of a value in the same prompt.
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", f"mail {EMAIL}")
        placeholder = sent_messages(mock)[0]["content"].removeprefix("mail ")
        prompt = f"mail {EMAIL}; our logs show {placeholder} and <EMAIL_abcdefgh>"
        r = await client.chat("openai/gpt-4o-mini", prompt)
        assert json.dumps(r.text).count(EMAIL) == 1, r.text
        assert r.text == f"echo: {prompt}"


# -- one call's placeholders ---------------------------------------------------------

REDACTOR = ReversiblePiiRedactor()
#: text a user may type that looks like (or is) a placeholder
LOOKALIKES = st.sampled_from(
    [
        "<EMAIL_abcdefgh>",
        "<TEXT_abcdefgh>",
        "<IP_zzzzzzzz>",
        "< email_ABCDEFGH >",
        "EMAIL_abcdefgh",
        "CARD_abcdefgh",
        "<",
        "_",
        ">",
        " ",
    ]
)
VALUES = [EMAIL, CARD, IBAN]


@st.composite
def prompts(draw: st.DrawFn, sep: str = "") -> str:
    pieces = st.one_of(st.text(max_size=8), LOOKALIKES, st.sampled_from(VALUES))
    return sep.join(draw(st.lists(pieces, max_size=8)))


@given(st.one_of(prompts(), prompts(" ")))
@example(f"<{EMAIL}>")  # a bare name placeholder between brackets lost them (CI found it)
def test_a_sessions_restore_of_its_redact_is_the_text_as_typed(text: str) -> None:
    session = REDACTOR.session()
    redacted, named = session.redact(text), session.redact_name(text)
    assert session.restore(redacted) == text
    assert session.restore(named) == text  # a name's placeholders too


@given(prompts(" "))
def test_no_value_reaches_the_vendor_in_a_prompt_or_a_name(text: str) -> None:
    # (an IBAN right after a letter is no IBAN to the detector: separated here)
    session = REDACTOR.session()
    redacted, named = session.redact(text), session.redact_name(text)
    assert not any(v in redacted or v in named for v in VALUES)
    assert "<" not in named or "<" in text


@given(
    prompts(),
    st.lists(st.integers(0, 300), max_size=12),
    st.sampled_from(["as sent", "mangled", "a name's"]),
)
def test_a_sessions_stream_restores_wherever_chunks_split(
    text: str, cuts: list[int], how: str
) -> None:
    session = REDACTOR.session()
    redacted = session.redact_name(text) if how == "a name's" else session.redact(text)
    mangle = how == "mangled"
    if mangle:  # a model that lower-cases what it echoes, or puts a space in
        redacted = re.sub(r"<([A-Z]+_[a-z]{8})>", lambda m: f"< {m[1].lower()}>", redacted)
    points = sorted({c % (len(redacted) + 1) for c in cuts})
    chunks = [redacted[a:b] for a, b in zip([0, *points], [*points, len(redacted)], strict=True)]
    restorer = StreamRestorer(session.restore, [session.holdback])
    streamed = "".join(restorer.feed(c) for c in chunks) + restorer.flush()
    assert streamed == session.restore(redacted)
    if not mangle:
        assert streamed == text
    else:
        assert EMAIL in streamed or EMAIL not in text


def test_every_split_of_a_placeholder_and_a_stream_that_ends_inside_one() -> None:
    session = REDACTOR.session()
    redacted = session.redact(f"to {EMAIL}.")
    for cut in range(len(redacted) + 1):
        restorer = StreamRestorer(session.restore, [session.holdback])
        out = restorer.feed(redacted[:cut]) + restorer.feed(redacted[cut:]) + restorer.flush()
        assert out == f"to {EMAIL}.", cut
    # the stream ends inside a placeholder: what was held back is handed over as it was
    restorer = StreamRestorer(session.restore, [session.holdback])
    assert restorer.feed("to <EMAIL_ab") + restorer.flush() == "to <EMAIL_ab"


def test_a_placeholder_in_tool_arguments_with_json_escaped_brackets_is_restored() -> None:
    # Go's encoding/json (Ollama's OpenAI-compatible server) writes "<" and ">" in
    # a string as \u003c and \u003e: a tool call's streamed arguments carried
    # the placeholder so, and the caller got "\u003cEMAIL_...\u003e" back.
    session = REDACTOR.session()
    placeholder = session.redact(EMAIL)
    arguments = json.dumps({"to": placeholder}).replace("<", "\\u003c").replace(">", "\\u003e")
    assert "<" not in arguments
    restored = session.restore(arguments)
    assert json.loads(restored) == {"to": EMAIL}
    upper = arguments.replace("\\u003c", "\\u003C").replace("\\u003e", "\\u003E")
    assert json.loads(session.restore(upper)) == {"to": EMAIL}
    for cut in range(len(arguments) + 1):
        restorer = StreamRestorer(session.restore, [session.holdback])
        out = restorer.feed(arguments[:cut]) + restorer.feed(arguments[cut:]) + restorer.flush()
        assert out == restored, cut


def test_two_values_of_one_call_whose_placeholders_collide_get_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 8 letters are ~37 bits: among 10**5 values of a process a collision is likely
    # (~2%); one call's two values must still come back as themselves.
    letters = ReversiblePiiRedactor._letters

    def colliding(self: ReversiblePiiRedactor, label: str, text: str, salt: str = "") -> str:
        return "abcdefgh" if not salt else letters(self, label, text, salt)

    monkeypatch.setattr(ReversiblePiiRedactor, "_letters", colliding)
    session = ReversiblePiiRedactor().session()
    text = f"{EMAIL} and john.roe@example.org"
    redacted = session.redact(text)
    assert redacted.startswith("<EMAIL_abcdefgh> and <EMAIL_")
    assert redacted.count("<EMAIL_abcdefgh>") == 1
    assert session.restore(redacted) == text


def test_a_placeholder_the_session_never_issued_stays_as_the_model_wrote_it() -> None:
    session = REDACTOR.session()
    session.redact(f"mail {EMAIL}")
    other = REDACTOR.redact("john.roe@example.org")  # issued in the process, not here
    assert session.restore(f"{other} <EMAIL_zzzzzzzz>") == f"{other} <EMAIL_zzzzzzzz>"


# -- through the client: streams, concurrent calls, retries --------------------------


@pytest.mark.anyio
async def test_a_placeholder_split_across_tool_argument_deltas_is_restored(
    mock: OpenAIMock,
) -> None:
    # The mock sends arguments five characters a chunk: every placeholder is cut.
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", f"mail {EMAIL} card {CARD}")
        sent = sent_messages(mock)[0]["content"].split()
        email, card = sent[1], sent[3]
        mock.script.push(Reply(tool_calls=(("send", {"to": email, "note": f"{card}/{email}"}),)))
        async with client.stream("openai/gpt-4o-mini", f"mail {EMAIL} card {CARD}") as s:
            deltas = [e.arguments async for e in s if isinstance(e, relaykit.ToolCallDelta)]
    expected = {"to": EMAIL, "note": f"{CARD}/{EMAIL}"}
    assert json.loads("".join(deltas)) == expected
    assert s.response.tool_calls[0].arguments == expected


@pytest.mark.anyio
async def test_concurrent_calls_each_get_their_own_values_back(mock: OpenAIMock) -> None:
    emails = [f"user{i}@example.com" for i in range(12)]
    answers: dict[str, str] = {}

    async def one(email: str, streamed: bool) -> None:
        if streamed:
            async with client.stream("openai/gpt-4o-mini", f"I am {email}") as s:
                async for _ in s:
                    pass
            answers[email] = s.response.text
        else:
            answers[email] = (await client.chat("openai/gpt-4o-mini", f"I am {email}")).text

    async with relaykit.Client(settings(mock)) as client, anyio.create_task_group() as tg:
        for i, email in enumerate(emails):
            tg.start_soon(one, email, i % 2 == 0)
    assert answers == {e: f"echo: I am {e}" for e in emails}
    assert not any(e in r.body.decode() for r in mock.requests for e in emails)


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_a_retry_resends_the_same_placeholders_and_restores_them(
    mock: OpenAIMock, stream: bool
) -> None:
    conf = {**settings(mock), "retry": {"attempts": 2, "initial_wait": 0, "max_wait": 0}}
    mock.script.push(Reply.failure(500))
    async with relaykit.Client(conf) as client:
        if stream:
            async with client.stream("openai/gpt-4o-mini", f"mail {EMAIL}") as s:
                async for _ in s:
                    pass
            text = s.response.text
        else:
            text = (await client.chat("openai/gpt-4o-mini", f"mail {EMAIL}")).text
    first, second = (r.json()["messages"] for r in mock.requests)
    assert first == second and EMAIL not in json.dumps(first)
    assert text == f"echo: mail {EMAIL}"


# -- signed reasoning goes back as the model wrote it --------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize(
    "thought",
    [
        f"The card is {CARD}, I should not repeat it.",  # the model wrote a value itself
        "Compare <EMAIL_zzzzzzzz> with the docs.",  # a placeholder it made up
        "Mail {email} about it.",  # one of the prompt's, echoed lower-cased
    ],
    ids=["value", "made-up", "mangled"],
)
async def test_a_signed_thinking_block_goes_back_as_the_model_wrote_it(
    stream: bool, thought: str
) -> None:
    # Anthropic checks a thinking block's signature against its text: what the
    # client sends back must be the model's text, not the caller's restored one
    # redacted again (which differs wherever restoring and redacting do not undo
    # each other), or the next turn fails with "Invalid `signature`".
    from relaykit_anthropic.testing import AnthropicMock

    with AnthropicMock(api_key=KEY) as claude:
        conf = {
            "storage": {"backend": "none"},
            "providers": {"anthropic": {"base_url": claude.base_url, "api_key": KEY}},
            "redactors": {"pii": {"enabled": True, "outbound": True}},
        }
        model = "anthropic/claude-haiku-4-5-20251001"
        params: dict[str, Any] = {"reasoning": 2048, "max_tokens": 4096}
        async with relaykit.Client(conf) as client:
            await client.chat(model, f"mail {EMAIL}", **params)
            placeholder = claude.requests[-1].json()["messages"][0]["content"]
            placeholder = str(placeholder).split()[-1].rstrip("'}]")
            block = relaykit.ReasoningPart(thought.format(email=placeholder.lower()))
            claude.script.push(Reply(text="ok", reasoning_blocks=(block,)))
            if stream:
                async with client.stream(model, f"mail {EMAIL}", **params) as s:
                    async for _ in s:
                        pass
                first = s.response
            else:
                first = await client.chat(model, f"mail {EMAIL}", **params)
            history = [Message("user", f"mail {EMAIL}"), first.to_message(), Message("user", "on")]
            r = await client.chat(model, history, **params)
    assert r.text


@pytest.mark.anyio
async def test_a_revised_image_prompt_gets_back_its_own_values_only(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    # stored records: the redactor's placeholders of every call are in its map
    conf = {**settings(mock), "storage": {"backend": "sqlite", "path": str(tmp_path / "r.db")}}
    async with relaykit.Client(conf) as client:
        await client.chat("openai/gpt-4o-mini", f"mail {EMAIL}")
        theirs = sent_messages(mock)[0]["content"].removeprefix("mail ")
        mine = "john.roe@example.org"
        r = await client.generate_image("openai/dall-e-3", f"a card for {mine}")
        assert r.images[0].revised_prompt == f"a card for {mine}, digital art"
        assert mine not in mock.requests[-1].body.decode()
        mock.script.push(Reply(text=f"a card for {theirs}"))
        r = await client.generate_image("openai/dall-e-3", f"a card for {mine}")
        assert EMAIL not in (r.images[0].revised_prompt or "")


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["drop", "truncate", None])
async def test_a_stream_that_ends_inside_or_right_after_a_placeholder_loses_nothing(
    mock: OpenAIMock, fault: str | None
) -> None:
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", f"mail {EMAIL}")
        placeholder = sent_messages(mock)[0]["content"].removeprefix("mail ")
        for tail, shown in [(placeholder, EMAIL), (placeholder[:9], placeholder[:9])]:
            mock.script.push(Reply(text=f"write to {tail}", stream_fault=fault))  # type: ignore[arg-type]
            texts: list[str] = []

            async def run(texts: list[str] = texts) -> relaykit.ChatResponse:
                async with client.stream("openai/gpt-4o-mini", f"mail {EMAIL}") as s:
                    async for e in s:
                        if isinstance(e, relaykit.TextDelta):
                            texts.append(e.text)
                return s.response

            if fault is None:
                response = await run()
            else:  # OpenAI's stream cut before [DONE] is an error, with what came
                with pytest.raises(relaykit.StreamError) as caught:
                    await run()
                assert caught.value.partial is not None
                response = caught.value.partial
            assert response.text == f"write to {shown}"
            if fault is None:
                assert "".join(texts) == f"write to {shown}"


@pytest.mark.anyio
async def test_a_batch_items_name_goes_out_as_openai_takes_a_name(mock: OpenAIMock) -> None:
    # A batch is redacted as a chat is (its results, read maybe much later, are
    # restored from the batch's own session): a name's placeholder must fit there too.
    item = relaykit.BatchItem("a", [Message("user", f"mail {EMAIL}", name=f"user_{CARD}")])
    async with relaykit.Client(settings(mock)) as client:
        batch = await client.submit_batch("openai/gpt-4o-mini", [item])
        for _ in range(20):
            if (batch := await client.batch(batch.id)).done:
                break
        (result,) = [r async for r in client.batch_results(batch.id)]
    assert result.error is None
    assert result.response is not None and result.response.text == f"echo: mail {EMAIL}"
    assert CARD not in json.dumps([r.body.decode() for r in mock.requests])


@pytest.mark.anyio
async def test_tool_argument_names_go_out_redacted_and_come_back_restored(
    mock: OpenAIMock,
) -> None:
    # A map keyed by address ({"jane@...": "cc"}) is common in tool arguments; the
    # stored record redacts names too, and so must what goes to the vendor.
    history = [
        Message("user", "who is copied?"),
        Message("assistant", (ToolCall("call_1", "copy", {"people": {EMAIL: "cc"}}),)),
        Message("tool", (ToolResultPart("call_1", "done"),)),
    ]
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", history)
        assert EMAIL not in mock.requests[-1].body.decode()
        sent = mock.requests[-1].json()["messages"][1]["tool_calls"][0]["function"]["arguments"]
        (placeholder,) = json.loads(sent)["people"]
        mock.script.push(Reply(tool_calls=(("copy", {"people": {placeholder: "to"}}),)))
        r = await client.chat("openai/gpt-4o-mini", history)
    assert r.tool_calls[0].arguments == {"people": {EMAIL: "to"}}


async def batch_texts(client: relaykit.Client, items: list[relaykit.BatchItem]) -> dict[str, str]:
    """Each item's answer text by custom_id, once the mock's batch has run."""
    batch = await client.submit_batch("openai/gpt-4o-mini", items)
    for _ in range(20):
        if (batch := await client.batch(batch.id)).done:
            break
    out: dict[str, str] = {}
    async for result in client.batch_results(batch.id):
        assert result.response is not None, result.error
        out[result.custom_id] = result.response.text
    return out


@pytest.mark.anyio
async def test_a_batch_restores_only_its_own_placeholders(mock: OpenAIMock) -> None:
    # Batch results were restored from the redactor's map of every value the
    # process had replaced: a batch whose prompt (or model) wrote another
    # call's placeholder got that call's value back.
    async with relaykit.Client(settings(mock)) as client:
        await client.chat("openai/gpt-4o-mini", f"mail {EMAIL}")
        theirs = sent_messages(mock)[0]["content"].removeprefix("mail ")
        assert theirs.startswith("<EMAIL_")
        # another caller's batch, with the address
        await batch_texts(client, [relaykit.BatchItem("a", f"mail {EMAIL}")])
        texts = await batch_texts(client, [relaykit.BatchItem("b", f"who is {theirs}?")])
    assert texts == {"b": f"echo: who is {theirs}?"}


@pytest.mark.anyio
async def test_a_batch_restores_every_value_past_max_values(mock: OpenAIMock) -> None:
    # The redactor's process-wide map keeps max_values originals: a batch of
    # more values than that came back with the first ones' placeholders.
    config = settings(mock)
    config["redactors"]["pii"]["max_values"] = 1
    emails = [f"user{i}@example.com" for i in range(3)]
    items = [relaykit.BatchItem(str(i), f"mail {e}") for i, e in enumerate(emails)]
    async with relaykit.Client(config) as client:
        texts = await batch_texts(client, items)
    assert texts == {str(i): f"echo: mail {e}" for i, e in enumerate(emails)}
    assert not any(e in r.body.decode() for r in mock.requests for e in emails)


@pytest.mark.anyio
async def test_a_batch_read_by_another_client_keeps_its_placeholders(mock: OpenAIMock) -> None:
    # Another client (another process: `relaykit batch results`) has none of the
    # batch's values in memory; its placeholders come back as the vendor wrote them.
    async with relaykit.Client(settings(mock)) as client:
        batch = await client.submit_batch(
            "openai/gpt-4o-mini", [relaykit.BatchItem("a", f"mail {EMAIL}")]
        )
    async with relaykit.Client(settings(mock)) as other:
        for _ in range(20):
            if (batch := await other.batch(batch.id)).done:
                break
        (result,) = [r async for r in other.batch_results(batch.id)]
    assert result.response is not None
    assert EMAIL not in result.response.text
    assert re.fullmatch(r"echo: mail <EMAIL_[a-z]{8}>", result.response.text)


def test_a_batch_no_session_is_kept_for_restores_by_redactors_without_sessions() -> None:
    # A reversible redactor of another plugin that keeps no sessions restores
    # from its own map, as it did; relaykit-pii's placeholders stay as written.
    class Upper:
        def redact(self, text: str) -> str:
            return text.replace("secret", "<S1>")

        def restore(self, text: str) -> str:
            return text.replace("<S1>", "secret")

    pii = ReversiblePiiRedactor(["email"])
    sessions = BatchSessions(OutboundRedaction([pii, Upper()]))
    sent = pii.redact(EMAIL)  # the process-wide map has the address
    unknown = sessions.get("openai/batch_x")
    assert unknown is not None and unknown.restore(f"{sent} <S1>") == f"{sent} secret"
    assert BatchSessions(OutboundRedaction([pii])).get("openai/batch_x") is None
    mine = sessions.start()
    redacted = mine.redact(EMAIL)
    sessions.keep("openai/batch_y", mine)
    assert sessions.get("openai/batch_y") is mine and mine.restore(redacted) == EMAIL
