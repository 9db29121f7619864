"""Anthropic batches that must not be created twice, and Message Batches' limits.

A Message Batch carries no metadata to find it again by, so a create whose answer
was lost is an error saying the batch may exist (never a second create); a batch
over 100,000 requests or 256 MB is refused before sending. Every call goes over
loopback HTTP to :class:`AnthropicMock`.
"""

from __future__ import annotations

import pytest

import relaykit
from relaykit import BatchItem, InvalidRequestError, ProviderUnavailableError, RequestTimeoutError
from relaykit.testing import Reply
from relaykit_anthropic import batches, mock_batches
from relaykit_anthropic.testing import AnthropicMock

from .conftest import KEY

pytestmark = pytest.mark.anyio
MODEL = "anthropic/claude-haiku-4-5"


def client(mock: AnthropicMock, **timeouts: float) -> relaykit.Client:
    config = {
        "storage": {"backend": "none"},
        "timeouts": timeouts,
        "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
    }
    return relaykit.Client(config, env={})


def creates(mock: AnthropicMock) -> int:
    return sum(1 for r in mock.requests if r.method == "POST" and r.path == "/v1/messages/batches")


async def test_a_create_whose_answer_was_lost_is_one_batch_and_an_error_saying_so(
    mock: AnthropicMock,
) -> None:
    mock.batch_script.push(Reply(answer_lost="reset"))
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi"), BatchItem("b", "ho")])
    e = caught.value
    assert not e.retryable and "may have been created" in e.message
    assert e.hint and "2 items to claude-haiku-4-5" in e.hint
    assert "client.batch('anthropic/ID')" in e.hint
    assert len(mock.batches.batches) == 1 and creates(mock) == 1
    assert KEY not in repr(e)


async def test_a_create_that_outlives_the_total_timeout_may_have_made_a_batch(
    mock: AnthropicMock,
) -> None:
    mock.batch_script.push(Reply(delay=1.0))
    async with client(mock, total=0.2) as c:
        with pytest.raises(RequestTimeoutError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    e = caught.value
    assert "no answer to the batch's submission" in e.message
    assert "may have been created" in e.message and not e.retryable


async def test_a_refusal_that_says_nothing_was_done_stays_retryable(mock: AnthropicMock) -> None:
    mock.batch_script.push(Reply.failure(529, "Overloaded"))
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    assert caught.value.retryable and "may have been" not in str(caught.value)


async def test_a_batch_over_256_mb_is_refused_before_sending(
    mock: AnthropicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "MAX_BYTES", 2_000)
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="over Anthropic's limit of 256 MB"):
            await c.submit_batch(MODEL, [BatchItem(f"i{i}", "hi " * 100) for i in range(5)])
    assert not mock.requests


async def test_the_mock_refuses_an_oversized_batch_in_anthropics_words(
    mock: AnthropicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mock_batches, "MAX_BODY_BYTES", 2_000)
    async with client(mock) as c:
        with pytest.raises(relaykit.RelayError, match="maximum allowed number of bytes") as e:
            await c.submit_batch(MODEL, [BatchItem(f"i{i}", "hi " * 100) for i in range(5)])
    assert e.value.status == 413 and not mock.batches.batches
