"""Chat messages and their content parts.

A :class:`Message` is a role plus a tuple of parts. Users may also hand us plain
dicts, in relaykit's own JSON shape (what :func:`relaykit.to_json` writes), in
the OpenAI Chat Completions shape most code already has lying around, or in
Anthropic's Messages shape (a user turn's ``tool_result`` blocks become tool
messages, as a user :class:`Message`'s tool results do); :func:`coerce_messages`
turns them into :class:`Message` values and names the offending field when it
cannot.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import attrs

from .errors import InvalidRequestError, PartFieldError

__all__ = [
    "CACHE_TTLS",
    "PART_TYPES",
    "ROLES",
    "Attachment",
    "CachePoint",
    "DocumentPart",
    "ImagePart",
    "Message",
    "Part",
    "ReasoningPart",
    "Role",
    "TextPart",
    "ToolCall",
    "ToolResultPart",
    "coerce_messages",
    "misplaced_part",
    "parse_cache_control",
    "refuse_names",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")


# A part's fields are checked when it is built, where the mistake is: a value of the
# wrong type (TextPart(5), ImagePart(data="...")) would otherwise fail deep in a
# plugin's encoder with an AttributeError, or be sent as something else. Each
# __attrs_post_init__ tests the exact types inline (a few tens of ns, the usual case)
# and leaves the rest (subclasses, the errors) to _check_fields.

_STR = (str,)
_OPTIONAL_STR = (str, type(None))

#: (field, the types it takes, what to call them, the fix), by part type
_FIELD_RULES: dict[str, tuple[tuple[str, tuple[type, ...], str, str], ...]] = {
    "text": (("text", _STR, "a str", "pass the text as a string: TextPart(str(x))"),),
    "image": (
        ("url", _OPTIONAL_STR, "a str", "give an image's URL as a string, or its bytes as `data`"),
        ("media_type", _OPTIONAL_STR, "a str", "name it as a string: 'image/png'"),
    ),
    "document": (
        (
            "url",
            _OPTIONAL_STR,
            "a str",
            "give a document's URL as a string, or its bytes as `data`",
        ),
        ("name", _OPTIONAL_STR, "a str", "name the document with a string"),
    ),
    "tool_call": (
        ("id", _STR, "a str", "pass the call's id as the model sent it"),
        ("name", _STR, "a str", "pass the tool's name as a string"),
        (
            "raw_arguments",
            _OPTIONAL_STR,
            "a str",
            "raw_arguments is the JSON text a model sent, when it was not valid JSON",
        ),
    ),
    "tool_result": (
        ("tool_call_id", _STR, "a str", "pass the id of the ToolCall this answers (call.id)"),
        (
            "content",
            _STR,
            "a str",
            "send a tool's result as text (json.dumps(value) for data); images and "
            "documents go in `attachments`",
        ),
        ("is_error", (bool,), "a bool", "pass True or False"),
    ),
    "reasoning": (
        ("text", _STR, "a str", "pass the reasoning text as a string"),
        *(
            (
                field,
                _OPTIONAL_STR,
                "a str",
                "signature, redacted and origin are the strings a provider sent: "
                "pass them on as they came",
            )
            for field in ("signature", "redacted", "origin")
        ),
    ),
}


def _wrong_type(kind: str, field: str, value: object, want: str, hint: str) -> PartFieldError:
    """The error for a part field of the wrong type: named where it is (``param`` is
    ``content.<part type>.<field>``; :func:`coerce_messages` names the message and
    part of a dict it reads), what it must be, and how to build it right. The value
    itself is not shown: it is the user's content, and may be long or secret."""
    return PartFieldError(
        f"{PART_TYPES[kind].__name__}.{field} must be {want}, not {type(value).__name__}",
        param=f"content.{kind}.{field}",
        hint=hint,
    )


def _check_fields(part: Any) -> None:
    """Refuse the first field of ``part`` whose value is not of a type it takes."""
    kind = part.type
    own = next(k for k, cls in PART_TYPES.items() if isinstance(part, cls))
    if kind != own:
        # a value given one place too far (ToolResultPart(id, text, False, [image])):
        # the type field comes before the keyword-only ones
        raise PartFieldError(
            f"{type(part).__name__}.type is always {own!r}, not {type(kind).__name__}",
            param=f"content.{own}.type",
            hint="pass the fields after the first ones by name: "
            "ToolResultPart(id, text, attachments=[image]), ReasoningPart(text, redacted=...)",
        )
    for field, types, want, hint in _FIELD_RULES[kind]:
        value = getattr(part, field)
        if not isinstance(value, types):
            raise _wrong_type(kind, field, value, want, hint)


@attrs.frozen
class TextPart:
    """Plain text content."""

    text: str
    type: Literal["text"] = "text"

    def __attrs_post_init__(self) -> None:
        if type(self.text) is not str or self.type != "text":
            _check_fields(self)


#: the resolutions OpenAI reads an image at (``ImagePart.detail``)
IMAGE_DETAILS = ("low", "high", "auto")


@attrs.frozen
class ImagePart:
    """An image, either by URL or as raw bytes with their MIME type.

    ``detail`` is the resolution OpenAI (and the services that speak its API) reads
    it at: ``"low"`` (85 tokens an image), ``"high"`` or ``"auto"``; ``None`` sends
    none (the API's default, ``auto``). The other vendors have no such setting: they
    read the image as they always do.
    """

    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    type: Literal["image"] = "image"
    detail: Literal["low", "high", "auto"] | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise PartFieldError(
                "an image part needs exactly one of `url` or `data`",
                param="content.image",
            )
        # Exactly one of url and data is set (above).
        media_type = self.media_type
        if (type(self.data) is not bytes if self.url is None else type(self.url) is not str) or (
            media_type is not None and type(media_type) is not str
        ):
            _check_fields(self)
            _check_bytes(self, "image", "ImagePart(data=path.read_bytes(), media_type='image/png')")
        if self.data is not None and not self.media_type:
            raise PartFieldError(
                "an image given as bytes needs `media_type`, e.g. 'image/png'",
                param="content.image.media_type",
            )
        if self.detail is not None and self.detail not in IMAGE_DETAILS:
            raise PartFieldError(
                f"an image's `detail` is 'low', 'high' or 'auto', not {self.detail!r}"[:160],
                param="content.image.detail",
                hint="detail='low' reads it at 512x512 for 85 tokens; leave it out for"
                " the API's default",
            )

    def data_url(self) -> str:
        """The image as a URL: its own, or a ``data:`` URL built from the bytes."""
        if self.url is not None:
            return self.url
        assert self.data is not None
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"


def _check_bytes(part: ImagePart | DocumentPart, kind: str, example: str) -> None:
    """Refuse ``part.data`` that is not bytes; take a bytearray or memoryview as its
    bytes (attrs' documented way to set a frozen field in ``__attrs_post_init__``)."""
    data = part.data
    if data is None or isinstance(data, bytes):
        return
    if isinstance(data, bytearray | memoryview):
        object.__setattr__(part, "data", bytes(data))
        return
    hint = f"read the file in binary mode: {example}"
    if isinstance(data, str):
        hint += "; a base64 string is bytes once decoded (base64.b64decode(text))"
    raise _wrong_type(kind, "data", data, "bytes", hint)


def _bare_media_type(value: str) -> str:
    if not isinstance(value, str):
        raise _wrong_type(
            "document", "media_type", value, "a str", "name it as a string: 'application/pdf'"
        )
    return value.partition(";")[0].strip().lower()


_EXTENSIONS = {
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/markdown": ".md",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}


@attrs.frozen
class DocumentPart:
    """A document for the model to read: a PDF (or plain text), as bytes or by URL.

    ``name`` is its file name or title (OpenAI and Bedrock send one; relaykit
    makes one up when it is ``None``). Providers that read documents (Anthropic,
    OpenAI, Gemini, Bedrock) send it in their own shape; the others refuse it
    with an :class:`~relaykit.InvalidRequestError`, as they do a URL they
    cannot fetch. A base64 ``data:`` URL is held as its bytes and media type.
    """

    data: bytes | None = None
    #: lower-cased, without parameters (``Text/Plain; charset=utf-8`` is ``text/plain``)
    media_type: str = attrs.field(default="application/pdf", converter=_bare_media_type)
    url: str | None = None
    name: str | None = None
    type: Literal["document"] = "document"

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise PartFieldError(
                "a document part needs exactly one of `data` or `url`",
                param="content.document",
            )
        if (self.url is not None and type(self.url) is not str) or (
            self.name is not None and type(self.name) is not str
        ):
            _check_fields(self)
        if self.url is not None and self.url.startswith("data:"):
            # A data: URL is bytes: held as bytes, so no plugin parses URLs
            # to find them (attrs' documented way to set a frozen field here).
            header, sep, payload = self.url.partition(";base64,")
            try:
                data = base64.b64decode(payload, validate=True) if sep else None
            except binascii.Error:
                data = None
            if data is None:
                raise PartFieldError(
                    "a document's data: URL must be base64 (data:application/pdf;base64,...)",
                    param="content.document.url",
                )
            object.__setattr__(self, "url", None)
            object.__setattr__(self, "data", data)
            object.__setattr__(self, "media_type", _bare_media_type(header[5:] or self.media_type))
        if type(self.data) is not bytes and self.data is not None:
            _check_bytes(self, "document", "DocumentPart(data=path.read_bytes())")

    def data_url(self) -> str:
        """The document as a URL: its own, or a ``data:`` URL built from the bytes."""
        if self.url is not None:
            return self.url
        assert self.data is not None
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"

    def base64(self) -> str:
        """The bytes, base64-encoded (the document must have ``data``)."""
        assert self.data is not None, "a document given by URL has no bytes"
        return base64.b64encode(self.data).decode()

    @property
    def filename(self) -> str:
        """``name``, or one made from the media type (``document.pdf``, ``document.csv``)."""
        if self.name:
            return self.name
        return f"document{_EXTENSIONS.get(self.media_type, '')}"


@attrs.frozen
class ToolCall:
    """A call the model asked us to make.

    ``arguments`` is the decoded JSON object. When a model produces arguments that
    are not valid JSON, ``arguments`` is empty and ``raw_arguments`` keeps the text,
    so nothing the model said is lost.
    """

    id: str
    name: str
    arguments: dict[str, Any] = attrs.field(factory=dict)
    raw_arguments: str | None = None
    type: Literal["tool_call"] = "tool_call"

    def __attrs_post_init__(self) -> None:
        raw = self.raw_arguments
        if (
            type(self.id) is not str
            or type(self.name) is not str
            or (raw is not None and type(raw) is not str)
        ):
            _check_fields(self)
        if type(self.arguments) is not dict:
            if not isinstance(self.arguments, Mapping):
                raise _wrong_type(
                    "tool_call",
                    "arguments",
                    self.arguments,
                    "a dict",
                    "pass the decoded JSON object; arguments as JSON text go through "
                    "ToolCall.from_json_arguments(id, name, text)",
                )
            object.__setattr__(self, "arguments", dict(self.arguments))

    @classmethod
    def from_json_arguments(cls, id: str, name: str, text: str) -> ToolCall:
        """Build a call from arguments as the JSON text a provider sent.

        No text, or JSON ``null`` (Groq's for a function without parameters), is no
        arguments (``{}``), as absent or null arguments are from the providers that
        send them as objects; other text that is not a JSON object is kept as
        ``raw_arguments``.
        """
        if type(text) is not str and not isinstance(text, str):
            raise _wrong_type(
                "tool_call",
                "arguments",
                text,
                "JSON text",
                "pass the arguments' JSON text, or build ToolCall(id, name, arguments_dict)",
            )
        if not text.strip():
            return cls(id=id, name=name)
        try:
            value = json.loads(text)
        except ValueError:
            return cls(id=id, name=name, raw_arguments=text)
        if value is None:
            return cls(id=id, name=name)
        if not isinstance(value, dict):
            return cls(id=id, name=name, raw_arguments=text)
        return cls(id=id, name=name, arguments=value)


#: what a tool result may carry besides its text: images and documents
Attachment: TypeAlias = ImagePart | DocumentPart


def _to_attachments(value: Iterable[Attachment]) -> tuple[Attachment, ...]:
    found = tuple(value)
    for a in found:
        if type(a) is not ImagePart and type(a) is not DocumentPart:
            raise PartFieldError(
                f"a tool result's attachments are images and documents, not {type(a).__name__}",
                param="content.tool_result.attachments",
                hint="put the result's text in its content",
            )
    return found


@attrs.frozen
class ToolResultPart:
    """The result of a tool call, sent back to the model.

    ``content`` is the result's text. ``attachments`` are images and documents
    the tool produced (a screenshot, a chart, a fetched PDF). Anthropic,
    Bedrock, Gemini and OpenAI's Responses API read them inside the tool
    result; APIs whose tool results are text only (OpenAI Chat Completions and
    its compatibles, Ollama) get them in a user turn right after the tool
    results, each introduced by the call it belongs to; Cohere refuses them.
    """

    tool_call_id: str
    content: str
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"
    attachments: tuple[Attachment, ...] = attrs.field(
        default=(), kw_only=True, converter=_to_attachments
    )

    def __attrs_post_init__(self) -> None:
        if (
            type(self.tool_call_id) is not str
            or type(self.content) is not str
            or type(self.is_error) is not bool
            or self.type != "tool_result"
        ):
            _check_fields(self)


@attrs.frozen
class ReasoningPart:
    """One block of reasoning ("thinking") a model produced, as the provider sent it.

    ``text`` is the readable reasoning. ``signature`` and ``redacted`` are opaque
    provider data that must go back unchanged when the turn is continued:
    ``signature`` vouches for ``text`` (Anthropic's thinking signature, Gemini's
    ``thoughtSignature``, Bedrock's reasoning signature); ``redacted`` is
    reasoning the provider encrypted (Anthropic's ``redacted_thinking`` data,
    Bedrock's ``redactedContent`` in base64), never shown as text.
    ``origin`` is the type of the provider plugin that produced the part
    (``"anthropic"``, ``"bedrock"``, ``"gemini"``): signatures and redacted data
    only mean something to that kind of provider, so the others drop them (see
    :meth:`belongs_to`). It is ``None`` for unsigned reasoning and for parts
    built by hand, which are sent as they are.
    """

    text: str = ""
    signature: str | None = None
    type: Literal["reasoning"] = "reasoning"
    redacted: str | None = attrs.field(default=None, kw_only=True)
    origin: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        signature, redacted, origin = self.signature, self.redacted, self.origin
        if (
            type(self.text) is not str
            or (signature is not None and type(signature) is not str)
            or (redacted is not None and type(redacted) is not str)
            or (origin is not None and type(origin) is not str)
            or self.type != "reasoning"
        ):
            _check_fields(self)

    def belongs_to(self, provider_type: str) -> bool:
        """Whether this part's signature and redacted data may go to a provider of
        ``provider_type``: it came from one, or its origin is unknown."""
        return self.origin is None or self.origin == provider_type


#: the lifetimes a prompt cache entry may be asked for (Anthropic's and Bedrock's)
CACHE_TTLS = ("5m", "1h")


def _check_ttl(_: Any, __: Any, ttl: str | None) -> None:
    if ttl is not None and ttl not in CACHE_TTLS:
        raise InvalidRequestError(
            f"a cache point's ttl is {ttl!r}; use '5m', '1h' or leave it out",
            param="cache_point.ttl",
        )


@attrs.frozen
class CachePoint:
    """Where a cacheable prompt prefix ends: everything before it may be cached.

    Put one in a message's content after the long, stable part of a prompt (a
    system prompt, a document, the history so far), or last in ``tools`` to
    cache the tool definitions. Providers with prompt caching you opt into
    turn it into their own mark: Anthropic's ``cache_control`` on the block
    before it, Bedrock's ``cachePoint`` block, OpenRouter's ``cache_control``.
    The others cache prompts on their own (OpenAI, Gemini) or not at all, and
    leave it out. Neither the answer nor a response-cache key depends on it.

    ``ttl`` is how long the entry should live: ``"5m"`` (the providers'
    default when it is ``None``) or ``"1h"``, which costs more to write.
    Anthropic allows four cache points per request, and the longer-lived ones
    must come first.
    """

    ttl: str | None = attrs.field(default=None, validator=_check_ttl)
    type: Literal["cache_point"] = "cache_point"


Part: TypeAlias = (
    TextPart | ImagePart | DocumentPart | ToolCall | ToolResultPart | ReasoningPart | CachePoint
)
PART_TYPES: dict[str, type[Part]] = {
    "text": TextPart,
    "image": ImagePart,
    "document": DocumentPart,
    "tool_call": ToolCall,
    "tool_result": ToolResultPart,
    "reasoning": ReasoningPart,
    "cache_point": CachePoint,
}


def _to_parts(parts: Iterable[Part | str]) -> tuple[Part, ...]:
    found = parts
    if type(found) is not tuple:
        if isinstance(found, str):
            # Message("user", "hi"): one text part, not one per character.
            return (TextPart(found),)
        try:
            found = tuple(found)
        except TypeError:
            raise InvalidRequestError(
                f"a message's content must be a string or a sequence of parts, not "
                f"{type(parts).__name__}",
                param="content",
                hint="Message('user', 'hi'), or Message('user', [TextPart('look:'), image])",
            ) from None
    for p in found:
        if type(p) is str:
            # Message.user(["look:", image]): a string among parts is text, not
            # something for every provider to skip without a word.
            return tuple([TextPart(p) if type(p) is str else p for p in found])  # type: ignore[misc]
    return found  # type: ignore[return-value]


def _as_parts(content: str | Sequence[Part]) -> tuple[Part, ...]:
    # _to_parts refuses by name what is no text or parts: tuple(None) was a TypeError
    return (TextPart(content),) if isinstance(content, str) else _to_parts(content)


@attrs.frozen
class Message:
    """One chat turn: a role and its content parts.

    ``name`` is OpenAI's participant name (``{"role": "user", "name": "alice",
    ...}``), telling apart speakers of one role: sent by OpenAI's Chat
    Completions and the APIs compatible with it, kept in the response-cache key
    and in call records (redacted as text is), and refused before sending by the
    providers whose API has no such field. It follows OpenAI's rule: 1 to 64
    characters, no whitespace and none of ``< | \\ / >``
    (:func:`coerce_messages` checks it), and a tool message has none.
    """

    role: Role
    content: tuple[Part, ...] = attrs.field(converter=_to_parts)
    name: str | None = attrs.field(default=None, kw_only=True)

    @classmethod
    def system(cls, text: str, *, name: str | None = None) -> Message:
        """A system prompt (``name``: the participant's, see :class:`Message`)."""
        return cls("system", (TextPart(text),), name=name)

    @classmethod
    def user(
        cls, content: str | Sequence[Part], *images: ImagePart, name: str | None = None
    ) -> Message:
        """A user turn: text (or parts), optionally followed by images (``name``: who
        speaks, see :class:`Message`)."""
        return cls("user", _as_parts(content) + images, name=name)

    @classmethod
    def assistant(
        cls,
        content: str | Sequence[Part] = "",
        tool_calls: Sequence[ToolCall] = (),
        *,
        name: str | None = None,
    ) -> Message:
        """An assistant turn, with the tool calls it made, if any (``name``: the
        participant's, see :class:`Message`)."""
        parts = _as_parts(content) if content else ()
        if isinstance(tool_calls, str | bytes) or not isinstance(tool_calls, Iterable):
            raise InvalidRequestError(  # tuple(5) was a TypeError; a string, its letters
                f"tool_calls must be a sequence of ToolCall, not {type(tool_calls).__name__}",
                param="tool_calls",
            )
        return cls("assistant", parts + tuple(tool_calls), name=name)

    @classmethod
    def tool(
        cls, tool_call_id: str, content: str, *attachments: Attachment, is_error: bool = False
    ) -> Message:
        """The result of the tool call ``tool_call_id``: its text, then any images or
        documents the tool produced."""
        return cls(
            "tool", (ToolResultPart(tool_call_id, content, is_error, attachments=attachments),)
        )

    @property
    def text(self) -> str:
        """All text parts joined."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls in this message."""
        return tuple(p for p in self.content if isinstance(p, ToolCall))


# --- coercion from user input -------------------------------------------------


#: roles whose message is whole with one text part (a tool message needs a result)
_TEXT_ROLES = frozenset(("system", "user", "assistant"))


def coerce_messages(messages: str | Sequence[Message | Mapping[str, Any]]) -> tuple[Message, ...]:
    """Turn what a user passed as ``messages`` into a tuple of :class:`Message`.

    Accepts a string (one user turn), :class:`Message` values, and dicts in
    relaykit's JSON shape, the OpenAI Chat Completions shape or Anthropic's
    Messages shape. A user turn holding tool results (Anthropic's shape, a dict
    or a :class:`Message`) becomes a tool message per result, then the rest of
    the turn. An OpenAI assistant turn's ``refusal`` (a message key or a part, as
    the SDK's ``model_dump()`` gives it) is its text; the deprecated
    ``function_call`` is refused (give ``tool_calls``).
    """
    if isinstance(messages, str):
        return (Message.user(messages),)
    if isinstance(messages, Mapping) or not isinstance(messages, Sequence):
        raise InvalidRequestError(
            f"`messages` must be a string or a list of messages, not {type(messages).__name__}",
            param="messages",
        )
    out = []
    for i, m in enumerate(messages):
        if type(m) is dict and len(m) == 2:
            # The usual dict, {"role": ..., "content": "text"}: one text part.
            role = m.get("role")
            content = m.get("content")
            # type(role) first: a list is unhashable, and refused below by name
            if type(role) is str and role in _TEXT_ROLES and type(content) is str:
                out.append(Message(role, (TextPart(content),)))  # type: ignore[arg-type]
                continue
        if isinstance(m, Message):
            message = m
        elif isinstance(m, Mapping):
            message = _message_from_dict(m, f"messages[{i}]")
            if message.role == "tool" and m.get("name") is not None:
                _check_tool_name(m["name"], message, out, f"messages[{i}]")
        else:
            raise InvalidRequestError(
                f"messages[{i}] must be a relaykit.Message or a dict, not {type(m).__name__}",
                param=f"messages[{i}]",
            )
        if message.name is not None:
            _check_name(message, f"messages[{i}]")
        if _plain_text(message):
            out.append(message)
            continue
        _check_parts(message, f"messages[{i}]")
        if message.role == "user" and any(isinstance(p, ToolResultPart) for p in message.content):
            out += _results_apart(message)
        else:
            out.append(message)
    if not out:
        raise InvalidRequestError(
            "`messages` is empty: send at least one message", param="messages"
        )
    return tuple(out)


#: what OpenAI allows in a message's ``name`` (its API's own pattern): no whitespace
#: and none of < | \ / >, 64 characters at most
_NAME_PATTERN = re.compile(r"[^\s<|\\/>]{1,64}")
_NAME_HINT = (
    "a participant name is 1 to 64 characters without spaces or any of < | \\ / > "
    "(OpenAI's rule), e.g. 'alice' or 'support_bot'; or leave `name` out and say who "
    "speaks in the text"
)


def _check_name(message: Message, where: str) -> None:
    """Refuse a ``name`` no API takes: not a string, against OpenAI's pattern, or on a
    tool message (whose speaker is the tool call it answers). The name is not shown:
    it is content, as the text is."""
    name = message.name
    if not isinstance(name, str):
        raise InvalidRequestError(
            f"{where}.name must be a str, not {type(name).__name__}",
            param=f"{where}.name",
            hint=_NAME_HINT,
        )
    if _NAME_PATTERN.fullmatch(name) is None:
        raise InvalidRequestError(
            f"{where}.name must be 1 to 64 characters without whitespace or any of"
            f" < | \\ / > (OpenAI's rule for a participant name); the one given is"
            f" {len(name)} characters long",
            param=f"{where}.name",
            hint=_NAME_HINT,
        )
    if message.role == "tool":
        raise InvalidRequestError(
            f"{where}.name is set on a tool message, which no API names",
            param=f"{where}.name",
            hint="leave `name` out of a tool message: it answers the call its tool_call_id names",
        )


def _check_tool_name(name: Any, message: Message, before: Sequence[Message], where: str) -> None:
    """A tool message's ``name`` in a dict (LangChain's, and OpenAI's old function
    messages): the name of the tool whose call it answers, which the call already
    says. Read as that, and refused when it names another tool than that call's."""
    results = [p for p in message.content if isinstance(p, ToolResultPart)]
    call_id = results[0].tool_call_id if results else None
    for m in reversed(before):
        for call in m.tool_calls:
            if call.id == call_id:
                if call.name != name:
                    raise InvalidRequestError(
                        f"{where}.name says the tool is {_short(name)}, but the call it"
                        f" answers ({call_id}) is to {call.name!r}",
                        param=f"{where}.name",
                        hint="leave `name` out of a tool message (its tool_call_id says"
                        " which call it answers), or give the called tool's name",
                    )
                return
    if not isinstance(name, str):
        raise InvalidRequestError(
            f"{where}.name must be the called tool's name, a str, not {type(name).__name__}",
            param=f"{where}.name",
        )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _plain_text(m: Message) -> bool:
    """Whether ``m`` is one text part in a role that takes text, as nearly every message
    is: nothing more to check. The others are checked part by part."""
    parts = m.content
    try:
        return len(parts) == 1 and type(parts[0]) is TextPart and m.role in _TEXT_ROLES
    except TypeError:  # an unhashable role, refused part by part
        return False


#: the part classes: a type lookup, the usual case, before isinstance
_PART_CLASSES = frozenset(PART_TYPES.values())
_PART_TUPLE = tuple(PART_TYPES.values())


def _check_parts(message: Message, where: str) -> None:
    """Refuse what no provider can send in ``message``, naming the part and the fix.

    A role outside :data:`ROLES`, and a value among the parts that is no relaykit part
    (a dict, a number): typed as ``Part``, but unchecked at run time, every plugin
    would otherwise meet it, and fail with a bare ``TypeError`` or leave it out
    without a word. Then a part in a role where no vendor takes it
    (:data:`_MISPLACED`): each plugin used to drop it from the request, send it where
    the vendor refused it, or turn it into something else.
    """
    role = message.role
    misplaced = _MISPLACED.get(role) if type(role) is str else None
    if misplaced is not None:
        for p in message.content:
            kind = type(p)
            if kind in misplaced or kind not in _PART_CLASSES:
                break
        else:
            return  # every part a relaykit part its role takes: the usual case
    _refuse_parts(message, where)


def _refuse_parts(message: Message, where: str) -> None:
    """:func:`_check_parts`'s slow path: raise for the role, or the first part refused,
    if any (a subclass of a part class is judged as that class)."""
    role = message.role
    if type(role) is not str or role not in _MISPLACED:
        raise InvalidRequestError(
            f"{where}.role is {role!r}; use one of {', '.join(ROLES)}",
            param=f"{where}.role",
            hint="build messages with Message.system/user/assistant/tool",
        )
    for j, p in enumerate(message.content):
        kind: type = type(p)
        if kind not in _PART_CLASSES:
            if not isinstance(p, _PART_TUPLE):
                raise InvalidRequestError(
                    f"{where}.content[{j}] is a {kind.__name__}, not a message part",
                    param=f"{where}.content[{j}]",
                    hint="build a Message's content from relaykit parts (TextPart, ImagePart,"
                    " DocumentPart, ToolCall, ToolResultPart, ReasoningPart, CachePoint), or"
                    " pass the whole message as a dict ({'role': 'user', 'content':"
                    " [{'type': 'text', 'text': ...}]}), which relaykit reads into parts",
                )
            kind = next(c for c in _PART_TUPLE if isinstance(p, c))
        if kind in _MISPLACED[role]:
            raise misplaced_part(role, p, f"{where}.content[{j}]")


#: part classes no provider takes in a message of each role
_MISPLACED: dict[str, frozenset[type]] = {
    # Documents too: the Responses API reads an input_file in a system message, and
    # each plugin whose vendor does not refuses one there itself.
    "system": frozenset((ToolCall, ToolResultPart, ReasoningPart)),
    "user": frozenset((ToolCall, ReasoningPart)),
    "assistant": frozenset((DocumentPart, ToolResultPart)),
    "tool": frozenset((TextPart, ImagePart, DocumentPart, ToolCall, ReasoningPart)),
}

#: how to fix a part in the wrong role, by part type
_MOVE_HINTS = {
    "tool_call": "tool calls are the model's: keep them in the assistant message that made "
    "them, Message.assistant(text, tool_calls=[call])",
    "tool_result": "send a tool's result in a tool message right after the assistant "
    "message that called it: Message.tool(call.id, text)",
    "reasoning": "reasoning is the model's: keep it in the assistant message it came in "
    "(ChatResponse.to_message()); to show it to the model, send its text as a TextPart",
    # Every vendor reads documents from the user's side (and OpenAI's Responses API
    # from a system message too).
    "document": "put documents in a user message (a tool's: in its result's attachments)",
}
_TOOL_MESSAGE_HINT = (
    "a tool message holds tool results: put the text in the result's content and images "
    "or documents in its attachments, Message.tool(call.id, text, image), or send them "
    "in a user message after it"
)


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def misplaced_part(
    role: str, part: Part, where: str, *, api: str | None = None
) -> InvalidRequestError:
    """The error for ``part`` in a ``role`` message that cannot carry it, at ``where``
    (``messages[2].content[0]``), saying where it goes instead.

    The core refuses the parts no provider takes in a role (a tool call in a system
    message); a plugin passes its ``api`` ("Anthropic's Messages API") for those its
    vendor alone cannot take there (an image in a system prompt), before sending.
    """
    kind = part.type
    by = f"{api} takes none" if api else "no provider takes one"
    if role == "tool":
        hint = _TOOL_MESSAGE_HINT
    elif kind in _MOVE_HINTS:
        hint = _MOVE_HINTS[kind]
    else:
        hint = f"move the {kind} into a user message (right after the {role} message)"
    return InvalidRequestError(
        f"{where} is {_a(kind)} {kind} part in {_a(role)} {role} message, where {by}",
        param=where,
        hint=hint,
    )


def refuse_names(messages: Sequence[Message], api: str) -> None:
    """Refuse the first message with a ``name`` (OpenAI's participant name), for a
    plugin whose vendor's ``api`` ("Anthropic's Messages API") has no such field:
    before sending, rather than leave it out without a word."""
    for i, m in enumerate(messages):
        if m.name is not None:
            raise InvalidRequestError(
                f"messages[{i}] has a `name` (who speaks), which {api} has no field for",
                param=f"messages[{i}].name",
                hint="leave `name` out, or say who speaks in the text ('alice: ...'); "
                "OpenAI's Chat Completions and the APIs compatible with it take it",
            )


def _results_apart(message: Message) -> list[Message]:
    """A user turn holding tool results (Anthropic's shape) as relaykit has them: a
    tool message per result, in order, then the rest of the turn, if any.

    Every provider plugin reads tool results from tool messages; left in a user
    turn, a Chat Completions API would get them as text, not as the answers to
    the assistant's calls. Split, the turn loses nothing: the plugins whose API
    keeps results in a user turn (Anthropic's, Bedrock's) join tool messages and
    the user turn after them back into one. A cache point right after a result
    stays with it.
    """
    out: list[Message] = []
    rest: list[Part] = []
    for part in message.content:
        if isinstance(part, ToolResultPart):
            out.append(Message("tool", (part,)))
        elif isinstance(part, CachePoint) and out and not rest:
            out[-1] = Message("tool", (*out[-1].content, part))
        else:
            rest.append(part)
    if rest:
        out.append(Message("user", tuple(rest), name=message.name))
    elif message.name is not None:
        # Tool messages have no name: it would be lost with no turn left to keep it.
        raise InvalidRequestError(
            "a user turn holding only tool results has a `name`, which its tool"
            " messages cannot keep",
            param="name",
            hint="leave `name` out of a turn that only answers tool calls",
        )
    return out


def _message_from_dict(d: Mapping[str, Any], where: str) -> Message:
    role = d.get("role")
    if role == "developer":  # OpenAI's newer name for the system role
        role = "system"
    if role not in ROLES:
        raise InvalidRequestError(
            f"{where}.role is {role!r}; use one of {', '.join(ROLES)}", param=f"{where}.role"
        )
    content = d.get("content")
    parts: list[Part] = []
    # A message-wide `cache_control` (LiteLLM's shorthand) marks its end.
    cache = parse_cache_control(d.get("cache_control"), where)
    if role == "tool" and "tool_call_id" in d:  # OpenAI shape
        text, attachments = _tool_content(content, f"{where}.content")
        if isinstance(content, Sequence) and not isinstance(content, str):
            cache = cache or _last_cache_mark(content, where)
        message = Message.tool(str(d["tool_call_id"]), text, *attachments)
        return Message("tool", (*message.content, cache)) if cache else message
    if role == "tool" and isinstance(content, str):
        # No provider takes a tool message that answers no call: its text was left out.
        raise InvalidRequestError(
            f"{where} is a tool message without the id of the call it answers",
            param=f"{where}.tool_call_id",
            hint="{'role': 'tool', 'tool_call_id': call.id, 'content': ...}, or "
            "Message.tool(call.id, text)",
        )
    if isinstance(content, str):
        parts.append(TextPart(content))
    elif isinstance(content, Sequence):
        for j, p in enumerate(content):
            at = f"{where}.content[{j}]"
            parts.append(_part_from_dict(p, at))
            # Anthropic's and OpenRouter's mark on a block: the prefix ends after it.
            if (point := parse_cache_control(p.get("cache_control"), at)) is not None:
                parts.append(point)
    elif content is not None:
        raise InvalidRequestError(
            f"{where}.content must be a string or a list of parts", param=f"{where}.content"
        )
    refusal = d.get("refusal")
    if refusal:
        # OpenAI's SDK gives a refused answer as `refusal` beside a null content, and
        # history built from model_dump() sends it back: it is what the model said
        # (relaykit-openai reads an answer's refusal into its text the same way).
        parts.append(_text_part(refusal, f"{where}.refusal"))
    if d.get("function_call") is not None:
        # Sent as it came, a call to a function that then vanished from the history.
        raise InvalidRequestError(
            f"{where}.function_call is OpenAI's deprecated function-calling shape",
            param=f"{where}.function_call",
            hint="give the call as tool_calls=[{'id': ..., 'type': 'function', "
            "'function': {'name': ..., 'arguments': ...}}] and its answer as a tool message",
        )
    calls = d.get("tool_calls") or ()  # OpenAI assistant shape
    if not isinstance(calls, Sequence) or isinstance(calls, str | bytes):
        raise InvalidRequestError(
            f"{where}.tool_calls must be a list of tool calls, not {type(calls).__name__}",
            param=f"{where}.tool_calls",
        )
    for j, call in enumerate(calls):
        parts.append(_openai_tool_call(call, f"{where}.tool_calls[{j}]"))
    if cache is not None:
        parts.append(cache)
    name = d.get("name")
    return (
        Message(role, tuple(parts), name=name) if name is not None else Message(role, tuple(parts))
    )


def parse_cache_control(value: Any, where: str) -> CachePoint | None:
    """The cache point an Anthropic-style ``cache_control`` value asks for, if any."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or value.get("type", "ephemeral") != "ephemeral":
        raise InvalidRequestError(
            f"{where}.cache_control is {value!r}; use {{'type': 'ephemeral'}}, "
            "with 'ttl': '5m' or '1h' if you like",
            param=f"{where}.cache_control",
        )
    ttl = value.get("ttl")
    if ttl is not None and ttl not in CACHE_TTLS:
        raise InvalidRequestError(
            f"{where}.cache_control.ttl is {ttl!r}; use '5m' or '1h'",
            param=f"{where}.cache_control.ttl",
        )
    return CachePoint(ttl)


def _last_cache_mark(content: Sequence[Any], where: str) -> CachePoint | None:
    """The last cache mark among a list of parts joined into one text."""
    point = None
    for j, p in enumerate(content):
        if isinstance(p, Mapping):
            point = parse_cache_control(p.get("cache_control"), f"{where}.content[{j}]") or point
    return point


def _tool_content(content: Any, where: str) -> tuple[str, tuple[Attachment, ...]]:
    """A tool result's content, a string or a list of parts, as its text (the text
    parts joined) and its attachments (the images and documents among them)."""
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, Sequence):
        raise InvalidRequestError(
            f"{where} must be a string or a list of parts",
            param=where,
            hint="send a tool's JSON result as text (json.dumps)",
        )
    texts: list[str] = []
    attachments: list[Attachment] = []
    for j, p in enumerate(content):
        part = _part_from_dict(p, f"{where}[{j}]")
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ImagePart | DocumentPart):
            attachments.append(part)
        elif not isinstance(part, CachePoint):
            raise InvalidRequestError(
                f"{where}[{j}] is a {part.type} part; a tool result holds text, images"
                " and documents",
                param=f"{where}[{j}].type",
            )
    return "".join(texts), tuple(attachments)


def _openai_tool_call(call: Any, where: str) -> ToolCall:
    # The caller's values as they came (the call's checks refuse a None id or a
    # number for a name): made strings, they would be sent as something else.
    try:
        fn = call["function"]
        args = fn.get("arguments") or "{}"
        if isinstance(args, Mapping):
            return ToolCall(call["id"], fn["name"], dict(args))
        if not isinstance(args, str):
            raise TypeError("arguments are JSON text or an object")
        return ToolCall.from_json_arguments(call["id"], fn["name"], args)
    except (KeyError, TypeError, AttributeError) as e:
        raise InvalidRequestError(
            f"{where} must look like {{'id': ..., 'function': {{'name': ..., 'arguments': ...}}}}",
            param=where,
        ) from e
    except InvalidRequestError as e:
        raise _located(e, where) from None


def _text_part(text: Any, where: str) -> TextPart:
    if not isinstance(text, str):
        raise InvalidRequestError(f"{where} must be text, not {type(text).__name__}", param=where)
    return TextPart(text)


def _part_from_dict(p: Any, where: str) -> Part:
    if not isinstance(p, Mapping):
        raise InvalidRequestError(f"{where} must be a dict with a `type`", param=where)
    kind = p.get("type")
    try:
        if kind == "text":
            return TextPart(p["text"])
        if kind == "refusal":  # OpenAI's assistant part: what the model said
            return _text_part(p["refusal"], f"{where}.refusal")
        if kind == "image_url":  # OpenAI shape
            given = p["image_url"]
            if isinstance(given, Mapping):
                return _image_from_url(str(given["url"]), given.get("detail"))
            return _image_from_url(str(given))
        if kind == "image":
            if isinstance(p.get("source"), Mapping):  # Anthropic shape
                return _anthropic_image(p["source"])
            if p.get("data") is not None:
                data = p["data"]
                raw = data if isinstance(data, bytes) else base64.b64decode(data, validate=True)
                return ImagePart(data=raw, media_type=p.get("media_type"), detail=p.get("detail"))
            return ImagePart(url=p.get("url"), detail=p.get("detail"))
        if kind == "document":
            return _document(p)
        if kind == "file":  # OpenAI's Chat Completions shape
            return _openai_file(p, where)
        if kind == "tool_call":
            args = p.get("arguments") or {}
            return ToolCall(p["id"], p["name"], dict(args), p.get("raw_arguments"))
        if kind == "tool_use":  # Anthropic shape
            return ToolCall(p["id"], p["name"], dict(p.get("input") or {}))
        if kind == "thinking":  # Anthropic shape: signed, so it goes back to Anthropic only
            return ReasoningPart(p["thinking"], p.get("signature"), origin="anthropic")
        if kind == "redacted_thinking":  # Anthropic shape
            return ReasoningPart(redacted=p["data"], origin="anthropic")
        if kind == "tool_result":
            if "tool_call_id" not in p and "tool_use_id" in p:  # Anthropic shape
                p = {**p, "tool_call_id": p["tool_use_id"], "content": p.get("content", "")}
            text, attachments = _tool_content(p["content"], f"{where}.content")
            extra: list[Any] = [  # checked by ToolResultPart
                _part_from_dict(a, f"{where}.attachments[{j}]")
                for j, a in enumerate(p.get("attachments") or ())
            ]
            return ToolResultPart(
                p["tool_call_id"],
                text,
                p.get("is_error") or False,  # None, as an SDK's model_dump() leaves it
                attachments=(*attachments, *extra),
            )
        if kind == "cache_point":
            return CachePoint(p.get("ttl"))
        if kind == "reasoning":
            return ReasoningPart(
                p.get("text") or "",
                p.get("signature"),
                redacted=p.get("redacted"),
                origin=p.get("origin"),
            )
    except KeyError as e:
        raise InvalidRequestError(f"{where} is missing {e.args[0]!r}", param=where) from e
    except (binascii.Error, TypeError, ValueError) as e:
        raise InvalidRequestError(f"{where} is malformed: {e}", param=where) from e
    except InvalidRequestError as e:
        raise _located(e, where) from None
    valid = ", ".join([*PART_TYPES, "image_url", "file", "tool_use", "thinking", "refusal"])
    raise InvalidRequestError(
        f"{where}.type is {kind!r}; use one of {valid}", param=f"{where}.type"
    )


def _located(e: InvalidRequestError, where: str) -> InvalidRequestError:
    """A part's own error (``param="content.image.url"``, raised where it is made)
    placed at the dict it was read from: ``messages[0].content[1].url``."""
    param = e.param or ""
    if not param.startswith("content."):
        return e  # placed already (a part inside this one), or not a part's
    field = param.split(".", 2)[2:]
    return InvalidRequestError(
        f"{where}: {e.message}", param=".".join([where, *field]), hint=e.hint
    )


def _anthropic_image(source: Mapping[str, Any]) -> ImagePart:
    """An Anthropic image block's ``source``: base64 bytes or a URL."""
    kind = source.get("type")
    if kind == "base64":
        data = base64.b64decode(source["data"], validate=True)
        return ImagePart(data=data, media_type=str(source["media_type"]))
    if kind == "url":
        return ImagePart(url=str(source["url"]))
    raise InvalidRequestError(
        f"an image's source type {kind!r} is not one relaykit sends",
        param="content.image.source",
        hint="use a base64 or url source (uploaded files belong to one vendor)",
    )


def _document(p: Mapping[str, Any]) -> DocumentPart:
    """relaykit's ``{"type": "document", "data": ...}`` or Anthropic's ``source`` shape."""
    source = p.get("source")
    name = p.get("name") or p.get("title")
    if isinstance(source, Mapping):  # Anthropic: base64, text or url
        kind = source.get("type")
        if kind not in ("base64", "text", "url"):
            raise InvalidRequestError(
                f"a document's source type {kind!r} is not one relaykit sends",
                param="content.document.source",
                hint="use a base64, text or url source (uploaded files belong to one vendor)",
            )
        if kind == "url":
            return DocumentPart(url=str(source["url"]), name=name)
        if kind == "text":
            text = str(source["data"]).encode()
            return DocumentPart(data=text, media_type="text/plain", name=name)
        return DocumentPart(
            data=base64.b64decode(source["data"], validate=True),
            media_type=str(source.get("media_type") or "application/pdf"),
            name=name,
        )
    data, url = p.get("data"), p.get("url")
    raw = data if isinstance(data, bytes | None) else base64.b64decode(data, validate=True)
    return DocumentPart(
        data=raw,
        media_type=str(p.get("media_type") or "application/pdf"),
        url=url,
        name=name,
    )


def _openai_file(p: Mapping[str, Any], where: str) -> DocumentPart:
    file = p["file"]
    if not isinstance(file, Mapping) or not file.get("file_data"):
        raise InvalidRequestError(
            f"{where} has no file_data: relaykit sends files inline",
            param=f"{where}.file",
            hint="pass the file's bytes as file_data (a data: URL); uploaded file ids "
            "belong to one vendor",
        )
    header, sep, payload = str(file["file_data"]).partition(";base64,")
    if not sep:  # bare base64, as OpenAI's reference describes file_data
        header, payload = "data:application/pdf", header
    if not header.startswith("data:"):
        raise InvalidRequestError(
            f"{where}.file.file_data must be base64 or a base64 data: URL",
            param=f"{where}.file",
        )
    return DocumentPart(
        data=base64.b64decode(payload, validate=True),
        media_type=header[5:] or "application/pdf",
        name=file.get("filename"),
    )


def _image_from_url(url: str, detail: Any = None) -> ImagePart:
    # Keep data: URLs as bytes so providers that want raw base64 (Anthropic,
    # Gemini, Ollama) do not have to parse URLs.
    if url.startswith("data:") and ";base64," in url:
        header, _, payload = url.partition(";base64,")
        return ImagePart(data=base64.b64decode(payload), media_type=header[5:], detail=detail)
    return ImagePart(url=url, detail=detail)
