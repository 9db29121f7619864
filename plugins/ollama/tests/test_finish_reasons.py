"""Every ``done_reason`` of Ollama's ``/api/chat`` over loopback, streamed and not, and an
error line mid-stream: the answer's ``finish_reason``, the stream's ``Finish`` (with
Ollama's word), and the typed error."""

from __future__ import annotations

import pytest

import relaykit
from relaykit import StreamError, TextDelta
from relaykit.events import Finish
from relaykit.response import FinishReason
from relaykit.testing import Reply, answer_and_stream, one_try_config
from relaykit_ollama.testing import OllamaMock

MODEL = "ollama/llama3.2"

#: Ollama's ``done_reason`` values (its server's), and relaykit's word for each; one
#: added after this was written is "other"
DONE_REASONS = [
    ("stop", "stop"),
    ("length", "length"),
    ("load", "other"),  # the model was loaded, nothing asked
    ("unload", "other"),  # the model was unloaded (keep_alive 0)
    ("a_reason_from_the_future", "other"),
]


def client(mock: OllamaMock) -> relaykit.Client:
    return relaykit.Client(one_try_config({"ollama": {"base_url": mock.base_url}}))


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), DONE_REASONS)
async def test_each_done_reason(mock: OllamaMock, said: str, reason: FinishReason) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r, finishes, s = await answer_and_stream(c, MODEL, events=Finish)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]


@pytest.mark.anyio
async def test_a_tool_call_ends_with_stop_and_is_tool_calls(mock: OllamaMock) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),))
    mock.script.push(call, call)
    async with client(mock) as c:
        r, finishes, s = await answer_and_stream(c, MODEL, events=Finish)
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "stop")]


@pytest.mark.anyio
async def test_an_error_line_mid_stream_is_a_stream_error_after_the_text(
    mock: OllamaMock,
) -> None:
    mock.script.push(Reply(text="Half an answer", stream_fault="error", error="runner crashed"))
    texts: list[str] = []
    async with client(mock) as c:
        with pytest.raises(StreamError) as caught:
            async with c.stream(MODEL, "Go on") as s:
                async for event in s:
                    if isinstance(event, TextDelta):
                        texts.append(event.text)
    assert "".join(texts) == "Half an answer"
    assert caught.value.provider_message == "runner crashed"
    assert caught.value.partial is not None and caught.value.partial.text == "Half an answer"
