"""Client CPU per rerank call: relaykit next to raw HTTP.

Every client sends the same query and ``mock_server.RERANK_DOCUMENTS`` documents
(what a vector search hands a reranker) to ``bench/mock_server.py`` (its own
process, pinned to the other core), and gets the same answer: every document's
index and score, best first, in the shape vLLM's and Together's ``/v1/rerank``
send.

- raw httpx / raw aiohttp: one POST, ``json`` parse, the ``(index, score)``
  pairs with their texts: the floor.
- relaykit (httpx) / relaykit (aiohttp): ``Client.rerank`` with default settings
  (retries, breakers, limits off, no storage), through relaykit-openai's ``vllm``
  preset.

Rounds alternate their order; each cell reports the median over rounds of client
CPU µs per call, and the ratio to raw httpx as the median of per-round ratios.

    uv run python bench/rerank.py                 # ~30 s
    nox -s rerank

Never fails on a number. Writes JSON to bench/results/ and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import client_overhead
import httpx
from client_overhead import API_KEY, Server, machine, run_batch
from mock_server import RERANK_DOCUMENTS, RERANK_MODEL, rerank_scores

HERE = Path(__file__).resolve().parent
QUERY = "How does relaykit retry a call that failed?"
DOCUMENTS = [
    f"Passage {i}: relaykit routes, retries, limits and logs each call it makes."
    for i in range(RERANK_DOCUMENTS)
]
BODY = {"model": RERANK_MODEL, "query": QUERY, "documents": DOCUMENTS}
BASELINE = "raw httpx"
Ranking = list[tuple[int, float, str]]


def _ranking(data: dict[str, Any]) -> Ranking:
    return [(r["index"], r["relevance_score"], DOCUMENTS[r["index"]]) for r in data["results"]]


class RawHttpx:
    """One POST through httpx, the answer read by hand."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/rerank"
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> RawHttpx:
        self._http = httpx.AsyncClient(headers={"authorization": f"Bearer {API_KEY}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    async def rerank(self) -> Ranking:
        assert self._http is not None
        r = await self._http.post(self._url, json=BODY)
        r.raise_for_status()
        return _ranking(r.json())


class RawAiohttp:
    """One POST through aiohttp, the answer read by hand."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/rerank"
        self._session: Any = None

    async def __aenter__(self) -> RawAiohttp:
        import aiohttp

        self._session = aiohttp.ClientSession(headers={"authorization": f"Bearer {API_KEY}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def rerank(self) -> Ranking:
        async with self._session.post(self._url, json=BODY) as r:
            r.raise_for_status()
            return _ranking(json.loads(await r.read()))


class Relaykit(client_overhead.Relaykit):
    """``Client.rerank`` with default settings, through the ``vllm`` preset (client_overhead's
    client, storage off, the transport pinned)."""

    def __init__(self, base_url: str, transport: str = "httpx") -> None:
        super().__init__(base_url, transport, provider="vllm", model=RERANK_MODEL)

    async def rerank(self) -> Ranking:
        assert self._client is not None
        r = await self._client.rerank(self._model, QUERY, DOCUMENTS)
        return [(x.index, x.score, x.document) for x in r.results]


def clients(base_url: str) -> dict[str, Any]:
    """The clients to compare, by name (those whose packages are installed)."""
    found: dict[str, Any] = {BASELINE: RawHttpx(base_url), "relaykit (httpx)": Relaykit(base_url)}
    try:
        import aiohttp  # noqa: F401

        found["raw aiohttp"] = RawAiohttp(base_url)
        import relaykit_aiohttp  # noqa: F401

        found["relaykit (aiohttp)"] = Relaykit(base_url, "auto")  # auto: aiohttp when installed
    except ImportError:
        pass
    return found


async def measure(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    """Warm every client up, check its answer, then run alternating rounds."""
    expected = [(i, score, DOCUMENTS[i]) for i, score in rerank_scores()]
    found = clients(server.base_url)
    async with AsyncExitStack() as stack:  # exits in reverse: relaykit's task groups nest
        for client in found.values():
            await stack.enter_async_context(client)
        for name, client in found.items():
            if await client.rerank() != expected:
                raise SystemExit(f"{name} read a different ranking")
            await run_batch(client.rerank, args.warmup, args.concurrency)
        rounds: dict[str, list[float]] = {name: [] for name in found}
        order = list(found.items())
        for r in range(args.rounds):
            for name, client in order if r % 2 == 0 else order[::-1]:
                cpu, _ = await run_batch(client.rerank, args.calls, args.concurrency)
                rounds[name].append(cpu / args.calls * 1e6)
    base = rounds[BASELINE]
    return {
        name: {
            "cpu_us_per_call": statistics.median(values),
            "ratio_to_raw_httpx": statistics.median(
                v / b for v, b in zip(values, base, strict=True)
            ),
            "rounds": values,
        }
        for name, values in rounds.items()
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a markdown table."""
    lines = [
        f"{RERANK_DOCUMENTS} documents; concurrency {result['concurrency']}, "
        f"{result['calls']} calls x {result['rounds']} rounds",
        "",
        "| client | CPU µs per call | x raw httpx |",
        "|---|---:|---:|",
    ]
    for name, cell in result["clients"].items():
        lines.append(
            f"| {name} | {cell['cpu_us_per_call']:,.0f} | {cell['ratio_to_raw_httpx']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, start the server, measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--url", help="a mock_server.py already running (its /v1 URL)")
    args = parser.parse_args(argv)
    server = Server(args.url, event_writes=False, pin=True)
    try:
        cells = anyio.run(measure, args, server)
    finally:
        server.close()
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join(["bench/rerank.py", *sys.argv[1:]]),
        "calls": args.calls,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "clients": cells,
    }
    out = HERE / "results" / f"rerank-{result['when'].replace(':', '')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
