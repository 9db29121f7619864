"""Decode ``streamGenerateContent?alt=sse`` bytes into relaykit stream events.

Gemini streams server-sent events whose ``data`` is a whole
``GenerateContentResponse`` (Google ends lines with CRLF: ``data: {...}\\r\\n\\r\\n``).
There is no ``[DONE]``: the chunk carrying ``finishReason`` is the last one,
so a stream that ends without one was cut off, unless none of its chunks had a
candidate (nor a block reason): the model made nothing, an empty answer that ends as
``other``, as it does asked whole. Function calls arrive whole, unless Vertex AI
was asked to stream their arguments (``streamFunctionCallArguments``): then a part
``{"functionCall": {"name": ..., "willContinue": true}}`` opens a call, parts of
``partialArgs`` follow, and the first part without ``willContinue`` (often
``{"functionCall": {}}``) ends it, or the finish does. Such a call streams as the
other vendors' do: a :class:`~relaykit.ToolCallDelta` with its id and name, then
pieces of its arguments' JSON (:mod:`relaykit_gemini.partial_args`). An error
after the stream started arrives as ``data: {"error": {...}}``; one that is the
stream's first chunk (Google answered 200, then failed) is the typed error the
same body over HTTP would be, its ``google.rpc.RetryInfo`` wait kept.

With ``web_search=``, ``groundingMetadata`` comes in later chunks (often the
last, sometimes in pieces): each :class:`~relaykit.Citation` is yielded when
the metadata naming it arrives, after the text it points into, with offsets
into the whole answer; the sources no support names come with the finish.
The searches billed ride on the usage (:mod:`relaykit_gemini.grounding`) and
Google's Search Suggestions on the finish; each query searched for is a
:class:`~relaykit.SearchQuery` as soon as a chunk's ``webSearchQueries`` names it
(once: later chunks repeat them), before that chunk's citations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from relaykit import RelayError, SSEDecoder, StreamError, Usage, json_decode
from relaykit.events import (
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
from relaykit.http_errors import parse_error_body
from relaykit.json_decode import SHAPE_ERRORS, wrong_shape
from relaykit.secrets import cut_short
from relaykit.sse import ServerSentEvent

from . import grounding, wire
from .code_execution import code_text
from .partial_args import ArgumentsText

# Mid-stream errors worth another attempt, by Google status and by HTTP code (the
# core retries only before the first event; after it, the caller decides).
_RETRYABLE = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"})
_RETRYABLE_CODES = frozenset({429, 500, 502, 503, 504})
#: how much of a body that is no event stream is quoted
_QUOTED = 120


class GeminiStreamDecoder:
    """Incremental decoder: :meth:`feed` bytes as they arrive, then :meth:`close`.

    Raises :class:`relaykit.StreamError` for an error chunk, an undecodable
    chunk, or (from :meth:`close`) a stream that ended before its finish reason.
    One read may carry events and then an error (aiohttp hands over whatever
    is buffered): the events come back first, and the error is raised by the
    next :meth:`feed` or :meth:`close`.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str | None,
        http_error: Callable[[int, Mapping[str, str], bytes, str | None], RelayError] | None = None,
    ) -> None:
        self._sse = SSEDecoder()
        #: the provider's typed error for an HTTP error (status, headers, body, model)
        self._http_error = http_error
        self._provider = provider
        self._model = model
        self._started = False
        self._calls = 0
        #: the call whose arguments Vertex is streaming (partialArgs), if one is open
        self._streaming: ArgumentsText | None = None
        self._signature_sent = False
        self._finished = False
        #: a chunk had a candidate (the answer began): ending without a finish cuts it
        self._answered = False
        self._feedback = False  # a chunk carried promptFeedback: Gemini's word on the prompt
        self._usage = Usage()
        self._usage_meta: Any = None  # the latest usageMetadata
        self._grounding = grounding.StreamGrounding()
        #: an error met after other events in the same read, raised on the next call
        self._error_pending: StreamError | None = None
        #: the body's first bytes while no event has come, to quote one that is no
        #: event stream (a proxy's page, or the JSON array of a request without alt=sse)
        self._head = b""

    @property
    def finished(self) -> bool:
        """Whether the terminal chunk (one with a finish reason) has arrived."""
        return self._finished

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Decode ``data``; return the events of the chunks it completes."""
        self._raise_pending()
        if not self._started and len(self._head) < _QUOTED:
            self._head += data[:_QUOTED]
        return self._decode(self._sse.feed(data))

    def close(self) -> list[StreamEvent]:
        """The input has ended: decode what is left, and check the stream was whole."""
        self._raise_pending()
        # At most one event is left (one without its blank line): nothing to hold back.
        events = [event for sse in self._sse.flush() for event in self._chunk(sse.data)]
        if not self._finished and self._started and not self._answered:
            if not self._feedback:
                # Chunks came, none with a candidate or Gemini's word on the prompt: no
                # answer, as a non-streamed one without either is none.
                raise ValueError(
                    "a streamGenerateContent stream with no candidate and no promptFeedback:"
                    " no answer"
                )
            # Gemini's word on the prompt and no candidate or block reason: the model
            # made nothing, as a non-streamed answer of no candidates says (``other``).
            self._finished = True
            events.append(Finish("other"))
        if not self._started:
            # No event at all: say what came instead (SSE skips lines it cannot read,
            # so a page or a JSON array would pass for a stream cut before its start).
            head = self._head.decode("utf-8", "replace").strip()
            came = "an empty body"
            if head:
                came = f"not server-sent events: {cut_short(head, _QUOTED)!r}"
            raise self._error(f"Gemini answered the stream with {came}")
        if not self._finished:
            raise StreamError(
                "the stream ended before Gemini sent a finish reason",
                provider=self._provider,
                model=self._model,
            )
        return events

    def _decode(self, sses: list[ServerSentEvent]) -> list[StreamEvent]:
        """The events of ``sses``; an error after some of them waits for the next call."""
        events: list[StreamEvent] = []
        for sse in sses:
            try:
                events.extend(self._chunk(sse.data))
            except StreamError as e:
                if not events:
                    raise
                self._error_pending = e
                break
        return events

    def _raise_pending(self) -> None:
        if self._error_pending is not None:
            error, self._error_pending = self._error_pending, None
            raise error

    def _chunk(self, data: str) -> list[StreamEvent]:
        if not data.strip():
            return []
        try:
            chunk: Any = json_decode.loads(data)
        except ValueError:
            raise self._error(
                f"Gemini sent a stream chunk that is not JSON: {cut_short(data, 200)!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise self._error(f"Gemini sent a stream chunk that is not an object: {data[:200]!r}")
        if "error" in chunk:
            message, _, retry_after = parse_error_body(data)
            err = chunk["error"]
            code = err.get("code") if isinstance(err, dict) else None
            status = err.get("status") if isinstance(err, dict) else None
            if not self._started and self._http_error is not None and _is_status(code):
                # Nothing reached the caller: the error Google would have answered
                # with over HTTP (its RetryInfo wait as retry_after, a per-day quota
                # not retried, a wrong key an AuthenticationError), as the retry reads it.
                raise self._http_error(code, {}, data.encode(), self._model)
            raise StreamError(
                message or "error event in the stream",
                provider=self._provider,
                model=self._model,
                status=code if isinstance(code, int) else None,
                provider_message=message,
                retryable=status in _RETRYABLE or code in _RETRYABLE_CODES,
                retry_after=retry_after,  # RetryInfo's wait, for a caller that tries again
            )
        try:
            return self._events(chunk)
        except SHAPE_ERRORS as e:
            raise wrong_shape("a stream chunk", e) from e

    def _events(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            given_id, version = chunk.get("responseId"), chunk.get("modelVersion")
            events.append(StreamStart(wire.text_or_none(given_id), wire.text_or_none(version)))
        candidates = chunk.get("candidates") or []
        candidate: dict[str, Any] = candidates[0] if candidates else {}
        if candidates:
            self._answered = True
        if chunk.get("promptFeedback") is not None:
            self._feedback = True
        metadata = candidate.get("groundingMetadata")
        if metadata:
            # The searches ran before the text that came with them was written: their
            # queries go first, each once (later chunks repeat them; the new ones are
            # the tail of the gathered, ordered list).
            known = len(self._grounding.queries)
            self._grounding.note_queries(metadata)
            events.extend([SearchQuery(q) for q in self._grounding.queries[known:]])
        self._grounding.read(candidate.get("urlContextMetadata"))
        for part in (candidate.get("content") or {}).get("parts") or ():
            self._grounding.add(part)
            events.extend(self._part(part))
        scored = candidate.get("logprobsResult")
        if scored:  # after the text they score
            events.append(LogprobsDelta(wire.token_logprobs(scored)))
        if metadata:
            # The citations after the text they point into.
            events.extend(self._grounding.metadata(metadata))
        events.extend(self._usage_update(chunk))
        raw = candidate.get("finishReason")
        blocked = wire.blocked_reason(chunk)
        if not self._finished and raw and raw != "FINISH_REASON_UNSPECIFIED":
            self._finished = True
            events.extend(self._end_call())  # a streamed call the finish ends
            found = self._grounding
            events.extend(found.finish())
            reason = wire.finish_reason(raw, has_calls=self._calls > 0)
            events.append(Finish(reason, raw, search_suggestions=found.suggestions))
        elif not self._finished and blocked and not candidates:
            self._finished = True
            events.append(Finish("content_filter", blocked))
        return events

    def _usage_update(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """The usage, when it changed: every chunk repeats the counts so far, and the
        searches billed grow as grounding metadata comes."""
        if chunk.get("usageMetadata"):
            self._usage_meta = chunk["usageMetadata"]
        model = str(chunk.get("modelVersion") or self._model or "")
        usage = wire.usage(self._usage_meta, self._grounding.searches(model))
        if usage != self._usage and (
            usage.input_tokens or usage.output_tokens or usage.web_searches
        ):
            self._usage = usage
            return [UsageUpdate(usage)]
        return []

    def _part(self, part: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        signature = part.get("thoughtSignature")
        if signature and not self._signature_sent:
            # One signature per turn (the assembler joins signature fragments,
            # and two whole signatures joined would be neither).
            self._signature_sent = True
            events.append(ReasoningDelta(signature=str(signature), origin=wire.ORIGIN))
        if "functionCall" in part and (
            self._streaming is not None or _streams_arguments(part["functionCall"])
        ):
            events.extend(self._streamed_call(part["functionCall"]))
        elif "functionCall" in part:
            events.append(self._whole_call(part["functionCall"]))
        elif part.get("thought"):
            if part.get("text"):
                events.append(ReasoningDelta(part["text"], origin=wire.ORIGIN))
        elif part.get("text"):
            events.append(TextDelta(part["text"]))
        elif (code := code_text(part)) is not None:
            events.append(TextDelta(code))
        return events

    def _whole_call(self, fc: Any) -> ToolCallDelta:
        """A call that came whole, as one delta."""
        call = wire.tool_call(fc, self._calls)
        args = call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)
        self._calls += 1
        return ToolCallDelta(self._calls - 1, call.id, call.name, args)

    def _streamed_call(self, fc: dict[str, Any]) -> list[StreamEvent]:
        """The events of one part of a call whose arguments Vertex streams."""
        events: list[StreamEvent] = []
        if fc.get("name") and self._streaming is not None:
            events.extend(self._end_call())  # a new call: the last one ended unmarked
            if not _streams_arguments(fc):
                return [*events, self._whole_call(fc)]
        if self._streaming is None:
            if not fc.get("name") and not fc.get("partialArgs"):
                return events  # an empty end part with no call open: nothing to end
            if not fc.get("name"):
                raise self._error(
                    "Gemini sent function call arguments (partialArgs) before the call "
                    "they belong to"
                )
            call = wire.tool_call({"id": fc.get("id"), "name": fc["name"]}, self._calls)
            events.append(ToolCallDelta(self._calls, call.id, call.name, ""))
            self._streaming = ArgumentsText()
        index = self._calls
        try:
            text = "".join(self._streaming.add(piece) for piece in fc.get("partialArgs") or ())
        except ValueError as e:
            raise self._error(
                f"Gemini streamed function call arguments relaykit cannot join: {e}"
            ) from None
        if text:
            events.append(ToolCallDelta(index, arguments=text))
        if not fc.get("willContinue"):
            events.extend(self._end_call())
        return events

    def _end_call(self) -> list[StreamEvent]:
        """The text that ends the streamed call open, if one is."""
        if self._streaming is None:
            return []
        text, self._streaming = self._streaming.close(), None
        index = self._calls
        self._calls += 1
        return [ToolCallDelta(index, arguments=text)]

    def _error(self, message: str) -> StreamError:
        return StreamError(message, provider=self._provider, model=self._model)


def _is_status(code: object) -> TypeGuard[int]:
    """Whether an error chunk's ``code`` is an HTTP error status (Google's ``code``)."""
    return type(code) is int and 400 <= code <= 599


def _streams_arguments(fc: Any) -> bool:
    """Whether a ``functionCall`` part opens (or is part of) a call whose arguments
    Vertex streams: it says more is to come, or carries ``partialArgs``."""
    return isinstance(fc, dict) and bool(fc.get("willContinue") or fc.get("partialArgs"))
