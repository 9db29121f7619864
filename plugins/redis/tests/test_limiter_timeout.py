"""``[limiter] timeout``: how long a stalled Redis may hold a limited call."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import relaykit
from relaykit import ClientClosedError, RelayError
from relaykit.protocols import LogQuery
from relaykit.testing import FakePlugin, OpenAIMock

KEY = "sk-mock-1234567890abcdef"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a stalled Redis)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.mark.anyio
async def test_a_stalled_redis_holds_a_limited_call_only_for_the_configured_timeout(
    silent_port: int,
) -> None:
    config = {
        "storage": {"backend": "none"},
        "limiter": {
            "backend": "redis",
            "url": f"redis://127.0.0.1:{silent_port}/0",
            "timeout": 0.2,
        },
        "limits": {"*": {"rpm": 10}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        started = time.monotonic()
        with anyio.fail_after(4), pytest.raises(RelayError, match="Redis"):  # 5 s by default
            await client.chat("fake/m", "hi")
        assert time.monotonic() - started < 2


def test_a_tls_url_is_a_config_error_that_names_the_fix() -> None:
    from relaykit import ConfigError
    from relaykit_redis.client import RedisClient

    with pytest.raises(ConfigError, match=r"redis:// only, not rediss://") as caught:
        RedisClient("rediss://:s3cret-pass@redis.internal:6380/0")
    assert "s3cret" not in str(caught.value) and "tunnel" in (caught.value.hint or "")


@pytest.mark.parametrize(
    "url",
    [
        "localhost",  # no scheme: the host read as a database number
        "redis://:s3cret-pass@redis.internal:6379/cache",
        "redis://:s3cret-pass@redis.internal:port/0",
        "redis://:s3cret-pass@redis.internal:99999/0",
        "redis://:s3cret-pass@[::1/0",
        "redis://:s3cret-pass@redis.internal:6379/\u00b2",  # isdigit(), but int() raises
        "redis://:s3cret-pass@redis.internal:6379/\u0663",  # isdigit(), int() reads 3
    ],
    ids=["bare-host", "db-name", "port-name", "port-range", "ipv6", "db-superscript", "db-arabic"],
)
def test_a_url_that_does_not_parse_is_a_config_error_without_its_password(url: str) -> None:
    """Each raised ValueError (from int(), from urllib's port or its IPv6 check) as
    the client was built."""
    from relaykit import ConfigError
    from relaykit_redis.client import RedisClient

    with pytest.raises(ConfigError, match="is not a Redis URL") as caught:
        RedisClient(url)
    assert "s3cret" not in str(caught.value)
    assert "redis://[user:password@]host[:port][/db]" in (caught.value.hint or "")


@pytest.fixture
def silent_redis() -> Iterator[socket.socket]:
    """A loopback listener that accepts connections and never answers (a stalled
    Redis), for a test that waits until the limiter has connected."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_call_waiting_on_a_stalled_redis_when_the_client_closes_is_told_so(
    silent_redis: socket.socket, tmp_path: Path, streamed: bool
) -> None:
    # The limiter's answer is shielded (a hold taken must be settled), so the close
    # waits its wind-down and then closes the limiter's connection under the call:
    # it got "the Redis rate limiter failed (check that Redis is running)", and its
    # record reached a call log that had closed (lost; now spilled, then replayed).
    port = silent_redis.getsockname()[1]
    spill = tmp_path / "spill.jsonl"
    errors: list[Exception] = []
    with OpenAIMock(api_key=KEY) as mock:
        config = {
            "storage": {
                "backend": "sqlite",
                "path": str(tmp_path / "log.db"),
                "spill_path": str(spill),
            },
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
            "limiter": {"backend": "redis", "url": f"redis://127.0.0.1:{port}/0", "timeout": 10},
            "limits": {"openai/*": {"rpm": 100}},
            "timeouts": {"total": 30},
        }
        held: list[socket.socket] = []
        async with anyio.create_task_group() as tg:
            client = relaykit.Client(config)
            async with client:

                async def one() -> None:
                    try:
                        if streamed:
                            async with client.stream("openai/gpt-4o-mini", "hi") as s:
                                async for _ in s:
                                    pass
                        else:
                            await client.chat("openai/gpt-4o-mini", "hi")
                    except Exception as e:
                        errors.append(e)

                tg.start_soon(one)
                with anyio.fail_after(10):  # a safety net only
                    while not held:  # the limiter has connected (and waits for a reply)
                        with contextlib.suppress(BlockingIOError):
                            held.append(silent_redis.accept()[0])
                        await anyio.sleep(0.001)
                with anyio.fail_after(5), anyio.move_on_after(0.05):  # not the 10 s timeout
                    await client.aclose()
        for conn in held:
            conn.close()
        (error,) = errors
        assert isinstance(error, ClientClosedError), repr(error)
        assert not mock.requests
        async with relaykit.Client({**config, "limiter": {}, "limits": {}}) as again:
            assert again.storage is not None
            with anyio.fail_after(10):  # it replays the spilled record as it starts
                while not (records := await again.storage.query_logs(LogQuery())):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
    assert [r.error_type for r in records] == ["ClientClosedError"]
