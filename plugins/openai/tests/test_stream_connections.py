"""A finished stream returns its connection to the pool, whatever follows [DONE]."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest

import relaykit
from relaykit.testing import Drop, LoopbackServer, OpenAIMock, Pause, Request, Response

KEY = "sk-test-0123456789abcdef"


def _config(base_url: str) -> dict[str, object]:
    return {
        "storage": {"backend": "none"},
        "providers": {"openai": {"base_url": base_url, "api_key": KEY}},
    }


async def _stream_text(client: relaykit.Client) -> str:
    async with client.stream("openai/gpt-4o-mini", "hi") as s:
        async for _ in s:
            pass
    return s.response.text


@pytest.mark.anyio
async def test_streams_reuse_one_connection() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(_config(mock.base_url)) as client:
            texts = [await _stream_text(client) for _ in range(3)]
        assert texts == ["echo: hi"] * 3
        assert mock.server.stats.connections_opened == 1
        # The server's thread counts a stream after its last write, which the client
        # may have read already: give the count a moment rather than race it.
        with anyio.fail_after(5):
            while mock.server.stats.streams_completed < 3:  # noqa: ASYNC110 - another thread counts
                await anyio.sleep(0.01)
        assert mock.server.stats.streams_completed == 3


def _after_done(tail: list[Pause | Drop]) -> LoopbackServer:
    """A server whose stream says "ok", then [DONE], then does ``tail`` instead of ending."""
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}],
    }

    async def handler(request: Request) -> Response:
        body = [b"data: " + json.dumps(chunk).encode() + b"\n\n", b"data: [DONE]\n\n", *tail]
        return Response(200, {"content-type": "text/event-stream"}, body)

    return LoopbackServer(handler)


@pytest.mark.anyio
@pytest.mark.parametrize("tail", [[Pause(3600)], [Drop()]], ids=["stalls", "drops"])
async def test_stream_ends_at_done_whatever_follows(tail: list[Pause | Drop]) -> None:
    # A server that stalls after [DONE] stalls for an hour: the stream must end
    # after the provider's short grace (END_OF_BODY_GRACE), not the server's end.
    # The bound is a safety net far above the grace, not a timing of it.
    with _after_done(tail) as server:
        async with relaykit.Client(_config(server.url + "/v1")) as client:
            with anyio.fail_after(60):
                assert await _stream_text(client) == "ok"


class _Ended:
    """A response whose client says the whole body has arrived."""

    def __init__(self, at_eof: bool) -> None:
        self._at_eof = at_eof

    def at_eof(self) -> bool:
        return self._at_eof


@pytest.mark.anyio
@pytest.mark.parametrize("at_eof", [True, False])
async def test_after_done_a_body_known_to_have_ended_is_not_read(at_eof: bool) -> None:
    from relaykit_openai.body_end import read_to_end

    read: list[bytes] = []

    async def chunks() -> AsyncIterator[bytes]:
        read.append(b"0\r\n\r\n")
        yield b""

    await read_to_end(chunks(), _Ended(at_eof))
    assert read == ([] if at_eof else [b"0\r\n\r\n"])
