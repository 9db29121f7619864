"""OpenAI batches listed (``GET /batches?limit=&after=``), submits retried only when
they certainly did nothing, and no input file left behind by a batch never made.
Every call goes over loopback HTTP to :class:`OpenAIMock` (or Azure's)."""

from __future__ import annotations

import logging
from typing import Any, Literal

import pytest

import relaykit
from relaykit import BatchItem, InvalidRequestError, ProviderUnavailableError
from relaykit.testing import OpenAIMock, Reply
from relaykit.testing import openai_batches as mock_batches
from relaykit_openai.testing import AzureOpenAIMock

from .conftest import KEY

pytestmark = pytest.mark.anyio
MODEL = "openai/gpt-4o-mini"


def client(mock: OpenAIMock, **sections: Any) -> relaykit.Client:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        **sections,
    }
    return relaykit.Client(config, env={})


def uploads(mock: OpenAIMock) -> list[Any]:
    return [r for r in mock.requests if r.method == "POST" and r.path == "/v1/files"]


def creates(mock: OpenAIMock) -> int:
    return sum(1 for r in mock.requests if r.method == "POST" and r.path == "/v1/batches")


async def test_batches_are_listed_newest_first_following_the_pages(mock: OpenAIMock) -> None:
    for n in range(105):
        vendor_id = f"batch_{n:04d}"
        mock.batches.batches[vendor_id] = mock_batches.MockBatch(
            vendor_id, "/v1/chat/completions", "file-x", [{"body": {"model": "gpt-4o"}}], n
        )
    async with client(mock) as c:
        listed = await c.batches("openai", limit=103)
        few = await c.batches("openai/gpt-4o-mini", limit=2)
    assert [b.id for b in listed] == [f"openai/batch_{n:04d}" for n in range(104, 1, -1)]
    assert listed[0].model == "gpt-4o" and listed[0].status == "in_progress"
    assert listed[0].created_at == 104.0
    queries = [r.query for r in mock.requests if r.path == "/v1/batches"]
    assert queries == [{"limit": "100"}, {"limit": "100", "after": "batch_0005"}, {"limit": "2"}]
    assert [b.id for b in few] == ["openai/batch_0104", "openai/batch_0103"]


async def test_a_listing_error_is_typed_without_the_key(mock: OpenAIMock) -> None:
    mock.batch_script.fail(401, "Incorrect API key provided")
    async with client(mock) as c:
        with pytest.raises(relaykit.AuthenticationError) as caught:
            await c.batches("openai")
    assert KEY not in repr(caught.value)


async def test_a_submit_refused_with_a_429_is_retried_after_retry_after_and_made_once(
    mock: OpenAIMock,
) -> None:
    # the upload, then the create is refused: nothing was made, so it is tried again
    mock.batch_script.push(Reply(), Reply.failure(429, "Too many requests", retry_after=0.2))
    async with client(mock) as c:
        batch = await c.submit_batch(MODEL, [BatchItem("a", "hi")])
        (listed,) = await c.batches("openai")
    assert listed.id == batch.id and creates(mock) == 2 and len(uploads(mock)) == 2
    (made,) = mock.batches.batches.values()
    assert len(mock.batches.deleted) == 1  # the first attempt's file
    assert made.input_file_id in mock.batches.files
    assert mock.batches.deleted[0] not in mock.batches.files


async def test_a_submit_that_cannot_connect_is_retried_then_typed() -> None:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0},
        "providers": {"openai": {"base_url": "http://127.0.0.1:9/v1", "api_key": KEY}},
    }
    async with relaykit.Client(config, env={}) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    assert caught.value.retryable and "may have been" not in str(caught.value)


async def test_a_create_refused_for_good_deletes_its_input_file_and_is_not_retried(
    mock: OpenAIMock,
) -> None:
    mock.batch_script.push(Reply(), Reply.failure(400, "Invalid 'metadata'"))
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="Invalid 'metadata'"):
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    assert creates(mock) == 1 and not mock.batches.batches
    (deleted,) = mock.batches.deleted
    assert not mock.batches.files
    (delete,) = [r for r in mock.requests if r.method == "DELETE"]
    assert delete.path == f"/v1/files/{deleted}" and delete.headers["authorization"].endswith(KEY)


async def test_a_delete_that_fails_is_logged_and_the_creates_error_raised(
    mock: OpenAIMock, caplog: pytest.LogCaptureFixture
) -> None:
    mock.batch_script.push(
        Reply(), Reply.failure(400, "Invalid 'endpoint'"), Reply.failure(500, "oops")
    )
    with caplog.at_level(logging.WARNING, logger="relaykit.openai"):
        async with client(mock) as c:
            with pytest.raises(InvalidRequestError, match="Invalid 'endpoint'"):
                await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    (file_id,) = mock.batches.files
    (record,) = [r for r in caplog.records if r.name == "relaykit.openai"]
    message = record.getMessage()
    assert file_id in message and "left behind (HTTP 500)" in message and KEY not in message


@pytest.mark.parametrize("lost", ["drop", "reset"])
async def test_an_upload_whose_answer_was_lost_says_the_file_may_exist_not_the_batch(
    mock: OpenAIMock, lost: Literal["drop", "reset"]
) -> None:
    mock.batch_script.push(Reply(answer_lost=lost))
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.submit_batch(MODEL, [BatchItem("a", "hi")])
    e = caught.value
    assert creates(mock) == 0 and len(uploads(mock)) == 1  # not retried
    assert not e.retryable and "may have been created" not in str(e)
    assert "input file may have been stored" in e.message and "no batch was created" in e.message
    (stored,) = mock.batches.files.values()
    (upload,) = uploads(mock)
    assert b'filename="relaykit-batch-' in upload.body
    name = upload.body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
    assert e.hint is not None and name in e.hint and "purpose=batch" in e.hint
    assert stored[0] == "batch" and KEY not in repr(e)


async def test_azure_lists_batches_with_its_api_version() -> None:
    with AzureOpenAIMock(api_key=KEY) as azure:
        azure.hold_batches = True
        provider = {"base_url": azure.base_url, "api_key": KEY, "api_version": "2024-10-21"}
        config = {"storage": {"backend": "none"}, "providers": {"azure": provider}}
        async with relaykit.Client(config, env={}) as c:
            made = [
                (await c.submit_batch("azure/gpt-4o", [BatchItem(f"q{n}", "hi")])).id
                for n in range(3)
            ]
            listed = await c.batches("azure", limit=2)
        (looked,) = [r for r in azure.requests if r.method == "GET" and r.path.endswith("batches")]
    assert [b.id for b in listed] == made[::-1][:2]
    assert looked.path == "/openai/batches"
    assert looked.query == {"api-version": "2024-10-21", "limit": "2"}
