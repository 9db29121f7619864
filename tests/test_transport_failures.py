"""A server that breaks the wire fails a chat and a stream typed, on both HTTP clients.

Each scenario is bytes a broken server, proxy or middlebox puts on a loopback
socket (a chunk size that is no number, a body cut mid-chunk or reset, a body
labelled gzip that is not, a head past the clients' bound, a TLS record that
fails its MAC): the caller gets :class:`relaykit.ProviderUnavailableError` (or,
once the stream had started, :class:`relaykit.StreamError` over it), never the
HTTP client's own exception. With relaykit-aiohttp installed an asyncio run goes
through its client and a trio run through httpx's; ``transport = "httpx"`` runs
httpx's under both.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

import attrs
import pytest

import relaykit
from relaykit.testing import LoopbackTLS, loopback_tls

MODEL = "openai/gpt-4o-mini"
KEY = "sk-wire-0123456789abcdef"

CHAT = (
    b'{"id":"c","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}'
)
EVENT = (
    b'data: {"id":"c","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
)


def head(streamed: bool, *lines: bytes) -> bytes:
    kind = b"text/event-stream" if streamed else b"application/json"
    return b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\n" + b"".join(lines) + b"\r\n"


def body(streamed: bool) -> bytes:
    """A whole event for a stream (the caller may see it), part of the JSON for a chat."""
    return EVENT if streamed else CHAT[:30]


def chunked(streamed: bool, rest: bytes) -> bytes:
    first = body(streamed)
    return (
        head(streamed, b"Transfer-Encoding: chunked\r\n")
        + b"%x\r\n%s\r\n"
        % (
            len(first),
            first,
        )
        + rest
    )


def cut(streamed: bool) -> bytes:
    return head(streamed, b"Content-Length: 1000\r\n") + body(streamed)


def close(conn: socket.socket) -> None:
    conn.close()


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # an RST, not a FIN


def corrupt_record(conn: socket.socket) -> None:
    # a TLS application-data record whose MAC cannot check, written beneath the TLS layer
    socket.socket.sendall(conn, b"\x17\x03\x03\x00\x20" + b"\x99" * 32)
    conn.settimeout(30)
    try:
        while conn.recv(4096):  # until the client gives up on the connection
            pass
    except OSError:
        pass
    socket.socket.close(conn)


@attrs.frozen
class Scenario:
    #: what the server answers, for a streamed request or not
    answer: Callable[[bool], bytes]
    #: what it does then with the connection
    end: Callable[[socket.socket], None] = close
    tls: bool = False
    #: whether it reads the request's body before it answers (else it answers, or
    #: ends, with the request still being written)
    reads_body: bool = True
    #: the prompt's length: a long one is still being written when the server ends
    prompt_chars: int = 2
    #: whether it stops reading once the request's head is in, and neither answers
    #: nor closes until the test ends (a server stuck mid-upload)
    stalls: bool = False


SCENARIOS = {
    "a chunk size that is no number": Scenario(lambda s: chunked(s, b"zz\r\nabc\r\n")),
    "closed mid-chunk": Scenario(lambda s: chunked(s, b"100\r\n" + CHAT[:30])),
    "closed before the Content-Length": Scenario(cut),
    "reset mid-body": Scenario(cut, reset),
    "a body labelled gzip that is not": Scenario(
        lambda s: head(s, b"Content-Encoding: gzip\r\nContent-Length: 40\r\n") + b"x" * 40
    ),
    "a gzip body cut short": Scenario(
        lambda s: (
            head(s, b"Content-Encoding: gzip\r\nContent-Length: 1000\r\n")
            + gzip.compress(EVENT * 20 if s else CHAT)[:20]
        )
    ),
    "a head over 100 KiB": Scenario(
        lambda s: head(s, b"X-Big: " + b"x" * 200_000 + b"\r\nContent-Length: 2\r\n") + b"{}"
    ),
    "closed mid-head": Scenario(lambda s: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"),
    "no HTTP at all": Scenario(lambda s: b"SSH-2.0-OpenSSH_9.6\r\n"),
    "a corrupt TLS record mid-body": Scenario(cut, corrupt_record, tls=True),
    # 16 MB: more than the socket buffers between them hold, so the write fails
    "reset while the request is written": Scenario(
        lambda s: b"", reset, reads_body=False, prompt_chars=16_000_000
    ),
}


class WireServer:
    """Answers each request on 127.0.0.1 with a scenario's bytes, in a thread of its own."""

    def __init__(self, scenario: Scenario, tls: ssl.SSLContext | None) -> None:
        self.scenario = scenario
        self.tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def __enter__(self) -> Self:
        self._start(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self._listener.close()

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._start(self._answer, conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            if self.scenario.stalls:
                self._stop.wait(120)
                conn.close()
                return
            head_part, _, rest = request.partition(b"\r\n\r\n")
            length = 0
            for line in head_part.lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while self.scenario.reads_body and len(rest) < length:
                data = conn.recv(65536)
                if not data:
                    return
                rest += data
            conn.sendall(self.scenario.answer(b'"stream":true' in rest))
            self.scenario.end(conn)
        except OSError:  # the client went first
            conn.close()


@pytest.fixture(scope="module")
def certs() -> LoopbackTLS:
    return loopback_tls()


@pytest.fixture(params=list(SCENARIOS))
def server(request: pytest.FixtureRequest, certs: LoopbackTLS) -> Iterator[WireServer]:
    scenario = SCENARIOS[request.param]
    with WireServer(scenario, certs.server_context if scenario.tls else None) as s:
        yield s


@pytest.fixture(params=["auto", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_broken_wire_fails_typed(
    server: WireServer, certs: LoopbackTLS, transport: str, streamed: bool, tmp_path: Path
) -> None:
    http: dict[str, str] = {"transport": transport}
    if server.tls is not None:
        http["ca_file"] = str(certs.write_ca(tmp_path / "ca.pem"))
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "timeouts": {"total": 30, "first_token": 30, "idle": 30},
        "validation": {"max_chars": 100_000_000},
        "http": http,
        "providers": {"openai": {"base_url": server.base_url, "api_key": KEY}},
    }
    prompt = "x" * server.scenario.prompt_chars
    async with relaykit.Client(config) as client:
        with pytest.raises(relaykit.RelayError) as caught:
            if streamed:
                async with client.stream(MODEL, prompt) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(MODEL, prompt)
    error = caught.value
    assert isinstance(error, relaykit.ProviderUnavailableError | relaykit.StreamError), repr(error)
    text = str(error)
    # the transport's failure, mapped (not a decoder's verdict on what got through)
    assert "connection failed" in text, text
    assert "RawResponseMessage" not in text  # aiohttp's head-so-far is no message
    # and says what failed: httpx's ReadError over a reset has no words of its own
    assert not text.rstrip().endswith(":") and "no reason given" not in text, text


def config_for(server: WireServer, transport: str, **timeouts: float) -> dict[str, object]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "timeouts": {"total": 60, "first_token": 60, "idle": 60, **timeouts},
        "validation": {"max_chars": 100_000_000},
        "http": {"transport": transport},
        "providers": {"openai": {"base_url": server.base_url, "api_key": KEY}},
    }


@pytest.fixture
def stalled_server() -> Iterator[WireServer]:
    with WireServer(Scenario(lambda s: b"", stalls=True, reads_body=False), None) as s:
        yield s


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_server_that_stops_reading_the_request_fails_it_with_the_write_timeout(
    stalled_server: WireServer, transport: str, streamed: bool
) -> None:
    # [timeouts] connect bounds writing the request too (HttpOptions): 16 MB is more
    # than the socket buffers between client and server hold, so the write stalls
    # there, and only the write timeout, long before the others, can end the call
    config = config_for(stalled_server, transport, connect=2)
    prompt = "x" * 16_000_000
    async with relaykit.Client(config) as client:
        with pytest.raises(relaykit.RequestTimeoutError) as caught:
            if streamed:
                async with client.stream(MODEL, prompt) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(MODEL, prompt)
    error = caught.value
    assert error.which == "connect", repr(error)
    assert "writing the request timed out" in str(error), str(error)


@pytest.fixture
def reset_after_an_event() -> Iterator[WireServer]:
    with WireServer(Scenario(cut, reset), None) as s:
        yield s


@pytest.mark.anyio
async def test_a_stream_reset_mid_body_delivers_what_came_before_it_then_fails(
    reset_after_an_event: WireServer, transport: str
) -> None:
    # the server sends the head and a whole event, then resets the connection: the
    # event is the caller's, delivered before the stream fails with the reset
    texts: list[str] = []
    async with relaykit.Client(config_for(reset_after_an_event, transport)) as client:
        with pytest.raises(relaykit.StreamError) as caught:
            async with client.stream(MODEL, "hi") as s:
                async for event in s:
                    if isinstance(event, relaykit.TextDelta):
                        texts.append(event.text)
    assert texts == ["hi"]
    text = str(caught.value)
    assert "connection failed: ReadError" in text, text
