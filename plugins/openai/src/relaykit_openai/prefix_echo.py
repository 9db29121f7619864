"""The prefill a service echoes: Mistral's answer to a ``"prefix": true`` message.

Mistral's answer to a conversation ending in an assistant message sent with
``"prefix": true`` starts with that message's text (its prefix guide slices it
off, ``content[len(prefix):]``). Anthropic and Bedrock answer a prefill with
the continuation only, and ``ChatResponse.text`` is the continuation there; so
that a prefill means the same whichever provider answers it, the echoed prefix
is taken off here, streamed or not:

- not streamed, from the answer's text (its first text chunk, when the content
  is a list of chunks, as a reasoning model's is);
- streamed, the text deltas are held back only while what arrived is still a
  prefix of the prefix; once it is all there it is dropped and the rest goes on.
  An answer that does not start with the prefix (what arrived stops matching it,
  the text ends, or another kind of event comes first) is passed through
  unchanged, held text first.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from relaykit.events import StreamEvent, TextDelta


def strip_answer(data: Any, prefix: str) -> None:
    """Take ``prefix`` off the start of each choice's text in a Chat Completions
    answer ``data`` (in place), where the text starts with it."""
    if not prefix or not isinstance(data, dict):
        return
    for choice in data.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            if content.startswith(prefix):
                message["content"] = content[len(prefix) :]
        elif isinstance(content, list):
            chunk = next(
                (c for c in content if isinstance(c, dict) and c.get("type") == "text"), None
            )
            text = chunk.get("text") if chunk is not None else None
            if isinstance(text, str) and text.startswith(prefix):
                chunk["text"] = text[len(prefix) :]  # type: ignore[index]


async def strip_stream(
    events: AsyncGenerator[StreamEvent, None], prefix: str
) -> AsyncIterator[StreamEvent]:
    """``events`` with ``prefix`` taken off the start of the text they carry, when
    the text starts with it; ``events`` is closed when this is."""
    async with aclosing(events):
        held = ""
        async for event in events:
            if isinstance(event, TextDelta):
                held += event.text
                if len(held) < len(prefix) and prefix.startswith(held):
                    continue  # still a prefix of the prefix: wait for more
                rest = held[len(prefix) :] if held.startswith(prefix) else held
                if rest:
                    yield TextDelta(rest)
                break
            if held:  # something else came before the prefix was whole: not an echo
                yield TextDelta(held)
                held = ""
                yield event
                break
            yield event
        else:
            if held:  # the text ended part way through the prefix
                yield TextDelta(held)
            return
        async for event in events:
            yield event
