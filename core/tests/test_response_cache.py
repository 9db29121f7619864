"""The exact response cache: keys, determinism, LRU with TTL, stream replay."""

from __future__ import annotations

import pytest

from relaykit import ChatResponse, ToolCall, Usage
from relaykit.assembly import ResponseAssembler
from relaykit.messages import coerce_messages
from relaykit.request import build_request
from relaykit.response_cache import MemoryCache, cache_key, is_deterministic, replay


def req(text: str = "hi", **params: object):  # type: ignore[no-untyped-def]
    return build_request("m", coerce_messages(text), params)


def test_key_ignores_metadata_and_timeout_but_not_parameters() -> None:
    base = cache_key("p", req(temperature=0))
    assert cache_key("p", req(temperature=0, metadata={"user": "u"}, timeout=5)) == base
    assert cache_key("p", req(temperature=0.5)) != base
    assert cache_key("q", req(temperature=0)) != base
    assert cache_key("p", req("other", temperature=0)) != base
    assert len(base) == 64


def test_only_deterministic_requests_by_default() -> None:
    assert is_deterministic(req(temperature=0))
    assert is_deterministic(req(seed=3))
    assert not is_deterministic(req())
    assert not is_deterministic(req(temperature=0.7))


@pytest.mark.anyio
async def test_lru_and_ttl() -> None:
    now = [0.0]
    cache = MemoryCache(max_entries=2, clock=lambda: now[0])
    a, b, c = (ChatResponse(text=t) for t in "abc")
    await cache.put("a", a, ttl=10)
    await cache.put("b", b, ttl=10)
    assert await cache.get("a") == a  # a is now the most recent
    await cache.put("c", c, ttl=10)  # evicts b
    assert await cache.get("b") is None
    assert (await cache.get("a"), await cache.get("c")) == (a, c)
    now[0] = 11
    assert await cache.get("a") is None
    assert len(cache) == 1


def test_replay_assembles_into_the_same_response() -> None:
    original = ChatResponse(
        text="x" * 150,
        reasoning="thought",
        reasoning_signature="sig",
        tool_calls=(ToolCall("c1", "f", {"a": [1, 2]}),),
        finish_reason="tool_calls",
        usage=Usage(3, 4, 1, 2),
        model="m",
        id="r1",
    )
    assembler = ResponseAssembler()
    for event in replay(original):
        assembler.add(event)
    assert assembler.response(model="m") == original
