"""ConverseStream edge cases and Bedrock's error mapping, over real loopback HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
    RequestTimeoutError,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from relaykit.events import Finish, ReasoningDelta, StreamStart, UsageUpdate
from relaykit.testing import LoopbackServer, Reply, Request, Response
from relaykit.testing.loopback import Reset
from relaykit_bedrock.aws_errors import error_kind
from relaykit_bedrock.testing import BedrockMock, encode_message, event_frame, exception_frame

from .conftest import MakeClient

E = TypeVar("E", bound=BaseException)
MODEL = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"
START = event_frame("messageStart", {"role": "assistant"})
STOP = event_frame("messageStop", {"stopReason": "end_turn"})


def delta(text: str, index: int = 0) -> bytes:
    return event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": text}})


@pytest.fixture
def raw_server() -> Iterator[Callable[[Iterable[bytes | Reset]], relaykit.Client]]:
    """A bare loopback server streaming given bytes (no auth check): for malformed streams."""
    frames: list[bytes | Reset] = []

    async def handler(request: Request) -> Response:
        return Response(200, {"content-type": "application/vnd.amazon.eventstream"}, list(frames))

    with LoopbackServer(handler) as server:

        def client(body: Iterable[bytes | Reset]) -> relaykit.Client:
            frames[:] = list(body)
            providers = {"bedrock": {"base_url": server.url, "region": "us-east-1"}}
            return relaykit.Client(
                {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
            )

        yield client


async def collect(client: relaykit.Client) -> tuple[list[Any], relaykit.ChatResponse]:
    async with client, client.stream(MODEL, "go") as s:
        events = [e async for e in s]
    return events, s.response


async def failure(client: relaykit.Client, error_type: type[E], match: str | None = None) -> E:
    """The error a stream raises. (Caught inside the client block: an error leaving
    ``async with relaykit.Client()`` currently arrives wrapped in an ExceptionGroup.)"""

    async def consume() -> None:
        async with client.stream(MODEL, "go") as s:
            async for _ in s:
                pass

    async with client:
        with pytest.raises(error_type, match=match) as info:
            await consume()
    return info.value


# -- the happy path in detail ----------------------------------------------------


@pytest.mark.anyio
async def test_event_sequence(mock: BedrockMock, make_client: MakeClient) -> None:
    mock.script.push(
        Reply(
            text="Hi there",
            reasoning="think",
            tool_calls=(("f", {"a": 1}),),
            input_tokens=9,
            output_tokens=4,
            cached_input_tokens=5,
        )
    )
    events, r = await collect(make_client())
    assert events[0] == StreamStart(r.id, "us.anthropic.claude-haiku-4-5-20251001-v1:0")
    assert r.id  # AWS's request id, from the x-amzn-requestid header
    assert [e.text for e in events if isinstance(e, ReasoningDelta) and e.text] == ["think"]
    assert [e.signature for e in events if isinstance(e, ReasoningDelta) and e.signature] == [
        r.reasoning_signature
    ]
    assert next(e for e in events if isinstance(e, ToolCallDelta)) == ToolCallDelta(
        0, "tooluse_1_0", "f", ""
    )
    assert events[-2] == Finish("tool_calls", "tool_use")
    assert events[-1] == UsageUpdate(Usage(9, 4, 5, 0))
    assert (r.text, r.reasoning, r.usage) == ("Hi there", "think", Usage(9, 4, 5, 0))
    assert r.tool_calls[0].arguments == {"a": 1}


@pytest.mark.anyio
async def test_frames_cut_across_http_chunks(make_client: MakeClient) -> None:
    with BedrockMock(chunk_size=7) as mock:
        mock.script.push(
            Reply(
                text="Cut into seven-byte pieces, frames straddle chunks.",
                tool_calls=(("f", {"x": "y"}),),
            )
        )
        client = relaykit.Client(
            {"storage": {"backend": "none"}, "providers": {"bedrock": {"base_url": mock.base_url}}}
        )
        events, r = await collect(client)
    assert r.text == "Cut into seven-byte pieces, frames straddle chunks."
    assert r.tool_calls[0].arguments == {"x": "y"}
    assert sum(isinstance(e, TextDelta) for e in events) > 1


@pytest.mark.anyio
async def test_a_stream_without_metadata_is_complete_after_message_stop(raw_server: Any) -> None:
    _, r = await collect(raw_server([START, delta("done"), STOP]))
    assert (r.text, r.finish_reason) == ("done", "stop")
    # No usage came: relaykit's estimate (a token per 4 characters), marked so.
    assert (r.usage.output_tokens, r.usage_estimated) == (1, True)


METADATA = event_frame(
    "metadata",
    {"usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}, "metrics": {"latencyMs": 9}},
)


def _corrupt(frame: bytes) -> bytes:
    bad = bytearray(frame)
    bad[-2] ^= 0x40
    return bytes(bad)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tail", "why"),
    [
        ([METADATA[:-5]], "cut short"),
        ([METADATA[:12], Reset()], "connection"),
        ([Reset()], "connection"),
        ([_corrupt(METADATA)], "CRC"),
    ],
    ids=["cut-frame", "reset-mid-frame", "reset", "corrupt-frame"],
)
async def test_losing_the_metadata_after_message_stop_keeps_the_answer_with_usage_estimated(
    raw_server: Any, caplog: pytest.LogCaptureFixture, tail: list[Any], why: str
) -> None:
    # messageStop says the answer is whole; only its usage, in metadata, was lost:
    # the answer stands, its usage is relaykit's estimate, marked so, and a warning says why.
    with caplog.at_level(logging.WARNING, logger="relaykit.bedrock"):
        events, r = await collect(raw_server([START, delta("done"), STOP, *tail]))
    assert (r.text, r.finish_reason) == ("done", "stop")
    assert isinstance(events[-1], Finish)
    assert (r.usage.output_tokens, r.usage_estimated) == (1, True)
    (record,) = [x for x in caplog.records if x.name == "relaykit.bedrock"]
    assert "metadata" in record.getMessage() and "estimated" in record.getMessage()
    assert why in record.getMessage()


@pytest.mark.anyio
async def test_a_connection_broken_before_message_stop_is_still_a_stream_error(
    raw_server: Any,
) -> None:
    err = await failure(raw_server([START, delta("half"), Reset()]), StreamError)
    assert err.partial is not None and err.partial.text == "half"


# -- broken streams ----------------------------------------------------------------


@pytest.mark.anyio
async def test_ending_before_message_stop_is_a_stream_error(raw_server: Any) -> None:
    err = await failure(
        raw_server([START, delta("half an ans")]), StreamError, "before messageStop"
    )
    assert err.partial is not None
    assert err.partial.text == "half an ans"


@pytest.mark.anyio
async def test_a_truncated_frame_is_a_stream_error(raw_server: Any) -> None:
    await failure(raw_server([START, delta("ok"), STOP[:-5]]), StreamError, "before messageStop")


@pytest.mark.anyio
async def test_a_corrupted_crc_is_a_stream_error(raw_server: Any) -> None:
    bad = bytearray(delta(" world"))
    bad[-2] ^= 0x40
    client = raw_server([START, delta("hello"), bytes(bad), STOP])
    err = await failure(client, StreamError, "message CRC mismatch")
    assert err.partial is not None
    assert err.partial.text == "hello"


@pytest.mark.anyio
async def test_an_event_that_is_not_json_is_a_stream_error(raw_server: Any) -> None:
    garbage = encode_message(
        {":message-type": "event", ":event-type": "contentBlockDelta"}, b"{nope"
    )
    await failure(raw_server([START, delta("ok"), garbage]), StreamError, "not JSON")


@pytest.mark.anyio
async def test_the_generic_error_message_type(raw_server: Any) -> None:
    generic = encode_message(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b""
    )
    client = raw_server([START, delta("partial"), generic])
    await failure(client, StreamError, "InternalFailure in the stream: boom")


# -- exceptions inside the stream ---------------------------------------------------


@pytest.mark.anyio
async def test_throttling_before_content_is_a_typed_error_and_retried(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.push(
        Reply(stream_fault="error", error_code="throttlingException", error="Too many tokens")
    )
    mock.script.reply("after the retry")
    _, r = await collect(make_client(retry=2))
    assert r.text == "after the retry"
    assert r.attempts == 2
    assert len(mock.requests) == 2


@pytest.mark.parametrize(
    ("kind", "error_type", "status"),
    [
        ("throttlingException", RateLimitError, 429),
        ("serviceUnavailableException", ProviderUnavailableError, 503),
        ("internalServerException", ProviderUnavailableError, 500),
        ("modelStreamErrorException", ProviderUnavailableError, 424),
        ("validationException", InvalidRequestError, 400),
        ("modelTimeoutException", RequestTimeoutError, 408),
    ],
)
@pytest.mark.anyio
async def test_exceptions_before_content_are_typed(
    mock: BedrockMock,
    make_client: MakeClient,
    kind: str,
    error_type: type[relaykit.RelayError],
    status: int,
) -> None:
    mock.script.push(Reply(stream_fault="error", error_code=kind, error="the reason"))
    err = await failure(make_client(), error_type)
    assert not isinstance(err, StreamError)
    assert err.status == status
    assert kind in str(err)


@pytest.mark.parametrize(
    ("kind", "status", "retryable"),
    [
        ("throttlingException", 429, True),
        ("serviceUnavailableException", 503, True),
        ("internalServerException", 500, True),
        ("modelStreamErrorException", 424, True),
        ("validationException", 400, False),
    ],
)
@pytest.mark.anyio
async def test_exceptions_after_content_are_stream_errors_naming_the_type(
    mock: BedrockMock, make_client: MakeClient, kind: str, status: int, retryable: bool
) -> None:
    mock.script.push(
        Reply(text="some text", stream_fault="error", error_code=kind, error="slow down")
    )
    err = await failure(make_client(retry=3), StreamError)
    assert kind in str(err)
    assert (err.status, err.provider_message) == (status, f"{kind}: slow down")
    # Not retried here, but the caller may: the same verdict as before content.
    assert err.retryable is retryable
    assert err.partial is not None
    assert err.partial.text == "some text"
    assert len(mock.requests) == 1  # a started stream is never retried


#: What Amazon Nova says for a prompt larger than its context window.
NOVA_TOO_LONG = "Input Tokens Exceeded: Number of input tokens exceeds maximum length"


@pytest.mark.parametrize("message", ["Input is too long for requested model.", NOVA_TOO_LONG])
@pytest.mark.anyio
async def test_a_context_overflow_inside_the_stream(raw_server: Any, message: str) -> None:
    too_long = exception_frame("validationException", message)
    await failure(raw_server([START, too_long]), ContextLengthError)


# -- HTTP errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "message", "error_type"),
    [
        (400, "ValidationException", "Input is too long for requested model.", ContextLengthError),
        (
            400,
            "ValidationException",
            "The model returned the following errors: input length and `max_tokens` exceed "
            "context limit: 199000 + 4096 > 200000, decrease input length or `max_tokens`",
            ContextLengthError,
        ),
        (400, "ValidationException", NOVA_TOO_LONG, ContextLengthError),
        (400, "ValidationException", "Malformed input request", InvalidRequestError),
        (
            400,
            "ValidationException",
            "This request has been blocked by our content filters. "
            "Please adjust your text prompt to submit a new request.",
            ContentFilterError,
        ),
        (400, "ServiceQuotaExceededException", "quota", RateLimitError),
        (403, "AccessDeniedException", "You don't have access to the model", AuthenticationError),
        (403, "UnrecognizedClientException", "The security token is invalid.", AuthenticationError),
        (
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
            AuthenticationError,
        ),
        (408, "ModelTimeoutException", "took too long", RequestTimeoutError),
        (424, "ModelErrorException", "model failed", ProviderUnavailableError),
        (429, "ModelNotReadyException", "warming up", RateLimitError),
        (429, "ThrottlingException", "Too many requests", RateLimitError),
        (503, "ServiceUnavailableException", "unavailable", ProviderUnavailableError),
    ],
)
@pytest.mark.anyio
async def test_http_errors(
    mock: BedrockMock,
    make_client: MakeClient,
    status: int,
    kind: str,
    message: str,
    error_type: type[relaykit.RelayError],
) -> None:
    mock.script.fail(status, message, code=kind)
    async with make_client() as client:
        with pytest.raises(error_type) as info:
            await client.chat(MODEL, "fail")
    err = info.value
    assert (err.status, err.provider_message) == (status, f"{kind}: {message}")
    assert str(err).count(kind) == 1
    if isinstance(err, RateLimitError):
        assert err.retry_after is None  # Bedrock sends no Retry-After
        assert err.retryable


#: what Bedrock says when an account's daily token quota is used up (a new account's
#: Claude quota; botocore retries it to "reached max retries" all the same)
PER_DAY = "Too many tokens per day, please wait before trying again."


@pytest.mark.anyio
async def test_a_daily_quota_used_up_is_not_retried(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.fail(429, PER_DAY, code="ThrottlingException")
    mock.script.reply("too late")
    async with make_client(retry=3) as client:
        with pytest.raises(RateLimitError) as info:
            await client.chat(MODEL, "go")
    assert len(mock.requests) == 1
    assert info.value.should_retry is False
    assert info.value.hint is not None and "tokens per day" in info.value.hint


@pytest.mark.anyio
async def test_a_daily_quota_used_up_in_the_stream_is_not_retried(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.reply(stream_fault="error", error_code="throttlingException", error=PER_DAY)
    mock.script.reply("too late")
    async with make_client(retry=3) as client:
        with pytest.raises(RateLimitError) as info:
            async with client.stream(MODEL, "go") as s:
                async for _ in s:
                    pass
    assert len(mock.requests) == 1
    assert info.value.should_retry is False


@pytest.mark.anyio
async def test_a_per_minute_throttle_is_retried(mock: BedrockMock, make_client: MakeClient) -> None:
    mock.script.fail(
        429, "Too many tokens, please wait before trying again.", code="ThrottlingException"
    )
    mock.script.reply("Hello")
    async with make_client(retry=2) as client:
        answer = await client.chat(MODEL, "go")
    assert answer.text and len(mock.requests) == 2


def test_error_kind_from_header_or_body() -> None:
    header = {
        "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    }
    assert error_kind(header, b"") == "ThrottlingException"
    body = b'{"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "x"}'
    assert error_kind({}, body) == "UnrecognizedClientException"
    assert error_kind({}, b"not json") is None
