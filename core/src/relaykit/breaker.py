"""Circuit breakers, one per deployment (provider + model + base URL).

Closed: calls flow; ``failures`` consecutive failures open the circuit.
Open: calls fail fast with :class:`CircuitOpenError`, touching no network,
until ``reset_after`` seconds have passed. Half-open: exactly one trial call
at a time goes through; its success closes the circuit, its failure opens it
again. What counts as a failure is a retryable error (5xx, 429, timeouts,
connection errors); a caller's mistake (4xx) says nothing about the service's
health, and a cancellation, a refusal by our own rate limiter (the request
never went out, or another breaker refused it) or a request refused before it
was sent (a plugin that cannot encode it, no credentials: see
:func:`~relaykit.transport_errors.never_sent`) or cut off by the call's total
timeout (the caller's budget) says nothing at all: it neither counts nor keeps
the trial slot.

A stream's attempt ends at its first piece, but the stream's verdict waits for
its end (:meth:`CircuitBreaker.stream_guard`): one that breaks midway (a dropped
connection, the vendor's error event, an idle timeout) is a failure, one read
to its end (or left by a break) a success, one left on an exception or a
cancellation no verdict. A half-open trial that is a stream closes the circuit at
its first piece all the same, or every other call would be refused for as long
as the answer takes; its end then counts in the closed period it began.

Only an attempt admitted since the circuit last opened or closed gives a
verdict. Calls in flight when it opened were sent to the service as it was: their
failures do not count again (nor push the next trial back), their successes do
not close it (only the half-open trial does), and once a trial has closed it,
a failure of theirs does not count against the new closed period.

We do not use pybreaker: its async path is Tornado-only, its ``calling()``
counts cancellation as a failure, and nothing limits half-open to one trial.
The state machine below is synchronous, so under cooperative scheduling
(asyncio or trio) no lock is needed: no await happens between a check and its
update.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from types import TracebackType
from typing import Literal

from .cancellation import is_cancellation
from .errors import CircuitOpenError, QuotaExceededError, RelayError, RequestTimeoutError
from .transport_errors import never_sent

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """The breaker of one deployment."""

    def __init__(
        self,
        name: str,
        *,
        failures: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = max(1, failures)
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        #: bumped when the circuit opens or closes; a guard books its outcome only
        #: if the period it was admitted in is still the breaker's
        self._period = 0

    @property
    def state(self) -> State:
        """``closed``, ``open`` or ``half-open`` (open, and the wait is over)."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after:
            return "half-open"
        return "open"

    @property
    def refusing(self) -> bool:
        """Whether a call now would be refused: open, or half-open with a trial in flight."""
        state = self.state
        return state == "open" or (state == "half-open" and self._trial_running)

    @property
    def idle(self) -> bool:
        """Closed with no failure counted: a new breaker would decide the same."""
        return self._opened_at is None and not self._failures

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def _admit(self, provider: str | None, model: str | None) -> bool:
        """Let a call through or raise; returns whether it is the half-open trial."""
        state = self.state
        if state == "closed":
            return False
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        assert self._opened_at is not None
        wait = max(0.0, self.reset_after - (self._clock() - self._opened_at))
        raise CircuitOpenError(
            f"circuit open after {self._failures} consecutive failures"
            + (
                f"; next trial in {wait:.1f}s" if state == "open" else "; a trial call is in flight"
            ),
            provider=provider,
            model=model,
            retry_after=wait if state == "open" else None,
            hint="relaykit stops calling a failing deployment for a while; "
            "configure a fallback route",
        )

    def _success(self, trial: bool, period: int) -> None:
        if period != self._period:
            return  # admitted before the circuit opened or closed: no verdict now
        self._failures = 0
        if trial:
            self._trial_running = False
            self._opened_at = None
            self._period += 1

    def _failure(self, trial: bool, period: int) -> None:
        if period != self._period:
            return
        self._failures += 1
        if trial or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._period += 1
        if trial:
            self._trial_running = False

    def _stream_started(self, trial: bool, period: int) -> int:
        """A stream admitted in ``period`` has its first piece: the period its end is
        booked in (:meth:`stream_ended`). A trial's first piece closes the circuit,
        its end then counting in the closed period it began; any other stream's
        verdict waits for its end, in the period it was admitted in."""
        if trial and period == self._period:
            self._success(True, period)
            return self._period
        return period

    @property
    def period(self) -> int:
        """Bumped each time the circuit opens or closes."""
        return self._period

    def stream_ended(self, period: int, *, ok: bool) -> None:
        """Book the verdict of a stream admitted through :meth:`stream_guard`: ``ok``,
        read to its end; else broken by the deployment midway. ``period`` is its
        guard's :attr:`Guard.period` (an end after the circuit changed state since
        says nothing of the service as it is now).

        Not :attr:`period` read once the stream started: the circuit may have opened
        while it waited for its first piece, and its end then counted in the open
        period, opening it again and leaving the trial in flight of a period gone,
        its slot never freed (every call refused for good)."""
        if ok:
            self._success(False, period)
        else:
            self._failure(False, period)

    def _release(self, trial: bool, period: int) -> None:
        if trial and period == self._period:
            self._trial_running = False

    def guard(self, provider: str | None = None, model: str | None = None) -> Guard:
        """Wrap one call: raises :class:`CircuitOpenError` instead of calling when open."""
        return Guard(self, provider, model)

    def stream_guard(self, provider: str | None = None, model: str | None = None) -> Guard:
        """:meth:`guard` for a stream's attempt, which ends at its first piece: a
        success then books nothing but a trial's (see the module docstring); the
        stream tells its end with :meth:`stream_ended`."""
        return _StreamGuard(self, provider, model)


class Guard:
    """``with breaker.guard():`` around one call: admits it, then books its outcome.

    A class rather than a ``@contextmanager`` generator: it runs on every attempt.
    """

    __slots__ = ("_breaker", "_model", "_period", "_provider", "_trial")

    def __init__(self, breaker: CircuitBreaker, provider: str | None, model: str | None) -> None:
        self._breaker = breaker
        self._provider = provider
        self._model = model
        self._trial = False
        self._period = 0

    def __enter__(self) -> None:
        breaker = self._breaker
        self._trial = breaker._admit(self._provider, self._model)
        self._period = breaker._period

    @property
    def period(self) -> int:
        """The breaker's period the call was admitted in; after a stream trial's first
        piece, the closed period it began: what :meth:`CircuitBreaker.stream_ended`
        is told of a stream admitted through this guard."""
        return self._period

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        breaker, trial, period = self._breaker, self._trial, self._period
        if exc is None:
            breaker._success(trial, period)
        elif is_cancellation(exc):
            breaker._release(trial, period)
        elif isinstance(exc, QuotaExceededError | CircuitOpenError):
            # Our own limiter (or another breaker) refused before any request went
            # out: the service was not asked, so this is no verdict (and must not
            # close a half-open circuit).
            breaker._release(trial, period)
        elif isinstance(exc, RequestTimeoutError) and exc.which == "total" and not exc.retryable:
            # The call's time ran out (the caller's budget, after whatever retries
            # and waits came first): no verdict, as for a stream that ends so. As a
            # success (it is not retryable), a trial that hung closed the circuit.
            # (A transport's own timeouts say "connect" or "idle": failures.)
            breaker._release(trial, period)
        elif isinstance(exc, RelayError):
            if exc.retryable:
                breaker._failure(trial, period)
            elif never_sent(exc):
                # Refused on this side before sending (a document the plugin cannot
                # encode, no credentials): the service was not asked, so no verdict;
                # as a success it closed a half-open circuit on a deployment still down.
                breaker._release(trial, period)
            else:
                # The service answered, even if it said no: it is healthy.
                breaker._success(trial, period)
        else:
            # Our own bug or an unexpected exception: not the service's health.
            breaker._release(trial, period)


class _StreamGuard(Guard):
    """A stream's :class:`Guard`: its success is only the stream's start."""

    __slots__ = ()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self._period = self._breaker._stream_started(self._trial, self._period)
        else:
            super().__exit__(exc_type, exc, tb)


class BreakerBoard:
    """All breakers of one client, created on first use."""

    def __init__(
        self, *, failures: int, reset_after: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._failures = failures
        self._reset_after = reset_after
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, deployment: str) -> CircuitBreaker:
        """The breaker for ``deployment`` (e.g. ``openai/gpt-4o-mini@https://api.openai.com/v1``)."""
        breaker = self._breakers.get(deployment)
        if breaker is None:
            breaker = self._breakers[deployment] = CircuitBreaker(
                deployment,
                failures=self._failures,
                reset_after=self._reset_after,
                clock=self._clock,
            )
        return breaker

    def keep(self, names: Container[str]) -> None:
        """Forget every breaker not in ``names`` (the client's, when deployment names
        come from callers: see ``Client._forget_breakers``)."""
        self._breakers = {n: b for n, b in self._breakers.items() if n in names}

    def states(self) -> dict[str, State]:
        """Every known deployment's state, for metrics and ``relaykit demo``."""
        return {name: b.state for name, b in self._breakers.items()}
