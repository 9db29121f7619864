"""AWS error names that decide the error whatever the HTTP status says, SigV4 clock skew,
and exceptions that come with no message, over real loopback HTTP."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
    StreamError,
)
from relaykit.testing import LoopbackServer, Reply, Request, Response
from relaykit_bedrock.aws_errors import http_error
from relaykit_bedrock.testing import BedrockMock, encode_message, event_frame

from .conftest import MakeClient

MODEL = "bedrock/amazon.nova-micro-v1:0"


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        # AWS's JSON protocols answer throttling with 400 on some endpoints (the SDKs
        # retry it by its name, whatever the status: botocore's throttled error codes)
        ("ThrottlingException", RateLimitError),
        ("TooManyRequestsException", RateLimitError),
        ("ServiceUnavailableException", ProviderUnavailableError),
        ("InternalServerException", ProviderUnavailableError),
    ],
)
@pytest.mark.anyio
async def test_a_retryable_aws_error_under_status_400_is_typed_by_its_name_and_retried(
    mock: BedrockMock, make_client: MakeClient, kind: str, error_type: type[relaykit.RelayError]
) -> None:
    mock.script.fail(400, "Rate exceeded", code=kind)
    async with make_client() as client:
        with pytest.raises(error_type) as info:
            await client.chat(MODEL, "go")
    err = info.value
    assert err.status == 400  # the status as sent
    assert err.retryable
    assert err.provider_message == f"{kind}: Rate exceeded"
    mock.script.fail(400, "Rate exceeded", code=kind)
    mock.script.reply("after the retry")
    async with make_client(retry=2) as client:
        answer = await client.chat(MODEL, "go")
    assert answer.text == "after the retry"


@pytest.mark.anyio
async def test_a_validation_error_stays_an_invalid_request(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.fail(400, "Malformed input request", code="ValidationException")
    async with make_client(retry=2) as client:
        with pytest.raises(InvalidRequestError):
            await client.chat(MODEL, "go")
    assert len(mock.requests) == 1


#: what AWS answers a SigV4 signature dated more than five minutes from its clock
EXPIRED = (
    "Signature expired: 20261205T140000Z is now earlier than 20261205T140500Z "
    "(20261205T141000Z - 5 min.)"
)
NOT_YET = (
    "Signature not yet current: 20261205T150000Z is still later than 20261205T140500Z "
    "(20261205T140000Z + 5 min.)"
)


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (403, "InvalidSignatureException", EXPIRED),
        (403, "InvalidSignatureException", NOT_YET),
        (400, "RequestExpired", "Request has expired."),
        (
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ),
    ],
)
@pytest.mark.anyio
async def test_clock_skew_names_the_clock_not_the_credentials(
    mock: BedrockMock, make_client: MakeClient, status: int, kind: str, message: str
) -> None:
    mock.script.fail(status, message, code=kind)
    async with make_client(retry=2) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.chat(MODEL, "go")
    err = info.value
    assert err.hint is not None
    assert "clock" in err.hint
    assert "AWS_SECRET_ACCESS_KEY" not in err.hint  # the credentials are fine
    assert err.status == status
    assert len(mock.requests) == 1  # signed again on the same clock, it fails again


@pytest.mark.anyio
async def test_a_stream_exception_without_a_message_says_so() -> None:
    start = event_frame("messageStart", {"role": "assistant"})
    bare = encode_message(
        {":message-type": "exception", ":exception-type": "throttlingException"}, b""
    )

    async def handler(request: Request) -> Response:
        return Response(200, {"content-type": "application/vnd.amazon.eventstream"}, [start, bare])

    with LoopbackServer(handler) as server:
        providers = {"bedrock": {"base_url": server.url, "region": "us-east-1"}}
        client = relaykit.Client(
            {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
        )
        async with client:
            with pytest.raises(RateLimitError) as info:
                async with client.stream(MODEL, "go") as s:
                    async for _ in s:
                        pass
    err: Any = info.value
    assert not isinstance(err, StreamError)
    assert "None" not in str(err)
    assert err.provider_message == "throttlingException: HTTP 429 with no error message"


@pytest.mark.anyio
async def test_a_quota_exception_in_the_stream_carries_its_http_status(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # ConverseStream documents ServiceQuotaExceededException as an HTTP 400
    mock.script.push(
        Reply(stream_fault="error", error_code="serviceQuotaExceededException", error="quota")
    )
    async with make_client() as client:
        with pytest.raises(RateLimitError) as info:
            async with client.stream(MODEL, "go") as s:
                async for _ in s:
                    pass
    assert info.value.status == 400


def test_too_many_tokens_under_400_is_throttling_not_a_context_overflow() -> None:
    # "too many tokens" reads as a context overflow under a 400: the name says otherwise
    body = b'{"message": "Too many tokens, please wait before trying again."}'
    headers = {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/"}
    err = http_error(400, headers, body, provider="bedrock", model="m")
    assert type(err) is RateLimitError
    assert (err.status, err.retryable) == (400, True)


#: what Bedrock answers a model served through inference profiles alone, called by its id
ON_DEMAND = (
    "Invocation of model ID anthropic.claude-sonnet-4-5-20250929-v1:0 with on-demand "
    "throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference "
    "profile that contains this model."
)


@pytest.mark.anyio
async def test_a_model_served_through_inference_profiles_names_the_profile_id(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.fail(400, ON_DEMAND, code="ValidationException")
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0", "go")
    hint = info.value.hint
    assert hint is not None
    assert "us.anthropic.claude-sonnet-4-5-20250929-v1:0" in hint
    assert "global.anthropic.claude-sonnet-4-5-20250929-v1:0" in hint
