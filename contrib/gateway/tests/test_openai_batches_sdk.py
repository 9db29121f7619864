"""OpenAI's Files and Batch APIs through the gateway, with OpenAI's own SDK, over loopback
HTTP: batches that reach OpenAI's Batch API (the mock) and the fake provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import openai
import pytest

import relaykit
from relaykit.testing import FakePlugin, OpenAIMock
from relaykit_gateway import GatewayKeys
from relaykit_gateway.file_store import FileStore
from relaykit_gateway.openai_batches import BatchRef, batch_id, parse_batch_id, result_file_id
from relaykit_gateway.owned_ids import id_owners
from relaykit_gateway.testing import KEY, KEYS, UPSTREAM_KEY, running

from .conftest import openai_sdk

pytestmark = pytest.mark.anyio

BOB = "gw-bob-0123456789abcdef"
#: whom the ids the gateway gives alice are made for
ALICE = id_owners(KEYS)["alice"]
CHAT: Literal["/v1/chat/completions"] = "/v1/chat/completions"


def line(
    custom_id: str, text: str, model: str = "openai/gpt-4o-mini", **extra: Any
) -> dict[str, Any]:
    body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}]}
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body, **extra}


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def kept(directory: Path) -> list[str]:
    """The names in the store's ``directory`` (a blocking look, done once the test is over)."""
    return sorted(p.name for p in directory.iterdir())


def parsed(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in content.splitlines()]


@asynccontextmanager
async def gateway(
    files: FileStore, keys: GatewayKeys | None = None, **base_urls: str
) -> AsyncIterator[str]:
    """A gateway over providers at ``base_urls`` (with the upstream key), storing files in
    ``files``; yields its base URL."""
    providers = {n: {"base_url": u, "api_key": UPSTREAM_KEY} for n, u in base_urls.items()}
    config: dict[str, Any] = {"storage": {"backend": "none"}, "providers": providers}
    options: dict[str, Any] = {"files": files} | ({"keys": keys} if keys else {})
    async with relaykit.Client(config) as client, running(client, **options) as url:
        yield url


async def test_a_batch_goes_to_openai_and_its_output_and_error_files_come_back(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    openai_mock.script.reply("Paris.", input_tokens=12, output_tokens=2)
    openai_mock.script.fail(400, "no such thing")
    async with (
        gateway(FileStore(tmp_path), openai=openai_mock.base_url) as url,
        openai_sdk(url) as client,
    ):
        uploaded = await client.files.create(
            file=("requests.jsonl", jsonl(line("q1", "Capital of France?"), line("q2", "Spain?"))),
            purpose="batch",
        )
        assert (uploaded.object, uploaded.purpose, uploaded.filename) == (
            "file",
            "batch",
            "requests.jsonl",
        )
        created = await client.batches.create(
            input_file_id=uploaded.id,
            endpoint=CHAT,
            completion_window="24h",
            metadata={"job": "nightly"},
        )
        assert created.object == "batch" and created.status == "validating"  # OpenAI's own word
        assert created.input_file_id == uploaded.id and created.endpoint == CHAT
        assert created.output_file_id is None and created.metadata == {"job": "nightly"}
        ref = parse_batch_id(created.id, ALICE)
        assert ref is not None and ref.batch_id.startswith("openai/batch_")
        ended = await client.batches.retrieve(created.id)
        assert ended.status == "completed" and ended.completed_at is not None
        assert ended.model == "openai/gpt-4o-mini"
        assert ended.request_counts is not None
        counts = ended.request_counts
        assert (counts.total, counts.completed, counts.failed) == (2, 1, 1)
        assert ended.metadata == {"job": "nightly"}
        assert ended.output_file_id and ended.error_file_id
        output = parsed((await client.files.content(ended.output_file_id)).content)
        errors = parsed((await client.files.content(ended.error_file_id)).content)
        described = await client.files.retrieve(ended.output_file_id)
        listed = [b.id async for b in client.batches.list()]
    assert described.purpose == "batch_output" and described.id == ended.output_file_id
    assert listed == [created.id]
    [ok] = output
    assert ok["custom_id"] == "q1" and ok["id"].startswith("batch_req_") and ok["error"] is None
    assert ok["response"]["status_code"] == 200
    answer = ok["response"]["body"]
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "Paris."
    assert (answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]) == (12, 2)
    [failed] = errors
    assert failed["custom_id"] == "q2" and failed["error"] is None
    assert failed["response"]["status_code"] == 400
    assert "no such thing" in failed["response"]["body"]["error"]["message"]
    # the items went to OpenAI as its Batch API takes them
    sent = [json.loads(x) for x in next(iter(openai_mock.batches.files.values()))[1].splitlines()]
    assert [(x["custom_id"], x["url"]) for x in sent] == [("q1", CHAT), ("q2", CHAT)]


async def test_a_cancelled_batch_puts_its_items_in_the_error_file(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    openai_mock.hold_batches = True
    async with (
        gateway(FileStore(tmp_path), openai=openai_mock.base_url) as url,
        openai_sdk(url) as client,
    ):
        uploaded = await client.files.create(file=jsonl(line("q1", "hi")), purpose="batch")
        created = await client.batches.create(
            input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h"
        )
        assert created.metadata is None
        cancelling = await client.batches.cancel(created.id)
        assert (cancelling.id, cancelling.status) == (created.id, "cancelling")
        ended = await client.batches.retrieve(created.id)
        assert ended.status == "cancelled" and ended.cancelled_at is not None
        assert ended.request_counts is not None and ended.request_counts.failed == 1
        assert ended.output_file_id is None and ended.error_file_id
        errors = parsed((await client.files.content(ended.error_file_id)).content)
    assert [(x["custom_id"], x["response"], x["error"]["code"]) for x in errors] == [
        ("q1", None, "batch_cancelled")
    ]


async def test_a_responses_batch_is_answered_in_the_responses_shape(tmp_path: Path) -> None:
    fake = FakePlugin()
    fake.script.reply("one")
    fake.script.reply("two")
    config = {"storage": {"backend": "none"}, "models": {"cheap": {"targets": ["fake/m"]}}}
    lines = [
        {
            "custom_id": cid,
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "cheap", "instructions": "Be brief.", "input": text},
        }
        for cid, text in (("a", "first"), ("b", "second"))
    ]
    async with (
        relaykit.Client(config, plugins=[fake]) as rk,
        running(rk, files=FileStore(tmp_path)) as url,
        openai_sdk(url) as client,
    ):
        uploaded = await client.files.create(file=("in.jsonl", jsonl(*lines)), purpose="batch")
        created = await client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/responses",
            completion_window="24h",
            extra_headers={"x-request-id": "req-7"},
        )
        ended = await client.batches.retrieve(created.id)
        assert ended.status == "completed" and ended.error_file_id is None
        assert ended.output_file_id
        output = parsed((await client.files.content(ended.output_file_id)).content)
    bodies = {x["custom_id"]: x["response"]["body"] for x in output}
    assert {k: b["object"] for k, b in bodies.items()} == {"a": "response", "b": "response"}
    assert bodies["a"]["output"][-1]["content"][0]["text"] == "one"
    sent_a, sent_b = fake.calls
    assert sent_a.model == "m"
    assert [(m.role, m.text) for m in sent_b.messages] == [
        ("system", "Be brief."),
        ("user", "second"),
    ]
    assert sent_a.metadata["gateway_key"] == "alice"
    assert sent_a.metadata["correlation_id"] == "req-7"


async def test_a_responses_batch_runs_and_repeats_each_lines_settings(tmp_path: Path) -> None:
    # a /v1/responses answer repeats its request's settings (instructions, temperature,
    # max_output_tokens, ...); a batch's output line is that answer, so it must repeat
    # its own line's settings, not the defaults of a request that gave none
    fake = FakePlugin()
    fake.script.reply("one")
    fake.script.reply("two")
    config = {"storage": {"backend": "none"}, "models": {"cheap": {"targets": ["fake/m"]}}}
    settings = {
        "a": {"instructions": "Be brief.", "temperature": 0.2, "max_output_tokens": 40},
        "b": {"top_p": 0.5, "metadata": {"run": "7"}},
    }
    lines = [
        {
            "custom_id": cid,
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "cheap", "input": cid, **settings[cid]},
        }
        for cid in ("a", "b")
    ]
    async with (
        relaykit.Client(config, plugins=[fake]) as rk,
        running(rk, files=FileStore(tmp_path)) as url,
        openai_sdk(url) as client,
    ):
        uploaded = await client.files.create(file=("in.jsonl", jsonl(*lines)), purpose="batch")
        created = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
        )
        # OpenAI lets the input file go once the batch is made: the answers still repeat
        # the settings they were asked with
        await client.files.delete(uploaded.id)
        ended = await client.batches.retrieve(created.id)
        assert ended.output_file_id
        output = parsed((await client.files.content(ended.output_file_id)).content)
    sent = {c.messages[-1].text: c for c in fake.calls}
    assert (sent["a"].temperature, sent["a"].max_tokens, sent["a"].messages[0].text) == (
        0.2,
        40,
        "Be brief.",
    )
    assert sent["b"].top_p == 0.5
    bodies = {x["custom_id"]: x["response"]["body"] for x in output}
    a, b = bodies["a"], bodies["b"]
    assert (a["instructions"], a["temperature"], a["max_output_tokens"]) == ("Be brief.", 0.2, 40)
    assert (b["instructions"], b["temperature"], b["top_p"]) == (None, None, 0.5)
    assert b["metadata"] == {"run": "7"}


async def test_files_are_each_keys_own_and_expire_as_asked(tmp_path: Path) -> None:
    keys = GatewayKeys.parse(f"alice={KEY},bob={BOB}")
    data = jsonl(line("q1", "hi"))
    async with (
        gateway(FileStore(tmp_path), keys) as url,
        openai_sdk(url) as alice,
        openai_sdk(url, BOB) as bob,
    ):
        uploaded = await alice.files.create(
            file=("in.jsonl", data),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 3600},
        )
        assert uploaded.bytes == len(data)
        assert uploaded.expires_at == uploaded.created_at + 3600
        assert (await alice.files.retrieve(uploaded.id)).filename == "in.jsonl"
        assert (await alice.files.content(uploaded.id)).content == data
        assert [f.id async for f in alice.files.list()] == [uploaded.id]
        assert [f.id async for f in bob.files.list()] == []
        with pytest.raises(openai.NotFoundError, match="No such File object"):
            await bob.files.content(uploaded.id)
        with pytest.raises(openai.NotFoundError):
            await bob.files.delete(uploaded.id)
        with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune' is not served"):
            await alice.files.create(file=("t.jsonl", data), purpose="fine-tune")
        with pytest.raises(openai.BadRequestError, match="expires_after"):
            await alice.files.create(
                file=data, purpose="batch", expires_after={"anchor": "created_at", "seconds": 5}
            )
        deleted = await alice.files.delete(uploaded.id)
        assert (deleted.id, deleted.deleted) == (uploaded.id, True)
        with pytest.raises(openai.NotFoundError):
            await alice.files.retrieve(uploaded.id)
    # nothing half-written or refused is left behind
    assert kept(tmp_path) == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([b"not json\n"], "line 1 of the input file is not JSON"),
        (
            [jsonl(line("a", "x", "openai/gpt-4o-mini")), jsonl(line("b", "y", "openai/gpt-4o"))],
            "2 models: openai/gpt-4o-mini (line 1), openai/gpt-4o (line 2)",
        ),
        (
            [jsonl(line("a", "x")), jsonl(line("b", "y", url="/v1/responses"))],
            "line 2 of the input file has url '/v1/responses', not the batch's endpoint",
        ),
        (
            [jsonl(line("a", "x")), b"\n", jsonl(line("a", "y"))],
            "line 3 of the input file repeats the custom_id 'a' of line 1",
        ),
        ([jsonl(line("a", "x", method="GET"))], "has method 'GET'"),
        ([jsonl({**line("a", "x"), "body": {"model": "m", "messages": 3}})], "line 1"),
        ([b""], "holds no requests"),
    ],
)
async def test_a_bad_input_file_is_refused_at_create_naming_its_line(
    tmp_path: Path, lines: list[bytes], expected: str
) -> None:
    fake = FakePlugin()
    async with (
        relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as rk,
        running(rk, files=FileStore(tmp_path)) as url,
        openai_sdk(url) as client,
    ):
        uploaded = await client.files.create(file=b"".join(lines), purpose="batch")
        with pytest.raises(openai.BadRequestError) as caught:
            await client.batches.create(
                input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h"
            )
    assert expected in caught.value.message
    assert caught.value.param == "input_file_id"
    assert not fake.batch_store.batches


async def test_bad_creates_unknown_ids_and_a_key_without_the_model_are_refused(
    tmp_path: Path,
) -> None:
    fake = FakePlugin()
    keys = GatewayKeys.parse(f"alice={KEY},bob={BOB}", "bob=fake/small")
    async with (
        relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as rk,
        running(rk, keys=keys, files=FileStore(tmp_path)) as url,
        openai_sdk(url) as alice,
        openai_sdk(url, BOB) as bob,
    ):
        good = jsonl(line("a", "x", "fake/big"))
        uploaded = await alice.files.create(file=good, purpose="batch")
        with pytest.raises(openai.BadRequestError, match="relaykit batches hold chats only"):
            await alice.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
            )
        with pytest.raises(openai.BadRequestError, match="completion_window"):
            await alice.batches.create(
                input_file_id=uploaded.id,
                endpoint=CHAT,
                completion_window="48h",  # type: ignore[arg-type]  # refused: the point
            )
        with pytest.raises(openai.NotFoundError, match="No such File object: file-nope"):
            await alice.batches.create(
                input_file_id="file-nope", endpoint=CHAT, completion_window="24h"
            )
        bobs = await bob.files.create(file=good, purpose="batch")
        with pytest.raises(openai.PermissionDeniedError, match="'fake/big'"):
            await bob.batches.create(input_file_id=bobs.id, endpoint=CHAT, completion_window="24h")
        with pytest.raises(openai.BadRequestError, match="stream"):
            streamed = {**line("a", "x", "fake/big")}
            streamed["body"] = {**streamed["body"], "stream": True}
            bad = await alice.files.create(file=jsonl(streamed), purpose="batch")
            await alice.batches.create(input_file_id=bad.id, endpoint=CHAT, completion_window="24h")
        for unknown in (
            "batch_nope!",
            "batch_abc",
            batch_id(BatchRef(CHAT, "f", "x/y"), ALICE) + "A",
        ):
            with pytest.raises(openai.NotFoundError) as caught:
                await alice.batches.retrieve(unknown)
            assert caught.value.type == "invalid_request_error"
        with pytest.raises(openai.NotFoundError, match="no batch"):
            # a well-formed id of a batch the provider does not know: the provider's 404
            await alice.batches.cancel(batch_id(BatchRef(CHAT, uploaded.id, "fake/nothing"), ALICE))
        for unknown_file in ("file-out_nope", "file-0123", "../etc/passwd"):
            with pytest.raises(openai.NotFoundError):
                await alice.files.content(unknown_file)
        with pytest.raises(openai.NotFoundError, match="no batch"):
            await alice.files.content(result_file_id("output", CHAT, "fake/nothing", ALICE))
        with pytest.raises(openai.APIStatusError, match="not served") as deleted:
            await alice.files.delete(result_file_id("error", CHAT, "fake/any", ALICE))
        assert deleted.value.status_code == 405
    assert not fake.calls and not fake.batch_store.batches


async def test_a_file_too_big_or_a_full_store_is_refused_and_nothing_is_kept(
    tmp_path: Path,
) -> None:
    data = jsonl(*(line(f"q{i}", "x" * 100) for i in range(20)))
    small = FileStore(tmp_path / "small", max_file_bytes=1000)
    full = FileStore(tmp_path / "full", max_total_bytes=len(data) + 10)
    async with (
        relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin()]) as rk,
        running(rk, files=small) as small_url,
        running(rk, files=full) as full_url,
        openai_sdk(small_url) as client,
        openai_sdk(full_url) as other,
    ):
        with pytest.raises(openai.APIStatusError, match="larger than 1,000 bytes") as big:
            await client.files.create(file=data, purpose="batch")
        assert big.value.status_code == 413
        await other.files.create(file=data, purpose="batch")
        with pytest.raises(openai.APIStatusError, match="file store is full") as no_room:
            await other.files.create(file=data, purpose="batch")
        assert no_room.value.status_code == 413
    assert kept(tmp_path / "small") == []
    assert len([name for name in kept(tmp_path / "full") if name.endswith(".jsonl")]) == 1
