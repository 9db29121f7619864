"""The pipeline against a misbehaving server: real sockets, injected faults, both backends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import relaykit
import relaykit.http
from relaykit import ProviderUnavailableError, RequestTimeoutError, StreamError
from relaykit.testing import OpenAIMock, Pause, Reply, Request, Response

KEY = "sk-faults-0123456789abcdef"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as m:
        yield m


def client(mock: OpenAIMock, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        **sections,
    }
    return relaykit.Client(config)


async def drain(c: relaykit.Client, **params: Any) -> relaykit.ChatResponse:
    async with c.stream(MODEL, "hi", **params) as s:
        async for _ in s:
            pass
    return s.response


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage"])
async def test_connection_faults_are_retried(mock: OpenAIMock, fault: str) -> None:
    mock.script.push(Reply(connection_fault=fault), Reply(text="recovered"))  # type: ignore[arg-type]
    async with client(mock) as c:
        r = await c.chat(MODEL, "hi")
    assert (r.text, r.attempts) == ("recovered", 2)


@pytest.mark.anyio
async def test_connection_fault_without_retries_is_typed(mock: OpenAIMock) -> None:
    mock.script.push(Reply(connection_fault="reset"))
    async with client(mock, retry={"attempts": 1}) as c:
        with pytest.raises(ProviderUnavailableError, match="connection failed"):
            await c.chat(MODEL, "hi")


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_errors_are_retried(mock: OpenAIMock, status: int) -> None:
    mock.script.push(Reply.failure(status), Reply(text="ok"))
    async with client(mock) as c:
        assert (await c.chat(MODEL, "hi")).attempts == 2


@pytest.mark.anyio
@pytest.mark.parametrize("status", [408, 409])
async def test_timeouts_and_conflicts_are_retried_after_their_retry_after(
    mock: OpenAIMock, status: int
) -> None:
    # As the OpenAI and Anthropic SDKs do: a 408 or a 409 is retried, after the wait
    # its Retry-After asks for (the 409 was final, the 408's wait was ignored).
    mock.script.push(
        Reply(status=status, error="try again", headers={"retry-after-ms": "800"}),
        Reply(text="ok"),
    )
    async with client(mock, retry={"attempts": 2, "initial_wait": 0, "max_retry_after": 5}) as c:
        started = anyio.current_time()
        r = await c.chat(MODEL, "hi")
        waited = anyio.current_time() - started
    assert (r.text, r.attempts) == ("ok", 2)
    assert waited >= 0.8


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["truncate", "reset", "garbage", "drop"])
async def test_broken_streams_raise_stream_error_with_partial(mock: OpenAIMock, fault: str) -> None:
    mock.script.push(Reply(text="what arrived first", stream_fault=fault))  # type: ignore[arg-type]
    async with client(mock) as c:
        with pytest.raises(StreamError) as info:
            await drain(c)
    assert info.value.partial is not None
    assert info.value.partial.text == "what arrived first"
    assert len(mock.requests) == 1, "a stream that has started is never retried"


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["error", "drop"])
async def test_streams_that_break_after_their_first_piece_open_the_circuit(
    mock: OpenAIMock, fault: str
) -> None:
    # The breaker heard a stream's success at its first piece and nothing after:
    # a deployment whose every stream broke midway never opened its circuit.
    mock.script.push(*[Reply(text="half an answer", stream_fault=fault)] * 2)  # type: ignore[arg-type]
    async with client(mock, breaker={"failures": 2, "reset_after": 60}) as c:
        for _ in range(2):
            with pytest.raises(StreamError):
                await drain(c)
        with pytest.raises(relaykit.CircuitOpenError):
            await c.chat(MODEL, "hi")
    assert len(mock.requests) == 2, "an open circuit sends nothing"


@pytest.mark.anyio
async def test_a_stream_read_to_its_end_after_a_broken_one_resets_the_count(
    mock: OpenAIMock,
) -> None:
    # Consecutive failures: a whole stream between two broken ones is a success.
    mock.script.push(
        Reply(text="half", stream_fault="drop"),
        Reply(text="whole"),
        Reply(text="half", stream_fault="drop"),
        Reply(text="served"),
    )
    async with client(mock, breaker={"failures": 2, "reset_after": 60}) as c:
        with pytest.raises(StreamError):
            await drain(c)
        assert (await drain(c)).text == "whole"
        with pytest.raises(StreamError):
            await drain(c)
        assert (await c.chat(MODEL, "hi")).text == "served"


@pytest.mark.anyio
async def test_a_stream_left_by_a_break_is_a_success_for_the_breaker(mock: OpenAIMock) -> None:
    # The service was answering: the count of consecutive failures starts again.
    mock.script.push(
        Reply(text="half", stream_fault="drop"),
        Reply(text="a long answer the caller stops reading"),
        Reply(text="half", stream_fault="drop"),
        Reply(text="served"),
    )
    async with client(mock, breaker={"failures": 2, "reset_after": 60}) as c:
        with pytest.raises(StreamError):
            await drain(c)
        async with c.stream(MODEL, "hi") as s:
            async for _ in s:
                break
        with pytest.raises(StreamError):
            await drain(c)
        assert (await c.chat(MODEL, "hi")).text == "served"


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])
@pytest.mark.parametrize("which", ["first_token", "idle", "total"])
async def test_a_slow_drip_stream_times_out_and_its_connection_closes(
    mock: OpenAIMock, transport: str, which: str
) -> None:
    # One byte every 100 ms keeps a socket read from ever timing out; each timeout
    # must still fire, and the connection close (the server's writes then fail).
    sent = 0

    async def drip(request: Request, answer: Response) -> Response:
        def body() -> Iterator[bytes | Pause]:
            nonlocal sent
            if which != "first_token":
                yield b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
            for _ in range(600):
                yield Pause(0.1)
                sent += 1
                yield b":" if which != "total" else b" "

        return Response(200, {"content-type": "text/event-stream"}, body())

    mock.rewrite = drip
    timeouts = {"first_token": 30.0, "idle": 30.0, "total": 30.0, which: 0.5}
    http = {"transport": transport}
    async with client(mock, timeouts=timeouts, retry={"attempts": 1}, http=http) as c:
        with anyio.fail_after(10), pytest.raises(RequestTimeoutError) as info:
            await drain(c)
        assert info.value.which == which
        at_error = sent
        await anyio.sleep(0.6)
    assert sent - at_error <= 2, "the server kept writing: the connection was left open"


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["auto", "httpx"])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_a_body_its_content_encoding_does_not_decode_is_typed(
    mock: OpenAIMock, transport: str, streamed: bool
) -> None:
    # A proxy that labels a plain body gzip: httpx raises DecodingError, which is
    # no httpx.TransportError, and escaped the mapping as it was (aiohttp's
    # ContentEncodingError was a ProviderUnavailableError already).
    async def mislabelled(request: Request, answer: Response) -> Response:
        kind = "text/event-stream" if streamed else "application/json"
        headers = {"content-type": kind, "content-encoding": "gzip"}
        return Response(200, headers, [b"data: not gzip at all\n\n"])

    mock.rewrite = mislabelled
    async with client(mock, retry={"attempts": 1}, http={"transport": transport}) as c:
        with pytest.raises(ProviderUnavailableError, match="connection failed"):
            await (drain(c) if streamed else c.chat(MODEL, "hi"))


@pytest.mark.anyio
async def test_slow_first_token_times_out_and_is_retried(mock: OpenAIMock) -> None:
    # The retry's first token must come within the same timeout: 0.2 s was not
    # always enough for a loaded machine to send the request and read the answer.
    mock.script.push(Reply(text="late", first_token_delay=30), Reply(text="on time"))
    async with client(mock, timeouts={"first_token": 1}) as c:
        r = await drain(c)
    assert (r.text, r.attempts) == ("on time", 2)


@pytest.mark.anyio
async def test_slow_first_token_names_the_timeout(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text="late", first_token_delay=2))
    async with client(mock, timeouts={"first_token": 0.2}, retry={"attempts": 1}) as c:
        with pytest.raises(RequestTimeoutError) as info:
            await drain(c)
    assert info.value.which == "first_token"


@pytest.mark.anyio
async def test_idle_gap_between_events_times_out(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text="a" * 64, chunk_delay=1))
    async with client(mock, timeouts={"idle": 0.2}) as c:
        with pytest.raises(RequestTimeoutError) as info:
            await drain(c)
    assert info.value.which == "idle"


@pytest.mark.anyio
async def test_latency_beyond_the_total_timeout(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text="slow", delay=2))
    async with client(mock) as c:
        with pytest.raises(RequestTimeoutError) as info:
            await c.chat(MODEL, "hi", timeout=0.2)
    assert info.value.which == "total"


@pytest.mark.anyio
async def test_connect_failure_is_typed() -> None:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": {"base_url": "http://127.0.0.1:9/v1", "api_key": KEY}},
    }
    async with relaykit.Client(config) as c:
        with pytest.raises(ProviderUnavailableError, match="could not connect"):
            await c.chat(MODEL, "hi")


@pytest.mark.anyio
async def test_idle_timeout_rides_on_the_read_timeout(mock: OpenAIMock) -> None:
    """With first_token <= idle the connection's read timeout enforces idle: no scope per event."""
    import httpx

    # A second stream for the retry: on a loaded machine the first piece can come
    # later than the first-token timeout, and a retry that found the mock's quick
    # default reply drained without any timeout. The timeouts leave the first
    # piece a second to come; the pieces after it are 5 s apart.
    mock.script.push(*[Reply(text="a" * 64, chunk_delay=5)] * 2)
    async with client(mock, timeouts={"idle": 1, "first_token": 1}) as c:
        with pytest.raises(RequestTimeoutError) as info:
            await drain(c)
    assert info.value.which == "idle"
    # httpx's under trio (or transport = "httpx"), relaykit-aiohttp's under asyncio
    assert isinstance(info.value.__cause__, httpx.ReadTimeout | relaykit.http.ReadTimeout)


@pytest.mark.anyio
async def test_fake_providers_keep_the_scoped_idle_timeout() -> None:
    from relaykit.testing import FakePlugin

    fake = FakePlugin()
    fake.script.push(Reply(text="a" * 40, chunk_delay=1))
    config = {"storage": {"backend": "none"}, "timeouts": {"idle": 0.1, "first_token": 0.1}}
    async with relaykit.Client(config, plugins=[fake]) as c:
        with pytest.raises(RequestTimeoutError) as info:
            async with c.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass
    assert info.value.which == "idle"


@pytest.mark.anyio
async def test_a_stream_that_breaks_before_any_content_is_retried(mock: OpenAIMock) -> None:
    mock.script.push(Reply(stream_fault="truncate"), Reply(text="second try"))
    async with client(mock) as c:
        r = await drain(c)
    assert (r.text, r.attempts) == ("second try", 2)


@pytest.mark.anyio
async def test_429_with_retry_after_is_waited_out_and_retried(mock: OpenAIMock) -> None:
    mock.script.push(Reply.failure(429, "slow down", retry_after=0.2), Reply(text="after the wait"))
    async with client(mock, retry={"attempts": 2, "initial_wait": 0, "max_retry_after": 5}) as c:
        started = anyio.current_time()
        r = await c.chat(MODEL, "hi")
        waited = anyio.current_time() - started
    assert (r.text, r.attempts) == ("after the wait", 2)
    assert waited >= 0.2


@pytest.mark.anyio
async def test_connect_timeout_names_connect() -> None:
    """A listener whose accept queue is full drops new SYNs: connecting times out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        held = [socket.socket() for _ in range(4)]  # fill the accept queue; nobody accepts
        for s in held:
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "timeouts": {"connect": 0.2},
            "providers": {"openai": {"base_url": f"http://127.0.0.1:{port}/v1", "api_key": KEY}},
        }
        try:
            async with relaykit.Client(config) as c:
                with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
                    await c.chat(MODEL, "hi")
        finally:
            for s in held:
                s.close()
    assert info.value.which == "connect"


@pytest.mark.anyio
async def test_a_request_the_server_stops_reading_times_out_naming_connect() -> None:
    """httpx's write timeout is [timeouts] connect (HttpOptions): it was reported as
    which="total", the total timeout far from spent. (relaykit-aiohttp's client
    raises relaykit.http.WriteTimeout for it: tests/test_transport_failures.py.)"""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        # a server that takes the connection and never reads: the upload stalls
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        port = listener.getsockname()[1]
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "timeouts": {"connect": 0.5, "total": 60},
            "validation": {"max_chars": 100_000_000},
            "http": {"transport": "httpx"},
            "providers": {"openai": {"base_url": f"http://127.0.0.1:{port}/v1", "api_key": KEY}},
        }
        async with relaykit.Client(config) as c:
            # 32 MB: more than any socket buffers between them hold
            with anyio.fail_after(50), pytest.raises(RequestTimeoutError) as info:
                await c.chat(MODEL, "x" * 32_000_000)
    assert info.value.which == "connect"
    assert "writing the request timed out" in str(info.value)
    assert info.value.retryable


@pytest.mark.parametrize(
    "timeout",
    [relaykit.http.ReadTimeout("timed out reading"), "httpx.ReadTimeout"],
    ids=["relaykit-aiohttp", "httpx"],
)
def test_a_transport_read_timeout_is_the_idle_timeout(timeout: Exception | str) -> None:
    """The one read timeout a relaykit HTTP client applies is a stream's idle timeout
    (claim_stream_read_timeout): mapped, it said which="total"."""
    import httpx

    from relaykit.transport_errors import transport_error

    exc = httpx.ReadTimeout("timed out") if timeout == "httpx.ReadTimeout" else timeout
    assert isinstance(exc, Exception)
    error = transport_error(exc, provider="openai", model="gpt-4o-mini")
    assert isinstance(error, RequestTimeoutError)
    assert (error.which, error.retryable) == ("idle", True)
    assert "raise [timeouts] idle" in str(error)


@pytest.mark.parametrize(
    "timeout",
    [relaykit.http.WriteTimeout("the server took none of the body for 10s"), "httpx.WriteTimeout"],
    ids=["relaykit-aiohttp", "httpx"],
)
def test_a_transport_write_timeout_is_the_connect_timeout(timeout: Exception | str) -> None:
    """[timeouts] connect bounds writing a request (HttpOptions): a relaykit HTTP
    client's write timeout was a plain transport timeout, mapped to which="total"."""
    import httpx

    from relaykit.transport_errors import transport_error

    exc = httpx.WriteTimeout("timed out") if timeout == "httpx.WriteTimeout" else timeout
    assert isinstance(exc, Exception)
    error = transport_error(exc, provider="openai", model="gpt-4o-mini")
    assert isinstance(error, RequestTimeoutError)
    assert (error.which, error.retryable) == ("connect", True)
    assert "writing the request timed out" in str(error)


def test_a_raw_tls_failure_is_a_transport_failure() -> None:
    """httpcore's asyncio backend lets an ssl.SSLError mid-exchange through unwrapped
    (tests/test_transport_failures.py makes one), and before 1.0.6 a handshake's too:
    mapped, not raised as is."""
    import ssl

    from relaykit.transport_errors import is_transport_error, never_sent, transport_error

    record = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed")
    error = transport_error(record, provider="openai", model="gpt-4o-mini")
    assert isinstance(error, ProviderUnavailableError)
    assert "decryption failed" in str(error)
    assert is_transport_error(record) and not never_sent(record)  # mid-exchange: maybe sent

    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "unable to get local issuer certificate"
    untrusted = transport_error(verify, provider="openai", model="gpt-4o-mini")
    assert isinstance(untrusted, relaykit.UntrustedCertificateError)
    assert "unable to get local issuer certificate" in str(untrusted)
    assert never_sent(verify)  # only a handshake verifies


@pytest.mark.anyio
async def test_503s_open_the_circuit_and_no_request_is_sent_while_open(mock: OpenAIMock) -> None:
    mock.script.push(Reply.failure(503), Reply.failure(503))
    breaker = {"failures": 2, "reset_after": 60}
    async with client(mock, retry={"attempts": 1}, breaker=breaker) as c:
        for _ in range(2):
            with pytest.raises(ProviderUnavailableError):
                await c.chat(MODEL, "hi")
        with pytest.raises(relaykit.CircuitOpenError):
            await c.chat(MODEL, "hi")
    assert len(mock.requests) == 2, "an open circuit sends nothing"


@pytest.mark.anyio
async def test_a_hedge_over_real_sockets_takes_the_faster_server(mock: OpenAIMock) -> None:
    mock.script.push(Reply(text="slow", delay=5))
    with OpenAIMock(api_key=KEY) as fast:
        config = {
            "storage": {"backend": "none"},
            "providers": {
                "openai": {"base_url": mock.base_url, "api_key": KEY},
                "backup": {"type": "openai", "base_url": fast.base_url, "api_key": KEY},
            },
            "models": {"g": {"targets": [MODEL, "backup/gpt-4o-mini"], "hedge_after": 0.1}},
        }
        async with relaykit.Client(config) as c:
            with anyio.fail_after(3):
                r = await c.chat("g", "race")
    assert (r.provider, r.text) == ("backup", "echo: race")
    assert len(mock.requests) == 1 and len(fast.requests) == 1
