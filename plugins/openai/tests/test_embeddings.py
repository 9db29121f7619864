"""What relaykit-openai's embeddings put on the wire and read back, beyond the contract."""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest

import relaykit
from relaykit import (
    ConfigError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
)
from relaykit.testing import (
    LimiterPlugin,
    OpenAIMock,
    RecordingExporter,
    Reply,
    Response,
    ScriptedServer,
    TracingExporter,
    call_log_lines,
    cancel_in_flight,
    capture_call_log,
    frozen_limiter,
    mock_embedding_tokens,
    mock_vector,
)
from relaykit_openai import PRESETS, OpenAIProvider
from relaykit_openai.embeddings import batches, parse, vector

KEY = "sk-test-0123456789abcdef0123"
MODEL = "openai/text-embedding-3-small"


def config(mock: OpenAIMock, **options: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY, **options}},
    }


def config_at(base_url: str, **sections: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": {"base_url": base_url, "api_key": KEY}},
        **sections,
    }


def bodies(mock: OpenAIMock) -> list[dict[str, Any]]:
    return [r.json() for r in mock.requests if r.path == "/v1/embeddings"]


# -- the request and its answer ---------------------------------------------------


@pytest.mark.anyio
async def test_vectors_come_as_base64_and_decode_exactly(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        r = await client.embed(MODEL, ["the cat sat", "on the mat"])
    assert bodies(mock) == [
        {
            "model": "text-embedding-3-small",
            "input": ["the cat sat", "on the mat"],
            "encoding_format": "base64",
        }
    ]
    assert r.vectors == (mock_vector("the cat sat"), mock_vector("on the mat"))
    assert r.model == "text-embedding-3-small"
    assert r.usage == relaykit.Usage(mock_embedding_tokens("the cat sat") * 2)


def test_base64_vectors_are_little_endian_float32() -> None:
    values = (1.0, -0.5, 0.25, 3.0e-8)
    packed = base64.b64encode(struct.pack("<4f", *values)).decode()
    assert vector(packed) == struct.unpack("<4f", struct.pack("<4f", *values))
    assert vector([1, -0.5]) == (1.0, -0.5)


@pytest.mark.anyio
async def test_float_encoding_option(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, embedding_encoding="float")) as client:
        r = await client.embed(MODEL, "plain numbers")
    assert bodies(mock)[0]["encoding_format"] == "float"
    assert r.vectors == (mock_vector("plain numbers"),)


@pytest.mark.anyio
async def test_an_unknown_encoding_is_a_config_error(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, embedding_encoding="int8")) as client:
        with pytest.raises(ConfigError, match="embedding_encoding"):
            await client.embed(MODEL, "x")


@pytest.mark.anyio
async def test_dimensions_and_extra_are_sent(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        r = await client.embed(
            MODEL, "short", dimensions=16, input_type="query", extra={"user": "u-1"}
        )
    assert bodies(mock) == [
        {
            "model": "text-embedding-3-small",
            "input": ["short"],
            "encoding_format": "base64",
            "dimensions": 16,
            "user": "u-1",
        }
    ]
    assert r.vectors == (mock_vector("short", 16),)


@pytest.mark.anyio
async def test_extra_overrides_the_encoding_and_either_shape_is_read(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        r = await client.embed(MODEL, "x y", extra={"encoding_format": "float"})
    assert bodies(mock)[0]["encoding_format"] == "float"
    assert r.vectors == (mock_vector("x y"),)


@pytest.mark.anyio
async def test_openais_refusal_is_typed(mock: OpenAIMock) -> None:
    # the service's refusal, reached through a compatible preset (no model rules)
    cfg = config(mock)
    cfg["providers"] = {"vllm": {"base_url": mock.base_url, "api_key": KEY}}
    async with relaykit.Client(cfg) as client:
        with pytest.raises(InvalidRequestError, match="does not support specifying dimensions"):
            await client.embed("vllm/text-embedding-ada-002", "x", dimensions=8)


@pytest.mark.anyio
async def test_dimensions_for_ada_002_are_refused_before_sending(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError, match="takes no `dimensions`") as info:
            await client.embed("openai/text-embedding-ada-002", "x", dimensions=8)
    assert info.value.status is None
    assert (info.value.param, info.value.provider) == ("dimensions", "openai")
    assert "text-embedding-3-small" in str(info.value)
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_text_over_the_models_length_is_a_context_length_error(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(relaykit.ContextLengthError) as info:
            await client.embed(MODEL, ["short", "w " * 8193])
    assert info.value.param == "inputs[1]"
    assert "maximum input length is 8192 tokens" in str(info.value)


@pytest.mark.anyio
async def test_a_text_over_the_length_in_a_later_request_is_named_by_the_callers_index(
    mock: OpenAIMock,
) -> None:
    # OpenAI names the text by its place in the request it got; relaykit split the
    # call, so the caller's index is the request's start plus that place.
    texts = [f"text {i}" for i in range(2051)]
    texts[2050] = "w " * 8193
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(relaykit.ContextLengthError) as info:
            await client.embed(MODEL, texts)
    assert info.value.param == "inputs[2050]"
    assert "Invalid 'inputs[2050]': maximum input length is 8192 tokens." in str(info.value)
    assert "max_tokens" not in str(info.value)  # chat's fix, not an embedding's
    assert "cut it into pieces" in str(info.value)


@pytest.mark.anyio
async def test_cost_comes_from_the_price_table(mock: OpenAIMock) -> None:
    mock.script.push(Reply(input_tokens=1_000), Reply(input_tokens=1_000))
    async with relaykit.Client(config(mock)) as client:
        small = await client.embed(MODEL, "priced")
        large = await client.embed("openai/text-embedding-3-large", "priced")
        models = await client.models("openai")
    assert small.cost == Decimal("0.02") * 1_000 / 1_000_000
    assert large.cost == Decimal("0.13") * 1_000 / 1_000_000
    assert models, "the model listing still works"


def test_embedding_models_are_priced_by_input_only() -> None:
    prices = {
        model: OpenAIProvider.known_models[model][1]
        for model in ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")
    }
    assert {m: (p.input, p.output) for m, p in prices.items() if p is not None} == {
        "text-embedding-3-small": (Decimal("0.02"), Decimal(0)),
        "text-embedding-3-large": (Decimal("0.13"), Decimal(0)),
        "text-embedding-ada-002": (Decimal("0.10"), Decimal(0)),
    }


# -- many texts ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_more_than_2048_texts_go_in_two_requests_in_order(mock: OpenAIMock) -> None:
    texts = [f"text {i}" for i in range(2050)]
    mock.script.push(Reply(input_tokens=100), Reply(input_tokens=7))
    async with relaykit.Client(config(mock)) as client:
        r = await client.embed(MODEL, texts)
    sent = sorted((b["input"] for b in bodies(mock)), key=len, reverse=True)
    assert sent == [texts[:2048], texts[2048:]]
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == 107


@pytest.mark.anyio
async def test_a_failed_batch_fails_the_call_with_its_own_error(mock: OpenAIMock) -> None:
    mock.script.push(Reply(), Reply.failure(429, "slow down", retry_after=3))
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.embed(MODEL, [f"text {i}" for i in range(2050)])
    assert info.value.retry_after == pytest.approx(3)


def test_batches_keep_order_under_both_limits() -> None:
    assert batches(["a", "b"]) == [("a", "b")]
    assert batches(list("abcde"), max_inputs=2) == [("a", "b"), ("c", "d"), ("e",)]
    # é is two bytes, and each text may add two tokens: two fit in eight, a third does not
    assert batches(["é", "é", "é"], max_tokens=8) == [("é", "é"), ("é",)]
    # a text longer than the budget goes alone, for the service to judge
    assert batches(["x" * 9, "y", "z"], max_tokens=6) == [("x" * 9,), ("y", "z")]


# -- compatible services ------------------------------------------------------------


def test_which_presets_embed_and_how() -> None:
    embeds = {name: (p.embed is not None, p.embedding_encoding) for name, p in PRESETS.items()}
    assert {name for name, (has, _) in embeds.items() if not has} == {
        "groq",
        "deepseek",
        "cerebras",
    }
    assert {name for name, (has, enc) in embeds.items() if has and enc == "base64"} == {
        "mistral",
        "vllm",
    }
    assert PRESETS["mistral"].dimensions_param == "output_dimension"


@pytest.mark.anyio
async def test_a_preset_without_embeddings_is_refused_before_sending(mock: OpenAIMock) -> None:
    cfg = config(mock)
    cfg["providers"] = {"groq": {"base_url": mock.base_url, "api_key": KEY}}
    async with relaykit.Client(cfg) as client:
        with pytest.raises(InvalidRequestError, match="no embeddings"):
            await client.embed("groq/llama-3.3-70b-versatile", "hello")
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_compatible_preset_embeds_with_floats(mock: OpenAIMock) -> None:
    cfg = config(mock)
    cfg["providers"] = {"together": {"base_url": mock.base_url, "api_key": KEY}}
    async with relaykit.Client(cfg) as client:
        r = await client.embed("together/BAAI/bge-base-en-v1.5", ["one", "two"], dimensions=4)
    assert bodies(mock)[0]["encoding_format"] == "float"
    assert bodies(mock)[0]["dimensions"] == 4
    assert r.vectors == (mock_vector("one", 4), mock_vector("two", 4))
    assert r.cost is None  # compatible services' prices are not in the table


@pytest.mark.anyio
async def test_mistral_names_dimensions_its_own_way(mock: OpenAIMock) -> None:
    cfg = config(mock)
    cfg["providers"] = {"mistral": {"base_url": mock.base_url, "api_key": KEY}}
    async with relaykit.Client(cfg) as client:
        r = await client.embed("mistral/codestral-embed", "def f(): pass", dimensions=256)
    assert r.dimensions == 256
    body = bodies(mock)[0]
    assert (body["output_dimension"], body["encoding_format"]) == (256, "base64")
    assert "dimensions" not in body


@pytest.mark.anyio
async def test_mistral_takes_512_texts_a_request(mock: OpenAIMock) -> None:
    # Mistral refuses a 513th text ("Too many inputs in request, split into more
    # batches."): OpenAI's 2048 would fail the call
    cfg = config(mock)
    cfg["providers"] = {"mistral": {"base_url": mock.base_url, "api_key": KEY}}
    texts = [f"text {i}" for i in range(600)]
    async with relaykit.Client(cfg) as client:
        r = await client.embed("mistral/mistral-embed", texts)
    sent = sorted((b["input"] for b in bodies(mock)), key=len, reverse=True)
    assert sent == [texts[:512], texts[512:]]
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == sum(map(mock_embedding_tokens, texts))


@pytest.mark.anyio
async def test_mistral_takes_16384_tokens_a_request(mock: OpenAIMock) -> None:
    # three texts of 6,000 tokens: Mistral refuses any two together ("Too many
    # tokens overall, split into more batches.")
    cfg = config(mock)
    cfg["providers"] = {"mistral": {"base_url": mock.base_url, "api_key": KEY}}
    texts = [f"{i} " + "w " * 5999 for i in range(3)]
    async with relaykit.Client(cfg) as client:
        r = await client.embed("mistral/codestral-embed", texts)
    assert sorted(b["input"] for b in bodies(mock)) == [[t] for t in texts]
    assert r.vectors == tuple(mock_vector(t) for t in texts)


@pytest.mark.anyio
async def test_more_than_300000_tokens_go_in_several_requests(mock: OpenAIMock) -> None:
    # 320,000 tokens in 40 texts: OpenAI refuses them in one request
    texts = [f"{i} " + "w " * 7999 for i in range(40)]
    async with relaykit.Client(config(mock)) as client:
        r = await client.embed(MODEL, texts)
    sent = bodies(mock)
    assert len(sent) > 1
    assert all(sum(map(mock_embedding_tokens, b["input"])) <= 300_000 for b in sent)
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == 320_000


def test_items_are_ordered_by_index_and_those_without_one_keep_their_place() -> None:
    data = {
        "data": [{"embedding": [1.0]}, {"embedding": [2.0]}],
        "model": "m",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    assert parse(data) == ([(1.0,), (2.0,)], 0, "m")
    shuffled = {"data": [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]}
    assert parse(shuffled) == ([(1.0,), (2.0,)], 0, "")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "most"), [("text-embedding-3-small", 1536), ("text-embedding-3-large", 3072)]
)
async def test_more_dimensions_than_the_model_has_are_refused_before_sending(
    mock: OpenAIMock, model: str, most: int
) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError, match=f"at most {most}") as info:
            await client.embed(f"openai/{model}", ["a", "b"], dimensions=most + 1)
        assert (info.value.param, info.value.provider, info.value.status) == (
            "dimensions",
            "openai",
            None,
        )
        assert f"pass {most} or fewer" in str(info.value)
        assert mock.requests == []
        r = await client.embed(f"openai/{model}", "a", dimensions=most)  # the full length is fine
    assert r.dimensions == most


@pytest.mark.anyio
async def test_the_mock_refuses_more_dimensions_than_the_model_has(mock: OpenAIMock) -> None:
    # reached through a compatible preset, which relaykit does not check: OpenAI's own 400
    cfg = config(mock)
    cfg["providers"] = {"vllm": {"base_url": mock.base_url, "api_key": KEY}}
    async with relaykit.Client(cfg) as client:
        with pytest.raises(InvalidRequestError, match="1536") as info:
            await client.embed("vllm/text-embedding-3-small", "x", dimensions=2048)
    assert info.value.status == 400


def billed_config(mock: OpenAIMock, **sections: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "limiter": {"backend": "frozen"},
        "limits": {"*": {"budget_usd": "10", "tpm": 1_000_000}},
        "prices": {MODEL: {"input": 1, "output": 0}},
        "cache": {"enabled": True},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        **sections,
    }


def first_answered(mock: OpenAIMock) -> Callable[[], bool]:
    """Whether both requests of a split call are out and the quick one's answer is
    in: a while after the slow one arrived (its reply waits far longer)."""
    seen: list[float] = []

    def answered() -> bool:
        if len(mock.requests) < 2:
            return False
        if not seen:
            seen.append(time.monotonic())
        return time.monotonic() - seen[0] > 0.5

    return answered


def spent(limiter: Any) -> Decimal:
    return sum((b.spent for b in limiter._budgets.values()), Decimal(0))


@pytest.mark.anyio
async def test_a_split_call_that_fails_is_charged_its_answered_requests_and_keeps_their_vectors(
    mock: OpenAIMock,
) -> None:
    # 2050 texts go in two requests; one is answered (100 tokens, billed), the other
    # refused. The failed call was recorded and settled as free, and a second try
    # paid for the answered texts again. Now its record and budget carry the 100
    # tokens, and the vectors that came back are cached: the next try sends the rest.
    texts = [f"text {i}" for i in range(2050)]
    mock.script.push(Reply(input_tokens=100), attrs.evolve(Reply.failure(400), delay=0.3))
    exporter = RecordingExporter()
    frozen = LimiterPlugin(frozen_limiter())
    async with relaykit.Client(billed_config(mock), plugins=[frozen, exporter]) as client:
        with pytest.raises(InvalidRequestError):
            await client.embed(MODEL, texts)
        (failed,) = exporter.records
        assert (failed.error_type, failed.usage.input_tokens) == ("InvalidRequestError", 100)
        assert (failed.cost, failed.usage_estimated) == (Decimal("0.0001"), False)
        assert spent(frozen.limiter) == failed.cost
        first = len(bodies(mock))
        mock.script.push(Reply(input_tokens=7))
        r = await client.embed(MODEL, texts)
    resent = [b["input"] for b in bodies(mock)[first:]]
    assert len(resent) == 1 and len(resent[0]) in (2, 2048)  # only the texts not answered
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == 7
    assert spent(frozen.limiter) == Decimal("0.000107")
    assert sum((rec.cost or 0 for rec in exporter.records), Decimal(0)) == Decimal("0.000107")


@pytest.mark.anyio
async def test_a_split_call_cancelled_after_some_requests_were_answered_is_charged_them(
    mock: OpenAIMock,
) -> None:
    # 2050 texts go in two requests; one is answered (100 tokens, billed), then the
    # caller cancels while the other is still out. The cancelled call gave its whole
    # hold back and recorded no usage, as if nothing had been billed. Now its record,
    # span, log line and budget carry the 100 tokens, as a failed call's do, and the
    # vectors that came back are cached: the next try sends only the rest.
    texts = [f"text {i}" for i in range(2050)]
    mock.script.push(Reply(input_tokens=100), attrs.evolve(Reply(input_tokens=1), delay=3))
    exporter = RecordingExporter()
    telemetry = TracingExporter()
    frozen = LimiterPlugin(frozen_limiter())
    async with relaykit.Client(
        billed_config(mock), plugins=[frozen, exporter, telemetry]
    ) as client:
        with capture_call_log() as log:
            await cancel_in_flight(lambda: client.embed(MODEL, texts), when=first_answered(mock))
        (cancelled,) = exporter.records
        assert (cancelled.error_type, cancelled.usage.input_tokens) == ("Cancelled", 100)
        assert (cancelled.cost, cancelled.usage_estimated) == (Decimal("0.0001"), False)
        assert spent(frozen.limiter) == cancelled.cost
        (span,) = telemetry.finished()
        a = dict(span.attributes or {})
        assert (a["error.type"], a["gen_ai.usage.input_tokens"]) == ("Cancelled", 100)
        assert a["relaykit.cost_usd"] == 0.0001 and "relaykit.usage.estimated" not in a
        (line,) = call_log_lines(log)
        assert (line["error_type"], line["input_tokens"], line["cost_usd"]) == (
            "Cancelled",
            100,
            0.0001,
        )
        assert "usage_estimated" not in line
        first = len(bodies(mock))
        mock.script.push(Reply(input_tokens=7))
        r = await client.embed(MODEL, texts)
    resent = [b["input"] for b in bodies(mock)[first:]]
    assert len(resent) == 1 and len(resent[0]) in (2, 2048)  # only the texts not answered
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert spent(frozen.limiter) == Decimal("0.000107")
    assert sum((rec.cost or 0 for rec in exporter.records), Decimal(0)) == Decimal("0.000107")


@pytest.mark.anyio
async def test_a_split_call_retried_after_a_request_failed_is_charged_each_request_once(
    mock: OpenAIMock,
) -> None:
    texts = [f"text {i}" for i in range(2050)]
    mock.script.push(
        Reply(input_tokens=100),
        attrs.evolve(Reply.failure(503), delay=0.3),
        Reply(input_tokens=7),
    )
    exporter = RecordingExporter()
    frozen = LimiterPlugin(frozen_limiter())
    config = billed_config(mock, retry={"attempts": 2, "initial_wait": 0})
    async with relaykit.Client(config, plugins=[frozen, exporter]) as client:
        r = await client.embed(MODEL, texts)
    assert len(bodies(mock)) == 3  # the retry resent only the failed request
    assert r.usage.input_tokens == 107 and r.cost == Decimal("0.000107")
    (record,) = exporter.records
    assert (record.usage.input_tokens, record.cost) == (107, r.cost)
    assert spent(frozen.limiter) == r.cost  # not 100 tokens twice


def listing(indexes: list[int], texts: list[str]) -> dict[str, Any]:
    """An embeddings list with an item for each of ``indexes``, each the vector of
    ``texts`` at that place (as a compatible server might answer one wrongly)."""
    n = len(texts)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": list(mock_vector(texts[i % n]))}
            for i in indexes
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    "indexes", [[0, 2], [0, 0, 1], [0, 1, 3], [1, 2, 0, 1]], ids=["gap", "twice", "past", "more"]
)
async def test_an_answer_whose_indexes_are_not_each_text_once_is_refused_and_not_cached(
    indexes: list[int],
) -> None:
    # Items are put in place by their `index`. An answer that skips a place, names
    # one twice or names one past the texts was read as if each text had one item:
    # with as many items as texts it passed, every text after the fault given its
    # neighbour's vector; with fewer it failed, but the vectors it had were cached
    # under the texts they were shifted onto, and answered the next call wrongly.
    texts = ["alpha", "beta", "gamma"]
    right = listing([0, 1, 2], texts)
    with ScriptedServer(Response.json(listing(indexes, texts)), Response.json(right)) as server:
        cfg = config_at(server.url + "/v1", cache={"enabled": True})
        async with relaykit.Client(cfg) as client:
            with pytest.raises(ProviderUnavailableError, match="not one for each") as info:
                await client.embed(MODEL, texts)
            assert (info.value.provider, info.value.retryable) == ("openai", True)
            r = await client.embed(MODEL, texts)
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert server.bodies[1]["input"] == texts  # nothing of the faulty answer was kept


@pytest.mark.anyio
async def test_an_answer_of_misplaced_items_is_asked_again() -> None:
    texts = ["alpha", "beta", "gamma"]
    wrong, right = listing([0, 0, 1], texts), listing([2, 0, 1], texts)
    with ScriptedServer(Response.json(wrong), Response.json(right)) as server:
        cfg = config_at(server.url + "/v1", retry={"attempts": 2, "initial_wait": 0})
        async with relaykit.Client(cfg) as client:
            r = await client.embed(MODEL, texts)
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert (r.attempts, len(server.bodies)) == (2, 2)
