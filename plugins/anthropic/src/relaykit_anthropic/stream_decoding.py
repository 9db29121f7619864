"""Decode the Messages API event stream into relaykit stream events.

The stream is SSE with named events (``event: content_block_delta``), in this
order: ``message_start``; per content block ``content_block_start``,
``content_block_delta``\\ s, ``content_block_stop``; ``message_delta`` (stop
reason, cumulative usage); ``message_stop``. ``ping`` may come anywhere, and
``error`` replaces the rest when the API fails mid-stream. Unknown events are
ignored, as Anthropic's versioning policy asks.

Web search (:mod:`.web_search`) adds ``server_tool_use`` blocks, whose query
comes as ``input_json_delta``\\ s (the server's tool, not a relaykit tool call),
``web_search_tool_result`` blocks whole in their ``content_block_start``, and
``citations_delta``\\ s on text blocks. A citation is yielded as a
:class:`~relaykit.Citation` event when its text block stops: only then is the
end of the text it supports known. A search's query is read when its block
stops (its input JSON is whole) and yielded then as a
:class:`~relaykit.SearchQuery`, before the text written from what it found.

A ``tool_use`` block's input is built from its ``input_json_delta``\\ s, as
the anthropic SDK builds it. Its ``content_block_start`` usually holds
``"input": {}``; one that holds more keeps it, as the SDK does, when no
non-empty fragment follows: it is yielded when the block stops (only then is
it known that no fragment replaces it).
"""

from __future__ import annotations

import json
from typing import Any

from relaykit import SSEDecoder, StreamError, json_decode
from relaykit.errors import error_for_status
from relaykit.events import (
    Finish,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.json_decode import SHAPE_ERRORS, wrong_shape
from relaykit.secrets import cut_short
from relaykit_claude_models import read_error

from . import web_search, wire


class MessageStreamDecoder:
    """Feed it the response bytes as they arrive; it returns the events they complete.

    :attr:`finished` turns true at ``message_stop``, :attr:`whole` once
    ``message_delta`` gave the stop reason (and the final usage): a stream that
    ends before that was cut off, one cut between the two lost nothing (as a Chat
    Completions stream whose finish reason came is whole without ``[DONE]``). An
    ``error`` event raises :class:`relaykit.StreamError`, once the events before it
    have been returned (one read may carry both).
    ``json_tool`` names the tool emulating structured output, whose input is
    reported as text.
    """

    def __init__(self, *, provider: str, model: str | None, json_tool: str | None = None) -> None:
        self.finished = False
        self._stopped = False  # the stop reason came
        self._provider = provider
        self._model = model
        self._json_tool = json_tool
        self._sse = SSEDecoder()
        self._usage: dict[str, Any] = {}  # raw usage fields, merged as they come
        self._tools: dict[int, int] = {}  # content block index -> tool call ordinal
        self._message_id: str | None = None  # message_start's: made-up call ids use it
        self._began = False  # message_start came: what follows is an answer
        self._json_blocks: set[int] = set()  # blocks carrying the emulated structured answer
        self._answered_by_tool = False
        # a thinking block has started and no reasoning delta has said so yet
        self._thinking_started = False
        #: characters of text yielded so far: where the next text block starts
        self._length = 0
        # text block index -> (where it starts in the text, its web citations so far)
        self._cited: dict[int, tuple[int, list[dict[str, Any]]]] = {}
        # web search block index -> its input's JSON fragments so far
        self._searching: dict[int, list[str]] = {}
        # tool_use block index -> the input its start held, until a fragment replaces it
        self._start_inputs: dict[int, dict[str, Any]] = {}
        #: an error met after other events in the same chunk, raised on the next call
        self._error_pending: StreamError | None = None

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """The events completed by ``chunk``."""
        self._raise_pending()
        out: list[StreamEvent] = []
        for sse in self._sse.feed(chunk):
            if self.finished:
                break
            try:
                if sse.event == "content_block_delta":
                    # Nearly every event: a piece of text. What _event gives, inline.
                    data = self._decode(sse.event, sse.data)
                    delta = data.get("delta") if type(data) is dict else None
                    if (
                        type(delta) is dict
                        and delta.get("type") == "text_delta"
                        and data.get("type") == "content_block_delta"
                    ):
                        if text := delta.get("text"):
                            self._length += len(text)
                            out.append(TextDelta(text))
                        continue
                    out.extend(self._handle(sse.event, data))
                else:
                    out.extend(self._event(sse.event, sse.data))
            except StreamError as e:
                if not out:
                    raise
                self._error_pending = e
                break
            except SHAPE_ERRORS as e:
                raise wrong_shape(f"a {sse.event} event", e) from e
        return out

    @property
    def whole(self) -> bool:
        """Whether the answer is all here: its stop reason came (``message_stop``
        may still be on its way, or never come)."""
        return self.finished or self._stopped

    def _raise_pending(self) -> None:
        if self._error_pending is not None:
            error, self._error_pending = self._error_pending, None
            raise error

    def flush(self) -> list[StreamEvent]:
        """At end of input: an event whose final blank line never came still counts."""
        self._raise_pending()
        out: list[StreamEvent] = []
        for sse in [] if self.finished else self._sse.flush():
            try:
                out += self._event(sse.event, sse.data)
            except SHAPE_ERRORS as e:
                raise wrong_shape(f"a {sse.event} event", e) from e
        return out

    def _event(self, name: str, raw: str) -> list[StreamEvent]:
        return self._handle(name, self._decode(name, raw))

    def _decode(self, name: str, raw: str) -> Any:
        try:
            return json_decode.loads(raw)
        except ValueError as e:
            raise self._error(
                f"unreadable {name} event in the stream: {cut_short(raw, 200)!r}"
            ) from e

    def _handle(self, name: str, data: Any) -> list[StreamEvent]:
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or name
        if kind == "content_block_delta":
            return self._delta(data.get("index", 0), data.get("delta") or {})
        if kind == "content_block_start":
            return self._block_start(data.get("index", 0), data.get("content_block") or {})
        if kind == "message_start":
            self._began = True
            message = data.get("message") or {}
            self._message_id = wire.text_or_none(message.get("id"))
            events: list[StreamEvent] = [
                StreamStart(
                    wire.text_or_none(message.get("id")), wire.text_or_none(message.get("model"))
                )
            ]
            return events + self._usage_update(message.get("usage"))
        if kind == "message_delta":
            events = self._usage_update(data.get("usage"))
            delta = data.get("delta") or {}
            raw_reason = delta.get("stop_reason")
            if raw_reason:
                self._require_start(kind)
                reason = wire.finish_reason(raw_reason)
                if reason == "tool_calls" and self._answered_by_tool and not self._tools:
                    reason = "stop"
                met = wire.text_or_none(delta.get("stop_sequence"))
                events.append(Finish(reason, raw_reason, stop_sequence=met))
                self._stopped = True
            return events
        if kind == "content_block_stop":
            return self._block_stop(data.get("index", 0))
        if kind == "message_stop":
            self._require_start(kind)
            self.finished = True
            return []
        if kind == "error":
            status, _, said = read_error(data)
            message = said or "error event in the stream"
            # As retryable as the typed error of its status: the core retries only
            # before the first event, but a caller may try again.
            typed = error_for_status(status, message, provider=self._provider, model=self._model)
            raise self._error(
                message, provider_message=message, status=status, retryable=typed.retryable
            )
        return []  # ping, and event types added after this was written

    def _require_start(self, kind: str) -> None:
        """A ``ValueError`` (a malformed answer) for a stream that ends with no
        ``message_start``: a stop alone is no empty answer, the server sent none."""
        if not self._began:
            raise ValueError(f"a Messages stream that ended ({kind}) with no message_start")

    def _block_start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "tool_use":
            given = block.get("input")
            if isinstance(given, dict) and given:
                self._start_inputs[index] = given
            if self._json_tool is not None and block.get("name") == self._json_tool:
                self._json_blocks.add(index)
                self._answered_by_tool = True
                return []
            ordinal = self._tools[index] = len(self._tools)
            id = wire.call_id(block.get("id"), self._message_id, ordinal)
            return [ToolCallDelta(ordinal, id, block.get("name"))]
        if kind == "text":
            citations = block.get("citations")
            self._cited[index] = (self._length, list(citations or ()))
            # Blocks usually start empty, but nothing in the format promises it.
            return [self._text(block["text"])] if block.get("text") else []
        if kind == "web_search_tool_result":  # arrives whole: the pages, or an error
            web_search.note_result(block)
            return []
        if kind == "server_tool_use" and block.get("name") == web_search.NAME:
            # Its input usually streams in, but nothing promises the start holds none.
            query = web_search.search_query(block)
            if query is not None:
                return [SearchQuery(query)]
            self._searching[index] = []
            return []
        if kind == "thinking":
            # The block's first reasoning delta starts a block of its own, so two
            # thinking blocks keep their signatures apart.
            self._thinking_started = True
            if block.get("thinking") or block.get("signature"):
                return [self._reasoning(block.get("thinking") or "", block.get("signature"))]
            return []
        if kind == "redacted_thinking":  # arrives whole, with no deltas
            self._thinking_started = False
            data = str(block.get("data") or "")
            return [ReasoningDelta(new_block=True, redacted=data, origin=wire.ORIGIN)]
        return []

    def _text(self, text: str) -> TextDelta:
        self._length += len(text)
        return TextDelta(text)

    def _block_stop(self, index: int) -> list[StreamEvent]:
        """A text block's citations, now that the text they index is all here (or a
        web search's query, now that its input has all come, or a tool's input that
        only its start held)."""
        given = self._start_inputs.pop(index, None)
        if given is not None:  # no fragment came: the start's input is the input
            text = json.dumps(given, ensure_ascii=False, separators=(",", ":"))
            if index in self._json_blocks:
                return [self._text(text)]
            return [ToolCallDelta(self._tools[index], arguments=text)]
        fragments = self._searching.pop(index, None)
        if fragments is not None:
            return self._searched("".join(fragments))
        start, raw = self._cited.pop(index, (0, []))
        return list(web_search.citations(raw, start, self._length)) if raw else []

    def _searched(self, raw: str) -> list[StreamEvent]:
        """The query of a web search whose input JSON was ``raw`` as an event (a query
        that cannot be read is left out: it is the vendor's note of its own search)."""
        try:
            given = json_decode.loads(raw) if raw else {}
        except ValueError:
            return []
        if isinstance(given, dict):
            block = {"type": "server_tool_use", "name": web_search.NAME, "input": given}
            if (query := web_search.search_query(block)) is not None:
                return [SearchQuery(query)]
        return []

    def _reasoning(self, text: str = "", signature: str | None = None) -> ReasoningDelta:
        if not self._thinking_started:
            return ReasoningDelta(text, signature or None)
        self._thinking_started = False
        return ReasoningDelta(text, signature or None, new_block=True, origin=wire.ORIGIN)

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [self._text(delta["text"])] if delta.get("text") else []
        if kind == "citations_delta":
            if index in self._cited and isinstance(delta.get("citation"), dict):
                self._cited[index][1].append(delta["citation"])
            return []
        if kind == "input_json_delta":
            fragment = delta.get("partial_json") or ""
            if not fragment:
                return []
            self._start_inputs.pop(index, None)  # the fragments build the input instead
            if index in self._json_blocks:
                return [self._text(fragment)]
            if index in self._tools:
                return [ToolCallDelta(self._tools[index], arguments=fragment)]
            if index in self._searching:
                self._searching[index].append(fragment)
            return []  # a server tool's input (the web search's query): not the caller's
        if kind == "thinking_delta":
            return [self._reasoning(delta["thinking"])] if delta.get("thinking") else []
        if kind == "signature_delta":
            return [self._reasoning(signature=delta["signature"])] if delta.get("signature") else []
        return []  # kinds added after this was written

    def _usage_update(self, raw: dict[str, Any] | None) -> list[StreamEvent]:
        # message_delta usage is cumulative and may repeat or omit the input
        # counts; merging the raw fields first keeps the normalised sum right.
        if not raw:
            return []
        # cache_creation (the split of the writes by TTL) and server_tool_use (the
        # searches run) are the objects in it.
        self._usage.update(
            {
                k: v
                for k, v in raw.items()
                if isinstance(v, int) or k in ("cache_creation", "server_tool_use")
            }
        )
        return [UsageUpdate(wire.usage(self._usage))]

    def _error(self, message: str, **kw: Any) -> StreamError:
        return StreamError(message, provider=self._provider, model=self._model, **kw)
