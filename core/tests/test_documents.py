"""DocumentPart: PDFs and text documents in a message, from every dict shape callers have."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import relaykit
from relaykit import DocumentPart, InvalidRequestError, Message, TextPart
from relaykit.messages import coerce_messages
from relaykit.request import build_request, estimate_prompt_tokens, request_size
from relaykit.response_cache import cache_key
from relaykit.testing import PDF, FakePlugin, RecordingExporter

PDF_B64 = base64.b64encode(PDF).decode()


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (
            {"type": "document", "data": PDF_B64, "name": "a.pdf"},
            DocumentPart(data=PDF, name="a.pdf"),
        ),
        ({"type": "document", "data": PDF}, DocumentPart(data=PDF)),
        (
            {"type": "document", "url": "https://x.test/a.pdf"},
            DocumentPart(url="https://x.test/a.pdf"),
        ),
        (  # Anthropic's shapes
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
                "title": "Q3",
            },
            DocumentPart(data=PDF, name="Q3"),
        ),
        (
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "hi"},
            },
            DocumentPart(data=b"hi", media_type="text/plain"),
        ),
        (
            {"type": "document", "source": {"type": "url", "url": "https://x.test/b.pdf"}},
            DocumentPart(url="https://x.test/b.pdf"),
        ),
        (  # OpenAI's, bare base64 as its reference describes it
            {"type": "file", "file": {"filename": "d.pdf", "file_data": PDF_B64}},
            DocumentPart(data=PDF, name="d.pdf"),
        ),
        (  # OpenAI's
            {
                "type": "file",
                "file": {
                    "filename": "c.pdf",
                    "file_data": f"data:application/pdf;base64,{PDF_B64}",
                },
            },
            DocumentPart(data=PDF, name="c.pdf"),
        ),
    ],
)
def test_documents_come_from_every_dict_shape(part: dict[str, Any], expected: DocumentPart) -> None:
    (message,) = coerce_messages([{"role": "user", "content": [part]}])
    assert message.content == (expected,)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "file", "file": {"file_id": "file-abc"}}, "has no file_data"),
        (
            {"type": "file", "file": {"file_data": "pdf;base64,JVBERi0x"}},
            "must be base64 or a base64",
        ),
        (
            {"type": "document", "source": {"type": "file", "file_id": "f"}},
            "source type 'file' is not one relaykit sends",
        ),
        ({"type": "document"}, "exactly one of `data` or `url`"),
        ({"type": "document", "data": "not base64!"}, "is malformed"),
    ],
)
def test_malformed_documents_are_typed_errors(part: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        coerce_messages([{"role": "user", "content": [part]}])


def test_data_must_be_bytes_and_a_name_is_made_up() -> None:
    with pytest.raises(InvalidRequestError, match="must be bytes"):
        DocumentPart(data="text")  # type: ignore[arg-type]
    assert DocumentPart(data=PDF).filename == "document.pdf"
    assert DocumentPart(data=b"x", media_type="text/plain").filename == "document.txt"
    assert DocumentPart(data=PDF).data_url() == f"data:application/pdf;base64,{PDF_B64}"


def test_a_document_is_part_of_the_cache_key_and_text_counts_toward_the_size() -> None:
    def request(*parts: Any) -> relaykit.ChatRequest:
        return build_request("m", (Message.user([TextPart("read"), *parts]),), {})

    one = request(DocumentPart(data=PDF))
    other = request(DocumentPart(data=PDF + b" "))
    named = request(DocumentPart(data=PDF, name="x.pdf"))
    assert len({cache_key("p", r) for r in (one, other, named)}) == 3
    assert request_size(request(DocumentPart(data=b"0123456789", media_type="text/plain"))) == 14
    assert request_size(one) == 4  # a PDF's text is unknown until the provider reads it


@pytest.mark.anyio
async def test_a_text_documents_secrets_are_redacted_in_the_record() -> None:
    secret = "sk-proj-" + "Zq9" * 10
    exporter = RecordingExporter()
    notes = DocumentPart(data=f"the key is {secret}".encode(), media_type="text/plain")
    async with relaykit.Client(
        {"storage": {"backend": "none"}}, plugins=[FakePlugin(), exporter]
    ) as client:
        await client.chat(
            "fake/m", [Message.user([TextPart("read"), notes, DocumentPart(data=PDF)])]
        )
    (record,) = exporter.records
    stored_notes, stored_pdf = record.messages[0].content[1:]
    assert isinstance(stored_notes, DocumentPart) and stored_notes.data is not None
    assert secret.encode() not in stored_notes.data and b"the key is" in stored_notes.data
    assert stored_pdf == DocumentPart(data=PDF)


def test_a_string_among_parts_is_text() -> None:
    message = Message.user(["look at this:", DocumentPart(data=PDF)])  # type: ignore[list-item]
    assert message.content == (TextPart("look at this:"), DocumentPart(data=PDF))


def test_media_types_are_bare_and_lower_case_and_data_urls_become_bytes() -> None:
    part = DocumentPart(data=b"x", media_type="Text/Plain; charset=utf-8")
    assert (part.media_type, part.filename) == ("text/plain", "document.txt")
    assert DocumentPart(data=b"a,b", media_type="text/csv").filename == "document.csv"
    (message,) = coerce_messages(
        [
            {
                "role": "user",
                "content": [{"type": "document", "url": f"data:application/pdf;base64,{PDF_B64}"}],
            }
        ]
    )
    assert message.content == (DocumentPart(data=PDF),)
    direct = DocumentPart(url=f"data:text/plain;base64,{base64.b64encode(b'hi').decode()}")
    assert (direct.data, direct.url, direct.media_type) == (b"hi", None, "text/plain")
    with pytest.raises(InvalidRequestError, match="data: URL must be base64"):
        DocumentPart(url="data:application/pdf,%PDF-1.4")


@pytest.mark.anyio
async def test_a_document_in_an_assistant_message_is_refused_before_sending() -> None:
    fake = FakePlugin()
    turn = Message("assistant", (TextPart("rules:"), DocumentPart(data=PDF)))
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        with pytest.raises(
            InvalidRequestError,
            match=r"messages\[1\].content\[1\] is a document part in an assistant message",
        ):
            await client.chat("fake/m", [Message.user("hi"), turn, Message.user("and?")])
    assert fake.calls == []


@pytest.mark.anyio
async def test_a_document_in_a_system_message_is_the_provider_s_to_send_or_refuse() -> None:
    # OpenAI's Responses API reads one there; the plugins whose vendor does not
    # refuse it themselves (tests/every_provider).
    fake = FakePlugin()
    system = Message("system", (TextPart("rules:"), DocumentPart(data=PDF)))
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        await client.chat("fake/m", [system, Message.user("hi")])
    assert fake.calls[0].messages[0] == system


def test_the_public_prompt_estimate_is_what_limits_reserve() -> None:
    # Plugins whose vendor leaves the prompt's count out report this estimate
    # (relaykit.request is public to them; relaykit.validation is not): a text
    # document counts, as it does for the limits, and a PDF does not.
    def request(*parts: Any) -> relaykit.ChatRequest:
        return build_request("m", (Message.user([TextPart("read"), *parts]),), {})

    text = request(DocumentPart(data=b"0123456789" * 4, media_type="text/plain"))
    assert estimate_prompt_tokens(text) == request_size(text) // 4 == 11
    assert estimate_prompt_tokens(request(DocumentPart(data=PDF))) == 1
