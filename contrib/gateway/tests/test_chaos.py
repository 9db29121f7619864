"""Chaos through the gateway: many callers over HTTP, faulty providers, callers that hang up.

A gateway served by hypercorn on loopback, with three gateway keys (one on a
small budget of its own besides every key's), sits in front of a client with
the response cache, a SQLite call log, retries, a breaker, timeouts and an
alias that falls back and hedges between an OpenAI mock and an Anthropic mock.
Each mock answers from a seeded random mix of faults (5xx, 429 with
Retry-After, resets, drops, truncations, in-stream errors, slow first tokens).
Callers speak plain HTTP (httpx) to every chat API the gateway serves, streamed
or not, continue Responses API answers with ``previous_response_id``, ask for
embeddings, and about one in ten hangs up before its answer is whole. Once the
gateway has drained and the client closed, the invariants of the whole system
are checked (core/tests/test_chaos.py checks the client's alone).

Run more seeds locally with ``RELAYKIT_CHAOS_SEEDS=1-40``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

import relaykit
from relaykit.cache_store import OPEN_TIMEOUT
from relaykit.protocols import CallRecord, LogQuery
from relaykit.testing import OpenAIMock
from relaykit.testing.chaos import attempt_record, chaos_reply, chaos_sections, chaos_seeds
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway import Gateway, GatewayKeys, serve
from relaykit_gateway.testing import UPSTREAM_KEY

pytestmark = pytest.mark.anyio

KEY_VALUES = {
    "alice": "gw-chaos-alice-0123456789abcdef",
    "bob": "gw-chaos-bob-0123456789abcdef",
    # carol has a small budget of her own: some of her calls are refused (429)
    "carol": "gw-chaos-carol-0123456789abcdef",
}
KEYS = GatewayKeys.parse(",".join(f"{name}={key}" for name, key in KEY_VALUES.items()))
OPENAI_MODEL, ANTHROPIC_MODEL = "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"
EMBEDDING_MODEL = "openai/text-embedding-3-small"
ALIAS = "chaos"
#: USD per million tokens: round numbers, so the sums below are exact
PRICE = {"input": 1, "output": 2}
CALLS = 120
#: the statuses the README's "Errors" documents for a call that failed
DOCUMENTED = {400, 401, 403, 404, 429, 502, 503, 504}
#: the status each relaykit error type is answered with (502: any other failure)
STATUS_OF = {
    "RateLimitError": 429,
    "QuotaExceededError": 429,
    "CircuitOpenError": 503,
    "ProviderUnavailableError": 503,
    "RequestTimeoutError": 504,
}
#: the longest any request may take, hang-ups aside (total timeout 2 s, retries,
#: hedges), plus what the response cache's first operations may wait while its
#: SQLite store opens (at load 16 one used all of it)
BOUND = 6.0 + OPEN_TIMEOUT


@attrs.define
class Seen:
    """One request and what its caller saw."""

    index: int
    kind: str  # "chat", "messages", "responses", "embeddings"
    streamed: bool
    key: str  # the gateway key's name
    correlation_id: str
    #: "answered", "hung_up" (the caller closed the connection), "broken" (the
    #: connection failed under the caller: a defect)
    outcome: str = "pending"
    status: int | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    #: a stream's events, parsed (``[DONE]`` as the string)
    events: list[Any] = attrs.field(factory=list)
    #: for a stream: ended with its API's last event (``"ok"``), with its error event
    #: (``"error"``), or without either (``None``)
    ending: str | None = None
    seconds: float = 0.0
    error: str = ""
    #: the response id a Responses API answer gave (to be continued)
    response_id: str | None = None
    #: the response this request continues, and whether its own key made it
    continues: str | None = None
    own: bool = True


def _config(openai_mock: OpenAIMock, anthropic_mock: AnthropicMock, db: Path) -> dict[str, Any]:
    return {
        **chaos_sections(db),
        "providers": {
            "openai": {"base_url": openai_mock.base_url, "api_key": UPSTREAM_KEY},
            "anthropic": {"base_url": anthropic_mock.base_url, "api_key": UPSTREAM_KEY},
        },
        "models": {ALIAS: {"targets": [OPENAI_MODEL, ANTHROPIC_MODEL], "hedge_after": 0.15}},
        "limits": {
            "gateway_key=*": {"rpm": 100_000, "budget_usd": 100},
            "gateway_key=carol": {"budget_usd": "0.0004"},
        },
        "prices": {
            OPENAI_MODEL: PRICE,
            ANTHROPIC_MODEL: PRICE,
            EMBEDDING_MODEL: {"input": 1, "output": 0},
        },
    }


def _request(seen: Seen, rng: random.Random, previous: str | None) -> tuple[str, dict[str, Any]]:
    """The path and JSON body of ``seen``'s request."""
    # a few prompts asked at temperature 0 again and again: cache hits
    repeat = rng.random() < 0.3
    prompt = f"repeat {rng.randint(0, 3)}" if repeat else f"question {seen.index}"
    sampling = {"temperature": 0} if repeat else {}
    model = rng.choice((ALIAS, OPENAI_MODEL, ANTHROPIC_MODEL))
    if seen.kind == "embeddings":
        return "/v1/embeddings", {"model": EMBEDDING_MODEL, "input": [prompt, "and more"]}
    if seen.kind == "chat":
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], **sampling}
        if seen.streamed:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return "/v1/chat/completions", body
    if seen.kind == "messages":
        messages = [{"role": "user", "content": prompt}]
        body = {"model": model, "max_tokens": 64, "messages": messages, **sampling}
        return "/v1/messages", body | ({"stream": True} if seen.streamed else {})
    body = {"model": model, "input": prompt, **sampling}
    if previous is not None:
        body["previous_response_id"] = previous
    return "/v1/responses", body | ({"stream": True} if seen.streamed else {})


async def _one(
    http: httpx.AsyncClient, seen: Seen, rng: random.Random, previous: str | None = None
) -> None:
    """One caller: its request, maybe hung up at a random moment (before the answer,
    or mid-stream: the connection is closed under the gateway either way)."""
    path, body = _request(seen, rng, previous)
    key = KEY_VALUES[seen.key]
    headers = {"x-correlation-id": seen.correlation_id}
    if seen.kind == "messages":  # as Anthropic's SDKs send a key
        headers |= {"x-api-key": key, "anthropic-version": "2023-06-01"}
    else:
        headers["authorization"] = f"Bearer {key}"
    # A quarter of callers mean to hang up: at a random moment, or (streams) after a
    # few events; leaving the block closes the connection under the gateway. About
    # one caller in ten does so before its answer is whole (the others had it by then).
    # (most answers take milliseconds: most hang-ups come early)
    hang_up = rng.uniform(0.0, rng.choice((0.02, 0.3))) if rng.random() < 0.25 else None
    after_events = rng.randint(1, 4) if hang_up is not None and rng.random() < 0.5 else None
    started = time.monotonic()
    with anyio.CancelScope() as scope:
        if hang_up is not None and after_events is None:
            scope.deadline = anyio.current_time() + hang_up
        try:
            async with http.stream("POST", path, json=body, headers=headers) as r:
                seen.status, seen.headers = r.status_code, dict(r.headers)
                if seen.streamed and r.status_code == 200:
                    await _read_events(seen, r, after_events)
                else:
                    seen.body = await r.aread()
            seen.outcome = "answered" if seen.ending != "left" else "hung_up"
        except httpx.HTTPError as e:
            seen.outcome, seen.error = "broken", repr(e)
    seen.seconds = time.monotonic() - started
    if scope.cancelled_caught and seen.outcome == "pending":
        seen.outcome = "hung_up"


async def _read_events(seen: Seen, r: httpx.Response, leave_after: int | None) -> None:
    """A stream's server-sent events, each ``data:`` parsed, and how it ended (``"left"``:
    the caller left after ``leave_after`` events)."""
    async for line in r.aiter_lines():
        seen.body += line.encode() + b"\n"
        if not line.startswith("data: "):
            continue
        data = line.removeprefix("data: ")
        event = data if data == "[DONE]" else json.loads(data)
        seen.events.append(event)
        if leave_after is not None and len(seen.events) >= leave_after:
            seen.ending = "left"
            return
    if not seen.events:
        return
    last = seen.events[-1]
    if seen.kind == "chat":
        seen.ending = "ok" if last == "[DONE]" else "error" if "error" in last else None
    elif seen.kind == "messages":
        kinds = {"message_stop": "ok", "error": "error"}
        seen.ending = kinds.get(last.get("type"))
    else:
        kinds = {"response.completed": "ok", "response.incomplete": "ok"}
        seen.ending = kinds.get(
            last.get("type"), "error" if last.get("type") == "response.failed" else None
        )
        if seen.ending == "ok":
            seen.response_id = last["response"]["id"]


async def _conversation(http: httpx.AsyncClient, first: Seen, then: Seen, seed: int) -> None:
    """A Responses API answer, continued with ``previous_response_id`` once it came whole."""
    await _one(http, first, random.Random(f"{seed}-{first.index}"))
    if first.outcome == "answered" and first.status == 200 and not first.streamed:
        first.response_id = json.loads(first.body)["id"]
    if first.response_id is None:
        then.outcome = "skipped"
        return
    then.continues = first.response_id
    await _one(http, then, random.Random(f"{seed}-{then.index}"), first.response_id)


async def _workload(url: str, seed: int) -> list[Seen]:
    rng = random.Random(seed)
    kinds = rng.choices(["chat", "messages", "responses", "embeddings"], [4, 3, 2, 1], k=CALLS)
    seen = [
        Seen(
            i,
            kind,
            streamed=kind != "embeddings" and rng.random() < 0.5,
            key=rng.choice(tuple(KEY_VALUES)),
            correlation_id=f"gw-chaos-{i}",
        )
        for i, kind in enumerate(kinds)
    ]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with (
        httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http,
        anyio.create_task_group() as tg,
    ):
        waiting: Seen | None = None
        for s in seen:
            if s.kind == "responses":  # in pairs: an answer, then its continuation
                if waiting is None:
                    waiting = s
                    continue
                # mostly by the key that made it; else by another, which may not
                s.key = rng.choice([k for k in KEY_VALUES if k != waiting.key])
                s.own = rng.random() < 0.85
                if s.own:
                    s.key = waiting.key
                tg.start_soon(_conversation, http, waiting, s, seed)
                waiting = None
            else:
                tg.start_soon(_one, http, s, random.Random(f"{seed}-{s.index}"))
            await anyio.sleep(rng.uniform(0, 0.004))
        if waiting is not None:
            tg.start_soon(_one, http, waiting, random.Random(f"{seed}-{waiting.index}"))
    return seen


async def _stored(db: Path) -> list[CallRecord]:
    config = {"storage": {"backend": "sqlite", "path": str(db)}}
    async with relaykit.Client(config) as reader:
        assert reader.storage is not None
        return await reader.storage.query_logs(LogQuery(limit=100_000))


@pytest.mark.parametrize("seed", chaos_seeds((1, 2)))
async def test_invariants_hold_through_the_gateway(
    mocks: tuple[OpenAIMock, AnthropicMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> None:
    openai_mock, anthropic_mock = mocks
    rng = random.Random(f"faults-{seed}")
    for mock in mocks:
        mock.script.push(*[chaos_reply(rng) for _ in range(CALLS * 3)])
    db = tmp_path / "calls.db"
    caplog.set_level(logging.WARNING)
    client = relaykit.Client(_config(openai_mock, anthropic_mock, db))
    gateway = Gateway(client, keys=KEYS)
    stop = anyio.Event()
    with anyio.fail_after(30):  # shutdown completes
        async with client:
            async with anyio.create_task_group() as tg:
                url = await tg.start(
                    lambda task_status: serve(
                        gateway, "127.0.0.1", 0, shutdown=stop, task_status=task_status
                    )
                )
                seen = await _workload(url, seed)
                stop.set()
            spent = _spent(client)
    stored = await _stored(db)
    # The mocks run in threads of their own: give them a moment to see the closes.
    with anyio.move_on_after(2):
        while any(mock.server.stats.connections_open for mock in mocks):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    _check(seed, seen, stored, spent, caplog, db)
    assert gateway.in_flight == 0, f"seed {seed}: gateway in flight {gateway.in_flight}"
    assert client._in_flight == 0, f"seed {seed}: client in flight"
    for mock in mocks:
        assert mock.server.stats.connections_open == 0, f"seed {seed}: {mock} left open"


def _spent(client: relaykit.Client) -> dict[str, Decimal]:
    """What each budget (by its limit key) has spent or holds."""
    limiter: Any = client._limiter
    return {key: budget.spent for key, budget in limiter._budgets.items()}


def _check(
    seed: int,
    seen: list[Seen],
    stored: list[CallRecord],
    spent: dict[str, Decimal],
    caplog: pytest.LogCaptureFixture,
    db: Path,
) -> None:
    where = f"seed {seed}"
    # -- every request finished, within the bound, over a connection that held
    broken = [(s.index, s.kind, s.error) for s in seen if s.outcome in ("broken", "pending")]
    assert not broken, f"{where}: requests that broke or never finished: {broken}"
    slow = [(s.index, s.seconds) for s in seen if s.seconds > BOUND]
    assert not slow, f"{where}: requests past {BOUND} s: {slow}"
    # -- each answer is well formed, in its API's own shape
    for s in seen:
        if s.outcome == "answered":
            _well_formed(where, s)
    # -- nothing logged at ERROR (the gateway logs its own bugs there); no key anywhere
    errors_logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors_logged, f"{where}: {errors_logged}"
    stored_bytes = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for value in KEY_VALUES.values():
        assert value not in caplog.text, f"{where}: a gateway key reached the log"
        assert not any(value in repr(r) for r in stored), f"{where}: a key reached a record"
        assert value.encode() not in stored_bytes, f"{where}: a key reached the database"
        assert not any(value.encode() in s.body for s in seen), f"{where}: a key was answered"

    # -- each request that reached the client has exactly one record of its own
    # (besides its hedge's loser), which says what its caller saw
    by_call: dict[str, list[CallRecord]] = {}
    for record in stored:
        by_call.setdefault(record.correlation_id or "", []).append(record)
    for s in seen:
        records = by_call.pop(s.correlation_id, [])
        final = [r for r in records if not attempt_record(r)]
        label = f"{where}: request {s.index} ({s.kind}, {s.outcome}, {s.status})"
        attempts = [r for r in records if attempt_record(r)]
        assert all(
            final and r.id.startswith((f"{final[0].id}-hedge-", f"{final[0].id}-attempt-"))
            for r in attempts
        ), label
        for r in records:
            metadata = r.params.get("metadata", {})
            assert metadata.get("gateway_key") == s.key, (label, metadata)
        if s.continues is not None and s.outcome == "answered":
            # a response is continued by the key that made it only
            assert (s.status == 404) is not s.own, label
        if s.outcome == "skipped" or (s.outcome == "answered" and s.status == 404):
            # never reached the client (an unknown previous response is refused first)
            assert not records, (label, records)
            continue
        if s.outcome == "hung_up":
            # a caller who hung up before its body arrived made no call; one who hung
            # up as its answer was being written may have been answered whole: its
            # record says how the call went
            assert len(final) <= 1, (label, final)
            continue
        assert len(final) == 1, (label, final)
        _matches(label, s, final[0])
    assert not by_call, f"{where}: records of no request: {list(by_call)}"
    cancelled = [r.correlation_id for r in stored if r.error_type == "Cancelled"]
    hung_up = {s.correlation_id for s in seen if s.outcome == "hung_up"}
    assert set(cancelled) <= hung_up, f"{where}: cancelled calls of callers who stayed"

    # -- each budget spent what its key's records cost, nothing left held (a hedge's
    # loser cancelled mid-call is charged the prompt estimate its record carries)
    charged = dict.fromkeys(KEY_VALUES, Decimal(0))
    for r in stored:
        charged[r.params["metadata"]["gateway_key"]] += r.cost or Decimal(0)
    for budget_key, amount in spent.items():
        name = _key_name(budget_key)
        assert amount == charged[name], (
            f"{where}: budget {budget_key} {amount} != {charged}",
            [
                (r.correlation_id, r.operation, r.streamed, r.error_type, r.cost, r.usage)
                for r in stored
                if r.params["metadata"]["gateway_key"] == name and (r.error_type or r.cache_hit)
            ],
        )
    every_key = {_key_name(k) for k in spent if k.endswith("(gateway_key=*)")}
    assert every_key >= {name for name, cost in charged.items() if cost}, (where, spent)


def _key_name(budget_key: str) -> str:
    """The gateway key a budget counts for: ``gateway_key=alice (gateway_key=*)`` or
    ``gateway_key=carol`` (a limit of that key's own) is alice's or carol's."""
    return budget_key.removeprefix("gateway_key=").split(" ", 1)[0]


def _well_formed(where: str, s: Seen) -> None:
    """``s``'s answer is its API's: a 2xx with a parseable body or stream, or the
    vendor's error shape with a documented status; never a traceback."""
    label = f"{where}: request {s.index} ({s.kind}, streamed={s.streamed}, {s.status})"
    assert s.status is not None
    assert b"Traceback" not in s.body, label
    if s.status == 200 and s.streamed:
        assert s.headers["content-type"].startswith("text/event-stream"), label
        assert s.ending is not None, (label, s.body[-300:])
        return
    body = json.loads(s.body)
    if s.status == 200:
        if s.kind == "chat":
            assert body["object"] == "chat.completion", label
            assert isinstance(body["choices"][0]["message"]["content"], str), (label, body)
        elif s.kind == "messages":
            assert (body["type"], body["role"]) == ("message", "assistant"), label
        elif s.kind == "responses":
            assert body["object"] == "response", label
        else:
            assert body["object"] == "list" and len(body["data"]) == 2, label
        return
    assert s.status in DOCUMENTED, (label, body)
    if s.kind == "messages":
        assert body["type"] == "error", label
        assert set(body["error"]) == {"type", "message"}, label
    else:
        assert set(body) == {"error"}, label
        assert isinstance(body["error"]["message"], str) and body["error"]["type"], label
    if s.status == 429:
        message = body["error"]["message"]
        if "can never fit" in message:  # waiting cannot help: no Retry-After to honour
            assert "retry-after" not in s.headers, label
        else:
            assert int(s.headers["retry-after"]) >= 0, (label, message)


def _matches(label: str, s: Seen, record: CallRecord) -> None:
    """The record says what the caller saw."""
    label = f"{label}: {record.error_type} {record.error_message}"
    assert s.status is not None
    if s.status == 200 and (not s.streamed or s.ending == "ok"):
        assert record.error_type is None, label
        if not s.streamed and "x-relaykit-cost" in s.headers:
            assert record.cost == Decimal(s.headers["x-relaykit-cost"]), label
    elif s.status == 200:  # a stream that broke after it started: its error event
        assert record.error_type is not None, label
    else:
        assert record.error_type is not None, label
        assert STATUS_OF.get(record.error_type, 502) == s.status, label
