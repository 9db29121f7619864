"""ConverseStream events (already unframed and parsed) as relaykit stream events.

The event order Bedrock documents: ``messageStart``; per content block an
optional ``contentBlockStart`` (tool calls only), ``contentBlockDelta``\\ s and a
``contentBlockStop`` (a cited block's citations are yielded there: see
:mod:`.citations`); ``messageStop`` with the stop reason; ``metadata`` with
usage and metrics last. Every payload may carry a ``p`` padding field, which is
ignored.

The tool emulating ``json_object`` (``json_tool``: :func:`.wire.json_tool_name`)
streams its input as the answer's text (``TextDelta``), not as a tool call, and
its ``tool_use`` stop is a plain ``stop``.
"""

from __future__ import annotations

from typing import Any

from relaykit.events import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.json_decode import SHAPE_ERRORS, wrong_shape

from . import citations, wire


class ConverseStreamTranslator:
    """Turns one ConverseStream's events into relaykit events, keeping the state it needs.

    ``StreamStart`` is held back until the first event after ``messageStart``,
    so that an exception arriving before any content reaches the caller as a
    typed, retryable error rather than a broken stream.
    """

    __slots__ = (
        "_began",
        "_cited",
        "_id",
        "_json_blocks",
        "_json_tool",
        "_length",
        "_model",
        "_reasoning_block",
        "_start_sent",
        "_tool_index",
        "has_usage",
        "stopped",
    )

    def __init__(self, model: str, id: str | None = None, json_tool: str | None = None) -> None:
        self._model = model
        self._id = id
        self._json_tool = json_tool
        # the content block indexes of the json_tool's blocks: their input is text
        self._json_blocks: set[int] = set()
        self._start_sent = False
        self._began = False  # messageStart came: what follows is an answer
        # content block index -> tool call index (0, 1, ...: text blocks interleave)
        self._tool_index: dict[int, int] = {}
        # the content block index of the reasoning block being streamed
        self._reasoning_block: int | None = None
        # the answer's text so far, and per content block that has text: where its
        # text starts and the citations it had (they come whole, as they cover the
        # block's text, and are yielded at its contentBlockStop)
        self._length = 0
        self._cited: dict[int, tuple[int, list[Any]]] = {}
        #: whether ``messageStop`` arrived: the answer is whole
        self.stopped = False
        #: whether a ``metadata`` event brought the usage
        self.has_usage = False

    def events(self, event_type: str | None, data: dict[str, Any]) -> list[StreamEvent]:
        """The relaykit events for one ConverseStream event; a ``ValueError`` for an
        event of the wrong shape."""
        try:
            if event_type == "messageStart":
                self._began = True
                return []
            if event_type == "messageStop" and not self._began:
                # a messageStop alone is no empty answer: the proxy or server sent none
                raise ValueError("a ConverseStream that stopped (messageStop) with no messageStart")
            out: list[StreamEvent] = []
            if not self._start_sent:
                self._start_sent = True
                out.append(StreamStart(self._id, self._model))
            if event_type == "contentBlockDelta":
                self._delta(data, out)
            elif event_type == "contentBlockStart":
                use = (data.get("start") or {}).get("toolUse")
                if (
                    use is not None
                    and self._json_tool is not None
                    and (use.get("name") == self._json_tool)
                ):
                    self._json_blocks.add(data.get("contentBlockIndex", 0))
                elif use is not None:
                    index = self._tool(data.get("contentBlockIndex", 0))
                    out.append(ToolCallDelta(index, use.get("toolUseId"), use.get("name")))
            elif event_type == "contentBlockStop":
                start, cited = self._cited.pop(data.get("contentBlockIndex", 0), (0, []))
                out += citations.web_citations(cited, start, self._length) if cited else ()
            elif event_type == "messageStop":
                self.stopped = True
                raw = data.get("stopReason")
                reason = wire.finish_reason(raw)
                if reason == "stop" and self._tool_index:
                    reason = "tool_calls"
                elif reason == "tool_calls" and self._json_blocks and not self._tool_index:
                    reason = "stop"  # the forced tool's input was the answer
                out.append(Finish(reason, raw, stop_sequence=wire.stop_sequence(data)))
            elif event_type == "metadata" and data.get("usage"):
                out.append(UsageUpdate(wire.usage(data["usage"])))
                self.has_usage = True
            # Events added to the API later carry nothing we keep.
            return out
        except SHAPE_ERRORS as e:
            raise wrong_shape(f"a {event_type} event", e) from e

    def _tool(self, block: int) -> int:
        index = self._tool_index.get(block)
        if index is None:
            index = self._tool_index[block] = len(self._tool_index)
        return index

    def _delta(self, data: dict[str, Any], out: list[StreamEvent]) -> None:
        delta = data.get("delta") or {}
        block = data.get("contentBlockIndex", 0)
        if "text" in delta:
            if delta["text"]:
                self._cited.setdefault(block, (self._length, []))
                self._length += len(delta["text"])
                out.append(TextDelta(delta["text"]))
        elif "citation" in delta:
            self._cited.setdefault(block, (self._length, []))[1].append(delta["citation"])
        elif "toolUse" in delta and block in self._json_blocks:
            piece = delta["toolUse"].get("input") or ""
            if piece:
                self._length += len(piece)
                out.append(TextDelta(piece))
        elif "toolUse" in delta:
            index = self._tool(data.get("contentBlockIndex", 0))
            out.append(ToolCallDelta(index, arguments=delta["toolUse"].get("input") or ""))
        elif "reasoningContent" in delta:
            rc = delta["reasoningContent"]
            # Each content block is a reasoning block of its own, with its signature.
            new = block != self._reasoning_block
            self._reasoning_block = block
            origin = wire.ORIGIN if new else None
            if "redactedContent" in rc:
                redacted = str(rc["redactedContent"] or "")
                out.append(ReasoningDelta(new_block=True, redacted=redacted, origin=wire.ORIGIN))
            elif rc.get("text") or rc.get("signature"):
                text, signature = rc.get("text") or "", rc.get("signature")
                out.append(ReasoningDelta(text, signature, new_block=new, origin=origin))
