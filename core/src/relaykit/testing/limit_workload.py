"""A randomised workload that checks a rate limiter keeps exactly what was sent.

Many concurrent calls (chats and streams) go through a client whose ``[limits]``
match ``load/*``: some are answered, some refused by the limits, some fail at
the provider after it received them (503, 400), some fail before anything was
sent (no connection, or a request the provider plugin could not encode), some
are cancelled by their caller. :class:`LoadPlugin`'s provider counts what
really reached it and what the answers used (or, cut off by the caller, the
prompt it was sent, as the client estimates it); a limiter is right when, after
everything settled, its state holds exactly that: one request per attempt that
was sent, the tokens the answers used, their cost, and nothing for the rest::

    plugin = LoadPlugin()
    async with relaykit.Client(config, plugins=[plugin]) as client:
        outcomes = await run_limit_workload(client, seed=1, calls=80)
    plugin.sent.requests, plugin.sent.tokens, plugin.sent.cost  # compare with the limiter

The same helpers run in several processes at once against a shared limiter
(see relaykit-redis's tests).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.lowlevel
import attrs

from .._hookimpl import hookimpl
from ..budgets import to_micro_usd
from ..errors import (
    InvalidRequestError,
    ProviderUnavailableError,
    QuotaExceededError,
    RelayError,
)
from ..events import Finish, StreamEvent, StreamStart, TextDelta, UsageUpdate
from ..http_exceptions import ConnectError
from ..protocols import ProviderSettings
from ..request import ChatRequest
from ..response import ChatResponse, ModelInfo, ModelPrice, Usage

if TYPE_CHECKING:
    from ..client import Client
    from ..http import HttpClient

#: what a call asks the provider to do, chosen at random (see :func:`run_limit_workload`)
CASES = ("ok", "ok", "ok", "fail", "bad", "local", "connect", "slow")


@attrs.define
class Sent:
    """What reached the provider: attempts received, tokens and USD their answers used
    (a prompt's, for a request cut off mid-call)."""

    requests: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    #: the cost in whole micro-dollars, rounded up per answer (as a limiter keeping
    #: integers, relaykit-redis's, settles it)
    micro_usd: int = 0


class LoadProvider:
    """Does what the prompt says: ``"CASE INPUT OUTPUT DELAY_MS"`` (see :data:`CASES`)."""

    type: ClassVar[str] = "load"
    PRICE: ClassVar[ModelPrice] = ModelPrice(Decimal("1"), Decimal("2"))

    def __init__(self, settings: ProviderSettings, sent: Sent) -> None:
        self.settings = settings
        self.sent = sent

    def _plan(self, request: ChatRequest) -> tuple[str, Usage, float]:
        case, inp, out, delay = request.messages[-1].text.split()
        return case, Usage(int(inp), int(out)), int(delay) / 1000

    async def _receive(self, request: ChatRequest) -> Usage:
        """Fail as planned, or count the request and wait as long as planned."""
        case, usage, delay = self._plan(request)
        if case == "local":  # the plugin cannot encode it: nothing goes out
            raise InvalidRequestError("cannot encode this request", param="messages")
        if case == "connect":  # refused before a byte was sent
            raise ConnectError("connection refused")
        self.sent.requests += 1
        try:
            await anyio.sleep(delay if case != "slow" else 5.0)
        except BaseException:
            # Cut off by its caller: a vendor bills the prompt it received, which
            # the client estimates at a quarter of its characters (Client._cut_off).
            self._used(Usage(input_tokens=len(request.messages[-1].text) // 4))
            raise
        if case == "fail":
            raise ProviderUnavailableError(
                "overloaded", status=503, provider=self.settings.name, model=request.model
            )
        if case == "bad":
            raise InvalidRequestError(
                "bad request", status=400, provider=self.settings.name, model=request.model
            )
        return usage

    def _used(self, usage: Usage) -> None:
        """Count an answer's usage: called with no wait before it reaches the client."""
        cost = self.PRICE.cost(usage)
        self.sent.tokens += usage.total_tokens
        self.sent.cost += cost
        self.sent.micro_usd += to_micro_usd(cost)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """The planned answer or failure."""
        usage = await self._receive(request)
        self._used(usage)
        return ChatResponse(text="ok", usage=usage, model=request.model, finish_reason="stop")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The planned answer as events, or the planned failure before the first."""
        usage = await self._receive(request)
        yield StreamStart("load-1", request.model)
        yield TextDelta("ok")
        self._used(usage)
        yield UsageUpdate(usage)
        yield Finish("stop")

    async def list_models(self) -> list[ModelInfo]:
        """No listing: the workload names its model."""
        return []

    def price(self, model: str) -> ModelPrice | None:
        """USD 1 per million input tokens, 2 per million output tokens."""
        return self.PRICE


class _Factory:
    type = "load"
    requires_api_key = False
    api_key_env = None
    base_url_env = None
    default_base_url = "load://"
    options: tuple[str, ...] = ()

    def __init__(self, plugin: LoadPlugin) -> None:
        self._plugin = plugin

    def __call__(self, settings: ProviderSettings, http: HttpClient) -> LoadProvider:
        """Build the provider; it never uses ``http``."""
        return LoadProvider(settings, self._plugin.sent)


class LoadPlugin:
    """A plugin adding the ``load`` provider type; :attr:`sent` counts what reached it."""

    __name__ = "load-plugin"

    def __init__(self) -> None:
        self.sent = Sent()

    @hookimpl
    def relaykit_providers(self) -> Sequence[Any]:
        """The load provider factory."""
        return [_Factory(self)]


async def run_limit_workload(
    client: Client, *, seed: int, calls: int = 80, model: str = "load/m"
) -> Counter[str]:
    """Run ``calls`` concurrent calls of random cases through ``client``; count outcomes.

    Outcomes: ``answered``, ``refused`` (a :class:`QuotaExceededError`),
    ``failed`` (any other relaykit error), ``cancelled`` (the caller gave up at a
    random moment). A third of the calls stream. The cases and timings follow
    ``seed``; the interleaving is the event loop's.
    """
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()

    async def one(prompt: str, max_tokens: int, streamed: bool, give_up: float | None) -> None:
        outcome = "cancelled"
        with anyio.move_on_after(give_up if give_up is not None else 60):
            try:
                if streamed:
                    async with client.stream(model, prompt, max_tokens=max_tokens) as s:
                        async for _ in s:
                            pass
                else:
                    await client.chat(model, prompt, max_tokens=max_tokens)
                outcome = "answered"
            except QuotaExceededError:
                outcome = "refused"
            except RelayError:
                outcome = "failed"
        outcomes[outcome] += 1

    async with anyio.create_task_group() as tg:
        for _ in range(calls):
            case = rng.choice(CASES)
            prompt = f"{case} {rng.randint(1, 60)} {rng.randint(1, 120)} {rng.randint(0, 5)}"
            give_up = rng.uniform(0.0, 0.02) if case == "slow" or rng.random() < 0.1 else None
            tg.start_soon(one, prompt, rng.randint(100, 400), rng.random() < 0.3, give_up)
            if rng.random() < 0.3:
                await anyio.lowlevel.checkpoint()  # let some calls start before the rest
    return outcomes
