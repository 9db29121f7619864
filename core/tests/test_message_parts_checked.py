"""A part of the right class with a field of the wrong type, and a part in a role no
provider takes it in, are refused where they are made, as InvalidRequestError.

Before, ``TextPart(5)`` or ``ImagePart(data="base64...")`` were built without a word
and failed deep in a plugin's encoder (AttributeError, TypeError: read as a malformed
answer and retried, or a traceback in the CLI), or went out as something else (a
number where the vendor wants text). A tool call or a tool result in a system message,
reasoning in a user message, text in a tool message were left out of the request by
most plugins. The vendor-specific cases (an image in a system prompt) are checked per
plugin: tests/test_bad_message_parts.py.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from relaykit import InvalidRequestError, Message
from relaykit.errors import PartFieldError
from relaykit.messages import (
    CachePoint,
    DocumentPart,
    ImagePart,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
    coerce_messages,
)

#: id -> (how the part is built wrongly, the param named, a word the hint says)
WRONG_FIELDS: dict[str, tuple[Callable[[], Any], str, str]] = {
    "text-int": (lambda: TextPart(5), "content.text.text", "str(x)"),  # type: ignore[arg-type]
    "text-none": (lambda: TextPart(None), "content.text.text", "str(x)"),  # type: ignore[arg-type]
    "image-data-str": (
        lambda: ImagePart(data="aGk=", media_type="image/png"),  # type: ignore[arg-type]
        "content.image.data",
        "b64decode",
    ),
    "image-url-int": (lambda: ImagePart(url=5), "content.image.url", "URL"),  # type: ignore[arg-type]
    "image-media-type": (
        lambda: ImagePart(data=b"x", media_type=3),  # type: ignore[arg-type]
        "content.image.media_type",
        "image/png",
    ),
    "document-data-str": (
        lambda: DocumentPart(data="text"),  # type: ignore[arg-type]
        "content.document.data",
        "binary mode",
    ),
    "document-media-type": (
        lambda: DocumentPart(data=b"x", media_type=4),  # type: ignore[arg-type]
        "content.document.media_type",
        "application/pdf",
    ),
    "document-url": (lambda: DocumentPart(url=5), "content.document.url", "URL"),  # type: ignore[arg-type]
    "document-name": (
        lambda: DocumentPart(data=b"x", name=3),  # type: ignore[arg-type]
        "content.document.name",
        "string",
    ),
    "call-arguments-str": (
        lambda: ToolCall("c1", "f", "not a dict"),  # type: ignore[arg-type]
        "content.tool_call.arguments",
        "from_json_arguments",
    ),
    "call-arguments-list": (
        lambda: ToolCall("c1", "f", [1, 2]),  # type: ignore[arg-type]
        "content.tool_call.arguments",
        "from_json_arguments",
    ),
    "call-id": (lambda: ToolCall(1, "f"), "content.tool_call.id", "id"),  # type: ignore[arg-type]
    "call-name": (lambda: ToolCall("c1", None), "content.tool_call.name", "name"),  # type: ignore[arg-type]
    "call-raw": (
        lambda: ToolCall("c1", "f", raw_arguments=5),  # type: ignore[arg-type]
        "content.tool_call.raw_arguments",
        "JSON",
    ),
    "result-content-dict": (
        lambda: ToolResultPart("c1", {"temp": 20}),  # type: ignore[arg-type]
        "content.tool_result.content",
        "json.dumps",
    ),
    "result-id": (
        lambda: ToolResultPart(7, "ok"),  # type: ignore[arg-type]
        "content.tool_result.tool_call_id",
        "call.id",
    ),
    "result-is-error": (
        lambda: ToolResultPart("c1", "ok", "yes"),  # type: ignore[arg-type]
        "content.tool_result.is_error",
        "True or False",
    ),
    "reasoning-text": (lambda: ReasoningPart(5), "content.reasoning.text", "string"),  # type: ignore[arg-type]
    "reasoning-signature": (
        lambda: ReasoningPart("t", 5),  # type: ignore[arg-type]
        "content.reasoning.signature",
        "as they came",
    ),
    "reasoning-redacted": (
        lambda: ReasoningPart(redacted=b"x"),  # type: ignore[arg-type]
        "content.reasoning.redacted",
        "as they came",
    ),
    "reasoning-origin": (
        lambda: ReasoningPart("t", origin=1),  # type: ignore[arg-type]
        "content.reasoning.origin",
        "as they came",
    ),
    "message-content-none": (lambda: Message("user", None), "content", "Message("),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", sorted(WRONG_FIELDS))
def test_a_field_of_the_wrong_type_is_refused_where_the_part_is_made(case: str) -> None:
    build, param, fix = WRONG_FIELDS[case]
    with pytest.raises(InvalidRequestError) as caught:
        build()
    e = caught.value
    assert e.param == param
    assert e.hint is not None and fix in e.hint
    assert not e.retryable and e.status is None


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "image", "url": 5}, "messages[0].content[1].url"),
        ({"type": "image", "data": b"png", "media_type": 3}, "messages[0].content[1].media_type"),
        ({"type": "document", "data": b"%PDF", "name": 7}, "messages[0].content[1].name"),
        ({"type": "reasoning", "text": "t", "signature": 5}, "messages[0].content[1].signature"),
        ({"type": "image"}, "messages[0].content[1]"),
        # read as they came, not made strings or truths: 5 is no text, None no id, and
        # "no" no error flag
        ({"type": "text", "text": 5}, "messages[0].content[1].text"),
        ({"type": "tool_result", "tool_use_id": None, "content": "ok"}, "*.tool_call_id"),
        (
            {"type": "tool_result", "tool_use_id": "c", "content": "ok", "is_error": "no"},
            "*.is_error",
        ),
        ({"type": "tool_use", "id": None, "name": "f", "input": {}}, "*.id"),
        ({"type": "tool_call", "id": "c", "name": 5, "arguments": {}}, "*.name"),
        ({"type": "thinking", "thinking": 5, "signature": "s"}, "*.text"),
    ],
)
def test_a_dicts_part_of_the_wrong_type_is_named_where_it_is(
    part: dict[str, Any], param: str
) -> None:
    role = "assistant" if part["type"] in ("tool_use", "tool_call", "thinking") else "user"
    message = {"role": role, "content": [{"type": "text", "text": "look"}, part]}
    with pytest.raises(InvalidRequestError) as caught:
        coerce_messages([message])
    assert caught.value.param == param.replace("*", "messages[0].content[1]")
    assert caught.value.message.startswith("messages[0].content[1]: ")


@pytest.mark.parametrize(
    "call",
    [
        {"id": None, "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "c", "type": "function", "function": {"name": 5, "arguments": "{}"}},
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": ["x"]}},
    ],
)
def test_an_openai_tool_call_dict_of_the_wrong_types_is_refused(call: dict[str, Any]) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    with pytest.raises(InvalidRequestError) as caught:
        coerce_messages([message])
    assert (caught.value.param or "").startswith("messages[0].tool_calls[0]")


def test_the_value_itself_is_not_in_the_error() -> None:
    # It is the user's content: maybe long, maybe a secret.
    with pytest.raises(InvalidRequestError) as caught:
        ImagePart(data="sk-secret-looking-base64", media_type="image/png")  # type: ignore[arg-type]
    assert "sk-secret" not in str(caught.value)
    assert "ImagePart.data must be bytes, not str" in caught.value.message


def test_right_values_of_near_types_are_taken() -> None:
    # A str subclass is a str; bytes-like data is held as bytes; a mapping of
    # arguments as a dict (each is what the encoders read).
    class Name(str):
        pass

    assert TextPart(Name("hi")).text == "hi"
    image = ImagePart(data=bytearray(b"png"), media_type="image/png")  # type: ignore[arg-type]
    assert type(image.data) is bytes and image.data == b"png"
    document = DocumentPart(data=memoryview(b"%PDF"))  # type: ignore[arg-type]
    assert type(document.data) is bytes
    call = ToolCall("c1", "f", types.MappingProxyType({"a": 1}))  # type: ignore[arg-type]
    assert type(call.arguments) is dict and call.arguments == {"a": 1}
    assert ToolResultPart("c1", "ok", True).is_error


def test_a_string_as_content_is_one_text_part() -> None:
    # Message("user", "hi") was two text parts, one a character.
    assert Message("user", "hi").content == (TextPart("hi"),)


@pytest.mark.parametrize(
    ("build", "where"),
    [
        # attachments (keyword-only) given after is_error: taken as the part's type
        (
            lambda: ToolResultPart("c1", "ok", False, [ImagePart(url="https://x.test/a.png")]),  # type: ignore[arg-type]
            "ToolResultPart.type",
        ),
        # redacted (keyword-only) given after the signature
        (lambda: ReasoningPart("thought", "sig", "opaque"), "ReasoningPart.type"),  # type: ignore[arg-type]
        (lambda: TextPart("hi", "bold"), "TextPart.type"),  # type: ignore[arg-type]
    ],
    ids=["tool-result", "reasoning", "text"],
)
def test_a_value_passed_into_the_type_field_is_refused_naming_the_keyword(
    build: Callable[[], object], where: str
) -> None:
    """The value became the part's ``type``: KeyError (an unhashable list: TypeError)
    from the field check, or IndexError and TypeError deep in a call's checks."""
    with pytest.raises(PartFieldError) as caught:
        build()
    assert f"{where} is always" in str(caught.value)
    assert "by name" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Message.user(None), "content must be a string or a sequence of parts"),  # type: ignore[arg-type]
        (lambda: Message.user(5), "content must be a string or a sequence of parts"),  # type: ignore[arg-type]
        (lambda: Message.assistant("hi", tool_calls=5), "tool_calls must be a sequence"),  # type: ignore[arg-type]
        (lambda: Message.assistant("hi", tool_calls="f"), "tool_calls must be a sequence"),  # type: ignore[arg-type]
    ],
    ids=["user-none", "user-number", "tool-calls-number", "tool-calls-string"],
)
def test_content_that_is_no_text_or_parts_is_refused_by_the_constructors(
    build: Callable[[], Message], message: str
) -> None:
    """``Message.user(None)`` (a variable left unset) raised TypeError: 'NoneType'
    object is not iterable; ``Message("user", None)`` was already refused by name."""
    with pytest.raises(InvalidRequestError, match=message):
        build()


#: id -> (the message, the part index refused, a word the hint says)
MISPLACED: dict[str, tuple[Message, int, str]] = {
    "call-in-system": (
        Message("system", (TextPart("be brief"), ToolCall("c1", "f"))),
        1,
        "Message.assistant",
    ),
    "result-in-system": (
        Message("system", (ToolResultPart("c1", "ok"),)),
        0,
        "Message.tool",
    ),
    "reasoning-in-system": (
        Message("system", (TextPart("x"), ReasoningPart("hmm"))),
        1,
        "TextPart",
    ),
    "document-in-assistant": (
        Message("assistant", (TextPart("x"), DocumentPart(data=b"%PDF"))),
        1,
        "user message",
    ),
    "call-in-user": (Message("user", (TextPart("x"), ToolCall("c1", "f"))), 1, "assistant"),
    "reasoning-in-user": (Message("user", (ReasoningPart("hmm", "sig"),)), 0, "to_message"),
    "result-in-assistant": (
        Message("assistant", (TextPart("x"), ToolResultPart("c1", "ok"))),
        1,
        "Message.tool",
    ),
    "text-in-tool": (
        Message("tool", (ToolResultPart("c1", "ok"), TextPart("and"))),
        1,
        "attachments",
    ),
    "image-in-tool": (
        Message("tool", (ToolResultPart("c1", "ok"), ImagePart(url="https://x/a.png"))),
        1,
        "attachments",
    ),
    "document-in-tool": (
        Message("tool", (ToolResultPart("c1", "ok"), DocumentPart(data=b"%PDF"))),
        1,
        "attachments",
    ),
    "call-in-tool": (Message("tool", (ToolCall("c1", "f"),)), 0, "tool results"),
    "text-alone-in-tool": (Message("tool", (TextPart("ok"),)), 0, "Message.tool"),
}


@pytest.mark.parametrize("case", sorted(MISPLACED))
def test_a_part_no_provider_takes_in_its_role_is_refused(case: str) -> None:
    message, j, fix = MISPLACED[case]
    with pytest.raises(InvalidRequestError) as caught:
        coerce_messages([Message.user("hi"), message])
    e = caught.value
    assert e.param == f"messages[1].content[{j}]"
    assert message.role in e.message and message.content[j].type in e.message
    assert e.hint is not None and fix in e.hint


@pytest.mark.parametrize(
    "message",
    [
        {"role": "system", "content": "x", "tool_calls": [{"id": "c", "function": {"name": "f"}}]},
        {"role": "user", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
        {"role": "tool", "content": [{"type": "text", "text": "no call id"}]},
    ],
    ids=["openai-calls-on-system", "anthropic-thinking-in-user", "tool-parts-without-result"],
)
def test_dicts_are_held_to_the_same_roles(message: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        coerce_messages([message])
    assert caught.value.param is not None and caught.value.param.startswith("messages[0]")


def test_a_tool_dict_without_a_call_id_is_refused_not_left_out() -> None:
    # {"role": "tool", "content": "..."} became a tool message with no result, which the
    # Chat Completions, Responses, Ollama and Cohere plugins then left out of the request.
    with pytest.raises(InvalidRequestError) as caught:
        coerce_messages([{"role": "tool", "content": "20 degrees"}])
    assert caught.value.param == "messages[0].tool_call_id"
    assert caught.value.hint is not None and "tool_call_id" in caught.value.hint


def test_a_message_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        coerce_messages([Message("robot", "beep")])  # type: ignore[arg-type]
    assert caught.value.param == "messages[0].role"


def test_what_each_role_carries_still_passes() -> None:
    call = ToolCall("c1", "f", {"a": 1})
    messages = [
        Message("system", (TextPart("be brief"), CachePoint(), ImagePart(url="https://x/a.png"))),
        # OpenAI's Responses API reads a document there; the other plugins refuse it.
        Message("system", (TextPart("rules:"), DocumentPart(b"%PDF"))),
        Message("user", (TextPart("look"), ImagePart(url="https://x/a.png"), DocumentPart(b"%"))),
        Message("assistant", (ReasoningPart("hmm", "sig"), TextPart("ok"), call)),
        Message("tool", (ToolResultPart("c1", "ok"), CachePoint())),
        Message.tool("c1", "ok", ImagePart(url="https://x/a.png")),
    ]
    assert coerce_messages(messages) == tuple(messages)
    # A user turn holding results (Anthropic's shape) passes as its tool messages.
    results = Message("user", (ToolResultPart("c0", "ok"),))
    assert coerce_messages([results]) == (Message.tool("c0", "ok"),)


def test_tool_call_arguments_that_are_no_json_text_are_refused() -> None:
    with pytest.raises(PartFieldError) as caught:
        ToolCall.from_json_arguments("c", "f", None)  # type: ignore[arg-type]
    assert caught.value.param == "content.tool_call.arguments"
