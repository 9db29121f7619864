"""Turn what the caller wrote as ``model`` into the deployments to try, in order.

An alias in ``[models.NAME]`` lists targets and a strategy:

- ``fallback``: the configured order.
- ``weighted``: the first target drawn by weight among those not cooling down,
  the others as fallbacks.
- ``least-busy``: fewest calls in flight first.
- ``latency``: lowest moving average first, of whole-call latency for a chat
  and of time to first token for a stream (as LiteLLM's latency routing does;
  a stream's whole duration says more about the answer's length, and how fast
  the caller reads, than about the deployment). Unmeasured targets go first so
  they get measured; a stream uses a target's chat latency until its time to
  first token is known. A target that failed goes behind every other (measured
  or not) for ``[breaker] reset_after`` seconds, as long as an open circuit
  waits for its trial: one that keeps failing is never measured, and went first
  again after each cool-down, each such call paying its failure.

Chats feed the latency average and the recent latencies whose p95 a
``hedge_after = "p95"`` route waits (hedges are for chats only); streams feed
the time-to-first-token average, and stay in flight (for ``least-busy``) until
the caller leaves the stream.

Whatever the strategy, a deployment in cool-down (it just failed with a
retryable error: for ``[breaker] cool_down`` seconds, or for the wait it asked
for if longer, a 429's Retry-After, up to ``[retry] max_retry_after``; a
``cool_down`` of 0 turns both off) moves to the back of the order: it is
still tried if everything else fails, never skipped. One whose open circuit
refused a call moves there too until the circuit lets a trial through, not
for a cool-down: a refusal sent nothing, and a longer wait would keep the
trial from a deployment that may be back.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

import attrs

from .config import Config
from .errors import ConfigError, InvalidRequestError
from .known_secrets import KnownSecrets

log = logging.getLogger("relaykit.routing")

#: weight of the newest observation in the latency moving averages
EWMA_ALPHA = 0.3
#: recompute a target's latency p95 after this many new latencies
P95_EVERY = 10
#: added to a latency score while its target is failing: behind any latency measured
FAILING = 1e9
#: model ids parsed and targets' health held before a new one first forgets some:
#: model ids come from callers (a gateway's clients name any model they like)
FORGET_FROM = 4096


class Target(NamedTuple):
    """One deployment: a provider name and that provider's model name.

    An immutable named tuple rather than a frozen attrs class: a call looks
    targets up in several dicts (health, breakers, limits), and a tuple's hash
    and equality run in C, where attrs' (even with a cached hash) are a Python
    call per look-up.
    """

    provider: str
    model: str

    @classmethod
    def parse(cls, model_id: str) -> Target:
        """Split at the first ``/``: ``openrouter/meta-llama/x`` keeps the rest.

        Whitespace around the id, the provider or the model (a newline read with the
        name from a file) is refused, not stripped: the id names the call's record,
        metric series and cache key, as the vendor's model name does."""
        provider, sep, model = model_id.partition("/")
        trimmed = f"{provider.strip()}/{model.strip()}" if sep else model_id.strip()
        if trimmed != model_id:
            raise ConfigError(
                f"model {model_id!r} has whitespace around its provider or model name",
                hint=f"write {trimmed!r}",
            )
        if not sep or not provider or not model:
            vendor = _vendor_of(model_id) if not sep else None
            example = f"'{vendor}/{model_id}'" if vendor else "e.g. 'openai/gpt-4o-mini'"
            raise ConfigError(
                f"model {model_id!r} is not of the form 'provider/model'",
                hint=f"write {example}, or define an alias under [models]",
            )
        return cls(provider, model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


#: the vendor a bare model name is known by (LiteLLM and the SDKs take it without one)
_BARE_NAMES = (
    (
        ("gpt-", "chatgpt-", "o1", "o3", "o4", "text-embedding-", "dall-e", "whisper", "tts-"),
        "openai",
    ),
    (("claude-",), "anthropic"),
    (("gemini-", "gemma-"), "gemini"),
)


def _vendor_of(model: str) -> str | None:
    """The provider a bare model name belongs to, for the fix of its refusal."""
    for prefixes, vendor in _BARE_NAMES:
        if model.startswith(prefixes):
            return vendor
    return None


@attrs.define
class _Health:
    in_flight: int = 0
    #: moving average of chat latency (request to whole answer)
    latency: float | None = None
    #: moving average of stream time to first token (request to first content)
    ttft: float | None = None
    cool_until: float = 0.0
    #: until when the latency strategy ranks it behind the others: it just failed
    failing_until: float = 0.0
    #: recent chat latencies, for the p95 a hedge waits
    recent: deque[float] = attrs.field(factory=lambda: deque(maxlen=200))
    #: latencies seen so far, and the p95 as of ``p95_at`` of them (sorting on every
    #: hedged call would cost more than the hedge's own bookkeeping)
    seen: int = 0
    p95: float | None = None
    p95_at: int = -P95_EVERY


class Router:
    """Plans the order of targets for each call and learns from how calls went.

    ``known``: the client's secrets. A model id that holds one (a key passed as the
    model) is refused before any call: it would name the call's record, span, log
    line and metric series.
    """

    def __init__(
        self,
        config: Config,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        cool_down: float = 5.0,
        known: KnownSecrets | None = None,
    ) -> None:
        self._config = config
        self._rng = rng or random.Random()
        self._clock = clock
        self._cool_down = cool_down
        self._health: dict[Target, _Health] = {}
        self._parsed: dict[str, tuple[Target, ...]] = {}
        #: the targets of the configured routes: their health is kept for good (the
        #: balancing and the hedges read it); any other target's is read by no plan
        self._routed = frozenset(Target.parse(t) for r in config.models.values() for t in r.targets)
        self._health_cap = FORGET_FROM
        self._known = KnownSecrets() if known is None else known
        # a model id planned before a secret was known is checked again
        self._known.on_change(self._parsed.clear)
        #: ends told for a target with no call in flight: a call ended twice (or one
        #: never started), a bug elsewhere. The count never goes below zero (a
        #: negative one would rank the target first forever); this says it would
        #: have. Tests assert it stays 0 (relaykit.testing.chaos.check_invariants).
        self.extra_ends = 0
        #: the latest end of any cool-down so far (0.0: nothing ever failed), so a
        #: plan skips looking at each target's health while none is cooling down
        self._cooling = 0.0

    def plan(self, model_id: str, streamed: bool = False) -> tuple[Target, ...]:
        """The targets to try for ``model_id``, best first (``streamed``: for a stream)."""
        try:
            targets = self._parsed.get(model_id)
        except TypeError:  # unhashable: a list or a dict, refused below
            targets = None
        if targets is None:
            if not isinstance(model_id, str):
                # chat(os.environ.get("MODEL"), ...) with the variable unset: None
                raise InvalidRequestError(
                    f"the model must be a string 'provider/model' or an alias,"
                    f" not {type(model_id).__name__} {model_id!r}"[:160],
                    param="model",
                    hint="write e.g. 'openai/gpt-4o-mini'",
                )
            masked = self._known.redact(model_id)
            if masked != model_id:
                raise InvalidRequestError(
                    f"the model {masked!r} holds one of the client's keys",
                    param="model",
                    hint="pass a key as api_key ([providers.NAME] api_key or its variable)"
                    " and a model name such as 'openai/gpt-4o-mini' as the model",
                )
            route = self._config.models.get(model_id)
            ids = route.targets if route is not None else (model_id,)
            targets = tuple(Target.parse(t) for t in ids)
            if len(self._parsed) >= FORGET_FROM:  # a cache: parsing again is cheap
                self._parsed.clear()
            self._parsed[model_id] = targets
        if len(targets) == 1:
            return targets
        strategy = self._config.models[model_id].strategy
        if strategy == "fallback":
            if not self._cooling:  # no deployment failed yet, as usual: the order stands
                return targets
            order = list(targets)
        elif strategy == "weighted":
            return self._weighted(self._config.models[model_id].weights, targets)
        else:
            order = self._ordered(model_id, list(targets), streamed)
        now = self._clock()
        if self._cooling <= now:  # every cool-down is over
            return targets if strategy == "fallback" else tuple(order)
        health = self._health
        for target in order:
            state = health.get(target)
            if state is not None and state.cool_until > now:
                break
        else:  # none of these cooling down: no need to sort
            return targets if strategy == "fallback" else tuple(order)
        order.sort(
            key=lambda t: self._state(t).cool_until > now
        )  # stable: keeps the order within groups
        return tuple(order)

    def _ordered(self, model_id: str, order: list[Target], streamed: bool) -> list[Target]:
        """``order`` (a route's targets) sorted by the route's balancing strategy."""
        route = self._config.models[model_id]
        if route.strategy == "least-busy":
            order.sort(key=lambda t: self._state(t).in_flight)
        elif route.strategy == "latency":
            now = self._clock()
            score = self._ttft_score if streamed else self._latency_score
            order.sort(key=lambda t: score(t, now))
        return order

    def _weighted(
        self, weights: tuple[float, ...] | None, targets: tuple[Target, ...]
    ) -> tuple[Target, ...]:
        """A weighted route's order: the first drawn by weight among the targets not
        cooling down, then the rest of those, then the ones cooling down (each group
        in configured order).

        Drawn among them all and then moved back, a target cooling down gave its share
        to the next in configured order, whatever that one's weight (even 0).
        """
        n = len(targets)
        every = weights or (1.0,) * n
        now = self._clock()
        ready: Sequence[int] = range(n)
        if self._cooling > now:
            health = self._health
            ready = [
                i
                for i, t in enumerate(targets)
                if (state := health.get(t)) is None or state.cool_until <= now
            ]
            if not ready:  # every one cooling down: drawn among them all
                ready = range(n)
        drawn = [every[i] for i in ready]
        if any(w > 0 for w in drawn):
            first = self._rng.choices(ready, weights=drawn)[0]
        else:  # the ones left weigh nothing: asked in configured order
            first = ready[0]
        return (
            targets[first],
            *(targets[i] for i in ready if i != first),
            *(targets[i] for i in range(n) if i not in ready),
        )

    def _state(self, target: Target) -> _Health:
        health = self._health.get(target)
        if health is None:
            if len(self._health) >= self._health_cap:
                self._forget_health()
            health = self._health[target] = _Health()
        return health

    def _forget_health(self) -> None:
        """Drop the health of the targets no route names and no call is in flight to:
        a single target's plan reads no health, so forgetting it changes no order."""
        routed = self._routed
        self._health = {t: h for t, h in self._health.items() if h.in_flight or t in routed}
        # Next time, past twice what is left: forgetting stays a small share of the work.
        self._health_cap = max(FORGET_FROM, 2 * len(self._health))

    def _latency_score(self, target: Target, now: float) -> float:
        """A chat's sort key: the latency average (-1, first, when unmeasured), plus
        :data:`FAILING` while the target is failing."""
        health = self._state(target)
        latency = health.latency
        score = -1.0 if latency is None else latency
        return score + FAILING if health.failing_until > now else score

    def _ttft_score(self, target: Target, now: float) -> float:
        """A stream's sort key: the time-to-first-token average, else the chat latency
        (an upper bound of it), else -1 (first, to get measured); plus :data:`FAILING`
        while the target is failing."""
        health = self._state(target)
        if health.ttft is not None:
            score = health.ttft
        else:
            score = -1.0 if health.latency is None else health.latency
        return score + FAILING if health.failing_until > now else score

    def started(self, target: Target) -> None:
        """A call to ``target`` began."""
        self._state(target).in_flight += 1

    def finished(
        self, target: Target, *, ok: bool, latency: float | None = None, ttft: float | None = None
    ) -> None:
        """A call to ``target`` ended; failures put it in cool-down.

        ``latency``: a chat's, request to answer (the average and the p95 of
        chats); ``ttft``: a stream's time to first token (its own average). A
        failure's measurements are dropped.
        """
        health = self._state(target)
        if health.in_flight:
            health.in_flight -= 1
        else:
            self.extra_ends += 1
            log.debug("%s ended with no call in flight (ended twice?)", target)
        if not ok:
            now = self._clock()
            health.cool_until = now + self._cool_down
            health.failing_until = now + self._config.breaker.reset_after
            if health.cool_until > self._cooling:
                self._cooling = health.cool_until
            return
        if latency is not None:
            health.latency = latency if health.latency is None else _ewma(health.latency, latency)
            health.recent.append(latency)
            health.seen += 1
        if ttft is not None:
            health.ttft = ttft if health.ttft is None else _ewma(health.ttft, ttft)

    def refused(self, target: Target, until_trial: float | None) -> None:
        """A call to ``target`` was refused by its open circuit: nothing was sent.

        The attempt is ended with ``finished(target, ok=True)`` first (no verdict).

        Not a failure (the one that opened the circuit already cooled it down):
        ``target`` moves to the back until its circuit lets a trial through, in
        ``until_trial`` seconds, so the next calls go to the others without asking
        it, and the first after that is its trial. A refusal while another call's
        trial is in flight (``until_trial`` None) leaves it where it is: that trial
        decides, and once it succeeds the deployment is healthy at once.
        """
        if until_trial:
            self.keep_back(target, until_trial)

    def asked_to_wait(self, target: Target, seconds: float) -> None:
        """A failure of ``target`` (ended with ``finished(ok=False)``) asked for a wait
        (a 429's Retry-After): its cool-down lasts that long if longer, as LiteLLM's
        router cools a deployment for it; asked first again sooner, it would only
        refuse again. Nothing when the cool-down is off (``cool_down = 0``)."""
        if self._cool_down:
            self.keep_back(target, seconds)

    def keep_back(self, target: Target, seconds: float) -> None:
        """Keep ``target`` at the back of its routes for ``seconds`` at least: until its
        circuit lets a trial through (:meth:`refused`), or for the wait its failure
        asked for (:meth:`asked_to_wait`). A cool-down already longer is never cut short."""
        health = self._state(target)
        cool_until = self._clock() + seconds
        if cool_until > health.cool_until:
            health.cool_until = cool_until
            if cool_until > self._cooling:
                self._cooling = cool_until

    def latency_p95(self, target: Target, min_samples: int = 5) -> float | None:
        """The 95th percentile of ``target``'s recent chat latencies, once there are a few.

        Sorted again after every :data:`P95_EVERY` new latencies (each time until 20).
        """
        health = self._state(target)
        if len(health.recent) < min_samples:
            return None
        if health.seen - health.p95_at >= P95_EVERY or health.seen < 2 * P95_EVERY:
            recent = sorted(health.recent)
            health.p95 = recent[min(len(recent) - 1, int(0.95 * len(recent)))]
            health.p95_at = health.seen
        return health.p95

    def busy(self, target: Target) -> bool:
        """Whether a call to ``target`` is in flight now (asking records nothing)."""
        health = self._health.get(target)
        return health is not None and health.in_flight > 0

    def in_flight(self, target: Target) -> int:
        """Calls to ``target`` in flight now."""
        return self._state(target).in_flight


def _ewma(old: float, new: float) -> float:
    return (1 - EWMA_ALPHA) * old + EWMA_ALPHA * new
