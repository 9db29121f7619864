"""Every stop reason of the Messages API over loopback, streamed, not, and in a message
batch: the answer's ``finish_reason``, the stream's ``Finish`` (with the vendor's word),
the stop sequence met, and the mock's wire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.events import Finish
from relaykit.response import FinishReason
from relaykit.testing import RecordingExporter, Reply, one_try_config
from relaykit_anthropic.mock_foundry import FoundryClaudeMock
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.testing import AnthropicMock

from .conftest import vertex_client

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"

#: Anthropic's stop reasons (its "Handling stop reasons" page), and relaykit's word for
#: each; a reason added after this was written is "other"
STOP_REASONS = [
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"),
    ("refusal", "content_filter"),
    ("a_reason_from_the_future", "other"),
]


@asynccontextmanager
async def client(mock: AnthropicMock) -> AsyncIterator[relaykit.Client]:
    config = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY}})
    async with relaykit.Client(config) as c:
        yield c


async def streamed(c: relaykit.Client, **params: Any) -> tuple[list[Finish], Any]:
    async with c.stream(MODEL, "Go on", **params) as s:
        finishes = [e async for e in s if isinstance(e, Finish)]
    return finishes, s.response


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), STOP_REASONS)
async def test_each_stop_reason_has_its_finish_reason(
    mock: AnthropicMock, said: str, reason: FinishReason
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r = await c.chat(MODEL, "Go on")
        finishes, s = await streamed(c)
    assert r.finish_reason == reason
    assert r.text == "Partial answer"
    assert finishes == [Finish(reason, said)]
    assert s.finish_reason == reason


@pytest.mark.anyio
async def test_tool_use_is_tool_calls(mock: AnthropicMock) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),), vendor_finish="tool_use")
    mock.script.push(call, call)
    async with client(mock) as c:
        r = await c.chat(MODEL, "Go on")
        finishes, s = await streamed(c)
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "tool_use")]
    assert r.tool_calls[0].arguments == s.tool_calls[0].arguments == {"q": "x"}


async def raw_message(mock: AnthropicMock, **fields: Any) -> httpx.Response:
    """The mock's answer to a Messages body with ``fields``, as it comes."""
    body = {"model": MODEL.split("/")[1], "max_tokens": 100, **fields}
    body["messages"] = [{"role": "user", "content": "Count"}]
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient() as http:
        return await http.post(f"{mock.base_url}/v1/messages", json=body, headers=headers)


@pytest.mark.anyio
async def test_a_stop_sequence_is_named_on_the_wire(mock: AnthropicMock) -> None:
    """The API names the stop sequence it met beside ``stop_reason``; relaykit
    says ``stop`` and keeps the vendor's reason on the stream's ``Finish``."""
    mock.script.push(*[Reply(text="One two", vendor_finish="stop_sequence")] * 4)
    whole = (await raw_message(mock, stop_sequences=["THREE", "FOUR"])).json()
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("stop_sequence", "THREE")
    streamed_body = (await raw_message(mock, stop_sequences=["THREE"], stream=True)).text
    assert '"stop_reason": "stop_sequence", "stop_sequence": "THREE"' in streamed_body
    async with client(mock) as c:
        r = await c.chat(MODEL, "Count", stop=["THREE", "FOUR"])
        finishes, _ = await streamed(c, stop=["THREE"])
    assert r.finish_reason == "stop"
    assert finishes == [Finish("stop", "stop_sequence", stop_sequence="THREE")]


#: an answer scripted to stop on a stop sequence of its own
STOPPED = Reply(text="One two", stop_sequence=" three")


@pytest.mark.anyio
async def test_a_scripted_stop_sequence_is_sent_as_the_api_sends_it(mock: AnthropicMock) -> None:
    mock.script.push(STOPPED, STOPPED)
    whole = (await raw_message(mock, stop_sequences=["X", " three"])).json()
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("stop_sequence", " three")
    streamed_body = (await raw_message(mock, stop_sequences=[" three"], stream=True)).text
    deltas = [
        json.loads(line[len("data: ") :])
        for line in streamed_body.splitlines()
        if line.startswith("data: ") and '"message_delta"' in line
    ]
    assert [d["delta"] for d in deltas] == [
        {"stop_reason": "stop_sequence", "stop_sequence": " three"}
    ]


@pytest.mark.anyio
async def test_the_stop_sequence_met_is_on_the_response_and_the_finish(
    mock: AnthropicMock,
) -> None:
    """Anthropic names the sequence it stopped on; relaykit keeps it, streamed and not."""
    mock.script.push(Reply(text="One two", vendor_finish="stop_sequence"), STOPPED)
    async with client(mock) as c:
        r = await c.chat(MODEL, "Count", stop=["THREE", "FOUR"])
        finishes, s = await streamed(c, stop=[" three"])
    assert (r.finish_reason, r.stop_sequence) == ("stop", "THREE")
    assert finishes == [Finish("stop", "stop_sequence", stop_sequence=" three")]
    assert (s.text, s.finish_reason, s.stop_sequence) == ("One two", "stop", " three")


@pytest.mark.anyio
async def test_an_answer_that_met_none_has_none(mock: AnthropicMock) -> None:
    mock.script.push(Reply(text="Done."), Reply(text="Done."))
    async with client(mock) as c:
        r = await c.chat(MODEL, "Count", stop=["THREE"])
        finishes, s = await streamed(c, stop=["THREE"])
    assert r.stop_sequence is None and s.stop_sequence is None
    assert finishes == [Finish("stop", "end_turn")]


@pytest.mark.anyio
async def test_claude_on_foundry_names_it_too() -> None:
    key = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
    with FoundryClaudeMock(api_key=key, deployments={"prod": "claude-sonnet-4-5"}) as foundry:
        foundry.script.push(STOPPED, STOPPED)
        config = one_try_config(
            {
                "foundry-anthropic": {
                    "base_url": foundry.base_url,
                    "deployments": {"prod": "claude-sonnet-4-5"},
                }
            }
        )
        async with relaykit.Client(config, env={"ANTHROPIC_FOUNDRY_API_KEY": key}) as c:
            r = await c.chat("foundry-anthropic/prod", "Count", max_tokens=50, stop=[" three"])
            async with c.stream("foundry-anthropic/prod", "Count", max_tokens=50) as s:
                async for _ in s:
                    pass
    assert r.stop_sequence == s.response.stop_sequence == " three"


@pytest.mark.anyio
async def test_claude_on_vertex_names_it_too(
    vertex_mock: VertexClaudeMock, google_env: dict[str, str], sa_file: Path
) -> None:
    vertex_mock.script.push(STOPPED, STOPPED)
    model = "vertex-anthropic/claude-haiku-4-5@20251001"
    async with vertex_client(vertex_mock, google_env, sa_file) as c:
        r = await c.chat(model, "Count", max_tokens=50, stop=[" three"])
        async with c.stream(model, "Count", max_tokens=50) as s:
            async for _ in s:
                pass
    assert r.stop_sequence == s.response.stop_sequence == " three"


@pytest.mark.anyio
async def test_a_batch_result_names_it_and_so_does_its_record(mock: AnthropicMock) -> None:
    """Over the Message Batches endpoints: each ``succeeded`` line's message carries
    ``stop_sequence`` beside ``stop_reason``, as a single call's does."""
    mock.script.push(
        STOPPED, Reply(text="One two", vendor_finish="stop_sequence"), Reply(text="Done.")
    )
    reader = RecordingExporter()
    config = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY}})
    items = [
        relaykit.BatchItem("own", "Count", {"stop": [" three"]}),
        relaykit.BatchItem("first", "Count", {"stop": ["THREE", "FOUR"]}),
        relaykit.BatchItem("none", "Count", {"stop": ["THREE"]}),
    ]
    async with relaykit.Client(config, plugins=[reader]) as c:
        batch = await c.submit_batch(MODEL, items, max_tokens=50)
        batch = await c.batch(batch.id)  # the mock runs it when first asked
        results = [r async for r in c.batch_results(batch.id)]
    lines = mock.batches.batches[batch.id.split("/", 1)[1]].results
    assert [line["result"]["message"]["stop_sequence"] for line in lines] == [
        " three",
        "THREE",
        None,
    ]
    answers = {r.custom_id: r.response for r in results}
    assert {k: (a.finish_reason, a.stop_sequence) for k, a in answers.items() if a} == {
        "own": ("stop", " three"),
        "first": ("stop", "THREE"),
        "none": ("stop", None),
    }
    records = {r.params["custom_id"]: r for r in reader.records}
    assert {k: (r.operation, r.stop_sequence) for k, r in records.items()} == {
        "own": ("batch", " three"),
        "first": ("batch", "THREE"),
        "none": ("batch", None),
    }
