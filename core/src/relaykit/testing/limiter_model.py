"""A hypothesis state machine that hunts for bugs in a rate limiter, against an exact model.

:class:`LimiterMachine` drives a limiter (through a :class:`Driver`, so the same
rules reach the in-memory limiter and relaykit-redis) with random acquires,
reconciles, releases and clock moves, and checks every decision against
:class:`Model`: the same GCRA and budgets in exact arithmetic (``Fraction`` times,
``Decimal`` dollars), with the semantics spelled out once:

- rpm and tpm: GCRA, a unit of a limit ``L`` occupying ``60/L`` seconds; a
  request fits while the arrival time it pushes stays within 60 s of now. So a
  burst of ``L`` at once, then ``L`` a minute: over any window of ``W`` seconds
  the *ledger* (requests and tokens admitted, minus what release and reconcile
  gave back, plus what a larger real usage added) stays within ``L * (1 + W/60)``
  (checked by :meth:`Model.check_windows`). A 60-second window can therefore hold
  up to just under ``2L`` requests: GCRA's burst, not an overshoot.
- A larger real usage charges its excess from now on (as an admission would); a
  refund gives time back to the arrival time, which never banks below now.
- budgets: USD held per UTC calendar period. A refund (or release) goes back to
  the period its hold was charged in, and is dropped once that period is over;
  an excess lands in the period it is settled in. So what the calls admitted in
  one period hold or spent never exceeds ``budget_usd``.
- a refusal's ``retry_after`` is the wait after which the same request fits,
  every limit counted (``None``: it never fits, e.g. more tokens than ``tpm``).

Optional dependency: hypothesis (the test extra), imported only with this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ..budgets import period_span
from ..config import LimitConfig
from ..errors import QuotaExceededError

__all__ = ["Driver", "LimiterMachine", "Model", "Outcome", "month_end"]

PERIOD = Fraction(60)
#: the limiters' slack for float rounding in the GCRA test
EPSILON = Fraction(1, 10**6)
KEYS = ("a", "b")


def month_end() -> float:
    """2025-12-01T00:00:00Z, a day's and a month's end: the machine starts 30 s before it."""
    return 1_764_547_200.0


@attrs.frozen
class Outcome:
    """What a limiter decided: ``admitted``, or refused with ``retry_after``."""

    admitted: bool
    retry_after: float | None = None


class Driver(Protocol):
    """A limiter under test, called synchronously (a Redis one through a portal).

    A driver may also offer ``acquire_many(requests)`` (reserve under several
    limits at once, all or none), as a limiter may: the machine tests it where
    there is one.
    """

    #: whether the rates follow the machine's clock (False: the limiter's own time)
    drives_rates: bool

    def acquire(self, key: str, limit: LimitConfig, tokens: int, cost: Decimal | None) -> Any:
        """Reserve, returning the reservation, or raise :class:`QuotaExceededError`."""

    def reconcile(self, reservation: Any, tokens: int, cost: Decimal | None) -> None:
        """Settle with the real usage."""

    def release(self, reservation: Any) -> None:
        """Give the whole reservation back."""


@attrs.define
class _Hold:
    """The model's view of one reservation."""

    key: str
    tokens: int  # 0: no tpm limit
    cost: Decimal | None
    ident: str  # the budget period it was charged in
    settled: bool = False
    final_cost: Decimal | None = None
    released: bool = False


@attrs.define
class Model:
    """GCRA and budgets in exact arithmetic: what a limiter should decide."""

    limits: dict[str, LimitConfig]
    rpm_tat: dict[str, Fraction] = attrs.Factory(dict)
    tpm_tat: dict[str, Fraction] = attrs.Factory(dict)
    spent: dict[tuple[str, str], Decimal] = attrs.Factory(dict)
    #: (time, amount) per key: the rpm and tpm ledgers, for the window invariant
    rpm_ledger: dict[str, list[tuple[Fraction, int]]] = attrs.Factory(dict)
    tpm_ledger: dict[str, list[tuple[Fraction, int]]] = attrs.Factory(dict)
    holds: list[_Hold] = attrs.Factory(list)

    def _ahead(
        self, tats: dict[str, Fraction], key: str, now: Fraction, units: int, per: int
    ) -> Fraction:
        tat = tats.get(key, now)
        return max(tat - now, Fraction(0)) + PERIOD / per * units

    def decide(
        self, requests: Sequence[tuple[str, int, Decimal | None]], now: Fraction, wall: Fraction
    ) -> tuple[bool, Fraction | None]:
        """Whether ``requests`` (key, tokens, cost) fit, else the wait (None: never)."""
        waits: list[Fraction] = []
        for key, tokens, cost in requests:
            limit = self.limits[key]
            if limit.tpm and tokens > limit.tpm:
                return False, None
            if limit.budget_usd is not None and (cost or 0) > limit.budget_usd:
                return False, None
            if limit.rpm:
                wait = self._ahead(self.rpm_tat, key, now, 1, limit.rpm) - PERIOD
                if wait > EPSILON:
                    waits.append(wait)
            if limit.tpm:
                wait = self._ahead(self.tpm_tat, key, now, tokens, limit.tpm) - PERIOD
                if wait > EPSILON:
                    waits.append(wait)
            if limit.budget_usd is not None:
                ident, _, end = period_span(limit.period, float(wall))
                if self.spent.get((key, ident), Decimal(0)) + (cost or 0) > limit.budget_usd:
                    waits.append(Fraction(end) - wall)
        if waits:
            return False, max(waits)
        return True, None

    def charge(
        self, key: str, tokens: int, cost: Decimal | None, now: Fraction, wall: Fraction
    ) -> _Hold:
        """Admit one request (after :meth:`decide` said it fits)."""
        limit = self.limits[key]
        if limit.rpm:
            self.rpm_tat[key] = now + self._ahead(self.rpm_tat, key, now, 1, limit.rpm)
            self.rpm_ledger.setdefault(key, []).append((now, 1))
        if limit.tpm:
            self.tpm_tat[key] = now + self._ahead(self.tpm_tat, key, now, tokens, limit.tpm)
            self.tpm_ledger.setdefault(key, []).append((now, tokens))
        ident = ""
        if limit.budget_usd is not None:
            ident = period_span(limit.period, float(wall))[0]
            self.spent[key, ident] = self.spent.get((key, ident), Decimal(0)) + (cost or 0)
        hold = _Hold(
            key, tokens if limit.tpm else 0, (cost or Decimal(0)) if ident else None, ident
        )
        self.holds.append(hold)
        return hold

    def reconcile(
        self, hold: _Hold, tokens: int, cost: Decimal | None, now: Fraction, wall: Fraction
    ) -> None:
        """Settle ``hold`` with the real usage."""
        hold.settled = True
        limit = self.limits[hold.key]
        if limit.tpm and tokens != hold.tokens:
            delta = tokens - hold.tokens
            tat = self.tpm_tat.get(hold.key, now)
            if delta > 0:
                tat = max(tat, now)  # the excess is charged from now, as an admission
            self.tpm_tat[hold.key] = tat + PERIOD / limit.tpm * delta
            # a refund counts back in the ledger; an excess is what a larger real
            # usage legitimately adds, beyond the limit (it only delays later calls)
            self.tpm_ledger[hold.key].append((now, min(delta, 0)))
        if hold.cost is not None:
            hold.final_cost = cost or Decimal(0)
            self._settle_usd(hold, hold.final_cost - hold.cost, wall)

    def release(self, hold: _Hold, now: Fraction, wall: Fraction) -> None:
        """Give ``hold`` back whole, its request included."""
        hold.settled = hold.released = True
        limit = self.limits[hold.key]
        if limit.rpm:
            self.rpm_tat[hold.key] = self.rpm_tat.get(hold.key, now) - PERIOD / limit.rpm
            self.rpm_ledger[hold.key].append((now, -1))
        if hold.tokens and limit.tpm:
            self.tpm_tat[hold.key] = (
                self.tpm_tat.get(hold.key, now) - PERIOD / limit.tpm * hold.tokens
            )
            self.tpm_ledger[hold.key].append((now, -hold.tokens))
        if hold.cost is not None:
            self._settle_usd(hold, -hold.cost, wall)

    def _settle_usd(self, hold: _Hold, delta: Decimal, wall: Fraction) -> None:
        ident = period_span(self.limits[hold.key].period, float(wall))[0]
        if delta < 0 and ident != hold.ident:
            return  # a refund of a period that is over: that period kept it
        spent = self.spent.get((hold.key, ident), Decimal(0)) + delta
        self.spent[hold.key, ident] = max(spent, Decimal(0))

    def check_windows(self) -> None:
        """The GCRA promise: any window of W seconds holds at most L * (1 + W/60) of the ledger."""
        for ledgers, which in ((self.rpm_ledger, "rpm"), (self.tpm_ledger, "tpm")):
            for key, ledger in ledgers.items():
                per = getattr(self.limits[key], which)
                for i, (start, _) in enumerate(ledger):
                    total = 0
                    for end, amount in ledger[i:]:
                        total += amount
                        bound = per * (1 + (end - start) / PERIOD)
                        assert total <= bound + EPSILON * per, (
                            f"{which} of {key!r}: {total} in [{start}, {end}] > {bound}"
                        )

    def check_budgets(self) -> None:
        """What the calls admitted in one period hold or spent stays within ``budget_usd``."""
        used: dict[tuple[str, str], Decimal] = {}
        for hold in self.holds:
            if hold.cost is None or hold.released:
                continue
            cost = hold.cost if hold.final_cost is None else min(hold.cost, hold.final_cost)
            used[hold.key, hold.ident] = used.get((hold.key, hold.ident), Decimal(0)) + cost
        for (key, ident), total in used.items():
            budget = self.limits[key].budget_usd
            assert budget is not None
            assert total <= budget, f"budget of {key!r} in {ident}: {total} held > {budget}"


_LIMITS = st.builds(
    LimitConfig,
    rpm=st.none() | st.integers(1, 6),
    tpm=st.none() | st.integers(20, 300),
    budget_usd=st.none()
    | st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1), Decimal("2.5")]),
    period=st.sampled_from(["day", "month"]),
)
#: micro-dollar multiples: Redis keeps budgets in whole micro-dollars
_COSTS = st.none() | st.integers(0, 1_500_000).map(lambda micro: Decimal(micro) / 10**6)
_TOKENS = st.integers(0, 120)
_STEPS_MS = st.integers(1, 2_000) | st.integers(2_000, 90_000)


class LimiterMachine(RuleBasedStateMachine):
    """Subclass with :meth:`make_driver` (and ``close_driver``) to hunt in one limiter.

    The machine keeps two clocks as exact ``Fraction`` seconds: ``now`` (the
    monotonic clock GCRA reads) and ``wall`` (budgets' calendar). A driver whose
    ``drives_rates`` is False keeps its own time for the rates (Redis's server
    clock): the machine then never moves ``now``, only ``wall``, and compares a
    ``retry_after`` with a tolerance of :attr:`slack` seconds.
    """

    #: seconds a limiter's own clock may run between the model's and its decision
    slack = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.now = Fraction(1000)
        self.wall = Fraction(int(month_end()) - 30)
        self.model = Model({})
        self.driver: Driver | None = None
        self.open: list[tuple[_Hold, Any]] = []

    def make_driver(self, now: Callable[[], float], wall: Callable[[], float]) -> Driver:
        """The driver of the limiter under test, reading the machine's clocks."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Close the driver, if it needs closing."""
        close = getattr(self.driver, "close", None)
        if close is not None:
            close()

    @initialize(a=_LIMITS, b=_LIMITS)
    def start(self, a: LimitConfig, b: LimitConfig) -> None:
        """Two keys with limits of their own."""
        self.model.limits.update(a=a, b=b)
        self.driver = self.make_driver(lambda: float(self.now), lambda: float(self.wall))

    # -- decisions -----------------------------------------------------------------

    def _outcome(self, call: Callable[[], Any]) -> tuple[Outcome, Any]:
        try:
            return Outcome(True), call()
        except QuotaExceededError as e:
            return Outcome(False, e.retry_after), None

    def _expect(self, got: Outcome, requests: Sequence[tuple[str, int, Decimal | None]]) -> None:
        fits, wait = self.model.decide(requests, self.now, self.wall)
        assert got.admitted == fits, (
            f"{requests}: the limiter said {got}, the model {fits} ({wait})"
        )
        if fits:
            return
        if wait is None:
            assert got.retry_after is None, (
                f"{requests} never fits, yet retry_after={got.retry_after}"
            )
            return
        assert got.retry_after is not None and got.retry_after > 0, f"{requests}: {got}"
        assert float(wait) - self.slack - 1e-6 <= got.retry_after <= float(wait) + 1e-6, (
            f"{requests}: retry_after={got.retry_after}, the model waits {float(wait)}"
        )

    def _acquire(self, key: str, tokens: int, cost: Decimal | None) -> Outcome:
        assert self.driver is not None
        if self.model.limits[key].budget_usd is None:
            cost = None  # the client passes a cost only for a limit with a budget
        limit = self.model.limits[key]
        got, reservation = self._outcome(lambda: self.driver.acquire(key, limit, tokens, cost))  # type: ignore[union-attr]
        self._expect(got, [(key, tokens, cost)])
        if got.admitted:
            hold = self.model.charge(key, tokens, cost, self.now, self.wall)
            assert tuple(reservation) == (hold.key, hold.tokens, hold.cost)
            self.open.append((hold, reservation))
        return got

    @rule(key=st.sampled_from(KEYS), tokens=_TOKENS, cost=_COSTS)
    def acquire(self, key: str, tokens: int, cost: Decimal | None) -> None:
        """One request, admitted or refused as the model says."""
        self._acquire(key, tokens, cost)

    @rule(key=st.sampled_from(KEYS), tokens=_TOKENS, cost=_COSTS)
    def acquire_then_wait(self, key: str, tokens: int, cost: Decimal | None) -> None:
        """A refusal's retry_after, waited out (nothing else changing), admits the request."""
        got = self._acquire(key, tokens, cost)
        assert self.driver is not None
        if got.admitted or got.retry_after is None or not self.driver.drives_rates:
            return
        self._advance(Fraction(got.retry_after))
        assert self._acquire(key, tokens, cost).admitted, f"refused again after {got.retry_after} s"

    @rule(tokens=st.tuples(_TOKENS, _TOKENS), cost=st.tuples(_COSTS, _COSTS))
    def acquire_many(
        self, tokens: tuple[int, int], cost: tuple[Decimal | None, Decimal | None]
    ) -> None:
        """Both keys at once: admitted by both or charged by neither."""
        assert self.driver is not None
        acquire_many = getattr(self.driver, "acquire_many", None)
        if acquire_many is None:
            return
        requests = [
            (
                key,
                self.model.limits[key],
                n,
                c if self.model.limits[key].budget_usd is not None else None,
            )
            for key, n, c in zip(KEYS, tokens, cost, strict=True)
        ]
        got, reservations = self._outcome(lambda: acquire_many(requests))
        self._expect(got, [(key, n, c) for key, _, n, c in requests])
        if got.admitted:
            for (key, _, n, c), reservation in zip(requests, reservations, strict=True):
                hold = self.model.charge(key, n, c, self.now, self.wall)
                assert tuple(reservation) == (hold.key, hold.tokens, hold.cost)
                self.open.append((hold, reservation))

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data(), tokens=st.integers(0, 400), cost=_COSTS)
    def reconcile(self, data: st.DataObject, tokens: int, cost: Decimal | None) -> None:
        """Settle an open reservation with a smaller or larger real usage."""
        hold, reservation = self.open.pop(data.draw(st.integers(0, len(self.open) - 1)))
        if hold.cost is None:
            cost = None
        assert self.driver is not None
        self.driver.reconcile(reservation, tokens, cost)
        self.model.reconcile(hold, tokens, cost, self.now, self.wall)

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """Give an open reservation back whole."""
        hold, reservation = self.open.pop(data.draw(st.integers(0, len(self.open) - 1)))
        assert self.driver is not None
        self.driver.release(reservation)
        self.model.release(hold, self.now, self.wall)

    # -- time ---------------------------------------------------------------------

    def _advance(self, seconds: Fraction) -> None:
        assert self.driver is not None
        if self.driver.drives_rates:
            self.now += seconds
        self.wall += seconds

    @rule(ms=_STEPS_MS)
    def advance(self, ms: int) -> None:
        """Time passes (both clocks; only the wall clock for a limiter with its own)."""
        self._advance(Fraction(ms, 1000))

    @rule(before_ms=st.integers(-1_000, 3_000), period=st.sampled_from(["day", "month"]))
    def to_period_end(self, before_ms: int, period: str) -> None:
        """Move to just before (or past) the end of the current day or month."""
        _, _, end = period_span(period, float(self.wall))
        target = Fraction(int(end)) - Fraction(before_ms, 1000)
        if target > self.wall:
            self._advance(target - self.wall)

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def rates_stay_within_gcra(self) -> None:
        """No window holds more than its limit's burst plus its rate."""
        self.model.check_windows()

    @invariant()
    def budgets_are_never_overspent(self) -> None:
        """No period's admitted calls hold or spend more than its budget."""
        self.model.check_budgets()
