"""A shared limiter that fails: its failures never cost a caller an answer, never
hide a call's own error, and never replace a caller's cancellation."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import relaykit
from relaykit import ConfigError, ProviderUnavailableError, RelayError
from relaykit.config import LimitConfig, load_config
from relaykit.protocols import Reservation
from relaykit.testing import FakePlugin, LimiterPlugin, MemoryStorage, Reply

SECRET = "redis://:hunter2-very-secret@redis.internal:6379/0"


class BrokenServerLimiter:
    """A limiter whose server admits calls, then goes away before they settle."""

    def __init__(self, *, acquire_delay: float = 0.0, acquire_fails: bool = False) -> None:
        self.acquire_delay = acquire_delay
        self.acquire_fails = acquire_fails
        self.settles = 0

    async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
        await anyio.sleep(self.acquire_delay)
        if self.acquire_fails:
            raise RelayError(f"the limiter at {SECRET} did not answer")
        return Reservation(key, tokens)

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        await self._lost()

    async def release(self, reservation: Reservation) -> None:
        await self._lost()

    async def _lost(self) -> None:
        self.settles += 1
        await anyio.lowlevel.checkpoint()
        raise ConnectionResetError(f"connection to {SECRET} reset")


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make(
    limiter: BrokenServerLimiter, fake: FakePlugin, storage: MemoryStorage, **sections: Any
) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "memory"},
        "retry": {"attempts": 1},
        "limiter": {"backend": "broken"},
        "limits": {"*": {"rpm": 100, "tpm": 100_000}},
        **sections,
    }
    return relaykit.Client(
        config, plugins=[fake, LimiterPlugin(limiter, name="broken"), storage.plugin()]
    )


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_an_answer_stands_when_the_limiter_cannot_settle_its_hold(
    streamed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    limiter, fake, storage = BrokenServerLimiter(), FakePlugin(), MemoryStorage()
    fake.script.push(Reply(text="still here"))
    caplog.set_level(logging.WARNING, logger="relaykit.limiter")
    async with make(limiter, fake, storage) as client:
        if streamed:
            async with client.stream("fake/m", "hi") as s:
                text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
        else:
            text = (await client.chat("fake/m", "hi")).text
    assert text == "still here"
    assert limiter.settles == 1
    [record] = storage.records.values()
    assert record.error_type is None
    [warning] = [r for r in caplog.records if r.name == "relaykit.limiter"]
    assert "could not settle" in warning.getMessage()
    assert "ConnectionResetError" in warning.getMessage()
    assert "hunter2" not in caplog.text


@pytest.mark.anyio
async def test_a_call_never_sent_keeps_its_own_error_when_the_limiter_cannot_take_its_hold_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter, fake, storage = BrokenServerLimiter(), FakePlugin(), MemoryStorage()
    providers = {"openai": {"base_url": f"http://127.0.0.1:{closed_port()}/v1", "api_key": "k"}}
    caplog.set_level(logging.WARNING, logger="relaykit.limiter")
    async with make(limiter, fake, storage, providers=providers) as client:
        with pytest.raises(ProviderUnavailableError, match="could not connect"):
            await client.chat("openai/m", "hi")
    assert limiter.settles == 1  # it tried to give the hold back
    assert "hunter2" not in caplog.text


@pytest.mark.anyio
async def test_a_caller_cancelled_while_the_limiter_fails_gets_its_cancellation() -> None:
    # The limiter's answer is awaited shielded; when it then fails, a caller who
    # gave up meanwhile must see its own cancellation (trio's move_on_after would
    # let a RelayError through, and the caller's timeout would read as a failure).
    limiter = BrokenServerLimiter(acquire_delay=0.2, acquire_fails=True)
    fake, storage = FakePlugin(), MemoryStorage()
    async with make(limiter, fake, storage) as client:
        with anyio.move_on_after(0.02) as scope:
            await client.chat("fake/m", "hi")
        assert scope.cancelled_caught
        with pytest.raises(RelayError, match="did not answer"):  # not cancelled: its error
            await client.chat("fake/m", "hi")
    assert not fake.calls


def test_the_limiter_timeout_is_configurable_and_checked() -> None:
    assert load_config({}).limiter.timeout == 5.0
    assert load_config({"limiter": {"timeout": 0.25}}).limiter.timeout == 0.25
    for bad in (0, -1, float("inf")):
        with pytest.raises(ConfigError, match=r"limiter\.timeout must be a number of seconds"):
            load_config({"limiter": {"timeout": bad}})
