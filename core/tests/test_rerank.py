"""Client.rerank: documents ranked by relevance to a query, through the chat pipeline's
routing, limits, retries, cost, metrics and call log."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import (
    ConfigError,
    InvalidRequestError,
    QuotaExceededError,
    RerankRequest,
    RerankResult,
)
from relaykit.rerank import ranked
from relaykit.testing import FakePlugin, FakeProvider, RecordingExporter, mock_relevance

from .conftest import SETTINGS, Tickets, client, token_metrics

QUERY = "capital of France"
DOCUMENTS = ["Berlin is in Germany", "Paris is the capital of France", "France has cheese"]


# -- the answer ----------------------------------------------------------------


@pytest.mark.anyio
async def test_the_best_documents_come_first_with_their_texts_and_a_cost_per_search() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.rerank("fake/rerank-1", QUERY, DOCUMENTS, top_n=2)
    assert r.results == (
        RerankResult(1, mock_relevance(QUERY, DOCUMENTS[1], 1), DOCUMENTS[1]),
        RerankResult(2, mock_relevance(QUERY, DOCUMENTS[2], 2), DOCUMENTS[2]),
    )
    assert r.documents == (DOCUMENTS[1], DOCUMENTS[2])
    assert (r.provider, r.model, r.id, r.search_units, r.attempts) == (
        "fake",
        "rerank-1",
        "rerank-fake",
        1,
        1,
    )
    assert r.cost == Decimal("0.002")  # one search at USD 2 a thousand
    # The fake bills searches, not tokens: the core estimates them for token limits.
    assert r.usage == relaykit.Usage(input_tokens=5 + 5 + 8 + 5)  # a quarter of the characters
    assert fake.reranks[0].top_n == 2


@pytest.mark.anyio
async def test_top_n_beyond_the_documents_ranks_them_all() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.rerank("fake/rerank-1", QUERY, DOCUMENTS, top_n=10)
    assert [x.index for x in r.results] == [1, 2, 0]
    assert fake.reranks[0].top_n == 3


@pytest.mark.parametrize(
    ("query", "documents", "params", "message"),
    [
        ("", ["d"], {}, "query must be a non-blank string"),
        ("q", "one text", {}, "documents must be a list of strings, not str"),
        ("q", [], {}, "documents is empty"),
        ("q", ["d", 3], {}, r"documents\[1\] is a int"),
        ("q", ["d", "  "], {}, r"documents\[1\] is blank"),
        ("q", ["d"], {"top_n": 0}, "`top_n` must be a positive integer"),
        ("q", ["d"], {"max_tokens_per_doc": True}, "`max_tokens_per_doc` must be a positive"),
        ("q", ["d"], {"top_k": 1}, "did you mean 'top_n'"),
        ("q", ["d"], {"timeout": -1}, "`timeout` must be a positive number"),
    ],
)
@pytest.mark.anyio
async def test_bad_input_is_a_typed_error_naming_it(
    query: str, documents: Any, params: dict[str, Any], message: str
) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match=message):
            await c.rerank("fake/rerank-1", query, documents, **params)
    assert fake.reranks == []


def test_a_plugins_bad_answer_is_refused() -> None:
    request = RerankRequest(model="m", query="q", documents=("a", "b"))
    with pytest.raises(relaykit.RelayError, match="ranked document 2 of 2"):
        ranked(request, [(0, 0.5), (2, 0.4)], provider="p")
    with pytest.raises(relaykit.RelayError, match="ranked twice"):
        ranked(request, [(0, 0.5), (0, 0.4)], provider="p")


class _NoRerank(FakeProvider):
    rerank = None  # type: ignore[assignment]  # as a plugin without a rerank API


@pytest.mark.anyio
async def test_a_provider_without_rerank_is_refused_and_a_route_falls_back() -> None:
    fake = FakePlugin()
    routes = {"ranker": {"targets": ["chatonly/m", "fake/rerank-1"]}}
    async with client(FakePlugin("chatonly", provider=_NoRerank), fake, models=routes) as c:
        with pytest.raises(InvalidRequestError, match="chatonly has no rerank API") as info:
            await c.rerank("chatonly/m", QUERY, DOCUMENTS)
        assert "rerank with a provider that has one" in str(info.value)
        r = await c.rerank("ranker", QUERY, DOCUMENTS)
    assert (r.provider, r.results[0].index) == ("fake", 1)


# -- resilience, limits, budgets --------------------------------------------------


@pytest.mark.anyio
async def test_a_server_error_is_retried_and_a_fallback_is_recorded() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.fail(503, "busy")
    async with client(first) as c:
        r = await c.rerank("fake/rerank-1", QUERY, DOCUMENTS)
    assert (r.attempts, r.results[0].index) == (2, 1)
    first.script.fail(503, "down", retry_after=0)
    exporter = RecordingExporter()
    routes = {"ranker": {"targets": ["fake/rerank-a", "other/rerank-b"]}}
    async with client(first, second, exporter, models=routes, retry={"attempts": 1}) as c:
        r = await c.rerank("ranker", QUERY, DOCUMENTS)
    assert (r.provider, r.model) == ("other", "rerank-b")
    (record,) = exporter.records
    assert (record.operation, record.fallbacks) == ("rerank", 1)


@pytest.mark.anyio
async def test_token_limits_count_the_query_and_documents() -> None:
    fake = FakePlugin()
    # 40 characters a call: 10 tokens held and (estimated by the core) settled
    async with client(fake, limits={"fake/*": {"tpm": 25}}) as c:
        for _ in range(2):
            await c.rerank("fake/rerank-1", "q" * 8, ["d" * 32])
        with pytest.raises(QuotaExceededError):
            await c.rerank("fake/rerank-1", "q" * 8, ["d" * 32])


@pytest.mark.anyio
async def test_a_budget_is_spent_per_search() -> None:
    fake = FakePlugin()
    budget = {"limits": {"fake/*": {"budget_usd": "0.005"}}}
    async with client(fake, **budget) as c:
        many = [f"document {i}" for i in range(150)]  # two searches: USD 0.004
        await c.rerank("fake/rerank-1", "q", many)
        with pytest.raises(QuotaExceededError, match="budget"):
            await c.rerank("fake/rerank-1", "q", many)


def test_a_price_per_search_is_configured_and_overrides_the_plugins(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    settings = {"prices": {"fake/rerank-1": {"per_search": "0.001"}}}
    price = closed_after(relaykit.Client({**SETTINGS, **settings})).config.prices["fake/rerank-1"]
    assert price.per_search == Decimal("0.001")
    assert price.cost(relaykit.Usage(1000), searches=3) == Decimal("0.003")
    with pytest.raises(ConfigError, match="or per_search"):
        closed_after(relaykit.Client({**SETTINGS, "prices": {"fake/m": {"input": 1}}}))


# -- what is recorded ---------------------------------------------------------


@pytest.mark.anyio
async def test_the_record_holds_the_query_and_documents_redacted() -> None:
    secret = "sk-proj-" + "Ab3" * 10
    exporter = RecordingExporter()
    async with client(FakePlugin(), exporter) as c:
        await c.rerank(
            "fake/rerank-1",
            f"who leaked {secret}",
            ["plain text", "more"],
            top_n=1,
            metadata={"correlation_id": "c-1", "team": "search"},
        )
    (record,) = exporter.records
    assert record.ok and record.operation == "rerank"
    assert [m.text for m in record.messages[1:]] == ["plain text", "more"]
    assert secret not in repr(record) and "who leaked" in record.messages[0].text
    assert record.params == {"documents": 2, "top_n": 1, "metadata": {"team": "search"}}
    assert (record.usage.output_tokens, record.correlation_id, record.cost) == (
        0,
        "c-1",
        Decimal("0.002"),
    )


def test_metrics_count_no_output_tokens() -> None:
    tokens = token_metrics("rerank", "cohere/rerank-v3.5", relaykit.Usage(input_tokens=40))
    assert tokens == [(40.0, "input")]


@pytest.mark.anyio
async def test_outbound_redaction_keeps_pii_from_the_provider_but_not_from_the_caller() -> None:
    fake = FakePlugin()
    async with client(fake, Tickets()) as c:
        r = await c.rerank("fake/rerank-1", "TICKET-9 status", ["see TICKET-123", "plain"])
    assert (fake.reranks[0].query, fake.reranks[0].documents) == (
        "<T> status",
        ("see <T>", "plain"),
    )
    assert set(r.documents) == {"see TICKET-123", "plain"}  # the caller's own texts


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_reranks(backend: str) -> None:
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()], backend=backend) as c:
        r = c.rerank("fake/rerank-1", QUERY, DOCUMENTS, top_n=1)
    assert r.documents == (DOCUMENTS[1],)


@pytest.mark.anyio
async def test_a_failed_call_is_recorded() -> None:
    fake = FakePlugin()
    fake.script.fail(400, "too many documents")
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        with pytest.raises(InvalidRequestError, match="too many documents"):
            await c.rerank("fake/rerank-1", QUERY, DOCUMENTS)
    (record,) = exporter.records
    assert (record.ok, record.operation, record.error_type) == (
        False,
        "rerank",
        "InvalidRequestError",
    )
