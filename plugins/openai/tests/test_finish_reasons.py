"""Every finish reason of Chat Completions and the Responses API over loopback, streamed
and not: the answer's ``finish_reason`` and the stream's ``Finish``, with the vendor's word."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.events import Finish
from relaykit.response import FinishReason
from relaykit.testing import OpenAIMock, Reply, answer_and_stream, one_try_config

KEY = "sk-test-0123456789abcdef0123"

#: Chat Completions' ``finish_reason`` values (OpenAI's and compatible services'), and
#: relaykit's word for each; one added after this was written is "other"
CHAT_REASONS = [
    ("stop", "stop"),
    ("length", "length"),
    ("content_filter", "content_filter"),
    ("model_length", "length"),  # Mistral: the context window ran out
    ("eos", "stop"),  # Together
    ("a_reason_from_the_future", "other"),
]

#: the Responses API's ``incomplete_details.reason`` values, and relaykit's word for each
INCOMPLETE_REASONS = [
    ("max_output_tokens", "length"),
    ("content_filter", "content_filter"),
    ("a_reason_from_the_future", "other"),
]


def client(mock: OpenAIMock, **options: Any) -> relaykit.Client:
    provider = {"base_url": mock.base_url, "api_key": KEY, **options}
    return relaykit.Client(one_try_config({"openai": provider}))


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), CHAT_REASONS)
async def test_each_chat_completions_finish_reason(
    mock: OpenAIMock, said: str, reason: FinishReason
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r, finishes, s = await answer_and_stream(c, "openai/gpt-4o-mini", events=Finish)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]


@pytest.mark.anyio
async def test_a_tool_call_finish(mock: OpenAIMock) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),))
    mock.script.push(call, call)
    async with client(mock) as c:
        r, finishes, s = await answer_and_stream(c, "openai/gpt-4o-mini", events=Finish)
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "tool_calls")]
    assert r.tool_calls[0].arguments == s.tool_calls[0].arguments == {"q": "x"}


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), INCOMPLETE_REASONS)
async def test_each_reason_a_response_is_incomplete(
    mock: OpenAIMock, said: str, reason: FinishReason
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock, api="responses") as c:
        r, finishes, s = await answer_and_stream(c, "openai/gpt-4o-mini", events=Finish)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]


# -- a response that failed ---------------------------------------------------------

#: the Responses API's failure codes (openai-python's ResponseError), the typed error
#: each is, and whether another attempt may succeed
FAILURES = [
    ("server_error", relaykit.ProviderUnavailableError, True),
    ("rate_limit_exceeded", relaykit.RateLimitError, True),
    ("vector_store_timeout", relaykit.ProviderUnavailableError, True),
    ("invalid_prompt", relaykit.InvalidRequestError, False),
    ("invalid_image_url", relaykit.InvalidRequestError, False),
    ("image_too_large", relaykit.InvalidRequestError, False),
    ("a_code_from_the_future", relaykit.ProviderUnavailableError, True),
]


def retrying(mock: OpenAIMock, attempts: int) -> relaykit.Client:
    provider = {"base_url": mock.base_url, "api_key": KEY, "api": "responses"}
    retry = {"attempts": attempts, "initial_wait": 0, "max_retry_after": 0}
    return relaykit.Client(one_try_config({"openai": provider}, retry=retry))


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "kind", "retryable"), FAILURES)
async def test_a_failed_response_is_the_typed_error_of_its_code(
    mock: OpenAIMock, code: str, kind: type[relaykit.RelayError], retryable: bool
) -> None:
    """``status: "failed"`` with ``error.code``: a refused prompt is not sent again,
    a rate limit is one (it was a retried 502 whatever the code said)."""
    failing = Reply(stream_fault="error", error="it failed", error_code=code)
    mock.script.push(failing, failing)
    async with retrying(mock, 2) as c:
        with pytest.raises(kind) as caught:
            await c.chat("openai/gpt-4o-mini", "Go on")
    assert caught.value.retryable is retryable
    assert caught.value.provider_message == "it failed"
    assert len(mock.requests) == (2 if retryable else 1)


@pytest.mark.anyio
@pytest.mark.parametrize("event", ["error", "response.failed"])
@pytest.mark.parametrize(("code", "kind", "retryable"), FAILURES)
async def test_a_stream_that_fails_says_so_as_its_code_does(
    mock: OpenAIMock,
    event: Any,
    code: str,
    kind: type[relaykit.RelayError],
    retryable: bool,
) -> None:
    """Before any text: the typed error, as a non-streamed call's; after some: a
    ``StreamError`` with the status the code stands for."""
    mock.responses_failure = event
    attempts = 2 if retryable else 1  # a refused prompt is not sent again
    mock.script.push(
        *[Reply(stream_fault="error", error="it failed", error_code=code)] * attempts,
        Reply(text="Half an answer", stream_fault="error", error="it failed", error_code=code),
    )
    async with retrying(mock, 2) as c:
        with pytest.raises(kind) as before:
            async with c.stream("openai/gpt-4o-mini", "Go on") as s:
                async for _ in s:
                    pass
        assert len(mock.requests) == attempts
        with pytest.raises(relaykit.StreamError) as after:
            async with c.stream("openai/gpt-4o-mini", "Go on") as s:
                async for _ in s:
                    pass
    assert before.value.retryable is retryable
    assert (after.value.status, after.value.retryable) == (before.value.status, retryable)
    assert after.value.partial is not None and after.value.partial.text == "Half an answer"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ({"code": 502, "message": "Provider returned error"}, 502),  # OpenRouter's
        ({"code": 429, "message": "Rate limited"}, 429),
        ({"code": 200, "message": "not an error status"}, 502),
        ({"type": "server_error", "code": None}, 500),
        ({"type": "tokens", "code": "rate_limit_exceeded"}, 429),
        ({"type": "invalid_request_error", "code": "context_length_exceeded"}, 400),
        ({"type": "a_type_from_the_future", "code": None}, 502),  # the upstream failed
        ("not an object", 502),
    ],
)
def test_the_status_an_error_chunk_stands_for(error: Any, status: int) -> None:
    from relaykit_openai import wire

    assert wire.error_status(error) == status


# -- usage ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("apart", [False, True], ids=["openai", "xai"])
async def test_output_tokens_include_the_reasoning_tokens_either_way(
    mock: OpenAIMock, apart: bool
) -> None:
    """OpenAI's ``completion_tokens`` include the reasoning tokens; xAI's leave them out
    (its ``total_tokens`` counts them beside): relaykit's ``output_tokens`` include them
    for both, as its convention says, so they are priced, streamed or not."""
    mock.reasoning_apart = apart
    reply = Reply(text="Short.", input_tokens=20, output_tokens=310, reasoning_tokens=300)
    mock.script.push(reply, reply)
    async with client(mock) as c:
        r, _, s = await answer_and_stream(c, "openai/gpt-4o-mini")
    assert r.usage == s.usage == relaykit.Usage(20, 310, reasoning_tokens=300)
    assert r.cost == s.cost


@pytest.mark.parametrize(
    ("total", "output"),
    [(20 + 310, 310), (20 + 10 + 300, 310), (None, 310)],
    ids=["openai", "reasoning-apart", "no-total"],
)
def test_a_responses_usage_whose_output_leaves_the_reasoning_out(
    total: int | None, output: int
) -> None:
    from relaykit_openai import responses_wire

    said = 310 if total != 20 + 10 + 300 else 10
    usage = {
        "input_tokens": 20,
        "output_tokens": said,
        "output_tokens_details": {"reasoning_tokens": 300},
        **({} if total is None else {"total_tokens": total}),
    }
    assert responses_wire.usage(usage) == relaykit.Usage(20, output, reasoning_tokens=300)
