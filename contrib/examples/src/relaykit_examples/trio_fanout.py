"""Fan calls out from trio with a nursery, then stream one answer as it is written.

relaykit runs on anyio, so the client is the same one asyncio code uses.

    OPENAI_API_KEY=sk-... python -m relaykit_examples.trio_fanout
    relaykit-offline python -m relaykit_examples.trio_fanout     # no key, no network
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import trio

import relaykit

MODEL = "openai/gpt-4o-mini"

#: What this script sets itself; keys and base URLs come from the environment.
CONFIG: dict[str, Any] = {
    # A stream that says nothing for 20 s, before or between pieces, is given up.
    "timeouts": {"first_token": 20, "idle": 20},
}

LANGUAGES = ("French", "German", "Japanese", "Swahili")


async def translate_all(
    client: relaykit.Client, text: str, languages: Sequence[str]
) -> dict[str, str]:
    """Translate ``text`` into each of ``languages`` at once; the translations by language.

    All or nothing, as trio does it: if one call fails, the nursery cancels the
    others and raises the failure (in an ``ExceptionGroup``).
    """
    translations: dict[str, str] = {}

    async def translate(language: str) -> None:
        messages = [
            relaykit.Message.system("Reply with the translation only."),
            relaykit.Message.user(f"Translate into {language}: {text}"),
        ]
        r = await client.chat(MODEL, messages, temperature=0)
        translations[language] = r.text

    async with trio.open_nursery() as nursery:
        for language in languages:
            nursery.start_soon(translate, language)
    return translations


async def print_streamed(client: relaykit.Client, prompt: str) -> relaykit.ChatResponse:
    """Print the answer to ``prompt`` piece by piece as it arrives; return all of it."""
    async with client.stream(MODEL, prompt, max_tokens=300) as stream:
        async for event in stream:
            if isinstance(event, relaykit.TextDelta):
                print(event.text, end="", flush=True)
    print()
    return stream.response


async def main(config: Mapping[str, Any] = CONFIG) -> None:
    """Translate one sentence into :data:`LANGUAGES` concurrently, then stream a story."""
    async with relaykit.Client(config) as client:
        translations = await translate_all(client, "Where is the station?", LANGUAGES)
        for language in LANGUAGES:
            print(f"{language}: {translations[language]}")

        r = await print_streamed(client, "Tell a four-line story about a lighthouse keeper.")
        first = f"{r.time_to_first_token:.2f} s" if r.time_to_first_token is not None else "?"
        print(f"[{r.finish_reason}: {r.usage.output_tokens} tokens, the first after {first}]")


if __name__ == "__main__":
    trio.run(main)
