"""Chaos testing: many concurrent calls against misbehaving loopback servers, then invariants.

The pieces the core's chaos test (``core/tests/test_chaos.py``) and the
cross-package ones (``tests/test_chaos_*.py``) share, and that a plugin's own
chaos test can use: a seeded mix of server faults (:func:`chaos_reply`, or
:class:`ChaosScript` to draw one per request and keep the server's echo),
one caller that chats or streams and may break out or be cancelled
(:func:`chaos_call`, what it saw in a :class:`Seen`), and the invariants of the
whole system once the client has closed (:func:`check_invariants`): not exact
counts of outcomes that depend on timing, but what must hold whatever the
timing was. For the tool loop (``run_tools``, ``stream_tools``): one loop
(:func:`chaos_tool_loop`, what it saw in a :class:`LoopSeen`), a
:class:`ToolLedger` its tools report to, :func:`count_model_calls`, and
:func:`check_loop_invariants`.

Some checks read the client's private state (its router, its in-flight count,
the in-memory limiter's budgets): they are the core's own, and shipped beside
its other test helpers so the plugins' tests check the same things.

Seeds come from ``RELAYKIT_CHAOS_SEEDS`` (``1-40`` or ``3,9``), see :func:`chaos_seeds`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from decimal import Decimal
from typing import Any

import anyio
import attrs

from .. import errors
from ..messages import ToolCall
from ..metrics import (
    CACHE_HITS,
    ERRORS,
    FALLBACKS,
    RECORDS_LOST,
    RECORDS_REPLAYED,
    RECORDS_SPILLED,
    REQUESTS,
    RETRIES,
    STORAGE_WRITE_FAILURES,
    observe,
)
from ..protocols import CallRecord
from .openai_mock import OpenAIMock
from .script import Reply, Script
from .vendor_mock import VendorMock

__all__ = [
    "FAULT_KINDS",
    "ChaosScript",
    "LoopSeen",
    "Seen",
    "ToolLedger",
    "alias_config",
    "attempt_record",
    "chaos_call",
    "chaos_reply",
    "chaos_seeds",
    "chaos_tool_loop",
    "check_invariants",
    "check_loop_invariants",
    "count_in_flight",
    "count_model_calls",
    "memory_budget_spent",
    "two_openai_mocks",
    "wait_for_closed_connections",
]

#: the server behaviours :func:`chaos_reply` draws from, and their weights
FAULT_KINDS: dict[str, int] = {
    "ok": 40,
    "slow": 6,
    "500": 5,
    "503": 4,
    "429": 5,
    "reset": 3,
    "drop": 3,
    "stream_reset": 2,
    "truncate": 3,
    "stream_error": 3,
    "late_first_token": 2,
    "idle_gap": 2,
}


def chaos_sections(db: os.PathLike[str] | str) -> dict[str, Any]:
    """The config sections every chaos test shares: a SQLite call log and response
    cache at ``db``, quick retries, a breaker, and timeouts that the delays
    :func:`chaos_reply` draws are sized against. Add providers, models, limits
    and prices of the test's own."""
    return {
        "storage": {"backend": "sqlite", "path": str(db)},
        "cache": {"enabled": True, "backend": "storage"},
        "retry": {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.02, "max_retry_after": 0.1},
        "breaker": {"failures": 4, "reset_after": 0.2, "cool_down": 0},
        "timeouts": {"connect": 2, "first_token": 0.3, "idle": 0.3, "total": 2},
    }


@contextlib.contextmanager
def two_openai_mocks(api_key: str) -> Iterator[tuple[OpenAIMock, OpenAIMock]]:
    """A primary and a backup OpenAI server on loopback, both taking ``api_key``
    (the pair :func:`alias_config` puts behind one alias)."""
    with OpenAIMock(api_key=api_key) as primary, OpenAIMock(api_key=api_key) as backup:
        yield primary, backup


def alias_config(
    primary: OpenAIMock,
    backup: OpenAIMock,
    db: os.PathLike[str] | str,
    *,
    api_key: str,
    model: str,
    alias: str,
    price: dict[str, Any],
) -> dict[str, Any]:
    """:func:`chaos_sections` plus ``primary`` (provider ``openai``) and ``backup``
    (provider ``backup``) behind ``alias`` (fallback, hedged after 0.15 s), both
    serving ``model`` at ``price``, under generous limits and a USD budget."""
    return {
        **chaos_sections(db),
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": api_key},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": api_key},
        },
        "models": {alias: {"targets": [f"openai/{model}", f"backup/{model}"], "hedge_after": 0.15}},
        "limits": {"*": {"rpm": 100_000, "tpm": 50_000_000, "budget_usd": 100}},
        "prices": {f"openai/{model}": price, f"backup/{model}": price},
    }


def chaos_seeds(default: Sequence[int] = (1, 2, 3)) -> list[int]:
    """The seeds to run: ``default``, or ``RELAYKIT_CHAOS_SEEDS`` (``1-40``, or ``3,9``)."""
    raw = os.environ.get("RELAYKIT_CHAOS_SEEDS", "")
    if not raw:
        return list(default)
    if "-" in raw:
        low, high = raw.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in raw.split(",")]


def chaos_reply(
    rng: random.Random,
    text: str | None = None,
    *,
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = (),
) -> Reply:
    """One server-side behaviour, drawn from :data:`FAULT_KINDS` (weighted towards success).

    ``text`` is what a success says (random words when ``None``); ``tool_calls``
    replace it (a tool-call answer, streamed or whole, faults included). A
    stream fault on a non-streamed request is ignored by the mocks (they answer
    whole), so every kind can be drawn for every request. The delays fit the
    timeouts the chaos tests configure: ``slow`` passes a 0.15 s hedge delay,
    ``late_first_token`` and ``idle_gap`` pass 0.3 s first-token and idle timeouts.
    """
    drawn = text is None
    if text is None:
        text = " ".join(
            rng.choice(("alpha", "beta", "gamma", "delta")) for _ in range(rng.randint(1, 12))
        )
    kind = rng.choices(list(FAULT_KINDS), weights=list(FAULT_KINDS.values()))[0]
    say: dict[str, Any] = {"tool_calls": tool_calls} if tool_calls else {"text": text}
    if kind == "ok":
        return Reply(**say)
    if kind == "slow":
        return Reply(**say, delay=0.2)
    if kind in ("500", "503"):
        return Reply.failure(int(kind))
    if kind == "429":
        return Reply.failure(429, "slow down", retry_after=0.05)
    if kind == "reset":
        return Reply(connection_fault="reset")
    if kind == "drop":
        return Reply(**say, stream_fault="drop")
    if kind == "stream_reset":
        return Reply(**say, stream_fault="reset")
    if kind == "truncate":
        return Reply(**say, stream_fault="truncate")
    if kind == "stream_error":
        return Reply(**say, stream_fault="error")
    if kind == "late_first_token":
        return Reply(**say, first_token_delay=0.5)
    if drawn and not tool_calls:  # two pieces or more (a given text is sent as it is)
        say["text"] = text + " " + text
    return Reply(**say, chunk_delay=0.4)  # its pieces 0.4 s apart


class ChaosScript(Script):
    """A mock's script that draws a :func:`chaos_reply` for every request.

    A success says what the mock would have said unscripted (its echo of the
    prompt), so a test can check what came back against what was sent; with
    ``tool_calls`` (a function of the rng, returning calls or ``()``) some
    successes ask for tools instead. Replies pushed on it go first, as on any script.
    Replace a mock's script with it: ``mock.script = ChaosScript(rng)``.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        tool_calls: Callable[[random.Random], tuple[tuple[str, dict[str, Any]], ...]] | None = None,
    ) -> None:
        super().__init__()
        self._rng = rng
        self._tool_calls = tool_calls
        # the mock's handlers run on its server's threads: one draw at a time
        self._draw = threading.Lock()

    def next(self, default: Reply) -> Reply:
        """A pushed reply if there is one, else a fault drawn around ``default``'s text."""
        if len(self):
            return super().next(default)
        with self._draw:
            calls = self._tool_calls(self._rng) if self._tool_calls else ()
            return chaos_reply(self._rng, default.text, tool_calls=calls)


@attrs.define
class Seen:
    """What one caller saw: the response, the error, or a cancellation."""

    index: int
    streamed: bool
    #: "ok", "error", "cancelled", "broke" (left a stream early), "foreign" (an
    #: exception other than relaykit's: always a defect), "pending" (never ended)
    outcome: str = "pending"
    response: Any = None
    error: BaseException | None = None
    #: whether every event of the stream (or the whole answer) arrived
    complete: bool = False

    @property
    def correlation_id(self) -> str:
        """The correlation id :func:`chaos_call` gives this caller's call."""
        return f"chaos-{self.index}"


async def chaos_call(
    client: Any,
    model: str,
    rng: random.Random,
    seen: Seen,
    messages: Any,
    params: dict[str, Any],
) -> None:
    """One caller: chat or stream (``seen.streamed``), maybe breaking out or
    cancelling at a random point; what it saw goes into ``seen``."""
    cancel_after = rng.uniform(0.0, 0.4) if rng.random() < 0.15 else None
    break_after = rng.randint(0, 2) if seen.streamed and rng.random() < 0.1 else None
    metadata = {"correlation_id": seen.correlation_id}
    with anyio.CancelScope() as scope:
        if cancel_after is not None:
            scope.deadline = anyio.current_time() + cancel_after
        try:
            if not seen.streamed:
                seen.response = await client.chat(model, messages, metadata=metadata, **params)
                seen.outcome, seen.complete = "ok", True
                return
            async with client.stream(model, messages, metadata=metadata, **params) as s:
                events = 0
                async for _ in s:
                    events += 1
                    if break_after is not None and events > break_after:
                        break
                else:
                    seen.complete = True
            seen.response = s.response
            seen.outcome = "ok" if seen.complete else "broke"
        except errors.RelayError as e:
            seen.outcome, seen.error = "error", e
        except Exception as e:  # anything else reaching a caller is a defect
            seen.outcome, seen.error = "foreign", e
    if scope.cancelled_caught and seen.outcome == "pending":
        seen.outcome = "cancelled"


def count_in_flight(client: Any) -> Counter[str]:
    """Count the router's starts and ends per target, without its floor at zero.

    The router's own count stops at zero, so a call ended twice would not show
    there; the returned counter would (check ``not +c and not -c`` at the end).
    """
    router = client._router
    balance: Counter[str] = Counter()
    started, finished = router.started, router.finished

    def counted_start(target: Any) -> None:
        balance[str(target)] += 1
        started(target)

    def counted_finish(target: Any, **kw: Any) -> None:
        balance[str(target)] -= 1
        finished(target, **kw)

    router.started = counted_start
    router.finished = counted_finish
    return balance


def memory_budget_spent(client: Any) -> Decimal:
    """What the in-memory limiter's budgets have spent, all keys together."""
    limiter: Any = client._limiter
    return sum((b.spent for b in limiter._budgets.values()), Decimal(0))


async def wait_for_closed_connections(servers: Sequence[VendorMock]) -> None:
    """Give the servers (on threads of their own) up to 2 s to see the client's closes.

    Polled: their counters are plain numbers another thread sets, no event.
    """
    with anyio.move_on_after(2):
        while any(mock.server.stats.connections_open for mock in servers):  # noqa: ASYNC110
            await anyio.sleep(0.01)


def attempt_record(record: CallRecord) -> bool:
    """Whether ``record`` is one of a call's attempts recorded besides the call's own
    record: a hedge's loser (error type ``HedgeCancelled``, id the call's +
    ``-hedge-``) or a stream's attempt that failed before its first piece, billed
    all the same (id the call's + ``-attempt-``): no first piece within
    ``first_token`` (``RequestTimeoutError``), or broken after the vendor had
    reported the prompt's usage (``StreamError``, or the typed error it named).
    Each carries what its attempt was billed, so a call's records add up to its budget."""
    if record.error_type == "HedgeCancelled":
        return True
    return record.error_type is not None and "-attempt-" in record.id


def _of_call(record: CallRecord, final: CallRecord) -> bool:
    """Whether the attempt record ``record`` names ``final``'s call in its id."""
    return record.id.startswith((f"{final.id}-hedge-", f"{final.id}-attempt-"))


def charged_cost(records: Sequence[CallRecord]) -> Decimal:
    """What a budget should have spent on ``records``: what they cost, together.

    Every record carries what its call's budget was charged: an answer's cost; a
    call or a hedge's loser cut off mid-call, the prompt cost it likely ran up
    (an estimate, the same its attempt settled with: ``Client._cut_off``).
    """
    return sum((r.cost or Decimal(0) for r in records), Decimal(0))


def check_invariants(
    where: str,
    client: Any,
    seen: Sequence[Seen],
    stored: Sequence[CallRecord],
    exporter: Any,
    servers: Sequence[VendorMock],
    *,
    secrets: Sequence[str] = (),
    spent: Decimal | None = None,
    whole_elsewhere: Collection[str] = (),
) -> dict[str, CallRecord]:
    """Check what must hold once a chaos run's client has closed; return each caller's
    final record by correlation id.

    ``stored`` are the records read back from storage, ``exporter`` a
    :class:`~relaykit.testing.RecordingExporter` the client had; ``spent`` what
    the client's budgets spent (:func:`memory_budget_spent`, or read from
    Redis), ``None`` to skip that check. ``whole_elsewhere``: the ids of answers
    callers of other clients got whole, for clients sharing a cache (Redis's),
    where a hit can repeat one of those. ``where`` prefixes every failure.
    """
    _check_callers(where, seen)
    _check_exported(where, stored, exporter, secrets)

    # -- each call has exactly one record, besides its attempts' (attempt_record: its
    # hedges' losers, its streamed attempts that timed out before a first piece)
    by_call: dict[str, list[CallRecord]] = {}
    for record in stored:
        by_call.setdefault(record.correlation_id or "", []).append(record)
    finals: dict[str, CallRecord] = {}
    for s in seen:
        records = by_call.pop(s.correlation_id, [])
        final = [r for r in records if not attempt_record(r)]
        assert len(final) == 1, f"{where}: call {s.index} ({s.outcome}) has records {final}"
        _matches(where, s, final[0])
        finals[s.correlation_id] = final[0]
        attempts = [r for r in records if attempt_record(r)]
        assert all(_of_call(r, final[0]) for r in attempts), where
    assert not by_call, f"{where}: records of no call: {list(by_call)}"

    _check_settled(where, client, stored, exporter, servers, spent)

    # -- a cache hit repeats an answer a caller got whole, never a partial or failed one
    whole = {
        s.response.id
        for s in seen
        if s.outcome == "ok" and s.complete and s.response and not s.response.cache_hit
    }
    whole.update(whole_elsewhere)
    for s in seen:
        if s.response is not None and s.response.cache_hit:
            assert s.response.id in whole, f"{where}: call {s.index} hit a never-whole answer"
            if s.complete:  # (a caller may break out of a replayed stream too)
                assert s.response.finish_reason in ("stop", "tool_calls"), f"{where}: {s.index}"
    return finals


def _check_callers(where: str, seen: Sequence[Seen] | Sequence[LoopSeen]) -> None:
    """Nothing but relaykit's typed errors reached a caller, and every caller finished."""
    foreign = [(s.index, repr(s.error)) for s in seen if s.outcome == "foreign"]
    assert not foreign, f"{where}: untyped errors reached callers: {foreign}"
    assert not [s for s in seen if s.outcome == "pending"], where


def _check_exported(
    where: str, stored: Sequence[CallRecord], exporter: Any, secrets: Sequence[str]
) -> None:
    """Storage and the exporter saw the same records; no secret in either."""
    exported = exporter.records
    missing = Counter(r.id for r in exported) - Counter(r.id for r in stored)
    assert not missing, (
        where,
        [(r.error_type, r.correlation_id, r.streamed) for r in exported if r.id in missing],
    )
    for secret in secrets:
        assert not any(secret in repr(r) for r in stored), f"{where}: a secret reached a record"


def _check_settled(
    where: str,
    client: Any,
    stored: Sequence[CallRecord],
    exporter: Any,
    servers: Sequence[VendorMock],
    spent: Decimal | None,
) -> None:
    """The budget, what is in flight and the metrics, once the client has closed."""
    # -- the budget spent what the records cost
    if spent is not None:
        charged = charged_cost(stored)
        assert spent == charged, f"{where}: budget {spent} != records {charged}"

    # -- nothing is held or in flight once the client has closed
    router = client._router
    for target in router._health:
        assert router.in_flight(target) == 0, f"{where}: {target} still in flight"
    # The count stops at zero: a call ended twice shows only here (routing.py)
    assert router.extra_ends == 0, f"{where}: {router.extra_ends} calls ended twice"
    assert client._in_flight == 0, where
    # No breaker keeps a trial slot with no call left: a half-open circuit so held
    # would refuse every call after, for good (a trial cancelled, or a stream's)
    for name, breaker in client._breakers._breakers.items():
        assert not breaker._trial_running, f"{where}: {name} holds a trial with no call"
    for mock in servers:
        assert mock.server.stats.connections_open == 0, f"{where}: connections left open"

    # -- the metrics derived from the records agree with them
    counts: Counter[str] = Counter()
    for event in exporter.events:
        for obs in observe(event):
            counts[obs.instrument.name] += int(obs.value)
    assert counts[REQUESTS.name] == len(stored), where
    assert counts[ERRORS.name] == sum(1 for r in stored if r.error_type is not None), where
    assert counts[RETRIES.name] == sum(max(0, r.attempts - 1) for r in stored), where
    assert counts[FALLBACKS.name] == sum(r.fallbacks for r in stored), where
    assert counts[CACHE_HITS.name] == sum(1 for r in stored if r.cache_hit), where
    # -- the storage metrics (events, not records) add up to the call log's counters
    log = getattr(client, "_call_log", None)
    if log is not None:
        told = (
            counts[STORAGE_WRITE_FAILURES.name],
            counts[RECORDS_SPILLED.name],
            counts[RECORDS_LOST.name],
            counts[RECORDS_REPLAYED.name],
        )
        assert told == (log.failed_writes, log.spilled, log.lost, log.replayed), where


def _matches(where: str, s: Seen, record: CallRecord) -> None:
    """The record says what the caller saw."""
    label = (
        f"{where}: call {s.index} ({s.outcome}, streamed={s.streamed}):"
        f" {record.error_type} {record.error_message}"
    )
    if s.outcome in ("ok", "broke"):
        assert record.error_type is None, label
        assert s.response is not None
        assert record.usage == s.response.usage, label
        assert record.cost == s.response.cost, label
        assert record.cache_hit == s.response.cache_hit, label
        if s.outcome == "broke":  # a break is the caller's choice: a success, cut short
            assert record.finish_reason in ("other", "stop", "tool_calls"), label
    elif s.outcome == "error":
        assert s.error is not None
        assert record.error_type == type(s.error).__name__, label
        partial = getattr(s.error, "partial", None)
        if partial is not None:
            assert record.usage == partial.usage, label
    else:  # cancelled
        assert record.error_type == "Cancelled", label


# -- the tool loop (run_tools, stream_tools) under chaos ----------------------------------


class ToolLedger:
    """Which tool calls ran, in which tool loop, and whether any outlived its loop.

    A test's tool functions wrap their work in ``with ledger.running(key):``,
    ``key`` an argument unique to the model's call (the mock draws one per tool
    call); :func:`chaos_tool_loop` tells the ledger which loop a tool runs in (a
    context variable: tools run in the loop's tasks or worker threads, which
    copy it) and when the loop has ended. Thread-safe: sync tools run in threads.
    """

    def __init__(self) -> None:
        self.loop: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            "relaykit_chaos_loop", default=None
        )
        self._lock = threading.Lock()
        #: how often each (loop, key) ran
        self.runs: Counter[tuple[str | None, str]] = Counter()
        #: tools running now, per loop
        self.active: Counter[str | None] = Counter()
        #: loops that ended with tools still running, and how many
        self.left_running: dict[str, int] = {}
        #: tools that started after their loop had ended
        self.late: list[tuple[str | None, str]] = []
        self._ended: set[str | None] = set()

    @contextlib.contextmanager
    def running(self, key: str) -> Iterator[None]:
        """Count one run of the tool call ``key`` in the current loop, while it runs."""
        loop = self.loop.get()
        with self._lock:
            self.runs[(loop, key)] += 1
            self.active[loop] += 1
            if loop in self._ended:
                self.late.append((loop, key))
        try:
            yield
        finally:
            with self._lock:
                self.active[loop] -= 1

    def ended(self, loop: str) -> None:
        """Loop ``loop``'s caller has got its result, error or cancellation."""
        with self._lock:
            self._ended.add(loop)
            if self.active[loop]:
                self.left_running[loop] = self.active[loop]

    def ran(self, loop: str) -> Counter[str]:
        """How often each key ran in ``loop``."""
        return Counter({key: n for (lp, key), n in self.runs.items() if lp == loop})


@attrs.define
class LoopSeen:
    """What one tool loop's caller saw (:func:`chaos_tool_loop`)."""

    index: int
    streamed: bool
    #: ``tool_errors="raise"``: a tool's exception ends the loop
    raises: bool = False
    #: "ok", "error" (a RelayError), "tool" (a tool's exception, raised), "cancelled",
    #: "broke" (left a stream_tools early), "foreign" (anything else: a defect), "pending"
    outcome: str = "pending"
    #: the ToolRun: a finished run's, or a ToolLoopError's run so far
    run: Any = None
    error: BaseException | None = None
    #: the ToolResultEvents a streamed run yielded
    results: list[Any] = attrs.field(factory=list)
    #: the steps of a run stopped at max_steps, before it was handed back to go on
    prior: tuple[Any, ...] = ()
    #: whether its error came once the client had shut down (aclose's wait over):
    #: then even a step of a run under way is refused
    after_shutdown: bool = False

    def steps(self) -> tuple[Any, ...]:
        """Every step the loop's runs ended, in order (none known: ``()``)."""
        return (*self.prior, *(self.run.steps if self.run is not None else ()))

    @property
    def correlation_id(self) -> str:
        """The correlation id :func:`chaos_tool_loop` gives every call of this loop."""
        return f"chaos-loop-{self.index}"


#: what a closed client's refusal of a new call says (closing_gate.py: one it cut
#: off mid-call says more, and was recorded)
REFUSED = "this client is closed"


def count_model_calls(client: Any) -> Counter[str]:
    """Count the ``chat`` and ``stream`` calls made on ``client``, by correlation id.

    A tool loop's steps are such calls; each must leave exactly one record
    (besides its hedges' losers), whatever happens to it. A call a closed
    client refuses (:class:`~relaykit.ClientClosedError`, before it starts:
    no record) is not counted.
    """
    calls: Counter[str] = Counter()
    chat, stream = client.chat, client.stream

    def _key(params: dict[str, Any]) -> str:
        return str((params.get("metadata") or {}).get("correlation_id"))

    async def counted_chat(model: str, messages: Any, **params: Any) -> Any:
        calls[_key(params)] += 1
        try:
            return await chat(model, messages, **params)
        except errors.ClientClosedError as e:
            if str(e) == REFUSED:  # refused before it started; one cut off has a record
                calls[_key(params)] -= 1
            raise

    def counted_stream(model: str, messages: Any, **params: Any) -> Any:
        opened = stream(model, messages, **params)  # a closed client refuses it here
        calls[_key(params)] += 1
        return opened

    client.chat = counted_chat
    client.stream = counted_stream
    return calls


async def chaos_tool_loop(
    client: Any,
    model: str,
    rng: random.Random,
    seen: LoopSeen,
    messages: Any,
    tools: Sequence[Any],
    ledger: ToolLedger,
    *,
    max_steps: int,
    tool_exceptions: tuple[type[BaseException], ...] = (),
    params: dict[str, Any] | None = None,
) -> None:
    """One tool loop: ``run_tools``, or ``stream_tools`` (``seen.streamed``) maybe left
    early, maybe cancelled at a random point; what it saw goes into ``seen``.

    ``tool_exceptions`` are what the test's tools raise: with ``seen.raises``
    (``tool_errors="raise"``) one of them may end the loop, unwrapped.
    """
    cancel_after = rng.uniform(0.0, 0.6) if rng.random() < 0.15 else None
    break_after = rng.randint(0, 12) if seen.streamed and rng.random() < 0.1 else None
    # stopped at max_steps, a run is handed back to go on (its last calls run first)
    go_on = rng.random() < 0.5
    kw: dict[str, Any] = {
        **(params or {}),
        "max_steps": max_steps,
        "tool_errors": "raise" if seen.raises else "send",
        "metadata": {"correlation_id": seen.correlation_id},
    }
    token = ledger.loop.set(seen.correlation_id)
    try:
        with anyio.CancelScope() as scope:
            if cancel_after is not None:
                scope.deadline = anyio.current_time() + cancel_after
            try:
                while True:
                    try:
                        await _one_run(client, model, seen, messages, tools, kw, break_after)
                    except errors.ToolLoopError as e:
                        if not go_on or seen.prior:
                            raise
                        seen.prior, messages = e.run.steps, e.run.messages
                        metadata = {**kw["metadata"], "conversation_id": e.run.conversation_id}
                        kw["metadata"] = metadata
                        continue
                    break
            except errors.RelayError as e:
                seen.outcome, seen.error = "error", e
                seen.run = getattr(e, "run", None)
                seen.after_shutdown = bool(getattr(client, "_shut", False))
            except tool_exceptions as e:
                seen.outcome, seen.error = "tool", e
            except Exception as e:  # anything else reaching a caller is a defect
                seen.outcome, seen.error = "foreign", e
        if scope.cancelled_caught and seen.outcome == "pending":
            seen.outcome = "cancelled"
    finally:
        ledger.ended(seen.correlation_id)
        ledger.loop.reset(token)


async def _one_run(
    client: Any,
    model: str,
    seen: LoopSeen,
    messages: Any,
    tools: Sequence[Any],
    kw: dict[str, Any],
    break_after: int | None,
) -> None:
    from ..events import ToolResultEvent

    if not seen.streamed:
        seen.run = await client.run_tools(model, messages, tools, **kw)
        seen.outcome = "ok"
        return
    async with client.stream_tools(model, messages, tools, **kw) as loop:
        events = 0
        async for event in loop:
            events += 1
            if isinstance(event, ToolResultEvent):
                seen.results.append(event)
            if break_after is not None and events > break_after:
                seen.outcome = "broke"
                break
        else:
            seen.run, seen.outcome = loop.run, "ok"


def check_loop_invariants(
    where: str,
    client: Any,
    seen: Sequence[LoopSeen],
    stored: Sequence[CallRecord],
    exporter: Any,
    servers: Sequence[VendorMock],
    calls: Counter[str],
    ledger: ToolLedger,
    *,
    key_of: Callable[[ToolCall], str],
    max_steps: int,
    secrets: Sequence[str] = (),
    spent: Decimal | None = None,
) -> None:
    """Check what must hold once a tool-loop chaos run's client has closed.

    ``calls`` is :func:`count_model_calls`'s counter, ``ledger`` the tools'
    :class:`ToolLedger`, ``key_of`` the ledger key of a model's tool call (the
    argument the tools passed to :meth:`ToolLedger.running`). Besides what
    :func:`check_invariants` checks for every call (records exported, no
    secret, budget == the records' cost, nothing in flight, metrics == records),
    per loop: every model call it made has exactly one record, all carrying
    one conversation id of the loop's own; the records say what the caller
    saw; no tool call ran twice, or ran unasked, or outlived its loop.
    """
    _check_callers(where, seen)
    _check_exported(where, stored, exporter, secrets)

    by_loop: dict[str, list[CallRecord]] = {}
    for record in stored:
        by_loop.setdefault(record.correlation_id or "", []).append(record)
    conversations: set[str | None] = set()
    for s in seen:
        label = f"{where}: loop {s.index} ({s.outcome}, streamed={s.streamed})"
        records = by_loop.pop(s.correlation_id, [])
        finals = sorted((r for r in records if not attempt_record(r)), key=lambda r: r.started_at)
        # -- one record per model call, all in one conversation of this loop's own
        made = calls.pop(s.correlation_id, 0)
        assert len(finals) == made, (
            f"{label}: {made} model calls, records",
            [(r.error_type, r.error_message, r.cache_hit, r.finish_reason) for r in finals],
            repr(s.error),
        )
        ids = {r.conversation_id for r in records}
        assert len(ids) <= 1 and None not in ids, f"{label}: conversations {ids}"
        assert not ids & conversations, f"{label}: a conversation id another loop has"
        conversations |= ids
        # -- a failed step ends the loop: only the last record may be a failure
        assert all(r.ok for r in finals[:-1]), f"{label}: {[r.error_type for r in finals]}"
        _loop_matches(label, s, finals, max_steps)
        # -- tools: each call ran once at most, only calls the model made, none left running
        ran = ledger.ran(s.correlation_id)
        twice = {key: n for key, n in ran.items() if n > 1}
        assert not twice, f"{label}: tool calls run more than once: {twice}"
        asked = {key_of(call) for r in finals if r.ok for call in r.tool_calls}
        assert set(ran) <= asked, f"{label}: tools ran unasked: {set(ran) - asked}"
        if s.run is not None:  # every call of a step the loop went on from ran, once
            answered = Counter(key_of(call) for step in s.steps()[:-1] for call in step.tool_calls)
            assert all(ran[key] == 1 for key in answered), f"{label}: {answered} ran {ran}"
        if s.streamed:  # a result event for a tool that ran, once
            told = Counter(key_of(e.call) for e in s.results)
            assert all(ran[k] == 1 and n == 1 for k, n in told.items()), f"{label}: {told}"
            if s.outcome == "ok":  # and one for every call answered
                assert set(told) == set(answered), f"{label}: told {told}, ran {answered}"
    assert not by_loop, f"{where}: records of no loop: {list(by_loop)}"
    # -- a cache hit repeats an answer that came whole, never one cut short or failed
    whole = {
        r.response_id
        for r in stored
        if r.ok and not r.cache_hit and r.finish_reason in ("stop", "tool_calls")
    }
    for r in stored:
        if r.cache_hit:
            assert r.response_id in whole, f"{where}: a hit on a never-whole answer {r}"
            assert all(c.raw_arguments is None for c in r.tool_calls), f"{where}: {r}"
    assert not +calls, f"{where}: model calls of no loop: {calls}"
    assert not ledger.left_running, f"{where}: tools outlived their loops: {ledger.left_running}"
    assert not ledger.late, f"{where}: tools started after their loop ended: {ledger.late}"
    _check_settled(where, client, stored, exporter, servers, spent)


def _loop_matches(label: str, s: LoopSeen, finals: Sequence[CallRecord], max_steps: int) -> None:
    """A loop's records say what its caller saw."""
    if s.run is not None:  # the steps of a finished run, or of a ToolLoopError's
        steps = s.steps()
        assert [r.response_id for r in finals] == [st.id for st in steps], label
        for record, step in zip(finals, steps, strict=True):
            assert (record.usage, record.cost) == (step.usage, step.cost), label
            assert record.tool_calls == step.tool_calls, label
    if s.outcome == "ok":
        assert s.run is not None and not s.run.response.tool_calls, label
    elif s.outcome == "error" and isinstance(s.error, errors.ToolLoopError):
        assert len(finals) == max_steps * (2 if s.prior else 1), label
    elif isinstance(s.error, errors.ClientClosedError):  # refused once the client closed
        assert all(r.ok for r in finals), label
    elif s.outcome == "error":
        assert s.error is not None and finals, label
        assert finals[-1].error_type == type(s.error).__name__, (label, finals[-1])
    elif s.outcome == "tool":  # a tool's own exception, raised (tool_errors="raise")
        assert s.raises and finals and finals[-1].ok and finals[-1].tool_calls, label
        assert s.error is not None
        notes = getattr(s.error, "__notes__", [])
        assert any("raised by tool" in note for note in notes), (label, notes)
    elif s.outcome == "cancelled":  # mid-step (a Cancelled record), or between steps
        assert not finals or finals[-1].ok or finals[-1].error_type == "Cancelled", label
    else:  # broke: the caller left the stream, a step cut short is still a success
        assert all(r.ok for r in finals), label
