"""Content-policy fallbacks over loopback, with each vendor's own wire refusal.

``[models.NAME] content_policy_fallbacks`` (LiteLLM's) names models asked in order
when a provider's content filter refused the call: a
:class:`~relaykit.ContentFilterError` before any content (OpenAI's 400
``content_policy_violation``, Azure's 400 ``content_filter``), or a non-streamed
answer that ended ``content_filter`` (Anthropic's ``refusal`` stop reason,
Gemini's ``SAFETY`` finish or blocked prompt), as LiteLLM's router raises for one.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import (
    ContentFilterError,
    ContextLengthError,
    ProviderUnavailableError,
    StreamError,
    TextDelta,
)
from relaykit.testing import LoopbackServer, RecordingExporter
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse

from .conftest import MOCK_KEY

#: OpenAI's safety system refusing a prompt (its images' and moderated models' 400)
OPENAI_REFUSAL = {
    "error": {
        "message": "Your request was rejected as a result of our safety system. Your prompt"
        " may contain text that is not allowed by our safety system.",
        "type": "invalid_request_error",
        "param": None,
        "code": "content_policy_violation",
    }
}

#: Azure OpenAI's content filter refusing a prompt (Chat Completions' 400)
AZURE_REFUSAL = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's"
        " content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "medium"},
            },
        },
    }
}

OPENAI_TOO_LONG = {
    "error": {
        "message": "This model's maximum context length is 1000 tokens. However, your"
        " messages resulted in 1200 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}


def anthropic_refusal(model: str) -> dict[str, Any]:
    """A Messages API answer Claude's safety filter stopped (``stop_reason: refusal``),
    billed as any answer is."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 0},
    }


def gemini_blocked_prompt(model: str) -> dict[str, Any]:
    """Gemini refusing the prompt itself: no candidate, ``promptFeedback.blockReason``."""
    return {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
            ],
        },
        "usageMetadata": {"promptTokenCount": 20, "totalTokenCount": 20},
        "modelVersion": model,
        "responseId": "r1",
    }


def gemini_safety_finish(model: str) -> dict[str, Any]:
    """Gemini stopping its answer for safety: a candidate with ``finishReason: SAFETY``."""
    return {
        "candidates": [
            {
                "finishReason": "SAFETY",
                "index": 0,
                "safetyRatings": [
                    {
                        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                        "probability": "MEDIUM",
                        "blocked": True,
                    }
                ],
            }
        ],
        "usageMetadata": {"promptTokenCount": 20, "totalTokenCount": 20},
        "modelVersion": model,
        "responseId": "r2",
    }


def openai_answer(model: str) -> dict[str, Any]:
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
        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
    }


def sse(chunks: list[dict[str, Any]], model: str, done: bool = True) -> HttpResponse:
    body = "".join(
        "data: "
        + json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": model, **c})
        + "\n\n"
        for c in chunks
    )
    if done:
        body += "data: [DONE]\n\n"
    return HttpResponse(200, {"content-type": "text/event-stream"}, body.encode())


def openai_stream(model: str) -> HttpResponse:
    return sse(
        [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": f"from {model}"}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ],
        model,
    )


class Vendors:
    """One loopback server speaking OpenAI's Chat Completions (``/v1``), Azure
    OpenAI's v1 API (``/openai/v1``), Anthropic's Messages API and the Gemini API.

    A model in ``refusing`` gets its vendor's refusal (``"finish"``: Gemini's
    ``SAFETY`` finish rather than its blocked prompt); ``answers`` may give a model
    another status instead. Every request is kept as ``(vendor, model)``.
    """

    def __init__(self, *refusing: str, answers: dict[str, int] | None = None) -> None:
        self.refusing = set(refusing)
        self.answers = answers or {}
        self.seen: list[tuple[str, str]] = []
        #: a model whose stream sends text, then Azure's content filter cuts it
        self.cut_mid_stream: set[str] = set()

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":  # a model listing: none here, as often
            return HttpResponse.json({"error": {"message": "not here"}}, 404)
        path = request.path
        if path.startswith("/v1beta/models/"):
            model = path.removeprefix("/v1beta/models/").partition(":")[0]
            vendor = "gemini"
        else:
            model = request.json()["model"]
            vendor = {
                "/v1/chat/completions": "openai",
                "/openai/v1/chat/completions": "azure",
                "/v1/messages": "anthropic",
            }[path]
        self.seen.append((vendor, model))
        status = self.answers.get(model)
        if status == 503:
            down = {"error": {"message": "The server is overloaded", "type": "server_error"}}
            return HttpResponse.json(down, 503)
        if status == 400:
            return HttpResponse.json(OPENAI_TOO_LONG, 400)
        if model in self.cut_mid_stream:
            # Azure's filter on the output: text first, then the error event
            return sse(
                [
                    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Once"}}]},
                    {"error": AZURE_REFUSAL["error"]},
                ],
                model,
                done=False,
            )
        if model in self.refusing:
            if vendor == "openai":
                return HttpResponse.json(OPENAI_REFUSAL, 400)
            if vendor == "azure":
                return HttpResponse.json(AZURE_REFUSAL, 400)
            if vendor == "anthropic":
                return HttpResponse.json(anthropic_refusal(model))
            if model.endswith("finish"):
                return HttpResponse.json(gemini_safety_finish(model))
            return HttpResponse.json(gemini_blocked_prompt(model))
        assert vendor in ("openai", "azure"), "the answers below are OpenAI's shape"
        if request.json().get("stream"):
            return openai_stream(model)
        return HttpResponse.json(openai_answer(model))

    def config(self, url: str, route: dict[str, Any]) -> dict[str, Any]:
        return {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {
                "openai": {"base_url": f"{url}/v1", "api_key": MOCK_KEY},
                "azure": {"base_url": url, "api_key": MOCK_KEY},
                "anthropic": {"base_url": url, "api_key": MOCK_KEY},
                "gemini": {"base_url": url, "api_key": MOCK_KEY},
            },
            "models": {"guarded": route},
        }


#: each vendor's refusal, by the deployment that sends it
REFUSING = {
    "openai 400 content_policy_violation": "openai/gpt-strict",
    "azure 400 content_filter": "azure/gpt-strict",
    "anthropic stop_reason refusal": "anthropic/claude-strict",
    "gemini promptFeedback blockReason SAFETY": "gemini/gemini-strict",
    "gemini finishReason SAFETY": "gemini/gemini-strict-finish",
}


@pytest.mark.anyio
@pytest.mark.parametrize("refusing", list(REFUSING.values()), ids=list(REFUSING))
async def test_each_vendors_refusal_goes_on_to_the_content_policy_fallbacks(
    refusing: str,
) -> None:
    vendors = Vendors(refusing.split("/")[1])
    route = {"targets": [refusing], "content_policy_fallbacks": ["openai/gpt-lenient"]}
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("guarded", "a prompt the filter dislikes")
    assert (r.provider, r.model, r.text) == ("openai", "gpt-lenient", "from gpt-lenient")
    assert r.finish_reason == "stop" and r.attempts == 2
    assert [model for _, model in vendors.seen] == [refusing.split("/")[1], "gpt-lenient"]


@pytest.mark.anyio
@pytest.mark.parametrize("refusing", list(REFUSING.values()), ids=list(REFUSING))
async def test_without_content_policy_fallbacks_a_refusal_ends_the_call_as_before(
    refusing: str,
) -> None:
    # A 400 is raised; an answer that ended content_filter is the caller's answer.
    vendors = Vendors(refusing.split("/")[1])
    route = {"targets": [refusing], "context_window_fallbacks": ["openai/gpt-lenient"]}
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                if refusing.startswith(("openai", "azure")):
                    with pytest.raises(ContentFilterError):
                        await client.chat("guarded", "a prompt the filter dislikes")
                else:
                    r = await client.chat("guarded", "a prompt the filter dislikes")
                    assert r.finish_reason == "content_filter" and r.model
    assert len(vendors.seen) == 1


@pytest.mark.anyio
async def test_the_fallbacks_are_asked_in_order_and_the_last_ones_refusal_is_the_answer() -> None:
    # Each refusing fallback moves on to the next; the last one's filtered answer is
    # returned as the call's (nothing left to ask), not turned into an error.
    vendors = Vendors("claude-strict", "gpt-strict", "gemini-strict-finish")
    route = {
        "targets": ["anthropic/claude-strict"],
        "content_policy_fallbacks": ["azure/gpt-strict", "gemini/gemini-strict-finish"],
    }
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("guarded", "a prompt every filter dislikes")
    assert (r.provider, r.model) == ("gemini", "gemini-strict-finish")
    assert r.finish_reason == "content_filter"
    assert vendors.seen == [
        ("anthropic", "claude-strict"),
        ("azure", "gpt-strict"),
        ("gemini", "gemini-strict-finish"),
    ]


@pytest.mark.anyio
async def test_a_refused_answer_fallen_back_from_has_a_record_of_its_own_with_its_usage() -> None:
    # The vendor billed the refused answer's prompt: its record carries that, apart
    # from the call's, so a call's records add up to what it was charged.
    vendors = Vendors("claude-strict")
    route = {
        "targets": ["anthropic/claude-strict"],
        "content_policy_fallbacks": ["openai/gpt-lenient"],
    }
    exporter = RecordingExporter()
    with LoopbackServer(vendors) as server:
        config = vendors.config(server.url, route)
        async with relaykit.Client(config, plugins=[exporter]) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("guarded", "a prompt the filter dislikes")
    refused, answered = exporter.records
    assert refused.id == f"{answered.id}-attempt-1"
    assert (refused.provider, refused.model, refused.status) == ("anthropic", "claude-strict", 200)
    assert refused.error_type == "ContentFilterError" and "content_policy_fallbacks" in (
        refused.error_message or ""
    )
    assert (refused.usage.input_tokens, refused.usage.output_tokens) == (20, 0)
    assert answered.error_type is None and answered.provider == "openai"
    assert (answered.attempts, answered.fallbacks) == (2, 1) == (r.attempts, 1)
    assert answered.usage.input_tokens == 20 and answered.usage.output_tokens == 3


@pytest.mark.anyio
async def test_each_kind_of_fallback_is_asked_only_for_its_own_failure() -> None:
    # An outage (a 503) asks neither list; a prompt too long asks the context window's,
    # a refusal the content policy's. A larger or laxer model is dearer, or riskier.
    vendors = Vendors("gpt-strict", answers={"gpt-down": 503, "gpt-small": 400})
    lists = {
        "context_window_fallbacks": ["openai/gpt-big"],
        "content_policy_fallbacks": ["openai/gpt-lenient"],
    }
    with LoopbackServer(vendors) as server:
        config = vendors.config(server.url, {})
        config["models"] = {
            name: {"targets": [f"openai/{name}"], **lists}
            for name in ("gpt-down", "gpt-small", "gpt-strict")
        }
        async with relaykit.Client(config) as client:
            with anyio.fail_after(30):  # a safety net only
                with pytest.raises(ProviderUnavailableError):
                    await client.chat("gpt-down", "hi")
                too_long = await client.chat("gpt-small", "a long prompt")
                refused = await client.chat("gpt-strict", "a prompt the filter dislikes")
    assert too_long.model == "gpt-big" and refused.model == "gpt-lenient"
    assert [model for _, model in vendors.seen] == [
        "gpt-down",
        "gpt-small",
        "gpt-big",
        "gpt-strict",
        "gpt-lenient",
    ]


@pytest.mark.anyio
async def test_a_content_filter_fallback_that_is_too_small_ends_with_its_own_error() -> None:
    # The list is for refusals: a fallback's other failure (a prompt too long) ends
    # the call with that error, the next fallback unasked.
    vendors = Vendors("gpt-strict", answers={"gpt-lenient-small": 400})
    route = {
        "targets": ["openai/gpt-strict"],
        "content_policy_fallbacks": ["openai/gpt-lenient-small", "openai/gpt-lenient"],
    }
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30), pytest.raises(ContextLengthError):
                await client.chat("guarded", "a long prompt the filter dislikes")
    assert [model for _, model in vendors.seen] == ["gpt-strict", "gpt-lenient-small"]


@pytest.mark.anyio
async def test_a_stream_refused_before_its_first_event_goes_on_to_the_fallbacks() -> None:
    vendors = Vendors("gpt-strict")
    route = {"targets": ["azure/gpt-strict"], "content_policy_fallbacks": ["openai/gpt-lenient"]}
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                async with client.stream("guarded", "a prompt the filter dislikes") as s:
                    text = "".join([e.text async for e in s if isinstance(e, TextDelta)])
    assert (s.response.provider, text) == ("openai", "from gpt-lenient")
    assert vendors.seen == [("azure", "gpt-strict"), ("openai", "gpt-lenient")]


@pytest.mark.anyio
async def test_a_stream_the_filter_cuts_after_its_first_event_does_not_fall_back() -> None:
    # Its text has reached the caller: asking another model would start the answer
    # over in the middle of it, as for every failure after a stream started.
    vendors = Vendors()
    vendors.cut_mid_stream.add("gpt-strict")
    route = {"targets": ["azure/gpt-strict"], "content_policy_fallbacks": ["openai/gpt-lenient"]}
    got: list[str] = []
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30), pytest.raises(StreamError) as info:  # a safety net
                async with client.stream("guarded", "a story") as s:
                    async for event in s:
                        if isinstance(event, TextDelta):
                            got.append(event.text)
    assert got == ["Once"]
    assert "content management policy" in str(info.value)
    assert vendors.seen == [("azure", "gpt-strict")]


@pytest.mark.anyio
async def test_a_hedged_route_refused_on_both_sides_goes_on_to_its_fallbacks() -> None:
    vendors = Vendors("gpt-strict", "claude-strict")
    route = {
        "targets": ["openai/gpt-strict", "anthropic/claude-strict"],
        "hedge_after": 30,
        "content_policy_fallbacks": ["azure/gpt-lenient"],
    }
    with LoopbackServer(vendors) as server:
        async with relaykit.Client(vendors.config(server.url, route)) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("guarded", "a prompt the filter dislikes")
    assert (r.provider, r.model) == ("azure", "gpt-lenient")
    # a refusal is final for the route's own targets (as before): the second unasked
    assert vendors.seen == [("openai", "gpt-strict"), ("azure", "gpt-lenient")]


@pytest.mark.anyio
async def test_concurrent_calls_with_mixed_refusals_each_record_the_fallbacks_they_took() -> None:
    # 60 calls at once on one route, each ending its own way: answered, refused (a
    # 200 refusal, then the content policy's fallback), too long (the context
    # window's fallback), or refused by the fallback too. Each call's records say what
    # it saw, and no refusal or prompt too long counts against the deployment's
    # health: with a breaker that opens after 2 failures, none opens.
    kinds = ["ok", "refuse", "long", "strict"]

    async def vendor(request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return HttpResponse.json({"error": {"message": "not here"}}, 404)
        body = request.json()
        # the prompt names its kind (Anthropic's body holds it in a text block)
        kind = next(k for k in kinds if f'"{k}-' in json.dumps(body["messages"]))
        model = body["model"]
        if request.path == "/v1/messages":  # claude-a, the route's target
            if kind in ("refuse", "strict"):
                return HttpResponse.json(anthropic_refusal(model))
            if kind == "long":
                too_long = {"type": "invalid_request_error", "message": "prompt is too long"}
                return HttpResponse.json({"type": "error", "error": too_long}, 400)
            answer = anthropic_refusal(model)
            answer.update(content=[{"type": "text", "text": "hi"}], stop_reason="end_turn")
            return HttpResponse.json(answer)
        if kind == "strict":
            return HttpResponse.json(OPENAI_REFUSAL, 400)
        return HttpResponse.json(openai_answer(model))

    exporter = RecordingExporter()
    outcomes: dict[str, Any] = {}
    with LoopbackServer(vendor) as server:
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "breaker": {"failures": 2},
            "providers": {
                "openai": {"base_url": f"{server.url}/v1", "api_key": MOCK_KEY},
                "anthropic": {"base_url": server.url, "api_key": MOCK_KEY},
            },
            "models": {
                "mixed": {
                    "targets": ["anthropic/claude-a"],
                    "context_window_fallbacks": ["openai/gpt-big"],
                    "content_policy_fallbacks": ["openai/gpt-lenient"],
                }
            },
        }

        async def one(prompt: str) -> None:
            try:
                outcomes[prompt] = await client.chat("mixed", prompt)
            except relaykit.RelayError as e:
                outcomes[prompt] = e

        async with relaykit.Client(config, plugins=[exporter]) as client:
            with anyio.fail_after(60):  # a safety net only
                async with anyio.create_task_group() as tg:
                    for i in range(60):
                        tg.start_soon(one, f"{kinds[i % 4]}-{i}")
    assert len(outcomes) == 60
    by_prompt: dict[str, list[Any]] = {}
    for record in exporter.records:
        by_prompt.setdefault(record.messages[-1].text, []).append(record)
    assert set(by_prompt) == set(outcomes)
    for prompt, outcome in outcomes.items():
        kind = prompt.split("-")[0]
        records = sorted(by_prompt[prompt], key=lambda r: r.id)
        final = [r for r in records if "-attempt-" not in r.id]
        apart = [r for r in records if "-attempt-" in r.id]
        assert len(final) == 1, (prompt, records)
        [call] = final
        served = {"ok": "claude-a", "refuse": "gpt-lenient", "long": "gpt-big"}
        if kind == "strict":
            assert isinstance(outcome, ContentFilterError) and outcome.model == "gpt-lenient"
            assert call.error_type == "ContentFilterError"
        else:
            assert outcome.model == served[kind], prompt
            assert call.ok and call.model == served[kind], (prompt, call)
        assert (call.attempts, call.fallbacks) == ((1, 0) if kind == "ok" else (2, 1)), prompt
        # the refused answers, billed, each recorded apart with its usage
        if kind in ("refuse", "strict"):
            [refused] = apart
            assert refused.id == f"{call.id}-attempt-1" and refused.model == "claude-a"
            assert refused.usage.input_tokens == 20 and refused.status == 200
        else:
            assert not apart, prompt
    opened = [e for e in exporter.events if getattr(e, "state", None) == "open"]
    assert not opened, opened
