"""Documents on the wire: Chat Completions, the Responses API and the compatible presets."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import (
    ChatRequest,
    DocumentPart,
    InvalidRequestError,
    Message,
    TextPart,
    TokenCount,
    ToolResultPart,
)
from relaykit.testing import PDF, OpenAIMock
from relaykit.testing.openai_responses import PDF_PAGE_TOKENS
from relaykit_openai import wire

KEY = "sk-test-0123456789abcdef0123"
PDF_B64 = base64.b64encode(PDF).decode()
NOTES = b"Meeting notes: ship on Friday."
NOTES_B64 = base64.b64encode(NOTES).decode()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def config(mock: OpenAIMock, api: str = "chat", **providers: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": providers
        or {"openai": {"base_url": mock.base_url, "api_key": KEY, "api": api}},
    }


def asking(*parts: Any) -> list[Message]:
    return [Message.user([TextPart("summarise"), *parts])]


def pdf(**kw: Any) -> DocumentPart:
    return DocumentPart(data=PDF, **kw)


def notes(**kw: Any) -> DocumentPart:
    return DocumentPart(data=NOTES, **{"media_type": "text/plain", **kw})


async def refused(mock: OpenAIMock, messages: list[Message], api: str = "chat") -> str:
    """The refusal of ``messages``, which must happen before anything is sent."""
    async with relaykit.Client(config(mock, api)) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat("openai/gpt-4o-mini", messages)
    assert mock.requests == []
    return str(info.value)


# -- Chat Completions -------------------------------------------------------------


@pytest.mark.anyio
async def test_chat_sends_a_pdf_as_a_file_part_and_text_as_a_framed_text_part(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/gpt-4o-mini", asking(pdf(name="invoice-7.pdf"), notes()))
    content = mock.last_request.json()["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "summarise"},
        {
            "type": "file",
            "file": {
                "filename": "invoice-7.pdf",
                "file_data": f"data:application/pdf;base64,{PDF_B64}",
            },
        },
        {
            "type": "text",
            "text": '<document name="document.txt">\nMeeting notes: ship on Friday.\n</document>',
        },
    ]
    assert r.text == "echo: summarise"  # the mock reads the quoted file, but echoes the question
    # a word a token, the PDF's page as an image: "summarise" + the notes' 5 words and frame
    assert r.usage.input_tokens == 1 + 8 + PDF_PAGE_TOKENS


@pytest.mark.anyio
async def test_chat_sends_a_data_url_document_as_it_came(mock: OpenAIMock) -> None:
    url = f"data:application/pdf;base64,{PDF_B64}"
    text_url = f"data:text/plain;charset=utf-8;base64,{NOTES_B64}"
    async with relaykit.Client(config(mock)) as client:
        await client.chat(
            "openai/gpt-4o-mini", asking(DocumentPart(url=url), DocumentPart(url=text_url))
        )
    content = mock.last_request.json()["messages"][0]["content"]
    assert content[1] == {"type": "file", "file": {"filename": "document.pdf", "file_data": url}}
    assert content[2]["text"].splitlines()[1] == NOTES.decode()


def test_a_text_document_s_name_is_escaped_in_its_frame() -> None:
    doc = notes(name='a "b" <c>.txt')
    body = wire.request_body(
        ChatRequest(model="m", messages=tuple(asking(doc))),
        max_tokens_param="max_tokens",
        stream=False,
        stream_usage=False,
    )
    framed = body["messages"][0]["content"][1]["text"]
    assert framed.startswith('<document name="a &quot;b&quot; &lt;c&gt;.txt">\n')


@pytest.mark.anyio
async def test_chat_refuses_a_document_by_url_before_sending(mock: OpenAIMock) -> None:
    said = await refused(mock, asking(DocumentPart(url="https://example.com/a.pdf")))
    assert "document 'document.pdf' is given by URL" in said
    assert 'api = "responses"' in said


@pytest.mark.anyio
async def test_chat_refuses_what_it_cannot_read(mock: OpenAIMock) -> None:
    said = await refused(mock, asking(DocumentPart(data=b"PK\x03\x04", media_type=DOCX)))
    assert "Chat Completions reads PDFs" in said and 'api = "responses"' in said
    said = await refused(mock, asking(DocumentPart(data=b"\xff\xfe\x00", media_type="text/plain")))
    assert "not UTF-8 text" in said
    url = DocumentPart(url="https://example.com/notes.txt", media_type="text/plain")
    assert "fetches no text files" in await refused(mock, asking(url))


@pytest.mark.anyio
async def test_chat_streams_refuse_before_sending_too(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError, match="document"):
            async with client.stream(
                "openai/gpt-4o-mini", asking(DocumentPart(url="https://example.com/a.pdf"))
            ) as s:
                async for _ in s:
                    pass
    assert mock.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("role", ["assistant", "tool"])
async def test_documents_are_no_part_of_an_assistant_or_tool_message(
    mock: OpenAIMock, api: str, role: str
) -> None:
    # The core refuses a document in these for every provider (a tool's goes in its
    # result's attachments), naming it.
    first = ToolResultPart("c1", "see") if role == "tool" else TextPart("see")
    misplaced = Message(role, (first, pdf()))  # type: ignore[arg-type]
    said = await refused(mock, [misplaced, Message.user("and?")], api)
    article = "an" if role == "assistant" else "a"
    assert f"messages[0].content[1] is a document part in {article} {role} message" in said


@pytest.mark.anyio
async def test_chat_refuses_a_document_in_a_system_message(mock: OpenAIMock) -> None:
    # A Chat Completions system message's content is text parts only.
    said = await refused(mock, [Message("system", (TextPart("see"), pdf())), Message.user("hi")])
    assert "messages[0] is a system message with a document: documents go in user" in said


# -- the Responses API ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_responses_sends_a_document_in_a_system_message(
    mock: OpenAIMock, streamed: bool
) -> None:
    # An input message's content takes input_file whatever its role (user, system or
    # developer: the API reference's EasyInputMessage), and the core used to refuse it.
    rules = DocumentPart(data=PDF, name="house-rules.pdf")
    messages = [Message("system", (TextPart("Follow these:"), rules)), Message.user("hi")]
    async with relaykit.Client(config(mock, "responses")) as client:
        if streamed:
            async with client.stream("openai/gpt-4o-mini", messages) as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await client.chat("openai/gpt-4o-mini", messages)
    assert mock.last_request.json()["input"][0] == {
        "role": "system",
        "content": [
            {"type": "input_text", "text": "Follow these:"},
            {
                "type": "input_file",
                "filename": "house-rules.pdf",
                "file_data": f"data:application/pdf;base64,{PDF_B64}",
            },
        ],
    }
    assert r.text == "echo: hi"
    # the mock read the file: a word a token, and the PDF's page
    assert r.usage.input_tokens == 3 + PDF_PAGE_TOKENS


@pytest.mark.anyio
async def test_responses_sends_input_files_by_data_and_by_url(mock: OpenAIMock) -> None:
    docx = DocumentPart(data=b"PK\x03\x04", media_type=DOCX)
    by_url = DocumentPart(url="https://example.com/letter.pdf")
    async with relaykit.Client(config(mock, "responses")) as client:
        r = await client.chat(
            "openai/gpt-4o-mini",
            asking(
                pdf(), notes(name="n.txt", media_type="text/plain; charset=utf-8"), docx, by_url
            ),
        )
    content = mock.last_request.json()["input"][0]["content"]
    assert content == [
        {"type": "input_text", "text": "summarise"},
        {
            "type": "input_file",
            "filename": "document.pdf",
            "file_data": f"data:application/pdf;base64,{PDF_B64}",
        },
        {
            "type": "input_file",
            "filename": "n.txt",
            "file_data": f"data:text/plain;base64,{NOTES_B64}",  # the charset goes
        },
        # a name whose extension matches the data, not document.pdf
        {
            "type": "input_file",
            "filename": "document.docx",
            "file_data": f"data:{DOCX};base64,UEsDBA==",
        },
        {"type": "input_file", "file_url": "https://example.com/letter.pdf"},
    ]
    assert r.text == "echo: summarise"


@pytest.mark.anyio
async def test_count_tokens_sends_the_documents(mock: OpenAIMock) -> None:
    # OpenAI's counter is the Responses API's, whichever API the calls use.
    async with relaykit.Client(config(mock)) as client:
        count = await client.count_tokens("openai/gpt-4o-mini", asking(pdf(), notes()))
    items = mock.last_request.json()["input"][0]["content"]
    assert mock.last_request.path == "/v1/responses/input_tokens"
    assert [i["type"] for i in items] == ["input_text", "input_file", "input_file"]
    assert count == TokenCount(1 + PDF_PAGE_TOKENS + 5, exact=True)


# -- compatible presets -------------------------------------------------------------


def chat_body(messages: list[Message], documents: Any) -> dict[str, Any]:
    request = ChatRequest(model="m", messages=tuple(messages))
    return wire.request_body(
        request,
        max_tokens_param="max_tokens",
        stream=False,
        stream_usage=False,
        documents=documents,
    )


def test_openrouter_fetches_a_pdf_by_its_url() -> None:
    url = "https://example.com/a.pdf"
    body = chat_body(asking(DocumentPart(url=url, name="a.pdf")), "data-or-url")
    part = body["messages"][0]["content"][1]
    assert part == {"type": "file", "file": {"filename": "a.pdf", "file_data": url}}


@pytest.mark.anyio
async def test_openrouter_sends_documents_as_openai_does(mock: OpenAIMock) -> None:
    cfg = config(mock, openrouter={"base_url": mock.base_url, "api_key": KEY})
    async with relaykit.Client(cfg) as client:
        await client.chat("openrouter/openai/gpt-4o-mini", asking(pdf(), notes()))
    content = mock.last_request.json()["messages"][0]["content"]
    assert [c["type"] for c in content] == ["text", "file", "text"]


@pytest.mark.anyio
@pytest.mark.parametrize("service", ["groq", "xai", "deepseek", "mistral", "vllm"])
async def test_presets_without_documents_refuse_them_unsent(mock: OpenAIMock, service: str) -> None:
    cfg = config(mock, mine={"type": service, "base_url": mock.base_url, "api_key": KEY})
    async with relaykit.Client(cfg) as client:
        with pytest.raises(InvalidRequestError, match=f"{service}'s Chat Completions API reads"):
            await client.chat("mine/some-model", asking(pdf()))
        await client.chat("mine/some-model", "no documents here")  # the rest still works
    assert len(mock.requests) == 1


@pytest.mark.anyio
async def test_a_preset_on_the_responses_api_sends_documents(mock: OpenAIMock) -> None:
    cfg = config(
        mock, mine={"type": "groq", "base_url": mock.base_url, "api_key": KEY, "api": "responses"}
    )
    async with relaykit.Client(cfg) as client:
        await client.chat("mine/gpt-4o-mini", asking(pdf()))
    assert mock.last_request.json()["input"][0]["content"][1]["type"] == "input_file"


# -- the mock checks files as OpenAI does ------------------------------------------


async def post(mock: OpenAIMock, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{mock.base_url}{path}", json=body, headers={"authorization": f"Bearer {KEY}"}
        )


def chat_with(part: dict[str, Any], role: str = "user") -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": role, "content": [part]}]}


def file_part(**file: Any) -> dict[str, Any]:
    return {"type": "file", "file": {"filename": "a.pdf", **file}}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("part", "role", "message"),
    [
        (file_part(file_data="data:application/pdf;base64,%%%"), "user", "invalid base64"),
        (file_part(file_data=PDF_B64), "user", "invalid base64"),  # no data: URL around it
        (
            file_part(file_data=f"data:text/plain;base64,{NOTES_B64}"),
            "user",
            "unsupported MIME type 'text/plain'",
        ),
        (
            file_part(file_data=f"data:application/pdf;base64,{NOTES_B64}"),
            "user",
            "not a valid PDF",
        ),
        (file_part(file_id="file-abc123"), "user", "no uploaded file has the id 'file-abc123'"),
        (file_part(file_data=f"data:application/pdf;base64,{PDF_B64}"), "system", "'file'"),
    ],
)
async def test_the_chat_mock_refuses_bad_files(
    mock: OpenAIMock, part: dict[str, Any], role: str, message: str
) -> None:
    r = await post(mock, "/chat/completions", chat_with(part, role))
    assert r.status_code == 400
    error = r.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"
    assert error["param"].startswith("messages[0].content[0]")


@pytest.mark.anyio
async def test_the_responses_mock_reads_files_in_every_input_message(mock: OpenAIMock) -> None:
    # As the API does: user, system and developer messages take input_file; an
    # assistant's content is output_text and refusals.
    file = {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF_B64}"}
    for role in ("user", "system", "developer"):
        item = {"role": role, "content": [{"type": "input_text", "text": "see"}, file]}
        r = await post(mock, "/responses", {"model": "gpt-4o-mini", "input": [item]})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["input_tokens"] == 1 + PDF_PAGE_TOKENS
    item = {"role": "assistant", "content": [file]}
    r = await post(mock, "/responses", {"model": "gpt-4o-mini", "input": [item]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input[0].content[0]"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"file_url": "ftp://example.com/a.pdf"}, "Failed to download file."),
        ({"file_id": "file-abc123"}, "no uploaded file"),
        ({"file_data": "data:application/zip;base64,UEsDBA=="}, "unsupported MIME type"),
        ({"file_data": f"data:application/pdf;base64,{NOTES_B64}"}, "not a valid PDF"),
        ({}, "exactly one of"),
    ],
)
async def test_the_responses_mock_refuses_bad_files(
    mock: OpenAIMock, part: dict[str, Any], message: str
) -> None:
    item = {"role": "user", "content": [{"type": "input_file", **part}]}
    for path in ("/responses", "/responses/input_tokens"):
        r = await post(mock, path, {"model": "gpt-4o-mini", "input": [item]})
        assert r.status_code == 400 and message in r.json()["error"]["message"]
