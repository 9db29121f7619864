"""Client.run_tools: the call -> run the tools -> answer loop, on the fake provider,
and through the OpenAI and Anthropic plugins to their loopback mocks' wire format."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from decimal import Decimal
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import attrs
import pytest

import relaykit
from relaykit import (
    ChatResponse,
    FunctionTool,
    InvalidRequestError,
    Message,
    ToolCall,
    ToolLoopError,
    ToolResultPart,
    ToolRun,
    Usage,
)
from relaykit.testing import FakePlugin, RecordingExporter, Reply, cancel_in_flight

CONFIG: dict[str, Any] = {"storage": {"backend": "none"}}


def get_weather(city: str) -> str:
    """Current weather in a city.

    :param city: the city's name
    """
    return f"{city}: sunny"


async def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def results(run: ToolRun) -> list[ToolResultPart]:
    return [p for m in run.messages if m.role == "tool" for p in m.content]  # type: ignore[misc]


def script(fake: FakePlugin, *steps: tuple[tuple[str, dict[str, Any]], ...], answer: str) -> None:
    fake.script.push(*(Reply(tool_calls=calls) for calls in steps), Reply(text=answer))


@pytest.mark.anyio
async def test_one_tool_then_the_answer() -> None:
    fake = FakePlugin()
    script(fake, (("get_weather", {"city": "Paris"}),), answer="Sunny in Paris.")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        question = Message.user("Weather in Paris?")
        run = await client.run_tools("fake/m", [question], [get_weather], max_tokens=50)
    assert run.text == "Sunny in Paris." and run.response is run.steps[-1]
    assert len(run.steps) == 2
    call = ToolCall("call_0", "get_weather", {"city": "Paris"})
    assert run.messages == (
        question,
        Message.assistant("", [call]),
        Message.tool("call_0", "Paris: sunny"),
        Message.assistant("Sunny in Paris."),
    )
    first, second = fake.calls
    assert first.tools == (FunctionTool.from_function(get_weather).tool,)
    assert first.max_tokens == second.max_tokens == 50
    assert second.messages == run.messages[:3]


@pytest.mark.anyio
async def test_a_steps_calls_run_concurrently_and_answer_in_the_calls_order() -> None:
    # Each tool waits for the other: run one at a time, they would never return.
    barrier = threading.Barrier(2, timeout=5)
    loop_thread = threading.get_ident()
    threads = []
    first_done = anyio.Event()

    def slow(n: int) -> int:
        threads.append(threading.get_ident())
        barrier.wait()
        anyio.from_thread.run_sync(first_done.set)
        return n

    def fast(n: int) -> int:
        threads.append(threading.get_ident())
        barrier.wait()
        return n

    async def last(n: int) -> int:
        await first_done.wait()  # answers after the sync ones: its result still comes last
        return n

    fake = FakePlugin()
    script(fake, (("slow", {"n": 1}), ("fast", {"n": 2}), ("last", {"n": 3})), answer="6")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with anyio.fail_after(10):
            run = await client.run_tools("fake/m", "sum", [slow, fast, last])
    assert [(r.tool_call_id, r.content) for r in results(run)] == [
        ("call_0", "1"),
        ("call_1", "2"),
        ("call_2", "3"),
    ]
    assert len(threads) == 2 and loop_thread not in threads  # sync tools ran in workers


@pytest.mark.anyio
async def test_a_tools_error_goes_back_to_the_model_scrubbed_and_the_run_goes_on() -> None:
    def lookup(city: str) -> str:
        raise LookupError(f"no city {city!r} (key sk-proj-abcdefghijklmnop0123456789 told-secret)")

    fake = FakePlugin()
    script(fake, (("lookup", {"city": "Atlantis"}),), answer="It does not exist.")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        client.mask_secret("told-secret")
        run = await client.run_tools("fake/m", "Weather in Atlantis?", [lookup])
    [result] = results(run)
    assert result.is_error
    assert result.content == "LookupError: no city 'Atlantis' (key [REDACTED] [REDACTED])"
    assert run.text == "It does not exist."


@pytest.mark.anyio
async def test_model_mistakes_go_back_as_errors_naming_the_fix() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="Sorry."))
    pending = Message.assistant(
        "",
        [
            ToolCall("c1", "get_wether", {"city": "Paris"}),
            ToolCall("c2", "add", {"a": 1, "b": "2", "c": 3}),
            ToolCall("c3", "add", raw_arguments='{"a": 1,'),
            ToolCall("c4", "add", {"a": 1, "b": 2}),
        ],
    )
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        # A conversation ending with calls not yet answered: they run first.
        run = await client.run_tools("fake/m", [Message.user("go"), pending], [get_weather, add])
    assert [(r.tool_call_id, r.is_error, r.content) for r in results(run)] == [
        ("c1", True, "there is no tool named 'get_wether'; the tools are: get_weather, add"),
        (
            "c2",
            True,
            "the arguments for add are not valid: there is no argument 'c'; argument 'b': "
            "expected int, got str '2' (its arguments are: a, b)",
        ),
        ("c3", True, "the arguments are not a JSON object: '{\"a\": 1,'"),
        ("c4", False, "3"),
    ]
    assert len(run.steps) == 1 and fake.calls[0].messages == run.messages[:-1]


@pytest.mark.anyio
async def test_tool_errors_raise_propagates_and_cancels_the_steps_other_tools() -> None:
    cancelled = []

    async def hang() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(True)

    async def fail() -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("broken")

    fake = FakePlugin()
    script(fake, (("hang", {}), ("fail", {})), answer="never")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with anyio.fail_after(5), pytest.raises(ValueError, match="broken") as caught:
            await client.run_tools("fake/m", "go", [hang, fail], tool_errors="raise")
    assert cancelled == [True]
    assert caught.value.__notes__ == ["raised by tool fail (call call_1) in relaykit run_tools"]
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_a_tool_bounded_by_fail_after_sends_its_timeout_to_the_model() -> None:
    # As run_tools' docs say: the steps' `timeout` does not bound a tool; a tool
    # bounds itself, and the TimeoutError is the model's to hear.
    async def lookup(city: str) -> str:
        """Look a city up, slowly."""
        with anyio.fail_after(0.01):
            await anyio.sleep_forever()
        return city

    fake = FakePlugin()
    script(fake, (("lookup", {"city": "Oslo"}),), answer="It timed out.")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with anyio.fail_after(5):
            run = await client.run_tools("fake/m", "go", [lookup], timeout=30)
    [result] = results(run)
    assert result.is_error and result.content.startswith("TimeoutError")
    assert run.text == "It timed out."


@pytest.mark.anyio
@pytest.mark.parametrize("tool_errors", ["send", "raise"])
async def test_a_tools_sys_exit_propagates_as_itself(tool_errors: Any) -> None:
    # Not an Exception, so not the model's to hear: it propagates, as itself.
    # Before, it came wrapped in a BaseExceptionGroup (an `except SystemExit`
    # missed it), and under asyncio the caller's task was left with a
    # cancellation pending, which its next await raised.
    def quit_now() -> None:
        """Quit the program."""
        sys.exit(3)

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("quit_now", {}),)))
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with pytest.raises(SystemExit) as caught:
            await client.run_tools("fake/m", "go", [quit_now], tool_errors=tool_errors)
        assert caught.value.code == 3
        assert (await client.chat("fake/m", "after")).text == "echo: after"
    assert len(fake.calls) == 2


@pytest.mark.anyio
async def test_more_than_max_steps_raises_with_the_run_so_far_which_can_go_on() -> None:
    fake = FakePlugin()
    for i in range(3):
        fake.script.push(Reply(tool_calls=(("add", {"a": i, "b": 1}),)))
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with pytest.raises(ToolLoopError) as caught:
            await client.run_tools("fake/m", "count", [add], max_steps=3)
        error = caught.value
        assert str(error) == (
            "fake/m: the model still called tools (add) after max_steps=3 steps "
            "(raise max_steps, or go on by handing error.run to run_tools)"
        )
        partial = error.run
        assert len(partial.steps) == 3 and partial.response is partial.steps[-1]
        assert [r.content for r in results(partial)] == ["1", "2"]  # the third is not run
        assert partial.messages[-1].tool_calls == partial.steps[-1].tool_calls

        fake.script.push(Reply(text="3"))
        run = await client.run_tools("fake/m", partial, [add])
    assert [r.content for r in results(run)] == ["1", "2", "3"]
    assert run.text == "3"
    # handed the run itself, the run goes on in its conversation
    assert run.conversation_id == partial.conversation_id
    assert {call.metadata["conversation_id"] for call in fake.calls} == {run.conversation_id}


@pytest.mark.anyio
async def test_a_run_handed_on_keeps_a_conversation_id_the_caller_gives() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("add", {"a": 1, "b": 1}),)), Reply(text="2"))
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with pytest.raises(ToolLoopError) as caught:
            await client.run_tools("fake/m", "count", [add], max_steps=1)
        async with client.stream_tools(
            "fake/m", caught.value.run, [add], metadata={"conversation_id": "mine"}
        ) as stream:
            async for _ in stream:
                pass
    assert stream.run.conversation_id == "mine" and stream.run.text == "2"
    # the messages handed on are the run's: the call still to run, then its result
    assert [m.role for m in stream.run.messages] == ["user", "assistant", "tool", "assistant"]


@pytest.mark.anyio
async def test_cancelling_the_run_cancels_its_async_tools() -> None:
    started, ended = anyio.Event(), []

    async def wait() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            ended.append("cancelled")

    fake = FakePlugin()
    script(fake, (("wait", {}),), answer="never")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        await cancel_in_flight(
            lambda: client.run_tools("fake/m", "go", [wait]), when=started.is_set
        )
    assert ended == ["cancelled"] and len(fake.calls) == 1


@pytest.mark.anyio
async def test_a_cancelled_run_waits_for_its_sync_tools_thread() -> None:
    started, ended = anyio.Event(), []

    def slow() -> None:
        anyio.from_thread.run_sync(started.set)
        time.sleep(0.05)  # a thread cannot be interrupted: the run waits for it
        ended.append("returned")

    fake = FakePlugin()
    script(fake, (("slow", {}),), answer="never")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        # (not cancel_in_flight: asyncio counts a task waiting on a thread as running)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def cancel_once_started() -> None:
                    await started.wait()
                    scope.cancel()

                group.start_soon(cancel_once_started)
                await client.run_tools("fake/m", "go", [slow])
                pytest.fail("the run was not cancelled")
        assert scope.cancelled_caught
        assert ended == ["returned"]  # by the time the cancelled run came back
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_every_step_is_a_call_of_one_conversation_summed_in_the_run() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(
        Reply(tool_calls=(("add", {"a": 1, "b": 2}),), input_tokens=10, output_tokens=5),
        Reply(text="3", input_tokens=20, output_tokens=1, cached_input_tokens=8),
    )
    async with relaykit.Client(CONFIG, plugins=[fake, exporter]) as client:
        run = await client.run_tools("fake/m", "1+2?", [add], metadata={"user": "ana"})
        fake.script.push(Reply(text="3"))
        joined = await client.run_tools(
            "fake/m", "1+2?", [add], metadata={"conversation_id": "chat-7"}
        )
    assert run.usage == Usage(30, 6, 8)
    # USD 1 per million input tokens, 2 per million output (the fake's price)
    assert run.cost == Decimal("0.000042") == sum(step.cost or 0 for step in run.steps)
    first, second, third = exporter.records
    assert first.conversation_id == second.conversation_id == run.conversation_id
    assert len(run.conversation_id) == 32
    assert [r.params["metadata"] for r in (first, second)] == [{"user": "ana"}] * 2
    assert third.conversation_id == joined.conversation_id == "chat-7"


def test_a_run_costs_nothing_known_when_a_step_is_unpriced() -> None:
    steps = (ChatResponse(cost=Decimal("0.1")), ChatResponse(cost=None))
    run = ToolRun(steps[-1], (), steps, "c")
    assert run.cost is None and run.usage == Usage()


@pytest.mark.anyio
async def test_a_required_tool_choice_holds_for_the_first_step_only() -> None:
    fake = FakePlugin()
    script(fake, (("add", {"a": 1, "b": 2}),), answer="3")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        await client.run_tools("fake/m", "1+2?", [add], tool_choice="required")
    assert [c.tool_choice for c in fake.calls] == [relaykit.ToolChoice("required"), None]


@pytest.mark.anyio
async def test_a_cache_point_among_the_tools_caches_their_definitions() -> None:
    fake = FakePlugin()
    script(fake, (("add", {"a": 1, "b": 2}),), answer="3")
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        await client.run_tools("fake/m", "1+2?", [get_weather, add, relaykit.CachePoint("1h")])
    weather, adding = (FunctionTool.from_function(f).tool for f in (get_weather, add))
    cached = attrs.evolve(adding, cache=relaykit.CachePoint("1h"))
    assert [c.tools for c in fake.calls] == [(weather, cached)] * 2


@dataclasses.dataclass
class Sum:
    total: int


@pytest.mark.anyio
async def test_structured_output_parses_the_last_steps_answer() -> None:
    fake = FakePlugin()
    script(fake, (("add", {"a": 1, "b": 2}),), answer='{"total": 3}')
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        run = await client.run_tools("fake/m", "1+2?", [add], response_format=Sum)
    assert run.response.parsed == Sum(3) and run.steps[0].parsed is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": 0}, "max_steps must be a whole number of model calls, 1 or more"),
        ({"tool_errors": "rase"}, "tool_errors is 'rase' \\(did you mean 'raise'\\?\\)"),
        ({"output_retries": 2}, "run_tools does not take output_retries"),
        ({"metadata": "user=ana"}, "`metadata` must be a dict"),
        ({"tools": []}, "run_tools needs at least one tool"),
        ({"tools": [relaykit.Tool("t")]}, "Tool 't' has none to run"),
        ({"tools": [add, FunctionTool.from_function(get_weather, name="add")]}, "two tools"),
    ],
)
@pytest.mark.anyio
async def test_bad_run_arguments_are_refused_before_any_call(
    kwargs: dict[str, Any], message: str
) -> None:
    fake = FakePlugin()
    kwargs = {"tools": [add], **kwargs}
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        with pytest.raises(InvalidRequestError, match=message):
            await client.run_tools("fake/m", "hi", **kwargs)
    assert fake.calls == []


def test_sync_client_runs_tools() -> None:
    fake = FakePlugin()
    script(fake, (("get_weather", {"city": "Oslo"}), ("add", {"a": 2, "b": 2})), answer="ok")
    with relaykit.SyncClient(CONFIG, plugins=[fake]) as client:
        run = client.run_tools("fake/m", "go", [get_weather, add])
    assert [r.content for r in results(run)] == ["Oslo: sunny", "4"] and run.text == "ok"


# -- through real plugins, to their vendors' wire format ----------------------------------

KEY = "sk-tools-0123456789abcdef"


def broken(city: str) -> str:
    """Always fails."""
    raise RuntimeError(f"{city} is offline")


@pytest.mark.anyio
async def test_tool_results_reach_openai_as_tool_messages() -> None:
    from relaykit.testing import OpenAIMock

    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(
            Reply(tool_calls=(("get_weather", {"city": "Paris"}), ("broken", {"city": "Rome"}))),
            Reply(text="Sunny in Paris; Rome is unknown."),
        )
        config = {**CONFIG, "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}}}
        async with relaykit.Client(config) as client:
            run = await client.run_tools(
                "openai/gpt-4o-mini", "Paris and Rome?", [get_weather, broken]
            )
        first, second = (r.json() for r in mock.requests)
    assert run.text == "Sunny in Paris; Rome is unknown."
    assert first["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "the city's name"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    assistant, paris, rome = second["messages"][1:]
    ids = [call["id"] for call in assistant["tool_calls"]]
    assert paris == {"role": "tool", "tool_call_id": ids[0], "content": "Paris: sunny"}
    # Chat Completions has no error flag: the text says it
    assert rome == {
        "role": "tool",
        "tool_call_id": ids[1],
        "content": "RuntimeError: Rome is offline",
    }


@pytest.mark.anyio
async def test_tool_results_reach_anthropic_in_one_user_turn_with_is_error() -> None:
    from relaykit_anthropic.testing import AnthropicMock

    with AnthropicMock(api_key=KEY) as mock:
        mock.script.push(
            Reply(tool_calls=(("get_weather", {"city": "Paris"}), ("broken", {"city": "Rome"}))),
            Reply(text="Sunny in Paris."),
        )
        config = {
            **CONFIG,
            "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
        }
        async with relaykit.Client(config) as client:
            run = await client.run_tools(
                "anthropic/claude-haiku-4-5",
                "Paris and Rome?",
                [get_weather, broken],
                max_tokens=100,
            )
        first, second = (r.json() for r in mock.requests)
    assert run.text == "Sunny in Paris."
    assert first["tools"][0]["input_schema"]["required"] == ["city"]
    assistant, answers = second["messages"][1:]
    ids = [block["id"] for block in assistant["content"] if block["type"] == "tool_use"]
    assert answers["role"] == "user"
    assert [
        (b["type"], b["tool_use_id"], b.get("is_error", False), b["content"])
        for b in answers["content"]
    ] == [
        ("tool_result", ids[0], False, "Paris: sunny"),
        ("tool_result", ids[1], True, "RuntimeError: Rome is offline"),
    ]
