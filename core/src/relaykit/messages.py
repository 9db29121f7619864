"""Chat messages and their content parts.

A :class:`Message` is a role plus a tuple of parts. Users may also hand us plain
dicts, in relaykit's own JSON shape (what :func:`relaykit.to_json` writes), in
the OpenAI Chat Completions shape most code already has lying around, or in
Anthropic's Messages shape (a user turn's ``tool_result`` blocks become tool
messages); :func:`coerce_messages` turns them into :class:`Message` values and
names the offending field when it cannot.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import attrs

from .errors import InvalidRequestError

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
    "parse_cache_control",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")


@attrs.frozen
class TextPart:
    """Plain text content."""

    text: str
    type: Literal["text"] = "text"


@attrs.frozen
class ImagePart:
    """An image, either by URL or as raw bytes with their MIME type."""

    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    type: Literal["image"] = "image"

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidRequestError(
                "an image part needs exactly one of `url` or `data`",
                param="content.image",
            )
        if self.data is not None and not self.media_type:
            raise InvalidRequestError(
                "an image given as bytes needs `media_type`, e.g. 'image/png'",
                param="content.image.media_type",
            )

    def data_url(self) -> str:
        """The image as a URL: its own, or a ``data:`` URL built from the bytes."""
        if self.url is not None:
            return self.url
        assert self.data is not None
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"


def _bare_media_type(value: str) -> str:
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
            raise InvalidRequestError(
                "a document part needs exactly one of `data` or `url`",
                param="content.document",
            )
        if self.url is not None and self.url.startswith("data:"):
            # A data: URL is bytes: held as bytes, so no plugin parses URLs
            # to find them (attrs' documented way to set a frozen field here).
            header, sep, payload = self.url.partition(";base64,")
            try:
                data = base64.b64decode(payload, validate=True) if sep else None
            except binascii.Error:
                data = None
            if data is None:
                raise InvalidRequestError(
                    "a document's data: URL must be base64 (data:application/pdf;base64,...)",
                    param="content.document.url",
                )
            object.__setattr__(self, "url", None)
            object.__setattr__(self, "data", data)
            object.__setattr__(self, "media_type", _bare_media_type(header[5:] or self.media_type))
        if self.data is not None and not isinstance(self.data, bytes):
            raise InvalidRequestError(
                "a document's `data` must be bytes (read the file in binary mode)",
                param="content.document.data",
            )

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

    @classmethod
    def from_json_arguments(cls, id: str, name: str, text: str) -> ToolCall:
        """Build a call from arguments as the JSON text a provider sent."""
        if not text.strip():
            return cls(id=id, name=name)
        try:
            value = json.loads(text)
        except ValueError:
            return cls(id=id, name=name, raw_arguments=text)
        if not isinstance(value, dict):
            return cls(id=id, name=name, raw_arguments=text)
        return cls(id=id, name=name, arguments=value)


#: what a tool result may carry besides its text: images and documents
Attachment: TypeAlias = ImagePart | DocumentPart


def _to_attachments(value: Iterable[Attachment]) -> tuple[Attachment, ...]:
    found = tuple(value)
    for a in found:
        if type(a) is not ImagePart and type(a) is not DocumentPart:
            raise InvalidRequestError(
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
    found = tuple(parts)
    for p in found:
        if type(p) is str:
            # Message.user(["look:", image]): a string among parts is text, not
            # something for every provider to skip without a word.
            return tuple([TextPart(p) if type(p) is str else p for p in found])  # type: ignore[misc]
    return found  # type: ignore[return-value]


def _as_parts(content: str | Sequence[Part]) -> tuple[Part, ...]:
    return (TextPart(content),) if isinstance(content, str) else tuple(content)


@attrs.frozen
class Message:
    """One chat turn: a role and its content parts."""

    role: Role
    content: tuple[Part, ...] = attrs.field(converter=_to_parts)

    @classmethod
    def system(cls, text: str) -> Message:
        """A system prompt."""
        return cls("system", (TextPart(text),))

    @classmethod
    def user(cls, content: str | Sequence[Part], *images: ImagePart) -> Message:
        """A user turn: text (or parts), optionally followed by images."""
        return cls("user", _as_parts(content) + images)

    @classmethod
    def assistant(
        cls, content: str | Sequence[Part] = "", tool_calls: Sequence[ToolCall] = ()
    ) -> Message:
        """An assistant turn, with the tool calls it made, if any."""
        parts = _as_parts(content) if content else ()
        return cls("assistant", parts + tuple(tool_calls))

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


#: roles whose plain ``{"role", "content": str}`` dict needs no more than one text part
_TEXT_ROLES = frozenset(("system", "user", "assistant", "tool"))


def coerce_messages(messages: str | Sequence[Message | Mapping[str, Any]]) -> tuple[Message, ...]:
    """Turn what a user passed as ``messages`` into a tuple of :class:`Message`.

    Accepts a string (one user turn), :class:`Message` values, and dicts in
    relaykit's JSON shape, the OpenAI Chat Completions shape or Anthropic's
    Messages shape.
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
            if role in _TEXT_ROLES and type(content) is str:
                out.append(Message(role, (TextPart(content),)))
                continue
        if isinstance(m, Message):
            if not all(type(p) in _PART_CLASSES for p in m.content):
                _check_parts(m, f"messages[{i}]")
            out.append(m)
        elif isinstance(m, Mapping):
            message = _message_from_dict(m, f"messages[{i}]")
            if message.role == "user" and any(type(p) is ToolResultPart for p in message.content):
                out += _results_apart(message)
            else:
                out.append(message)
        else:
            raise InvalidRequestError(
                f"messages[{i}] must be a relaykit.Message or a dict, not {type(m).__name__}",
                param=f"messages[{i}]",
            )
    if not out:
        raise InvalidRequestError(
            "`messages` is empty: send at least one message", param="messages"
        )
    return tuple(out)


#: the part classes themselves: a type lookup, the usual case, before isinstance
_PART_CLASSES = frozenset(PART_TYPES.values())
_PART_TUPLE = tuple(PART_TYPES.values())


def _check_parts(message: Message, where: str) -> None:
    """Refuse a value among ``message``'s parts that is no relaykit part (a dict, a
    number): typed as ``Part``, but unchecked at run time, every plugin would otherwise
    meet it, and fail with a bare ``TypeError`` or leave it out without a word."""
    for j, p in enumerate(message.content):
        if not isinstance(p, _PART_TUPLE):
            raise InvalidRequestError(
                f"{where}.content[{j}] is a {type(p).__name__}, not a message part",
                param=f"{where}.content[{j}]",
                hint="build a Message's content from relaykit parts (TextPart, ImagePart,"
                " DocumentPart, ToolCall, ToolResultPart, ReasoningPart, CachePoint), or pass"
                " the whole message as a dict ({'role': 'user', 'content': [{'type': 'text',"
                " 'text': ...}]}), which relaykit reads into parts",
            )


def _results_apart(message: Message) -> list[Message]:
    """A user turn holding tool results (Anthropic's shape) as relaykit has them: a
    tool message per result, in order, then the rest of the turn, if any.

    Every provider plugin reads tool results from tool messages; left in a user
    turn, a Chat Completions API would get them as text, not as the answers to
    the assistant's calls. A cache point right after a result stays with it.
    """
    out: list[Message] = []
    rest: list[Part] = []
    for part in message.content:
        if type(part) is ToolResultPart:
            out.append(Message("tool", (part,)))
        elif type(part) is CachePoint and out and not rest:
            out[-1] = Message("tool", (*out[-1].content, part))
        else:
            rest.append(part)
    if rest:
        out.append(Message("user", tuple(rest)))
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
    for j, call in enumerate(d.get("tool_calls") or ()):  # OpenAI assistant shape
        parts.append(_openai_tool_call(call, f"{where}.tool_calls[{j}]"))
    if cache is not None:
        parts.append(cache)
    return Message(role, tuple(parts))


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
    try:
        fn = call["function"]
        args = fn.get("arguments") or "{}"
        if isinstance(args, Mapping):
            return ToolCall(str(call["id"]), str(fn["name"]), dict(args))
        return ToolCall.from_json_arguments(str(call["id"]), str(fn["name"]), str(args))
    except (KeyError, TypeError, AttributeError) as e:
        raise InvalidRequestError(
            f"{where} must look like {{'id': ..., 'function': {{'name': ..., 'arguments': ...}}}}",
            param=where,
        ) from e


def _part_from_dict(p: Any, where: str) -> Part:
    if not isinstance(p, Mapping):
        raise InvalidRequestError(f"{where} must be a dict with a `type`", param=where)
    kind = p.get("type")
    try:
        if kind == "text":
            return TextPart(str(p["text"]))
        if kind == "image_url":  # OpenAI shape
            url = p["image_url"]["url"] if isinstance(p["image_url"], Mapping) else p["image_url"]
            return _image_from_url(str(url))
        if kind == "image":
            if isinstance(p.get("source"), Mapping):  # Anthropic shape
                return _anthropic_image(p["source"])
            if p.get("data") is not None:
                data = p["data"]
                raw = data if isinstance(data, bytes) else base64.b64decode(data, validate=True)
                return ImagePart(data=raw, media_type=p.get("media_type"))
            return ImagePart(url=p.get("url"))
        if kind == "document":
            return _document(p)
        if kind == "file":  # OpenAI's Chat Completions shape
            return _openai_file(p, where)
        if kind == "tool_call":
            args = p.get("arguments") or {}
            return ToolCall(str(p["id"]), str(p["name"]), dict(args), p.get("raw_arguments"))
        if kind == "tool_use":  # Anthropic shape
            return ToolCall(str(p["id"]), str(p["name"]), dict(p.get("input") or {}))
        if kind == "thinking":  # Anthropic shape: signed, so it goes back to Anthropic only
            return ReasoningPart(str(p["thinking"]), p.get("signature"), origin="anthropic")
        if kind == "redacted_thinking":  # Anthropic shape
            return ReasoningPart(redacted=str(p["data"]), origin="anthropic")
        if kind == "tool_result":
            if "tool_call_id" not in p and "tool_use_id" in p:  # Anthropic shape
                p = {**p, "tool_call_id": p["tool_use_id"], "content": p.get("content", "")}
            text, attachments = _tool_content(p["content"], f"{where}.content")
            extra: list[Any] = [  # checked by ToolResultPart
                _part_from_dict(a, f"{where}.attachments[{j}]")
                for j, a in enumerate(p.get("attachments") or ())
            ]
            return ToolResultPart(
                str(p["tool_call_id"]),
                text,
                bool(p.get("is_error")),
                attachments=(*attachments, *extra),
            )
        if kind == "cache_point":
            return CachePoint(p.get("ttl"))
        if kind == "reasoning":
            return ReasoningPart(
                str(p.get("text") or ""),
                p.get("signature"),
                redacted=p.get("redacted"),
                origin=p.get("origin"),
            )
    except KeyError as e:
        raise InvalidRequestError(f"{where} is missing {e.args[0]!r}", param=where) from e
    except (binascii.Error, TypeError, ValueError) as e:
        raise InvalidRequestError(f"{where} is malformed: {e}", param=where) from e
    valid = ", ".join([*PART_TYPES, "image_url", "file", "tool_use", "thinking"])
    raise InvalidRequestError(
        f"{where}.type is {kind!r}; use one of {valid}", param=f"{where}.type"
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


def _image_from_url(url: str) -> ImagePart:
    # Keep data: URLs as bytes so providers that want raw base64 (Anthropic,
    # Gemini, Ollama) do not have to parse URLs.
    if url.startswith("data:") and ";base64," in url:
        header, _, payload = url.partition(";base64,")
        return ImagePart(data=base64.b64decode(payload), media_type=header[5:])
    return ImagePart(url=url)
