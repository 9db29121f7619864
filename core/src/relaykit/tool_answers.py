"""Running one step's tool calls: concurrently, each answer a tool message, in the calls' order.

Used by the tool loop (:mod:`relaykit.tool_loop`) for both
:meth:`relaykit.Client.run_tools` and :meth:`relaykit.Client.stream_tools`;
``on_result`` hears each answer as its tool finishes, which is what a streamed
run shows while the step's slower tools are still running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.lowlevel

from .errors import InvalidRequestError
from .events import ToolResultEvent
from .function_tools import FunctionTool, result_content
from .messages import Message, ToolCall, ToolResultPart
from .secrets import cut_short, scrub

if TYPE_CHECKING:
    from .tracing import CallTracer

ToolErrors = Literal["send", "raise"]

#: a tool's message (None: the step failed, see ``raised``), and when it failed, the
#: span's ``error.type`` and what the message says (or would: a raised error's text)
_Outcome = tuple[Message | None, str | None, str | None]

#: how many of a step's sync tools run at once, each in a worker thread (as many
#: as anyio's default limiter has, which a step's tools used to share with the
#: whole event loop)
TOOL_THREADS = 40


class ToolAnswers:
    """Runs one step's tool calls concurrently; each answer is a tool message."""

    def __init__(
        self,
        tools: Mapping[str, FunctionTool],
        tool_errors: ToolErrors,
        scrub_known: Callable[[str], str],
        method: str = "run_tools",
        tracer: CallTracer | None = None,
    ) -> None:
        self._tools = tools
        self._tracer = tracer  # each tool run an execute_tool span, when tracing
        self._method = method  # which Client method, for the note on a raised error
        self._raise = tool_errors == "raise"
        self._scrub = scrub_known

    async def answer(
        self,
        calls: Sequence[ToolCall],
        on_result: Callable[[ToolResultEvent], None] | None = None,
    ) -> list[Message]:
        """The tool messages answering ``calls``, in the calls' order; ``on_result``
        is told of each as its tool finishes.

        An exception a tool raises becomes an error result, or with
        ``tool_errors="raise"`` cancels the step's other tools and propagates;
        a ``BaseException`` that is not an ``Exception`` (``SystemExit``) always
        propagates, as itself.
        """
        answers: list[Message | None] = [None] * len(calls)
        raised: list[BaseException] = []
        # The step's sync tools' threads, its own (FunctionTool.invoke says why):
        # a nested run (a tool's) gets its own in turn, so none waits on another's.
        threads = anyio.CapacityLimiter(TOOL_THREADS)
        async with anyio.create_task_group() as group:
            for i, call in enumerate(calls):
                group.start_soon(
                    self._answer_one,
                    call,
                    i,
                    answers,
                    raised,
                    group.cancel_scope,
                    on_result,
                    threads,
                )
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
        on_result: Callable[[ToolResultEvent], None] | None,
        threads: anyio.CapacityLimiter,
    ) -> None:
        answer = await self._answer(call, raised, scope, threads)
        if answer is None:
            return
        answers[i] = answer
        if on_result is not None:
            [part] = answer.content
            assert isinstance(part, ToolResultPart)
            on_result(
                ToolResultEvent(call, part.content, part.is_error, attachments=part.attachments)
            )

    async def _answer(
        self,
        call: ToolCall,
        raised: list[BaseException],
        scope: anyio.CancelScope,
        threads: anyio.CapacityLimiter,
    ) -> Message | None:
        """``call``'s tool message, or ``None`` when the step fails (``raised``)."""
        tracer = self._tracer
        if tracer is None:
            return (await self._outcome(call, raised, scope, threads))[0]
        tool = self._tools.get(call.name)
        span = tracer.start_tool(call, tool.tool.description if tool is not None else None)
        with tracer.tool_context(span):
            answer, error_type, text = await self._outcome(call, raised, scope, threads)
        if answer is not None:
            [part] = answer.content
            assert isinstance(part, ToolResultPart)
            text = part.content
        tracer.end_tool(span, text, error_type)
        return answer

    async def _outcome(
        self,
        call: ToolCall,
        raised: list[BaseException],
        scope: anyio.CancelScope,
        threads: anyio.CapacityLimiter,
    ) -> _Outcome:
        tool = self._tools.get(call.name)
        if tool is None:
            names = ", ".join(self._tools)
            text = f"there is no tool named {call.name!r}; the tools are: {names}"
            return self._error(call, text), "ToolNotFound", None
        if call.raw_arguments is not None:
            text = f"the arguments are not a JSON object: {cut_short(call.raw_arguments, 200)!r}"
            return self._error(call, text), "InvalidArguments", None
        try:
            args, kwargs = tool.arguments(call.arguments)
        except InvalidRequestError as error:
            return self._error(call, str(error)), "InvalidArguments", None
        try:
            value = await tool.invoke(args, kwargs, threads=threads)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as error:
            if isinstance(error, Exception) and not self._raise:
                # a tool's failure is the model's to hear
                text = f"{type(error).__name__}: {error}"
                return self._error(call, text), type(error).__name__, None
            # Raised (SystemExit too, never the model's), as itself: let out of
            # the task group, it would come wrapped in a BaseExceptionGroup.
            error.add_note(
                f"raised by tool {call.name} (call {call.id}) in relaykit {self._method}"
            )
            raised.append(error)
            scope.cancel()  # the step's other tools are not waited for
            return None, type(error).__name__, self._failure(error)
        try:
            text, attachments = result_content(value, tool.name)
        except InvalidRequestError as error:  # the caller's to fix: the model cannot
            raised.append(error)
            scope.cancel()
            return None, type(error).__name__, self._failure(error)
        return Message.tool(call.id, text, *attachments), None, None

    def _error(self, call: ToolCall, text: str) -> Message:
        return Message.tool(call.id, self._failure_text(text), is_error=True)

    def _failure(self, error: BaseException) -> str:
        """A raised error as its span's status says it (no note: the span says which)."""
        return self._failure_text(f"{type(error).__name__}: {error}")

    def _failure_text(self, text: str) -> str:
        return self._scrub(scrub(text))
