"""Tool call ids as the Messages API and Bedrock take them: valid, and each once.

The Messages API refuses a ``tool_use`` id outside ``^[a-zA-Z0-9_-]+$``
("messages.1.content.1.tool_use.id: String should match pattern ...") and an id
two ``tool_use`` blocks share ("messages.3.content.0: `tool_use` ids must be
unique"); Bedrock's ``toolUseId`` has the same pattern and at most 64
characters. A conversation from another provider breaks both: Kimi K2's ids
are ``functions.get_weather:0``, and the ids relaykit makes up for providers that
send none (Gemini's ``gemini-call-0``, Ollama's and compatible servers'
``call_0``) start again at 0 in every answer, so a tool run of two steps
repeats them. :class:`ToolIds` renames such ids as a request is written, the
same way every time: a result goes back under the id its call was sent with
(the latest call given that id, as the results follow their calls).
"""

from __future__ import annotations

import re

__all__ = ["ToolIds"]

_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


class ToolIds:
    """Renames one request's tool call ids, in the conversation's order.

    ``call(id)`` for each call (``tool_use`` block) gives the id to send: ``id``
    itself when it is valid and not sent before, else a valid one of its own.
    ``result(id)`` gives the id a result (``tool_result``) answering ``id`` is
    sent with. ``max_length`` is the longest id the API takes (Bedrock: 64).
    """

    __slots__ = ("_current", "_max_length", "_sent")

    def __init__(self, max_length: int | None = None) -> None:
        self._max_length = max_length
        self._sent: set[str] = set()  # the ids sent so far
        self._current: dict[str, str] = {}  # a call's id -> the id it was last sent as

    def call(self, call_id: str) -> str:
        """The id to send a call made with ``call_id`` under."""
        base = self._valid(call_id)
        sent = base
        n = 2
        while sent in self._sent:
            suffix = f"_{n}"
            stem = base if self._max_length is None else base[: self._max_length - len(suffix)]
            sent = stem + suffix
            n += 1
        self._sent.add(sent)
        self._current[call_id] = sent
        return sent

    def result(self, call_id: str) -> str:
        """The id to send the result answering ``call_id`` under."""
        sent = self._current.get(call_id)
        return sent if sent is not None else self._valid(call_id)

    def _valid(self, call_id: str) -> str:
        valid = _INVALID.sub("_", call_id) or "call"
        return valid if self._max_length is None else valid[: self._max_length]
