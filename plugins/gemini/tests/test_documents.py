"""Documents on Gemini's wire: inline data, URLs Gemini fetches, refusals, token counts."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import relaykit
from relaykit import (
    DocumentPart,
    InvalidRequestError,
    Message,
    TextPart,
    TokenCount,
    ToolResultPart,
)
from relaykit.testing import PDF
from relaykit_gemini.testing import PDF_PAGE_TOKENS, GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
MODEL = "gemini/gemini-2.5-flash"
PDF_B64 = base64.b64encode(PDF).decode()
NOTES = b"Meeting notes: ship on Friday."
NOTES_B64 = base64.b64encode(NOTES).decode()


def config(mock: GeminiMock) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY}},
    }


def asking(*parts: Any) -> list[Message]:
    return [Message.user([TextPart("summarise"), *parts])]


def notes(**kw: Any) -> DocumentPart:
    return DocumentPart(data=NOTES, media_type="text/plain", **kw)


async def sent_parts(mock: GeminiMock, *documents: DocumentPart) -> list[dict[str, Any]]:
    async with relaykit.Client(config(mock), env={}) as client:
        r = await client.chat(MODEL, asking(*documents))
    assert r.text == "echo: summarise"
    parts: list[dict[str, Any]] = mock.last_request.json()["contents"][0]["parts"]
    return parts[1:]


async def refusal(mock: GeminiMock, messages: list[Message]) -> str:
    """The error for ``messages``, refused before anything was sent."""
    async with relaykit.Client(config(mock), env={}) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat(MODEL, messages)
    assert mock.requests == []
    return str(info.value)


@pytest.mark.anyio
async def test_documents_go_inline_with_their_mime_type(mock: GeminiMock) -> None:
    parts = await sent_parts(
        mock,
        DocumentPart(data=PDF, name="invoice-7.pdf"),
        notes(),
        DocumentPart(url=f"data:text/plain;base64,{NOTES_B64}"),
        DocumentPart(data=NOTES, media_type="text/plain; charset=utf-8"),
    )
    assert parts == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF_B64}},
        {"inlineData": {"mimeType": "text/plain", "data": NOTES_B64}},
        {"inlineData": {"mimeType": "text/plain", "data": NOTES_B64}},
        # Gemini takes a bare MIME type: the charset goes
        {"inlineData": {"mimeType": "text/plain", "data": NOTES_B64}},
    ]


@pytest.mark.anyio
async def test_an_https_document_is_fetched_by_gemini(mock: GeminiMock) -> None:
    files_api = "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    parts = await sent_parts(
        mock,
        DocumentPart(url="https://example.com/letter.pdf?X-Amz-Signature=abc"),
        DocumentPart(url=files_api, media_type="text/plain"),
    )
    assert parts == [
        {
            "fileData": {
                "mimeType": "application/pdf",
                "fileUri": "https://example.com/letter.pdf?X-Amz-Signature=abc",
            }
        },
        {"fileData": {"mimeType": "text/plain", "fileUri": files_api}},
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("http://example.com/secret-token/a.pdf", "a http: URL"),
        ("gs://bucket/a.pdf", "a gs: URL"),
        ("reports/a.pdf", "a URL without a scheme"),
    ],
)
async def test_a_document_gemini_cannot_fetch_is_refused_unsent(
    mock: GeminiMock, url: str, scheme: str
) -> None:
    said = await refusal(mock, asking(DocumentPart(url=url)))
    assert scheme in said
    assert "secret-token" not in said  # a URL may hold a credential: it stays out


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["system", "assistant", "tool"])
async def test_documents_go_in_user_messages_only(mock: GeminiMock, role: str) -> None:
    # The core refuses a document in an assistant or tool message for every provider
    # (a tool's goes in its result's attachments), naming it.
    first = ToolResultPart("c1", "see") if role == "tool" else TextPart("see")
    misplaced = Message(role, (first, DocumentPart(data=PDF)))  # type: ignore[arg-type]
    said = await refusal(mock, [misplaced, Message.user("and?")])
    if role == "system":  # the plugin's refusal: OpenAI's Responses API reads one there
        assert "messages[0] is a system message with a document: documents go in user" in said
        return
    article = "an" if role == "assistant" else "a"
    assert f"messages[0].content[1] is a document part in {article} {role} message" in said


@pytest.mark.anyio
async def test_count_tokens_counts_the_documents_as_the_call_is_billed(mock: GeminiMock) -> None:
    messages = asking(DocumentPart(data=PDF), notes())
    async with relaykit.Client(config(mock), env={}) as client:
        count = await client.count_tokens(MODEL, messages)
        sent = mock.last_request.json()["generateContentRequest"]["contents"][0]["parts"]
        r = await client.chat(MODEL, messages)
    assert [list(p) for p in sent] == [["text"], ["inlineData"], ["inlineData"]]
    # a word a token for the text and the notes, a PDF page as Google counts it
    assert count == TokenCount(1 + PDF_PAGE_TOKENS + 5, exact=True)
    assert r.usage.input_tokens == count.input_tokens


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("document", "message"),
    [
        (DocumentPart(data=b"not a pdf at all"), "The document has no pages."),
        (
            DocumentPart(data=b"PK\x03\x04", media_type="application/zip"),
            "Unsupported MIME type: application/zip",
        ),
    ],
)
async def test_the_mock_refuses_documents_as_gemini_does(
    mock: GeminiMock, document: DocumentPart, message: str
) -> None:
    async with relaykit.Client(config(mock), env={}) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat(MODEL, asking(document))
    assert info.value.status == 400 and message in str(info.value)
    assert mock.last_request.json()["contents"][0]["parts"][1]["inlineData"]


def test_the_mock_wants_https_file_uris() -> None:
    from relaykit_gemini.testing import validate

    def body(uri: str) -> dict[str, Any]:
        part = {"fileData": {"mimeType": "application/pdf", "fileUri": uri}}
        return {"contents": [{"role": "user", "parts": [part]}]}

    assert validate(body("https://example.com/a.pdf")) is None
    assert "Unsupported file uri" in str(validate(body("gs://bucket/a.pdf")))
