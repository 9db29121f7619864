"""Tool call ids as a vendor takes them: each once in a request, in its form.

Public plugin API: request writers import :class:`ToolIds` and :func:`unique_tool_ids`.

A conversation from several providers holds ids no single vendor would have made:
relaykit makes up ids for vendors that send none (Gemini's ``gemini-call-0``,
Ollama's ``call_0``), numbered afresh in every answer, so a tool run of two steps
repeats them; Kimi K2 numbers its ids per answer too (``functions.now:0``); and
other vendors' ids may be longer or hold characters a vendor refuses (vLLM's
``chatcmpl-tool-<uuid>`` has 46 characters, OpenAI takes 40). Vendors refuse what
they cannot pair: Claude "``tool_use`` ids must be unique", OpenAI and DeepSeek
"Duplicate value for 'tool_call_id'", the Responses API "Duplicate
function_call_output for call_id". So a request writer renames the ids as it
writes: a call whose id was sent before (or is invalid, or too long) goes out under
one of its own, and each result under the id its call went out with. Only the
request changes: the caller's messages keep their ids.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator

import attrs

from .messages import Message, ToolCall, ToolResultPart

__all__ = ["ANTHROPIC_INVALID", "ToolIds", "unique_tool_ids"]

#: the characters Claude's and Bedrock's ids may not hold (``^[a-zA-Z0-9_-]+$``)
ANTHROPIC_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


class ToolIds:
    """Renames one request's tool call ids, in the conversation's order.

    ``call(id)`` for each call gives the id to send: ``id`` itself when it is valid,
    short enough and not sent before, else one of its own (``{id}_2``, the next
    free). ``result(id)`` gives the id a result answering ``id`` goes out with: its
    call's, the calls of one answer taken in order when that answer repeats an id,
    and the latest call's otherwise. ``max_length`` is the longest id the vendor
    takes; ``invalid`` matches the characters it refuses, each sent as ``_``.
    ``reserved`` are ids a made-up one must not take (the request's own, so that
    a later call keeps its id).
    """

    __slots__ = (
        "_invalid",
        "_last",
        "_max_length",
        "_reserved",
        "_results",
        "_sent",
        "_unanswered",
    )

    def __init__(
        self,
        max_length: int | None = None,
        invalid: re.Pattern[str] | None = ANTHROPIC_INVALID,
        reserved: Iterable[str] = (),
    ) -> None:
        self._max_length = max_length
        self._invalid = invalid
        self._reserved = {self._valid(r) for r in reserved}
        self._sent: set[str] = set()  # the ids sent so far
        self._last: dict[str, str] = {}  # a call's id -> what its latest call went out as
        #: a call's id -> the wire ids of its calls no result answered yet, each with
        #: the number of results seen before it (a later result count: a later answer)
        self._unanswered: dict[str, deque[tuple[int, str]]] = {}
        self._results = 0

    def call(self, call_id: str) -> str:
        """The id to send a call made with ``call_id`` under."""
        base = self._valid(call_id)
        sent = base
        n = 2
        while sent in self._sent or (sent != base and sent in self._reserved):
            suffix = f"_{n}"
            stem = base if self._max_length is None else base[: self._max_length - len(suffix)]
            sent = stem + suffix
            n += 1
        self._sent.add(sent)
        self._last[call_id] = sent
        waiting = self._unanswered.setdefault(call_id, deque())
        # Calls of an earlier answer left without results are not this answer's.
        while waiting and waiting[0][0] < self._results:
            waiting.popleft()
        waiting.append((self._results, sent))
        return sent

    def result(self, call_id: str) -> str:
        """The id to send the result answering ``call_id`` under."""
        self._results += 1
        waiting = self._unanswered.get(call_id)
        if waiting:
            return waiting.popleft()[1]
        sent = self._last.get(call_id)  # a second result of one call keeps its id
        return sent if sent is not None else self._valid(call_id)

    def _valid(self, call_id: str) -> str:
        valid = call_id if self._invalid is None else self._invalid.sub("_", call_id)
        valid = valid or "call"
        return valid if self._max_length is None else valid[: self._max_length]


def unique_tool_ids(
    messages: tuple[Message, ...],
    max_length: int | None = None,
    invalid: re.Pattern[str] | None = ANTHROPIC_INVALID,
) -> tuple[Message, ...]:
    """``messages`` with their tool calls' and results' ids renamed as :class:`ToolIds`
    renames them (``messages`` itself when none changes), for a writer that maps ids
    further (Mistral's nine characters) or writes from messages."""
    if not any(isinstance(p, ToolCall | ToolResultPart) for m in messages for p in m.content):
        return messages  # every request asks: most have no tool parts to rename
    ids = ToolIds(max_length, invalid, reserved=_ids(messages))
    out: list[Message] = []
    changed = False
    for m in messages:
        parts = []
        for p in m.content:
            if isinstance(p, ToolCall):
                wire = ids.call(p.id)
                p = p if wire == p.id else attrs.evolve(p, id=wire)
            elif isinstance(p, ToolResultPart):
                wire = ids.result(p.tool_call_id)
                p = p if wire == p.tool_call_id else attrs.evolve(p, tool_call_id=wire)
            parts.append(p)
        if any(a is not b for a, b in zip(parts, m.content, strict=True)):
            changed = True
            m = attrs.evolve(m, content=tuple(parts))
        out.append(m)
    return tuple(out) if changed else messages


def _ids(messages: tuple[Message, ...]) -> Iterator[str]:
    for m in messages:
        for p in m.content:
            if isinstance(p, ToolCall):
                yield p.id
