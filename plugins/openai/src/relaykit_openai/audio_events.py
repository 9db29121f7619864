"""The server-sent events of OpenAI's audio endpoints (``/audio/speech`` with
``stream_format: "sse"``, ``/audio/transcriptions`` with ``stream=true``): one
event's JSON, or the :class:`~relaykit.StreamError` an error event is."""

from __future__ import annotations

from typing import Any

from relaykit import StreamError, json_decode
from relaykit.http_errors import parse_error_body


def event_json(data: str, name: str, model: str) -> dict[str, Any]:
    """One event's JSON object; an ``error`` event (or data that is no JSON object)
    raised as a :class:`~relaykit.StreamError` for ``name``'s ``model``."""
    try:
        event = json_decode.loads(data)
    except ValueError:
        raise StreamError(
            "the stream sent an event that is not JSON", provider=name, model=model
        ) from None
    if not isinstance(event, dict) or "error" in event or event.get("type") == "error":
        message, _, _ = parse_error_body(data)
        raise StreamError(
            message or "error event in the stream",
            provider=name,
            model=model,
            provider_message=message,
        )
    return event
