"""Documents as Anthropic ``document`` blocks: shapes, refusals, cache points, tokens, the mock."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import (
    CachePoint,
    ChatRequest,
    DocumentPart,
    InvalidRequestError,
    Message,
    TextPart,
    ToolCall,
)
from relaykit.testing import PDF
from relaykit_anthropic import AnthropicProvider, wire
from relaykit_anthropic.mock_documents import PDF_PAGE_TOKENS, document_problem
from relaykit_anthropic.testing import AnthropicMock

from .conftest import client

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"
PDF64 = base64.b64encode(PDF).decode()
EPHEMERAL = {"type": "ephemeral"}


def blocks(*parts: Any) -> list[dict[str, Any]]:
    """The content blocks of one user turn holding ``parts``."""
    request = ChatRequest(model="claude-sonnet-4-5", messages=(Message.user(list(parts)),))
    [turn] = wire.request_body(request, stream=False)["messages"]
    content: list[dict[str, Any]] = turn["content"]
    return content


# -- the blocks sent -------------------------------------------------------------------


def test_a_pdf_is_a_base64_document_titled_with_its_name() -> None:
    assert blocks(TextPart("read"), DocumentPart(data=PDF, name="invoice-7.pdf"))[1] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF64},
        "title": "invoice-7.pdf",
    }


def test_a_document_without_a_name_has_no_title() -> None:
    # relaykit's made-up "document.pdf" would tell the model nothing.
    assert "title" not in blocks(DocumentPart(data=PDF))[0]


@pytest.mark.parametrize(
    "media_type",
    # Markdown, CSV and HTML are text the model reads with their markup, as Bedrock's
    # Converse (md, csv, html) and Gemini take them
    ["text/plain", "Text/Plain; charset=utf-8", "text/markdown", "text/csv", "text/html"],
)
def test_plain_text_goes_as_text(media_type: str) -> None:
    notes = DocumentPart(data="Café notes: ship on Friday.".encode(), media_type=media_type)
    assert blocks(notes)[0]["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": "Café notes: ship on Friday.",
    }


def test_a_pdf_by_url_is_fetched_by_anthropic_and_a_data_url_sent_as_bytes() -> None:
    by_url = DocumentPart(url="https://example.com/report.pdf")
    inline = DocumentPart(url=f"data:application/pdf;base64,{PDF64}")
    text = DocumentPart(url=f"data:text/plain;base64,{base64.b64encode(b'hello').decode()}")
    assert [b["source"] for b in blocks(by_url, inline, text)] == [
        {"type": "url", "url": "https://example.com/report.pdf"},
        {"type": "base64", "media_type": "application/pdf", "data": PDF64},
        {"type": "text", "media_type": "text/plain", "data": "hello"},
    ]


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (
            DocumentPart(data=b"PK\x03\x04", media_type="application/zip"),
            r"documents of type 'application/zip'.*PDFs \(application/pdf\) and text"
            r" \(text/plain, text/markdown, text/csv, text/html\)",
        ),
        (
            DocumentPart(url="https://example.com/notes.txt", media_type="text/plain"),
            "PDFs only by URL, not text.*pass it as bytes",
        ),
        (DocumentPart(data=b"caf\xe9", media_type="text/plain"), "must be UTF-8"),
    ],
    ids=["media-type", "text-by-url", "not-utf8"],
)
def test_what_anthropic_cannot_read_is_refused(part: DocumentPart, match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        blocks(TextPart("read"), part)


@pytest.mark.parametrize(
    ("message", "said"),
    [
        # (the core, which refused it for every provider, leaves it to the plugins now:
        # OpenAI's Responses API reads one there)
        (
            Message("system", (TextPart("rules"), DocumentPart(data=PDF))),
            r"document part in a system message, where Anthropic's Messages API takes none",
        ),
        (Message.assistant([DocumentPart(data=PDF)]), "user turns only"),
    ],
    ids=["system", "assistant"],
)
def test_a_document_outside_a_user_turn_is_refused_not_dropped(message: Message, said: str) -> None:
    request = ChatRequest(model="claude-sonnet-4-5", messages=(message, Message.user("hi")))
    with pytest.raises(InvalidRequestError, match=said):
        wire.request_body(request, stream=False)


def test_a_document_in_a_tool_message_joins_the_user_turn_of_its_result() -> None:
    request = ChatRequest(
        model="claude-sonnet-4-5",
        messages=(
            Message.user("fetch the invoice"),
            Message.assistant(tool_calls=[ToolCall("t1", "fetch", {})]),
            Message("tool", (relaykit.ToolResultPart("t1", "attached"), DocumentPart(data=PDF))),
        ),
    )
    turn = wire.request_body(request, stream=False)["messages"][2]
    assert turn["role"] == "user"
    assert [b["type"] for b in turn["content"]] == ["tool_result", "document"]


@pytest.mark.anyio
async def test_a_refused_document_is_never_sent(mock: AnthropicMock) -> None:
    odd = DocumentPart(data=b"<xml/>", media_type="application/xml")
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="application/xml"):
            await c.chat(MODEL, [Message.user([TextPart("read"), odd])])
    assert not mock.requests


# -- cache points ----------------------------------------------------------------------


def test_a_cache_point_after_a_document_marks_the_document() -> None:
    content = blocks(DocumentPart(data=PDF, name="manual"), CachePoint("1h"), TextPart("q"))
    assert content[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in content[1]


@pytest.mark.anyio
async def test_a_cached_document_is_written_then_read(mock: AnthropicMock) -> None:
    manual: list[DocumentPart | CachePoint] = [
        DocumentPart(data=PDF, name="manual.pdf"),
        CachePoint(),
    ]
    async with client(mock) as c:
        first = await c.chat(MODEL, [Message.user([*manual, TextPart("question one")])])
        second = await c.chat(MODEL, [Message.user([*manual, TextPart("question two")])])
    assert mock.last_request.json()["messages"][0]["content"][0]["cache_control"] == EPHEMERAL
    # The one-page PDF alone is over the 1,024 tokens a prefix needs.
    assert (first.usage.cache_write_input_tokens, first.usage.cached_input_tokens) == (
        PDF_PAGE_TOKENS,
        0,
    )
    assert (second.usage.cache_write_input_tokens, second.usage.cached_input_tokens) == (
        0,
        PDF_PAGE_TOKENS,
    )


# -- tokens ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_usage_counts_the_document(mock: AnthropicMock, streamed: bool) -> None:
    message = Message.user([TextPart("summarise these"), DocumentPart(data=PDF)])
    async with client(mock) as c:
        if streamed:
            async with c.stream(MODEL, [message]) as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await c.chat(MODEL, [message])
    assert r.text == "echo: summarise these"
    assert r.usage.input_tokens == 2 + PDF_PAGE_TOKENS


@pytest.mark.anyio
async def test_count_tokens_sends_the_documents(mock: AnthropicMock) -> None:
    notes = DocumentPart(data=b"four words of notes", media_type="text/plain")
    request = ChatRequest(
        model="claude-sonnet-4-5",
        messages=(Message.user([TextPart("read both"), DocumentPart(data=PDF), notes]),),
    )
    async with client(mock) as c:
        provider = c.provider("anthropic")
        assert isinstance(provider, AnthropicProvider)
        assert await provider.count_tokens(request) == 2 + PDF_PAGE_TOKENS + 4
    sent = mock.last_request
    assert sent.path == "/v1/messages/count_tokens"
    assert [b["type"] for b in sent.json()["messages"][0]["content"]] == [
        "text",
        "document",
        "document",
    ]


# -- the mock checks documents as the API does -------------------------------------------


def pdf_source(**change: Any) -> dict[str, Any]:
    return {"type": "base64", "media_type": "application/pdf", "data": PDF64, **change}


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        (pdf_source(), None),
        (
            pdf_source(media_type="image/png"),
            "base64.media_type: Input should be 'application/pdf'",
        ),
        (pdf_source(data="not base64!"), "base64.data: Input should be a valid base64 string"),
        (pdf_source(data=PDF64[8:]), "base64.data: The PDF specified was not valid."),
        ({"type": "text", "media_type": "text/plain", "data": "notes"}, None),
        ({"type": "text", "media_type": "text/plain"}, "text.data: Field required"),
        ({"type": "text", "media_type": "text/plain", "data": ""}, "must be non-empty"),
        ({"type": "text", "media_type": "text/csv", "data": "a,b"}, "Input should be 'text/plain'"),
        ({"type": "url", "url": "https://example.com/a.pdf"}, None),
        ({"type": "url"}, "url.url: Field required"),
        ({"type": "url", "url": "ftp://example.com/a.pdf"}, "url.url: Invalid URL"),
        ({"type": "file", "file_id": "file_1"}, "Input tag 'file' found"),
        (None, "document.source: Field required"),
    ],
)
def test_the_mock_checks_document_sources(source: Any, complaint: str | None) -> None:
    problem = document_problem(
        {"type": "document", "source": source}, "messages.0.content.1", "user"
    )
    if complaint is None:
        assert problem is None
    else:
        assert problem is not None and complaint in problem


def test_the_mock_takes_documents_in_user_turns_only() -> None:
    block = {"type": "document", "source": pdf_source()}
    problem = document_problem(block, "messages.1.content.0", "assistant")
    assert (
        problem
        == "messages.1.content.0: 'document' blocks are not permitted within assistant turns"
    )
    problem = document_problem({**block, "title": 7}, "messages.0.content.0", "user")
    assert problem == "messages.0.content.0.document.title: Input should be a valid string"


def test_the_mock_answers_a_bad_document_with_the_api_error_shape(mock: AnthropicMock) -> None:
    content = [{"type": "text", "text": "x"}, {"type": "document", "source": pdf_source(data="")}]
    r = httpx.post(
        f"{mock.base_url}/v1/messages",
        json={
            "model": "claude-haiku-4-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": content}],
        },
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 400
    assert r.json()["type"] == "error"
    assert r.json()["error"] == {
        "type": "invalid_request_error",
        "message": "messages.0.content.1.document.source.base64.data: "
        "The PDF specified was not valid.",
    }
