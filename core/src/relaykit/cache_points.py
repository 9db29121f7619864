"""Where to cache a prompt when the caller did not say: for providers' ``auto_cache`` option.

A provider whose prompt cache is opt-in (Anthropic, Bedrock) can offer to place
:class:`~relaykit.CachePoint` values itself, for callers that send none (an
OpenAI SDK talking to relaykit's gateway, code written for another vendor).
:func:`add_cache_points` places them where Anthropic's guide does: after the
tool definitions, after the system prompt, and after the last message, so that
each turn of a conversation reads the one before it from the cache and writes
only what is new. Each point costs nothing when its prefix is under the
provider's minimum length; above it, the first call writes at a premium
(1.25 times the input price for five minutes, twice for an hour) and later
ones read at a tenth. A workload of one-off prompts pays the premium for
nothing, which is why it is an option.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from typing import Any

import attrs

from .errors import ConfigError
from .messages import CACHE_TTLS, CachePoint, Message
from .request import ChatRequest

__all__ = ["add_cache_points", "auto_cache_option", "has_cache_points"]


def auto_cache_option(value: Any, where: str) -> CachePoint | None:
    """The cache point an ``auto_cache`` option asks providers to place: ``true``
    (the provider's default lifetime), ``"5m"`` or ``"1h"``; ``None`` when off.

    :param where: the option's name in config, for the error
        (``providers.anthropic.auto_cache``).
    """
    if value is None or value is False:
        return None
    if value is True:
        return CachePoint()
    if value in CACHE_TTLS:
        return CachePoint(value)
    raise ConfigError(
        f"{where} is {value!r}",
        hint="use true, '5m' or '1h' to place cache points, or false to leave them to callers",
    )


def has_cache_points(request: ChatRequest) -> bool:
    """Whether the caller placed any cache point (in a message or on a tool)."""
    return any(t.cache is not None for t in request.tools) or any(
        type(p) is CachePoint for m in request.messages for p in m.content
    )


def add_cache_points(request: ChatRequest, point: CachePoint) -> ChatRequest:
    """``request`` with ``point`` after its tools, its system prompt and its last
    message; ``request`` itself when the caller placed any cache point."""
    if has_cache_points(request):
        return request
    tools = request.tools
    if tools:
        tools = (*tools[:-1], attrs.evolve(tools[-1], cache=point))
    messages = list(request.messages)
    # Providers with a separate system field gather every system message there, so
    # the last one ends the system prompt wherever it stands.
    system = max((i for i, m in enumerate(messages) if m.role == "system"), default=None)
    if system is not None:
        messages[system] = _ended(messages[system], point)
    if messages and messages[-1].role != "system":
        messages[-1] = _ended(messages[-1], point)
    return attrs.evolve(request, tools=tools, messages=tuple(messages))


def _ended(message: Message, point: CachePoint) -> Message:
    return Message(message.role, (*message.content, point), name=message.name)
