"""``[limiter] timeout``: how long a stalled Redis may hold a limited call."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import anyio
import pytest

import relaykit
from relaykit import RelayError
from relaykit.testing import FakePlugin


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
    ],
    ids=["bare-host", "db-name", "port-name", "port-range", "ipv6"],
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
