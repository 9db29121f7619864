"""Error mapping, Retry-After parsing, and keeping secrets out of errors."""

from __future__ import annotations

import email.utils
import json
import pickle
import time
from typing import Any

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthError,
    InvalidRequestError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
    RequestTimeoutError,
    Secret,
)
from relaykit.errors import error_for_status
from relaykit.http_errors import error_from_http
from relaykit.retry_after import retry_after_seconds


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, InvalidRequestError, False),
        (401, AuthenticationError, False),
        (403, AuthenticationError, False),
        (404, NotFoundError, False),
        (408, RequestTimeoutError, True),
        # OpenAI's and Anthropic's SDKs retry a 409 (a lock timeout, a conflicting
        # request in flight): a transient conflict, not the caller's mistake
        (409, ProviderUnavailableError, True),
        (422, InvalidRequestError, False),
        (429, RateLimitError, True),
        (500, ProviderUnavailableError, True),
        (502, ProviderUnavailableError, True),
        (503, ProviderUnavailableError, True),
        (529, ProviderUnavailableError, True),
    ],
)
def test_status_mapping(status: int, kind: type[RelayError], retryable: bool) -> None:
    err = error_for_status(status, "nope", provider="p", model="m")
    assert type(err) is kind
    assert (err.status, err.retryable, err.provider, err.model) == (status, retryable, "p", "m")
    assert "p/m" in str(err) and "nope" in str(err)


def test_context_length_is_recognised_from_the_message() -> None:
    err = error_for_status(
        400, "This model's maximum context length is 8192 tokens", provider="p", model="m"
    )
    assert isinstance(err, ContextLengthError)
    assert isinstance(err, InvalidRequestError)


def test_retry_after_variants() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    assert retry_after_seconds({"retry-after": "0.25"}) == 0.25
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=now) == pytest.approx(30)
    assert (
        retry_after_seconds({"retry-after": email.utils.formatdate(now - 30, usegmt=True)}, now=now)
        == 0
    )
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    # Azure's own header, as the Azure SDKs read it, after retry-after-ms
    assert retry_after_seconds({"x-ms-retry-after-ms": "250", "retry-after": "1"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "100", "x-ms-retry-after-ms": "250"}) == 0.1


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "infinity", "-5", "1e400", "1_000"])
def test_a_retry_after_that_is_no_plain_number_is_no_wait(value: str) -> None:
    # float() took these: nan and -5 became 0 (retry at once, hammering the server),
    # inf and 1e400 became infinity (max_retry_after, whatever the server meant).
    # The OpenAI and Anthropic SDKs use their own backoff for them; so do we (None).
    assert retry_after_seconds({"retry-after": value}) is None
    assert retry_after_seconds({"retry-after-ms": value}) is None
    # a bad retry-after-ms no longer hides a good retry-after
    assert retry_after_seconds({"retry-after-ms": value, "retry-after": "3"}) == 3
    assert retry_after_seconds({"retry-after": "9" * 400}) is None  # inf once parsed


def test_an_http_date_without_a_zone_is_gmt(monkeypatch: pytest.MonkeyPatch) -> None:
    # "-0000" gave a naive datetime, which .timestamp() took for local time: off by
    # the machine's UTC offset (nine hours here) whenever its zone was not UTC.
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    try:
        now = 1_700_000_000.0
        date = email.utils.formatdate(now + 30, usegmt=True).replace("GMT", "-0000")
        assert retry_after_seconds({"retry-after": date}, now=now) == pytest.approx(30)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_date_out_of_range_is_no_wait() -> None:
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 99999 07:28:00 GMT"}) is None
    assert retry_after_seconds({"retry-after": "Wed, 32 Oct 2015 07:28:00 GMT"}) is None


@pytest.mark.parametrize("delay", ["1.2.3s", ".s", "-1s", "nans"])
def test_a_malformed_google_retry_delay_is_no_wait_not_a_crash(delay: str) -> None:
    # "1.2.3s" matched [0-9.]+ and float() raised ValueError out of error_from_http.
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    body = json.dumps({"error": {"message": "slow down", "details": [info]}}).encode()
    error = error_from_http(429, {}, body, provider="p", model="m")
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None
    good = body.replace(delay.encode(), b"7.5s")
    waits = error_from_http(429, {}, good, provider="p", model="m")
    assert isinstance(waits, RateLimitError) and waits.retry_after == 7.5


def test_error_from_http_reads_vendor_shapes() -> None:
    openai = (
        b'{"error": {"message": "Rate limit reached", "type": "requests",'
        b' "code": "rate_limit_exceeded"}}'
    )
    err = error_from_http(429, {"retry-after": "3"}, openai, provider="openai", model="m")
    assert isinstance(err, RateLimitError) and err.retry_after == 3
    google = (
        b'{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED", "details": '
        b'[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]}}'
    )
    err = error_from_http(429, {}, google, provider="gemini", model="m")
    assert isinstance(err, RateLimitError) and err.retry_after == 12
    assert err.provider_message == "Quota"
    ollama = b'{"error": "model \'x\' not found"}'
    assert isinstance(error_from_http(404, {}, ollama, provider="ollama", model="x"), NotFoundError)
    err = error_from_http(502, {}, b"<html>Bad gateway</html>", provider="p", model="m")
    assert isinstance(err, ProviderUnavailableError) and "Bad gateway" in str(err)
    err = error_from_http(
        400,
        {},
        b'{"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}',
        provider="a",
        model="m",
    )
    assert isinstance(err, ProviderUnavailableError)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("content_policy_violation", "This request has been blocked by our content filters."),
        ("moderation_blocked", "Your request was rejected."),
        ("contentFilter", "Request blocked."),
        (None, "Blocked by the content filter."),
    ],
)
def test_a_content_filters_refusal_is_typed_by_its_code_or_its_words(
    code: str | None, message: str
) -> None:
    body = {"error": {"code": code, "message": message, "type": "invalid_request_error"}}
    err = error_from_http(400, {}, json.dumps(body).encode(), provider="openai", model="m")
    assert isinstance(err, ContentFilterError) and err.provider_message == message
    plain = {"error": {"code": "invalid_value", "message": "Invalid 'size': '7x7'."}}
    other = error_from_http(400, {}, json.dumps(plain).encode(), provider="openai", model="m")
    assert type(other) is InvalidRequestError


def test_error_from_http_reads_azure_shapes() -> None:
    # Chat Completions: innererror.content_filter_result, the categories that fired named
    chat = (
        b'{"error": {"message": "The response was filtered due to the prompt triggering'
        b' Azure OpenAI\'s content management policy.", "type": null, "param": "prompt",'
        b' "code": "content_filter", "status": 400, "innererror": {"code":'
        b' "ResponsibleAIPolicyViolation", "content_filter_result": {"hate": {"filtered": false,'
        b' "severity": "safe"}, "jailbreak": {"filtered": true, "detected": true}, "violence":'
        b' {"filtered": true, "severity": "medium"}, "custom_blocklists": {"filtered": true,'
        b' "details": [{"filtered": true, "id": "banned-words"}]}}}}}'
    )
    err = error_from_http(400, {}, chat, provider="azure", model="gpt4o")
    assert isinstance(err, ContentFilterError)
    assert "(filtered: jailbreak, violence: medium, custom_blocklists: banned-words)" in str(err)
    assert "hate" not in err.message
    assert err.hint and "content filter" in err.hint
    # images: inner_error.content_filter_results, code contentFilter
    images = (
        b'{"error": {"code": "contentFilter", "message": "Your task failed as a result of our'
        b' safety system.", "inner_error": {"code": "ResponsibleAIPolicyViolation",'
        b' "content_filter_results": {"sexual": {"filtered": true, "severity": "high"}}}}}'
    )
    err = error_from_http(400, {}, images, provider="azure", model="dalle")
    assert isinstance(err, ContentFilterError) and "(filtered: sexual: high)" in str(err)
    # a wrong deployment name: the hint says which name to check
    missing = (
        b'{"error": {"code": "DeploymentNotFound",'
        b' "message": "The API deployment for this resource does not exist."}}'
    )
    err = error_from_http(404, {}, missing, provider="azure", model="gpt-4o")
    assert isinstance(err, NotFoundError)
    assert err.hint and "'gpt-4o' is not a deployment" in err.hint and "azure/" in err.hint
    # any other 404 keeps the generic hint
    other = error_from_http(404, {}, b'{"error": {"message": "nope"}}', provider="x", model="m")
    assert other.hint == NotFoundError.hint_default


def test_keys_never_appear_in_errors() -> None:
    key = "sk-proj-" + "A1b2C3d4" * 4
    err = error_for_status(401, f"Incorrect API key provided: {key}", provider="openai", model="m")
    for text in (str(err), repr(err), err.message, err.provider_message or ""):
        assert key not in text
        assert "[REDACTED]" in text


def test_keys_never_appear_in_a_hint() -> None:
    """The message was scrubbed and the hint not: a hint made from a user's value
    (``pip install relaykit-{backend}``) showed it whole."""
    dsn = "postgresql://app:s3cretPassw0rd@db.example.com:5432/logs"
    err = relaykit.ConfigError(f"no backend {dsn!r}", hint=f"pip install relaykit-{dsn}")
    for text in (str(err), repr(err), err.hint or ""):
        assert "s3cretPassw0rd" not in text


@pytest.mark.parametrize(
    "config",
    [
        {"storage": {"backend": "postgresql://app:s3cretPassw0rd@db.example.com:5432/logs"}},
        {"cache": {"enabled": True, "backend": "redis://:s3cretPassw0rd@cache:6379/0"}},
        {
            "limiter": {"backend": "redis://:s3cretPassw0rd@cache:6379/0"},
            "limits": {"a/*": {"rpm": 5}},
        },
    ],
    ids=["storage", "cache", "limiter"],
)
def test_a_connection_string_given_as_a_backend_is_refused_without_its_password(
    config: dict[str, Any],
) -> None:
    """A DSN written in ``backend`` rather than ``dsn``/``url`` came back in the
    error's hint, password and all: "pip install relaykit-postgresql://app:s3cret..."."""
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Client(config, env={})
    assert "s3cretPassw0rd" not in str(info.value)


def test_secret_hides_itself() -> None:
    s = Secret("sk-ant-api03-verysecretvalue")
    assert "verysecret" not in repr(s) and "verysecret" not in str(s) and "verysecret" not in f"{s}"
    assert s.reveal() == "sk-ant-api03-verysecretvalue"


def test_errors_pickle_with_their_fields() -> None:
    err = RateLimitError("slow", provider="p", model="m", status=429, retry_after=2.0)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RateLimitError
    assert (back.retry_after, back.status, str(back)) == (2.0, 429, str(err))


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retry_after_rides_on_every_retried_status(status: int) -> None:
    # Anthropic's 529 (overloaded) and a 503 carry the wait as a 429 does: the
    # retry honours it for each, as the OpenAI and Anthropic SDKs do.
    headers = {"retry-after": "7", "retry-after-ms": "nan"}
    body = b'{"error": {"message": "x"}}'
    error = error_from_http(status, headers, body, provider="p", model="m")
    assert isinstance(error, RateLimitError | ProviderUnavailableError | RequestTimeoutError)
    assert (error.status, error.retry_after, error.retryable) == (status, 7, True)
