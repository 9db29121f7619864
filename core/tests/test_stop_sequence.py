"""The stop sequence an answer stopped on (``ChatResponse.stop_sequence``, the stream's
``Finish.stop_sequence``): through a stream's assembled response, JSON, and the
response cache, from memory and from a SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import ChatResponse
from relaykit.events import Finish
from relaykit.serialization import from_json, structure_event, to_json, unstructure_event
from relaykit.testing import FakePlugin, Reply

STOPPED = Reply(text="One, two", stop_sequence=", three")


def _client(fake: FakePlugin, **config: Any) -> relaykit.Client:
    base: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    return relaykit.Client({**base, **config}, plugins=[fake])


async def _streamed(client: relaykit.Client) -> tuple[list[Finish], ChatResponse]:
    async with client.stream("fake/m", "Count", stop=[", three"], temperature=0) as s:
        finishes = [e async for e in s if isinstance(e, Finish)]
    return finishes, s.response


def test_a_response_without_one_has_none_and_json_from_before_reads_so() -> None:
    assert ChatResponse().stop_sequence is None
    assert Finish("stop").stop_sequence is None
    assert from_json('{"text": "t"}', ChatResponse).stop_sequence is None
    finish = Finish("stop", "stop_sequence", stop_sequence="END")
    assert structure_event(unstructure_event(finish)) == finish
    assert structure_event({"type": "Finish", "reason": "stop"}) == Finish("stop")
    response = ChatResponse(text="t", stop_sequence="END")
    assert from_json(to_json(response), ChatResponse) == response


@pytest.mark.anyio
async def test_a_streamed_answer_says_it_on_its_finish_and_its_response() -> None:
    fake = FakePlugin()
    fake.script.push(STOPPED, STOPPED)
    async with _client(fake) as client:
        r = await client.chat("fake/m", "Count", stop=[", three"])
        finishes, s = await _streamed(client)
    assert (r.finish_reason, r.stop_sequence) == ("stop", ", three")
    assert [f.stop_sequence for f in finishes] == [", three"]
    assert (s.text, s.finish_reason, s.stop_sequence) == ("One, two", "stop", ", three")


@pytest.mark.anyio
async def test_a_cached_answer_keeps_it_from_memory() -> None:
    fake = FakePlugin()
    fake.script.push(STOPPED)
    async with _client(fake, cache={"enabled": True}) as client:
        first = await client.chat("fake/m", "Count", stop=[", three"], temperature=0)
        hit = await client.chat("fake/m", "Count", stop=[", three"], temperature=0)
        finishes, replayed = await _streamed(client)
    assert first.stop_sequence == ", three"
    assert (hit.cache_hit, hit.stop_sequence) == (True, ", three")
    assert [f.stop_sequence for f in finishes] == [", three"]
    assert (replayed.cache_hit, replayed.stop_sequence) == (True, ", three")
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_a_cached_answer_keeps_it_from_a_sqlite_file(tmp_path: Path) -> None:
    fake = FakePlugin()
    fake.script.push(STOPPED)
    storage = {"backend": "sqlite", "path": str(tmp_path / "relaykit.db")}
    async with _client(fake, storage=storage, cache={"enabled": True}) as client:
        await client.chat("fake/m", "Count", stop=[", three"], temperature=0)
    # a fresh client each: from the file, not memory
    async with _client(fake, storage=storage, cache={"enabled": True}) as client:
        hit = await client.chat("fake/m", "Count", stop=[", three"], temperature=0)
    async with _client(fake, storage=storage, cache={"enabled": True}) as client:
        _, replayed = await _streamed(client)
    assert (hit.cache_hit, hit.stop_sequence) == (True, ", three")
    assert (replayed.cache_hit, replayed.stop_sequence) == (True, ", three")
    assert len(fake.calls) == 1
