"""Route planning: strategies, cool-down, model id parsing."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from relaykit import ConfigError
from relaykit.config import load_config
from relaykit.routing import Router, Target


def router(
    strategy: str, weights: list[float] | None = None, clock: list[float] | None = None
) -> Router:
    route: dict[str, object] = {"targets": ["a/1", "b/2", "c/3"], "strategy": strategy}
    if weights:
        route["weights"] = weights
    t = clock or [0.0]
    return Router(load_config({"models": {"g": route}}), rng=random.Random(7), clock=lambda: t[0])


A, B, C = Target("a", "1"), Target("b", "2"), Target("c", "3")


def test_plain_model_ids() -> None:
    r = router("fallback")
    assert r.plan("openrouter/meta-llama/llama-3") == (Target("openrouter", "meta-llama/llama-3"),)
    for bad in ("gpt-4o", "/x", "x/"):
        with pytest.raises(ConfigError, match="provider/model"):
            r.plan(bad)


def test_fallback_keeps_the_configured_order() -> None:
    assert router("fallback").plan("g") == (A, B, C)


def test_weighted_draws_the_first_target_by_weight() -> None:
    r = router("weighted", weights=[8, 1, 1])
    firsts = Counter(r.plan("g")[0] for _ in range(2000))
    assert firsts[A] > 1400 and firsts[B] > 100 and firsts[C] > 100
    assert all(len(set(r.plan("g"))) == 3 for _ in range(10))


@pytest.mark.parametrize("weights", [[5, 3, 2], [1, 1, 1], [0.9, 0.05, 0.05], [1, 0, 3]])
def test_weighted_realises_the_weights_over_many_calls(weights: list[float]) -> None:
    # Pearson's chi-square of the first targets drawn against the weights, with a
    # fixed seed: deterministic, and a bias of a few percent fails it.
    r = router("weighted", weights=weights)
    n = 30_000
    plans = Counter(r.plan("g") for _ in range(n))
    firsts = Counter({plan[0]: 0 for plan in plans})
    for plan, count in plans.items():
        firsts[plan[0]] += count
        rest = [t for t in (A, B, C) if t != plan[0]]
        assert list(plan[1:]) == rest, "the others follow as fallbacks, in configured order"
    total = sum(weights)
    chi2 = 0.0
    for target, weight in zip((A, B, C), weights, strict=True):
        expected = n * weight / total
        if expected == 0:
            assert firsts[target] == 0, "a target of weight 0 is never drawn first"
            continue
        chi2 += (firsts[target] - expected) ** 2 / expected
    assert chi2 < 13.8, (firsts, chi2)  # chi-square, 2 degrees of freedom, p = 0.001


def test_least_busy_prefers_fewest_in_flight() -> None:
    r = router("least-busy")
    r.started(A)
    r.started(A)
    r.started(B)
    assert r.plan("g") == (C, B, A)
    r.finished(A, ok=True)
    r.finished(A, ok=True)
    assert r.plan("g") == (A, C, B)


def test_a_call_ended_twice_is_counted_and_never_makes_in_flight_negative() -> None:
    r = router("least-busy")
    r.started(A)
    r.finished(A, ok=True)
    assert r.extra_ends == 0
    r.finished(A, ok=True)  # ended twice: a bug elsewhere, which tests must see
    assert r.in_flight(A) == 0  # not -1, which would rank A first forever
    assert r.extra_ends == 1
    r.started(A)
    assert r.in_flight(A) == 1 and r.plan("g")[-1] == A


def test_latency_prefers_the_fastest_and_measures_the_unknown_first() -> None:
    r = router("latency")
    for target, latency in ((A, 0.9), (B, 0.1)):
        r.started(target)
        r.finished(target, ok=True, latency=latency)
    assert r.plan("g") == (C, B, A)  # C has never been measured
    r.started(C)
    r.finished(C, ok=True, latency=0.5, ttft=0.2)
    assert r.plan("g") == (B, C, A)
    for _ in range(10):  # B gets slow: the moving average follows
        r.started(B)
        r.finished(B, ok=True, latency=2.0)
    assert r.plan("g") == (C, A, B)


@pytest.mark.parametrize("streamed", [False, True])
def test_latency_ranks_a_failing_target_behind_the_others_until_reset_after(
    streamed: bool,
) -> None:
    """Never measured, a target that kept failing went first again after each cool-down."""
    clock = [0.0]
    r = router("latency", clock=clock)
    for target, latency in ((A, 0.9), (B, 0.1)):
        r.started(target)
        r.finished(target, ok=True, latency=latency, ttft=latency)
    r.started(C)
    r.finished(C, ok=False)
    clock[0] = 10  # past the cool-down (5 s), within [breaker] reset_after (30 s)
    assert r.plan("g", streamed) == (B, A, C)
    r.started(B)
    r.finished(B, ok=False)  # among the failing, ranked as ever: the unmeasured first
    clock[0] = 20
    assert r.plan("g", streamed) == (A, C, B)
    clock[0] = 50  # past reset_after: asked first again, to be measured (its trial)
    assert r.plan("g", streamed) == (C, B, A)


def test_failed_targets_cool_down_then_return() -> None:
    clock = [0.0]
    r = router("fallback", clock=clock)
    r.started(A)
    r.finished(A, ok=False)
    assert r.plan("g") == (B, C, A)
    clock[0] = 10
    assert r.plan("g") == (A, B, C)


def test_latency_p95_follows_recent_latencies_in_steps() -> None:
    r = router("fallback")
    for ms in range(1, 5):
        r.finished(A, ok=True, latency=ms / 1000)
    assert r.latency_p95(A) is None  # too few to say
    for ms in range(5, 101):
        r.finished(A, ok=True, latency=ms / 1000)
    assert r.latency_p95(A) == pytest.approx(0.096)
    for _ in range(9):
        r.finished(A, ok=True, latency=5.0)
    assert r.latency_p95(A) == pytest.approx(0.096)  # not sorted again for each call
    r.finished(A, ok=True, latency=5.0)
    assert r.latency_p95(A) == 5.0  # ten new latencies: recomputed


@pytest.mark.parametrize(
    ("weights", "down"),
    [([1, 99, 100], C), ([50, 1, 49], A), ([1, 1, 98], C), ([0, 5, 5], B)],
)
def test_weighted_draws_among_the_deployments_not_cooling_down(
    weights: list[float], down: Target
) -> None:
    """A deployment cooling down (it failed, or its circuit is open) goes last, and the
    first target is drawn by weight among the others.

    It was drawn among all of them, then moved to the back: the next in configured
    order took its share, so with weights 1, 99, 100 and the third down, the first
    (weight 1) took half the traffic and the second (weight 99) the other half.
    """
    clock = [0.0]
    r = router("weighted", weights=weights, clock=clock)
    r.started(down)
    r.finished(down, ok=False)  # cools down for 5 s; the clock stays put
    n = 30_000
    firsts: Counter[Target] = Counter()
    for _ in range(n):
        plan = r.plan("g")
        assert plan[-1] == down, "a deployment cooling down is asked last"
        assert sorted(plan) == sorted((A, B, C))
        firsts[plan[0]] += 1
    ready = [(t, w) for t, w in zip((A, B, C), weights, strict=True) if t != down]
    total = sum(w for _, w in ready)
    chi2 = 0.0
    for target, weight in ready:
        expected = n * weight / total
        if expected == 0:
            assert firsts[target] == 0, "a target of weight 0 is never drawn first"
            continue
        chi2 += (firsts[target] - expected) ** 2 / expected
    assert chi2 < 10.8, (firsts, chi2)  # chi-square, 1 degree of freedom, p = 0.001


def test_weighted_with_every_ready_deployment_at_weight_0_asks_them_in_order() -> None:
    r = router("weighted", weights=[0, 0, 5])
    r.started(C)
    r.finished(C, ok=False)
    assert {r.plan("g") for _ in range(50)} == {(A, B, C)}


def test_weighted_with_every_deployment_cooling_down_still_draws_by_weight() -> None:
    r = router("weighted", weights=[8, 1, 1])
    for t in (A, B, C):
        r.started(t)
        r.finished(t, ok=False)
    firsts = Counter(r.plan("g")[0] for _ in range(2000))
    assert firsts[A] > 1400 and firsts[B] > 100 and firsts[C] > 100
