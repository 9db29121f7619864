"""The tool loop: call the model, run the tools it asks for, send the results, until it answers.

:meth:`relaykit.Client.run_tools` is :func:`run_tools` on the client. Each
step is one :meth:`~relaykit.Client.chat` call, so routing, retries,
fallbacks, limits, caching, redaction, logs and traces apply to each step as
to any call; every step carries the run's ``conversation_id`` in its
metadata, so ``relaykit logs --conversation ID`` shows the run together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.lowlevel
import attrs

from .errors import InvalidRequestError, OutputValidationError, ToolLoopError, did_you_mean
from .function_tools import FunctionTool, function_tools, result_content
from .messages import Message, ToolCall, coerce_messages
from .request import ToolChoice
from .response import ChatResponse, Usage
from .secrets import scrub

if TYPE_CHECKING:
    from .client import Client, Messages

ToolErrors = Literal["send", "raise"]
_TOOL_ERRORS: tuple[ToolErrors, ...] = ("send", "raise")


@attrs.frozen
class ToolRun:
    """What :meth:`relaykit.Client.run_tools` did: each step's response and the
    whole conversation.

    ``response`` is the last step's (the answer, when the run finished);
    ``messages`` the conversation: the caller's messages, each assistant turn
    (``ChatResponse.to_message()``: reasoning blocks and signatures go back as
    providers need them) and each tool result; ``steps`` every response, in
    order. ``conversation_id`` is the id every step's record carries.
    """

    response: ChatResponse
    messages: tuple[Message, ...]
    steps: tuple[ChatResponse, ...]
    conversation_id: str

    @property
    def text(self) -> str:
        """The answer's text (``response.text``)."""
        return self.response.text

    @property
    def usage(self) -> Usage:
        """The tokens of every step, added up."""
        total = Usage()
        for step in self.steps:
            total += step.usage
        return total

    @property
    def cost(self) -> Decimal | None:
        """USD for every step, added up; ``None`` when a step's cost is unknown."""
        total = Decimal(0)
        for step in self.steps:
            if step.cost is None:
                return None
            total += step.cost
        return total

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """Every tool call the model made, in order."""
        return tuple(call for step in self.steps for call in step.tool_calls)


async def run_tools(
    client: Client,
    model: str,
    messages: Messages,
    tools: Iterable[Any],
    *,
    max_steps: int,
    tool_errors: ToolErrors,
    params: Mapping[str, Any],
    scrub_known: Callable[[str], str],
) -> ToolRun:
    """The loop behind :meth:`relaykit.Client.run_tools` (see its docstring)."""
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
            "run_tools does not take output_retries: a step that calls tools has no "
            "answer to check",
            param="output_retries",
            hint="catch OutputValidationError and run again, or use chat for the last step",
        )
    by_name, schemas = function_tools(tools)
    params = dict(params)
    given = params.pop("metadata", None)
    if given is not None and not isinstance(given, Mapping):
        raise InvalidRequestError("`metadata` must be a dict", param="metadata")
    # The caller's id joins the run to a conversation of theirs (relaykit chat's).
    metadata = {"conversation_id": uuid.uuid4().hex, **(given or {})}
    conversation_id = str(metadata["conversation_id"])
    choice = params.pop("tool_choice", None)
    conversation = list(coerce_messages(messages))
    runner = _Runner(by_name, tool_errors, scrub_known)
    last = conversation[-1]
    if last.role == "assistant" and last.tool_calls:
        # A run that stopped at max_steps, handed back: its calls are run first.
        conversation += await runner.answer(last.tool_calls)
    steps: list[ChatResponse] = []
    for step in range(max_steps):
        response = await _step(
            client,
            model,
            conversation,
            tools=schemas,
            # "required" or one named tool, every step, would never let the model
            # answer: it holds for the first step only (as the OpenAI Agents SDK does).
            tool_choice=choice if step == 0 else _after_first(choice),
            metadata=metadata,
            **params,
        )
        steps.append(response)
        conversation.append(response.to_message())
        if not response.tool_calls:
            return ToolRun(response, tuple(conversation), tuple(steps), conversation_id)
        if step + 1 < max_steps:
            conversation += await runner.answer(response.tool_calls)
    run = ToolRun(steps[-1], tuple(conversation), tuple(steps), conversation_id)
    asked = ", ".join(call.name for call in steps[-1].tool_calls)
    raise ToolLoopError(
        f"the model still called tools ({asked}) after max_steps={max_steps} steps",
        run=run,
        provider=steps[-1].provider,
        model=steps[-1].model,
    )


async def _step(
    client: Client, model: str, conversation: Sequence[Message], **params: Any
) -> ChatResponse:
    try:
        return await client.chat(model, conversation, **params)
    except OutputValidationError as error:
        # response_format=SomeClass: a step that calls tools has no answer to
        # parse yet; the run goes on, and the last step's answer is parsed.
        if error.response.tool_calls:
            return error.response
        raise


def _after_first(choice: Any) -> Any:
    """The tool choice for the steps after the first: ``None`` (the model's
    choice) for ``required`` or a named tool, ``choice`` otherwise."""
    if choice is None:
        return None
    if ToolChoice.coerce(choice).mode in ("required", "tool"):
        return None
    return choice


class _Runner:
    """Runs one step's tool calls concurrently; each answer is a tool message."""

    def __init__(
        self,
        tools: Mapping[str, FunctionTool],
        tool_errors: ToolErrors,
        scrub_known: Callable[[str], str],
    ) -> None:
        self._tools = tools
        self._raise = tool_errors == "raise"
        self._scrub = scrub_known

    async def answer(self, calls: Sequence[ToolCall]) -> list[Message]:
        """The tool messages answering ``calls``, in the calls' order.

        An exception a tool raises becomes an error result, or with
        ``tool_errors="raise"`` cancels the step's other tools and propagates.
        """
        answers: list[Message | None] = [None] * len(calls)
        raised: list[BaseException] = []
        async with anyio.create_task_group() as group:
            for i, call in enumerate(calls):
                group.start_soon(self._answer_one, call, i, answers, raised, group.cancel_scope)
        if raised:
            raise raised[0]
        # A run cancelled while a sync tool's thread ran learns it here, not after
        # one more model call (a call answered without a checkpoint, from a cache,
        # would not notice).
        await anyio.lowlevel.checkpoint_if_cancelled()
        return [answer for answer in answers if answer is not None]

    async def _answer_one(
        self,
        call: ToolCall,
        i: int,
        answers: list[Message | None],
        raised: list[BaseException],
        scope: anyio.CancelScope,
    ) -> None:
        tool = self._tools.get(call.name)
        if tool is None:
            names = ", ".join(self._tools)
            answers[i] = self._error(
                call, f"there is no tool named {call.name!r}; the tools are: {names}"
            )
            return
        if call.raw_arguments is not None:
            answers[i] = self._error(
                call, f"the arguments are not a JSON object: {call.raw_arguments[:200]!r}"
            )
            return
        try:
            args, kwargs = tool.arguments(call.arguments)
        except InvalidRequestError as error:
            answers[i] = self._error(call, str(error))
            return
        try:
            value = await tool.invoke(args, kwargs)
        except Exception as error:  # a tool's failure is the model's to hear
            self._failed(call, error, i, answers, raised, scope)
            return
        try:
            text, attachments = result_content(value, tool.name)
        except InvalidRequestError as error:  # the caller's to fix: the model cannot
            raised.append(error)
            scope.cancel()
            return
        answers[i] = Message.tool(call.id, text, *attachments)

    def _failed(
        self,
        call: ToolCall,
        error: Exception,
        i: int,
        answers: list[Message | None],
        raised: list[BaseException],
        scope: anyio.CancelScope,
    ) -> None:
        if self._raise:
            error.add_note(f"raised by tool {call.name} (call {call.id}) in relaykit run_tools")
            raised.append(error)
            scope.cancel()  # the step's other tools are not waited for
        else:
            answers[i] = self._error(call, f"{type(error).__name__}: {error}")

    def _error(self, call: ToolCall, text: str) -> Message:
        return Message.tool(call.id, self._scrub(scrub(text)), is_error=True)
