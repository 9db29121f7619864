"""The worker threads sync tools run in: their own, never the event loop's shared
ones, so a tool that waits on the client (a nested run_tools through a SyncClient)
cannot hold every thread its own nested work needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest

import relaykit
from relaykit import ToolResultPart
from relaykit.testing import FakePlugin, Reply

CONFIG: dict[str, Any] = {"storage": {"backend": "none"}}


@pytest.mark.anyio
async def test_sync_tools_do_not_take_the_loops_shared_worker_threads() -> None:
    # The loop's default thread limiter is what the client's own thread work
    # (providers' preparation, spilled records, credentials) waits on. Tools
    # holding it starved that work; here, with one token, the step's two tools
    # could not both run and meet at the barrier.
    anyio.to_thread.current_default_thread_limiter().total_tokens = 1
    meet = threading.Barrier(2, timeout=5)

    def wait_for_the_other(n: int) -> str:
        """Wait for the other call."""
        meet.wait()
        return f"met {n}"

    fake = FakePlugin()
    fake.script.push(
        Reply(tool_calls=(("wait_for_the_other", {"n": 1}), ("wait_for_the_other", {"n": 2}))),
        Reply(text="done"),
    )
    async with relaykit.Client(CONFIG, plugins=[fake]) as client:
        run = await client.run_tools("fake/m", "go", [wait_for_the_other], tool_errors="raise")
    assert run.response.text == "done"
    tool_results = [p for m in run.messages for p in m.content if isinstance(p, ToolResultPart)]
    assert [p.content for p in tool_results] == ["met 1", "met 2"]


@pytest.mark.anyio
async def test_a_sync_tools_call_takes_no_thread_of_the_loops_shared_ones() -> None:
    # FunctionTool.call on its own (as an MCP bridge or a custom loop calls it).
    shared = anyio.to_thread.current_default_thread_limiter()
    shared.total_tokens = 1
    tool = relaykit.FunctionTool.from_function(get_weather)
    async with shared:  # every shared thread taken, as by forty waiting tools
        with anyio.fail_after(5):
            assert await tool.call({"city": "Oslo"}) == "sunny in Oslo"


def get_weather(city: str) -> str:
    """The weather in ``city``."""
    return f"sunny in {city}"


# Fifty sync tools in one step (anyio's default limiter has forty threads), each
# making a nested run_tools with a sync tool through the same SyncClient.
NESTED_RUNS = """
import sys
import relaykit
from relaykit.request import ChatRequest
from relaykit.testing import FakePlugin, FakeProvider, Reply

class Nesting(FakeProvider):
    def _reply(self, request: ChatRequest) -> Reply:
        self.calls.append(request)
        if any(m.role == "tool" for m in request.messages):
            return Reply(text="done")
        if request.messages[0].text == "outer":
            return Reply(tool_calls=tuple(("outer_tool", {"i": i}) for i in range(50)))
        return Reply(tool_calls=(("inner_tool", {}),))

def inner_tool() -> str:
    "The inner tool."
    return "ok"

def outer_tool(i: int) -> str:
    "The outer tool: a run of its own."
    return client.run_tools("fake/m", f"inner {i}", [inner_tool], tool_errors="raise").text

plugin = FakePlugin(provider=Nesting)
config = {"storage": {"backend": "none"}}
with relaykit.SyncClient(config, plugins=[plugin], backend=sys.argv[1]) as client:
    run = client.run_tools("fake/m", "outer", [outer_tool], tool_errors="raise")
    print(run.response.text, len(plugin.calls))
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fifty_sync_tools_each_making_a_nested_run_do_not_deadlock(backend: str) -> None:
    # In a process of its own: deadlocked, the client's close at exit would wait
    # for it too, and the test would hang rather than fail.
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(NESTED_RUNS), backend],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("fifty nested runs deadlocked on the loop's worker threads")
    assert done.returncode == 0, done.stderr
    # The outer run's two calls, and each nested run's two.
    assert done.stdout == f"done {2 + 50 * 2}\n"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_close_waits_past_timeouts_total_for_a_sync_tool_still_running(backend: str) -> None:
    # As the README says: no thread can be interrupted, so the close ends the run
    # (its caller told ClientClosedError) only once the tool has returned.
    started, release, returned = threading.Event(), threading.Event(), threading.Event()

    def stuck() -> str:
        """Wait to be let go."""
        started.set()
        release.wait(10)
        returned.set()
        return "late"

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("stuck", {}),)), Reply(text="never"))
    client = relaykit.SyncClient(
        {**CONFIG, "timeouts": {"total": 0.2}}, plugins=[fake], backend=backend
    )
    client.__enter__()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            client.run_tools("fake/m", "go", [stuck])
        except BaseException as error:
            outcome.append(error)

    caller = threading.Thread(target=run)
    caller.start()
    assert started.wait(10)
    letting_go = threading.Timer(1, release.set)
    letting_go.start()
    client.close()
    assert returned.is_set()  # the close came back after the tool, not at 0.2 s
    caller.join(10)
    letting_go.join()
    assert [type(e) for e in outcome] == [relaykit.ClientClosedError]
    assert len(fake.calls) == 1  # no step after the tool's
