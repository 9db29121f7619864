"""Client.stream_tools: the tool loop streamed, on the fake provider and through the
OpenAI plugin to its loopback mock's streaming wire format."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import (
    Finish,
    InvalidRequestError,
    Message,
    RelayError,
    StepEnd,
    StepStart,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolLoopError,
    ToolResultEvent,
    UsageUpdate,
)
from relaykit.testing import FakePlugin, RecordingExporter, Reply

CONFIG: dict[str, Any] = {"storage": {"backend": "none"}}


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"{city}: sunny"


async def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


async def events_of(stream: relaykit.ToolRunStream) -> list[Any]:
    return [event async for event in stream]


@pytest.mark.anyio
async def test_each_steps_stream_events_then_its_end_then_each_tools_result() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(
        Reply(text="Checking.", tool_calls=(("get_weather", {"city": "Paris"}),)),
        Reply(text="Sunny."),
    )
    async with relaykit.Client(CONFIG, plugins=[fake, exporter]) as client:
        async with client.stream_tools("fake/m", "Paris?", [get_weather]) as stream:
            events = await events_of(stream)
        run = stream.run
    call = ToolCall("call_0", "get_weather", {"city": "Paris"})
    assert [type(e) for e in events] == [
        StepStart,
        *(StreamStart, TextDelta, TextDelta, ToolCallDelta, UsageUpdate, Finish),
        StepEnd,
        ToolResultEvent,
        StepStart,
        *(StreamStart, TextDelta, UsageUpdate, Finish),
        StepEnd,
    ]
    first_end, result, second_start, second_end = events[7:10] + events[-1:]
    assert (events[0], second_start) == (StepStart(0), StepStart(1))
    assert first_end == StepEnd(0, run.steps[0]) and second_end == StepEnd(1, run.steps[1])
    assert result == ToolResultEvent(call, "Paris: sunny")
    # what run_tools returns, each step a streamed call
    assert run.text == "Sunny." and run.response is run.steps[-1]
    assert run.messages == (
        Message.user("Paris?"),
        Message.assistant("Checking.", [call]),
        Message.tool("call_0", "Paris: sunny"),
        Message.assistant("Sunny."),
    )
    assert [r.streamed for r in exporter.records] == [True, True]
    assert fake.calls[1].messages == run.messages[:3]


@pytest.mark.anyio
async def test_an_answer_without_tools_is_one_step() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="Hi."))
    async with (
        relaykit.Client(CONFIG, plugins=[fake]) as client,
        client.stream_tools("fake/m", "hi", [add]) as stream,
    ):
        events = await events_of(stream)
    assert events[0] == StepStart(0) and events[-1] == StepEnd(0, stream.run.response)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hi."
    assert len(stream.run.steps) == 1


@pytest.mark.anyio
async def test_a_tools_result_comes_while_the_steps_other_tools_still_run() -> None:
    broken_seen = anyio.Event()

    async def slow(n: int) -> int:
        await broken_seen.wait()  # returns only once the caller has broken's result
        return n

    def broken(n: int) -> int:
        raise RuntimeError(f"sensor {n} is offline")

    fake = FakePlugin()
    fake.script.push(
        Reply(tool_calls=(("slow", {"n": 1}), ("broken", {"n": 2}), ("nope", {}))),
        Reply(text="done"),
    )
    results = []
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with anyio.fail_after(5):
            async with client.stream_tools("fake/m", "go", [slow, broken]) as stream:
                async for event in stream:
                    if isinstance(event, ToolResultEvent):
                        results.append((event.call.id, event.content, event.is_error))
                        if event.call.name == "broken":
                            broken_seen.set()
    # in the order they finished (the unknown tool's at once), sent back in the calls'
    assert sorted(results[:2]) == [
        ("call_1", "RuntimeError: sensor 2 is offline", True),
        ("call_2", "there is no tool named 'nope'; the tools are: slow, broken", True),
    ]
    assert results[2] == ("call_0", "1", False)
    sent = [m.content[0] for m in fake.calls[1].messages if m.role == "tool"]
    assert [p.tool_call_id for p in sent] == ["call_0", "call_1", "call_2"]  # type: ignore[union-attr]
    assert stream.run.text == "done"


@pytest.mark.anyio
async def test_a_tools_error_raised_comes_out_of_the_iteration_and_cancels_the_others() -> None:
    cancelled = []

    async def hang() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(True)

    async def fail() -> None:
        raise ValueError("broken")

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("hang", {}), ("fail", {}))))
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with anyio.fail_after(5), pytest.raises(ValueError, match="broken") as caught:
            async with client.stream_tools("fake/m", "go", [hang, fail], tool_errors="raise") as s:
                await events_of(s)
    assert cancelled == [True] and len(fake.calls) == 1
    assert caught.value.__notes__ == ["raised by tool fail (call call_1) in relaykit stream_tools"]


@pytest.mark.anyio
async def test_a_tools_sys_exit_comes_out_of_the_iteration_as_itself() -> None:
    # Before, it left the run's task group wrapped in a BaseExceptionGroup.
    def quit_now() -> None:
        """Quit the program."""
        sys.exit(3)

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("quit_now", {}),)))
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with anyio.fail_after(5), pytest.raises(SystemExit) as caught:
            async with client.stream_tools("fake/m", "go", [quit_now]) as s:
                await events_of(s)
        assert caught.value.code == 3
        assert (await client.chat("fake/m", "after")).text == "echo: after"
    assert len(fake.calls) == 2


@pytest.mark.anyio
async def test_max_steps_raises_after_the_last_steps_end_and_a_stopped_run_goes_on() -> None:
    fake = FakePlugin()
    fake.script.push(*(Reply(tool_calls=(("add", {"a": i, "b": 1}),)) for i in range(2)))
    seen: list[Any] = []
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with pytest.raises(ToolLoopError) as caught:
            async with client.stream_tools("fake/m", "count", [add], max_steps=2) as stream:
                async for event in stream:
                    seen.append(event)
        partial = caught.value.run
        assert seen[-1] == StepEnd(1, partial.steps[1])  # its calls are not run
        assert stream.run == partial and partial.messages[-1].tool_calls

        # handed back, the calls left are run first, before the first step
        fake.script.push(Reply(text="2"))
        async with client.stream_tools("fake/m", partial.messages, [add]) as stream:
            events = await events_of(stream)
    assert events[:2] == [ToolResultEvent(partial.tool_calls[-1], "2"), StepStart(0)]
    assert stream.run.text == "2"


@pytest.mark.anyio
async def test_leaving_while_tools_run_cancels_them() -> None:
    ended = []

    async def wait() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            ended.append("cancelled")

    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(Reply(tool_calls=(("wait", {}), ("add", {"a": 1, "b": 1}))))
    async with relaykit.Client(CONFIG, plugins=[fake, exporter]) as client:
        with anyio.fail_after(5):
            async with client.stream_tools("fake/m", "go", [wait, add]) as stream:
                async for event in stream:
                    if isinstance(event, ToolResultEvent):
                        break
        assert ended == ["cancelled"]
        # the run so far ends with the calls, to be run again when it goes on
        assert stream.run.messages[-1].tool_calls == stream.run.steps[0].tool_calls
        assert [r.ok for r in exporter.records] == [True]


@pytest.mark.anyio
async def test_leaving_mid_step_closes_its_stream_as_leaving_client_stream_does() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(*[Reply(text="a long answer " * 20, chunk_delay=0.01)] * 2)
    async with relaykit.Client(CONFIG, plugins=[fake, exporter]) as client:
        async with client.stream_tools("fake/m", "go", [add]) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    break
        with pytest.raises(RelayError, match="no step yet"):
            stream.run  # noqa: B018
        with anyio.CancelScope() as scope:
            async with client.stream_tools("fake/m", "go", [add]) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        scope.cancel()
        assert scope.cancelled_caught
    left, cancelled = exporter.records
    assert left.ok and left.finish_reason == "other"  # the caller's choice
    assert cancelled.error_type == "Cancelled"


@pytest.mark.anyio
async def test_a_step_left_mid_stream_counts_in_the_runs_usage_as_its_record_does() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(
        Reply(tool_calls=(("add", {"a": 1, "b": 2}),), input_tokens=10, output_tokens=5),
        Reply(text="a long answer " * 20, chunk_delay=0.01),
    )
    async with (
        relaykit.Client(CONFIG, plugins=[fake, exporter]) as client,
        client.stream_tools("fake/m", "go", [add]) as stream,
    ):
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    run = stream.run
    whole, left = exporter.records
    assert [step.usage for step in run.steps] == [whole.usage]
    assert isinstance(event, TextDelta)
    assert run.unfinished is not None and run.unfinished.text == event.text
    # the left step's record charges an estimate; the run counts the same
    assert left.usage_estimated and left.usage.output_tokens > 0
    assert run.unfinished.usage == left.usage
    assert run.usage == whole.usage + left.usage and run.usage_estimated
    assert run.messages[-1].role == "tool"  # it goes on from the last whole step


@pytest.mark.anyio
async def test_a_step_whose_stream_broke_counts_in_the_run_before_the_block_is_left() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(
        Reply(tool_calls=(("add", {"a": 1, "b": 2}),), input_tokens=10, output_tokens=5),
        Reply(text="a long answer " * 20, stream_fault="drop"),
    )
    async with relaykit.Client(CONFIG, plugins=[fake, exporter]) as client:
        async with client.stream_tools("fake/m", "go", [add]) as stream:
            with pytest.raises(relaykit.StreamError):
                async for _ in stream:
                    pass
            run = stream.run
            assert run.unfinished is not None and run.unfinished.text
            assert run.usage == run.steps[0].usage + run.unfinished.usage
        assert stream.run == run
    whole, broken = exporter.records
    assert whole.ok and not broken.ok and run.unfinished.usage == broken.usage


def test_a_finished_runs_usage_is_its_steps() -> None:
    steps = (
        relaykit.ChatResponse(text="", usage=relaykit.Usage(3, 4)),
        relaykit.ChatResponse(text="ok", usage=relaykit.Usage(5, 6)),
    )
    run = relaykit.ToolRun(steps[-1], (), steps, "c")
    assert run.unfinished is None and run.usage == relaykit.Usage(8, 10)
    assert not run.usage_estimated


@dataclasses.dataclass
class Sum:
    total: int


@pytest.mark.anyio
async def test_structured_output_parses_the_last_steps_answer() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("add", {"a": 1, "b": 2}),)), Reply(text='{"total": 3}'))
    async with (
        relaykit.Client(CONFIG, plugins=[fake]) as client,
        client.stream_tools("fake/m", "1+2?", [add], response_format=Sum) as s,
    ):
        await events_of(s)
    assert s.run.response.parsed == Sum(3) and s.run.steps[0].parsed is None


@pytest.mark.anyio
async def test_bad_arguments_are_refused_before_the_run_is_entered() -> None:
    async with relaykit.Client(CONFIG, plugins=[FakePlugin()]) as client:
        with pytest.raises(InvalidRequestError, match="stream_tools does not take output_retries"):
            client.stream_tools("fake/m", "hi", [add], output_retries=1)
        with pytest.raises(RelayError, match=r"inside `async with client\.stream_tools"):
            await client.stream_tools("fake/m", "hi", [add]).__anext__()


def test_sync_client_streams_tools() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("add", {"a": 2, "b": 2}),)), Reply(text="4"))
    with (
        relaykit.SyncClient(CONFIG, plugins=[fake]) as client,
        client.stream_tools("fake/m", "2+2?", [add]) as stream,
    ):
        events = list(stream)
    assert [e for e in events if isinstance(e, StepStart | ToolResultEvent)] == [
        StepStart(0),
        ToolResultEvent(ToolCall("call_0", "add", {"a": 2, "b": 2}), "4"),
        StepStart(1),
    ]
    assert stream.run.text == "4" and stream.conversation_id == stream.run.conversation_id


# -- through a real plugin, to its vendor's wire format ------------------------------------

KEY = "sk-tools-0123456789abcdef"


@pytest.mark.anyio
async def test_openai_streams_each_step_and_retries_a_step_before_its_first_event() -> None:
    from relaykit.testing import OpenAIMock

    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(
            Reply(tool_calls=(("get_weather", {"city": "Paris"}), ("add", {"a": 1, "b": 2}))),
            Reply.failure(503),  # the second step's first attempt
            Reply(text="Sunny in Paris; 3."),
        )
        config = {
            **CONFIG,
            "retry": {"initial_wait": 0.01},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        }
        async with (
            relaykit.Client(config) as client,
            client.stream_tools("openai/gpt-4o-mini", "Paris, 1+2?", [get_weather, add]) as stream,
        ):
            events = await events_of(stream)
        first, _, second = (r.json() for r in mock.requests)
    run = stream.run
    calls = run.steps[0].tool_calls
    assert [c.name for c in calls] == ["get_weather", "add"]
    assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta)) == (
        '{"city": "Paris"}{"a": 1, "b": 2}'
    )
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Sunny in Paris; 3."
    assert run.steps[1].attempts == 2 and events.count(StepStart(1)) == 1
    assert first["stream"] and second["stream"]
    assert second["messages"][2:] == [
        {"role": "tool", "tool_call_id": calls[0].id, "content": "Paris: sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "3"},
    ]
