"""Bedrock's errors, over HTTP and inside an event stream, as typed relaykit errors.

Over HTTP an error is a status, a JSON body ``{"message": "..."}`` and the
error's name in the ``x-amzn-errortype`` header (``ThrottlingException:http://...``).
Inside ConverseStream it is an event-stream message of type ``exception`` whose
``:exception-type`` header names it (``throttlingException``) over the same body.

The error's name decides over its status where they disagree (a
``ThrottlingException`` under a 400 is a :class:`relaykit.RateLimitError`, as the
AWS SDKs retry it), and a signature refused for the clock's sake (``Signature
expired``) names the clock, not the credentials.

Bedrock sends no Retry-After, so :class:`relaykit.RateLimitError` carries none
and the core's backoff decides. A ``ValidationException`` saying the request
"has been blocked by our content filters" (the Amazon Nova models' and Titan's
refusal of a prompt, per the Nova user guide's error-handling pages) is a
:class:`relaykit.ContentFilterError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from relaykit import (
    AuthenticationError,
    ContentFilterError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
    StreamError,
)
from relaykit.errors import error_for_status
from relaykit.http_errors import parse_error_body
from relaykit_claude_models import hint_thinking

#: The HTTP status each error carries when Bedrock reports it inside a stream.
STREAM_EXCEPTION_STATUS = {
    "validationexception": 400,
    "servicequotaexceededexception": 400,
    "accessdeniedexception": 403,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "throttlingexception": 429,
    "modelnotreadyexception": 429,
    "modelstreamerrorexception": 424,
    "modelerrorexception": 424,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
}
# Credential problems AWS reports with 400 or 403 alike.
_AUTH_KINDS = {
    "unrecognizedclientexception",
    "invalidsignatureexception",
    "expiredtokenexception",
    "incompletesignatureexception",
    "missingauthenticationtokenexception",
    "accessdeniedexception",
}
_AUTH_HINT = (
    "check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, "
    "AWS_PROFILE or AWS_BEARER_TOKEN_BEDROCK) and that the account has access to this model"
)

#: AWS error names that decide the error whatever status they come with, by the status
#: that error has on Bedrock: some AWS endpoints answer throttling with a 400, which the
#: AWS SDKs retry by its name all the same (botocore's throttled error codes).
_KIND_STATUS = {
    "throttlingexception": 429,
    "throttling": 429,
    "throttledexception": 429,
    "requestthrottledexception": 429,
    "toomanyrequestsexception": 429,
    "requestlimitexceeded": 429,
    "modelnotreadyexception": 429,
    "modeltimeoutexception": 408,
    "internalserverexception": 500,
    "internalfailure": 500,
    "serviceunavailableexception": 503,
}
# A SigV4 signature dated more than five minutes from AWS's clock: under its own name,
# or as an InvalidSignatureException whose message says so.
_CLOCK_KINDS = {"requestexpired", "requesttimetooskewed", "requestinthefuture"}
_CLOCK_MESSAGES = ("signature expired", "signature not yet current")
_CLOCK_HINT = (
    "this machine's clock is more than 5 minutes off AWS's, and SigV4 signatures carry"
    " the time they were made: set the clock right (turn on NTP time sync, e.g."
    " `timedatectl set-ntp true`); the credentials are not at fault"
)

_QUOTA_HINT = "the account's Bedrock quota is used up: wait, or ask AWS for a higher quota"
_DAILY_HINT = (
    "the account's Bedrock quota of tokens per day for this model is used up: retrying"
    " today will not help; route the call elsewhere (fallbacks), or ask AWS for a higher"
    " quota (Service Quotas, 'tokens per day')"
)
#: What AWS's Responsible AI filters say when they refuse a prompt or an input image
#: ("This request has been blocked by our content filters. Please adjust your text
#: prompt to submit a new request.") and, in a 200 answer's ``error``, the images.
CONTENT_FILTER_MARKER = "blocked by our content filters"
_FILTER_HINT = "the prompt was refused by AWS's content filters: rephrase it"


def error_kind(headers: Mapping[str, str], body: bytes) -> str | None:
    """The AWS error name of an HTTP error response (``ThrottlingException``), if any."""
    raw = headers.get("x-amzn-errortype")
    if not raw:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        raw = data.get("__type") if isinstance(data, dict) else None
    if not raw:
        return None
    # "ThrottlingException:http://internal.amazon.com/..." or "com.amazon.coral#ThrottlingException"
    return str(raw).split(":", 1)[0].rsplit("#", 1)[-1] or None


def http_error(
    status: int, headers: Mapping[str, str], body: bytes, *, provider: str, model: str | None
) -> RelayError:
    """The typed error for a Bedrock HTTP error response whose body has been read."""
    message, _, _ = parse_error_body(body)
    return typed_error(status, error_kind(headers, body), message, provider=provider, model=model)


#: the fix a Messages API 400 most often needs, beside what the model said, when no
#: more specific one fits (Claude refusing a turn's thinking: see typed_error)
MESSAGES_400_HINT = (
    "drop the parameter the message names (Claude Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable "
    "and Mythos take no temperature, top_p or top_k, and Opus 4.7 on no thinking budget), "
    "and use an inference profile id (global.anthropic.claude-..., us.anthropic.claude-...) "
    "where Bedrock refuses the model id"
)


def messages_http_error(
    status: int, headers: Mapping[str, str], body: bytes, *, provider: str, model: str | None
) -> RelayError:
    """The typed error for an HTTP error of the Messages API route: AWS's own shape or
    Anthropic's (``{"type": "error", "error": {"type": ..., "message": ...}}``)."""
    error = http_error(status, headers, body, provider=provider, model=model)
    return _with_messages_hint(error, status)


def messages_typed_error(
    status: int, kind: str | None, message: str, *, provider: str, model: str | None
) -> RelayError:
    """:func:`typed_error` on the Messages API route (an ``error`` event of a stream that
    has not started): hinted as :func:`messages_http_error` hints the same refusal
    answered over HTTP."""
    error = typed_error(status, kind, message, provider=provider, model=model)
    return _with_messages_hint(error, status)


def _with_messages_hint(error: RelayError, status: int) -> RelayError:
    """``error`` with :data:`MESSAGES_400_HINT` if it is a 400 refusal that no more
    specific hint fits."""
    if isinstance(error, InvalidRequestError) and status == 400 and error.hint is None:
        error.hint = MESSAGES_400_HINT
    return error


def typed_error(
    status: int, kind: str | None, message: str, *, provider: str, model: str | None
) -> RelayError:
    """The typed error for Bedrock error ``kind`` (any case) with ``status`` and ``message``."""
    message = message or f"HTTP {status} with no error message"
    text = f"{kind}: {message}" if kind else message
    key = (kind or "").lower()
    if key in _CLOCK_KINDS or (
        key in _AUTH_KINDS and any(m in message.lower() for m in _CLOCK_MESSAGES)
    ):
        # Signed again on the same clock it fails again: not retried.
        return AuthenticationError(
            text,
            provider=provider,
            model=model,
            status=status,
            provider_message=text,
            hint=_CLOCK_HINT,
        )
    if key in _AUTH_KINDS:
        return AuthenticationError(
            text,
            provider=provider,
            model=model,
            status=status,
            provider_message=text,
            hint=_AUTH_HINT,
        )
    if key in ("modelerrorexception", "modelstreamerrorexception"):
        # A failure inside the model, not in the request: worth another try.
        return ProviderUnavailableError(
            text, provider=provider, model=model, status=status, provider_message=text
        )
    if status == 400 and CONTENT_FILTER_MARKER in message.lower():
        return ContentFilterError(
            text,
            provider=provider,
            model=model,
            status=status,
            provider_message=text,
            hint=_FILTER_HINT,
        )
    if key == "servicequotaexceededexception":
        return RateLimitError(
            text,
            provider=provider,
            model=model,
            status=status,
            provider_message=text,
            hint=_QUOTA_HINT,
        )
    error = error_for_status(
        _KIND_STATUS.get(key, status), text, provider=provider, model=model, code=kind
    )
    error.status = status  # typed by its name, reported with the status it came with
    if (key == "throttlingexception" or status == 429) and "per day" in message.lower():
        # "Too many tokens per day": a daily quota, which no backoff of seconds waits
        # out (botocore retries it to "reached max retries"); a fallback may serve it.
        # By status too: the Messages API may name it rate_limit_error, or not at all.
        error.should_retry = False
        error.hint = _DAILY_HINT
        return error
    if status == 400 and error.hint is None and _ON_DEMAND_MARKER in message.lower():
        error.hint = _profile_hint(model)
    # Claude refusing a turn's thinking (on either API): say how to send it back.
    return hint_thinking(error)


#: what Bedrock says of a model it serves through inference profiles alone, called by
#: its model id ("Invocation of model ID ... with on-demand throughput isn't supported.
#: Retry your request with the ID or ARN of an inference profile that contains this model.")
_ON_DEMAND_MARKER = "with on-demand throughput"


def _profile_hint(model: str | None) -> str:
    """The fix for a model called by its id that Bedrock serves through inference
    profiles alone: the profile ids it goes by."""
    if not model:
        model = "MODEL_ID"
    return (
        f"call it by an inference profile id: the model id after its geography's prefix"
        f" (us.{model}, eu.{model}, apac.{model}) or global.{model} where AWS offers one;"
        " `aws bedrock list-inference-profiles` lists those of the region"
    )


def stream_exception(
    kind: str, payload: bytes, *, started: bool, provider: str, model: str | None
) -> RelayError:
    """The error for an ``exception`` message inside ConverseStream.

    Before any event reached the caller it is the same typed error as over HTTP
    (so the core can retry a throttled or failed stream); afterwards it is a
    :class:`relaykit.StreamError` naming the exception (and as retryable as the
    typed error would be), since a stream that has started is never retried.
    """
    message, _, _ = parse_error_body(payload)
    status = STREAM_EXCEPTION_STATUS.get(kind.lower(), 500)
    typed = typed_error(status, kind, message, provider=provider, model=model)
    if not started:
        return typed
    message = message or "no message"
    return StreamError(
        f"{kind} in the stream: {message}",
        provider=provider,
        model=model,
        status=status,
        provider_message=f"{kind}: {message}",
        # The core does not retry a started stream, but a caller may: say whether it helps
        # (not for a daily quota used up, whatever its kind says).
        retryable=typed.retryable and typed.should_retry is not False,
        hint=typed.hint,
    )
