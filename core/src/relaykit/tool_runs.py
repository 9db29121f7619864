"""A tool run's result (:class:`ToolRun`) and its arguments, checked (:class:`ToolRunPlan`).

:meth:`relaykit.Client.run_tools` and :meth:`relaykit.Client.stream_tools`
both run the loop in :mod:`relaykit.tool_loop`: call the model, run the tools
it asks for, send the results, until it answers. Each step is one model call
(``chat``, or ``stream`` for a streamed run), so routing, retries, fallbacks,
limits, caching, redaction, logs and traces apply to each step as to any
call; every step carries the run's ``conversation_id`` in its metadata, so
``relaykit logs --conversation ID`` shows the run together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .errors import InvalidRequestError, did_you_mean
from .function_tools import FunctionTool, function_tools
from .messages import CachePoint, Message, ToolCall, coerce_messages
from .request import Tool, ToolChoice
from .response import ChatResponse, Usage
from .tool_answers import ToolErrors
from .web_search import WebSearch

if TYPE_CHECKING:
    from .client import Messages

_TOOL_ERRORS: tuple[ToolErrors, ...] = ("send", "raise")


@attrs.frozen
class ToolRun:
    """What :meth:`relaykit.Client.run_tools` (or a finished
    :meth:`~relaykit.Client.stream_tools`) did: each step's response and the
    whole conversation.

    ``response`` is the last step's (the answer, when the run finished);
    ``messages`` the conversation: the caller's messages, each assistant turn
    (``ChatResponse.to_message()``: reasoning blocks and signatures go back as
    providers need them) and each tool result; ``steps`` every response, in
    order. ``conversation_id`` is the id every step's record carries.

    ``unfinished`` is the step a streamed run was left in (or broke in) before
    that step ended: what had arrived, with the usage it was most likely billed
    (as its call record has it). It is not among ``steps`` or ``messages`` (a
    run handed back goes on from the last whole step), but ``usage`` and
    ``cost`` count it: the run paid for it.
    """

    response: ChatResponse
    messages: tuple[Message, ...]
    steps: tuple[ChatResponse, ...]
    conversation_id: str
    unfinished: ChatResponse | None = None

    @property
    def text(self) -> str:
        """The answer's text (``response.text``)."""
        return self.response.text

    @property
    def usage(self) -> Usage:
        """The tokens of every step (and of the ``unfinished`` one), added up."""
        total = Usage()
        for step in self._billed():
            total += step.usage
        return total

    @property
    def cost(self) -> Decimal | None:
        """USD for every step (and the ``unfinished`` one), added up; ``None`` when
        a step's cost is unknown."""
        total = Decimal(0)
        for step in self._billed():
            if step.cost is None:
                return None
            total += step.cost
        return total

    @property
    def usage_estimated(self) -> bool:
        """Whether ``usage`` (and so ``cost``) is partly relaykit's estimate: the
        ``unfinished`` step ended before the vendor's counts came
        (:attr:`ChatResponse.usage_estimated`)."""
        return any(step.usage_estimated for step in self._billed())

    def _billed(self) -> tuple[ChatResponse, ...]:
        if self.unfinished is None:
            return self.steps
        return (*self.steps, self.unfinished)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """Every tool call the model made, in order."""
        return tuple(call for step in self.steps for call in step.tool_calls)


@attrs.frozen
class ToolRunPlan:
    """A tool run's arguments, checked: what every step sends, and how tools answer."""

    tools: Mapping[str, FunctionTool]
    #: each step's ``tools``: the functions' Tools (and any CachePoint among them)
    schemas: tuple[Tool | CachePoint | WebSearch | Mapping[str, Any], ...]
    conversation: tuple[Message, ...]
    max_steps: int
    tool_errors: ToolErrors
    #: the caller's other parameters for each step (``max_tokens``, ...)
    params: Mapping[str, Any]
    metadata: Mapping[str, Any]
    tool_choice: Any

    @property
    def conversation_id(self) -> str:
        """The id every step's record carries."""
        return str(self.metadata["conversation_id"])

    def step_params(self, step: int) -> dict[str, Any]:
        """The parameters of step ``step``'s model call."""
        return {
            **self.params,
            "tools": self.schemas,
            # "required" or one named tool, every step, would never let the model
            # answer: it holds for the first step only (as the OpenAI Agents SDK does).
            "tool_choice": self.tool_choice if step == 0 else _after_first(self.tool_choice),
            "metadata": self.metadata,
        }


def plan_tool_run(
    messages: Messages | ToolRun,
    tools: Iterable[Any],
    *,
    max_steps: int,
    tool_errors: ToolErrors,
    params: Mapping[str, Any],
    method: str,
) -> ToolRunPlan:
    """Check a tool run's arguments (``method``: the Client method given them).

    ``messages`` may be a :class:`ToolRun` (a :class:`~relaykit.ToolLoopError`'s,
    a stream left early): the run goes on from its conversation, under its
    ``conversation_id`` unless ``metadata`` names another.
    """
    conversation_id = None
    if isinstance(messages, ToolRun):
        conversation_id = messages.conversation_id
        messages = messages.messages
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise InvalidRequestError(
            f"max_steps must be a whole number of model calls, 1 or more, not {max_steps!r}",
            param="max_steps",
        )
    if tool_errors not in _TOOL_ERRORS:
        raise InvalidRequestError(
            f"tool_errors is {tool_errors!r}",
            param="tool_errors",
            hint=did_you_mean(str(tool_errors), _TOOL_ERRORS, "use 'send' or 'raise'"),
        )
    if "output_retries" in params:
        raise InvalidRequestError(
            f"{method} does not take output_retries: a step that calls tools has no "
            "answer to check",
            param="output_retries",
            hint="catch OutputValidationError and run again, or use chat for the last step",
        )
    by_name, schemas = function_tools(tools)
    params = dict(params)
    given = params.pop("metadata", None)
    if given is not None and not isinstance(given, Mapping):
        raise InvalidRequestError("`metadata` must be a dict", param="metadata")
    choice = params.pop("tool_choice", None)
    return ToolRunPlan(
        by_name,
        tuple(schemas),
        coerce_messages(messages),
        max_steps,
        tool_errors,
        params,
        # The caller's id joins the run to a conversation of theirs (relaykit chat's).
        {"conversation_id": conversation_id or uuid.uuid4().hex, **(given or {})},
        choice,
    )


def _after_first(choice: Any) -> Any:
    """The tool choice for the steps after the first: ``None`` (the model's
    choice) for ``required`` or a named tool, ``choice`` otherwise."""
    if choice is None:
        return None
    if ToolChoice.coerce(choice).mode in ("required", "tool"):
        return None
    return choice
