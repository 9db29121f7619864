"""Client.embed: one vector per text, through the chat pipeline's routing, limits,
retries, cache, cost, traces, metrics and call log."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

import relaykit
from relaykit import (
    ClientClosedError,
    EmbeddingRequest,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    hookimpl,
)
from relaykit.embedding_cache import EmbeddingCache
from relaykit.embeddings import BatchAnswer, estimate_tokens, send_batches
from relaykit.metrics import observe
from relaykit.testing import (
    FakePlugin,
    FakeProvider,
    LimiterPlugin,
    MemoryStorage,
    RecordingExporter,
    Reply,
    call_log_lines,
    cancel_in_flight,
    capture_call_log,
    frozen_limiter,
    mock_vector,
)

from .conftest import SETTINGS, Tickets, client

# -- the answer ----------------------------------------------------------------


@pytest.mark.anyio
async def test_one_vector_per_input_in_order_with_usage_and_cost() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.embed("fake/emb-1", ["the cat", "sat on the mat", "the cat"])
    assert r.vectors == (
        mock_vector("the cat"),
        mock_vector("sat on the mat"),
        mock_vector("the cat"),
    )
    assert (r.provider, r.model, r.dimensions) == ("fake", "emb-1", 8)
    assert r.usage == relaykit.Usage(input_tokens=2 + 4 + 2)
    assert r.cost == Decimal(8) / 1_000_000  # the fake's price: USD 1 per million input tokens
    assert r.attempts == 1 and not r.cache_hit
    assert r.latency is not None and r.latency > 0
    (request,) = fake.embeddings
    assert request == EmbeddingRequest(
        model="emb-1", inputs=("the cat", "sat on the mat", "the cat")
    )


@pytest.mark.anyio
async def test_one_text_and_the_parameters_reach_the_provider() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.embed(
            "fake/emb-1",
            "a question",
            dimensions=4,
            input_type="query",
            extra={"truncate": "END"},
            metadata={"user": "alice"},
        )
    assert r.vectors == (mock_vector("a question", 4),)
    (request,) = fake.embeddings
    assert (request.inputs, request.dimensions, request.input_type) == (
        ("a question",),
        4,
        "query",
    )
    assert request.extra == {"truncate": "END"} and request.metadata == {"user": "alice"}


def test_the_vectors_repr_is_short() -> None:
    response = relaykit.EmbeddingResponse(vectors=(mock_vector("x", 1536),) * 3, model="m")
    assert "<3 x 1536 floats>" in repr(response)
    assert len(repr(response)) < 400


# -- bad input ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("inputs", "params", "message"),
    [
        ([], {}, "inputs is empty"),
        (["ok", "  "], {}, r"inputs\[1\] is empty"),
        (["ok", 3], {}, r"inputs\[1\] is a int, not a string"),
        (None, {}, "inputs must be a string or a list of strings"),
        (b"raw", {}, "inputs are bytes: embeddings take text"),
        ("hi", {"max_tokens": 5}, "unknown parameter 'max_tokens' for embed: embed takes"),
        ("hi", {"dimension": 5}, "did you mean 'dimensions'"),
        ("hi", {"dimensions": 0}, "`dimensions` must be a positive integer"),
        ("hi", {"dimensions": True}, "`dimensions` must be a positive integer"),
        ("hi", {"input_type": "search_query"}, "`input_type` must be 'query' or 'document'"),
        ("hi", {"timeout": -1}, "`timeout` must be a positive number"),
        ("hi", {"extra": ["x"]}, "`extra` must be a dict"),
    ],
)
async def test_bad_input_is_a_typed_error_naming_it(
    inputs: Any, params: dict[str, Any], message: str
) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match=message):
            await c.embed("fake/emb-1", inputs, **params)
    assert fake.embeddings == []


@pytest.mark.anyio
async def test_too_much_text_is_refused_before_sending() -> None:
    fake = FakePlugin()
    async with client(fake, validation={"max_chars": 10}) as c:
        with pytest.raises(
            InvalidRequestError, match=r"12 characters of text, over the limit of 10"
        ):
            await c.embed("fake/emb-1", ["abcdef", "ghijkl"])
    assert fake.embeddings == []


class _NoEmbeddings(FakeProvider):
    embed = None  # type: ignore[assignment]  # as a plugin without embeddings


def _no_embeddings() -> FakePlugin:
    return FakePlugin("chatonly", provider=_NoEmbeddings)


@pytest.mark.anyio
async def test_a_provider_without_embeddings_is_refused_with_the_fix() -> None:
    limited = {"limits": {"chatonly/*": {"rpm": 1}}}
    async with client(_no_embeddings(), **limited) as c:
        with pytest.raises(InvalidRequestError, match="chatonly has no embeddings API") as info:
            await c.embed("chatonly/m", "hello")
        assert "embed with a provider that has one" in str(info.value)
        # never sent, so the limit got its request back
        assert (await c.chat("chatonly/m", "still allowed")).text == "echo: still allowed"


@pytest.mark.anyio
async def test_a_route_falls_back_past_a_provider_that_cannot_send_the_request() -> None:
    # A plugin's refusal to encode a request (no embeddings API, a document it
    # cannot read) sent nothing: the next deployment is tried, as for a 503.
    fake = FakePlugin()
    routes = {"emb": {"targets": ["chatonly/m", "fake/emb-1"]}}
    async with client(_no_embeddings(), fake, models=routes) as c:
        r = await c.embed("emb", "hello")
    assert (r.provider, r.model, len(fake.embeddings)) == ("fake", "emb-1", 1)


class _ShortAnswer(FakeProvider):
    async def embed(self, request: EmbeddingRequest) -> relaykit.EmbeddingResponse:
        response = await super().embed(request)
        return attrs.evolve(response, vectors=response.vectors[:1])


@pytest.mark.anyio
async def test_an_answer_without_a_vector_per_text_is_an_error_naming_the_provider() -> None:
    # Vectors are matched to texts by position: a short answer would pin one on the
    # wrong text, so it is refused, not handed back nor cached.
    async with client(FakePlugin(provider=_ShortAnswer), retry={"attempts": 1}) as c:
        with pytest.raises(relaykit.RelayError, match="fake answered 1 vectors for 2 inputs") as e:
            await c.embed("fake/emb-1", ["the cat", "sat on the mat"])
    assert "bug in the provider plugin" in str(e.value)


class _FixedLength(FakeProvider):
    """Ignores ``dimensions``, as some OpenAI-compatible servers do for a model
    that cannot shorten its vectors."""

    async def embed(self, request: EmbeddingRequest) -> relaykit.EmbeddingResponse:
        return await super().embed(attrs.evolve(request, dimensions=None))


class _Ragged(FakeProvider):
    """Answers one vector short of numbers (an entry without ``values``)."""

    async def embed(self, request: EmbeddingRequest) -> relaykit.EmbeddingResponse:
        response = await super().embed(request)
        return attrs.evolve(response, vectors=((), *response.vectors[1:]))


@pytest.mark.anyio
async def test_vectors_of_another_length_than_the_dimensions_asked_are_a_typed_error() -> None:
    # A service that ignores `dimensions` gives full-length vectors a vector store
    # sized for the shorter ones refuses later, far from the cause, and the cache
    # would keep them under the shorter size: refused at once, naming the fix.
    cache = {"enabled": True}
    async with client(FakePlugin(provider=_FixedLength), retry={"attempts": 1}, cache=cache) as c:
        with pytest.raises(InvalidRequestError) as e:
            await c.embed("fake/emb-1", ["the cat", "sat on the mat"], dimensions=4)
        assert "fake answered vectors of 8 dimensions, not the 4 asked for" in str(e.value)
        assert (e.value.param, e.value.provider, e.value.model) == ("dimensions", "fake", "emb-1")
        assert "leave `dimensions` out" in str(e.value)
        r = await c.embed("fake/emb-1", ["the cat", "sat on the mat"])
    assert r.dimensions == 8 and not r.cache_hit


@pytest.mark.anyio
async def test_vectors_of_differing_lengths_are_an_error_naming_the_provider() -> None:
    async with client(FakePlugin(provider=_Ragged), retry={"attempts": 1}) as c:
        with pytest.raises(relaykit.RelayError, match="fake answered vectors of 0 to 8") as e:
            await c.embed("fake/emb-1", ["the cat", "sat on the mat"])
    assert "bug in the provider plugin" in str(e.value)


class _RefusesLong(FakeProvider):
    """Refuses a text over 20 characters, naming it by its place in the request."""

    async def embed(self, request: EmbeddingRequest) -> relaykit.EmbeddingResponse:
        for i, text in enumerate(request.inputs):
            if len(text) > 20:
                raise relaykit.ContextLengthError(
                    f"inputs[{i}] is too long", param=f"inputs[{i}]", hint=f"cut inputs[{i}]"
                )
        return await super().embed(request)


@pytest.mark.anyio
async def test_a_refused_text_is_named_by_the_callers_index_when_the_cache_held_others() -> None:
    # With the cache holding texts 0 to 2 only text 3 is sent, as the request's
    # inputs[0]: the caller must hear of inputs[3], the text it can find.
    cache = {"enabled": True}
    async with client(FakePlugin(provider=_RefusesLong), retry={"attempts": 1}, cache=cache) as c:
        await c.embed("fake/emb-1", ["a", "b", "c"])
        with pytest.raises(relaykit.ContextLengthError) as e:
            await c.embed("fake/emb-1", ["a", "b", "c", "a text of more than twenty characters"])
    assert e.value.param == "inputs[3]"
    assert str(e.value) == "fake/emb-1: inputs[3] is too long (cut inputs[3])"


class _TwoAtATime(FakeProvider):
    """Embeds two texts a request, one request at a time, as a plugin for a vendor
    with a small batch limit does."""

    async def embed(self, request: EmbeddingRequest) -> relaykit.EmbeddingResponse:
        texts = request.inputs
        batches = [texts[i : i + 2] for i in range(0, len(texts), 2)]

        async def one(batch: tuple[str, ...]) -> relaykit.EmbeddingResponse:
            return await FakeProvider.embed(self, attrs.evolve(request, inputs=batch))

        def billed(index: int, answer: relaykit.EmbeddingResponse) -> BatchAnswer:
            return BatchAnswer(first=2 * index, vectors=answer.vectors, usage=answer.usage)

        answers = await send_batches(batches, one, concurrency=1, billed=billed)
        return relaykit.EmbeddingResponse(
            vectors=tuple(v for a in answers for v in a.vectors),
            model=request.model,
            usage=relaykit.Usage(sum(a.usage.input_tokens for a in answers)),
        )


def _two_at_a_time() -> FakePlugin:
    return FakePlugin("pairs", provider=_TwoAtATime)


TEXTS = ["a", "b", "c", "d", "e", "f"]


@pytest.mark.anyio
async def test_a_retry_sends_only_the_batches_that_got_no_answer() -> None:
    plugin = _two_at_a_time()
    plugin.script.push(Reply())  # the first batch is answered...
    plugin.script.fail(503, "busy")  # ...the second fails, and the call is retried
    async with client(plugin) as c:
        r = await c.embed("pairs/m", TEXTS)
    sent = [request.inputs for request in plugin.embeddings]
    assert sent == [("a", "b"), ("c", "d"), ("c", "d"), ("e", "f")]
    assert r.vectors == tuple(mock_vector(t) for t in TEXTS)
    assert r.attempts == 2
    assert r.usage.input_tokens == 6  # each text billed once


@pytest.mark.anyio
async def test_a_fallback_deployment_embeds_every_batch_itself() -> None:
    plugin = _two_at_a_time()
    plugin.script.push(Reply())
    plugin.script.fail(503, "down")
    routes = {"emb": {"targets": ["pairs/first", "pairs/second"]}}
    async with client(plugin, models=routes, retry={"attempts": 1}) as c:
        r = await c.embed("emb", TEXTS)
    sent = [(request.model, request.inputs) for request in plugin.embeddings]
    assert sent == [
        ("first", ("a", "b")),
        ("first", ("c", "d")),
        ("second", ("a", "b")),  # never another model's vectors in one answer
        ("second", ("c", "d")),
        ("second", ("e", "f")),
    ]
    assert r.model == "second"


@pytest.mark.anyio
@pytest.mark.parametrize("then", ["falls back", "fails"])
async def test_the_requests_a_deployment_answered_before_one_failed_are_charged_and_recorded(
    then: str,
) -> None:
    # The first deployment answered "a b" (billed: 2 tokens at $1 a million) before
    # "c d" failed. Falling back, the second embeds everything (6 tokens at $3); the
    # first's two tokens were billed all the same: its own record carries them, and
    # the budget both. Failing, the call's record carries them.
    plugin = _two_at_a_time()
    plugin.script.push(Reply())
    plugin.script.fail(503, "down")
    if then == "fails":
        plugin.script.fail(503, "down again")
    routes = {"emb": {"targets": ["pairs/first", "pairs/second"]}}
    prices = {"pairs/first": {"input": 1, "output": 0}, "pairs/second": {"input": 3, "output": 0}}
    exporter = RecordingExporter()
    frozen = LimiterPlugin(frozen_limiter())
    async with client(
        plugin,
        exporter,
        frozen,
        models=routes,
        retry={"attempts": 1},
        limiter={"backend": "frozen"},
        limits={"*": {"budget_usd": "10"}},
        prices=prices,
    ) as c:
        if then == "falls back":
            r = await c.embed("emb", TEXTS)
            assert (r.model, r.usage.input_tokens, r.cost) == ("second", 6, Decimal("0.000018"))
        else:
            with pytest.raises(relaykit.ProviderUnavailableError):
                await c.embed("emb", TEXTS)
    spent = sum((b.spent for b in frozen.limiter._budgets.values()), Decimal(0))
    records = exporter.records
    assert spent == sum((r.cost or Decimal(0) for r in records), Decimal(0))
    if then == "falls back":
        (partial,) = (r for r in records if r.id.endswith("-attempt-pairs/first"))
        assert (partial.usage.input_tokens, partial.cost) == (2, Decimal("0.000002"))
        assert partial.error_type == "ProviderUnavailableError"
        assert spent == Decimal("0.000020")
    else:
        (record,) = records
        assert (record.error_type, record.usage.input_tokens) == ("ProviderUnavailableError", 2)
        assert (record.cost, record.usage_estimated) == (Decimal("0.000002"), False)


@pytest.mark.anyio
async def test_the_vectors_a_deployment_answered_before_a_fallback_are_cached_under_its_name() -> (
    None
):
    # "first" answered "a b" (billed) before "c d" failed; "second" then embedded
    # everything. The call's answer is second's, cached under its name; first's
    # vectors, keyed by the deployment that made them, are kept too, so a call that
    # asks first for them again pays nothing, as after a call that failed there.
    plugin = _two_at_a_time()
    plugin.script.push(Reply())
    plugin.script.fail(503, "down")
    routes = {"emb": {"targets": ["pairs/first", "pairs/second"]}}
    async with client(plugin, models=routes, retry={"attempts": 1}, cache={"enabled": True}) as c:
        r = await c.embed("emb", TEXTS)
        again = await c.embed("pairs/first", ["b", "a"])
    assert r.model == "second"
    assert again.cache_hit and again.vectors == (mock_vector("b"), mock_vector("a"))
    assert [(q.model, q.inputs) for q in plugin.embeddings][-1] == ("second", ("e", "f"))


@pytest.mark.anyio
async def test_a_closed_client_refuses() -> None:
    c = client(FakePlugin())
    async with c:
        pass
    with pytest.raises(ClientClosedError):
        await c.embed("fake/emb-1", "late")


# -- resilience ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_server_error_is_retried() -> None:
    fake = FakePlugin()
    fake.script.fail(503, "busy")
    async with client(fake) as c:
        r = await c.embed("fake/emb-1", "again")
    assert (r.attempts, r.vectors) == (2, (mock_vector("again"),))


@pytest.mark.anyio
async def test_a_route_falls_back_and_the_record_says_so() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.fail(503, "down", retry_after=0)
    exporter = RecordingExporter()
    routes = {"emb": {"targets": ["fake/a", "other/b"]}}
    async with client(first, second, exporter, models=routes, retry={"attempts": 1}) as c:
        r = await c.embed("emb", ["x", "y"])
    assert (r.provider, r.model) == ("other", "b")
    (record,) = exporter.records
    assert (record.operation, record.fallbacks, record.route) == (
        "embeddings",
        1,
        ("fake/a", "other/b"),
    )


@pytest.mark.anyio
async def test_the_total_timeout_bounds_the_call() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(delay=5))
    async with client(fake) as c:
        with pytest.raises(RequestTimeoutError, match=r"total timeout of 0\.2s"):
            await c.embed("fake/emb-1", "slow", timeout=0.2)


@pytest.mark.anyio
async def test_rate_limits_count_the_inputs_tokens() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(input_tokens=10), Reply(input_tokens=10))
    # 40 characters a call: an estimated 10 tokens held, no output tokens, 10 settled
    async with client(fake, limits={"fake/*": {"tpm": 25}}) as c:
        for _ in range(2):
            await c.embed("fake/emb-1", "x" * 40)
        with pytest.raises(QuotaExceededError) as info:
            await c.embed("fake/emb-1", "x" * 40)
    assert info.value.retry_after is not None and info.value.retry_after > 0


@pytest.mark.anyio
async def test_a_budget_is_spent_by_embeddings() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(input_tokens=700_000))
    async with client(fake, limits={"fake/*": {"budget_usd": "0.5"}}) as c:
        await c.embed("fake/emb-1", "a large batch")  # $0.70, settled after the call
        with pytest.raises(QuotaExceededError, match=r"budget of \$0\.5"):
            await c.embed("fake/emb-1", "one more")


# -- the cache ---------------------------------------------------------------


@pytest.mark.anyio
async def test_the_cache_keeps_each_texts_vector_and_sends_only_new_texts() -> None:
    fake = FakePlugin()
    async with client(fake, cache={"enabled": True}) as c:
        await c.embed("fake/emb-1", ["one", "two"])
        partly = await c.embed("fake/emb-1", ["two", "three", "one"])
        whole = await c.embed("fake/emb-1", ["three", "one"])
        other_size = await c.embed("fake/emb-1", ["one"], dimensions=4)
        uncached = await c.embed("fake/emb-1", ["one"], cache=False)
    assert [r.inputs for r in fake.embeddings] == [
        ("one", "two"),
        ("three",),
        ("one",),  # another size is another vector
        ("one",),
    ]
    assert partly.vectors == tuple(mock_vector(t) for t in ("two", "three", "one"))
    assert (partly.cache_hit, partly.usage.input_tokens, partly.attempts) == (False, 1, 1)
    assert whole.vectors == (mock_vector("three"), mock_vector("one"))
    assert (whole.cache_hit, whole.cost, whole.attempts, whole.usage.input_tokens) == (
        True,
        Decimal(0),
        0,
        0,
    )
    assert other_size.vectors == (mock_vector("one", 4),)
    assert not uncached.cache_hit


@pytest.mark.anyio
async def test_a_fallback_embeds_every_text_rather_than_mix_two_models() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    routes = {"emb": {"targets": ["fake/a", "other/b"]}}
    async with client(
        first, second, models=routes, cache={"enabled": True}, retry={"attempts": 1}
    ) as c:
        await c.embed("emb", ["kept"])
        first.script.fail(503, "down")
        r = await c.embed("emb", ["kept", "new"])
        # The first target cools down now, so the route plans the second first,
        # and the vectors it made answer: they were kept under its own name.
        again = await c.embed("emb", ["new", "kept"])
    assert [r.inputs for r in first.embeddings] == [("kept",), ("new",)]
    assert [r.inputs for r in second.embeddings] == [("kept", "new")]
    assert again.cache_hit and again.vectors == (mock_vector("new"), mock_vector("kept"))
    assert r.provider == again.provider == "other"


@pytest.mark.anyio
async def test_the_cache_is_shared_through_sqlite(tmp_path: Path) -> None:
    storage = {"backend": "sqlite", "path": str(tmp_path / "calls.db")}
    fake = FakePlugin()
    async with client(fake, storage=storage, cache={"enabled": True}) as c:
        await c.embed("fake/emb-1", ["stored", "texts"], dimensions=16)
    async with client(fake, storage=storage, cache={"enabled": True}) as c:
        r = await c.embed("fake/emb-1", ["texts", "stored"], dimensions=16)
    assert len(fake.embeddings) == 1
    assert r.cache_hit and r.vectors == (mock_vector("texts", 16), mock_vector("stored", 16))


class _OneAtATime:
    """A storage with the single-entry cache methods only, counting its round trips."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[float, str]] = {}
        self.trips = 0

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        self.trips += 1
        return self.rows.get(key)

    async def cache_response(self, key: str, expires_at: float, text: str) -> None:
        self.trips += 1
        self.rows[key] = (expires_at, text)


class _ManyAtOnce(_OneAtATime):
    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        self.trips += 1
        return {key: self.rows[key] for key in keys if key in self.rows}

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        self.trips += 1
        self.rows.update((key, (expires_at, text)) for key, expires_at, text in entries)


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "trips"), [(_OneAtATime, [2, 3, 1]), (_ManyAtOnce, [1, 1, 1])])
async def test_the_storage_cache_takes_a_round_trip_a_call_where_it_can(
    kind: type[_OneAtATime], trips: list[int]
) -> None:
    storage = kind()
    keys = ["k1", "k2", "k3"]
    vectors = [(1.0, 2.0), (3.0,), (0.5, 0.25, 0.125)]
    taken = []
    await EmbeddingCache(storage).put_many(list(zip(keys[:2], vectors[:2], strict=True)), 60)
    taken.append(storage.trips)
    # A new process: memory is empty, so every key is looked up in storage.
    assert await EmbeddingCache(storage).get_many(keys) == [*vectors[:2], None]
    taken.append(storage.trips - sum(taken))
    cache = EmbeddingCache(storage)
    await cache.put_many([(keys[2], vectors[2])], 60)
    assert await cache.get_many(keys[2:]) == [vectors[2]]  # from memory: no trip
    taken.append(storage.trips - sum(taken))
    assert taken == trips


class SlowWritingStore(MemoryStorage):
    """A response cache store (MemoryStorage's cache methods) whose writes take a
    moment: a store over the network, or waiting on another process's lock."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = anyio.Event()

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        self.writing.set()
        await anyio.sleep(0.1)  # well within [cache] timeout
        await super().cache_responses(entries)

    @hookimpl
    def relaykit_response_cache(self, name: str, config: object) -> Any:
        return self if name == "slow-writes" else None


@pytest.mark.anyio
async def test_a_caller_cancelled_while_its_vectors_are_stored_gets_them_as_recorded() -> None:
    # As a chat's: the call has ended and is recorded a success when the cache is
    # written, so a cancellation then must not show its caller a failure (and lose
    # vectors it was billed for); it comes at the caller's next checkpoint.
    store, exporter = SlowWritingStore(), RecordingExporter()
    config = {"storage": {"backend": "none"}, "cache": {"enabled": True, "backend": "slow-writes"}}
    answers: list[Any] = []
    async with relaykit.Client(config, plugins=[FakePlugin(), store, exporter]) as c:
        with anyio.fail_after(10), anyio.CancelScope() as scope:  # (a safety net only)
            async with anyio.create_task_group() as tg:

                async def cancel_while_storing() -> None:
                    await store.writing.wait()
                    scope.cancel()

                tg.start_soon(cancel_while_storing)
                answers.append(await c.embed("fake/emb-1", ["a text"]))
                await anyio.lowlevel.checkpoint()  # the caller's next: cancelled there
        assert scope.cancelled_caught
    (record,) = exporter.records
    assert record.ok and len(answers) == 1
    assert len(store.responses) == 1  # and the vector was stored


# -- what is recorded ---------------------------------------------------------


@pytest.mark.anyio
async def test_the_record_holds_the_inputs_redacted_and_no_output() -> None:
    secret = "sk-proj-" + "Ab3" * 10
    exporter = RecordingExporter()
    async with client(FakePlugin(), exporter) as c:
        await c.embed(
            "fake/emb-1",
            ["plain text", f"my key is {secret}"],
            dimensions=4,
            metadata={"correlation_id": "c-1", "team": "search"},
        )
    (record,) = exporter.records
    assert record.ok and record.operation == "embeddings"
    assert record.messages[0].text == "plain text"
    assert secret not in repr(record) and "my key is" in record.messages[1].text
    assert record.params == {"inputs": 2, "dimensions": 4, "metadata": {"team": "search"}}
    assert (record.text, record.usage.output_tokens, record.correlation_id) == ("", 0, "c-1")
    assert record.cost == Decimal(6) / 1_000_000


@pytest.mark.anyio
async def test_a_failed_call_is_recorded_and_logged() -> None:
    fake = FakePlugin()
    fake.script.fail(400, "input too long")
    exporter = RecordingExporter()
    with capture_call_log() as out:
        async with client(fake, exporter) as c:
            with pytest.raises(InvalidRequestError, match="input too long"):
                await c.embed("fake/emb-1", "text")
            await c.embed("fake/emb-1", "text")
    failed, ok = exporter.records
    assert (failed.operation, failed.error_type, failed.status) == (
        "embeddings",
        "InvalidRequestError",
        400,
    )
    assert ok.ok
    lines = call_log_lines(out)
    assert [(line["stage"], line["operation"]) for line in lines] == [
        ("failed", "embeddings"),
        ("completed", "embeddings"),
    ]
    assert lines[1]["input_tokens"] == 1


@pytest.mark.anyio
async def test_a_cancelled_call_is_recorded_as_cancelled() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(delay=10))
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        await cancel_in_flight(
            lambda: c.embed("fake/emb-1", "never"), when=lambda: bool(fake.embeddings)
        )
    (record,) = exporter.records
    assert (record.operation, record.error_type) == ("embeddings", "Cancelled")


def test_metrics_count_input_tokens_only() -> None:
    record = relaykit.CallRecord(
        id="r",
        started_at=0.0,
        operation="embeddings",
        provider="openai",
        model_requested="openai/text-embedding-3-small",
        model="text-embedding-3-small",
        streamed=False,
        usage=relaykit.Usage(input_tokens=12),
        latency=0.1,
    )
    tokens = [o for o in observe(record) if o.instrument.name == "gen_ai.client.token.usage"]
    assert [(o.value, dict(o.attributes)["gen_ai.token.type"]) for o in tokens] == [(12.0, "input")]
    assert dict(tokens[0].attributes)["gen_ai.operation.name"] == "embeddings"


@pytest.mark.anyio
async def test_outbound_redaction_keeps_pii_from_the_provider() -> None:
    fake = FakePlugin()
    async with client(fake, Tickets()) as c:
        await c.embed("fake/emb-1", ["see TICKET-123", "plain"])
    assert fake.embeddings[0].inputs == ("see <T>", "plain")


@pytest.mark.anyio
async def test_aclose_waits_for_an_embedding_in_flight() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(delay=0.3))
    results: list[relaykit.EmbeddingResponse] = []
    c = client(fake)
    async with c:

        async def call() -> None:
            results.append(await c.embed("fake/emb-1", "finishing"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            await c.aclose()
    assert len(results) == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_embeds(backend: str) -> None:
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()], backend=backend) as c:
        r = c.embed("fake/emb-1", ["blocking", "code"])
    assert r.vectors == (mock_vector("blocking"), mock_vector("code"))


# -- helpers for plugins -------------------------------------------------------------


@pytest.mark.anyio
async def test_send_batches_keeps_order_and_a_concurrency_limit() -> None:
    running = peak = 0

    async def send(batch: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01 * (batch % 3))  # finish out of order
        running -= 1
        return batch * 10

    assert await send_batches(list(range(10)), send, concurrency=4) == [b * 10 for b in range(10)]
    assert peak == 4
    assert await send_batches([7], send, concurrency=4) == [70]


@pytest.mark.anyio
async def test_send_batches_raises_the_first_failure_as_itself_and_stops_the_rest() -> None:
    started: list[int] = []

    async def send(batch: int) -> int:
        started.append(batch)
        if batch == 1:
            raise RateLimitError("slow down", retry_after=2)
        await anyio.sleep(5)  # cancelled by the failure
        return batch

    with anyio.fail_after(3):
        with pytest.raises(RateLimitError, match="slow down"):
            await send_batches(list(range(6)), send, concurrency=2)
    assert started == [0, 1]


def test_estimate_tokens_is_a_quarter_of_the_characters_and_one_a_text_at_least() -> None:
    assert estimate_tokens(["abcd", "abcde", "a"]) == 1 + 2 + 1
