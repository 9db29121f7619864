"""A route's calls share cached answers, whichever deployment the router plans first."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.response_cache import canonical_request
from relaykit.routing import Target
from relaykit.testing import FakePlugin

#: a balanced route over two deployments of different models; "latency" plans an
#: unmeasured deployment first, so the call after the first one plans the other
BALANCED = {"targets": ["fake/a", "fake/b"], "strategy": "latency"}


def make(fake: FakePlugin, **routes: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"initial_wait": 0.001},
        "cache": {"enabled": True},
        "models": routes,
    }
    return relaykit.Client(config, plugins=[fake])


@pytest.mark.anyio
async def test_a_balanced_route_hits_whichever_deployment_is_planned_first() -> None:
    fake = FakePlugin()
    async with make(fake, g=BALANCED) as client:
        first = await client.chat("g", "hi", temperature=0)
        # the router now plans b first (a is measured, b is not)
        assert client._router.plan("g")[0] == Target("fake", "b")
        again = await client.chat("g", "hi", temperature=0)
    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert again.text == first.text
    assert [c.model for c in fake.calls] == ["a"]


@pytest.mark.anyio
async def test_a_balanced_route_hits_from_a_stream_too() -> None:
    fake = FakePlugin()
    async with make(fake, g=BALANCED) as client:
        first = await client.chat("g", "hi", temperature=0)
        async with client.stream("g", "hi", temperature=0) as s:
            text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
    assert s.response.cache_hit and text == first.text
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_a_fallback_route_hits_while_its_first_deployment_cools_down() -> None:
    fake = FakePlugin()
    route = {"targets": ["fake/a", "fake/b"], "strategy": "fallback"}
    async with make(fake, f=route) as client:
        first = await client.chat("f", "hi", temperature=0)
        # a failed elsewhere (another call): the router plans b first while a cools
        client._router.started(Target("fake", "a"))
        client._router.finished(Target("fake", "a"), ok=False)
        assert client._router.plan("f")[0] == Target("fake", "b")
        again = await client.chat("f", "hi", temperature=0)
    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_a_route_and_a_deployment_of_it_keep_their_own_answers() -> None:
    # the key names what was asked for: the route's answer may be any deployment's
    fake = FakePlugin()
    async with make(fake, g=BALANCED) as client:
        await client.chat("g", "hi", temperature=0)
        direct = await client.chat("fake/a", "hi", temperature=0)
    assert not direct.cache_hit
    assert len(fake.calls) == 2


@pytest.mark.anyio
async def test_a_route_whose_deployments_change_asks_again() -> None:
    # two processes sharing a store, one configured before a change, one after
    from .conftest import Shelf, StorePlugin

    shelf, fake = Shelf(), FakePlugin()

    def client(targets: list[str]) -> relaykit.Client:
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "cache": {"enabled": True, "backend": "shelf"},
            "models": {"g": {"targets": targets}},
        }
        return relaykit.Client(config, plugins=[fake, StorePlugin(shelf)])

    async with client(["fake/a", "fake/b"]) as before:
        await before.chat("g", "hi", temperature=0)
    async with client(["fake/c", "fake/b"]) as after:
        changed = await after.chat("g", "hi", temperature=0)
    async with client(["fake/a", "fake/b"]) as same:
        unchanged = await same.chat("g", "hi", temperature=0)
    assert (changed.cache_hit, unchanged.cache_hit) == (False, True)
    assert [c.model for c in fake.calls] == ["a", "c"]


def test_the_model_keyed_is_the_one_named_not_the_requests() -> None:
    from relaykit.messages import coerce_messages
    from relaykit.request import build_request

    planned_a = build_request("a", coerce_messages("hi"), {"temperature": 0})
    planned_b = build_request("b", coerce_messages("hi"), {"temperature": 0})
    assert canonical_request("g", planned_a, "g") == canonical_request("g", planned_b, "g")
    # without it, the request's own model is keyed, as before
    assert canonical_request("g", planned_a) != canonical_request("g", planned_b)


@pytest.mark.anyio
async def test_a_balanced_embeddings_route_hits_the_vectors_another_deployment_made() -> None:
    # Vectors are kept per deployment (two models' never mix); a route's call whose
    # first planned deployment lacks a text takes another deployment's vectors of
    # the same model, when it holds every text: one answer, one space.
    fake = FakePlugin()
    route = {"targets": ["fake/m", "twin/m"], "strategy": "latency"}
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "cache": {"enabled": True},
        "providers": {"twin": {"type": "fake"}},
        "models": {"g": route},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        first = await client.embed("g", ["alpha", "beta"])
        assert client._router.plan("g")[0] == Target("twin", "m")
        again = await client.embed("g", ["beta", "alpha"])
        partly = await client.embed("g", ["alpha", "gamma"])  # not all of them: twin embeds
    assert (first.cache_hit, again.cache_hit, partly.cache_hit) == (False, True, False)
    assert (again.provider, again.vectors) == ("fake", first.vectors[::-1])
    assert (first.provider, partly.provider) == ("fake", "twin")
    assert len(fake.embeddings) == 2


@pytest.mark.anyio
async def test_an_embeddings_route_never_answers_with_another_models_vectors() -> None:
    # the cached vectors of another model are another space: a miss, embedded anew
    fake = FakePlugin()
    async with make(fake, g=BALANCED) as client:
        first = await client.embed("g", ["alpha"])
        assert client._router.plan("g")[0] == Target("fake", "b")
        again = await client.embed("g", ["alpha"])
    assert (first.model, again.model, again.cache_hit) == ("a", "b", False)
