"""A message part no provider can send is refused unsent, as an InvalidRequestError;
so is a part in a role where the vendor cannot carry it (an image in a system prompt).

``Message.content`` is typed as relaykit's parts, but nothing stops a dict or a
string-like value from reaching a plugin at run time (``Message("user",
[{"type": "text", ...}])``), nor a part type a newer relaykit adds from reaching
an older plugin. Each plugin's encoder used to raise a bare ``TypeError``
(Anthropic, OpenAI) or leave the part out without a word (the others, which then
sent a different conversation). Now each refuses it before sending: a typed error
naming the part and the fix, not retried, nothing sent, and the call's limits get
their hold back (:func:`relaykit.http.never_sent`).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Message, TextPart
from relaykit.messages import DocumentPart, ImagePart, ReasoningPart, ToolCall, ToolResultPart
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn; these are its APIs
APIS = (
    "anthropic",
    "bedrock",
    "bedrock-messages",
    "cohere",
    "gemini",
    "ollama",
    "openai",
    "openai-responses",
)


def bad_turns(role: str, bad: object) -> list[Message]:
    """A conversation whose ``role`` turn holds ``bad`` after a text part."""
    turn = Message(role, (TextPart("look:"), bad))  # type: ignore[arg-type]
    if role == "assistant":
        return [Message.user("hi"), turn, Message.user("and?")]
    return [turn] if role == "user" else [turn, Message.user("hi")]


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["user", "assistant", "system"])
@pytest.mark.parametrize("bad", [{"type": "text", "text": "a dict"}, 42], ids=["dict", "int"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_part_no_provider_can_send_is_refused_unsent_and_not_retried(
    vendor: tuple[VendorMock, dict[str, Any], str], role: str, bad: object, streamed: bool
) -> None:
    mock, providers, model = vendor
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0},
        "providers": providers,
    }
    async with relaykit.Client(config) as client:
        with pytest.raises(InvalidRequestError) as caught:
            if streamed:
                async with client.stream(model, bad_turns(role, bad), max_tokens=16) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, bad_turns(role, bad), max_tokens=16)
    e = caught.value
    assert not mock.requests  # refused before anything was sent: nothing to retry
    assert e.status is None and not e.retryable and relaykit.http.never_sent(e)
    assert type(bad).__name__ in e.message and e.param is not None
    assert e.hint is not None and "TextPart" in e.hint


# -- parts in a role the vendor cannot carry them in: sent, or refused unsent ----------

#: a marker each part carries, found in a request body that sent it (as text or base64)
MARK = "ZQXMARK"
IMAGE = ImagePart(data=b"ZQXIMAGE-bytes", media_type="image/png")
MARKS = [
    MARK.encode(),
    base64.b64encode(b"ZQXIMAGE-bytes"),
    base64.b64encode(b"%PDF-1.4 ZQXMARK"),
    base64.b64encode(b"ZQXMARK text document"),
]

#: every kind of part, each carrying :data:`MARK` where it can
PARTS: dict[str, Any] = {
    "text": TextPart(MARK),
    "image": IMAGE,
    "pdf": DocumentPart(data=b"%PDF-1.4 ZQXMARK", media_type="application/pdf"),
    "text-document": DocumentPart(data=b"ZQXMARK text document", media_type="text/plain"),
    "tool-call": ToolCall("call_ZQXMARK", "zqx_tool", {"a": MARK}),
    "tool-result": ToolResultPart("call_ZQXMARK", MARK),
    "reasoning": ReasoningPart(MARK),
}


def conversation(role: str, part: Any) -> tuple[list[Message], int]:
    """A conversation whose ``role`` message holds ``part`` after what the role takes,
    and that message's index."""
    if role == "system":
        return [Message("system", (TextPart("be brief"), part)), Message.user("hi")], 0
    if role == "user":
        return [Message("user", (TextPart("look:"), part))], 0
    if role == "assistant":
        turn = Message("assistant", (TextPart("sure"), part))
        return [Message.user("hi"), turn, Message.user("and?")], 1
    call = Message.assistant("", [ToolCall("c1", "f", {})])
    tool = Message("tool", (ToolResultPart("c1", "done"), part))
    return [Message.user("hi"), call, tool, Message.user("and?")], 2


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["system", "user", "assistant", "tool"])
async def test_no_part_is_left_out_of_the_request_without_a_word(
    vendor: tuple[VendorMock, dict[str, Any], str], role: str
) -> None:
    """Each part, in each role, either reaches the vendor or is refused before sending.

    Image, tool call, tool result and reasoning parts in a system message were left
    out by nearly every plugin; text and images in a tool message by the Chat
    Completions, Responses, Ollama and Cohere plugins, an image in an assistant
    message by Cohere's. Reasoning in an assistant turn is the one part a plugin
    leaves out on purpose (another provider's signature, or reasoning its API
    takes no part of: see each plugin's docs), so it is not asked here.
    """
    mock, providers, model = vendor
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
    dropped, unclear = [], []
    async with relaykit.Client(config) as client:
        for kind, part in PARTS.items():
            if role == "assistant" and kind == "reasoning":
                continue
            messages, _ = conversation(role, part)
            sent = len(mock.requests)
            refused: InvalidRequestError | None = None
            try:
                await client.chat(model, messages, max_tokens=16)
            except InvalidRequestError as e:
                refused = e
            if refused is not None and refused.status is None:
                # Refused before sending: nothing went, and the error says where.
                if len(mock.requests) != sent or not refused.param:
                    unclear.append((kind, refused))
            elif not any(m in mock.requests[-1].body for m in MARKS):
                dropped.append(kind)  # sent (and maybe refused by the mock) without it
    assert not dropped, f"left out of a {role} message without a word: {dropped}"
    assert not unclear, f"refused, yet sent or naming no place: {unclear}"


#: what each vendor does with an image in a system and an assistant message
IMAGE_IN: dict[str, dict[str, str]] = {
    # System prompts: text only, but for Responses (a system message's content takes
    # input_image) and Ollama (a message's `images`, whatever its role).
    "system": {
        name: "sent" if name in ("openai-responses", "ollama") else "refused" for name in APIS
    },
    # Assistant turns: Chat Completions, Responses and Cohere take text there.
    "assistant": {
        name: "refused" if name in ("openai", "openai-responses", "cohere") else "sent"
        for name in APIS
    },
}


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["system", "assistant"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_an_image_where_the_vendor_takes_none_is_refused_naming_the_part(
    vendor: tuple[VendorMock, dict[str, Any], str],
    request: pytest.FixtureRequest,
    role: str,
    streamed: bool,
) -> None:
    mock, providers, model = vendor
    name = request.node.callspec.params["vendor"]
    messages, index = conversation(role, IMAGE)
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0},
        "providers": providers,
    }
    async with relaykit.Client(config) as client:
        if IMAGE_IN[role][name] == "sent":
            if streamed:
                async with client.stream(model, messages, max_tokens=16) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, messages, max_tokens=16)
            assert base64.b64encode(b"ZQXIMAGE-bytes") in mock.last_request.body
            return
        with pytest.raises(InvalidRequestError) as caught:
            if streamed:
                async with client.stream(model, messages, max_tokens=16) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, messages, max_tokens=16)
    e = caught.value
    assert not mock.requests and relaykit.http.never_sent(e) and not e.retryable
    assert e.param is not None and e.param.startswith(f"messages[{index}].content")
    assert "image" in e.message and role in e.message
    assert e.hint is not None and "user message" in e.hint


def sends_in_system(api: str, kind: str) -> bool:
    """Whether ``api`` sends a document of ``kind`` in a system message: OpenAI's
    Responses API reads input_file in any input message, and Cohere grounds its
    answer in the text documents of any message (its request-wide ``documents``);
    the others' system prompts are text."""
    return api == "openai-responses" or (api == "cohere" and kind == "text-document")


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["pdf", "text-document"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_document_in_a_system_message_is_sent_or_refused_naming_it(
    vendor: tuple[VendorMock, dict[str, Any], str],
    request: pytest.FixtureRequest,
    kind: str,
    streamed: bool,
) -> None:
    mock, providers, model = vendor
    messages, _ = conversation("system", PARTS[kind])
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0},
        "providers": providers,
    }
    refused: InvalidRequestError | None = None
    async with relaykit.Client(config) as client:
        try:
            if streamed:
                async with client.stream(model, messages, max_tokens=16) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, messages, max_tokens=16)
        except InvalidRequestError as e:
            refused = e
    if sends_in_system(request.node.callspec.params["vendor"], kind):
        assert refused is None
        assert any(m in mock.last_request.body for m in MARKS)
        return
    assert refused is not None, "sent where the vendor takes none"
    assert not mock.requests and relaykit.http.never_sent(refused) and not refused.retryable
    assert refused.param is not None and refused.param.startswith("messages[0].content")
    assert "document" in refused.message
