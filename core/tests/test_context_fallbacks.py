"""Context-length fallbacks over loopback, with the vendors' own wire errors.

A prompt too long for one deployment goes on to one with a larger window: the
route's next target when both windows are known, or a model ``[models.NAME]
context_window_fallbacks`` names. Either way the call's total timeout bounds it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ContextLengthError, ProviderUnavailableError, TextDelta
from relaykit.testing import LoopbackServer
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse

from .conftest import MOCK_KEY

OPENAI_TOO_LONG = {
    "error": {
        "message": "This model's maximum context length is 1000 tokens. However, your"
        " messages resulted in 1200 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}


def openai_answer(model: str) -> dict[str, Any]:
    """A chat completion from ``model``, as OpenAI sends it."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"from {model}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 3, "total_tokens": 1203},
    }


@pytest.mark.anyio
async def test_a_stalled_model_listing_does_not_hold_a_call_past_its_total_timeout() -> None:
    # Whether the next target's window is larger comes from the provider's model
    # listing, over the network. Nothing bounded that listing by the call's total
    # timeout: a /models endpoint that stalled held the call past its deadline (up
    # to the read timeout, a minute by default, whatever [timeouts] total said).
    listing, release = threading.Event(), threading.Event()

    async def provider(request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path == "/v1/models":
            listing.set()
            await anyio.to_thread.run_sync(release.wait, 60)  # released when the test ends
            models = [{"id": "a", "context_length": 1000}, {"id": "b", "context_length": 2000}]
            return HttpResponse.json({"object": "list", "data": models})
        return HttpResponse.json(OPENAI_TOO_LONG, 400)

    with LoopbackServer(provider) as server:
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "timeouts": {"total": 0.5},
            "providers": {"openai": {"base_url": f"{server.url}/v1", "api_key": MOCK_KEY}},
            "models": {"long": {"targets": ["openai/a", "openai/b"]}},
        }
        try:
            async with relaykit.Client(config) as client:
                # a safety net only: without the bound the call waits on the listing
                with anyio.fail_after(30), pytest.raises(ContextLengthError) as info:
                    await client.chat("long", "a long prompt")
        finally:
            release.set()
    assert listing.is_set(), "the call never asked for the windows"
    # the deployment's own error, with no fallback found in time
    assert (info.value.provider, info.value.model) == ("openai", "a")


ANTHROPIC_TOO_LONG = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 208310 tokens > 200000 maximum",
    },
    "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
}


def anthropic_answer(model: str) -> dict[str, Any]:
    """A Messages API answer from ``model``, as Anthropic sends it."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": f"from {model}"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1200, "output_tokens": 3},
    }


def openai_stream(model: str) -> HttpResponse:
    """A streamed chat completion from ``model`` (server-sent events)."""
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": f"from {model}"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "choices": [],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 3, "total_tokens": 1203},
        },
    ]
    body = "".join(
        "data: "
        + json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": model, **c})
        + "\n\n"
        for c in chunks
    )
    return HttpResponse(
        200, {"content-type": "text/event-stream"}, (body + "data: [DONE]\n\n").encode()
    )


class Vendors:
    """One loopback server speaking OpenAI's Chat Completions (under ``/v1``) and
    Anthropic's Messages API: each model answers as ``answers`` says (a status, or
    200), and every request is kept as ``(path, model)``."""

    def __init__(self, answers: dict[str, int]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":  # a model listing: windows unknown, as often
            return HttpResponse.json({"error": {"message": "not here"}}, 404)
        body = request.json()
        model = body["model"]
        self.seen.append((request.path, model))
        status = self.answers.get(model, 200)
        anthropic = request.path == "/v1/messages"
        if status == 400:
            return HttpResponse.json(ANTHROPIC_TOO_LONG if anthropic else OPENAI_TOO_LONG, 400)
        if status != 200:
            down = {"error": {"message": "The server is overloaded", "type": "server_error"}}
            return HttpResponse.json(down, status)
        if anthropic:
            return HttpResponse.json(anthropic_answer(model))
        return (
            openai_stream(model) if body.get("stream") else HttpResponse.json(openai_answer(model))
        )

    def config(self, url: str, route: dict[str, Any]) -> dict[str, Any]:
        return {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {
                "openai": {"base_url": f"{url}/v1", "api_key": MOCK_KEY},
                "anthropic": {"base_url": url, "api_key": MOCK_KEY},
            },
            "models": {"small": route},
        }


@pytest.mark.anyio
async def test_openai_context_length_exceeded_goes_on_to_the_context_window_fallback() -> None:
    # The route's window is unknown (no listing) and its one target too small: the
    # configured larger model, at another vendor, answers.
    vendors = Vendors({"gpt-small": 400})
    route = {"targets": ["openai/gpt-small"], "context_window_fallbacks": ["anthropic/claude-big"]}
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("small", "a long prompt")
    assert (r.provider, r.model, r.text) == ("anthropic", "claude-big", "from claude-big")
    assert r.attempts == 2
    assert vendors.seen == [("/v1/chat/completions", "gpt-small"), ("/v1/messages", "claude-big")]


@pytest.mark.anyio
async def test_anthropic_prompt_too_long_goes_down_the_fallbacks_in_order_in_a_stream() -> None:
    # The fallbacks are tried in order, each too small moving on to the next whatever
    # its window (the configuration says they are larger), before any event.
    vendors = Vendors({"claude-small": 400, "gpt-mid": 400})
    route = {
        "targets": ["anthropic/claude-small"],
        "context_window_fallbacks": ["openai/gpt-mid", "openai/gpt-big"],
    }
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                async with client.stream("small", "a long prompt") as s:
                    text = "".join([e.text async for e in s if isinstance(e, TextDelta)])
    assert (s.response.provider, s.response.model, text) == ("openai", "gpt-big", "from gpt-big")
    assert [model for _, model in vendors.seen] == ["claude-small", "gpt-mid", "gpt-big"]


@pytest.mark.anyio
async def test_the_context_window_fallbacks_are_not_asked_for_other_failures() -> None:
    # A larger model is dearer: an outage of the route's own (a 503), or a caller's
    # mistake, is not what it is there for. Nor is it asked when it too is too small
    # and the list ends: the last error says the prompt is too long.
    vendors = Vendors({"gpt-small": 503})
    route = {"targets": ["openai/gpt-small"], "context_window_fallbacks": ["openai/gpt-big"]}
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30), pytest.raises(ProviderUnavailableError):
                await client.chat("small", "hi")
            vendors.answers.update({"gpt-small": 400, "gpt-big": 400})
            with anyio.fail_after(30), pytest.raises(ContextLengthError) as info:
                await client.chat("small", "a long prompt")
    assert info.value.model == "gpt-big"
    assert [model for _, model in vendors.seen] == ["gpt-small", "gpt-small", "gpt-big"]


@pytest.mark.anyio
async def test_a_hedged_route_goes_on_to_its_context_window_fallbacks() -> None:
    vendors = Vendors({"gpt-small": 400, "gpt-small-2": 400})
    route = {
        "targets": ["openai/gpt-small", "openai/gpt-small-2"],
        "hedge_after": 30,
        "context_window_fallbacks": ["anthropic/claude-big"],
    }
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("small", "a long prompt")
    assert (r.provider, r.model) == ("anthropic", "claude-big")
    # the windows are unknown: the route's second target is not asked (as before)
    assert [model for _, model in vendors.seen] == ["gpt-small", "claude-big"]


@pytest.mark.anyio
async def test_xai_maximum_prompt_length_is_a_context_length_error_that_falls_back() -> None:
    # xAI says a prompt is too long in its own words and shape (no "context" in
    # them): it was an InvalidRequestError, final, and no fallback was asked.
    too_long = {
        "code": "Client specified an invalid argument",
        "error": "This model's maximum prompt length is 131072 but the request contains"
        " 136973 tokens.",
    }
    seen: list[str] = []

    async def xai(request: HttpRequest) -> HttpResponse:
        model = request.json()["model"]
        seen.append(model)
        if model == "grok-3-mini":
            return HttpResponse.json(too_long, 400)
        return HttpResponse.json(openai_answer(model))

    with LoopbackServer(xai) as server:
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"xai": {"base_url": f"{server.url}/v1", "api_key": MOCK_KEY}},
            "models": {
                "grok": {"targets": ["xai/grok-3-mini"], "context_window_fallbacks": ["xai/grok-4"]}
            },
        }
        async with relaykit.Client(config) as client:
            with anyio.fail_after(30), pytest.raises(ContextLengthError) as info:
                await client.chat("xai/grok-3-mini", "a long prompt")
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("grok", "a long prompt")
    assert "maximum prompt length is 131072" in str(info.value)
    assert (r.provider, r.model) == ("xai", "grok-4")
    assert seen == ["grok-3-mini", "grok-3-mini", "grok-4"]


@pytest.mark.anyio
async def test_a_model_id_named_as_its_own_route_has_context_window_fallbacks() -> None:
    # LiteLLM keys its context_window_fallbacks by the model's name: here a route may
    # be named for the model id the callers already use.
    vendors = Vendors({"gpt-small": 400})
    route = {"targets": ["openai/gpt-small"], "context_window_fallbacks": ["openai/gpt-big"]}
    with LoopbackServer(vendors) as server:
        config = vendors.config(server.url, route)
        config["models"] = {"openai/gpt-small": route}
        async with relaykit.Client(config) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("openai/gpt-small", "a long prompt")
    assert (r.provider, r.model) == ("openai", "gpt-big")


@pytest.mark.anyio
async def test_a_failed_model_listing_leaves_the_plugins_own_windows_known(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A compatible server without GET /models (the Vendors above answer it 404): the
    # windows of gpt-4o-mini (128k) and gpt-4.1 (1M) were unknown, though relaykit-
    # openai's own table has them, so the route's larger target was never asked.
    vendors = Vendors({"gpt-4o-mini": 400})
    route = {"targets": ["openai/gpt-4o-mini", "openai/gpt-4.1"]}
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with caplog.at_level("DEBUG", logger="relaykit"), anyio.fail_after(30):
                r = await client.chat("small", "a long prompt")
                again = await client.chat("small", "another long prompt")
    assert (r.provider, r.model) == (again.provider, again.model) == ("openai", "gpt-4.1")
    assert [model for _, model in vendors.seen] == ["gpt-4o-mini", "gpt-4.1"] * 2
    # the listing's failure is still told, the table named as what stood in for it,
    # once: a provider with no listing fails every check, which is no news after one
    told = [rec for rec in caplog.records if "listing models of openai failed" in rec.getMessage()]
    assert told and "not here" in told[0].getMessage()
    assert [rec.levelname for rec in told[1:]] == ["DEBUG"] * (len(told) - 1) != []
    assert told[0].levelname == "WARNING"
