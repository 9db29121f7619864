"""Build a :class:`ChatResponse` from stream events as they arrive."""

from __future__ import annotations

import attrs

from .errors import PartFieldError
from .events import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from .messages import ReasoningPart, ToolCall
from .response import (
    NO_USAGE,
    ChatResponse,
    FinishReason,
    TokenLogprob,
    Usage,
    reasoning_fields,
    tokens_unreported,
)
from .web_search import Citation


class NotAnEvent(TypeError):
    """:meth:`ResponseAssembler.add` was given something that is no stream event (a
    provider plugin's ``stream`` yielded it); the stream names the plugin."""

    def __init__(self, item: object) -> None:
        super().__init__(f"{type(item).__name__} is not a stream event")
        #: what was given
        self.item = item


class ResponseAssembler:
    """Accumulates stream events; :meth:`response` returns the response so far.

    ``search_queries`` are the :class:`SearchQuery` events' queries in order, or,
    when there were none, the ``Finish`` event's (a provider that predates the
    event): one source per stream, never both.

    Text and reasoning are kept as lists of chunks and joined once, so a long
    stream costs linear time. Reasoning is kept block by block (see
    :class:`ReasoningDelta`), each with its own signature.
    """

    __slots__ = (
        "_citations",
        "_finish",
        "_id",
        "_logprobs",
        "_model",
        "_reasoning",
        "_searches",
        "_text",
        "_tools",
        "_usage",
        "_usage_estimated",
    )

    def __init__(self) -> None:
        self._text: list[str] = []
        # one _ReasoningBlock per block, created by the first reasoning delta
        self._reasoning: list[_ReasoningBlock] = []
        self._tools: dict[int, list[str]] = {}  # index -> [id, name, *argument fragments]
        self._usage = _NO_USAGE  # until a UsageUpdate (see usage_reported)
        self._usage_estimated = False  # a UsageUpdate said its counts were estimated
        #: the Finish event: its reason, and what a web search reports with it
        self._finish: Finish | None = None
        self._id: str | None = None
        self._model: str | None = None
        self._citations: list[Citation] = []
        #: the SearchQuery events' queries, in order: the response's search_queries
        self._searches: list[str] = []
        #: the LogprobsDelta events' tokens, in order: the response's logprobs
        self._logprobs: list[TokenLogprob] = []

    def add(self, event: StreamEvent) -> None:
        """Fold one event into the response."""
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ToolCallDelta):
            slot = self._tools.get(event.index)
            if slot is None:
                slot = self._tools[event.index] = ["", ""]
            if event.id:
                slot[0] = event.id
            if event.name:
                slot[1] = event.name
            if event.arguments:
                slot.append(event.arguments)
        elif isinstance(event, ReasoningDelta):
            blocks = self._reasoning
            if event.redacted is not None:
                if not event.new_block and blocks and blocks[-1].redacted is None:
                    # Encrypted data that ends the block its text streamed into
                    # (OpenAI's Responses API sends a reasoning item's last).
                    blocks[-1].redacted = event.redacted
                    blocks[-1].origin = event.origin or blocks[-1].origin
                else:
                    # A redacted block arrives whole.
                    blocks.append(_ReasoningBlock(event.origin, event.redacted))
                # What follows starts a new block.
                blocks.append(_ReasoningBlock(event.origin))
                return
            if event.new_block or not blocks:
                if blocks and blocks[-1].empty():
                    blocks.pop()
                blocks.append(_ReasoningBlock(event.origin))
            block = blocks[-1]
            if event.origin:
                block.origin = event.origin
            if event.text:
                block.text.append(event.text)
            if event.signature:
                block.signature.append(event.signature)
        elif isinstance(event, UsageUpdate):
            self._usage = _merge_usage(self._usage, event.usage)
            if event.estimated:
                self._usage_estimated = True
        elif isinstance(event, Finish):
            self._finish = event
        elif isinstance(event, StreamStart):
            self._id = event.id or self._id
            self._model = event.model or self._model
        elif isinstance(event, Citation):
            self._citations.append(event)
        elif isinstance(event, SearchQuery):
            self._searches.append(event.query)
        elif isinstance(event, LogprobsDelta):
            self._logprobs.extend(event.logprobs)
        else:
            raise NotAnEvent(event)

    @property
    def finished(self) -> bool:
        """Whether the stream's finish event has arrived."""
        return self._finish is not None

    @property
    def usage_reported(self) -> bool:
        """Whether a usage event with token counts has arrived (one counting zero
        tokens included; not one with a search count alone, :func:`no_usage`)."""
        return not tokens_unreported(self._usage)

    @property
    def has_tool_calls(self) -> bool:
        """Whether any tool call fragment has arrived."""
        return bool(self._tools)

    def response(
        self, *, provider: str = "", model: str = "", time_to_first_token: float | None = None
    ) -> ChatResponse:
        """The response assembled from everything seen so far."""
        try:
            text, calls, parts = self._content()
        except (PartFieldError, TypeError):
            # A plugin yielded a value that is not a str where the event's field is
            # one (a tool call's id as a number, say): the caller has had the
            # events already, so the response keeps what they said, as text,
            # rather than the finished stream failing with the caller's error.
            self._as_text()
            text, calls, parts = self._content()
        finished = self._finish
        finish: FinishReason = finished.reason if finished is not None else "other"
        if calls and finish == "stop":
            finish = "tool_calls"
        if parts:
            reasoning, signature = reasoning_fields(parts)
            if not any(p.origin or p.signature or p.redacted is not None for p in parts):
                # Plain reasoning text (OpenAI-compatible, Ollama): only ``reasoning``,
                # as those providers' non-streamed responses have it.
                parts = ()
        else:
            reasoning, signature = "", None
        return ChatResponse(
            text=text,
            reasoning=reasoning,
            reasoning_signature=signature,
            reasoning_parts=parts,
            tool_calls=calls,
            finish_reason=finish,
            usage=self._usage,
            usage_estimated=self._usage_estimated,
            model=self._model or model,
            provider=provider,
            id=self._id,
            time_to_first_token=time_to_first_token,
            citations=tuple(self._citations),
            search_queries=self._search_queries(),
            search_suggestions=finished.search_suggestions if finished is not None else None,
            stop_sequence=finished.stop_sequence if finished is not None else None,
            logprobs=tuple(self._logprobs),
        )

    def _content(self) -> tuple[str, tuple[ToolCall, ...], tuple[ReasoningPart, ...]]:
        """The text, tool calls and reasoning parts, built from their fragments."""
        calls = tuple(
            ToolCall.from_json_arguments(slot[0], slot[1], "".join(slot[2:]))
            for _, slot in sorted(self._tools.items())
        )
        parts = (
            tuple([b.part() for b in self._reasoning if not b.empty()]) if self._reasoning else ()
        )
        return "".join(self._text), calls, parts

    def _as_text(self) -> None:
        """Every fragment kept as the str of what a plugin yielded (see :meth:`response`)."""
        self._text = [_text(t) for t in self._text]
        for slot in self._tools.values():
            slot[:] = [_text(v) for v in slot]
        for block in self._reasoning:
            block.text = [_text(t) for t in block.text]
            block.signature = [_text(t) for t in block.signature]
            block.origin = None if block.origin is None else _text(block.origin)
            block.redacted = None if block.redacted is None else _text(block.redacted)

    def _search_queries(self) -> tuple[str, ...]:
        # One source: the SearchQuery events (a broken stream keeps those seen);
        # a Finish's search_queries only from a provider that yields no such events.
        if self._searches:
            return tuple(self._searches)
        finished = self._finish
        return finished.search_queries if finished is not None else ()


class _ReasoningBlock:
    """One reasoning block as it arrives: text and signature pieces, or redacted data."""

    __slots__ = ("origin", "redacted", "signature", "text")

    def __init__(self, origin: str | None, redacted: str | None = None) -> None:
        self.origin = origin
        self.redacted = redacted
        self.text: list[str] = []
        self.signature: list[str] = []

    def empty(self) -> bool:
        return self.redacted is None and not self.text and not self.signature

    def part(self) -> ReasoningPart:
        return ReasoningPart(
            "".join(self.text),
            "".join(self.signature) or None,
            redacted=self.redacted,
            origin=self.origin,
        )


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


_NO_USAGE = NO_USAGE  # a UsageUpdate(NO_USAGE) reports none either


def _merge_usage(old: Usage, new: Usage) -> Usage:
    # Providers report cumulative counts, some in several events (Anthropic sends
    # input tokens first, output tokens last): take every field that is set.
    if old == _NO_USAGE:
        return new  # the first (usually the only) usage event of a stream
    if new is _NO_USAGE:
        return old  # reports nothing
    if tokens_unreported(old) and tokens_unreported(new):
        return new  # a search count grown, still without tokens
    return attrs.evolve(
        old,
        **{f.name: getattr(new, f.name) for f in attrs.fields(Usage) if getattr(new, f.name)},
    )
