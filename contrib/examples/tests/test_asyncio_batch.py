"""The asyncio example against a mock of OpenAI over loopback HTTP.

The example is asyncio code (a TaskGroup, a Semaphore), so these tests run it
with ``asyncio.run`` rather than under both anyio backends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import relaykit
from relaykit.testing import OpenAIMock, Reply, instant_retries
from relaykit_examples import asyncio_batch
from relaykit_examples.asyncio_batch import CONFIG, PROMPTS, answer_all

#: the at_mock fixture: an example's CONFIG aimed at the mock
AtMock = Callable[[Mapping[str, Any]], dict[str, Any]]


def test_main_prints_every_answer_with_its_cost_and_the_totals(
    mock: OpenAIMock, at_mock: AtMock, capsys: pytest.CaptureFixture[str]
) -> None:
    mock.script.fail(429, "Rate limit reached", retry_after=0.01)

    asyncio.run(asyncio_batch.main(at_mock(CONFIG)))

    out = capsys.readouterr().out
    for prompt in PROMPTS:
        assert f"> {prompt}\n< echo: {prompt}\n" in out
    assert out.count("1 attempt(s)") == len(PROMPTS) - 1
    assert out.count("2 attempt(s)") == 1  # the 429 was retried
    assert len(mock.requests) == len(PROMPTS) + 1
    total = out.splitlines()[-1]
    assert total.startswith(f"{len(PROMPTS)} of {len(PROMPTS)} answered: ")
    spent = total.rpartition("$")[2]
    assert float(spent) > 0  # gpt-4o-mini and gpt-4.1-mini have prices


def test_at_most_concurrency_prompts_are_in_flight(
    mock: OpenAIMock, at_mock: AtMock, most_at_once: Callable[[], int]
) -> None:
    mock.script.push(*[Reply(text="ok", delay=0.1)] * 6)

    async def run() -> list[relaykit.ChatResponse | relaykit.RelayError]:
        async with relaykit.Client(at_mock(CONFIG)) as client:
            return await answer_all(client, ["q"] * 6, concurrency=3)

    results = asyncio.run(run())

    assert [r.text for r in results if isinstance(r, relaykit.ChatResponse)] == ["ok"] * 6
    assert most_at_once() == 3


def test_a_failed_prompt_is_returned_and_the_batch_goes_on(
    mock: OpenAIMock, at_mock: AtMock
) -> None:
    mock.script.push(Reply.failure(400, "Invalid prompt"), Reply(text="second"))

    async def run() -> list[relaykit.ChatResponse | relaykit.RelayError]:
        async with relaykit.Client(at_mock(CONFIG)) as client:
            return await answer_all(client, ["first", "second"], concurrency=1)

    failed, answered = asyncio.run(run())

    assert isinstance(failed, relaykit.InvalidRequestError)
    assert failed.message == "Invalid prompt"
    assert isinstance(answered, relaykit.ChatResponse)
    assert answered.text == "second"


def test_the_batch_route_falls_back_to_gpt_4_1_mini(mock: OpenAIMock, at_mock: AtMock) -> None:
    mock.script.push(*[Reply.failure(503, "Overloaded")] * 3)  # every attempt at gpt-4o-mini

    async def run() -> list[relaykit.ChatResponse | relaykit.RelayError]:
        async with relaykit.Client(at_mock(CONFIG)) as client:
            return await answer_all(client, ["hello"], concurrency=1)

    with instant_retries():
        [result] = asyncio.run(run())

    assert isinstance(result, relaykit.ChatResponse)
    assert (result.model, result.text) == ("gpt-4.1-mini", "echo: hello")
    sent = [request.json()["model"] for request in mock.requests]
    assert sent == ["gpt-4o-mini"] * 3 + ["gpt-4.1-mini"]
