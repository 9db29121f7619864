"""Decode Ollama's streamed ``/api/chat`` bytes into relaykit stream events.

Ollama streams newline-delimited JSON: one object per line, each with a piece
of ``message`` (``content``, ``thinking``, whole ``tool_calls``), the last with
``done: true``, ``done_reason`` and the token counts. A failure after the
stream started arrives as an ``{"error": "..."}`` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from relaykit import StreamError
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
from relaykit.response import NO_USAGE
from relaykit.secrets import cut_short

from . import wire
from .ndjson import NDJSONDecoder


class OllamaStreamDecoder:
    """Incremental decoder: :meth:`feed` bytes as they arrive, then :meth:`close`.

    Raises :class:`relaykit.StreamError` for an error line, a line that is not
    JSON, or (from :meth:`close`) a stream that ended before ``done: true``.
    One read may carry several lines and then an error (aiohttp hands over
    whatever is buffered): the events come back first, and the error is raised
    by the next :meth:`feed` or :meth:`close`.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str | None,
        prompt_tokens: int | Callable[[], int] = 0,
    ) -> None:
        self._lines = NDJSONDecoder()
        #: the prompt's estimated tokens (or what makes them), for a done object that
        #: leaves its count out: a callable is called only then, as the estimate
        #: walks every message and servers since ollama#5371 always count the prompt
        self._prompt_tokens = prompt_tokens
        self._provider = provider
        self._model = model
        self._started = False
        self._answered = False  # a line with a message came
        self._calls = 0
        self._done = False
        #: an error met after other events in the same read, raised on the next call
        self._error_pending: StreamError | None = None

    @property
    def done(self) -> bool:
        """Whether the final (``done: true``) object has arrived."""
        return self._done

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Decode ``data``; return the events of the lines it completes."""
        self._raise_pending()
        try:
            objects = self._lines.feed(data)
        except ValueError as e:
            raise self._not_json(e) from None
        # The line decoder holds back a bad line behind the good ones before it;
        # the next feed or close raises it.
        return self._events(objects)

    def close(self) -> list[StreamEvent]:
        """The input has ended: decode what is left, and check the stream was whole."""
        self._raise_pending()
        try:
            objects = self._lines.flush()
        except ValueError as e:
            raise self._not_json(e) from None
        try:
            events = [event for obj in objects for event in self._object(obj)]  # one at most
        except SHAPE_ERRORS as e:
            raise wrong_shape("a stream line", e) from e
        if not self._started and not events:
            raise self._error("Ollama answered the stream with an empty body")
        if not self._done:
            raise self._error("the stream ended before Ollama sent its final (done) object")
        return events

    def _raise_pending(self) -> None:
        if self._error_pending is not None:
            error, self._error_pending = self._error_pending, None
            raise error

    def _events(self, objects: list[Any]) -> list[StreamEvent]:
        """The events of ``objects``; an error after some of them waits for the next call."""
        events: list[StreamEvent] = []
        for obj in objects:
            try:
                events.extend(self._object(obj))
            except StreamError as e:
                if not events:
                    raise
                self._error_pending = e
                break
            except SHAPE_ERRORS as e:
                raise wrong_shape("a stream line", e) from e
        return events

    def _object(self, obj: Any) -> list[StreamEvent]:
        if not isinstance(obj, dict):
            raise self._error(f"Ollama sent a stream line that is not an object: {obj!r:.200}")
        if "error" in obj:
            error = str(obj["error"])
            raise StreamError(
                error or "error line in the stream",
                provider=self._provider,
                model=self._model,
                provider_message=error,
            )
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            model = obj.get("model")
            events.append(StreamStart(None, model if isinstance(model, str) else None))
        if obj.get("message") is not None:
            self._answered = True
        message = obj.get("message") or {}
        if message.get("thinking"):
            events.append(ReasoningDelta(message["thinking"]))
        if message.get("content"):
            events.append(TextDelta(message["content"]))
        for raw in message.get("tool_calls") or ():
            call = wire.tool_call(raw, self._calls)
            args = (
                call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)
            )
            events.append(ToolCallDelta(self._calls, call.id, call.name, args))
            self._calls += 1
        if obj.get("done") and not self._done:
            if not self._answered:
                # every line of an answer has its message (the last one's content
                # ""): a done line alone is no empty answer, the server sent none
                raise ValueError("an /api/chat stream that ended (done) with no message")
            self._done = True
            prompt = self._prompt_tokens
            if callable(prompt):
                prompt = prompt() if wire.prompt_unreported(obj) else 0
            usage = wire.usage(obj, prompt)
            if usage is not NO_USAGE:  # counts of zero are the server's word, and kept
                events.append(UsageUpdate(usage, estimated=wire.prompt_unreported(obj)))
            raw_reason = obj.get("done_reason")
            events.append(
                Finish(wire.finish_reason(raw_reason, has_calls=self._calls > 0), raw_reason)
            )
        return events

    def _not_json(self, e: ValueError) -> StreamError:
        """The error for a line that is not JSON, quoting it: the decoder's "Expecting
        value: line 1 column 1 (char 0)" does not say what came (a proxy's page)."""
        line = e.doc if isinstance(e, json.JSONDecodeError) else ""
        quoted = f" {cut_short(line.strip(), 120)!r}" if line.strip() else ""
        return self._error(f"Ollama sent a stream line that is not JSON:{quoted} ({e})")

    def _error(self, message: str) -> StreamError:
        return StreamError(message, provider=self._provider, model=self._model)
