"""Calls that end every way a call can, run together: each hold must be settled once.

Every attempt a limit admits holds capacity until it is settled (``reconcile``)
or given back (``release``). :func:`run_settlement_workload` runs calls that end
in every way there is at once: answered, a 5xx retried, a 400, a fallback to
another target, a hedge whose loser is cancelled, a stream the caller leaves
early, a stream broken mid-way, the caller's cancellation, the total timeout, a
cache hit, an answer that fails its ``response_format``. :class:`Billing`'s
providers count what a vendor would bill each attempt they received (the usage
they answered with; for an attempt cut off before its usage was reported, the
estimate relaykit documents: a quarter of the prompt's characters, and of the
text that had arrived, see :mod:`relaykit.billed_usage`), and :class:`Ledger`
wraps any limiter and counts how each reservation was settled. After the calls::

    billing, ledger = Billing(), Ledger(frozen_limiter())
    async with relaykit.Client(settlement_config(), plugins=[*billing.plugins, ledger.plugin]):
        await run_settlement_workload(client, billing, [("hedge", False, 10, 20), ...])
    ledger.check(billing)  # every hold settled once, with what the vendors billed

The two fake vendors price differently (``fake``: USD 1 and 2 per million input
and output tokens; ``backup``: 3 and 5), so a fallback charged at the wrong
target's price shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import attrs

from .._hookimpl import hookimpl
from ..budgets import to_micro_usd
from ..errors import (
    InvalidRequestError,
    OutputValidationError,
    ProviderUnavailableError,
    RelayError,
    StreamError,
)
from ..events import Finish, StreamEvent, StreamStart, TextDelta, UsageUpdate
from ..protocols import Reservation
from ..request import ChatRequest
from ..response import ChatResponse, ModelPrice, Usage
from .fake_provider import FakePlugin, FakeProvider

if TYPE_CHECKING:
    from ..client import Client

#: how a call ends (see :func:`run_settlement_workload`)
ENDINGS = (
    "ok",  # answered
    "retry",  # a 503 without usage, then answered
    "bad",  # a 400: not retried
    "fallback",  # the first target 503s every time; the second answers
    "hedge",  # the first target stalls; the hedge to the second wins, the first is cancelled
    "race",  # a hedge whose first target answers about when the second is asked: either wins
    # (both chats: streams are not hedged)
    "leave",  # a stream its caller leaves after the first text (a chat: the caller cancels)
    "broken",  # a stream broken after its first text (a chat: a 503 every time)
    "cancel",  # the caller gives up while the provider works
    "timeout",  # the total timeout cuts the provider off
    "cached",  # the same call twice with cache=True: the second is a cache hit
    "invalid",  # an answer that is not the JSON its response_format asks for
    "closed",  # the provider works until the client is closed under every such call
    "idle",  # a stream that stalls after its first text, past the idle timeout (a chat: "ok")
    "scoped",  # answered, under a limit per metadata value too (``[limits."user=*"]``)
)

#: the text a stream sends before it stalls or breaks: 2 output tokens, as estimated
FIRST_TEXT = "12345678"
_STALL = 30.0


@dataclasses.dataclass
class Shape:
    """What an ``invalid`` call asks for (its answer is not JSON)."""

    a: str


@attrs.define
class Billed:
    """What the vendors billed: attempts received, tokens, USD (and micro-USD rounded
    up per attempt, as a limiter keeping integers settles it)."""

    requests: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    micro_usd: int = 0
    #: the same, of the calls with each ``metadata["user"]`` (for ``[limits."user=*"]``)
    users: dict[str, Billed] = attrs.Factory(dict)


class _BillingProvider(FakeProvider):
    """Does what the first user message says: ``"ENDING INPUT OUTPUT ID ..."``."""

    billed: ClassVar[Billed]
    #: per call id, set once an attempt of it stalls (its caller may then give up)
    stalled: ClassVar[dict[str, anyio.Event]]
    #: attempts so far per call id (a retried call's first attempt fails, its next answers)
    attempts: ClassVar[dict[str, int]]

    def _plan(self, request: ChatRequest) -> tuple[str, Usage, int, str]:
        text = next(m.text for m in request.messages if m.role == "user")
        ending, inp, out, ident = text.split()[:4]
        self.calls.append(request)
        for billed in self._billed(request):
            billed.requests += 1
        seen = self.attempts[ident] = self.attempts.get(ident, 0) + 1
        return ending, Usage(int(inp), int(out)), seen, ident

    def _billed(self, request: ChatRequest) -> list[Billed]:
        """Where an attempt of ``request`` is counted: the total, and its user's."""
        user = (request.metadata or {}).get("user")
        if user is None:
            return [self.billed]
        return [self.billed, self.billed.users.setdefault(user, Billed())]

    def _bill(self, request: ChatRequest, usage: Usage) -> None:
        cost = self.PRICE.cost(usage)
        for billed in self._billed(request):
            billed.tokens += usage.total_tokens
            billed.cost += cost
            billed.micro_usd += to_micro_usd(cost)

    def _prompt(self, request: ChatRequest) -> int:
        """The prompt's tokens as relaykit estimates those of a call cut off (a quarter
        of its characters)."""
        return sum(len(m.text) for m in request.messages) // 4

    def _fails(self, ending: str, attempt: int, streaming: bool) -> bool:
        """Whether this attempt answers 503 (no usage: nothing billed)."""
        if ending == "retry":
            return attempt == 1
        if ending == "fallback" or (ending == "broken" and not streaming):
            return self.settings.name == "fake"
        return False

    async def _start(self, request: ChatRequest, streaming: bool) -> tuple[str, Usage]:
        ending, usage, attempt, ident = self._plan(request)
        if self._fails(ending, attempt, streaming):
            raise ProviderUnavailableError(
                "overloaded", status=503, provider=self.settings.name, model=request.model
            )
        if ending == "bad":
            raise InvalidRequestError(
                "bad request", status=400, provider=self.settings.name, model=request.model
            )
        stalls = ending in ("cancel", "timeout", "closed") or (ending == "leave" and not streaming)
        if stalls or (ending == "hedge" and self.settings.name == "fake"):
            self.stalled.setdefault(ident, anyio.Event()).set()
            try:
                await anyio.sleep(_STALL)
            except BaseException:
                self._bill(request, Usage(self._prompt(request)))  # cut off: the prompt's estimate
                raise
        if ending == "race" and self.settings.name == "fake":
            try:
                await anyio.sleep(0.01)  # the route's hedge_after
            except BaseException:
                self._bill(request, Usage(self._prompt(request)))
                raise
        return ending, usage

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """The planned answer or failure."""
        ending, usage = await self._start(request, False)
        self._bill(request, usage)
        text = "not json" if ending == "invalid" else "ok"
        return ChatResponse(text=text, usage=usage, model=request.model, finish_reason="stop")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The planned answer as events, or the planned failure before the first."""
        ending, usage = await self._start(request, True)
        yield StreamStart("bill-1", request.model)
        if ending in ("leave", "broken", "idle"):
            cut = Usage(self._prompt(request), -(-len(FIRST_TEXT) // 4))
            try:
                yield TextDelta(FIRST_TEXT)
                if ending == "broken":
                    raise StreamError("connection lost", provider=self.settings.name)
                await anyio.sleep(_STALL)
            except BaseException:
                self._bill(request, cut)
                raise
        yield TextDelta("not json" if ending == "invalid" else "ok")
        self._bill(request, usage)
        yield UsageUpdate(usage)
        yield Finish("stop")


class Billing:
    """Two fake vendors, ``fake`` and ``backup``, that count what they bill (:attr:`billed`)."""

    def __init__(self) -> None:
        self.billed = Billed()
        #: per call id, set once an attempt of it stalls at the provider
        self.stalled: dict[str, anyio.Event] = {}
        namespace = {"billed": self.billed, "attempts": {}, "stalled": self.stalled}
        primary = type("Primary", (_BillingProvider,), dict(namespace))
        backup = type(
            "Backup",
            (_BillingProvider,),
            {**namespace, "PRICE": ModelPrice(Decimal("3"), Decimal("5"))},
        )
        #: the plugins of the two vendors, for ``Client(plugins=...)``
        self.plugins = (FakePlugin("fake", provider=primary), FakePlugin("backup", provider=backup))


@attrs.define
class Settled:
    """How one reservation was settled: ``reconcile`` calls (with what) and ``release`` calls."""

    reservation: Reservation
    reconciled: list[tuple[int, Decimal | None]] = attrs.Factory(list)
    released: int = 0


class Ledger:
    """Wraps a limiter and counts, per reservation, how it was settled.

    ``nowait=False`` hides the limiter's synchronous twins, so the client takes
    the path of a limiter that decides over the network.
    """

    supports_budgets = True

    def __init__(self, limiter: Any, *, nowait: bool = True, name: str = "ledger") -> None:
        self.limiter = limiter
        self.holds: dict[int, Settled] = {}
        if nowait and hasattr(limiter, "acquire_nowait"):
            self.acquire_nowait = self._acquire_nowait
            self.reconcile_nowait = self._reconcile_nowait
        if hasattr(limiter, "acquire_many"):
            self.acquire_many = self._acquire_many
        self.plugin = _LedgerPlugin(self, name)

    def _held(self, reservation: Reservation) -> Reservation:
        self.holds[id(reservation)] = Settled(reservation)
        return reservation

    def _settled(self, reservation: Reservation) -> Settled:
        found = self.holds.get(id(reservation))
        assert found is not None and found.reservation is reservation, reservation
        return found

    def _acquire_nowait(self, key: str, limit: Any, tokens: int, **kw: Any) -> Reservation:
        return self._held(self.limiter.acquire_nowait(key, limit, tokens, **kw))

    def _reconcile_nowait(
        self, reservation: Reservation, actual: int, *, cost: Decimal | None = None
    ) -> None:
        self._settled(reservation).reconciled.append((actual, cost))
        self.limiter.reconcile_nowait(reservation, actual, cost=cost)

    async def acquire(self, key: str, limit: Any, tokens: int, **kw: Any) -> Reservation:
        """The limiter's ``acquire``, counted."""
        return self._held(await self.limiter.acquire(key, limit, tokens, **kw))

    async def _acquire_many(self, requests: Sequence[Any]) -> list[Reservation]:
        """The limiter's ``acquire_many`` (offered when it has one), counted."""
        return [self._held(r) for r in await self.limiter.acquire_many(requests)]

    async def reconcile(
        self, reservation: Reservation, actual: int, *, cost: Decimal | None = None
    ) -> None:
        """The limiter's ``reconcile``, counted."""
        self._settled(reservation).reconciled.append((actual, cost))
        await self.limiter.reconcile(reservation, actual, cost=cost)

    async def release(self, reservation: Reservation) -> None:
        """The limiter's ``release``, counted."""
        self._settled(reservation).released += 1
        await self.limiter.release(reservation)

    async def aclose(self) -> None:
        """Close the limiter, if it has ``aclose``."""
        close = getattr(self.limiter, "aclose", None)
        if close is not None:
            await close()

    def problems(self, billed: Billed) -> list[str]:
        """What is wrong, per key, when every call has ended: holds not settled exactly
        once, and settled totals other than what the vendors ``billed``."""
        found = []
        keys = {s.reservation.key for s in self.holds.values()}
        for settled in self.holds.values():
            times = len(settled.reconciled) + settled.released
            if times != 1:
                found.append(f"{settled} settled {times} times")
        for key in sorted(keys):
            expected = billed
            if " (" in key:  # a limit per metadata value: "user=u0 (user=*)"
                user = key.partition(" (")[0].partition("=")[2]
                expected = billed.users.get(user, Billed())
            mine = [s for s in self.holds.values() if s.reservation.key == key]
            requests = sum(1 for s in mine if not s.released)
            tokens = sum(a for s in mine for a, _ in s.reconciled)
            cost = sum((c or Decimal(0) for s in mine for _, c in s.reconciled), Decimal(0))
            if requests != expected.requests:
                found.append(f"{key}: {requests} requests counted, {expected.requests} sent")
            if tokens != expected.tokens:
                found.append(f"{key}: {tokens} tokens counted, {expected.tokens} billed")
            if any(s.reservation.cost is not None for s in mine) and cost != expected.cost:
                found.append(f"{key}: ${cost} counted, ${expected.cost} billed")
        return found


class _LedgerPlugin:
    __name__ = "ledger-plugin"

    def __init__(self, ledger: Ledger, name: str) -> None:
        self.ledger, self.name = ledger, name

    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: object) -> Ledger | None:
        """The ledger, as ``[limiter] backend = name``."""
        return self.ledger if name == self.name else None


def settlement_config(limits: dict[str, Any], backend: str = "ledger") -> dict[str, Any]:
    """A client config for the workload: ``fake`` and ``backup`` routes, retries that
    do not wait, breakers that stay closed, a cache, ``limits`` on ``backend``."""
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0, "max_wait": 0},
        "breaker": {"failures": 10_000},
        "cache": {"enabled": False},
        "timeouts": {"idle": 0.05},
        "limiter": {"backend": backend},
        "limits": limits,
        "models": {
            "fb": {"targets": ["fake/m", "backup/m"]},
            "hg": {"targets": ["fake/m", "backup/m"], "hedge_after": 0.01},
        },
    }


async def run_settlement_workload(
    client: Client, billing: Billing, calls: Iterable[tuple[str, bool, int, int]]
) -> dict[str, int]:
    """Run ``calls`` (ending, streamed, input tokens, output tokens) at once through
    ``client`` (of ``billing``'s plugins); count their outcomes by how they ended
    (``answered``, ``cached``, ``cancelled``, or the error's class)."""
    outcomes: dict[str, int] = {}
    pad = "x" * 37  # a prompt whose estimate (a quarter of it) is not round

    async def one(n: int, ending: str, streamed: bool, inp: int, out: int) -> None:
        prompt = f"{ending} {inp} {out} c{n} {pad[: n % 37]}"
        model = {"fallback": "fb", "hedge": "hg", "race": "hg"}.get(ending, "fake/m")
        params: dict[str, Any] = {"max_tokens": 200}
        if ending == "timeout":
            params["timeout"] = 0.02
        if ending == "hedge":  # its hedge refused by a limit, it waits on the stalled target
            params["timeout"] = 0.5
        if ending == "cached":
            params["cache"] = True
        if ending == "invalid":
            params["response_format"] = Shape
            if not streamed:  # asked again: two answers billed (a stream cannot be)
                params["output_retries"] = 1
        if ending == "scoped":
            params["metadata"] = {"user": f"u{n % 2}"}
        streamed = streamed and ending not in ("hedge", "race")  # hedges are for chats only
        outcome = "cancelled"
        give_up = ending == "cancel" or (ending == "leave" and not streamed)
        with anyio.CancelScope() as scope:
            if give_up:  # once the provider has the request and works on it
                tg.start_soon(
                    cancel_when, billing.stalled.setdefault(f"c{n}", anyio.Event()), scope
                )
            try:
                for _ in range(2 if ending == "cached" else 1):
                    if not streamed:
                        response = await client.chat(model, prompt, **params)
                    else:
                        async with client.stream(model, prompt, **params) as s:
                            async for event in s:
                                if ending == "leave" and isinstance(event, TextDelta):
                                    break
                        response = s.response
                outcome = "cached" if response.cache_hit else "answered"
                if ending == "cached":
                    assert response.cost == 0, response.cost
            except (OutputValidationError, RelayError) as e:
                outcome = type(e).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        # Ended (refused before it was sent, say): what waits for it to stall stops waiting.
        billing.stalled.setdefault(f"c{n}", anyio.Event()).set()

    async def cancel_when(event: anyio.Event, scope: anyio.CancelScope) -> None:
        await event.wait()
        scope.cancel()

    async def close_when(events: list[anyio.Event]) -> None:
        for event in events:
            await event.wait()
        # Cancelled, the close stops waiting for the calls in flight and cuts them off.
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.aclose()

    calls = list(calls)
    async with anyio.create_task_group() as tg:
        closing = [n for n, call in enumerate(calls) if call[0] == "closed"]
        if closing:
            tg.start_soon(
                close_when, [billing.stalled.setdefault(f"c{n}", anyio.Event()) for n in closing]
            )
        for n, (ending, streamed, inp, out) in enumerate(calls):
            tg.start_soon(one, n, ending, streamed, inp, out)
    return outcomes
