"""Answer a batch of prompts concurrently from asyncio, and add up what they cost.

Each call goes to the alias ``batch``: gpt-4o-mini, falling back to gpt-4.1-mini
when it keeps failing (and trying gpt-4.1-mini first for a few seconds after
gpt-4o-mini failed: ``[breaker] cool_down``). A prompt that fails for good is
reported; the rest of the batch goes on.

    OPENAI_API_KEY=sk-... python -m relaykit_examples.asyncio_batch
    relaykit-offline python -m relaykit_examples.asyncio_batch     # no key, no network
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import relaykit

#: What this script sets itself; keys and base URLs come from the environment.
CONFIG: dict[str, Any] = {
    # Rate limits and 5xx are retried, honouring the provider's Retry-After up to 30 s.
    "retry": {"attempts": 3, "initial_wait": 0.5, "max_retry_after": 30},
    "models": {
        "batch": {
            "targets": ["openai/gpt-4o-mini", "openai/gpt-4.1-mini"],
            "strategy": "fallback",
        }
    },
}

PROMPTS = (
    "Summarise the plot of Hamlet in one sentence.",
    "Suggest three names for a grey cat.",
    "What is the boiling point of water at sea level, in Celsius?",
    "Translate 'good morning' into Portuguese.",
    "Write a haiku about asynchronous code.",
)


async def answer_all(
    client: relaykit.Client, prompts: Sequence[str], *, concurrency: int = 3
) -> list[relaykit.ChatResponse | relaykit.RelayError]:
    """Ask every prompt, at most ``concurrency`` at a time; answers in the prompts' order.

    A prompt that fails for good (after retries and the fallback) gives its error
    instead of an answer.
    """
    slots = asyncio.Semaphore(concurrency)

    async def answer(prompt: str) -> relaykit.ChatResponse | relaykit.RelayError:
        async with slots:
            try:
                return await client.chat("batch", prompt, max_tokens=200)
            except relaykit.RelayError as error:
                return error  # so one bad prompt does not cancel the whole batch

    async with asyncio.TaskGroup() as tasks:
        answers = [tasks.create_task(answer(prompt)) for prompt in prompts]
    return [task.result() for task in answers]


async def main(config: Mapping[str, Any] = CONFIG) -> None:
    """Answer :data:`PROMPTS`, print each answer and what it cost, then the totals."""
    async with relaykit.Client(config) as client:
        results = await answer_all(client, PROMPTS)

    spent, tokens, answered = Decimal(0), 0, 0
    for prompt, result in zip(PROMPTS, results, strict=True):
        print(f"> {prompt}")
        if isinstance(result, relaykit.RelayError):
            print(f"  failed: {result}")
            continue
        answered += 1
        tokens += result.usage.input_tokens + result.usage.output_tokens
        spent += result.cost or 0  # None: no price known for this model
        print(f"< {result.text}")
        print(
            f"  {result.provider}/{result.model}, {result.usage.input_tokens} + "
            f"{result.usage.output_tokens} tokens, ${result.cost or 0:.6f}, "
            f"{result.attempts} attempt(s)"
        )
    print(f"{answered} of {len(PROMPTS)} answered: {tokens} tokens, ${spent:.6f}")


if __name__ == "__main__":
    asyncio.run(main())
