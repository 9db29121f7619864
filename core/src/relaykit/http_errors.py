"""Turn a provider's HTTP error response into a typed :class:`relaykit.RelayError`.

Vendors wrap their messages differently (``{"error": {"message": ...}}`` at
OpenAI and Anthropic, ``{"error": {"status": ..., "details": [...]}}`` at
Google, ``{"error": "..."}`` at Ollama, ``{"message": ...}`` at AWS); this
finds the message in any of them, and the Retry-After wherever it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import RelayError, error_for_status
from .retry_after import header, retry_after_seconds


def error_from_http(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    provider: str,
    model: str | None,
) -> RelayError:
    """The typed error for an HTTP error response whose body has been read."""
    message, code, retry_delay, param = _parse(body)
    retry_after = retry_after_seconds(headers)
    if retry_after is None:
        retry_after = retry_delay
    if not message:
        message = f"HTTP {status} with no error message"
    if status == 529 or code in ("overloaded_error",):
        status = status if status >= 500 else 529
    error = error_for_status(
        status,
        message,
        provider=provider,
        model=model,
        retry_after=retry_after,
        code=code,
        param=param,
    )
    # OpenAI and Anthropic say whether a failure is worth retrying, overriding
    # the status (their SDKs obey); other values than true/false are ignored.
    should_retry = header(headers, "x-should-retry")
    if should_retry == "true":
        error.should_retry = True
    elif should_retry == "false":
        error.should_retry = False
    return error


def parse_error_body(body: bytes | str) -> tuple[str, str | None, float | None]:
    """``(message, code, retry_delay)`` from an error body in any common vendor shape."""
    return _parse(body)[:3]


def _parse(body: bytes | str) -> tuple[str, str | None, float | None, str | None]:
    """``(message, code, retry_delay, param)``; ``param`` names the request field at fault
    (OpenAI and its compatibles say so in ``error.param``)."""
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return text.strip()[:500], None, None, None
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if not isinstance(data, Mapping):
        return str(data)[:500], None, None, None
    err = data.get("error", data)
    if isinstance(err, str):
        return err, None, None, None
    if not isinstance(err, Mapping):
        return json.dumps(data)[:500], None, None, None
    message = err.get("message") or data.get("message") or err.get("Message") or ""
    code = err.get("code") or err.get("type") or err.get("status") or data.get("__type")
    param = err.get("param")
    return (
        str(message),
        str(code) if code is not None else None,
        _retry_delay(err),
        param if isinstance(param, str) and param else None,
    )


def _retry_delay(err: Mapping[str, Any]) -> float | None:
    # Google's RetryInfo: {"@type": ".../google.rpc.RetryInfo", "retryDelay": "7s"}
    for detail in err.get("details") or ():
        if isinstance(detail, Mapping) and "retryDelay" in detail:
            m = re.fullmatch(r"\s*([0-9.]+)s\s*", str(detail["retryDelay"]))
            if m:
                return float(m.group(1))
    return None
