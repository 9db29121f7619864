"""Tool call ids as Mistral takes them: nine letters or digits.

Mistral refuses any other id on a call or a result in the history ("Tool call id
was call_0fypS1hVX but must be a-z, A-Z, 0-9, with a length of 9.", 400; as
reported in langchain#24668, opencode#1680). Ids from other vendors (OpenAI's
``call_...``, Anthropic's ``toolu_...``, relaykit's made-up ``call_0``) are
therefore mapped, as LangChain's Mistral integration maps them: each to nine
characters of a hash of it, the same for a call and its results, so they still
pair; an id Mistral made is sent as it is. Only the request changes: the caller's
messages keep their ids.
"""

from __future__ import annotations

import hashlib
import re

import attrs

from relaykit import ChatRequest, Message
from relaykit.messages import ToolCall, ToolResultPart

_VALID = re.compile(r"[a-zA-Z0-9]{9}")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def mistral_id(call_id: str) -> str:
    """``call_id`` if Mistral takes it, else nine letters and digits from its hash."""
    if _VALID.fullmatch(call_id):
        return call_id
    n = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    out = []
    for _ in range(9):
        n, digit = divmod(n, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def with_mistral_ids(request: ChatRequest) -> ChatRequest:
    """``request`` with every tool call id Mistral would refuse mapped (:func:`mistral_id`)."""
    if not any(_mapped(m) for m in request.messages):
        return request
    return attrs.evolve(request, messages=tuple(_message(m) for m in request.messages))


def _mapped(m: Message) -> bool:
    return any(
        isinstance(p, ToolCall | ToolResultPart)
        and not _VALID.fullmatch(p.id if isinstance(p, ToolCall) else p.tool_call_id)
        for p in m.content
    )


def _message(m: Message) -> Message:
    if not _mapped(m):
        return m
    parts = tuple(
        attrs.evolve(p, id=mistral_id(p.id))
        if isinstance(p, ToolCall)
        else attrs.evolve(p, tool_call_id=mistral_id(p.tool_call_id))
        if isinstance(p, ToolResultPart)
        else p
        for p in m.content
    )
    return attrs.evolve(m, content=parts)
