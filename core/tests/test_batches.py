"""Batch calls through the client, with the fake provider: validation, routing,
pricing at the batch share, records written once, the blocking facade."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import BatchItem, ConfigError, InvalidRequestError
from relaykit.testing import FakePlugin, FakeProvider, MemoryStorage

pytestmark = pytest.mark.anyio

CONFIG: dict[str, Any] = {"storage": {"backend": "none"}}


def items(*ids: str) -> list[BatchItem]:
    return [BatchItem(i, f"question {i}") for i in ids]


async def test_items_are_validated_as_chats_and_refused_unsent_naming_the_item() -> None:
    fake = FakePlugin()
    bad: list[tuple[Any, dict[str, Any], str]] = [
        ([], {}, "at least one item"),
        (BatchItem("a", "hi"), {}, "not one item"),
        # was TypeError: 'int' object is not iterable
        (5, {}, "items must be a list of BatchItem"),
        ([*items("a"), BatchItem("a", "again")], {}, "repeats the custom_id 'a'"),
        ([BatchItem(" ", "hi")], {}, "no custom_id"),
        ([*items("a"), BatchItem("b", "hi", {"temprature": 1})], {}, r"items\[1\] \('b'\)"),
        (items("a"), {"max_tokens": 0}, r"items\[0\] \('a'\): `max_tokens` must be at least 1"),
        ([BatchItem("a", "hi", {"timeout": 5})], {}, "no timeout of its own"),
        (items("a"), {"output_retries": 2}, "does not apply to a batch"),
        ([{"custom_id": "a"}], {}, "has no messages"),
    ]
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        for given, params, message in bad:
            with pytest.raises(InvalidRequestError, match=message):
                await client.submit_batch("fake/m", given, **params)
    assert not fake.batch_store.batches and not fake.calls


async def test_a_route_that_can_fall_back_is_refused_and_an_alias_of_one_is_not() -> None:
    fake = FakePlugin()
    config = {
        **CONFIG,
        "models": {
            "fast": {"targets": ["fake/a", "fake/b"]},
            "one": {"targets": ["fake/solo"]},
        },
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        with pytest.raises(InvalidRequestError, match="cannot fall back") as caught:
            await client.submit_batch("fast", items("x"))
        assert "'fake/a' or 'fake/b'" in str(caught.value)
        batch = await client.submit_batch("one", items("x"))
    assert batch.model == "solo" and batch.id.startswith("fake/")


async def test_the_batch_defaults_apply_to_every_item_and_an_items_own_win() -> None:
    fake = FakePlugin()
    given = [BatchItem("a", "hi"), BatchItem("b", "hi", {"temperature": 0.9, "max_tokens": 7})]
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        batch = await client.submit_batch("fake/m", given, temperature=0.1, max_tokens=50)
    (stored,) = fake.batch_store.batches.values()
    sent = {cid: (r.temperature, r.max_tokens) for cid, r in stored.requests}
    assert sent == {"a": (0.1, 50), "b": (0.9, 7)}
    assert batch.status == "in_progress" and batch.total == 2 and batch.pending == 2


async def test_results_are_priced_at_the_batch_share_and_recorded_once() -> None:
    fake = FakePlugin()
    storage = MemoryStorage()
    config = {"storage": {"backend": "mem"}}
    fake.script.reply("four words of answer", input_tokens=1000, output_tokens=500)
    fake.script.fail(429, "the item was rate limited")
    async with relaykit.Client(config, plugins=[fake, storage.plugin("mem")]) as client:
        batch = await client.submit_batch("fake/m", items("ok", "bad"))
        batch = await client.batch(batch.id)
        first = {r.custom_id: r async for r in client.batch_results(batch.id)}
        again = [r.custom_id async for r in client.batch_results(batch.id)]
    answer = first["ok"].response
    assert answer is not None and answer.text == "four words of answer"
    # USD 1 and 2 per million tokens, at half price: (1000 * 1 + 500 * 2) / 1e6 / 2
    assert answer.cost == Decimal("0.001") and answer.provider == "fake"
    assert isinstance(first["bad"].error, relaykit.RateLimitError)
    assert again == ["ok", "bad"]
    records = sorted(storage.records.values(), key=lambda r: r.ok)
    assert [(r.operation, r.ok, r.params["custom_id"]) for r in records] == [
        ("batch", False, "bad"),
        ("batch", True, "ok"),
    ]
    assert records[1].cost == Decimal("0.001") and records[1].text == "four words of answer"
    assert records[0].error_type == "RateLimitError" and records[0].status == 429
    assert records[1].params["batch_id"] == batch.id == f"fake/{batch.vendor_id}"


async def test_the_batch_discount_is_on_tokens_not_on_web_searches() -> None:
    fake = FakePlugin()
    fake.script.reply("found", input_tokens=1000, output_tokens=500, web_searches=2)
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        batch = await client.submit_batch("fake/m", items("a"), web_search=True)
        await client.batch(batch.id)
        (result,) = [r async for r in client.batch_results(batch.id)]
    # tokens at half price (as above), two searches at USD 0.01 each in full
    assert result.response is not None and result.response.cost == Decimal("0.021")


async def test_results_of_a_batch_not_done_are_refused_naming_its_status() -> None:
    fake = FakePlugin()
    fake.batch_store.run_on_look = False
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        batch = await client.submit_batch("fake/m", items("a"))
        with pytest.raises(InvalidRequestError, match="in_progress") as caught:
            async for _ in client.batch_results(batch.id):
                pass
        cancelled = await client.cancel_batch(batch.id)
        (result,) = [r async for r in client.batch_results(batch.id)]
    assert "wait until batch.done" in str(caught.value)
    assert cancelled.status == "cancelled" and cancelled.errored == 1
    assert not result.ok and "cancelled" in str(result.error)


async def test_providers_without_batches_and_ids_of_no_form_are_refused_unsent() -> None:
    class NoBatches(FakeProvider):
        submit_batch = None  # type: ignore[assignment]
        get_batch = None  # type: ignore[assignment]

    fake = FakePlugin(provider=NoBatches)
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with pytest.raises(InvalidRequestError, match="no batch API") as caught:
            await client.submit_batch("fake/m", items("a"))
        assert "CreateModelInvocationJob" in str(caught.value)  # why Bedrock has none
        with pytest.raises(InvalidRequestError, match="no batch API"):
            await client.batch("fake/fakebatch_0001")
        for bad in ("fakebatch_0001", "fake/", "/x"):
            with pytest.raises(InvalidRequestError, match="provider/id"):
                await client.batch(bad)
    assert not fake.calls


async def test_a_batch_share_in_config_prices_overrides_the_plugins() -> None:
    fake = FakePlugin()
    config = {**CONFIG, "prices": {"fake/m": {"input": 1, "output": 2, "batch_share": 0.25}}}
    fake.script.reply("x", input_tokens=1000, output_tokens=0)
    async with relaykit.Client(config, plugins=[fake]) as client:
        batch = await client.submit_batch("fake/m", items("a"))
        await client.batch(batch.id)
        (result,) = [r async for r in client.batch_results(batch.id)]
    assert result.response is not None and result.response.cost == Decimal("0.00025")
    with pytest.raises(ConfigError, match="from 0 to 1"):
        relaykit.load_config({"prices": {"fake/m": {"input": 1, "output": 2, "batch_share": 2}}})


def test_the_blocking_client_submits_and_iterates_the_results() -> None:
    fake = FakePlugin()
    fake.script.reply("answer one")
    with relaykit.SyncClient(CONFIG, plugins=[fake]) as client:
        batch = client.submit_batch("fake/m", [{"custom_id": "a", "prompt": "hi"}])
        assert client.batch(batch.id).done
        results = list(client.batch_results(batch.id))
    assert [(r.custom_id, r.response and r.response.text) for r in results] == [("a", "answer one")]


@pytest.mark.anyio
async def test_a_batch_call_that_cannot_connect_is_typed_without_the_key() -> None:
    # The plugins' batch methods leave transport failures to the core.
    key = "sk-batch-unreachable-0123456789"
    config = {"providers": {"openai": {"base_url": "http://127.0.0.1:9/v1", "api_key": key}}}
    async with relaykit.Client(config, env={}) as client:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            await client.batch("openai/batch_abc")
        with pytest.raises(relaykit.ProviderUnavailableError):
            await client.submit_batch("openai/gpt-4o-mini", items("a"))
    assert caught.value.provider == "openai"
    assert key not in repr(caught.value) and key not in str(caught.value.__cause__)


async def test_batches_lists_the_newest_first_across_pages_up_to_the_limit() -> None:
    fake = FakePlugin()
    config = {**CONFIG, "models": {"one": {"targets": ["fake/solo"]}}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        made = [(await client.submit_batch("fake/m", items(f"q{n}"))).id for n in range(5)]
        fake.batch_store.pages = 0
        listed = await client.batches("fake", limit=2)
        assert [b.id for b in listed] == made[::-1][:2] and fake.batch_store.pages == 1
        everything = await client.batches("fake/m", limit=50)
        assert [b.id for b in everything] == made[::-1]
        assert [b.id for b in await client.batches("one", limit=3)] == made[::-1][:3]
        assert all(b.provider == "fake" and b.status == "in_progress" for b in everything)
        assert (await client.batch(listed[0].id)).id == made[-1]  # an id batch() takes


async def test_batches_refuses_a_bad_limit_and_a_provider_that_cannot_list() -> None:
    class NoListing(FakeProvider):
        list_batches = None  # type: ignore[assignment]

    fake = FakePlugin(provider=NoListing)
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        for bad in (0, -1, 2.5, True, "10"):
            with pytest.raises(InvalidRequestError, match="limit must be a whole number"):
                await client.batches("fake", limit=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError, match="no batch listing API"):
            await client.batches("fake")
        # a batch that may exist: the hint cannot point to a list relaykit cannot read
        fake.batch_store.submit_failures.append(
            relaykit.ProviderUnavailableError("server error", status=500)
        )
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            await client.submit_batch("fake/m", items("a"))
    assert "fake's list of batches (its console" in str(caught.value)


async def test_a_submit_that_certainly_did_nothing_is_retried_honouring_retry_after() -> None:
    fake = FakePlugin()
    config = {**CONFIG, "retry": {"attempts": 3, "initial_wait": 0}}
    fake.batch_store.submit_failures += [
        relaykit.RateLimitError("slow down", status=429, retry_after=0.3),
        relaykit.ProviderUnavailableError("unavailable", status=503),
    ]
    async with relaykit.Client(config, plugins=[fake]) as client:
        started = time.monotonic()
        batch = await client.submit_batch("fake/m", items("a"))
        waited = time.monotonic() - started
    assert len(fake.batch_store.batches) == 1 and batch.status == "in_progress"
    assert waited >= 0.3  # the 429's Retry-After


async def test_a_submit_that_may_have_acted_is_not_retried_and_points_to_the_list() -> None:
    fake = FakePlugin()
    config = {**CONFIG, "retry": {"attempts": 3, "initial_wait": 0}}
    fake.batch_store.submit_failures.append(
        relaykit.ProviderUnavailableError("internal error", status=500)
    )
    async with relaykit.Client(config, plugins=[fake]) as client:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            await client.submit_batch("fake/m", items("a"))
        (made,) = await client.batches("fake")
    assert len(fake.batch_store.batches) == 1  # made once, never twice
    error = caught.value
    assert not error.retryable and "may have been created" in error.message
    assert "client.batches('fake')" in str(error) and "relaykit batch list fake" in str(error)
    assert made.total == 1


async def test_retries_of_a_submit_stop_at_the_policys_attempts() -> None:
    fake = FakePlugin()
    config = {**CONFIG, "retry": {"attempts": 2, "initial_wait": 0}}
    fake.batch_store.submit_failures += [
        relaykit.ProviderUnavailableError("unavailable", status=503) for _ in range(3)
    ]
    async with relaykit.Client(config, plugins=[fake]) as client:
        with pytest.raises(relaykit.ProviderUnavailableError, match="unavailable"):
            await client.submit_batch("fake/m", items("a"))
    assert len(fake.batch_store.submit_failures) == 1 and not fake.batch_store.batches


def test_the_blocking_client_lists_batches() -> None:
    fake = FakePlugin()
    with relaykit.SyncClient(CONFIG, plugins=[fake]) as client:
        batch = client.submit_batch("fake/m", [{"custom_id": "a", "prompt": "hi"}])
        assert [b.id for b in client.batches("fake", limit=5)] == [batch.id]


async def test_a_submit_refused_before_sending_says_no_batch_may_exist() -> None:
    # What a plugin raises before its request leaves (a setting read at call time, a
    # credential it could not get): no batch can exist, and the error must not say
    # one may; it keeps its own retryability.
    fake = FakePlugin()
    config = {**CONFIG, "retry": {"attempts": 3, "initial_wait": 0}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        for error in (
            ConfigError("providers.fake.region is not set", hint="set it"),
            relaykit.AuthenticationError("no credentials found for fake"),
        ):
            fake.batch_store.submit_failures.append(error)
            with pytest.raises(type(error)) as caught:
                await client.submit_batch("fake/m", items("a"))
            assert caught.value is error and not error.retryable
            assert "may have been created" not in str(error)
            assert "client.batches" not in str(error)
        assert not fake.batch_store.batches
        # a credential refresh that failed (retryable) is retried: nothing was sent
        fake.batch_store.submit_failures.append(
            relaykit.AuthenticationError("refreshing the credentials failed", retryable=True)
        )
        batch = await client.submit_batch("fake/m", items("a"))
    assert batch.status == "in_progress" and len(fake.batch_store.batches) == 1


async def test_a_failure_a_plugin_marks_unsent_is_retried_as_one_that_did_nothing() -> None:
    # A token endpoint's 502, say: the batch's own create was never sent.
    from relaykit.http import unsent

    fake = FakePlugin()
    config = {**CONFIG, "retry": {"attempts": 3, "initial_wait": 0}}
    fake.batch_store.submit_failures.append(
        unsent(relaykit.ProviderUnavailableError("the token endpoint failed", status=502))
    )
    async with relaykit.Client(config, plugins=[fake]) as client:
        batch = await client.submit_batch("fake/m", items("a"))
    assert batch.status == "in_progress" and len(fake.batch_store.batches) == 1


def test_an_items_result_of_the_wrong_shape_is_that_items_error() -> None:
    """What a plugin's decoder raises for one result is that item's error (the others
    are read all the same): a malformed answer, or the relaykit error it raised."""
    from relaykit.batches import item_result, result_id

    def fails(error: Exception) -> Any:
        def read() -> Any:
            raise error

        return item_result("a", read, provider="p", model="m")

    for raised in (ValueError("usage: expected an object, got int"), KeyError("message")):
        result = fails(raised)
        assert result.custom_id == "a" and not result.ok
        assert isinstance(result.error, relaykit.ProviderUnavailableError)
        assert result.error.message.startswith("malformed response from the provider (")
        assert result.error.__cause__ is raised and result.error.provider == "p"
    refused = relaykit.ContentFilterError("refused", provider="p", model="m")
    assert fails(refused).error is refused
    assert result_id({"custom_id": "a"}) == "a" and result_id({"key": "k"}, "key") == "k"
    for line in ({"custom_id": 7}, {"custom_id": ""}, None, ["a"]):
        with pytest.raises(ValueError, match="a batch result names no item"):
            result_id(line)


async def test_jsonl_results_reads_each_line_and_a_malformed_one_is_that_items_error() -> None:
    """The results files' lines, across chunks, each read as its item's result: one
    that does not fit the shape read is that item's malformed answer, and the lines
    after it are read all the same; a line that names no item ends the read, and an
    error status is typed as a single call's."""
    from collections.abc import Mapping

    import httpx

    from relaykit.batches import BatchResult, jsonl_results
    from relaykit.testing import LoopbackServer, Request, Response

    files = {
        "/one": [
            b'{"custom_id": "a", "answer": {"text": "one"}}\n\n',
            b'{"custom_id": "b", "answer": "two"}\n{"custom_id": "c", "ans',
            b'wer": {"text": "three"}}',
        ],
        "/two": [b'{"custom_id": "d", "answer": {"text": "four"}}\n'],
        "/unnamed": [b'{"answer": {}}\n{"custom_id": "e"}\n'],
    }

    async def serve(request: Request) -> Response:
        assert request.headers["x-api-key"] == "k"
        if request.path not in files:
            return Response.json({"error": {"message": "no such file"}}, status=404)
        return Response(200, {"content-type": "application/binary"}, files[request.path])

    def read(custom_id: str, line: Mapping[str, Any]) -> BatchResult:
        return BatchResult(custom_id, error=relaykit.RelayError(line["answer"]["text"]))

    with LoopbackServer(serve) as server:
        async with httpx.AsyncClient() as http:

            async def results(*paths: str) -> list[BatchResult]:
                lines = jsonl_results(
                    http,
                    [server.url + path for path in paths],
                    read,
                    headers={"x-api-key": "k"},
                    provider="p",
                    model="m",
                    shape={"custom_id": str, "answer": {"text": str}},
                )
                return [r async for r in lines]

            found = await results("/one", "/two")
            with pytest.raises(ValueError, match="a batch result names no item"):
                await results("/unnamed")
            with pytest.raises(relaykit.NotFoundError) as gone:
                await results("/gone")
    assert [r.custom_id for r in found] == ["a", "b", "c", "d"]
    said = {r.custom_id: r.error.message for r in found if r.error}
    assert (said["a"], said["c"], said["d"]) == ("one", "three", "four")
    malformed = found[1].error
    assert isinstance(malformed, relaykit.ProviderUnavailableError)
    assert malformed.provider == "p" and malformed.model == "m"
    assert malformed.message.startswith("malformed response from the provider (ValueError: ")
    assert "a batch result: answer: expected an object, got text" in malformed.message
    assert "no such file" in gone.value.message and gone.value.provider == "p"


async def test_listed_batches_follows_the_pages_until_one_says_no_more() -> None:
    """Each page asked for after the last id read (the last item's, where the page
    names none), until a page says there are no more or holds none; a page of the
    wrong shape is an error naming where."""
    import json

    from relaykit.batches import Batch, listed_batches

    pages: dict[str | None, Any] = {
        None: {"data": [{"id": "b5"}, {"id": "b4"}], "has_more": True, "last_id": "b4"},
        "b4": {"data": [{"id": "b3"}], "has_more": True},
        "b3": {"data": [{"id": "b2"}], "has_more": False, "last_id": "b2"},
    }
    asked: list[str | None] = []

    async def page(after: str | None) -> bytes:
        asked.append(after)
        return json.dumps(pages[after]).encode()

    def batch(item: Any) -> Batch:
        return Batch(id=item["id"], provider="p", status="ended", vendor_status="ended")

    assert [b.id async for b in listed_batches(page, batch)] == ["b5", "b4", "b3", "b2"]
    assert asked == [None, "b4", "b3"]
    pages[None] = {"data": [], "has_more": True, "last_id": "b9"}
    assert [b async for b in listed_batches(page, batch)] == []
    # a page whose last id was asked after already would read the same pages again
    # (until the caller's limit): the read ends there
    pages[None] = {"data": [{"id": "b5"}, {"id": "b4"}], "has_more": True, "last_id": "b4"}
    pages["b4"] = {"data": [{"id": "b3"}], "has_more": True, "last_id": "b4"}
    asked.clear()
    assert [b.id async for b in listed_batches(page, batch)] == ["b5", "b4", "b3"]
    assert asked == [None, "b4"]
    pages[None] = {"data": 7, "has_more": True}
    with pytest.raises(ValueError, match="a list of batches: data: expected a list, got"):
        [b async for b in listed_batches(page, batch)]
    pages[None] = {"data": [{"id": "b5"}], "has_more": True, "last_id": ["b5"]}
    with pytest.raises(ValueError, match="a list of batches: last_id"):
        [b async for b in listed_batches(page, batch)]


# -- epoch_seconds: the RFC 3339 times batch APIs give -----------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-07-01T10:00:00Z", 1751364000.0),
        ("2025-07-01T10:00:00.1Z", 1751364000.1),  # one digit of fraction
        ("2024-08-20T18:37:24.100435Z", 1724179044.100435),  # Anthropic: microseconds
        ("2025-07-01T10:00:00.123456789Z", 1751364000.123456789),  # Google: nanoseconds
        ("2025-07-01T10:00:00.1234567890123Z", 1751364000.1234567),  # more than Python keeps
        ("2025-07-01T12:00:00+02:00", 1751364000.0),  # an offset east
        ("2025-07-01T05:30:00.5-04:30", 1751364000.5),  # west, with a fraction
        ("2025-07-01t10:00:00z", 1751364000.0),  # RFC 3339 takes lowercase t and z
        ("2025-07-01 10:00:00+00:00", 1751364000.0),  # and a space for the T
        ("2016-12-31T23:59:60Z", 1483228800.0),  # a leap second: the next one's start
        (None, None),  # absent or null
    ],
)
def test_epoch_seconds_reads_rfc_3339(value: str | None, expected: float | None) -> None:
    from relaykit.batches import epoch_seconds

    assert epoch_seconds(value, "created_at") == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [
        "2025-07-01T10:00:00",  # no zone: not RFC 3339, and local time would be a guess
        "2025-07-01",
        "2025-07-01T10:00Z",  # no seconds
        "2025-07-01T10:00:00.Z",  # a point with no digits
        "2025-13-01T10:00:00Z",  # month 13
        "2025-02-30T10:00:00Z",
        "2025-07-01T10:00:00+0200",  # the offset needs its colon
        "yesterday",
        "",
        " 2025-07-01T10:00:00Z",
        1751364000,  # a number is no time here
        ["2025-07-01T10:00:00Z"],
    ],
)
def test_epoch_seconds_refuses_what_is_no_time_as_a_shape_error(value: object) -> None:
    from relaykit.batches import epoch_seconds
    from relaykit.json_decode import SHAPE_ERRORS

    with pytest.raises(SHAPE_ERRORS) as caught:
        epoch_seconds(value, "metadata.createTime")
    assert isinstance(caught.value, TypeError)
    assert str(caught.value).startswith("metadata.createTime is ")


async def test_a_key_as_an_items_custom_id_is_stored_masked(tmp_path: Path) -> None:
    """A custom_id is the caller's to choose, like a correlation id: one holding a key
    the client knows (or one of a known shape) is masked in the stored record; the
    result still carries it back as given."""
    held, shaped = "vendor-7f3a9c2e5b8d1f4a", "sk-proj-" + "Zr4" * 10
    db = tmp_path / "calls.db"
    config = {
        "storage": {"backend": "sqlite", "path": str(db)},
        "providers": {"local": {"type": "fake", "api_key": held}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        batch = await client.submit_batch("local/m", items(held, shaped))
        batch = await client.batch(batch.id)
        given = sorted([r.custom_id async for r in client.batch_results(batch.id)])
    assert given == sorted([held, shaped])
    with closing(sqlite3.connect(db)) as conn:
        stored = "\n".join(conn.iterdump())
    assert stored.count('"custom_id":"[REDACTED]"') == 2
    assert held not in stored and shaped not in stored
