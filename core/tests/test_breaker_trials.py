"""A half-open circuit's trial call over real loopback HTTP: only an answer from the
deployment decides it, and a trial that ends without one frees the slot for the next."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import (
    CircuitOpenError,
    DocumentPart,
    InvalidRequestError,
    Message,
    ProviderUnavailableError,
    TextPart,
)
from relaykit.routing import Target
from relaykit.testing import OpenAIMock, Reply

MAIN = Target("openai", "gpt-4o-mini")
#: a document Chat Completions cannot read: the plugin refuses it before sending
WORD = DocumentPart(data=b"PK\x03\x04", media_type="application/msword", name="a.doc")


def make(mock: OpenAIMock, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": mock.api_key}},
        # reset_after 0: half-open as soon as it opens, no wait in the tests
        "breaker": {"failures": 1, "reset_after": 0, "cool_down": 0},
        **sections,
    }
    return relaykit.Client(config)


@pytest.mark.anyio
async def test_a_trial_the_plugin_refused_to_send_leaves_the_circuit_half_open(
    openai_mock: OpenAIMock,
) -> None:
    """The service was not asked: its refusal (no HTTP status) says nothing of its health.

    It closed the circuit, as if the deployment had answered, so a deployment still
    down took every call again until ``failures`` more had failed.
    """
    openai_mock.script.push(Reply.failure(503, "down"))
    async with make(openai_mock) as client:
        with anyio.fail_after(10):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("openai/gpt-4o-mini", "hi")
            message = Message(role="user", content=[WORD, TextPart("what does it say?")])
            with pytest.raises(InvalidRequestError, match="Chat Completions reads PDFs") as info:
                await client.chat("openai/gpt-4o-mini", [message])
        assert info.value.status is None
        breaker = client._breaker_of(MAIN)
        assert (breaker.state, breaker.consecutive_failures) == ("half-open", 1)
        assert not breaker.refusing, "the trial slot is free for the next call"
    assert len(openai_mock.requests) == 1


@pytest.mark.anyio
async def test_a_trial_answered_with_a_400_closes_the_circuit(openai_mock: OpenAIMock) -> None:
    """The deployment answered (it said no to this request): it is back."""
    openai_mock.script.push(Reply.failure(503, "down"), Reply.failure(400, "bad request"))
    async with make(openai_mock) as client:
        with anyio.fail_after(10):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("openai/gpt-4o-mini", "hi")
            with pytest.raises(InvalidRequestError):
                await client.chat("openai/gpt-4o-mini", "hi")
        assert client._breaker_of(MAIN).state == "closed"
    assert len(openai_mock.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_concurrent_calls_on_a_half_open_circuit_send_one_trial(
    openai_mock: OpenAIMock, streamed: bool
) -> None:
    """Of ten calls at once, one goes out; the others are refused at once, not queued."""
    openai_mock.script.push(Reply.failure(503, "down"), Reply(text="back", delay=0.5))
    refused: list[CircuitOpenError] = []
    answers: list[str] = []

    async def one() -> None:
        try:
            if streamed:
                async with client.stream("openai/gpt-4o-mini", "hi") as s:
                    async for _ in s:
                        pass
                answers.append(s.response.text)
            else:
                answers.append((await client.chat("openai/gpt-4o-mini", "hi")).text)
        except CircuitOpenError as e:
            refused.append(e)

    async with make(openai_mock) as client:
        with anyio.fail_after(10):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("openai/gpt-4o-mini", "hi")
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(one)
        assert client._breaker_of(MAIN).state == "closed"
    assert answers == ["back"]
    assert len(refused) == 9
    assert all("trial call is in flight" in str(e) for e in refused)
    assert len(openai_mock.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["cancelled", "timeout"])
async def test_a_trial_cut_short_by_its_caller_frees_the_slot(
    openai_mock: OpenAIMock, how: str
) -> None:
    """A trial the caller cancelled (or whose call timed out) gave no verdict: the next
    call is the trial, not refused for as long as the circuit lives."""
    openai_mock.script.push(
        Reply.failure(503, "down"), Reply(text="never read", delay=30), Reply(text="back")
    )
    async with make(openai_mock) as client:
        with anyio.fail_after(20):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("openai/gpt-4o-mini", "hi")
            if how == "cancelled":
                with anyio.move_on_after(0.2):
                    await client.chat("openai/gpt-4o-mini", "hi")
            else:
                with pytest.raises(relaykit.RequestTimeoutError):
                    await client.chat("openai/gpt-4o-mini", "hi", timeout=0.2)
            breaker = client._breaker_of(MAIN)
            assert not breaker.refusing
            r = await client.chat("openai/gpt-4o-mini", "hi")
        assert r.text == "back"
        assert breaker.state == "closed"


async def read_whole(client: relaykit.Client) -> str:
    async with client.stream("openai/gpt-4o-mini", "hi") as s:
        async for _ in s:
            pass
    return s.response.text


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["drop", "error", "reset"])
async def test_streams_broken_after_their_first_piece_open_the_circuit(
    openai_mock: OpenAIMock, fault: str
) -> None:
    """The caller had pieces already (no retry), but the deployment broke the stream:
    a failure, counted at the stream's end; streams read whole are successes."""
    broken = Reply(text="half an answer", stream_fault=fault)  # type: ignore[arg-type]
    openai_mock.script.push(Reply(text="whole"), broken, broken)
    async with make(openai_mock, breaker={"failures": 2, "reset_after": 60}) as client:
        breaker = client._breaker_of(MAIN)
        with anyio.fail_after(10):
            assert await read_whole(client) == "whole"
            for failures in (1, 2):
                with pytest.raises(relaykit.RelayError):
                    await read_whole(client)
                assert breaker.consecutive_failures == failures
            assert breaker.state == "open"
            with pytest.raises(CircuitOpenError):
                await read_whole(client)
    assert len(openai_mock.requests) == 3


@pytest.mark.anyio
async def test_a_stream_trial_closes_at_its_first_piece_and_its_break_counts_after(
    openai_mock: OpenAIMock,
) -> None:
    """Closed at its first piece (others are not refused while it streams on); its
    break later is the new closed period's first failure, not a reopening."""
    openai_mock.script.push(
        Reply.failure(503, "down"), Reply(text="half an answer", stream_fault="drop")
    )
    async with make(openai_mock, breaker={"failures": 2, "reset_after": 0}) as client:
        breaker = client._breaker_of(MAIN)
        with anyio.fail_after(10):
            with pytest.raises(ProviderUnavailableError):
                await client.chat("openai/gpt-4o-mini", "hi")
            meanwhile: list[str] = []
            with pytest.raises(relaykit.RelayError):
                async with client.stream("openai/gpt-4o-mini", "hi") as s:
                    async for _ in s:
                        if not meanwhile:
                            assert breaker.state == "closed"  # its first piece closed it
                            r = await client.chat("openai/gpt-4o-mini", "meanwhile")
                            meanwhile.append(r.text)
        assert meanwhile and meanwhile[0]
        assert (breaker.state, breaker.consecutive_failures) == ("closed", 1)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for the mock to have seen a request (its thread: no event crosses over)."""
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.002)


@pytest.mark.anyio
async def test_a_stream_admitted_before_the_circuit_opened_gives_no_verdict_at_its_end(
    openai_mock: OpenAIMock,
) -> None:
    """A stream sent while the circuit was closed, whose first piece came after it had
    opened, broke midway while the half-open trial was in flight.

    Its end was booked in the open period (read when the stream started, not when it
    was admitted): it opened the circuit again, so the trial's success, of a period
    gone, was ignored and its slot never freed. Every call after was refused ("a
    trial call is in flight") for the life of the client.
    """
    openai_mock.script.push(
        Reply(text="sent before", stream_fault="drop", delay=2),  # S: answers late
        Reply.failure(503, "down"),  # opens the circuit while S waits
        Reply(text="trial", delay=0.5),  # T: the half-open trial
        Reply(text="after"),
    )
    s_open, t_sent = anyio.Event(), anyio.Event()
    broke: list[BaseException] = []

    async def stream_s() -> None:
        try:
            async with client.stream("openai/gpt-4o-mini", "hi") as s:
                s_open.set()
                await t_sent.wait()
                async for _ in s:
                    pass
        except relaykit.RelayError as e:
            broke.append(e)

    async def trial() -> None:
        assert (await client.chat("openai/gpt-4o-mini", "trial")).text == "trial"

    async with make(openai_mock) as client:
        breaker = client._breaker_of(MAIN)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(stream_s)
                await until(lambda: len(openai_mock.requests) == 1)  # S is in flight
                with pytest.raises(ProviderUnavailableError):
                    await client.chat("openai/gpt-4o-mini", "hi")
                assert breaker.state == "half-open"  # reset_after 0
                await s_open.wait()
                tg.start_soon(trial)
                await until(lambda: len(openai_mock.requests) == 3)  # T is in flight
                t_sent.set()
            assert broke, "S broke midway"
            assert (breaker.state, breaker.refusing) == ("closed", False)
            assert (await client.chat("openai/gpt-4o-mini", "next")).text == "after"
