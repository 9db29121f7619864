"""The rest of a stream its content filter withheld whole, read before falling back.

A stream that ends ``content_filter`` before any content goes on to the route's
``content_policy_fallbacks``; first its rest is read for the usage the vendor
reports after the finish (OpenAI's last chunk), then its connection is closed.
That read must never hold the call: a vendor that goes quiet after the finish is
left within the idle timeout (or the call's total timeout), and a caller who
cancels meanwhile is not kept waiting. The attempt's record says why it was given
up on, in its ``route_errors`` as in its error.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import TextDelta
from relaykit.stream import ChatStream
from relaykit.testing import LoopbackServer, Pause, RecordingExporter
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse

from .conftest import MOCK_KEY


def chunk(model: str, **fields: Any) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, **fields}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Vendor:
    """OpenAI's Chat Completions over loopback: ``gpt-strict`` streams a role, then a
    ``content_filter`` finish, then goes quiet for an hour (no usage, no ``[DONE]``)
    unless ``quiet`` is false; any other model streams an answer."""

    def __init__(self, *, quiet: bool = True) -> None:
        self.quiet = quiet
        self.seen: list[str] = []

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        model = request.json()["model"]
        self.seen.append(model)
        headers = {"content-type": "text/event-stream"}
        if model == "gpt-strict":
            return HttpResponse(200, headers, self._filtered(model))
        body = [
            chunk(model, choices=[{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]),
            chunk(model, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
            chunk(
                model,
                choices=[],
                usage={"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
            ),
            b"data: [DONE]\n\n",
        ]
        return HttpResponse(200, headers, b"".join(body))

    def _filtered(self, model: str) -> list[bytes | Pause]:
        body: list[bytes | Pause] = [
            chunk(model, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
            chunk(model, choices=[{"index": 0, "delta": {}, "finish_reason": "content_filter"}]),
        ]
        if self.quiet:  # the server sees the client leave during the pause
            body.append(Pause(3600))
        usage = {"prompt_tokens": 20, "completion_tokens": 0, "total_tokens": 20}
        return [*body, chunk(model, choices=[], usage=usage), b"data: [DONE]\n\n"]


def config(url: str, **timeouts: float) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "timeouts": timeouts,
        "providers": {"openai": {"base_url": f"{url}/v1", "api_key": MOCK_KEY}},
        "models": {
            "guarded": {
                "targets": ["openai/gpt-strict"],
                "content_policy_fallbacks": ["openai/gpt-lenient"],
            }
        },
    }


async def left(server: LoopbackServer) -> None:
    """Wait until the server (in its own thread) saw the client leave the quiet stream."""
    with anyio.fail_after(30):  # a safety net only
        while server.stats.streams_abandoned != 1:  # noqa: ASYNC110 (set in the server's thread)
            await anyio.sleep(0.01)


async def streamed_text(client: relaykit.Client) -> tuple[str, relaykit.ChatResponse]:
    async with client.stream("guarded", "a prompt the filter dislikes") as s:
        text = "".join([e.text async for e in s if isinstance(e, TextDelta)])
    return text, s.response


@pytest.mark.anyio
async def test_a_filtered_stream_gone_quiet_after_its_finish_is_left_within_the_idle_timeout() -> (
    None
):
    vendor = Vendor()
    exporter = RecordingExporter()
    with LoopbackServer(vendor) as server:
        async with relaykit.Client(config(server.url, idle=0.3), plugins=[exporter]) as client:
            with anyio.fail_after(30):  # a safety net only: the quiet stream lasts an hour
                text, response = await streamed_text(client)
        await left(server)  # the quiet one closed, not left open
    assert (text, response.model) == ("hi", "gpt-lenient")
    assert vendor.seen == ["gpt-strict", "gpt-lenient"]
    answered = next(r for r in exporter.records if "-attempt-" not in r.id)
    assert answered.route == ("openai/gpt-strict", "openai/gpt-lenient")
    assert answered.route_errors == ("ContentFilterError 200", "")
    # no usage came before it went quiet: its record carries the prompt's estimate
    [filtered] = [r for r in exporter.records if "-attempt-" in r.id]
    assert filtered.usage_estimated and filtered.usage.input_tokens > 0
    assert filtered.route_errors == ("ContentFilterError 200",)


@pytest.mark.anyio
async def test_a_filtered_stream_gone_quiet_is_left_within_the_total_timeout_too() -> None:
    # An idle timeout longer than what is left of the call: the call's deadline
    # bounds the read, and the fallback is still asked (it fails on the deadline,
    # as anything asked past it would, never hanging).
    vendor = Vendor()
    with LoopbackServer(vendor) as server:
        async with relaykit.Client(config(server.url, idle=3600, total=0.5)) as client:
            with anyio.fail_after(30), pytest.raises(relaykit.RelayError) as info:
                await streamed_text(client)
    assert isinstance(info.value, relaykit.RequestTimeoutError | relaykit.ContentFilterError)


@pytest.mark.anyio
async def test_a_caller_cancelling_while_the_filtered_stream_is_read_is_not_kept_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The read of the rest runs with the idle timeout (an hour here): a caller's
    # cancellation ends it at once, the connection closed, the attempt recorded
    # with the usage it had, and the fallback never asked.
    draining = anyio.Event()
    refused = ChatStream._refused

    async def noted(self: ChatStream, *args: Any) -> Any:
        draining.set()
        return await refused(self, *args)

    monkeypatch.setattr(ChatStream, "_refused", noted)
    vendor = Vendor()
    exporter = RecordingExporter()
    with LoopbackServer(vendor) as server:
        async with relaykit.Client(config(server.url, idle=3600), plugins=[exporter]) as client:
            with anyio.fail_after(30):  # a safety net only
                async with anyio.create_task_group() as tg:
                    tg.start_soon(streamed_text, client)
                    await draining.wait()
                    tg.cancel_scope.cancel()
            # the client still works, and closes without waiting for the quiet stream
            with anyio.fail_after(30):
                async with client.stream("openai/gpt-lenient", "again") as s:
                    assert [e.text async for e in s if isinstance(e, TextDelta)] == ["hi"]
        await left(server)
    assert vendor.seen == ["gpt-strict", "gpt-lenient"]  # the second is the later call's
    # The vendor had the prompt and bills it: the attempt's record carries its
    # estimate (no usage came), and says why the call left it.
    [filtered] = [r for r in exporter.records if "-attempt-" in r.id]
    assert (filtered.error_type, filtered.status) == ("ContentFilterError", 200)
    assert filtered.route_errors == ("ContentFilterError 200",)
    assert filtered.usage_estimated and filtered.usage.input_tokens > 0
    [call] = [r for r in exporter.records if r.id == filtered.id.partition("-attempt-")[0]]
    assert call.error_type == "Cancelled" and call.usage.input_tokens == 0  # counted once


@pytest.mark.anyio
async def test_the_filtered_attempts_own_record_names_why_it_was_given_up_on() -> None:
    vendor = Vendor(quiet=False)
    exporter = RecordingExporter()
    with LoopbackServer(vendor) as server:
        async with relaykit.Client(config(server.url), plugins=[exporter]) as client:
            with anyio.fail_after(30):
                text, _ = await streamed_text(client)
    assert text == "hi"
    [refused] = [r for r in exporter.records if "-attempt-" in r.id]
    assert refused.usage.input_tokens == 20  # read after the finish
    assert refused.route == ("openai/gpt-strict",)
    assert refused.route_errors == ("ContentFilterError 200",)
    answered = next(r for r in exporter.records if "-attempt-" not in r.id)
    assert answered.route_errors == ("ContentFilterError 200", "")
