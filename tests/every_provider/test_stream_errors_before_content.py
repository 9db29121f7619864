"""A vendor's error inside a stream, before any of the answer reached the caller, is the
same typed error on every provider whose error names its kind.

Bedrock's ConverseStream and Messages routes raised the typed error of the
exception's status (a throttle a ``RateLimitError``, a refused request an
``InvalidRequestError``); Anthropic's ``error`` event and Gemini's ``{"error"}``
chunk, which name a kind as plainly, gave a ``StreamError`` that the client made
retryable whatever it said: an invalid request was sent again, a rate limit was
retried as "unavailable" (``[retry] on`` without it still retried it) and the
call's record said ``StreamError``. The Responses API's failure events name a kind
by their ``code`` too, and Chat Completions' ``{"error"}`` chunk by its ``type``
and ``code`` (OpenRouter's by an HTTP status in ``code``); Cohere's ``ERROR`` says
the generation failed, a 502. Ollama's error line names no kind: a retryable
``StreamError``.
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.testing import Reply, call_log_lines, capture_call_log
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn

#: each vendor's in-stream error for a rate limit and for a refused request, where its
#: in-stream errors name their kind
KINDS: dict[str, tuple[str, str]] = {
    "anthropic": ("rate_limit_error", "invalid_request_error"),
    "bedrock": ("throttlingException", "validationException"),
    "bedrock-messages": ("rate_limit_error", "invalid_request_error"),
    "gemini": ("RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"),
    "openai": ("rate_limit_exceeded", "invalid_value"),
    "openai-responses": ("rate_limit_exceeded", "invalid_prompt"),
}


async def stream_error(
    vendor: tuple[VendorMock, dict[str, Any], str], code: str | None, attempts: int, **retry: Any
) -> tuple[relaykit.RelayError, list[dict[str, Any]]]:
    """What a stream whose every answer fails with ``code`` before its text raises, and
    the call's log line."""
    mock, providers, model = vendor
    failing = Reply(text="", stream_fault="error", error="it went wrong", error_code=code)
    mock.script.push(*[failing] * attempts)
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": attempts, "initial_wait": 0, "max_retry_after": 0, **retry},
        "providers": providers,
    }
    with capture_call_log() as out:
        async with relaykit.Client(config) as client:
            with pytest.raises(relaykit.RelayError) as caught:
                async with client.stream(model, "hi", max_tokens=16) as s:
                    async for _ in s:
                        pass
    return caught.value, call_log_lines(out)


@pytest.mark.anyio
async def test_a_rate_limit_before_the_answer_is_a_rate_limit_error(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest
) -> None:
    mock = vendor[0]
    name = request.node.callspec.params["vendor"]
    if name not in KINDS:
        error, lines = await stream_error(vendor, None, 2)
        # Cohere's ERROR says the generation failed (a 502); Ollama's error line, no kind
        kind = relaykit.ProviderUnavailableError if name == "cohere" else relaykit.StreamError
        assert isinstance(error, kind) and error.retryable, repr(error)
        assert len(mock.requests) == 2  # retried: nothing had reached the caller
        return
    error, lines = await stream_error(vendor, KINDS[name][0], 2, on=["rate_limit"])
    assert isinstance(error, relaykit.RateLimitError), repr(error)
    assert (error.status, error.retryable) == (429, True)
    assert len(mock.requests) == 2  # retried as a rate limit, as [retry] on asks
    assert lines[-1]["error_type"] == "RateLimitError"


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", sorted(KINDS), indirect=True)  # (only they refuse)
async def test_a_refused_request_before_the_answer_is_not_sent_again(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest
) -> None:
    mock = vendor[0]
    name = request.node.callspec.params["vendor"]
    error, lines = await stream_error(vendor, KINDS[name][1], 3)
    assert isinstance(error, relaykit.InvalidRequestError), repr(error)
    assert (error.status, error.retryable) == (400, False)
    assert "it went wrong" in (error.provider_message or "")
    assert len(mock.requests) == 1
    assert lines[-1]["error_type"] == "InvalidRequestError"
