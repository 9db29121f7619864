"""The Messages API's server-sent events, read as ConverseStream events.

Anthropic's documented order: ``message_start`` (the message id, input usage);
per content block ``content_block_start``, ``content_block_delta``\\ s
(``text_delta``, ``thinking_delta``, ``signature_delta``, ``input_json_delta``)
and ``content_block_stop``; ``message_delta`` (the stop reason, output usage);
``message_stop``. ``ping`` may come anywhere; an ``error`` event ends a stream
that failed after it began (the provider types it by the status its type stands
for: :func:`relaykit_claude_models.read_error`). Each event is turned into the ConverseStream
events that say the same, so one translator
(:class:`~relaykit_bedrock.stream_events.ConverseStreamTranslator`) reads both
APIs: ``message_start`` gives ``messageStart`` and a ``metadata`` with the prompt's
usage (a stream that breaks before its text was billed it), ``message_stop``
``messageStop`` and then ``metadata`` with the usage gathered from
``message_start`` and ``message_delta`` (and so does the end of a body cut after
``message_delta``: :meth:`MessagesStreamReader.end`).

A ``content_block_start`` usually holds nothing its deltas bring, but what it
holds is kept, as the anthropic SDK keeps it (and relaykit-anthropic's decoder):
a thinking block's text or signature, and a tool's input, which stands until a
non-empty ``input_json_delta`` replaces it and is sent as one ``toolUse`` delta
when its block stops (only then is it known that no fragment came). A server
tool's block (``server_tool_use``) streams its input the same way; it is no call
of the caller's, and is left out, as :func:`.messages_wire.converse_block` leaves
it out of a whole answer.
"""

from __future__ import annotations

import json
from typing import Any

from relaykit.json_decode import SHAPE_ERRORS, wrong_shape

from .messages_wire import converse_usage, stop_reason, stop_sequence_fields

ConverseEvent = tuple[str, dict[str, Any]]


class MessagesStreamReader:
    """Turns one Messages stream's events into ConverseStream events, keeping usage."""

    __slots__ = (
        "_start_inputs",
        "_stop_reason",
        "_stop_sequence",
        "_tool_blocks",
        "_usage",
        "message_id",
    )

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        #: the stop sequence ``message_delta`` named, if any
        self._stop_sequence: object = None
        # tool_use block index -> the input its start held, until a fragment replaces it
        self._start_inputs: dict[int, dict[str, Any]] = {}
        # the indexes of the tool_use blocks: a server tool's block (server_tool_use,
        # mcp_tool_use) streams its input too, and is no call of the caller's
        self._tool_blocks: set[int] = set()
        #: the message id from ``message_start``
        self.message_id: str | None = None

    def events(self, name: str, data: dict[str, Any]) -> list[ConverseEvent]:
        """The ConverseStream events for one Messages event (``error`` is the caller's);
        a ``ValueError`` for an event of the wrong shape."""
        try:
            if name == "message_start":
                message = data.get("message") or {}
                message_id = message.get("id")
                self.message_id = message_id if isinstance(message_id, str) else None
                self._usage.update(message.get("usage") or {})
                started: list[ConverseEvent] = [("messageStart", {"role": "assistant"})]
                if self._usage:
                    # The prompt's count, as relaykit-anthropic reports it: a stream
                    # that breaks before its text was billed that much.
                    started.append(("metadata", {"usage": converse_usage(self._usage)}))
                return started
            index = data.get("index", 0)
            if name == "content_block_start":
                return self._start(index, data.get("content_block") or {})
            if name == "content_block_delta":
                delta = self._delta(index, data.get("delta") or {})
                return [] if delta is None else [_block_delta(index, delta)]
            if name == "content_block_stop":
                stop = ("contentBlockStop", {"contentBlockIndex": index})
                given = self._start_inputs.pop(index, None)
                if given is None:
                    return [stop]
                text = json.dumps(given, ensure_ascii=False, separators=(",", ":"))
                return [_block_delta(index, {"toolUse": {"input": text}}), stop]
            if name == "message_delta":
                delta = data.get("delta") or {}
                said = delta.get("stop_reason")
                self._stop_reason = said or self._stop_reason
                self._stop_sequence = delta.get("stop_sequence") or self._stop_sequence
                # message_delta's usage is cumulative: its counts replace message_start's.
                self._usage.update(
                    {k: v for k, v in (data.get("usage") or {}).items() if v is not None}
                )
                return []
            if name == "message_stop":
                return [
                    (
                        "messageStop",
                        {
                            "stopReason": stop_reason(self._stop_reason),
                            **stop_sequence_fields(self._stop_sequence),
                        },
                    ),
                    ("metadata", {"usage": converse_usage(self._usage)}),
                ]
            return []  # ping, and events added to the API later
        except SHAPE_ERRORS as e:
            raise wrong_shape(f"a {name} event", e) from e

    def end(self) -> list[ConverseEvent]:
        """At the end of a body whose ``message_stop`` never came: what it would have
        given, when ``message_delta`` gave the stop reason (and the final usage), so
        the answer is whole; else nothing (the stream was cut off)."""
        if self._stop_reason is None:
            return []
        return self.events("message_stop", {})

    def _start(self, index: int, block: dict[str, Any]) -> list[ConverseEvent]:
        kind = block.get("type")
        if kind == "tool_use":
            self._tool_blocks.add(index)
            given = block.get("input")
            if isinstance(given, dict) and given:
                self._start_inputs[index] = given
            start = {"toolUse": {"toolUseId": block.get("id", ""), "name": block.get("name", "")}}
            return [("contentBlockStart", {"contentBlockIndex": index, "start": start})]
        if kind == "redacted_thinking":
            delta = {"reasoningContent": {"redactedContent": block.get("data") or ""}}
            return [_block_delta(index, delta)]
        if kind == "text" and block.get("text"):
            return [_block_delta(index, {"text": block["text"]})]
        if kind == "thinking" and (block.get("thinking") or block.get("signature")):
            thought = {"text": block.get("thinking") or ""}
            if block.get("signature"):
                thought["signature"] = block["signature"]
            return [_block_delta(index, {"reasoningContent": thought})]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> dict[str, Any] | None:
        kind = delta.get("type")
        if kind == "text_delta":
            return {"text": delta.get("text") or ""}
        if kind == "thinking_delta":
            return {"reasoningContent": {"text": delta.get("thinking") or ""}}
        if kind == "signature_delta":
            return {"reasoningContent": {"signature": delta.get("signature") or ""}}
        if kind == "input_json_delta":
            if index not in self._tool_blocks:
                return None  # a server tool's input, as the whole answer leaves it out
            fragment = delta.get("partial_json") or ""
            if fragment:
                self._start_inputs.pop(index, None)  # the fragments build the input instead
            return {"toolUse": {"input": fragment}}
        return None  # citations and deltas added later


def _block_delta(index: int, delta: dict[str, Any]) -> ConverseEvent:
    return ("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})
