"""OpenAI batches that must not be created twice, and the Batch API's limits.

A submit whose create reached OpenAI but whose answer was lost is found again by
the ``metadata.relaykit_submission`` tag relaykit set, never sent twice; a batch
over OpenAI's limits is refused before anything is uploaded. Every call goes over
loopback HTTP to :class:`OpenAIMock`.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

import relaykit
from relaykit import BatchItem, InvalidRequestError, ProviderUnavailableError
from relaykit.testing import OpenAIMock, Reply
from relaykit.testing import openai_batches as mock_batches
from relaykit_openai import batches

from .conftest import KEY

pytestmark = pytest.mark.anyio
MODEL = "openai/gpt-4o-mini"


def client(mock: OpenAIMock, **sections: Any) -> relaykit.Client:
    config = {
        "storage": {"backend": "none"},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        **sections,
    }
    return relaykit.Client(config, env={})


def creates(mock: OpenAIMock) -> int:
    return sum(1 for r in mock.requests if r.method == "POST" and r.path == "/v1/batches")


@pytest.mark.parametrize("lost", ["drop", "reset"])
async def test_a_create_whose_answer_was_lost_is_found_by_its_tag_not_sent_again(
    mock: OpenAIMock, lost: Literal["drop", "reset"]
) -> None:
    mock.batches.batches["batch_other"] = mock_batches.MockBatch(
        "batch_other", "/v1/chat/completions", "file-x", [], 0, metadata={"team": "a"}
    )
    mock.batch_script.push(Reply(), Reply(answer_lost=lost))  # the upload, the create
    async with client(mock) as c:
        batch = await c.submit_batch(MODEL, [BatchItem("a", "hi"), BatchItem("b", "ho")])
    (made,) = [b for b in mock.batches.batches.values() if b.id != "batch_other"]
    assert batch.id == f"openai/{made.id}" and batch.status == "in_progress"
    assert creates(mock) == 1
    assert made.metadata is not None and set(made.metadata) == {"relaykit_submission"}
    looked = [r for r in mock.requests if r.method == "GET" and r.path == "/v1/batches"]
    assert [r.query for r in looked] == [{"limit": "100"}]


async def test_a_lost_create_not_in_the_list_is_an_error_saying_what_may_have_happened(
    mock: OpenAIMock,
) -> None:
    # the create is answered 502 by a gateway: it may have run; the list does not show it
    mock.batch_script.push(Reply(), Reply.failure(502, "Bad gateway"), Reply.failure(500, "x"))
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    e = caught.value
    assert not e.retryable and e.status == 502
    assert "may have been created" in e.message
    assert e.hint and "1 item to gpt-4o-mini" in e.hint and "client.batches('openai')" in e.hint
    assert creates(mock) == 1 and KEY not in repr(e)
    # no batch over the input file was found: the file is deleted, not left billed
    uploads = [r for r in mock.requests if r.method == "POST" and r.path == "/v1/files"]
    assert len(uploads) == 1 and len(mock.batches.deleted) == 1 and not mock.batches.files


async def test_a_refused_create_is_not_looked_for_and_stays_retryable(mock: OpenAIMock) -> None:
    mock.batch_script.push(Reply(), Reply.failure(503, "overloaded"))
    async with client(mock, retry={"attempts": 1}) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    assert caught.value.retryable and "may have been" not in str(caught.value)
    assert not [r for r in mock.requests if r.method == "GET"]
    assert len(mock.batches.deleted) == 1 and not mock.batches.files  # no orphan


async def test_a_batch_over_50000_requests_is_refused_before_uploading(mock: OpenAIMock) -> None:
    items = [BatchItem(f"i{i}", "hi") for i in range(batches.MAX_REQUESTS + 1)]
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="50,000") as caught:
            await c.submit_batch(MODEL, items)
    assert caught.value.hint and "batches of at most 50,000" in caught.value.hint
    assert not mock.requests


async def test_a_file_over_200_mb_is_refused_before_uploading(
    mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "MAX_BYTES", 2_000)
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="over openai's limit") as caught:
            await c.submit_batch(MODEL, [BatchItem(f"i{i}", "hi " * 100) for i in range(5)])
    assert caught.value.param == "items" and not mock.requests


async def test_the_mock_refuses_an_oversized_file_in_openais_words(
    mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mock_batches, "MAX_BATCH_FILE_BYTES", 2_000)
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=r"File is too large\.") as caught:
            await c.submit_batch(MODEL, [BatchItem(f"i{i}", "hi " * 100) for i in range(5)])
    assert caught.value.status == 400 and creates(mock) == 0


async def test_the_file_size_refusal_names_the_limit_in_the_megabytes_it_counts(
    mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit is counted in decimal megabytes (200,000,000 bytes), but was named in
    # binary ones: "over openai's limit of 190 MB" for OpenAI's 200 MB.
    monkeypatch.setattr(batches, "MAX_BYTES", 3_000_000)
    items = [BatchItem(f"i{i}", "word " * 200_000) for i in range(4)]  # ~4 MB of JSONL
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.submit_batch(MODEL, items)
    message = caught.value.message
    assert "limit of 3,000,000 bytes (3 MB)" in message
    assert "would be 4,0" in message and not mock.requests
