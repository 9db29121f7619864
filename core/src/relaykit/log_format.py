"""Structured JSON logs through the standard ``logging`` module.

The client logs one line per call at INFO on the ``relaykit.calls`` logger,
with the call's fields in ``extra``. :class:`JsonFormatter` writes any record
as one JSON object per line, with those fields at the top level and every
string passed through the secret redactor, so a key that ends up in a message
or an argument never reaches the log::

    handler = logging.StreamHandler()
    handler.setFormatter(relaykit.log_format.JsonFormatter())
    logging.getLogger("relaykit").addHandler(handler)
    logging.getLogger("relaykit.calls").setLevel(logging.INFO)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from .secrets import scrub

if TYPE_CHECKING:
    from .embeddings import EmbeddingResponse
    from .image_generation import ImageResponse
    from .moderation import ModerationResponse
    from .rerank import RerankResponse
    from .response import ChatResponse
    from .speech import SpeechResponse
    from .transcription import TranscriptionResponse

    #: what a call of any kind answers: its call line carries its usage and cost
    AnyAnswer: TypeAlias = (
        ChatResponse
        | EmbeddingResponse
        | RerankResponse
        | TranscriptionResponse
        | ImageResponse
        | SpeechResponse
        | ModerationResponse
    )

CALLS_LOGGER = "relaykit.calls"

#: ``extra`` fields a call line carries, in the order they are written
CALL_FIELDS = (
    "request_id",
    "correlation_id",
    "provider",
    "model",
    "stage",
    "latency",
    "attempts",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "cache_write_1h_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "web_searches",
    "citations",
    "cost_usd",
    "usage_estimated",
    "cache_hit",
    "error_type",
    "status",
)

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
#: the keys a line writes itself: an ``extra`` key among them (or among the
#: formatter's ``fields``) is written with :data:`EXTRA_PREFIX` in front
RESERVED_FIELDS = frozenset({"time", "level", "logger", "message", "exception", "stack"})
EXTRA_PREFIX = "extra_"


class JsonFormatter(logging.Formatter):
    """Formats log records as single-line JSON objects, secrets masked.

    Every ``extra`` field is included; call fields (:data:`CALL_FIELDS`) come
    first. An ``extra`` key the line writes itself (:data:`RESERVED_FIELDS`,
    and the keys of ``fields``) gets :data:`EXTRA_PREFIX` in front, as many
    times as it takes to be free, so ``time``, ``level`` and ``logger`` are
    always the record's. Strings are scrubbed with :func:`relaykit.secrets.scrub`, and so is
    the message, exception text and stack. ``fields`` are written on every
    line, after ``logger`` (``relaykit gateway --workers`` adds each worker's
    ``worker`` number and ``pid``).
    """

    def __init__(self, *, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.fields = dict(fields or {})

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            **self.fields,
            "message": scrub(record.getMessage()),
        }
        extra = {
            k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")
        }
        for key in CALL_FIELDS:
            if key in extra:
                out[key] = _clean(extra.pop(key))
        for key, value in extra.items():
            # A caller's extra={"level": ...} replaced the line's own level (or time,
            # or a gateway worker's pid), and log shippers filter on those.
            while key in RESERVED_FIELDS or key in self.fields or key in out:
                key = EXTRA_PREFIX + key
            out[key] = _clean(value)
        if record.exc_info:
            out["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = scrub(self.formatStack(record.stack_info))
        line = json.dumps(out, ensure_ascii=False, default=lambda v: scrub(str(v)))
        if not line.isascii():  # a flag CPython keeps: no pass over the line
            try:
                line.encode()
            except UnicodeEncodeError:
                # A lone surrogate (a caller's model id holding half an emoji): a
                # UTF-8 file or stream cannot write it, and logging would print an
                # error instead of the line. JSON's \u escapes hold it.
                line = json.dumps(out, default=lambda v: scrub(str(v)))
        return line


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, float):
        # json.dumps writes NaN and Infinity bare, which JSON has not: a shipper
        # would reject the whole line
        return value if value - value == 0.0 else str(value)
    if isinstance(value, int | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return scrub(str(value))  # Decimal, Secret (whose str is already masked), anything else


def call_fields(
    *,
    request_id: str,
    correlation_id: str | None,
    provider: str,
    model: str,
    stage: str,
    latency: float,
    attempts: int,
    **more: Any,
) -> dict[str, Any]:
    """The ``extra`` of a call line; ``None`` values are left out."""
    fields = {
        "request_id": request_id,
        "correlation_id": correlation_id,
        "provider": provider,
        "model": model,
        "stage": stage,
        "latency": round(latency, 6),
        "attempts": attempts,
        **more,
    }
    return {k: v for k, v in fields.items() if v is not None}


def add_response_fields(fields: dict[str, Any], response: AnyAnswer) -> None:
    """Add what ``response`` used and cost to the ``extra`` of its call line.

    The prompt-cache and reasoning counts (parts of ``input_tokens`` and
    ``output_tokens``) only when not zero, ``cost_usd`` when the price is
    known, and ``cache_hit`` when relaykit's response cache answered (which
    is why such a line costs nothing yet repeats the provider's counts).
    A web-searching chat adds ``web_searches`` (the searches billed) and
    ``citations`` (how many the answer has: a count, never the pages, as the
    line never carries the answer's text either), each when not zero.
    """
    usage = response.usage
    fields["input_tokens"] = usage.input_tokens
    fields["output_tokens"] = usage.output_tokens
    if usage.cached_input_tokens:
        fields["cached_input_tokens"] = usage.cached_input_tokens
    if usage.cache_write_input_tokens:
        fields["cache_write_input_tokens"] = usage.cache_write_input_tokens
        if usage.cache_write_1h_input_tokens:
            fields["cache_write_1h_input_tokens"] = usage.cache_write_1h_input_tokens
    if usage.reasoning_tokens:
        fields["reasoning_tokens"] = usage.reasoning_tokens
    if usage.web_searches:
        fields["web_searches"] = usage.web_searches
    citations = getattr(response, "citations", None)  # a chat's
    if citations:
        fields["citations"] = len(citations)
    if response.cost is not None:
        fields["cost_usd"] = float(response.cost)
    if getattr(response, "cache_hit", False):  # a rerank, transcription or image never is
        fields["cache_hit"] = True
    searches = getattr(response, "search_units", 0)
    if searches:
        fields["search_units"] = searches
    # A transcription's audio, if told; a speech's, where its bytes say.
    seconds = getattr(response, "duration", None)
    if seconds is not None:
        fields["audio_seconds"] = seconds
    images = getattr(response, "images", None)  # an image generation's: how many, not them
    if images is not None:
        fields["images"] = len(images)
    audio = getattr(response, "audio", None)  # a speech's: its size, never its bytes
    if audio is not None:
        fields["audio_bytes"] = len(audio)
    flagged = getattr(response, "flagged", None)  # a moderation's verdict, never the texts
    if flagged is not None:
        fields["flagged"] = flagged
