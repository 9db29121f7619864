"""The stream lifecycle (stream_lifecycle.py) at its edges, for the chat, speech and
transcription streams alike: however a stream is left, its limits' holds are
settled exactly once, the router and the client stop counting it, and the call
has one record and one span. Real HTTP over loopback (the OpenAI mock) where the
wire matters; a fake provider where the provider itself misbehaves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry.trace import StatusCode

import relaykit
from relaykit import RelayError, hookimpl
from relaykit.config import LimitConfig
from relaykit.protocols import Reservation
from relaykit.testing import (
    FakePlugin,
    FakeProvider,
    OpenAIMock,
    Reply,
    TracingExporter,
    cancel_in_flight,
    mock_audio,
)
from relaykit.testing.chaos import count_in_flight

KEY = "sk-lifecycle-0123456789abcdef"
TEXT = "Hello there, general Kenobi. " * 40
HEARD = "the quick brown fox jumps over the lazy dog"
WORDS = "one two three four five six seven eight nine ten eleven twelve"
KINDS = ["chat", "speech", "transcription"]
WIRE_MODELS = {"chat": "gpt-4o-mini", "speech": "tts-1", "transcription": "gpt-4o-transcribe"}


class Ledger:
    """A limiter over the network, as a shared one is (every decision waits once),
    that knows each hold it gave out and says if one is settled twice."""

    supports_budgets = True

    def __init__(self) -> None:
        self.held: dict[int, Reservation] = {}
        self.settled_twice = 0

    async def acquire(
        self, key: str, limit: LimitConfig, tokens: int, *, cost: Decimal | None = None
    ) -> Reservation:
        await anyio.lowlevel.checkpoint()
        reservation = Reservation(key, tokens, cost)
        self.held[id(reservation)] = reservation
        return reservation

    async def reconcile(
        self, reservation: Reservation, actual_tokens: int, *, cost: Decimal | None = None
    ) -> None:
        await anyio.lowlevel.checkpoint()  # cancelled here unless the client shields it
        self._settle(reservation)

    async def release(self, reservation: Reservation) -> None:
        await anyio.lowlevel.checkpoint()
        self._settle(reservation)

    def _settle(self, reservation: Reservation) -> None:
        if self.held.pop(id(reservation), None) is None:
            self.settled_twice += 1

    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: object) -> Ledger | None:
        return self if name == "ledger" else None


class Rig:
    """A client with the ledger, a tracing exporter and the router's balance counted."""

    def __init__(self, kind: str, *plugins: object, base_url: str = "", **sections: Any) -> None:
        self.kind = kind
        self.ledger, self.tracing = Ledger(), TracingExporter()
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 2, "initial_wait": 0, "max_retry_after": 0},
            "limiter": {"backend": "ledger"},
            "limits": {"*": {"rpm": 100_000, "tpm": 50_000_000}},
            **sections,
        }
        if base_url:
            config["providers"] = {"openai": {"base_url": base_url, "api_key": KEY}}
        self.client = relaykit.Client(config, plugins=[self.ledger, self.tracing, *plugins])
        self.balance = count_in_flight(self.client)

    def open(self, model: str) -> Any:
        c = self.client
        if self.kind == "chat":
            return c.stream(model, "hi")
        if self.kind == "speech":
            return c.stream_speech(model, TEXT, voice="alloy")
        return c.stream_transcription(model, mock_audio(HEARD))

    def check(self, error_type: str | None) -> None:
        """Once the client has closed: everything held was settled once, nothing is
        in flight, and the call has one record (failed as ``error_type``) and one span
        (besides the records of a chat's attempts the first-token timeout cut off)."""
        assert not self.ledger.held and not self.ledger.settled_twice
        assert not +self.balance and not -self.balance, self.balance
        assert self.client._in_flight == 0 and not self.client._streams
        (record,) = [r for r in self.tracing.records if "-attempt-" not in r.id]
        assert record.error_type == error_type and record.streamed
        (span,) = self.tracing.finished()
        assert (span.status.status_code is StatusCode.ERROR) == (error_type is not None)


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as m:
        m.speech_chunk = 256  # speech in several chunks, as a transcript is in words
        yield m


async def _read(stream: Any, on_piece: Any = None) -> None:
    async with stream as s:
        async for _ in s:
            if on_piece is not None:
                on_piece()


# -- leaving, over the wire -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("when", "reply"),
    [
        ("before the response", Reply(text=WORDS, delay=5)),
        ("in the read-ahead", Reply(text=WORDS, first_token_delay=5)),
        ("mid-stream", Reply(text=WORDS, chunk_delay=5)),
    ],
    ids=["before-response", "read-ahead", "mid-stream"],
)
async def test_a_stream_cancelled_anywhere_settles_once_and_is_recorded_cancelled(
    mock: OpenAIMock, kind: str, when: str, reply: Reply
) -> None:
    mock.script.push(reply)
    rig = Rig(kind, base_url=mock.base_url)
    pieces: list[None] = []
    async with rig.client:
        await cancel_in_flight(
            lambda: _read(rig.open(f"openai/{WIRE_MODELS[kind]}"), lambda: pieces.append(None)),
            when=lambda: bool(pieces) if when == "mid-stream" else bool(mock.requests),
        )
    rig.check("Cancelled")


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("how", "error_type"),
    [("break", None), ("unread", None), ("raise", "CallerError"), ("fail_after", "Cancelled")],
)
async def test_leaving_a_stream_early_settles_once_and_is_recorded_for_what_it_was(
    mock: OpenAIMock, kind: str, how: str, error_type: str | None
) -> None:
    mock.script.push(Reply(text=WORDS, chunk_delay=5 if how == "fail_after" else 0))
    rig = Rig(kind, base_url=mock.base_url)
    async with rig.client:
        stream = rig.open(f"openai/{WIRE_MODELS[kind]}")
        if how == "fail_after":
            with pytest.raises(TimeoutError), anyio.fail_after(0.3):
                await _read(stream)
        elif how == "raise":
            with pytest.raises(LookupError):
                async with stream as s:
                    async for _ in s:
                        raise LookupError("the caller's own")
        else:
            async with stream as s:
                async for _ in s:
                    if how == "break":
                        break
    rig.check(error_type)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("first_token", [10, 0.5], ids=["scoped", "on-the-connection"])
async def test_an_idle_timeout_mid_stream_settles_once_and_is_recorded(
    mock: OpenAIMock, kind: str, first_token: float
) -> None:
    # first_token <= idle: the connection's read timeout carries the idle one. Twice:
    # a first piece slowed by a loaded machine is retried, and idles all the same.
    mock.script.push(Reply(text=WORDS, chunk_delay=5), Reply(text=WORDS, chunk_delay=5))
    rig = Rig(kind, base_url=mock.base_url, timeouts={"idle": 0.5, "first_token": first_token})
    async with rig.client:
        with pytest.raises(relaykit.RequestTimeoutError) as caught:
            await _read(rig.open(f"openai/{WIRE_MODELS[kind]}"))
    assert caught.value.which == "idle"
    rig.check("RequestTimeoutError")


# -- retries before the first piece ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_slow_first_piece_then_a_failure_falls_back_and_settles_each_attempt(
    kind: str,
) -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.push(Reply(text=WORDS, first_token_delay=5), Reply.failure(503))
    model = {"chat": "m", "speech": "tts-1", "transcription": "gpt-4o-transcribe"}[kind]
    routes = {"route": {"targets": [f"fake/{model}", f"other/{model}"]}}
    rig = Rig(kind, first, second, models=routes, timeouts={"first_token": 0.5})
    async with rig.client, rig.open("route") as s:
        async for _ in s:
            pass
    assert s.response.provider == "other"
    rig.check(None)
    # a chat's timed-out attempt had its prompt billed: a record of its own carries it
    timed_out = [r.error_type for r in rig.tracing.records if r.id.endswith("-attempt-1")]
    assert timed_out == (["RequestTimeoutError"] if kind == "chat" else [])


# -- a provider whose stream fails to close ---------------------------------------------


class FailsToClose(FakeProvider):
    """A provider whose streams raise as they are closed before their end (a
    connection that errs on its way down, a plugin's clean-up with a bug of its own)."""

    def stream(self, request: Any) -> AsyncIterator[Any]:
        return _failing_close(super().stream(request))

    def stream_speech(self, request: Any) -> AsyncIterator[Any]:
        return _failing_close(super().stream_speech(request))

    def stream_transcription(self, request: Any) -> AsyncIterator[Any]:
        return _failing_close(super().stream_transcription(request))


async def _failing_close(inner: Any) -> AsyncIterator[Any]:
    try:
        async for item in inner:
            yield item
    except GeneratorExit:
        await inner.aclose()
        raise OSError("the connection broke on its way down") from None


FAKE_MODELS = {"chat": "fake/m", "speech": "fake/tts-1", "transcription": "fake/gpt-4o-transcribe"}


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("how", "error_type"),
    [
        ("break", None),
        ("raise", "CallerError"),
        ("cancel", "Cancelled"),
        ("client_closes", "ClientClosedError"),
    ],
)
async def test_a_stream_that_fails_to_close_still_settles_and_is_recorded(
    kind: str, how: str, error_type: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakePlugin(provider=FailsToClose)
    rig = Rig(kind, fake, timeouts={"total": 0.5})  # how long the client's close waits
    async with rig.client:
        stream = rig.open(FAKE_MODELS[kind])
        if how == "break":
            async with stream as s:
                async for _ in s:
                    break
        elif how == "raise":
            with pytest.raises(LookupError):
                async with stream as s:
                    async for _ in s:
                        raise LookupError("the caller's own")
        elif how == "cancel":
            with anyio.CancelScope() as scope:
                async with stream as s:
                    async for _ in s:
                        scope.cancel()  # as a deadline over the caller's own slow work
                        await anyio.sleep(5)
        else:
            with pytest.raises(relaykit.ClientClosedError):
                async with stream as s:
                    await rig.client.aclose()  # ends the stream once its wait is over
                    async for _ in s:
                        pass
    rig.check(error_type)
    assert "the connection broke on its way down" in caplog.text


# -- entering a stream twice ------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_is_entered_once(kind: str) -> None:
    rig = Rig(kind, FakePlugin())
    async with rig.client:
        stream = rig.open(FAKE_MODELS[kind])
        await _read(stream)
        with pytest.raises(RelayError, match="entered once") as caught:
            await _read(stream)
    assert caught.value.hint is not None and "again" in caught.value.hint
    rig.check(None)
