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
from collections.abc import Sequence
from typing import Any

import client_overhead
import httpx
from client_overhead import API_KEY, Server
from mock_server import RERANK_DOCUMENTS, RERANK_MODEL, rerank_scores
from one_call_rounds import alternate, parser, run

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
    """Warm every client up, check its ranking, then run alternating rounds."""
    expected = [(i, score, DOCUMENTS[i]) for i, score in rerank_scores()]
    found = clients(server.base_url)
    return await alternate(found, lambda c: c.rerank, expected, args, BASELINE)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, start the server, measure, print and save."""
    args = parser(__doc__.split("\n")[0], calls=200, warmup=20).parse_args(argv)
    run("rerank", args, measure, f"{RERANK_DOCUMENTS} documents", BASELINE)


if __name__ == "__main__":
    main()
