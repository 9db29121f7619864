"""Documents through the gateway: each API's own shape, as its SDK sends it, reaches the
provider as a :class:`relaykit.DocumentPart`; a malformed one is a 400 in the API's error
shape, and nothing is called."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import openai
import pytest

from relaykit import CachePoint, DocumentPart, ImagePart, Message, TextPart, ToolResultPart
from relaykit.testing import PDF, PNG, FakePlugin
from relaykit_gateway.response_store import ENTRY_CHARS, MESSAGE_CHARS, ResponseStore
from relaykit_gateway.testing import UPSTREAM_KEY, running_over
from relaykit_ollama.testing import OllamaMock

from .conftest import anthropic_sdk, gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

PDF_B64 = base64.b64encode(PDF).decode()
PDF_URL = f"data:application/pdf;base64,{PDF_B64}"
PNG_B64 = base64.b64encode(PNG).decode()
PNG_URL = f"data:image/png;base64,{PNG_B64}"
NOTES = "Meeting notes: ship on Friday."


# -- OpenAI Chat Completions: {"type": "file", "file": {...}} ----------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_a_chat_completions_file_part_reaches_the_provider_as_a_document(
    fake: FakePlugin, streamed: bool
) -> None:
    content: Any = [
        {"type": "text", "text": "summarise this"},
        {"type": "file", "file": {"file_data": PDF_URL, "filename": "invoice-7.pdf"}},
    ]
    async with gateway_over(fake) as url, openai_sdk(url) as sdk:
        messages: Any = [{"role": "user", "content": content}]
        if streamed:
            stream = await sdk.chat.completions.create(
                model="fake/m", messages=messages, stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        else:
            r = await sdk.chat.completions.create(model="fake/m", messages=messages)
            text = r.choices[0].message.content or ""
    assert text == "echo: summarise this"
    (message,) = fake.calls[-1].messages
    assert message.content == (
        TextPart("summarise this"),
        DocumentPart(data=PDF, media_type="application/pdf", name="invoice-7.pdf"),
    )


@pytest.mark.parametrize(
    ("file", "words"),
    [
        ({"file_id": "file-abc123"}, "has no file_data"),
        ({"file_data": f"pdf;base64,{PDF_B64}"}, "must be base64 or a base64 data: URL"),
        ({"file_data": "data:application/pdf;base64,%%%"}, "is malformed"),
    ],
    ids=["uploaded", "bare-base64", "bad-base64"],
)
async def test_a_malformed_chat_completions_file_is_a_400_naming_it(
    fake: FakePlugin, file: dict[str, str], words: str
) -> None:
    content: Any = [{"type": "text", "text": "hi"}, {"type": "file", "file": file}]
    async with gateway_over(fake) as url, openai_sdk(url) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(
                model="fake/m", messages=[{"role": "user", "content": content}]
            )
    assert words in caught.value.message
    assert caught.value.body["param"].startswith("messages[0].content[1]")  # type: ignore[index]
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert not fake.calls


async def test_a_provider_that_reads_no_documents_answers_a_400_and_is_not_called() -> None:
    content: Any = [
        {"type": "text", "text": "summarise this"},
        {"type": "file", "file": {"file_data": PDF_URL, "filename": "invoice-7.pdf"}},
    ]
    with OllamaMock(api_key=UPSTREAM_KEY) as upstream:
        async with running_over(ollama=upstream.base_url) as url, openai_sdk(url) as sdk:
            with pytest.raises(openai.BadRequestError, match="reads no documents"):
                await sdk.chat.completions.create(
                    model="ollama/llama3.2", messages=[{"role": "user", "content": content}]
                )
        assert not upstream.requests


# -- OpenAI Responses: input_file -------------------------------------------------------


async def test_responses_input_files_reach_the_provider_and_stay_with_the_conversation(
    fake: FakePlugin,
) -> None:
    text_url = "data:text/plain;base64," + base64.b64encode(NOTES.encode()).decode()
    async with gateway_over(fake) as url, openai_sdk(url) as sdk:
        first = await sdk.responses.create(
            model="fake/m",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "read these"},
                        {"type": "input_file", "filename": "invoice-7.pdf", "file_data": PDF_URL},
                        {"type": "input_file", "filename": "notes.txt", "file_data": text_url},
                        {"type": "input_file", "file_url": "https://example.com/spec.pdf"},
                        {"type": "input_file", "file_url": "https://example.com/README.TXT"},
                    ],
                }
            ],
        )
        await sdk.responses.create(
            model="fake/m", previous_response_id=first.id, input="and the total?"
        )
    documents = (
        DocumentPart(data=PDF, name="invoice-7.pdf"),
        DocumentPart(data=NOTES.encode(), media_type="text/plain", name="notes.txt"),
        DocumentPart(url="https://example.com/spec.pdf"),
        DocumentPart(url="https://example.com/README.TXT", media_type="text/plain"),
    )
    assert fake.calls[0].messages[0].content == (TextPart("read these"), *documents)
    # The kept conversation holds the documents: the continued call sends them again.
    user, answer, question = fake.calls[1].messages
    assert user.content == (TextPart("read these"), *documents)
    assert (answer.text, question.text) == ("echo: read these", "and the total?")


@pytest.mark.parametrize(
    ("part", "words", "param"),
    [
        ({"file_id": "file-abc123"}, "the gateway cannot read", "input.0.content.1.file_id"),
        ({"filename": "a.pdf"}, "neither file_data", "input.0.content.1"),
        (
            {"file_data": f"pdf;base64,{PDF_B64}"},
            "input.0.content.1.file_data must be base64 or a base64 data: URL",
            None,
        ),
        ({"file_url": 7}, "input.0.content.1.file_url must be a string", None),
    ],
    ids=["uploaded", "empty", "bare-base64", "url-not-text"],
)
async def test_a_malformed_input_file_is_a_400_naming_it(
    fake: FakePlugin, part: dict[str, Any], words: str, param: str | None
) -> None:
    content: Any = [{"type": "input_text", "text": "hi"}, {"type": "input_file", **part}]
    async with gateway_over(fake) as url, openai_sdk(url) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.responses.create(model="fake/m", input=[{"role": "user", "content": content}])
    assert words in caught.value.message
    if param is not None:
        assert caught.value.body["param"] == param  # type: ignore[index]
    assert not fake.calls


async def test_files_and_images_in_a_function_call_output_reach_the_provider(
    fake: FakePlugin,
) -> None:
    output: Any = [
        {"type": "input_text", "text": "the report:"},
        {"type": "input_file", "filename": "r.pdf", "file_data": PDF_URL},
        {"type": "input_image", "image_url": PNG_URL},
    ]
    async with gateway_over(fake) as url, openai_sdk(url) as sdk:
        await sdk.responses.create(
            model="fake/m",
            input=[
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": output},
            ],
        )
    (result,) = fake.calls[-1].messages[-1].content
    assert isinstance(result, ToolResultPart)
    assert result.content == "the report:"
    assert result.attachments == (
        DocumentPart(data=PDF, name="r.pdf"),
        ImagePart(data=PNG, media_type="image/png"),
    )


async def test_images_and_documents_in_an_anthropic_tool_result_reach_the_provider(
    fake: FakePlugin,
) -> None:
    image = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
    document = {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}
    content: Any = [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
    ]
    result: Any = {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [
            {"type": "text", "text": "the chart:"},
            {"type": "image", "source": image},
            {"type": "document", "source": document, "title": "r.pdf"},
        ],
    }
    async with gateway_over(fake) as url, anthropic_sdk(url) as sdk:
        await sdk.messages.create(
            model="fake/m",
            max_tokens=10,
            messages=[
                {"role": "user", "content": "chart?"},
                {"role": "assistant", "content": content},
                {"role": "user", "content": [result]},
            ],
        )
    (part,) = fake.calls[-1].messages[-1].content
    assert part == ToolResultPart(
        "t1",
        "the chart:",
        attachments=(
            ImagePart(data=PNG, media_type="image/png"),
            DocumentPart(data=PDF, name="r.pdf"),
        ),
    )


def test_the_response_store_counts_a_documents_bytes() -> None:
    # with what a response of one message counts besides its text
    store = ResponseStore(max_chars=len(PDF) + 10 + ENTRY_CHARS + MESSAGE_CHARS)
    with_pdf = (Message.user([TextPart("read"), DocumentPart(data=PDF, name="a.pdf")]),)
    store.put(None, "a", with_pdf)
    assert store.get(None, "a") == with_pdf
    store.put(None, "b", (Message.user("x" * 10),))  # the PDF's bytes leave no room: a goes
    assert (store.get(None, "a"), len(store)) == (None, 1)


# -- Anthropic Messages: document blocks -------------------------------------------------


async def test_anthropic_document_blocks_reach_the_provider_as_documents(
    fake: FakePlugin,
) -> None:
    content: Any = [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
            "title": "invoice-7.pdf",
            "context": "Sent by the supplier in March.",
            "citations": {"enabled": True},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": NOTES}},
        {
            "type": "document",
            "source": {"type": "url", "url": "https://example.com/spec.pdf"},
            "title": "",
        },
        {"type": "text", "text": "summarise these"},
    ]
    async with gateway_over(fake) as url, anthropic_sdk(url) as sdk:
        r = await sdk.messages.create(
            model="fake/m", max_tokens=10, messages=[{"role": "user", "content": content}]
        )
    assert r.content[0].type == "text"
    assert r.content[0].text == "echo: Sent by the supplier in March.summarise these"
    (message,) = fake.calls[-1].messages
    assert message.content == (
        # the context is for the model to read, so it goes just before its document
        TextPart("Sent by the supplier in March."),
        DocumentPart(data=PDF, name="invoice-7.pdf"),
        CachePoint(),  # the block's mark, after all of it
        DocumentPart(data=NOTES.encode(), media_type="text/plain"),
        DocumentPart(url="https://example.com/spec.pdf"),
        TextPart("summarise these"),
    )


@pytest.mark.parametrize(
    ("block", "words"),
    [
        (
            {"source": {"type": "base64", "media_type": "application/pdf", "data": "%%"}},
            "not base64",
        ),
        ({"source": {"type": "base64", "data": PDF_B64}}, "source.media_type must be a string"),
        ({"source": {"type": "file", "file_id": "file_1"}}, "the gateway cannot read"),
        ({"source": {"type": "content", "content": []}}, "send its text as a text source"),
        ({"source": {"type": "text", "data": NOTES}, "title": 3}, "title must be a string"),
        ({}, "must be a base64, text or url document source"),
    ],
    ids=["bad-base64", "no-media-type", "uploaded", "custom-content", "bad-title", "no-source"],
)
async def test_a_malformed_document_block_is_an_anthropic_400(
    fake: FakePlugin, block: dict[str, Any], words: str
) -> None:
    content: Any = [{"type": "text", "text": "hi"}, {"type": "document", **block}]
    async with gateway_over(fake) as url, anthropic_sdk(url) as sdk:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.create(
                model="fake/m", max_tokens=10, messages=[{"role": "user", "content": content}]
            )
    assert words in caught.value.message
    assert "messages.0.content.1" in caught.value.message
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert not fake.calls


async def test_a_text_document_counts_toward_an_estimated_token_count(
    fake: FakePlugin,
) -> None:
    document: Any = {"type": "document", "source": {"type": "text", "data": "x" * 400}}
    async with gateway_over(fake) as url, anthropic_sdk(url) as sdk:
        count = await sdk.messages.count_tokens(
            model="fake/m", messages=[{"role": "user", "content": [document]}]
        )
    # the fake has no counter: relaykit estimates a token per four characters
    assert count.input_tokens == 100
