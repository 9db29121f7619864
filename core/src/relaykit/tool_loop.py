"""The tool loop: call the model, run the tools it asks for, send the results, until it answers.

One implementation, :class:`ToolRunStream`, for both
:meth:`relaykit.Client.stream_tools` (each step a ``client.stream`` call, its
events passed on) and :meth:`relaykit.Client.run_tools` (each step a
``client.chat`` call, the loop's events drained: :func:`run_tools`).

The loop is driven by the caller's iteration, in the caller's task: a step's
stream is entered, read and left there, as ``client.stream`` is. In a
streamed run a step's tools run in a task of their own (in a task group the
``async with`` holds open), so their results can be passed on as each tool
finishes while the others run; they come back over a memory stream, errors
included, and are raised in the caller's task. ``run_tools`` has no one to
pass them to, and awaits the step's tools in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .closing_gate import entered, finishing, left
from .errors import ClientClosedError, OutputValidationError, RelayError, ToolLoopError
from .events import StepEnd, StepStart, StreamEvent, ToolResultEvent, ToolRunEvent
from .messages import Message, ToolCall
from .response import ChatResponse
from .tool_answers import ToolAnswers, ToolErrors
from .tool_runs import ToolRun, ToolRunPlan, plan_tool_run

if TYPE_CHECKING:
    from .client import Client, Messages
    from .stream import ChatStream


@attrs.frozen
class _Answered:
    """A step's tools have all answered: the tool messages, in the calls' order."""

    messages: list[Message]


@attrs.frozen
class _Failed:
    """A step's tools failed (``tool_errors="raise"``, a result that cannot be sent,
    a tool's ``SystemExit``)."""

    error: BaseException


_Outcome = ToolResultEvent | _Answered | _Failed

# What the loop does on the next __anext__.
_START, _CALL, _EVENTS, _ANSWER, _TOOLS, _DONE = range(6)


class ToolRunStream:
    """A streamed tool run: ``async with client.stream_tools(...) as run: async for
    event in run``, then :attr:`run`.

    The events, in order: for each step a :class:`~relaykit.StepStart`, the
    step's own stream events (exactly what ``client.stream`` yields: text,
    reasoning and tool call deltas, usage, ...), a :class:`~relaykit.StepEnd`
    with the step's response; then, if it called tools, a
    :class:`~relaykit.ToolResultEvent` as each tool finishes. Each step's
    retries and fallbacks happen before its first event, as ``client.stream``'s
    do. Errors are raised by the iteration: a step's, the
    :class:`~relaykit.ToolLoopError` after ``max_steps``, a tool's with
    ``tool_errors="raise"``.

    Leaving the block early (a ``break``, an exception, a cancellation) closes
    the step's stream, as leaving ``client.stream`` does, and cancels the
    tools still running (a sync tool's thread is waited for: it cannot be
    interrupted).
    """

    def __init__(
        self,
        client: Client,
        model: str,
        plan: ToolRunPlan,
        scrub_known: Callable[[str], str],
        *,
        streamed: bool,
    ) -> None:
        self._client = client
        self._model = model
        self._plan = plan
        self._streamed = streamed
        method = "stream_tools" if streamed else "run_tools"
        self._answers = ToolAnswers(
            plan.tools, plan.tool_errors, scrub_known, method, client._tracer
        )
        self._conversation = list(plan.conversation)
        self._steps: list[ChatResponse] = []
        self._phase = _START
        self._group: TaskGroup | None = None
        self._stream: ChatStream | None = None
        self._outcomes: MemoryObjectReceiveStream[_Outcome] | None = None
        self._run: ToolRun | None = None
        #: the step's stream once it was left or broke before its end (what it billed)
        self._unfinished: ChatResponse | None = None
        self._entered = False
        #: counted in the client's calls in flight (from __aenter__ to __aexit__)
        self._counted = False

    async def __aenter__(self) -> ToolRunStream:
        client = self._client
        if client._closed and client._refuses_calls():
            raise ClientClosedError("this client is closed")
        if self._entered:
            raise RelayError("a tool run can be entered once")
        self._entered = True
        if self._streamed:
            group = anyio.create_task_group()
            await group.__aenter__()
            self._group = group
        # In flight until the block is left, steps and tools between them: the
        # client's aclose waits for it, and lets its steps through meanwhile.
        client._in_flight += 1
        self._counted = True
        client._runs.add(self)
        entered(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        left(self)
        self._phase = _DONE
        try:
            stream, self._stream = self._stream, None
            if stream is not None:
                # A step left mid-stream is recorded as leaving client.stream is.
                await stream.__aexit__(exc_type, exc, tb)
                self._unfinished = stream.response  # with what it was likely billed
        finally:
            try:
                group, self._group = self._group, None
                if group is not None:
                    group.cancel_scope.cancel()  # the tools still running, if left early
                    # Not given the caller's exception: a task group would wrap it in
                    # an ExceptionGroup. It propagates unchanged once this returns.
                    await group.__aexit__(None, None, None)
            finally:
                # After the tools have ended: one finishing meanwhile still sends.
                self._close_outcomes()
                if self._counted:
                    self._counted = False
                    client = self._client
                    client._runs.discard(self)
                    client._excused.discard(self)
                    client._call_ended()

    def __aiter__(self) -> ToolRunStream:
        return self

    async def __anext__(self) -> StreamEvent | ToolRunEvent:
        if not self._entered:
            raise RelayError("iterate a tool run inside `async with client.stream_tools(...)`")
        try:
            with finishing(self._client):  # its steps go ahead while the client closes
                return await self._advance()
        except StopAsyncIteration:
            raise
        except BaseException:
            self._phase = _DONE
            raise

    async def _advance(self) -> StreamEvent | ToolRunEvent:
        plan = self._plan
        while True:
            phase = self._phase
            if phase == _EVENTS:
                return await self._stream_event()
            if phase == _TOOLS:
                assert self._outcomes is not None
                outcome = await self._outcomes.receive()
                if isinstance(outcome, ToolResultEvent):
                    return outcome
                self._close_outcomes()
                if isinstance(outcome, _Failed):
                    raise outcome.error
                self._conversation += outcome.messages
                self._phase = _CALL
                return StepStart(len(self._steps))
            if phase == _CALL:
                step = len(self._steps)
                params = plan.step_params(step)
                if not self._streamed:
                    return self._step_ended(
                        await _chat_step(self._client, self._model, self._conversation, params)
                    )
                stream = self._client.stream(self._model, self._conversation, **params)
                await stream.__aenter__()
                self._stream = stream
                self._phase = _EVENTS
                continue
            if phase == _ANSWER:
                last = self._steps[-1]
                if len(self._steps) >= plan.max_steps:
                    asked = ", ".join(call.name for call in last.tool_calls)
                    raise ToolLoopError(
                        f"the model still called tools ({asked}) after "
                        f"max_steps={plan.max_steps} steps",
                        run=self.run,
                        provider=last.provider,
                        model=last.model,
                    )
                if not self._streamed:
                    return await self._answered(last.tool_calls)
                self._start_tools(last.tool_calls)
                continue
            if phase == _START:
                turn = self._conversation[-1]
                if turn.role == "assistant" and turn.tool_calls:
                    # A run that stopped (at max_steps, say), handed back: its calls
                    # are run first.
                    if not self._streamed:
                        return await self._answered(turn.tool_calls)
                    self._start_tools(turn.tool_calls)
                    continue
                self._phase = _CALL
                return StepStart(0)
            raise StopAsyncIteration

    async def _stream_event(self) -> StreamEvent | ToolRunEvent:
        """The step's next stream event, or its :class:`StepEnd` once it has ended."""
        stream = self._stream
        assert stream is not None
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            response = stream.response
        except OutputValidationError as error:
            # response_format=SomeClass: a step that calls tools has no answer to
            # parse yet; the run goes on, and the last step's answer is parsed.
            if not error.response.tool_calls:
                raise
            response = error.response
        except RelayError:
            # The stream broke and has ended (recorded, limits settled): what
            # it billed is the run's too, readable before the block is left.
            self._unfinished = stream.response
            raise
        self._stream = None
        return self._step_ended(response)

    def _step_ended(self, response: ChatResponse) -> StepEnd:
        self._steps.append(response)
        self._conversation.append(response.to_message())
        if response.tool_calls:
            self._phase = _ANSWER
        else:
            self._phase = _DONE
            self._run = self._so_far()
        return StepEnd(len(self._steps) - 1, response)

    async def _answered(self, calls: Sequence[ToolCall]) -> StepStart:
        """Run ``calls`` here, the results passed on by no one (run_tools): no
        task and no stream between them and the loop."""
        self._conversation += await self._answers.answer(calls)
        self._phase = _CALL
        return StepStart(len(self._steps))

    def _start_tools(self, calls: Sequence[ToolCall]) -> None:
        assert self._group is not None
        # Room for every result and the outcome: the tools never wait for the caller.
        send, receive = anyio.create_memory_object_stream[_Outcome](len(calls) + 1)
        self._outcomes = receive
        self._phase = _TOOLS
        self._group.start_soon(self._run_tools, calls, send)

    async def _run_tools(
        self, calls: Sequence[ToolCall], send: MemoryObjectSendStream[_Outcome]
    ) -> None:
        with send, finishing(self._client):  # (a tool's own calls, too)
            try:
                messages = await self._answers.answer(calls, send.send_nowait)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as error:  # raised in the caller's task, by __anext__
                # (SystemExit too: let out of the group, it would come wrapped)
                send.send_nowait(_Failed(error))
            else:
                send.send_nowait(_Answered(messages))

    def _close_outcomes(self) -> None:
        outcomes, self._outcomes = self._outcomes, None
        if outcomes is not None:
            outcomes.close()

    def _so_far(self) -> ToolRun:
        return ToolRun(
            self._steps[-1],
            tuple(self._conversation),
            tuple(self._steps),
            self._plan.conversation_id,
            self._unfinished,
        )

    @property
    def conversation_id(self) -> str:
        """The id every step's record carries (the caller's ``metadata`` one, or a new one)."""
        return self._plan.conversation_id

    @property
    def run(self) -> ToolRun:
        """The :class:`~relaykit.ToolRun`, as ``run_tools`` returns it.

        Before the run has finished (left early, or failed), the run so far:
        the steps that ended, and the conversation up to the last whole turn,
        which can be handed to ``run_tools`` or ``stream_tools`` to go on (calls
        whose results had not all come are run again). Before any step has
        ended there is none: :class:`~relaykit.RelayError`.
        """
        if self._run is not None:
            return self._run
        if not self._steps:
            if self._unfinished is not None:
                raise RelayError(
                    "the tool run has no step yet: its first step was left before it "
                    "ended (its call record holds what that step billed)"
                )
            raise RelayError("the tool run has no step yet: read it after iterating")
        return self._so_far()


async def _chat_step(
    client: Client, model: str, conversation: Sequence[Message], params: dict[str, Any]
) -> ChatResponse:
    try:
        return await client.chat(model, conversation, **params)
    except OutputValidationError as error:
        # As _stream_event: a step that calls tools has no answer to parse yet.
        if error.response.tool_calls:
            return error.response
        raise


async def run_tools(
    client: Client,
    model: str,
    messages: Messages | ToolRun,
    tools: Iterable[Any],
    *,
    max_steps: int,
    tool_errors: ToolErrors,
    params: dict[str, Any],
    scrub_known: Callable[[str], str],
) -> ToolRun:
    """:meth:`relaykit.Client.run_tools`: the loop, its steps whole chat calls, drained."""
    plan = plan_tool_run(
        messages,
        tools,
        max_steps=max_steps,
        tool_errors=tool_errors,
        params=params,
        method="run_tools",
    )
    loop = ToolRunStream(client, model, plan, scrub_known, streamed=False)
    async with loop:
        async for _ in loop:
            pass
    return loop.run
