"""``reasoning=`` on the wire: Chat Completions, the Responses API and the presets."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Reasoning
from relaykit.testing import OpenAIMock

KEY = "sk-test-0123456789abcdef0123"


def config(mock: OpenAIMock, name: str = "openai", **options: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {name: {"base_url": mock.base_url, "api_key": KEY, **options}},
    }


async def sent(mock: OpenAIMock, model: str, reasoning: Any, **options: Any) -> dict[str, Any]:
    """The body that went to the mock for one call with ``reasoning``."""
    name = model.split("/", 1)[0]
    async with relaykit.Client(config(mock, name, **options)) as client:
        await client.chat(model, "think", reasoning=reasoning)
    body: dict[str, Any] = mock.last_request.json()
    return body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [("high", "high"), ("none", "none"), ("minimal", "minimal"), (2048, "medium"), (0, "none")],
)
async def test_chat_completions_takes_an_effort(reasoning: Any, effort: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        body = await sent(mock, "openai/o4-mini", reasoning)
    assert body["reasoning_effort"] == effort
    assert "reasoning" not in body


@pytest.mark.anyio
async def test_thinking_on_without_an_amount_leaves_the_models_default() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        body = await sent(mock, "openai/o4-mini", True)
    assert "reasoning_effort" not in body


@pytest.mark.anyio
async def test_the_responses_api_takes_reasoning_effort_and_keeps_a_summary_from_extra() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock, api="responses")) as client:
            await client.chat(
                "openai/o4-mini",
                "think",
                reasoning="low",
                extra={"reasoning": {"summary": "auto"}},
            )
            body = mock.last_request.json()
            assert body["reasoning"] == {"effort": "low", "summary": "auto"}
            assert mock.sent_reasoning(mock.last_request) == Reasoning("low", summary=True)
            # extra's own effort is the caller's last word
            await client.chat(
                "openai/o4-mini", "think", reasoning="low", extra={"reasoning": {"effort": "high"}}
            )
            assert mock.last_request.json()["reasoning"] == {"effort": "high"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "wire"),
    [
        ("high", {"effort": "high"}),
        ("none", {"effort": "none"}),
        (3000, {"max_tokens": 3000}),
        (0, {"effort": "none"}),
        (True, {"enabled": True}),
        (Reasoning("low", 900), {"effort": "low"}),
    ],
)
async def test_openrouter_takes_its_reasoning_object_with_a_budget_too(
    reasoning: Any, wire: dict[str, Any]
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        body = await sent(mock, "openrouter/deepseek/deepseek-r1", reasoning)
    assert body["reasoning"] == wire
    assert "reasoning_effort" not in body


@pytest.mark.anyio
@pytest.mark.parametrize("preset", ["groq", "xai", "together", "fireworks", "cerebras", "vllm"])
async def test_compatible_services_take_reasoning_effort(preset: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        body = await sent(mock, f"{preset}/openai/gpt-oss-120b", "low")
    assert body["reasoning_effort"] == "low"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("preset", "model"), [("deepseek", "deepseek-chat"), ("mistral", "magistral-medium-latest")]
)
async def test_services_that_pick_thinking_by_model_refuse_the_setting_unsent(
    preset: str, model: str
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock, preset)) as client:
            with pytest.raises(InvalidRequestError, match="takes no reasoning setting") as caught:
                await client.chat(f"{preset}/{model}", "think", reasoning="high")
            assert caught.value.status is None and caught.value.param == "reasoning"
            assert caught.value.hint is not None and "extra=" in caught.value.hint
            assert mock.requests == []
            await client.chat(f"{preset}/{model}", "fine without it")  # nothing else changes


@pytest.mark.anyio
async def test_a_refused_setting_falls_back_to_a_deployment_that_takes_it() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        cfg = config(mock, "deepseek")
        cfg["providers"]["openai"] = {"base_url": mock.base_url, "api_key": KEY}
        cfg["models"] = {"thinker": {"targets": ["deepseek/deepseek-chat", "openai/o4-mini"]}}
        async with relaykit.Client(cfg) as client:
            r = await client.chat("thinker", "think", reasoning="medium")
        assert (r.provider, r.model) == ("openai", "o4-mini")
        assert [q.json()["model"] for q in mock.requests] == ["o4-mini"]
        assert mock.sent_reasoning(mock.last_request) == Reasoning("medium")


@pytest.mark.anyio
async def test_the_mock_refuses_an_effort_for_a_model_that_does_not_reason() -> None:
    # as OpenAI does: relaykit sends what was asked, and the vendor's 400 comes back typed
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock)) as client:
            with pytest.raises(InvalidRequestError, match="not supported with this model") as e:
                await client.chat("openai/gpt-4o-mini", "think", reasoning="high")
    assert e.value.status == 400


@pytest.mark.anyio
async def test_streams_carry_the_setting_too() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with (
            relaykit.Client(config(mock)) as client,
            client.stream("openai/o4-mini", "think", reasoning="xhigh") as s,
        ):
            async for _ in s:
                pass
        assert mock.last_request.json()["reasoning_effort"] == "xhigh"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("api", "model", "reasoning", "field", "wire"),
    [
        # the Responses API returns reasoning text only as summaries, only when asked
        (
            "responses",
            "openai/o4-mini",
            Reasoning("high", summary=True),
            "reasoning",
            {"effort": "high", "summary": "auto"},
        ),
        ("responses", "openai/o4-mini", Reasoning(summary=True), "reasoning", {"summary": "auto"}),
        (
            "responses",
            "openai/o4-mini",
            Reasoning("high", summary=False),
            "reasoning",
            {"effort": "high"},
        ),
        # OpenRouter returns reasoning unless told to leave it out
        (
            "chat",
            "openrouter/deepseek/deepseek-r1",
            Reasoning("low", summary=False),
            "reasoning",
            {"effort": "low", "exclude": True},
        ),
        (
            "chat",
            "openrouter/deepseek/deepseek-r1",
            Reasoning(summary=True),
            "reasoning",
            {"enabled": True},
        ),
        # OpenAI's Chat Completions returns no reasoning text: nothing to ask for
        ("chat", "openai/o4-mini", Reasoning("low", summary=True), "reasoning_effort", "low"),
    ],
)
async def test_summary_asks_for_the_reasoning_text_where_the_api_returns_it_on_request(
    api: str, model: str, reasoning: Reasoning, field: str, wire: Any
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        body = await sent(mock, model, reasoning, api=api)
    assert body[field] == wire
    if field == "reasoning_effort":
        assert "reasoning" not in body
