"""A hypothesis state machine that checks a circuit breaker against a reference model.

:class:`BreakerMachine` opens guards (:meth:`relaykit.breaker.CircuitBreaker.guard`)
and ends them in any order, as concurrent attempts would under cooperative
scheduling, with every kind of outcome, and moves a fake clock. After each step
the breaker's state, failure count and every refusal's wait are checked against
:class:`BreakerModel`, the documented behaviour spelled out once:

- Closed: ``failures`` consecutive failures open the circuit. A success resets
  the count; a caller's mistake (a non-retryable error) is a success (the
  service answered).
- Open for ``reset_after`` seconds after it opened: every call is refused with
  :class:`~relaykit.errors.CircuitOpenError`, its message saying when the next
  trial may run. Then half-open: one trial at a time; its success closes the
  circuit, its failure opens it again for another ``reset_after``.
- No verdict at all: a cancellation, a refusal by our own limiter
  (:class:`~relaykit.errors.QuotaExceededError`), a
  :class:`~relaykit.errors.CircuitOpenError` from inside the call (no request
  went out), a request refused before it was sent (an
  :class:`~relaykit.errors.InvalidRequestError` without a status: the plugin
  could not encode it), or an exception that is not a :class:`~relaykit.errors.RelayError`
  (our own bug). A trial ended so frees its slot.
- Only an attempt admitted since the circuit last changed state gives a
  verdict: one admitted before it opened (or before it closed again) is a
  verdict on a service as it was, and neither counts, nor closes, nor reopens
  it. So a failure from before the circuit opened does not count after it
  closes, and an old success cannot close an open circuit.

The clock moves in eighths of a second, so the breaker's float arithmetic is
exact and any difference from the model is a bug, not rounding. Run it from an
async test, under each backend (the breaker tells a cancellation by the running
loop's exception class)::

    @pytest.mark.anyio
    async def test_the_breaker_follows_its_model() -> None:
        await run_breaker_machine(settings(max_examples=200, deadline=None))

Optional dependency: hypothesis (the test extra), imported only with this module.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Literal

import anyio
import anyio.lowlevel
import attrs
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ..breaker import CircuitBreaker, Guard
from ..errors import (
    CircuitOpenError,
    InvalidRequestError,
    ProviderUnavailableError,
    QuotaExceededError,
)

__all__ = ["Admission", "BreakerMachine", "BreakerModel", "Outcome", "run_breaker_machine"]

Admission = Literal["attempt", "trial", "refused"]
#: how a guarded attempt ends
Outcome = Literal[
    "success", "failure", "caller_error", "unsent", "cancelled", "quota", "circuit_open", "bug"
]
OUTCOMES: tuple[Outcome, ...] = (
    "success",
    "failure",
    "caller_error",
    "unsent",
    "cancelled",
    "quota",
    "circuit_open",
    "bug",
)


@attrs.define
class BreakerModel:
    """The documented breaker in exact arithmetic (see the module docstring)."""

    threshold: int
    reset_after: Fraction
    failures: int = 0
    opened_at: Fraction | None = None
    #: bumped each time the circuit opens or closes: an attempt's verdict counts
    #: only in the period it was admitted in
    period: int = 0
    trial_running: bool = False

    def state(self, now: Fraction) -> str:
        """``closed``, ``open`` or ``half-open`` at ``now``."""
        if self.opened_at is None:
            return "closed"
        return "half-open" if now - self.opened_at >= self.reset_after else "open"

    def admit(self, now: Fraction) -> Admission:
        """What the breaker must do with a new attempt at ``now``."""
        state = self.state(now)
        if state == "closed":
            return "attempt"
        if state == "half-open" and not self.trial_running:
            self.trial_running = True
            return "trial"
        return "refused"

    def wait(self, now: Fraction) -> Fraction:
        """Seconds until the next trial may run (0 once half-open)."""
        assert self.opened_at is not None
        return max(Fraction(0), self.reset_after - (now - self.opened_at))

    def end(self, admission: Admission, period: int, outcome: Outcome, now: Fraction) -> None:
        """An attempt admitted as ``admission`` in ``period`` ended with ``outcome``."""
        if outcome in ("unsent", "cancelled", "quota", "circuit_open", "bug"):
            verdict = None
        else:
            verdict = outcome != "failure"  # a caller's error: the service answered
        if period != self.period:
            return  # admitted before the circuit last changed: no verdict now
        if admission == "trial":
            self.trial_running = False
        if verdict is None:
            return
        if verdict:
            if admission == "trial":
                self.period += 1
            self.failures = 0
            self.opened_at = None
            return
        self.failures += 1
        if admission == "trial" or self.failures >= self.threshold:
            self.opened_at = now
            self.period += 1


@attrs.define
class _Open:
    guard: Guard
    admission: Admission
    period: int


class BreakerMachine(RuleBasedStateMachine):
    """Drives one :class:`CircuitBreaker` against :class:`BreakerModel`.

    ``cancelled``: an instance of the running backend's cancellation exception
    (the machine runs inside a test's event loop, so the breaker can tell it
    apart, as ``anyio.get_cancelled_exc_class()`` needs a running loop).
    """

    cancelled: BaseException | None = None

    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0  # eighths of a second
        self.open: list[_Open] = []
        self.breaker: CircuitBreaker
        self.model: BreakerModel

    @property
    def now(self) -> Fraction:
        """The machine's clock, in seconds."""
        return Fraction(self.ticks, 8)

    def clock(self) -> float:
        """The breaker's clock: exact in binary."""
        return self.ticks / 8

    @initialize(
        threshold=st.integers(1, 4),
        reset_ticks=st.integers(0, 40),
        start=st.integers(0, 10**6),
    )
    def start(self, threshold: int, reset_ticks: int, start: int) -> None:
        """A new breaker, its clock anywhere."""
        self.ticks = start * 8
        self.breaker = CircuitBreaker(
            "p/m", failures=threshold, reset_after=reset_ticks / 8, clock=self.clock
        )
        self.model = BreakerModel(threshold, Fraction(reset_ticks, 8))

    @rule()
    def begin(self) -> None:
        """A new attempt asks the breaker; its refusal is checked against the model."""
        guard = self.breaker.guard("p", "m")
        period = self.model.period
        wait = self.model.wait(self.now) if self.model.opened_at is not None else None
        expected = self.model.admit(self.now)
        refusal: CircuitOpenError | None = None
        try:
            guard.__enter__()
        except CircuitOpenError as e:
            refusal = e
        if refusal is None:
            assert expected != "refused", "admitted, but the model refuses"
            self.open.append(_Open(guard, expected, period))
            return
        assert expected == "refused", f"refused, but the model admits ({expected})"
        assert wait is not None
        shown = re.search(r"next trial in ([\d.]+)s", refusal.message)
        if wait > 0:
            assert shown is not None, refusal.message
            assert abs(Fraction(shown[1]) - wait) <= Fraction(1, 20), (refusal.message, wait)
        else:
            assert "a trial call is in flight" in refusal.message, refusal.message

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data(), outcome=st.sampled_from(OUTCOMES))
    def end(self, data: st.DataObject, outcome: Outcome) -> None:
        """An attempt in flight (any of them) ends with ``outcome``."""
        index = data.draw(st.integers(0, len(self.open) - 1), label="attempt")
        attempt = self.open.pop(index)
        error = self._error(outcome)
        attempt.guard.__exit__(type(error) if error else None, error, None)
        self.model.end(attempt.admission, attempt.period, outcome, self.now)

    def _error(self, outcome: Outcome) -> BaseException | None:
        if outcome == "success":
            return None
        if outcome == "failure":
            return ProviderUnavailableError("down", provider="p", model="m", status=503)
        if outcome == "caller_error":
            return InvalidRequestError("bad", provider="p", model="m", status=400)
        if outcome == "cancelled":
            assert self.cancelled is not None, "set BreakerMachine.cancelled in the test"
            return self.cancelled
        if outcome == "unsent":  # the plugin refused to encode it: never sent
            return InvalidRequestError("cannot send a .doc", provider="p", model="m")
        if outcome == "quota":
            return QuotaExceededError("our own rpm", provider="p", model="m")
        if outcome == "circuit_open":
            return CircuitOpenError("another breaker", provider="p", model="m")
        return KeyError("a bug")

    @rule(ticks=st.integers(1, 48))
    def advance(self, ticks: int) -> None:
        """Time passes."""
        self.ticks += ticks

    @invariant()
    def agrees(self) -> None:
        """The breaker's state and count are the model's."""
        if not hasattr(self, "model"):
            return
        assert self.breaker.state == self.model.state(self.now)
        assert self.breaker.consecutive_failures == self.model.failures

    def teardown(self) -> None:
        """Every attempt still in flight is cancelled: a half-open circuit must not stay
        stuck with its trial slot taken."""
        if not hasattr(self, "model"):
            return
        for attempt in self.open:
            if self.cancelled is not None:
                attempt.guard.__exit__(type(self.cancelled), self.cancelled, None)
                self.model.end(attempt.admission, attempt.period, "cancelled", self.now)
        self.open.clear()
        if self.cancelled is not None and self.model.opened_at is not None:
            self.ticks += int(self.model.reset_after * 8)
            assert self.model.admit(self.now) == "trial"
            self.breaker.guard("p", "m").__enter__()  # a trial is admitted: the slot is free


async def run_breaker_machine(settings: Settings | None = None) -> None:
    """Run :class:`BreakerMachine` in the running event loop (asyncio or trio).

    The steps are synchronous, as the breaker is; running them inside the loop
    lets the breaker tell a cancellation (a real one, caught here first) by the
    backend's class.
    """
    caught: BaseException | None = None
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.lowlevel.checkpoint()
        except anyio.get_cancelled_exc_class() as e:
            caught = e
            raise
    assert caught is not None

    class Machine(BreakerMachine):
        cancelled = caught

    run_state_machine_as_test(Machine, settings=settings)
