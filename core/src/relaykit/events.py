"""Stream events, as yielded by ``async for event in client.stream(...)``, and the
events a streamed tool run (``client.stream_tools(...)``) adds between its steps.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from .messages import Attachment, ToolCall
from .response import ChatResponse, FinishReason, TokenLogprob, Usage
from .web_search import Citation

__all__ = [
    "Finish",
    "LogprobsDelta",
    "ReasoningDelta",
    "SearchQuery",
    "StepEnd",
    "StepStart",
    "StreamEvent",
    "StreamStart",
    "TextDelta",
    "ToolCallDelta",
    "ToolResultEvent",
    "ToolRunEvent",
    "UsageUpdate",
]


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
class LogprobsDelta:
    """The log probabilities of the answer's next tokens (each a
    :class:`~relaykit.TokenLogprob`), where the call asked for them: yielded after
    the :class:`TextDelta` they score, and added up into the stream's
    ``response.logprobs``. A stream that did not ask yields none."""

    logprobs: tuple[TokenLogprob, ...]


@attrs.frozen
class ToolCallDelta:
    """A fragment of tool call ``index``: its id and name come first, then argument JSON."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@attrs.frozen
class UsageUpdate:
    """Token usage so far; later updates replace earlier ones field by field.

    ``estimated`` says some of the counts are the plugin's estimate, not the
    vendor's (Ollama leaves the prompt's count out when its KV cache served the
    whole prompt): the stream's response is then marked ``usage_estimated``, as
    a non-streamed answer the plugin returns with ``usage_estimated=True`` is.
    """

    usage: Usage
    estimated: bool = attrs.field(default=False, kw_only=True)


@attrs.frozen
class SearchQuery:
    """The model searched the web for ``query`` (``web_search=``): yielded as soon as
    the vendor says the search ran, before the text written from what it found.

    A stream's searches, in order, are its ``response.search_queries``; a
    stream that breaks keeps those it has yielded in its partial response and
    record (the vendor billed them). A UI can show "searching for ..." while
    the answer is still to come.
    """

    query: str


@attrs.frozen
class Finish:
    """The model stopped, and why.

    After a web search it may also carry ``search_suggestions`` (Google's Search
    Suggestions HTML), which becomes the stream's ``response.search_suggestions``.
    ``stop_sequence`` is the stop sequence the model stopped on, where the vendor
    says which (see :attr:`relaykit.ChatResponse.stop_sequence`); it becomes the
    stream's ``response.stop_sequence``.

    ``search_queries`` is kept for providers written before :class:`SearchQuery`:
    the assembled response takes its searches from the stream's ``SearchQuery``
    events, and only from a ``Finish``'s ``search_queries`` when the stream had
    none (never both, so none is counted twice). The built-in providers yield
    events and leave this field empty.
    """

    reason: FinishReason
    raw_reason: str | None = None
    search_queries: tuple[str, ...] = attrs.field(default=(), kw_only=True)
    search_suggestions: str | None = attrs.field(default=None, kw_only=True)
    stop_sequence: str | None = attrs.field(default=None, kw_only=True)


#: a :class:`~relaykit.Citation` is an event too: a source of the answer, as it arrives
StreamEvent: TypeAlias = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ToolCallDelta
    | UsageUpdate
    | SearchQuery
    | Finish
    | Citation
    | LogprobsDelta
)


# -- a streamed tool run's own events ---------------------------------------------------
# Not members of StreamEvent: that union is what a provider's stream yields and what
# the gateway's encoders and the response assembler handle, and a tool run's loop
# events are none of those.


@attrs.frozen
class StepStart:
    """A tool run's step ``step`` (0, 1, ...: its index in ``ToolRun.steps``) is
    calling the model; that call's stream events follow."""

    step: int


@attrs.frozen
class StepEnd:
    """Step ``step``'s model call has ended; ``response`` is its whole response
    (priced, its tool calls parsed), as ``ToolRun.steps[step]`` will hold it.

    When ``response.tool_calls`` is not empty their tools run next, each
    reported by a :class:`ToolResultEvent`; otherwise it is the answer and the
    run has finished.
    """

    step: int
    response: ChatResponse


@attrs.frozen
class ToolResultEvent:
    """A tool has finished: what goes back to the model for ``call``.

    ``content`` is the result's text (for an error, what the model is told:
    an unknown tool, arguments that do not fit, or the exception a tool
    raised, secrets scrubbed), ``attachments`` the images and documents the
    tool returned. A step's tools run concurrently, so these come in the
    order the tools finish; the results go back to the model in the calls' order.
    """

    call: ToolCall
    content: str
    is_error: bool = False
    attachments: tuple[Attachment, ...] = attrs.field(default=(), kw_only=True)


ToolRunEvent: TypeAlias = StepStart | StepEnd | ToolResultEvent
"""The events ``client.stream_tools(...)`` yields besides each step's :data:`StreamEvent`."""
