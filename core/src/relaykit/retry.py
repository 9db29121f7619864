"""Retries on one deployment, on stamina: what is retried, and how long to wait first.

The first attempt is made by :mod:`relaykit.attempts` without stamina, so a
call that succeeds at once (nearly all of them) pays nothing for retries:
stamina's ``retry_context`` costs about 30 µs per call even when nothing fails,
and importing it (with tenacity) about 50 ms, so both wait for the first
failure that ``[retry] on`` names (and the import happens in a worker thread).
Then a stamina loop takes over; its first "attempt" replays that failure, so
stamina schedules every wait, counts every attempt and honours its test mode
(:func:`relaykit.testing.instant_retries`).

Waits are stamina's exponential backoff with jitter: before retry ``n``,
``min(max_wait, initial_wait * 2 ** (n - 1) + uniform(0, initial_wait))``. A
Retry-After replaces it (stamina uses a custom wait as given): a 429's, and a
5xx's, 408's and 409's too, as the OpenAI SDK honours it for every status it
retries. A Retry-After longer than ``max_retry_after`` is not waited at all:
that deployment is not retried (the route's next one is asked, else the error
is raised, its ``retry_after`` the server's and its hint saying why). Clamped,
the retry came while the server still refused (another 429, an attempt and a
minute spent); the OpenAI SDK retries such a call on its own short backoff,
which fails the same way. ``max_retry_after = 0`` still retries at once,
whatever the Retry-After. No retry is made when its wait would
not fit in what is left of the call's total timeout (the error's hint then says
so), when the deployment's circuit would refuse it (open, or half-open with
another call's trial in flight: the next target is tried at once), or for a
failure ``[retry] on`` leaves out.

stamina's own instrumentation (a WARNING log line per retry, a Prometheus
counter) is process-wide; relaykit reports its retries itself (span events,
the ``relaykit.retries`` metric, ``attempts`` on every record), so for its own
retries the hooks are swapped for one DEBUG line on ``relaykit.retry``, and a
program's own stamina retries keep whatever hooks it configured.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from .errors import (
    CircuitOpenError,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
    RequestTimeoutError,
)

if TYPE_CHECKING:
    from .breaker import CircuitBreaker
    from .config import RetryConfig
    from .routing import Target

T = TypeVar("T")

log = logging.getLogger("relaykit.retry")

#: the deployment relaykit is retrying in this task, for the instrumentation gate
_RETRYING: ContextVar[str | None] = ContextVar("relaykit_retrying", default=None)


def may_retry(error: RelayError, config: RetryConfig) -> bool:
    """Whether ``error`` is worth a second attempt on the same deployment at all.

    The provider's ``x-should-retry`` (:attr:`RelayError.should_retry`), when it
    sent one, overrides what the error's kind would say.
    """
    said = error.should_retry
    return (
        (error.retryable if said is None else said)
        and not isinstance(error, CircuitOpenError)  # it would refuse again: fall back
        and kind(error) in config.on
    )


def kind(error: RelayError) -> str:
    """The ``[retry] on`` name of a retryable error."""
    if isinstance(error, RateLimitError):
        return "rate_limit"
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, ProviderUnavailableError) and error.status is None:
        return "connection"
    return "unavailable"


def wait_before_retry(
    error: BaseException,
    attempt: int,
    config: RetryConfig,
    remaining: float,
    *,
    testing: bool = False,
) -> bool | float:
    """stamina's ``on`` hook: whether to retry after ``error`` ended attempt ``attempt``.

    Returns ``False`` (do not retry), ``True`` (retry after stamina's backoff)
    or a number of seconds (retry after exactly that: a clamped Retry-After).
    ``remaining`` is what is left of the total timeout; a wait that would not
    fit in it is not worth making. In stamina's test mode every wait is 0.
    """
    if not isinstance(error, RelayError) or not may_retry(error, config):
        return False  # cancellation and our own bugs land here too: never retried
    retry_after = (
        error.retry_after
        if isinstance(error, RateLimitError | ProviderUnavailableError | RequestTimeoutError)
        else None
    )
    if retry_after is not None:
        if testing or not config.max_retry_after:
            wait = 0.0  # max_retry_after = 0: retry at once, whatever the server asked
        elif retry_after > config.max_retry_after:
            # Retried after max_retry_after, a call the server asked to keep away
            # for longer all but certainly got another 429 (and spent an attempt
            # and the wait): not retried here, the route's next deployment is
            # asked instead, else the error is raised with its retry_after.
            return False
        else:
            wait = retry_after
        return wait if wait < remaining else False
    # the longest backoff stamina may pick (see the module docstring); a float power,
    # as stamina's: an int's 2 ** 1100 overflowed to float, an OverflowError here
    try:
        worst = min(config.max_wait, config.initial_wait * (2.0 ** (attempt - 1) + 1))
    except OverflowError:
        worst = config.max_wait
    return (0.0 if testing else worst) < remaining


async def retry(
    first_error: RelayError,
    again: Callable[[], Awaitable[T]],
    *,
    config: RetryConfig,
    deadline: float,
    breaker: CircuitBreaker | None,
    target: Target,
) -> T:
    """Retry ``again()`` on stamina after the first attempt failed with ``first_error``.

    ``breaker`` is the deployment's circuit, or ``None`` for a call that has none (a
    batch's submit). Raises the last error when stamina gives up.
    """
    if _loaded:
        stamina: Any = sys.modules["stamina"]
        _gate_instrumentation(stamina)  # in case the program replaced stamina's hooks since
    else:
        # Importing stamina and tenacity (~50 ms), then its default hooks (which
        # import prometheus_client or structlog when installed), would stall the
        # event loop: do it once, in a worker thread.
        stamina = await anyio.to_thread.run_sync(_load_stamina)
    number = 0  # of the attempt that just failed, for the backoff bound
    #: the error whose Retry-After did not fit in what was left of the total timeout,
    #: and what was left (None: it asked for more than max_retry_after)
    too_long: tuple[Exception, float | None] | None = None

    def on(error: Exception) -> bool | float:
        nonlocal too_long
        if breaker is not None and breaker.refusing:
            # open, or another call's trial in flight: the deployment would refuse
            # (a backoff then a refusal), so try the next one now
            return False
        remaining = deadline - time.monotonic()
        decision = wait_before_retry(error, number, config, remaining, testing=stamina.is_testing())
        if decision is False and _asked_past(error, config, remaining):
            too_long = error, remaining
        elif decision is False and _asked_past_cap(error, config):
            too_long = error, None
        return decision

    token = _RETRYING.set(str(target))
    try:
        async for attempt in stamina.retry_context(
            on=on,
            attempts=config.attempts,
            timeout=None,  # the call's total timeout is checked in `on`, wait included
            wait_initial=config.initial_wait,
            wait_max=config.max_wait,
            wait_jitter=config.initial_wait,
        ):
            number = attempt.num
            with attempt:
                if number == 1:
                    raise first_error  # replayed, so stamina schedules its retry
                return await again()
    except RelayError as error:
        if too_long is not None and too_long[0] is error:
            left = too_long[1]
            if left is None:
                _say_past_cap(error, config.max_retry_after)
            else:
                _say_too_long(error, left)
        raise
    finally:
        _RETRYING.reset(token)
    raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


def _asked_past(error: Exception, config: RetryConfig, remaining: float) -> bool:
    """Whether ``error`` was not retried only because the wait its Retry-After asked
    for would not fit in the ``remaining`` seconds of the call's total timeout."""
    wait = getattr(error, "retry_after", None)
    return (
        wait is not None
        and isinstance(error, RelayError)
        and may_retry(error, config)
        and min(wait, config.max_retry_after) >= remaining
    )


def _asked_past_cap(error: Exception, config: RetryConfig) -> bool:
    """Whether ``error`` was not retried only because its Retry-After asked for more
    than ``max_retry_after`` (see :func:`wait_before_retry`)."""
    wait = getattr(error, "retry_after", None)
    return (
        wait is not None
        and isinstance(error, RelayError)
        and may_retry(error, config)
        and 0 < config.max_retry_after < wait
    )


def _say_past_cap(error: RelayError, cap: float) -> None:
    """Say in ``error``'s hint why it was raised without a retry: the wait it asked
    for is longer than ``[retry] max_retry_after``."""
    said = (
        f"the provider asked to wait {getattr(error, 'retry_after', 0.0):.1f}s before a"
        f" retry, more than [retry] max_retry_after ({cap:g}s), so none was made here:"
        " retry after error.retry_after, or raise max_retry_after"
    )
    error.hint = f"{error.hint}; {said}" if error.hint else said


def _say_too_long(error: RelayError, remaining: float) -> None:
    """Say in ``error``'s hint why it was raised without a retry: it asked for a wait
    longer than what was left of the call (raised as it came, it read as if retries
    were off)."""
    said = (
        f"the provider asked to wait {getattr(error, 'retry_after', 0.0):.1f}s before"
        f" a retry, more than the {max(0.0, remaining):.1f}s left of the call's total"
        " timeout, so none was made: retry later, or raise [timeouts] total (or the"
        " call's timeout=)"
    )
    error.hint = f"{error.hint}; {said}" if error.hint else said


class _Gate:
    """A stamina retry hook: relaykit's retries to ``relaykit.retry``, others to ``hooks``."""

    def __init__(self, hooks: tuple[Any, ...]) -> None:
        self.hooks = hooks

    def __call__(self, details: Any) -> AbstractContextManager[None] | None:
        target = _RETRYING.get()
        if target is None:  # the program's own stamina retry: its hooks, as configured
            returned = [hook(details) for hook in self.hooks]
            managers = [cm for cm in returned if isinstance(cm, AbstractContextManager)]
            return _entered_together(managers) if managers else None
        if log.isEnabledFor(logging.DEBUG):
            error = details.caused_by  # type and status only: a message may quote the prompt
            log.debug(
                "retrying %s in %.2fs after %s (retry %d)",
                target,
                details.wait_for,
                type(error).__name__,
                details.retry_num,
                extra={"status": getattr(error, "status", None)},
            )
        return None


@contextmanager
def _entered_together(managers: list[AbstractContextManager[None]]) -> Iterator[None]:
    with ExitStack() as stack:
        for cm in managers:
            stack.enter_context(cm)
        yield


#: whether stamina has been imported and its hooks gated in this process
_loaded = False


def _load_stamina() -> Any:
    global _loaded
    stamina = importlib.import_module("stamina")
    _gate_instrumentation(stamina)
    _loaded = True
    return stamina


def _gate_instrumentation(stamina: Any) -> None:
    """Put :class:`_Gate` in front of stamina's hooks (again, if a program replaced them)."""
    hooks = stamina.instrumentation.get_on_retry_hooks()
    if not any(isinstance(hook, _Gate) for hook in hooks):
        stamina.instrumentation.set_on_retry_hooks([_Gate(hooks)])
