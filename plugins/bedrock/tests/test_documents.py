"""Documents as Converse ``document`` blocks: formats, names, refusals, tokens, the mock."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaykit import (
    CachePoint,
    ChatRequest,
    DocumentPart,
    InvalidRequestError,
    Message,
    TextPart,
)
from relaykit.testing import PDF
from relaykit_bedrock import BedrockProvider, wire
from relaykit_bedrock.documents import MAX_NAME, document_name
from relaykit_bedrock.testing import BedrockMock, validate
from relaykit_bedrock.testing.documents import PDF_PAGE_TOKENS

from .conftest import MakeClient

MODEL = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"
PDF64 = base64.b64encode(PDF).decode()


def body(*messages: Message) -> dict[str, Any]:
    return wire.request_body(ChatRequest(model="m", messages=messages))


def documents(b: dict[str, Any]) -> list[dict[str, Any]]:
    return [c["document"] for m in b["messages"] for c in m["content"] if "document" in c]


def one(part: DocumentPart) -> dict[str, Any]:
    """The document block Bedrock gets for ``part``, asked about in a user turn."""
    [document] = documents(body(Message.user([TextPart("read"), part])))
    return document


# -- the blocks sent -------------------------------------------------------------------


def test_a_pdf_goes_as_bytes_named_after_its_file() -> None:
    assert one(DocumentPart(data=PDF, name="invoice-7.pdf")) == {
        "format": "pdf",
        "name": "invoice-7",
        "source": {"bytes": PDF64},
    }


@pytest.mark.parametrize(
    ("media_type", "fmt"),
    [
        ("application/pdf", "pdf"),
        ("text/plain", "txt"),
        ("text/plain; charset=utf-8", "txt"),
        ("text/csv", "csv"),
        ("text/html", "html"),
        ("text/markdown", "md"),
        ("application/msword", "doc"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
        ("application/vnd.ms-excel", "xls"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ],
)
def test_media_types_map_to_converse_formats(media_type: str, fmt: str) -> None:
    sent = one(DocumentPart(data=b"a,b\n1,2\n", media_type=media_type))
    assert sent["format"] == fmt
    assert base64.b64decode(sent["source"]["bytes"]) == b"a,b\n1,2\n"


def test_an_s3_object_and_a_data_url_are_sources_bedrock_takes() -> None:
    in_s3 = DocumentPart(url="s3://bucket/q3.pdf")
    text = base64.b64encode(b"notes").decode()
    inline = DocumentPart(url=f"data:text/plain;base64,{text}", name="notes.txt")
    assert one(in_s3)["source"] == {"s3Location": {"uri": "s3://bucket/q3.pdf"}}
    assert one(inline) == {"format": "txt", "name": "notes", "source": {"bytes": text}}


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (
            DocumentPart(data=b"PK", media_type="application/zip"),
            r"documents of type 'application/zip'.*reads csv, doc, docx, html, md, pdf",
        ),
        (
            DocumentPart(url="https://example.com/q3.pdf"),
            r"does not fetch documents by URL.*pass its bytes",
        ),
    ],
    ids=["media-type", "url"],
)
def test_what_bedrock_cannot_take_is_refused(part: DocumentPart, match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        one(part)


@pytest.mark.anyio
async def test_a_refused_document_is_never_sent(mock: BedrockMock, make_client: MakeClient) -> None:
    by_url = DocumentPart(url="https://example.com/q3.pdf")
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="pass its bytes"):
            await client.chat(MODEL, [Message.user([TextPart("read"), by_url])])
    assert not mock.requests


# -- text alongside, user turns only -----------------------------------------------------


def test_a_user_turn_of_documents_alone_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidRequestError, match=r"needs text .* 'report'.*add a TextPart"):
        body(Message.user([DocumentPart(data=PDF, name="report.pdf")]))


def test_text_in_the_next_message_of_the_same_turn_is_enough() -> None:
    # Converse merges the two into one user turn, which then holds text.
    b = body(Message.user([DocumentPart(data=PDF)]), Message.user("summarise it"))
    assert [next(iter(c)) for c in b["messages"][0]["content"]] == ["document", "text"]
    assert validate(b) is None


@pytest.mark.parametrize(
    ("message", "said"),
    [
        # (the core, which refused it for every provider, leaves it to the plugins now:
        # OpenAI's Responses API reads one there)
        (
            Message("system", (TextPart("rules"), DocumentPart(data=PDF))),
            r"document part in a system message, where Bedrock's Converse API takes none",
        ),
        (Message.assistant([TextPart("here"), DocumentPart(data=PDF)]), "user turns only"),
    ],
    ids=["system", "assistant"],
)
def test_a_document_outside_a_user_turn_is_refused_not_dropped(message: Message, said: str) -> None:
    with pytest.raises(InvalidRequestError, match=said):
        body(Message.user("hi"), message, Message.user("and?"))


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("invoice-7.pdf", "invoice-7"),
        ("Q3 report (final).pdf", "Q3 report (final)"),
        ("[draft] plan.md", "[draft] plan"),
        ("résumé_v2.docx", "resume-v2"),
        ("a  b\t\tc.txt", "a b c"),
        ("notes v1.2 draft", "notes v1-2 draft"),
        ("reports/2025/q3.pdf", "reports-2025-q3"),
        ("报告.pdf", "document"),
        (".pdf", "document"),
        ("x" * 100 + ".pdf", "x" * MAX_NAME),
    ],
)
def test_names_are_made_valid(filename: str, name: str) -> None:
    assert document_name(filename) == name


def test_names_are_unique_in_the_request_across_turns_and_case() -> None:
    b = body(
        Message.user([TextPart("one"), DocumentPart(data=PDF), DocumentPart(data=PDF)]),
        Message.assistant("ok"),
        Message.user([TextPart("two"), DocumentPart(data=PDF, name="Report.pdf")]),
        Message.assistant("ok"),
        Message.user([TextPart("three"), DocumentPart(data=PDF, name="report.docx")]),
        Message.assistant("ok"),
        Message.user([TextPart("four"), DocumentPart(data=PDF, name="y" * 80)]),
        Message.assistant("ok"),
        Message.user([TextPart("five"), DocumentPart(data=PDF, name="y" * 70)]),
    )
    assert [d["name"] for d in documents(b)] == [
        "document",
        "document (2)",
        "Report",
        "report (2)",
        "y" * MAX_NAME,
        "y" * (MAX_NAME - 4) + " (2)",
    ]
    assert validate(b) is None


@given(st.lists(st.text(max_size=90), min_size=1, max_size=6))
def test_any_file_names_make_a_request_the_mock_accepts(filenames: list[str]) -> None:
    parts = [DocumentPart(data=PDF, name=f or None) for f in filenames[:5]]
    later = [DocumentPart(data=PDF, name=f or None) for f in filenames[5:]]
    messages = [Message.user([TextPart("read"), *parts])]
    if later:
        messages += [Message.assistant("ok"), Message.user([TextPart("and"), *later])]
    b = body(*messages)
    assert all(1 <= len(d["name"]) <= MAX_NAME for d in documents(b))
    assert validate(b) is None


# -- cache points and tokens ---------------------------------------------------------------


@pytest.mark.anyio
async def test_a_cache_point_after_a_document_follows_it(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    manual: list[DocumentPart | CachePoint] = [
        DocumentPart(data=PDF, name="manual.pdf"),
        CachePoint(),
    ]
    async with make_client() as client:
        await client.chat(MODEL, [Message.user([*manual, TextPart("question")])])
    content = mock.requests[-1].json()["messages"][0]["content"]
    assert [next(iter(c)) for c in content] == ["document", "cachePoint", "text"]


@pytest.mark.anyio
async def test_usage_and_count_tokens_count_the_documents(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    notes = DocumentPart(data=b"four words of notes", media_type="text/plain")
    message = Message.user([TextPart("read both"), DocumentPart(data=PDF), notes])
    async with make_client() as client:
        r = await client.chat(MODEL, [message])
        provider = client.provider("bedrock")
        assert isinstance(provider, BedrockProvider)
        counted = await provider.count_tokens(ChatRequest(model=MODEL[8:], messages=(message,)))
    assert r.usage.input_tokens == counted == 2 + PDF_PAGE_TOKENS + 4
    converse = mock.requests[-1].json()["input"]["converse"]
    assert [d["format"] for d in documents(converse)] == ["pdf", "txt"]


# -- the mock refuses what Converse refuses --------------------------------------------------


def doc(name: str = "a", fmt: str = "pdf", source: Any = None) -> dict[str, Any]:
    return {"document": {"format": fmt, "name": name, "source": source or {"bytes": PDF64}}}


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


TEXT = {"text": "read"}


@pytest.mark.parametrize(
    ("messages", "complaint"),
    [
        ([user(TEXT, doc())], None),
        ([user(doc())], "A text block must be included when using documents."),
        (
            [user(TEXT, doc("a")), {"role": "assistant", "content": [TEXT]}, user(TEXT, doc("a"))],
            "Messages can't contain duplicate document names.",
        ),
        (
            [user(TEXT), {"role": "assistant", "content": [TEXT, doc()]}],
            "only include images and documents if the role is user",
        ),
        ([user(TEXT, *(doc(str(n)) for n in range(6)))], "up to 5 documents"),
        ([user(TEXT, doc(fmt="zip"))], "Member must satisfy enum value set: [pdf, csv,"),
        ([user(TEXT, doc(name=""))], "Member must have length between 1 and 200"),
        ([user(TEXT, doc(name="a.pdf"))], "is not valid: a document name can contain only"),
        ([user(TEXT, doc(name="a  b"))], "no more than one in a row"),
        ([user(TEXT, doc(source={"bytes": "!!"}))], "bytes is not valid base64"),
        (
            [user(TEXT, doc(source={"bytes": base64.b64encode(b"hello").decode()}))],
            "The PDF specified was not valid.",
        ),
        ([user(TEXT, doc(fmt="txt", source={"bytes": base64.b64encode(b"hi").decode()}))], None),
        ([user(TEXT, doc(source={"s3Location": {"uri": "s3://b/k.pdf"}}))], None),
        ([user(TEXT, doc(source={"s3Location": {"uri": "https://b/k.pdf"}}))], "S3 URI"),
        (
            [user(TEXT, doc(source={"bytes": PDF64, "s3Location": {"uri": "s3://b/k"}}))],
            "must set one of the following keys: bytes, s3Location.",
        ),
        (
            [user(TEXT, doc(source={"text": "hi"}))],
            "must set one of the following keys: bytes, s3Location.",
        ),
    ],
)
def test_the_mock_checks_documents_as_converse_does(
    messages: list[dict[str, Any]], complaint: str | None
) -> None:
    problem = validate({"messages": messages})
    if complaint is None:
        assert problem is None
    else:
        assert problem is not None and complaint in problem


def test_the_mock_refuses_a_bad_document_with_a_validation_exception() -> None:
    token = "ABSKQmVkcm9ja0FQSUtleS1tb2NrLXRva2Vu"
    with BedrockMock(bearer_token=token) as mock:
        r = httpx.post(
            f"{mock.base_url}/model/m/converse",
            json={"messages": [user(doc())]},
            headers={"authorization": f"Bearer {token}"},
        )
    assert r.status_code == 400
    assert r.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert r.json() == {"message": "A text block must be included when using documents."}
