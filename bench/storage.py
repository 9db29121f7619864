"""Storage benchmarks: records/s through the call-log queue, enqueue latency, cached models().

    uv run python bench/storage.py                      # SQLite and models(), asyncio
    uv run python bench/storage.py --backend trio
    uv run python bench/storage.py --postgres "host=127.0.0.1 user=postgres dbname=test"
    uv run python bench/storage.py --chats 10 --turns 60   # chats resending their history

Targets (docs/benchmarks-storage.md): SQLite >= 20,000 records/s through the
queue, enqueue p99 <= 0.2 ms, models() from the storage cache <= 1 ms,
PostgreSQL >= 5,000 records/s. Each figure is the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import attrs

import relaykit
from relaykit.call_log import CallLog
from relaykit.config import StorageConfig
from relaykit.model_catalog import ModelCatalog
from relaykit.protocols import CallRecord, LogQuery, Storage
from relaykit.response import Usage
from relaykit.testing import FakePlugin

PROMPT = (
    "Summarise the following support ticket in two sentences and suggest a priority. "
    "Customer reports that exports to CSV time out for workspaces with more than "
    "ten thousand rows since the last release."
)
ANSWER = (
    "Exports to CSV time out for large workspaces (over 10k rows) since the latest "
    "release. Priority: high, as it blocks a core workflow for big customers."
)


def record(n: int) -> CallRecord:
    """A realistic record: system + user message, a few hundred characters of answer."""
    now = time.time()
    return CallRecord(
        id=uuid.uuid4().hex,
        started_at=now,
        finished_at=now + 0.4,
        operation="chat",
        provider="openai",
        model_requested="openai/gpt-4o-mini",
        model="gpt-4o-mini",
        model_served="gpt-4o-mini-2024-07-18",
        route=("openai/gpt-4o-mini",),
        streamed=n % 2 == 0,
        messages=(
            relaykit.Message.system("You are a support triage assistant."),
            relaykit.Message.user(f"{PROMPT} #{n}"),
        ),
        params={"max_tokens": 200, "temperature": 0.2},
        text=ANSWER,
        usage=Usage(61, 38),
        cost=Decimal("0.00003195"),
        latency=0.4,
        time_to_first_token=0.12,
        finish_reason="stop",
        correlation_id=f"req-{n}",
        response_id=f"chatcmpl-{n}",
    )


def prose(rng: random.Random, size: int) -> str:
    """About ``size`` characters of made-up words: text that compresses like prose,
    not like a repeated sentence (PostgreSQL compresses long values)."""
    words: list[str] = []
    length = 0
    while length < size:
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def chat_turns(chats: int, turns: int) -> list[CallRecord]:
    """``chats`` chats of ``turns`` calls each, the chats taking turns as on a server.

    Each call resends its chat's history, as chat applications do: a ~1.2 KB
    system prompt (one for every chat), ~0.6 KB questions and ~1 KB answers.
    """
    rng = random.Random(11)
    system = relaykit.Message.system(prose(rng, 1200))
    histories = [[system] for _ in range(chats)]
    out = []
    for turn in range(turns):
        for c, history in enumerate(histories):
            history.append(relaykit.Message.user(prose(rng, 600)))
            out.append(attrs.evolve(record(turn), messages=tuple(history), conversation_id=str(c)))
            history.append(relaykit.Message.assistant(prose(rng, 1000)))
    return out


def directory_size(path: str) -> int:
    """Bytes in the files of ``path`` (the database, and its -wal and -shm if any)."""
    return sum(f.stat().st_size for f in Path(path).iterdir())


def unique_text(records: list[CallRecord]) -> int:
    """Characters of distinct message text in ``records``."""
    return sum(len(t) for t in {m.text for r in records for m in r.messages})


async def bench_chats(chats: int, turns: int, repeat: int, dsn: str | None) -> None:
    from relaykit_sqlite import SQLiteStorage

    records = chat_turns(chats, turns)
    print(
        f"chats      {chats} chats x {turns} turns ({len(records):,} records,"
        f" {unique_text(records) / 1e6:.2f} MB of distinct message text)"
    )
    rates, per_cpu, sizes = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            storage = SQLiteStorage(Path(tmp) / "logs.db")
            await storage.write_batch([record(-1)])
            rate, _, cpu_rate = await through_queue(storage, records)
            await storage.aclose()  # checkpoints: the -wal file is folded in
            sizes.append(directory_size(tmp))
            rates.append(rate)
            per_cpu.append(cpu_rate)
    print(
        f"sqlite     {statistics.median(rates):,.0f} records/s,"
        f" {1e6 / statistics.median(per_cpu):,.0f} µs CPU a record,"
        f" database {statistics.median(sizes) / 1e6:.1f} MB"
    )
    if dsn:
        import psycopg

        from relaykit_postgres import PostgresStorage

        schema = f"relaykit_bench_{uuid.uuid4().hex[:8]}"
        try:
            postgres = PostgresStorage(dsn, schema=schema)
            await postgres.write_batch([record(-1)])
            rate, _, cpu_rate = await through_queue(postgres, records)
            await postgres.aclose()
            with psycopg.connect(dsn, autocommit=True) as conn:
                [(size,)] = conn.execute(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind = 'r'",
                    (schema,),
                ).fetchall()
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        print(
            f"postgres   {rate:,.0f} records/s, {1e6 / cpu_rate:,.0f} µs CPU a record"
            f" (this process), tables {int(size) / 1e6:.1f} MB"
        )


BATCH = StorageConfig().batch_size  # the default [storage] batch_size; --batch sets it


async def through_queue(
    storage: Storage, records: list[CallRecord]
) -> tuple[float, list[float], float]:
    """Push ``records`` through a CallLog into ``storage``.

    Returns records/s (until every record is committed), each put's latency (s),
    and records per CPU-second of this process (all threads): a figure that
    other processes competing for the CPU disturb far less than wall time.
    """
    count = len(records)
    latencies: list[float] = []
    log = CallLog(storage, max_batch=BATCH)
    clock = time.perf_counter
    async with anyio.create_task_group() as tg:
        log.start(tg)
        cpu = time.process_time()
        start = clock()
        for r in records:
            t = clock()
            await log.put(r)
            latencies.append(clock() - t)
        await log.aclose()  # drains: returns once everything is committed
        elapsed = clock() - start
        cpu = time.process_time() - cpu
    return count / elapsed, latencies, count / cpu


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_sqlite(count: int, repeat: int) -> None:
    from relaykit_sqlite import SQLiteStorage

    rates, p50s, p99s, per_cpu = [], [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            storage = SQLiteStorage(Path(tmp) / "logs.db")
            await storage.write_batch([record(-1)])  # open and migrate outside the timing
            rate, lat, cpu_rate = await through_queue(storage, [record(n) for n in range(count)])
            await storage.aclose()
            rates.append(rate)
            per_cpu.append(cpu_rate)
            p50s.append(percentile(lat, 0.50))
            p99s.append(percentile(lat, 0.99))
    print(
        f"sqlite     records/s through the queue: {statistics.median(rates):>10,.0f}  "
        f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); "
        f"records per CPU-second: {statistics.median(per_cpu):,.0f}"
    )
    print(
        f"sqlite     enqueue latency p50: {statistics.median(p50s) * 1e3:.4f} ms, "
        f"p99: {statistics.median(p99s) * 1e3:.4f} ms"
    )


async def bench_postgres(dsn: str, count: int, repeat: int, driver: str) -> None:
    import psycopg

    from relaykit_postgres import PostgresStorage

    schema = f"relaykit_bench_{uuid.uuid4().hex[:8]}"
    rates = []
    try:
        for _ in range(repeat):
            storage = PostgresStorage(dsn, schema=schema, driver=driver)  # type: ignore[arg-type]
            await storage.write_batch([record(-1)])
            rate, _, _ = await through_queue(storage, [record(n) for n in range(count)])
            await storage.aclose()
            rates.append(rate)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(
        f"postgres   records/s through the queue ({driver} driver): "
        f"{statistics.median(rates):>10,.0f}  (runs: {', '.join(f'{r:,.0f}' for r in rates)})"
    )


async def bench_models(repeat: int) -> None:
    from relaykit_sqlite import SQLiteStorage

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "logs.db"
        config = {"storage": {"path": str(path)}, "providers": {"fake": {}}}
        async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
            await client.models()  # fills both caches
            storage = client.storage
            assert isinstance(storage, SQLiteStorage)
            registry = client._registry
            clock, cpu_clock = time.perf_counter, time.thread_time
            memory, new_client, new_process, opening = [], [], [], []
            # CPU time of the calling thread: these two paths never leave it,
            # so this is their own cost, which preemption by other processes
            # on a busy machine does not inflate (wall time, above, does).
            memory_cpu, new_client_cpu = [], []
            for _ in range(repeat):
                c, t = cpu_clock(), clock()
                await client.models()
                memory.append(clock() - t)
                memory_cpu.append(cpu_clock() - c)
                # A new client in this process: nothing in its memory, the
                # listing in the storage object's.
                fresh = ModelCatalog(registry, ttl=60, storage=storage)
                c, t = cpu_clock(), clock()
                await fresh.models()
                new_client.append(clock() - t)
                new_client_cpu.append(cpu_clock() - c)
            for _ in range(repeat // 10):
                # A new process: a new storage object on the file. Opening it
                # (a worker-thread hop that a client's start or first log
                # write usually pays) also reads the stored listings.
                other = SQLiteStorage(path)
                t = clock()
                await other.vault_items()  # opens (and checks the migrations of) the file
                opening.append(clock() - t)
                fresh = ModelCatalog(registry, ttl=60, storage=other)
                t = clock()
                await fresh.models()
                new_process.append(clock() - t)
                await other.aclose()

    def ms(values: list[float]) -> str:
        p50, p99 = percentile(values, 0.5) * 1e3, percentile(values, 0.99) * 1e3
        return f"p50 {p50:.3f} ms, p99 {p99:.3f} ms"

    print(f"models()   from memory: {ms(memory)}; CPU {ms(memory_cpu)}")
    print(f"models()   new client, same storage: {ms(new_client)}; CPU {ms(new_client_cpu)}")
    print(f"models()   new process, storage open: {ms(new_process)}")
    print(f"           (opening the SQLite file, once per process: {ms(opening)})")


async def bench_totals(count: int, dsn: str | None) -> None:
    """Reading the log back: totals, per caller, and one caller's calls (metadata in JSON)."""
    from relaykit_sqlite import SQLiteStorage

    def caller(n: int) -> CallRecord:
        params = {"max_tokens": 200, "metadata": {"gateway_key": f"key{n % 20}", "user": f"u{n}"}}
        return attrs.evolve(record(n), params=params, started_at=time.time() - n)

    queries = [
        ("usage_totals", LogQuery(), True),
        ("usage_totals group_by=gateway_key", LogQuery(group_by="gateway_key"), True),
        (
            "usage_totals metadata gateway_key=key3",
            LogQuery(metadata=(("gateway_key", "key3"),)),
            True,
        ),
        (
            "query_logs metadata gateway_key=key3, 20 newest",
            LogQuery(metadata=(("gateway_key", "key3"),), limit=20),
            False,
        ),
    ]

    async def run(name: str, storage: Any) -> None:
        batch = [caller(n) for n in range(count)]
        for i in range(0, count, 5000):
            await storage.write_batch(batch[i : i + 5000])
        for label, query, totals in queries:
            times = []
            for _ in range(3):
                began = time.perf_counter()
                await (storage.usage_totals(query) if totals else storage.query_logs(query))
                times.append(time.perf_counter() - began)
            print(f"{name:<10} {label}: {min(times) * 1e3:,.0f} ms ({count:,} calls)")
        await storage.aclose()

    with tempfile.TemporaryDirectory() as tmp:
        await run("sqlite", SQLiteStorage(Path(tmp) / "logs.db"))
    if dsn:
        import psycopg

        from relaykit_postgres import PostgresStorage

        schema = f"relaykit_bench_{uuid.uuid4().hex[:8]}"
        try:
            await run("postgres", PostgresStorage(dsn, schema=schema))
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def main(args: argparse.Namespace) -> None:
    print(
        f"backend {args.backend}, python {sys.version.split()[0]}, {args.count:,} records per run,"
        f" batch_size {BATCH}, load average {os.getloadavg()[0]:.2f}"
    )
    if args.chats:
        await bench_chats(args.chats, args.turns, args.repeat, args.postgres)
        return
    if args.totals:
        await bench_totals(args.count, args.postgres)
        return
    await bench_sqlite(args.count, args.repeat)
    await bench_models(1000)
    if args.postgres:
        for driver in ("thread", "async") if args.backend == "asyncio" else ("thread",):
            await bench_postgres(args.postgres, args.count, args.repeat, driver)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="DSN", help="also benchmark PostgreSQL")
    parser.add_argument("--batch", type=int, default=BATCH, help="[storage] batch_size")
    parser.add_argument(
        "--chats", type=int, default=0, help="instead: this many chats resending their history"
    )
    parser.add_argument("--turns", type=int, default=60, help="calls per chat, with --chats")
    parser.add_argument(
        "--totals", action="store_true", help="instead: read totals back, per caller too"
    )
    args = parser.parse_args()
    BATCH = args.batch
    anyio.run(main, args, backend=args.backend)
