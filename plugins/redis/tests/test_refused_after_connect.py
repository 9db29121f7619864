"""A Redis that accepts the connection, then refuses it (a password it has none
for, a database past its count): each call is a ``RelayError`` naming the fix and
not the password, and every connection made for it is closed."""

from __future__ import annotations

import gc
import warnings

import pytest

import relaykit
from relaykit import RelayError
from relaykit.testing import FakePlugin

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("redis://:s3cret-pass@127.0.0.1:6379/0", "without any password configured"),
        ("redis://127.0.0.1:6379/99999", "DB index is out of range"),
    ],
    ids=["password", "database"],
)
async def test_a_redis_refusing_after_connect_leaves_no_socket_open(url: str, said: str) -> None:
    config = {
        "storage": {"backend": "none"},
        "limiter": {"backend": "redis", "url": url},
        "limits": {"*": {"rpm": 10}},
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
            for _ in range(2):  # the second call connects anew, and is refused too
                with pytest.raises(RelayError, match=said) as refused:
                    await client.chat("fake/m", "hi")
                assert "s3cret" not in str(refused.value)
                assert "[limiter] url" in (refused.value.hint or "")
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
