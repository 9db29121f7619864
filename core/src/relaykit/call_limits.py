"""Rate limits and budgets around each attempt: reserve before it is sent, settle after.

A :class:`CallLimits` holds the ``[limits]`` of one client and the rate limiter
the ``relaykit_rate_limiter`` hook gave it. Before an attempt it reserves a
request, the prompt's estimated tokens plus the output's and, under a budget,
the most the call may cost; after it, it settles those holds with what the
answer used and cost, or gives them back whole when the request never left.

The usual case (one limit, a limiter that decides at once) costs no coroutine:
:meth:`CallLimits.take_one` and ``reconcile_nowait`` are plain calls, and
``Client._attempt`` takes that path inline, reading :attr:`CallLimits.one_limit`.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from .budgets import estimate_cost, hold_rates
from .config import Config, LimitConfig, is_scoped
from .config_tables import missing_backend_hint
from .errors import ConfigError
from .half_built import close_now
from .plugin_faults import first_result, from_a_plugin, wrong_reservation
from .protocols import RateLimiter, Reservation
from .response import ChatResponse, Usage
from .secrets import describe_error

if TYPE_CHECKING:
    from .client import _Call
    from .plugins import NotLoaded, PluginManager
    from .routing import Target

limiter_log = logging.getLogger("relaykit.limiter")

_ZERO = Decimal(0)

#: the output tokens a limit holds for a call that sets no ``max_tokens``
OUTPUT_ESTIMATE = 256

#: one ``[limits]`` pattern matching a deployment, its limit, and the USD per
#: prompt and per output token its budget holds at (``None``: no budget)
OneLimit = tuple[str, LimitConfig, tuple[Decimal, Decimal] | None]

#: ``[limits]`` patterns (or scoped buckets) with their limit
Limits = tuple[tuple[str, LimitConfig], ...]


class CallLimits:
    """Reserves and settles one client's ``[limits]`` around each attempt.

    Built only when ``[limits]`` has an entry (see :meth:`create`).

    :param config: the client's configuration (its ``[limits]`` and ``[limiter]``).
    :param limiter: what the ``relaykit_rate_limiter`` hook returned for
        ``[limiter] backend``; ``None`` (no plugin provides it) is a
        :class:`~relaykit.ConfigError`, as is a limiter that does not enforce
        the ``budget_usd`` a limit sets.
    :param price: the price of a deployment, as the model a provider named
        (``""``: the deployment's own), or ``None`` when unknown.
    :param not_loaded: the plugin manager's installed plugins kept from loading,
        for the fix when ``limiter`` is ``None``.
    """

    def __init__(
        self,
        config: Config,
        limiter: RateLimiter | None,
        price: Callable[[Target, str], Any],
        *,
        not_loaded: Mapping[str, NotLoaded] | None = None,
    ) -> None:
        backend = config.limiter.backend
        if limiter is None:
            raise ConfigError(
                f"no plugin provides the rate limiter {backend!r}",
                hint=missing_backend_hint(
                    "limiter",
                    backend,
                    ["memory"],
                    "set [limiter] backend = 'memory'",
                    not_loaded=not_loaded,
                ),
            )
        if any(limit.budget_usd is not None for limit in config.limits.values()) and not getattr(
            limiter, "supports_budgets", False
        ):
            raise ConfigError(
                f"the rate limiter {backend!r} does not enforce budget_usd",
                hint="use limiter = 'memory' or 'redis', or remove budget_usd from [limits]",
            )
        #: the rate limiter every reservation goes to
        self.limiter = limiter
        self._limits = config.limits
        self._price = price
        #: the ``[limits]`` patterns each deployment matches (see :meth:`limits_for`)
        self.matches: dict[Target, Limits] = {}
        #: deployments that one limit matches, when the limiter decides at once: the
        #: usual case, which ``Client._attempt`` handles inline (see :meth:`limits_for`)
        self.one_limit: dict[Target, OneLimit] = {}
        #: ``[limits."NAME=GLOB"]``, as (name, glob, pattern, limit): limits on the calls
        #: whose ``metadata[NAME]`` matches GLOB, each distinct value counted apart
        self.scoped: tuple[tuple[str, str, str, LimitConfig], ...] = tuple(
            (pattern.partition("=")[0], pattern.partition("=")[2], pattern, limit)
            for pattern, limit in config.limits.items()
            if is_scoped(pattern)
        )
        # A limiter that decides without waiting offers synchronous twins of its
        # methods (the memory one does): the usual call then builds no coroutine.
        self.acquire_nowait: Any = getattr(limiter, "acquire_nowait", None)
        self.reconcile_nowait: Any = getattr(limiter, "reconcile_nowait", None)
        if self.acquire_nowait is None or self.reconcile_nowait is None:
            self.acquire_nowait = self.reconcile_nowait = None
        #: whether reservations are checked as they come (a plugin's limiter: one
        #: that forgot its return failed only when settled, as a warning)
        self._checked = from_a_plugin(limiter)
        if self._checked and self.acquire_nowait is not None:
            self.acquire_nowait = _checked_nowait(limiter, self.acquire_nowait)
        #: the limiter's optional ``release``: gives back a call that was never sent
        self._limiter_release = getattr(limiter, "release", None)

    @classmethod
    def create(
        cls, config: Config, pm: PluginManager, price: Callable[[Target, str], Any]
    ) -> CallLimits | None:
        """The limits of a client with ``config``, its limiter from the plugin manager
        ``pm``; ``None`` when ``[limits]`` is empty (no limiter is asked for then)."""
        if not config.limits:
            return None
        limiter = first_result(
            pm,
            "relaykit_rate_limiter",
            needs=("acquire", "reconcile"),
            name=config.limiter.backend,
            config=config,
        )[1]
        try:
            return cls(config, limiter, price, not_loaded=pm.not_loaded)
        except BaseException:
            # refused (it enforces no budgets): a limiter over the network holds a socket
            close_now(limiter)
            raise

    async def aclose(self) -> None:
        """Close the limiter, if it has ``aclose`` (a shared one holds sockets)."""
        limiter_close = getattr(self.limiter, "aclose", None)
        if limiter_close is not None:
            await limiter_close()

    # -- which limits a call falls under ------------------------------------

    def scoped_limits(self, metadata: Mapping[str, str]) -> Limits:
        """The ``[limits."NAME=GLOB"]`` a call with ``metadata`` falls under, each with
        the bucket it counts in: one per pattern and value (``gateway_key=alice
        (gateway_key=*)``), so every caller has a limit of their own."""
        found = []
        for name, glob, pattern, limit in self.scoped:
            value = metadata.get(name)
            if isinstance(value, str) and fnmatch.fnmatchcase(value, glob):
                exact = f"{name}={value}"
                found.append((exact if exact == pattern else f"{exact} ({pattern})", limit))
        return tuple(found)

    def limits_for(self, target: Target) -> Limits:
        """The ``[limits]`` patterns matching ``target``, matched once per deployment.

        When one pattern matches and the limiter decides at once, ``target`` also
        gets an entry in :attr:`one_limit`, with the rates its budget holds at (if
        it has one): a known price is then looked up once per deployment, not on
        every call (see :meth:`relaykit.protocols.Provider.price`). The settled
        cost is still priced per answer, as the model that answered.
        """
        found = self.matches.get(target)
        if found is None:
            key = str(target)
            found = tuple(
                (pattern, limit)
                for pattern, limit in self._limits.items()
                if not is_scoped(pattern) and fnmatch.fnmatchcase(key, pattern)
            )
            if len(self.matches) >= 1024:  # model ids come from callers: stay bounded
                # cleared in place: Client._attempt reads these very dicts
                self.matches.clear()
                self.one_limit.clear()
            self.matches[target] = found
            if len(found) == 1 and self.acquire_nowait:
                pattern, limit = found[0]
                if limit.budget_usd is None:
                    self.one_limit[target] = (pattern, limit, None)
                elif (price := self._price(target, "")) is not None:
                    self.one_limit[target] = (pattern, limit, hold_rates(price))
                # else: no price yet; reserve looks it up per call, in case the
                # plugin learns it later (from a model listing, say)
        return found

    # -- reserving -----------------------------------------------------------

    def reserve_now(self, target: Target, call: _Call) -> list[Reservation] | None:
        """What :meth:`reserve` holds, without a coroutine, when the limiter can say at once.

        That is the usual case: the limiter offers ``acquire_nowait`` (see
        :class:`~relaykit.protocols.RateLimiter`) and one limit matches, with or
        without a budget. ``None`` when the call needs :meth:`reserve`.
        """
        if self.acquire_nowait is None or call.scoped:
            return None
        one = self.one_limit.get(target)  # matched already, nearly always
        if one is None:
            if not self.limits_for(target):
                return []
            one = self.one_limit.get(target)
            if one is None:  # several limits
                return None
        return [self.take_one(one, call)]

    def take_one(self, one: OneLimit, call: _Call) -> Reservation:
        """Reserve ``call`` under its one matched limit, at once (:attr:`one_limit`'s entry).

        Only called when :attr:`one_limit` has an entry, which it gets only when
        the limiter offers ``acquire_nowait``.
        """
        pattern, limit, rates = one
        acquire = self.acquire_nowait
        prompt = call.size // 4  # prompt_tokens(call), inlined
        output = call.output_hold
        if rates is None:
            return acquire(pattern, limit, prompt + output)  # type: ignore[no-any-return]
        # a budget holds the most this call may cost (budgets.hold_rates; the
        # limiter supports budgets: checked in __init__)
        hold = prompt * rates[0] + output * rates[1]
        if call.unit_hold:
            hold += call.unit_hold
        return acquire(pattern, limit, prompt + output, cost=hold)  # type: ignore[no-any-return]

    async def reserve(self, target: Target, call: _Call) -> list[Reservation]:
        """Reservations under every limit ``call`` on ``target`` falls under (none: ``[]``),
        or the limiter's refusal raised."""
        limits = self.limits_for(target) + call.scoped
        if not limits:
            return []
        if self.acquire_nowait is not None:
            # It decides without waiting: nothing can interrupt it half way.
            return self._check(await self._acquire(limits, target, call))
        # A limiter that waits may have charged by the time a cancellation reaches
        # us, its answer lost on the way: so it answers shielded, and a cancelled
        # call then gives back what it was granted.
        try:
            with anyio.CancelScope(shield=True):
                reservations = await self._acquire(limits, target, call)
        except Exception:
            # A caller cancelled while the limiter answered gets its cancellation,
            # not the limiter's error (trio's move_on_after would not catch that).
            await anyio.lowlevel.checkpoint_if_cancelled()
            raise
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await self.release(reservations, call, target)
            raise
        return self._check(reservations)

    def _check(self, reservations: list[Reservation]) -> list[Reservation]:
        """``reservations``, refused as a :class:`~relaykit.ConfigError` naming the
        plugin when its limiter answered something else."""
        if self._checked:
            for reservation in reservations:
                if not isinstance(reservation, Reservation):
                    raise wrong_reservation(self.limiter, "acquire", reservation)
        return reservations

    async def _acquire(self, limits: Limits, target: Target, call: _Call) -> list[Reservation]:
        """Reservations under every one of ``limits``, or none (raising the refusal)."""
        limiter = self.limiter
        prompt = prompt_tokens(call)
        tokens = prompt + call.output_hold
        if len(limits) == 1 and limits[0][1].budget_usd is None:
            # One limit and no budget: nothing to undo if it refuses.
            pattern, limit = limits[0]
            return [await limiter.acquire(pattern, limit, tokens)]
        cost: Decimal | None = None  # a budget holds the most this call may cost
        if any(limit.budget_usd is not None for _, limit in limits):
            cost = estimate_cost(self._price(target, ""), prompt, tokens - prompt) + call.unit_hold
        budgeted: Any = limiter  # checked for supports_budgets in __init__
        acquire_many = getattr(limiter, "acquire_many", None)
        if acquire_many is not None and len(limits) > 1:
            # A shared limiter decides every limit in one round trip, all or none.
            requests = [
                (pattern, limit, tokens, cost if limit.budget_usd is not None else None)
                for pattern, limit in limits
            ]
            return list(await acquire_many(requests))
        reservations: list[Reservation] = []
        try:
            for pattern, limit in limits:
                if limit.budget_usd is None:
                    reservations.append(await limiter.acquire(pattern, limit, tokens))
                else:
                    reservations.append(await budgeted.acquire(pattern, limit, tokens, cost=cost))
        except BaseException:
            # A later limit refused: the earlier ones give back all they hold for this
            # call, its request too, or a refused call would keep counting against them.
            await self.release(reservations, call, target)
            raise
        return reservations

    # -- settling ------------------------------------------------------------

    async def release(self, reservations: list[Reservation], call: _Call, target: Target) -> None:
        """Give ``reservations`` back whole: their call never reached the provider.

        A limiter without ``release`` (it is optional) gets zero tokens and zero
        cost, and keeps counting the request. Shielded, as reconciling is.
        """
        if not reservations:
            return
        release = self._limiter_release
        with anyio.CancelScope(shield=True):
            if release is None:
                await self.reconcile(reservations, call, None, target)
                return
            for reservation in reservations:  # each apart: one failing keeps the others'
                try:
                    await release(reservation)
                except Exception as e:
                    _unsettled(e)

    def reconcile_now(
        self,
        reservations: list[Reservation],
        call: _Call,
        response: ChatResponse | None,
        target: Target,
    ) -> bool:
        """Settle the usual single reservation without a coroutine; ``False`` if it cannot."""
        reconcile_nowait = self.reconcile_nowait
        if reconcile_nowait is None or len(reservations) > 1:
            return False
        reservation = reservations[0]
        if response is None:
            used = 0
        else:
            usage = response.usage  # total_tokens, without the property's call
            used = usage.input_tokens + usage.output_tokens
        if reservation.cost is None:
            reconcile_nowait(reservation, used)
        else:
            reconcile_nowait(reservation, used, cost=self.cost_of(call, response, target))
        return True

    async def reconcile(
        self,
        reservations: list[Reservation],
        call: _Call,
        response: ChatResponse | None,
        target: Target,
    ) -> None:
        """Settle ``reservations`` with what the call used.

        A limiter that fails here (its server went away) must not cost the
        caller an answer the provider already gave, nor hide the call's own
        error: its hold stays until it expires, and a warning says so.
        """
        try:
            await self._settle_holds(reservations, call, response, target)
        except Exception as e:
            _unsettled(e)

    async def _settle_holds(
        self,
        reservations: list[Reservation],
        call: _Call,
        response: ChatResponse | None,
        target: Target,
    ) -> None:
        limiter = self.limiter
        used = response.usage.total_tokens if response is not None else 0
        if len(reservations) == 1 and reservations[0].cost is None:
            await limiter.reconcile(reservations[0], used)  # the usual case
            return
        cost: Decimal | None = None  # worked out once, for the first budget
        for reservation in reservations:
            if reservation.cost is None:
                await limiter.reconcile(reservation, used)
            else:
                if cost is None:
                    cost = self.cost_of(call, response, target)
                budgeted: Any = limiter
                await budgeted.reconcile(reservation, used, cost=cost)

    def cost_of(self, call: _Call, response: ChatResponse | None, target: Target) -> Decimal:
        """What ``response`` cost, to settle a budget's hold (zero without an answer or price).

        Kept on ``call`` (``call.priced``) for ``CallOutcomes.finish``, which reports the
        same cost: a call with a budget looks its price up and multiplies once.
        """
        if response is None:
            return _ZERO
        price = self._price(target, response.model)
        if price is None:
            cost = None
        elif call.kind is None:  # a chat
            cost = price.cost(response.usage)
        else:  # per token, search, minute of audio, image or character: the kind knows
            cost = call.kind.cost(price, call.request, response)
        call.priced = (response.usage, target, cost)
        return _ZERO if cost is None else cost


def _checked_nowait(limiter: object, acquire_nowait: Any) -> Any:
    """A plugin limiter's ``acquire_nowait``, checked to return a reservation."""

    def checked(*args: Any, **kwargs: Any) -> Reservation:
        reservation = acquire_nowait(*args, **kwargs)
        if not isinstance(reservation, Reservation):
            raise wrong_reservation(limiter, "acquire_nowait", reservation)
        return reservation

    return checked


def _unsettled(error: Exception) -> None:
    """A limiter failed to settle or give back a hold: say so, and let the call stand."""
    limiter_log.warning(
        "the rate limiter could not settle a call's hold, which stays until it expires: %s",
        describe_error(error),
    )


def prompt_tokens(call: _Call) -> int:
    """A rough count of the prompt's tokens, a quarter of its characters (as limits estimate it).

    The characters are those :func:`~relaykit.validation.check_size` counted
    (text and tool results), so the prompt is not walked a second time.
    """
    return call.size // 4


def unit_hold(call: _Call, price: Any) -> Decimal:
    """What a budget holds for ``call``'s units billed apart from tokens, at ``price``:
    its likely search units at the price per search, its audio's minutes at the price
    per minute, its images at the price per image, its characters at the price per
    character (nothing when the price has none)."""
    if price is None:
        return _ZERO
    if call.searches and price.per_search:
        return call.searches * price.per_search  # type: ignore[no-any-return]
    if call.minutes and price.per_minute:
        return price.cost(Usage(), minutes=call.minutes)  # type: ignore[no-any-return]
    if call.characters:
        per_character = price.per_character
        return call.characters * per_character if per_character else _ZERO
    if call.images:
        from .image_generation import image_hold

        return image_hold(price, call.request)  # type: ignore[arg-type]
    return _ZERO
