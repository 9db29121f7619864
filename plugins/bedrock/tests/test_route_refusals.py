"""What is refused before sending names the API the call goes to, by that API's rules.

A chat's body is built as Converse's first, for the Messages route too, so the
refusals made while building it said "Converse" on both, and some held Converse's
rules (a user turn of documents alone, ``s3://`` sources, Word and Excel
documents, Converse's path for a tool's name) where the Messages API has others.
Each case runs over loopback on both routes (Claude Opus 4.7 through the Messages
API, Claude Sonnet 4.5 through Converse): nothing refused reaches the mock.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from relaykit import DocumentPart, ImagePart, InvalidRequestError, Message, TextPart
from relaykit.testing import PDF
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

MODELS = {
    "converse": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "messages": "bedrock/global.anthropic.claude-opus-4-7",
}
NAMES = {"converse": "Bedrock's Converse API", "messages": "Anthropic's Messages API on Bedrock"}
api = pytest.mark.parametrize("api", ["converse", "messages"])


async def refusal(
    mock: BedrockMock, make_client: MakeClient, api: str, messages: Sequence[Message], **kw: object
) -> InvalidRequestError:
    """The error for a call through ``api`` that is refused before sending."""
    async with make_client(region=mock.region) as client:
        with pytest.raises(InvalidRequestError) as refused:
            await client.chat(MODELS[api], list(messages), **kw)
    assert not mock.requests
    return refused.value


def assert_names_only(api: str, said: str) -> None:
    """``said`` names ``api`` and not the other route."""
    other = NAMES["messages" if api == "converse" else "converse"]
    assert NAMES[api] in said and other not in said


@pytest.mark.anyio
@api
async def test_a_document_in_a_system_message_is_refused_naming_the_route(
    mock: BedrockMock, make_client: MakeClient, api: str
) -> None:
    system = Message("system", (TextPart("rules"), DocumentPart(data=PDF)))
    e = await refusal(mock, make_client, api, [system, Message.user("hi")])
    assert_names_only(api, e.message)
    assert "Converse" not in e.message or api == "converse"


@pytest.mark.anyio
@api
async def test_a_conversation_opening_with_the_assistant_is_refused_naming_the_route(
    mock: BedrockMock, make_client: MakeClient, api: str
) -> None:
    e = await refusal(
        mock, make_client, api, [Message.assistant("Hello."), Message.user("Hi, Weather?")]
    )
    assert_names_only(api, e.message)


@pytest.mark.anyio
async def test_a_user_turn_of_documents_alone_is_sent_on_the_messages_route(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # "A text block must be included when using documents" is Converse's rule: the
    # Messages API reads a document sent alone, so the route sends it.
    alone = Message.user([DocumentPart(data=PDF, name="report.pdf")])
    e = await refusal(mock, make_client, "converse", [alone])
    assert "needs text" in e.message and NAMES["converse"] in e.message
    async with make_client(region=mock.region) as client:
        r = await client.chat(MODELS["messages"], [alone])
    assert r.finish_reason == "stop"
    [block] = mock.last_request.json()["messages"][0]["content"]
    assert block["type"] == "document" and block["source"]["type"] == "base64"


@pytest.mark.anyio
@api
@pytest.mark.parametrize(
    ("part", "said", "fix", "converse_fix"),
    [
        # Neither route fetches a URL; the hint offered an s3:// URI, which the Messages
        # route refuses in turn.
        (
            DocumentPart(url="https://example.com/q3.pdf"),
            "Bedrock does not fetch documents by URL",
            "pass its bytes",
            "s3://",
        ),
        (
            ImagePart(url="https://example.com/a.png"),
            "Bedrock does not fetch images by URL",
            "pass its bytes",
            "s3://",
        ),
        # A type no route reads: the hint lists what this route reads.
        (
            DocumentPart(data=b"PK", media_type="application/zip"),
            "{route} does not read documents of type 'application/zip'",
            "pdf",
            "docx",
        ),
    ],
    ids=["document-url", "image-url", "zip"],
)
async def test_a_part_no_route_takes_is_refused_with_a_fix_the_route_takes(
    mock: BedrockMock,
    make_client: MakeClient,
    api: str,
    part: DocumentPart | ImagePart,
    said: str,
    fix: str,
    converse_fix: str,
) -> None:
    e = await refusal(mock, make_client, api, [Message.user([TextPart("read"), part])])
    assert said.format(route=NAMES[api]) in e.message
    assert all(name not in e.message for route, name in NAMES.items() if route != api)
    assert fix in str(e.hint)
    assert (converse_fix in str(e.hint)) is (api == "converse")


@pytest.mark.anyio
@api
async def test_a_bad_tool_name_is_refused_at_the_routes_own_path(
    mock: BedrockMock, make_client: MakeClient, api: str
) -> None:
    tool = {"name": "get weather", "parameters": {"type": "object"}}
    e = await refusal(mock, make_client, api, [Message.user("hi")], tools=[tool])
    path = "toolConfig.tools[0].toolSpec.name" if api == "converse" else "tools[0].name"
    assert e.param == path
