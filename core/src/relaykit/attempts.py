"""Retries on one deployment, fallbacks across deployments: the loop chat and stream share.

For each target in the planned order: ask its circuit breaker, make an attempt,
and on a retryable error wait (backoff, or the provider's Retry-After) and try
the same target again, up to ``[retry] attempts``. When a target is exhausted,
move to the next if the failure says another deployment could do better: a
retryable error, an open circuit, one of our own quota limits, or a context
length error when the next target's window is larger.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import anyio

from .errors import ContextLengthError, QuotaExceededError, RelayError
from .protocols import Provider
from .request import ChatRequest
from .retry import next_wait
from .routing import Target

if TYPE_CHECKING:
    from .client import Client, _Call

T = TypeVar("T")
Attempt = Callable[[Provider, ChatRequest, Target], Awaitable[T]]


async def run_attempts(
    client: Client, call: _Call, attempt: Attempt[T], targets: tuple[Target, ...] | None = None
) -> T:
    """Run ``attempt`` over ``targets`` (default: the call's plan) until one succeeds.

    Raises the last error when every target has failed or a failure is final.
    """
    targets = call.targets if targets is None else targets
    error: RelayError | None = None
    for index, target in enumerate(targets):
        provider = client._registry.get(target.provider)
        request = client._request_for(call, target)
        breaker = client._breaker_of(target)
        tries = 0
        while True:
            tries += 1
            call.attempts += 1
            client._router.started(target)
            started = time.monotonic()
            try:
                with breaker.guard(target.provider, target.model):
                    result = await attempt(provider, request, target)
            except RelayError as e:
                # A caller's mistake says nothing about the deployment's health.
                client._router.finished(target, ok=not e.retryable)
                error = call.last_error = e
            except BaseException:
                client._router.finished(target, ok=True)  # cancelled: no verdict
                raise
            else:
                client._router.finished(target, ok=True, latency=time.monotonic() - started)
                return result
            finally:
                client._note_breaker(breaker)
            wait = next_wait(error, tries, client.config.retry, call.deadline - time.monotonic())
            if wait is None:
                break
            await anyio.sleep(wait)
        if index + 1 == len(targets) or not await _worth_falling_back(
            client, error, target, targets[index + 1]
        ):
            break
        call.fallbacks += 1
    assert error is not None
    raise error


async def _worth_falling_back(
    client: Client, error: RelayError, failed: Target, nxt: Target
) -> bool:
    if error.retryable or isinstance(error, QuotaExceededError):
        return True
    if isinstance(error, ContextLengthError):
        failed_window = await client._context_window(failed)
        next_window = await client._context_window(nxt)
        return failed_window is not None and next_window is not None and next_window > failed_window
    return False
