"""Context-length fallbacks over loopback, with the vendors' own wire errors.

A prompt too long for one deployment goes on to one with a larger window: the
route's next target when both windows are known, or a model ``[models.NAME]
context_window_fallbacks`` names. Either way the call's total timeout bounds it.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import ContextLengthError
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
