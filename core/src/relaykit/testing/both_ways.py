"""One prompt asked whole and then streamed: what a provider's tests compare.

A finish reason, a stop sequence or an unknown event must come out the same
either way; each plugin's tests ask both and compare the two answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client import Client
    from ..response import ChatResponse


async def answer_and_stream(
    client: Client,
    model: str,
    prompt: str = "Go on",
    *,
    events: type[Any] = object,
    **options: Any,
) -> tuple[ChatResponse, list[Any], ChatResponse]:
    """``client.chat(model, prompt, **options)``'s answer, then the same call
    streamed: the stream's events that are instances of ``events`` (all by
    default; ``Finish``, say) and its assembled response. The mock must have two
    replies scripted."""
    answer = await client.chat(model, prompt, **options)
    async with client.stream(model, prompt, **options) as stream:
        seen = [event async for event in stream if isinstance(event, events)]
    return answer, seen, stream.response
