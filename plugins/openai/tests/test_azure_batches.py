"""Azure OpenAI batches (``azure/<Global Batch deployment>``): OpenAI's Batch API at the
resource's URLs in both API styles, Azure's checks of a file, its older batch
objects, file expiry, prices and credentials, against :class:`AzureOpenAIMock`.

The batch contract runs for Azure in test_contract.py; these are what differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import (
    BatchItemNotRunError,
    ConfigError,
    ContentFilterError,
    InvalidRequestError,
    RelayError,
)
from relaykit.multipart import parse
from relaykit.testing import Request
from relaykit_openai.prices import OPENAI_MODELS
from relaykit_openai.testing import DEPLOYMENTS, AzureOpenAIMock

#: an Azure key's shape (32 hex digits): only the client's known secrets mask it
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
#: an Entra ID token that is no JWT, so only the client's known secrets mask it
TOKEN = "entra-opaque-token-7f3a9c2e51d84b06"
#: a Global Batch deployment, which is a deployment of its own
BATCH = "azure/gpt4o-batch"


@pytest.fixture
def azure() -> Iterator[AzureOpenAIMock]:
    """A resource with a Global Batch deployment beside the standard ones."""
    deployments = {**DEPLOYMENTS, "gpt4o-batch": "gpt-4o-2024-11-20"}
    with AzureOpenAIMock(api_key=KEY, deployments=deployments, ad_token=TOKEN) as mock:
        yield mock


def client(provider: dict[str, Any], env: dict[str, str] | None = None) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"azure": provider},
    }
    return relaykit.Client(config, env=env or {})


def keyed(mock: AzureOpenAIMock, **options: Any) -> dict[str, Any]:
    return {"base_url": mock.base_url, "api_key": KEY, **options}


def lines_of(upload: Request) -> list[dict[str, Any]]:
    """The JSONL lines of an uploaded batch file."""
    (file,) = [p for p in parse(upload.body, upload.headers["content-type"]) if p.filename]
    return [json.loads(line) for line in file.data.splitlines()]


# -- the two API styles ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_v1_batch_runs_each_item_as_its_deployment_and_prices_it_at_the_batch_share(
    azure: AzureOpenAIMock,
) -> None:
    azure.script.reply("forty-two")
    azure.script.fail(400, "this item is malformed")
    items = [
        relaykit.BatchItem("ok", "the answer?"),
        relaykit.BatchItem("bad", "a malformed one"),
        relaykit.BatchItem("filtered", "tell me how to hurt them badly"),
    ]
    async with client(keyed(azure)) as c:
        submitted = await c.submit_batch(BATCH, items, max_tokens=30)
        batch = await c.batch(submitted.id)
        results = {r.custom_id: r async for r in c.batch_results(batch.id)}
    upload, create = azure.requests[:2]
    assert (upload.path, upload.query) == ("/openai/v1/files", {})
    assert upload.headers["api-key"] == KEY and "authorization" not in upload.headers
    assert azure.batches.last_upload == {"purpose": "batch"}  # no expiry unless asked
    lines = lines_of(upload)
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert {line["body"]["model"] for line in lines} == {"gpt4o-batch"}  # the deployment
    assert (create.path, create.query) == ("/openai/v1/batches", {})
    assert create.json() == {
        "input_file_id": create.json()["input_file_id"],
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    read = [r for r in azure.requests if r.path.startswith("/openai/v1/files/")]
    assert read and all(r.path.endswith("/content") and not r.query for r in read)
    assert submitted.model == "gpt4o-batch" and submitted.status == "in_progress"
    assert (batch.status, batch.total, batch.succeeded, batch.errored) == ("ended", 3, 1, 2)
    answer = results["ok"].response
    assert answer is not None and answer.text == "forty-two"
    # Azure's answer names the model: OpenAI's list price, at the batch share of it
    price = OPENAI_MODELS["gpt-4o"][1]
    assert price is not None and price.batch_share == Decimal("0.5")
    assert answer.model == "gpt-4o-2024-11-20" and answer.provider == "azure"
    assert answer.cost == price.cost(answer.usage) * price.batch_share > 0
    bad = results["bad"].error
    assert isinstance(bad, InvalidRequestError) and "this item is malformed" in str(bad)
    filtered = results["filtered"].error
    assert isinstance(filtered, ContentFilterError) and "violence" in str(filtered)


@pytest.mark.anyio
async def test_a_dated_api_version_batches_at_the_classic_paths_with_an_entra_token(
    azure: AzureOpenAIMock,
) -> None:
    azure.script.reply("yes")
    provider = {"base_url": azure.base_url, "api_version": "2024-10-21"}
    async with client(provider, {"AZURE_OPENAI_AD_TOKEN": TOKEN}) as c:
        batch = await c.submit_batch(BATCH, [relaykit.BatchItem("a", "hi")])
        ended = await c.batch(batch.id)
        (result,) = [r async for r in c.batch_results(batch.id)]
    dated = {"api-version": "2024-10-21"}
    upload, create, got = azure.requests[:3]
    assert (upload.path, upload.query) == ("/openai/files", dated)
    assert [line["url"] for line in lines_of(upload)] == ["/chat/completions"]
    assert (create.path, create.query) == ("/openai/batches", dated)
    assert create.json()["endpoint"] == "/chat/completions"
    assert (got.path, got.query) == (f"/openai/batches/{batch.vendor_id}", dated)
    content = azure.requests[-1]
    assert content.path.startswith("/openai/files/") and content.query == dated
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in azure.requests)
    assert all("api-key" not in r.headers for r in azure.requests)
    assert ended.done and result.response is not None and result.response.text == "yes"


@pytest.mark.anyio
async def test_responses_api_batches_go_to_v1_responses_and_are_refused_on_a_dated_version(
    azure: AzureOpenAIMock,
) -> None:
    azure.script.reply("from responses")
    async with client(keyed(azure, api="responses")) as c:
        batch = await c.submit_batch(BATCH, [relaykit.BatchItem("r", "hi")])
        (result,) = [r async for r in c.batch_results(batch.id)]
    assert azure.requests[1].json()["endpoint"] == "/v1/responses"
    assert [line["url"] for line in lines_of(azure.requests[0])] == ["/v1/responses"]
    assert result.response is not None and result.response.text == "from responses"
    azure.requests.clear()
    dated = keyed(azure, api="responses", api_version="2025-04-01-preview")
    async with client(dated) as c:
        with pytest.raises(InvalidRequestError, match="v1 API only") as info:
            await c.submit_batch(BATCH, [relaykit.BatchItem("r", "hi")])
    assert "api_version" in str(info.value)  # the fix: leave it out
    assert not azure.requests, "refused before anything is sent"


# -- items that never ran, and files Azure refuses -----------------------------------


@pytest.mark.anyio
async def test_cancelled_and_expired_batches_fail_the_items_not_run(
    azure: AzureOpenAIMock,
) -> None:
    azure.hold_batches = True
    items = [relaykit.BatchItem("first", "one"), relaykit.BatchItem("second", "two")]
    async with client(keyed(azure)) as c:
        cancelled = await c.submit_batch(BATCH, items)
        await c.cancel_batch(cancelled.id)
        cancelled_results = [r async for r in c.batch_results(cancelled.id)]
        expiring = await c.submit_batch(BATCH, items)
        azure.script.reply("done in time")
        await azure.expire_batch(expiring.vendor_id, ran=1)
        expired = await c.batch(expiring.id)
        expired_results = {r.custom_id: r async for r in c.batch_results(expiring.id)}
    assert {r.custom_id for r in cancelled_results} == {"first", "second"}
    for r in cancelled_results:
        assert isinstance(r.error, BatchItemNotRunError) and r.error.reason == "cancelled"
    assert (expired.status, expired.succeeded, expired.errored) == ("expired", 1, 1)
    answer = expired_results["first"].response
    assert answer is not None and answer.text == "done in time" and answer.cost is not None
    error = expired_results["second"].error
    assert isinstance(error, BatchItemNotRunError) and error.reason == "expired"


@pytest.mark.anyio
async def test_a_file_naming_a_missing_deployment_fails_the_batch_as_azure_says(
    azure: AzureOpenAIMock,
) -> None:
    async with client(keyed(azure)) as c:
        submitted = await c.submit_batch("azure/no-such-batch", [relaykit.BatchItem("a", "hi")])
        with pytest.raises(RelayError, match="failed as a whole") as info:
            [r async for r in c.batch_results(submitted.id)]
        batch = await c.batch(submitted.id)
    assert batch.status == "failed" and batch.done
    assert batch.error is not None and "'no-such-batch' does not exist" in batch.error
    assert "(line 1)" in batch.error and "does not exist" in str(info.value)


@pytest.mark.anyio
async def test_the_2024_previews_batch_objects_are_read(azure: AzureOpenAIMock) -> None:
    azure.legacy_batch_objects = True  # "Validating", "Completed"; ISO 8601 times
    azure.script.reply("old shape")
    provider = keyed(azure, api_version="2024-07-01-preview")
    async with client(provider) as c:
        submitted = await c.submit_batch(BATCH, [relaykit.BatchItem("a", "hi")])
        batch = await c.batch(submitted.id)
        (result,) = [r async for r in c.batch_results(batch.id)]
    assert (submitted.status, submitted.vendor_status) == ("in_progress", "Validating")
    assert (batch.status, batch.vendor_status) == ("ended", "Completed")
    created = json.loads(azure.requests[1].body)  # the create call's request, not its answer
    assert created["endpoint"] == "/chat/completions"
    assert batch.created_at is not None and batch.created_at > 1_700_000_000
    assert batch.ended_at is not None and batch.expires_at is not None
    assert batch.expires_at - batch.created_at == pytest.approx(86_400, abs=1)
    assert result.response is not None and result.response.text == "old shape"


# -- file expiry ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_batch_expires_after_sets_when_the_input_and_result_files_expire(
    azure: AzureOpenAIMock,
) -> None:
    async with client(keyed(azure, batch_expires_after=1_209_600)) as c:
        await c.submit_batch(BATCH, [relaykit.BatchItem("a", "hi")])
    assert azure.batches.last_upload == {
        "purpose": "batch",
        "expires_after[anchor]": "created_at",
        "expires_after[seconds]": "1209600",
    }
    assert azure.batches.last_create["output_expires_after"] == {
        "anchor": "created_at",
        "seconds": 1_209_600,
    }
    for bad in (60, 3_000_000, "14d", True):
        async with client(keyed(azure, batch_expires_after=bad)) as c:
            with pytest.raises(ConfigError, match="batch_expires_after") as info:
                await c.submit_batch(BATCH, [relaykit.BatchItem("a", "hi")])
        assert "1209600" in str(info.value)  # the fix names a value that works
    assert len(azure.requests) == 2, "a bad option sends nothing"


# -- secrets -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_key_or_token_echoed_by_the_batch_api_is_masked(azure: AzureOpenAIMock) -> None:
    for provider, env, secret in (
        (keyed(azure), {}, KEY),
        ({"base_url": azure.base_url}, {"AZURE_OPENAI_AD_TOKEN": TOKEN}, TOKEN),
    ):
        azure.batch_script.fail(400, f"the credential {secret} may not batch")
        azure.script.fail(400, f"item refused for {secret}")
        async with client(provider, env) as c:
            with pytest.raises(InvalidRequestError) as info:
                await c.submit_batch(BATCH, [relaykit.BatchItem("a", "hi")])
            batch = await c.submit_batch(BATCH, [relaykit.BatchItem("a", "hi")])
            (result,) = [r async for r in c.batch_results(batch.id)]
            provider_repr = repr(c._registry.get("azure"))
        error = result.error
        assert error is not None and "item refused for" in str(error)
        text = " ".join(f"{e} {e!r} {e.provider_message}" for e in (info.value, error))
        assert "may not batch" in text and "[REDACTED]" in text
        assert secret not in text and secret not in provider_repr
        assert secret not in repr(batch) and secret not in repr(result)


@pytest.mark.parametrize("path", ["/openai/v1/batches", "/openai/batches?api-version=2024-10-21"])
@pytest.mark.parametrize("content", [b"{not json", b"[1]", b"null", b'"endpoint"'])
def test_a_batch_body_that_is_no_json_object_is_refused_as_openai_refuses_it(
    azure: AzureOpenAIMock, path: str, content: bytes
) -> None:
    # Before, a JSON list raised (a 500 kept in mock.failures), and the rest were
    # answered as naming no endpoint.
    headers = {"api-key": KEY, "content-type": "application/json"}
    r = httpx.post(f"{azure.base_url}{path}", content=content, headers=headers, timeout=10)
    assert not azure.failures
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "The request body must be a JSON object."
