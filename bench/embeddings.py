"""Client CPU per embeddings call: relaykit next to raw HTTP and the openai SDK.

Every client sends the same batch (``mock_server.EMBEDDING_INPUTS`` texts) to
``bench/mock_server.py`` (its own process, pinned to the other core) and gets
the same answer: that many vectors of ``EMBEDDING_DIMENSIONS`` float32 numbers,
base64-encoded as OpenAI sends them when asked (the openai SDK and relaykit ask
by default). Each client turns them into Python floats, which is most of the
work: a batch is 153,600 numbers.

- raw httpx / raw aiohttp: one POST, ``json`` parse, ``array('f')`` decode per
  vector, ``tolist()``: the floor.
- relaykit (httpx) / relaykit (aiohttp): ``Client.embed`` with default settings
  (retries, breakers, limits off, no storage), through relaykit-openai.
- openai SDK: ``AsyncOpenAI().embeddings.create`` (it decodes base64 with numpy
  when numpy is installed).

Rounds alternate their order; each cell reports the median over rounds of client
CPU µs per call, and the ratio to raw httpx as the median of per-round ratios.

    uv run python bench/embeddings.py                 # ~1 minute
    uv run python bench/embeddings.py --rounds 3 --calls 50
    nox -s embeddings

Never fails on a number. Writes JSON to bench/results/ and prints a markdown table.
"""

from __future__ import annotations

import argparse
import base64
import json
from array import array
from collections.abc import Sequence
from typing import Any

import client_overhead
import httpx
from client_overhead import API_KEY, Server
from mock_server import EMBEDDING_DIMENSIONS, EMBEDDING_INPUTS, EMBEDDING_MODEL, embedding_vector
from one_call_rounds import alternate, parser, run

TEXTS = [
    f"Document {i}: how relaykit routes, retries and logs a call." for i in range(EMBEDDING_INPUTS)
]
BODY = {"model": EMBEDDING_MODEL, "input": TEXTS, "encoding_format": "base64"}
BASELINE = "raw httpx"


def _decode(data: dict[str, Any]) -> list[list[float]]:
    vectors = []
    for item in sorted(data["data"], key=lambda d: d["index"]):
        numbers = array("f")
        numbers.frombytes(base64.b64decode(item["embedding"]))
        vectors.append(numbers.tolist())
    return vectors


class RawHttpx:
    """One POST through httpx, the answer decoded by hand."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/embeddings"
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> RawHttpx:
        self._http = httpx.AsyncClient(headers={"authorization": f"Bearer {API_KEY}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    async def embed(self) -> Sequence[Sequence[float]]:
        assert self._http is not None
        r = await self._http.post(self._url, json=BODY)
        r.raise_for_status()
        return _decode(r.json())


class RawAiohttp:
    """One POST through aiohttp, the answer decoded by hand."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/embeddings"
        self._session: Any = None

    async def __aenter__(self) -> RawAiohttp:
        import aiohttp

        self._session = aiohttp.ClientSession(headers={"authorization": f"Bearer {API_KEY}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def embed(self) -> Sequence[Sequence[float]]:
        async with self._session.post(self._url, json=BODY) as r:
            r.raise_for_status()
            return _decode(json.loads(await r.read()))


class Relaykit(client_overhead.Relaykit):
    """``Client.embed`` with default settings, on one transport (client_overhead's
    client, storage off, the transport pinned)."""

    async def embed(self) -> Sequence[Sequence[float]]:
        assert self._client is not None
        r = await self._client.embed(f"openai/{EMBEDDING_MODEL}", TEXTS)
        return r.vectors


class OpenAISDK:
    """``AsyncOpenAI().embeddings.create``, its default base64 encoding."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._client: Any = None

    async def __aenter__(self) -> OpenAISDK:
        import openai

        self._client = openai.AsyncOpenAI(base_url=self._base_url, api_key=API_KEY, max_retries=0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def embed(self) -> Sequence[Sequence[float]]:
        r = await self._client.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS)
        return [item.embedding for item in r.data]


def clients(base_url: str) -> dict[str, Any]:
    """The clients to compare, by name (those whose packages are installed)."""
    found: dict[str, Any] = {
        BASELINE: RawHttpx(base_url),
        "relaykit (httpx)": Relaykit(base_url),
    }
    try:
        import aiohttp  # noqa: F401

        found["raw aiohttp"] = RawAiohttp(base_url)
        import relaykit_aiohttp  # noqa: F401

        found["relaykit (aiohttp)"] = Relaykit(base_url, "auto")  # auto: aiohttp when installed
    except ImportError:
        pass
    try:
        import openai  # noqa: F401

        found["openai SDK"] = OpenAISDK(base_url)
    except ImportError:
        pass
    return found


async def measure(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    """Warm every client up, check its vectors, then run alternating rounds."""
    expected = [embedding_vector(i) for i in range(EMBEDDING_INPUTS)]
    found = clients(server.base_url)
    return await alternate(
        found,
        lambda c: c.embed,
        expected,
        args,
        BASELINE,
        answer=lambda got: [list(v) for v in got],
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, start the server, measure, print and save."""
    args = parser(__doc__.split("\n")[0], calls=40, warmup=10).parse_args(argv)
    title = f"{EMBEDDING_INPUTS} texts, {EMBEDDING_DIMENSIONS} dimensions, base64"
    run("embeddings", args, measure, title, BASELINE)


if __name__ == "__main__":
    main()
