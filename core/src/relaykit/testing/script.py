"""Vendor-neutral scripts for mock providers: what the next responses should be.

A test queues :class:`Reply` values on a mock's :class:`Script`; each vendor mock
renders them in its own wire format. When the queue is empty the mock echoes
the last user message, so a plain request always gets a sensible answer.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ..messages import ReasoningPart
from ..web_search import Citation

__all__ = ["Reply", "Script", "count_tokens"]


@attrs.frozen(kw_only=True)
class Reply:
    """One scripted response.

    A success carries ``text``, ``reasoning`` and ``tool_calls`` (name, arguments);
    ``refusal`` is the model declining to answer, for vendors that say so apart
    from the text (OpenAI's ``message.refusal``; mocks without one ignore it);
    a failure carries ``status`` (>= 400) and ``error``; a stream that breaks
    carries ``stream_fault``: ``"error"`` sends the vendor's in-stream error event
    after ``text``, ``"drop"`` closes the connection after ``text``, ``"reset"``
    resets it (TCP RST), ``"truncate"`` ends the body cleanly but without the
    vendor's final event, ``"garbage"`` sends bytes that are not the vendor's format.
    ``connection_fault`` misbehaves before any response: ``"reset"`` or ``"garbage"``.
    ``answer_lost`` (for the batch endpoints' ``batch_script``) does what the request
    asks (creates the batch, keeps the file, cancels), then loses the answer: ``"drop"``
    closes the connection without a word, ``"reset"`` resets it (a retry would act twice).
    ``reasoning_blocks`` replaces ``reasoning`` with several blocks, in order:
    ``ReasoningPart(text)`` for readable reasoning (each mock signs it its own
    way), ``ReasoningPart(redacted=data)`` for a redacted block, where the
    vendor has one.
    ``citations`` are the web sources the answer cites and ``web_searches`` the
    searches billed (a call with ``web_search=``); each mock renders them in its
    vendor's shape (a citation's ``start``/``end`` index ``text``).
    ``search_queries`` are what those searches searched for, in order (a vendor
    mock names a search past them itself and runs no more than ``web_searches``),
    and ``search_suggestions`` the HTML of Google's Search Suggestions (Gemini
    mocks send a stand-in snippet of their own without it); the fake provider
    answers with both as they are.
    ``vendor_finish`` is the vendor's own finish (stop) reason, sent as it is in
    place of the one ``finish`` stands for, to script a reason relaykit has no word
    for: Anthropic's ``"pause_turn"`` or ``"model_context_window_exceeded"``,
    Gemini's ``"RECITATION"``, Bedrock's ``"guardrail_intervened"``, Ollama's
    ``"load"``, Cohere's ``"TIMEOUT"``, a future one (the Responses API's mock
    sends it as an ``incomplete`` response's ``incomplete_details.reason``).
    ``stop_sequence`` is a stop sequence the answer stopped on (``finish`` stays
    ``"stop"``): mocks of vendors that name it send their stop reason for one with
    it (Anthropic's and Claude's on Bedrock: ``stop_reason: "stop_sequence"`` and
    ``stop_sequence``), Bedrock's Converse mock its ``stopReason``
    ``"stop_sequence"``, others their plain stop; the fake provider answers with it.
    ``future_events`` adds what a vendor may send after relaykit was written, which
    a client must skip (Anthropic's versioning policy says so of new event types):
    each mock an event type, an output item or block, a part or field of no kind
    the vendor has today, where its format has them.
    ``delay`` waits before the response, ``first_token_delay`` after the headers
    and before the first streamed piece, ``chunk_delay`` between pieces (not before the first).
    """

    text: str = ""
    reasoning: str = ""
    refusal: str = ""
    reasoning_blocks: tuple[ReasoningPart, ...] = ()
    tool_calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    finish: Literal["stop", "length", "tool_calls", "content_filter"] | None = None
    vendor_finish: str | None = None
    stop_sequence: str | None = None
    future_events: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int = 0
    #: prompt tokens written to the prompt cache (part of ``input_tokens``);
    #: mocks of vendors that report none ignore it
    cache_write_input_tokens: int = 0
    #: of ``cache_write_input_tokens``, those written to a one-hour cache
    cache_write_1h_input_tokens: int = 0
    reasoning_tokens: int = 0
    #: ``False``: the answer carries no usage at all, as some vendors' may (an
    #: OpenAI-compatible server that omits it, Ollama without eval counts, Converse
    #: without ``usage``; the fake provider too); mocks of vendors that always send it
    #: ignore it
    usage: bool = True
    citations: tuple[Citation, ...] = ()
    web_searches: int = 0
    search_queries: tuple[str, ...] = ()
    search_suggestions: str | None = None
    status: int = 200
    error: str = ""
    error_code: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    stream_fault: Literal["error", "drop", "reset", "truncate", "garbage"] | None = None
    connection_fault: Literal["reset", "garbage"] | None = None
    answer_lost: Literal["drop", "reset"] | None = None
    delay: float = 0.0
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0

    @classmethod
    def failure(
        cls,
        status: int,
        error: str = "",
        *,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> Reply:
        """An HTTP error response."""
        return cls(
            status=status,
            error=error or f"mock error {status}",
            retry_after=retry_after,
            error_code=code,
        )

    @property
    def finish_reason(self) -> str:
        """The finish reason to send (``tool_calls`` when there are calls)."""
        if self.finish:
            return self.finish
        return "tool_calls" if self.tool_calls else "stop"

    def finish_word(self, words: Mapping[str, str]) -> str:
        """The finish reason to send in a vendor's ``words`` (its word for each of
        relaykit's reasons), or ``vendor_finish`` as it is."""
        if self.vendor_finish is not None:
            return self.vendor_finish
        return words[self.finish_reason]

    def thoughts(self) -> tuple[ReasoningPart, ...]:
        """The reasoning blocks to send: ``reasoning_blocks``, else ``reasoning`` as one."""
        if self.reasoning_blocks:
            return self.reasoning_blocks
        return (ReasoningPart(self.reasoning),) if self.reasoning else ()

    def chunks(self, size: int = 8) -> list[str]:
        """``text`` split the way a model streams it: a few characters at a time."""
        return [self.text[i : i + size] for i in range(0, len(self.text), size)]


class Script:
    """A thread-safe queue of replies shared by a test and a mock server."""

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()

    def push(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    def reply(self, text: str = "", **kw: Any) -> None:
        """Queue one successful reply."""
        self.push(Reply(text=text, **kw))

    def fail(self, status: int, error: str = "", **kw: Any) -> None:
        """Queue one HTTP failure."""
        self.push(Reply.failure(status, error, **kw))

    def next(self, default: Reply) -> Reply:
        """The next queued reply, or ``default``."""
        with self._lock:
            return self._replies.popleft() if self._replies else default

    def clear(self) -> None:
        """Forget queued replies."""
        with self._lock:
            self._replies.clear()

    def __len__(self) -> int:
        return len(self._replies)


def count_tokens(text: str) -> int:
    """A cheap, deterministic stand-in for a tokenizer: one token per word."""
    return len(text.split())
