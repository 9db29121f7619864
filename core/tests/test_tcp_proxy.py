"""relaykit.testing.StallingProxy: a loopback TCP proxy a test stalls, cuts and resumes.

An echo server in the test's own event loop stands in for a storage server;
clients talk to it through the proxy.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import attrs
import pytest
from anyio.abc import SocketStream

from relaykit.testing import StallingProxy
from relaykit.testing.tcp_proxy import Direction, Fault

#: long enough for bytes that pass to arrive; a hold is checked over this much
QUIET = 0.3


@attrs.define
class Echo:
    """What the echo server got: every byte, and how many connections ended."""

    port: int = 0
    received: bytes = b""
    ended: int = 0

    async def serve(self, stream: SocketStream) -> None:
        try:
            async with stream:
                async for data in stream:
                    self.received += data
                    await stream.send(data)
        except (anyio.BrokenResourceError, OSError):
            pass
        finally:
            self.ended += 1


@asynccontextmanager
async def echo_server() -> AsyncIterator[Echo]:
    echo = Echo()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    echo.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo.serve)
        yield echo
        tg.cancel_scope.cancel()


async def ask(stream: SocketStream, data: bytes) -> bytes:
    """Send ``data`` and read the echo of it (fails after 5 s)."""
    await stream.send(data)
    got = b""
    with anyio.fail_after(5):
        while len(got) < len(data):
            got += await stream.receive()
    return got


async def silent(stream: SocketStream) -> bool:
    """Whether nothing arrives on ``stream`` for :data:`QUIET` seconds."""
    with anyio.move_on_after(QUIET):
        await stream.receive()
        return False
    return True


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait up to 5 s for ``condition``; fail naming ``what`` did not happen."""
    with anyio.move_on_after(5):
        while not condition():  # noqa: ASYNC110 (plain counters, no event to wait on)
            await anyio.sleep(0.01)
    assert condition(), f"not within 5 s: {what}"


@pytest.mark.anyio
async def test_a_stall_holds_every_connection_open_or_new_and_resume_delivers_in_order() -> None:
    async with echo_server() as echo:
        with StallingProxy("127.0.0.1", echo.port) as proxy:
            old = await anyio.connect_tcp("127.0.0.1", proxy.port)
            assert await ask(old, b"one") == b"one"
            proxy.stall()
            assert proxy.stalled
            await old.send(b"two")
            new = await anyio.connect_tcp("127.0.0.1", proxy.port)
            await new.send(b"three")
            await new.send(b"four")
            assert await silent(old)
            assert await silent(new)
            assert echo.received == b"one"  # nothing reached the server either
            assert proxy.open_connections == 2  # held, not closed
            proxy.resume()
            assert not proxy.stalled
            with anyio.fail_after(5):
                assert await old.receive() == b"two"
                got = b""
                while got != b"threefour":
                    got += await new.receive()
            assert await ask(old, b"five") == b"five"  # and passes again
            await old.aclose()
            await new.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reset", "seen"), [(True, anyio.BrokenResourceError), (False, anyio.EndOfStream)]
)
async def test_cut_ends_every_open_connection_and_new_ones_still_pass(
    reset: bool, seen: type[Exception]
) -> None:
    async with echo_server() as echo:
        with StallingProxy("127.0.0.1", echo.port) as proxy:
            first = await anyio.connect_tcp("127.0.0.1", proxy.port)
            second = await anyio.connect_tcp("127.0.0.1", proxy.port)
            assert await ask(first, b"a") == b"a"
            assert await ask(second, b"b") == b"b"
            assert proxy.cut(reset=reset) == 2
            for stream in (first, second):
                with anyio.fail_after(5), pytest.raises(seen):
                    await stream.receive()
                await stream.aclose()
            await until(lambda: echo.ended == 2, "the server's side closed")
            again = await anyio.connect_tcp("127.0.0.1", proxy.port)
            assert await ask(again, b"c") == b"c"
            await again.aclose()
            assert proxy.accepted == 3


@pytest.mark.anyio
async def test_a_stall_with_a_watchdog_cuts_what_it_still_holds_when_time_is_up() -> None:
    async with echo_server() as echo:
        with StallingProxy("127.0.0.1", echo.port) as proxy:
            resumed = await anyio.connect_tcp("127.0.0.1", proxy.port)
            proxy.stall(cut_after=0.2)
            await resumed.send(b"in time")
            proxy.resume()  # within the watchdog's time: it cuts nothing
            with anyio.fail_after(5):
                got = b""
                while got != b"in time":
                    got += await resumed.receive()
            await anyio.sleep(0.4)  # past the watchdog's time
            assert await ask(resumed, b"still") == b"still"
            stuck = await anyio.connect_tcp("127.0.0.1", proxy.port)
            started = anyio.current_time()
            proxy.stall(cut_after=0.2)
            await stuck.send(b"waits for ever")
            with anyio.fail_after(5), pytest.raises(anyio.BrokenResourceError):
                await stuck.receive()
            assert anyio.current_time() - started >= 0.2
            assert proxy.stalled  # still: a new connection holds too
            await stuck.aclose()
            await resumed.aclose()


@pytest.mark.anyio
async def test_faults_pick_what_happens_to_each_chunk() -> None:
    script: dict[Direction, list[Fault]] = {
        "to_server": ["close", "pass", "stall", "pass"],
        "to_client": ["reset", 0.2],
    }
    asked: list[Direction] = []

    def pick(direction: Direction) -> Fault:
        asked.append(direction)
        return script[direction].pop(0) if script[direction] else "pass"

    async with echo_server() as echo:
        with StallingProxy("127.0.0.1", echo.port, faults=pick) as proxy:
            # a close in the command's stead: it never reaches the server
            cut = await anyio.connect_tcp("127.0.0.1", proxy.port)
            await cut.send(b"lost")
            with anyio.fail_after(5), pytest.raises(anyio.EndOfStream):
                await cut.receive()
            assert echo.received == b""
            # a reset in the reply's stead: the server ran it, the answer is lost
            reset = await anyio.connect_tcp("127.0.0.1", proxy.port)
            await reset.send(b"ran")
            with anyio.fail_after(5), pytest.raises(anyio.BrokenResourceError):
                await reset.receive()
            assert echo.received == b"ran"
            # a stall holds its own connection only, and is not asked about again
            held = await anyio.connect_tcp("127.0.0.1", proxy.port)
            await held.send(b"held")
            assert await silent(held)
            await held.send(b"more")
            other = await anyio.connect_tcp("127.0.0.1", proxy.port)
            with anyio.fail_after(5):
                await other.send(b"delayed")
                started = anyio.current_time()
                assert await other.receive() == b"delayed"
                assert anyio.current_time() - started >= 0.2
            proxy.resume()
            with anyio.fail_after(5):
                got = b""
                while got != b"heldmore":
                    got += await held.receive()
            for stream in (cut, reset, held, other):
                await stream.aclose()
    # the held connection's "more" was not asked about; its echo, once resumed, was
    first = ["to_server", "to_server", "to_client", "to_server", "to_server", "to_client"]
    assert asked[:6] == first
    assert set(asked[6:]) == {"to_client"}


def test_a_faults_picker_that_raises_fails_the_test_when_the_proxy_stops() -> None:
    def broken(direction: Direction) -> Fault:
        raise ZeroDivisionError("a bug in the test's picker")

    async def main(port: int) -> None:
        client = await anyio.connect_tcp("127.0.0.1", port)
        await client.send(b"x")
        with anyio.fail_after(5), pytest.raises(anyio.BrokenResourceError):
            await client.receive()
        await client.aclose()

    # a server that never answers: the kernel completes the connection all the same
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        pytest.raises(RuntimeError, match="faults picker raised") as raised,
        StallingProxy(*server.getsockname(), faults=broken) as proxy,
    ):
        anyio.run(main, proxy.port)
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


@pytest.mark.anyio
async def test_a_held_connection_its_client_closes_is_closed_toward_the_server() -> None:
    async with echo_server() as echo:
        with StallingProxy("127.0.0.1", echo.port) as proxy:
            client = await anyio.connect_tcp("127.0.0.1", proxy.port)
            assert await ask(client, b"x") == b"x"
            proxy.stall()
            await client.send(b"never")
            await client.aclose()
            assert await proxy.wait_closed() == 0
            await until(lambda: echo.ended == 1, "the server's side closed")
            assert echo.received == b"x"


@pytest.mark.anyio
async def test_a_server_that_is_down_closes_the_clients_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # free once closed: nothing listens there
    with StallingProxy("127.0.0.1", port) as proxy:
        client = await anyio.connect_tcp("127.0.0.1", proxy.port)
        with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await client.receive()
        await client.aclose()
        assert await proxy.wait_closed() == 0


def test_a_proxy_not_started_says_so() -> None:
    proxy = StallingProxy("127.0.0.1", 1)
    with pytest.raises(RuntimeError, match="not running"):
        proxy.stall()
    with proxy:
        proxy.stall()
    with pytest.raises(RuntimeError, match="not running"):
        proxy.resume()
