"""An image by URL goes as ``fileData`` with its ``mimeType``: the part's media type,
else the one its file extension names. Vertex AI requires ``mimeType`` (FileData:
"Required. The IANA standard MIME type of the source data."), so an image URL that
names none is refused before sending, with the fix; the Gemini API reads it as optional
(a Files API URI has no extension: the file has its own type), so it goes without one."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

import relaykit
from relaykit import ImagePart, InvalidRequestError, Message, ToolCall, ToolResultPart
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.testing import GeminiMock
from relaykit_google_auth.testing import vertex_client

from .conftest import client as gemini_client

UNTYPED = "https://storage.googleapis.com/bucket/photos/cat?X-Goog-Signature=5ec12e7"
FILES_API = "https://generativelanguage.googleapis.com/v1beta/files/abc-123"


def vertex(mock: VertexMock, sa_file: Path) -> AbstractAsyncContextManager[relaykit.Client]:
    return vertex_client("vertex", mock.base_url, {}, sa_file, location="us-central1")


@pytest.mark.anyio
async def test_vertex_refuses_an_image_url_of_no_type_naming_media_type(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with vertex(vertex_mock, sa_file) as c:
        with pytest.raises(InvalidRequestError, match="mimeType") as info:
            await c.chat("vertex/gemini-2.5-flash", [Message.user("look", ImagePart(url=UNTYPED))])
    error = info.value
    assert error.param == "messages[0].content[1].media_type" and error.status is None
    assert error.hint is not None and "media_type='image/png'" in error.hint
    assert "5ec12e7" not in str(error)  # a URL's query may hold a signature
    assert vertex_mock.model_requests() == []


@pytest.mark.anyio
async def test_vertex_refuses_an_untyped_image_a_tool_result_carries(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    call = ToolCall("call_1", "snap", {})
    turns = [
        Message.user("snap one"),
        Message("assistant", (call,)),
        Message("tool", (ToolResultPart("call_1", "here", attachments=(ImagePart(url=UNTYPED),)),)),
    ]
    async with vertex(vertex_mock, sa_file) as c:
        with pytest.raises(InvalidRequestError, match="mimeType") as info:
            await c.chat("vertex/gemini-2.5-flash", turns)
    assert info.value.param == "messages[2].content[0].attachments[0].media_type"
    assert vertex_mock.model_requests() == []


@pytest.mark.anyio
async def test_vertex_sends_an_image_url_with_its_given_or_named_type(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    images = (
        ImagePart(url=UNTYPED, media_type="image/png"),
        ImagePart(url="https://storage.googleapis.com/bucket/dog.jpg"),
    )
    async with vertex(vertex_mock, sa_file) as c:
        await c.chat("vertex/gemini-2.5-flash", [Message.user("look", *images)])
    (sent,) = vertex_mock.model_requests()
    parts = sent.json()["contents"][0]["parts"]
    assert parts[1] == {"fileData": {"fileUri": UNTYPED, "mimeType": "image/png"}}
    assert parts[2] == {
        "fileData": {
            "fileUri": "https://storage.googleapis.com/bucket/dog.jpg",
            "mimeType": "image/jpeg",
        }
    }


@pytest.mark.anyio
async def test_the_gemini_api_sends_a_files_api_uri_without_a_type(mock: GeminiMock) -> None:
    async with gemini_client(mock) as c:
        await c.chat("gemini/gemini-2.5-flash", [Message.user("look", ImagePart(url=FILES_API))])
    parts = mock.last_request.json()["contents"][0]["parts"]
    assert parts[1] == {"fileData": {"fileUri": FILES_API}}
