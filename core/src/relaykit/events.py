"""Stream events, as yielded by ``async for event in client.stream(...)``."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from .response import FinishReason, Usage


@attrs.frozen
class StreamStart:
    """The provider accepted the request; carries its response id and model."""

    id: str | None = None
    model: str | None = None


@attrs.frozen
class TextDelta:
    """More answer text."""

    text: str


@attrs.frozen
class ReasoningDelta:
    """More reasoning ("thinking") text, or its signature, or a redacted block.

    Deltas add to the current reasoning block until one says ``new_block``
    (a provider sends it where a block starts, so several blocks stay apart,
    each with its own signature). ``redacted`` carries encrypted reasoning:
    with ``new_block`` a whole block of its own (Anthropic's redacted thinking);
    without it, the encrypted form of the current block, whose readable text
    came before (OpenAI's Responses API). Either way it ends the block.
    ``origin`` names the provider
    type that produced the block (see :class:`~relaykit.ReasoningPart`); the
    delta that starts a block carries it.
    """

    text: str = ""
    signature: str | None = None
    new_block: bool = attrs.field(default=False, kw_only=True)
    redacted: str | None = attrs.field(default=None, kw_only=True)
    origin: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class ToolCallDelta:
    """A fragment of tool call ``index``: its id and name come first, then argument JSON."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@attrs.frozen
class UsageUpdate:
    """Token usage so far; later updates replace earlier ones field by field."""

    usage: Usage


@attrs.frozen
class Finish:
    """The model stopped, and why."""

    reason: FinishReason
    raw_reason: str | None = None


StreamEvent: TypeAlias = (
    StreamStart | TextDelta | ReasoningDelta | ToolCallDelta | UsageUpdate | Finish
)
