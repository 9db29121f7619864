"""The stop sequence an answer stopped on (``ChatResponse.stop_sequence``, the stream's
``Finish.stop_sequence``): through a stream's assembled response, JSON, the
response cache (from memory and from a SQLite file), call records (redacted, as
the prompt is), spill files and ``relaykit logs``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

import relaykit
from relaykit import ChatResponse
from relaykit.events import Finish
from relaykit.serialization import from_json, structure_event, to_json, unstructure_event
from relaykit.testing import FakePlugin, MemoryStorage, RecordingExporter, Reply

STOPPED = Reply(text="One, two", stop_sequence=", three")
SECRET = "sk-proj-" + "St0pSeq" * 5
#: a stop sequence holding a key: user text, which a record keeps redacted
SECRET_STOP = f"\n\nUser {SECRET}:"
STOPPED_ON_SECRET = Reply(text="One, two", stop_sequence=SECRET_STOP)


class _CountsOnly(RecordingExporter):
    """Reads no content (a metrics exporter): its records come without any."""

    needs_content: ClassVar[bool] = False


def _client(fake: FakePlugin, *plugins: object, **config: Any) -> relaykit.Client:
    base: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    return relaykit.Client({**base, **config}, plugins=[fake, *plugins])


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


@pytest.mark.anyio
async def test_a_record_keeps_it_redacted_streamed_and_not() -> None:
    fake, reader, counter = FakePlugin(), RecordingExporter(), _CountsOnly()
    fake.script.push(STOPPED_ON_SECRET, STOPPED_ON_SECRET, STOPPED)
    async with _client(fake, reader) as client:
        answered = await client.chat("fake/m", "Count", stop=[SECRET_STOP])
        async with client.stream("fake/m", "Count", stop=[SECRET_STOP]) as s:
            async for _ in s:
                pass
        await client.chat("fake/m", "Count", stop=[", three"])
    # the caller's answer is whole; what is recorded of it is redacted, as the prompt is
    assert answered.stop_sequence == s.response.stop_sequence == SECRET_STOP
    chat, streamed, unredacted = reader.records
    for record in (chat, streamed):
        assert record.stop_sequence == "\n\nUser [REDACTED]:"
        assert record.params["stop"] == ["\n\nUser [REDACTED]:"]  # the request's too
        assert SECRET not in repr(record)
    assert (unredacted.stop_sequence, unredacted.params["stop"]) == (", three", [", three"])
    # where nothing reads the content, what the sequence was is not kept
    fake.script.push(STOPPED)
    async with _client(fake, counter) as client:
        await client.chat("fake/m", "Count", stop=[", three"])
    (record,) = counter.records
    assert (record.finish_reason, record.stop_sequence) == ("stop", None)


@pytest.mark.anyio
async def test_a_batch_items_record_keeps_it_redacted() -> None:
    fake, storage = FakePlugin(), MemoryStorage()
    fake.script.push(STOPPED_ON_SECRET)
    async with _client(fake, storage.plugin("mem"), storage={"backend": "mem"}) as client:
        item = relaykit.BatchItem("a", "Count", {"stop": [SECRET_STOP]})
        batch = await client.submit_batch("fake/m", [item])
        await client.batch(batch.id)  # the fake runs a batch when it is looked at
        (result,) = [r async for r in client.batch_results(batch.id)]
    assert result.response is not None and result.response.stop_sequence == SECRET_STOP
    (record,) = storage.records.values()
    assert (record.operation, record.stop_sequence) == ("batch", "\n\nUser [REDACTED]:")
    assert SECRET not in repr(record)


def test_a_spilled_record_keeps_it_and_an_older_line_reads_none(tmp_path: Path) -> None:
    from relaykit.record_spill import read_spilled, spill
    from relaykit.testing.storage_contract import make_record

    path = tmp_path / "spill.jsonl"
    stopped = make_record(0, stop_sequence="\n\nHuman:")
    spill(path, [stopped], "storage unavailable")
    older = make_record(1)
    line = json.loads(path.read_text())
    line["record"] = {k: v for k, v in line["record"].items() if k != "stop_sequence"}
    line["record"]["id"] = older.id
    line["record"]["started_at"] = older.started_at  # a line spilled before the field existed
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")
    first, second = read_spilled(path)
    assert first == stopped and first.stop_sequence == "\n\nHuman:"
    assert second.id == older.id and second.stop_sequence is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_relaykit_logs_shows_it_from_a_sqlite_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    from relaykit.cli import main

    config = tmp_path / "relaykit.toml"
    db = tmp_path / "logs.db"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{db.as_posix()}"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    fake = FakePlugin()
    fake.script.push(STOPPED, STOPPED, Reply(text="Done."))
    prompt = ["--backend", backend, "prompt", "-m", "fake/m", "-o", 'stop=[", three"]']
    assert main([*prompt, "Count"], plugins=[fake]) == 0  # streamed
    assert main([*prompt, "--no-stream", "Count"], plugins=[fake]) == 0
    assert main([*prompt, "Say done"], plugins=[fake]) == 0  # met none
    capsys.readouterr()
    assert main(["--backend", backend, "logs", "--json"], plugins=[fake]) == 0
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["finish_reason"], r["stop_sequence"]) for r in logged] == [
        ("stop", None),
        ("stop", ", three"),
        ("stop", ", three"),
    ]
    assert [r["streamed"] for r in logged] == [True, False, True]
    assert main(["--backend", backend, "logs", "--full"], plugins=[fake]) == 0
    full = capsys.readouterr().out.splitlines()
    # quoted: a sequence is often whitespace ("\n\nHuman:")
    assert full.count('  stop sequence met: ", three"') == 2


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_relaykit_batch_results_json_names_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    from relaykit.cli import main

    config = tmp_path / "relaykit.toml"
    config.write_text('[storage]\nbackend = "none"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    requests = tmp_path / "requests.jsonl"
    lines = [{"custom_id": c, "prompt": "Count", "stop": [", three"]} for c in ("q1", "q2")]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    fake = FakePlugin()
    fake.script.push(STOPPED, Reply(text="Done."))
    cli = ["--backend", backend, "batch"]
    assert main([*cli, "submit", "-m", "fake/m", str(requests)], plugins=[fake]) == 0
    batch_id = capsys.readouterr().out.strip()
    assert main([*cli, "status", batch_id], plugins=[fake]) == 0  # the fake runs it now
    capsys.readouterr()
    assert main([*cli, "results", batch_id, "--json"], plugins=[fake]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["custom_id"], r["finish_reason"], r["stop_sequence"]) for r in rows] == [
        ("q1", "stop", ", three"),
        ("q2", "stop", None),
    ]
