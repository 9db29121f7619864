"""Client CPU per transcription: relaykit next to raw HTTP.

Every client sends the same WAV (``SECONDS`` seconds of 16 kHz mono 16-bit audio,
~0.9 MB, what a short voice note weighs) as a multipart form to
``bench/mock_server.py`` (its own process, pinned to the other core), and gets
the same answer: OpenAI's ``json`` transcript with token usage.

- raw httpx / raw aiohttp: one POST of the form each library builds
  (``files=`` / ``FormData``), ``json`` parse, the text: the floor.
- relaykit (httpx) / relaykit (aiohttp): ``Client.transcribe`` with default
  settings (retries, breakers, limits off, no storage), through relaykit-openai.

Rounds alternate their order; each cell reports the median over rounds of client
CPU µs per call, and the ratio to raw httpx as the median of per-round ratios.

    uv run python bench/transcribe.py                 # ~30 s
    nox -s transcribe

Never fails on a number. Writes JSON to bench/results/ and prints a markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import wave
from collections.abc import Sequence
from typing import Any

import client_overhead
import httpx
from client_overhead import API_KEY, Server
from mock_server import TRANSCRIPT, TRANSCRIPTION_MODEL
from one_call_rounds import alternate, parser, run

SECONDS = 30
BASELINE = "raw httpx"


def _wav(seconds: int) -> bytes:
    """A WAV of ``seconds`` of a quiet sawtooth: real audio bytes, every byte distinct
    enough that nothing compresses or deduplicates them on the way."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        frames = bytes((i * 7) & 0xFF for i in range(2 * 16_000))
        w.writeframes(frames * seconds)
    return out.getvalue()


AUDIO = _wav(SECONDS)
FIELDS = {"model": TRANSCRIPTION_MODEL, "response_format": "json"}


class RawHttpx:
    """One multipart POST through httpx, the answer read by hand."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/audio/transcriptions"
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> RawHttpx:
        self._http = httpx.AsyncClient(headers={"authorization": f"Bearer {API_KEY}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    async def transcribe(self) -> str:
        assert self._http is not None
        files = {"file": ("memo.wav", AUDIO, "audio/wav")}
        r = await self._http.post(self._url, data=FIELDS, files=files)
        r.raise_for_status()
        return str(r.json()["text"])


class RawAiohttp:
    """One multipart POST through aiohttp, the answer read by hand."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/audio/transcriptions"
        self._session: Any = None

    async def __aenter__(self) -> RawAiohttp:
        import aiohttp

        self._session = aiohttp.ClientSession(headers={"authorization": f"Bearer {API_KEY}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def transcribe(self) -> str:
        import aiohttp

        form = aiohttp.FormData()
        for name, value in FIELDS.items():
            form.add_field(name, value)
        form.add_field("file", AUDIO, filename="memo.wav", content_type="audio/wav")
        async with self._session.post(self._url, data=form) as r:
            r.raise_for_status()
            return str(json.loads(await r.read())["text"])


class Relaykit(client_overhead.Relaykit):
    """``Client.transcribe`` with default settings (client_overhead's client, storage
    off, the transport pinned)."""

    def __init__(self, base_url: str, transport: str = "httpx") -> None:
        super().__init__(base_url, transport, model=TRANSCRIPTION_MODEL)

    async def transcribe(self) -> str:
        assert self._client is not None
        r = await self._client.transcribe(self._model, AUDIO)
        return str(r.text)


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
    """Warm every client up, check its transcript, then run alternating rounds."""
    found = clients(server.base_url)
    return await alternate(found, lambda c: c.transcribe, TRANSCRIPT, args, BASELINE)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, start the server, measure, print and save."""
    args = parser(__doc__.split("\n")[0], calls=200, warmup=20).parse_args(argv)
    run("transcribe", args, measure, f"a {SECONDS} s WAV ({len(AUDIO) // 1000} kB)", BASELINE)


if __name__ == "__main__":
    main()
