"""``reasoning=`` on Ollama: ``think`` true or false, or a level for gpt-oss models.

Every call goes over loopback HTTP to :class:`OllamaMock`, which refuses what
Ollama refuses (thinking asked of a model that cannot think, a level for a
model that takes none, an unknown value) and reads the setting back.
"""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import InvalidRequestError, Reasoning
from relaykit_ollama import thinking
from relaykit_ollama.testing import MODELS, OllamaMock, client_for, sent_reasoning, validate

QWEN = "ollama/qwen3:8b"
GPT_OSS = "ollama/gpt-oss:20b"
LLAMA = "ollama/llama3.2"


def sent_think(mock: OllamaMock) -> Any:
    """The last request's ``think``, or ``"absent"`` when it had none."""
    return mock.last_request.json().get("think", "absent")


# -- what goes on the wire ---------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("reasoning", ["minimal", "high", "xhigh", 512, 30_000, True])
async def test_any_amount_is_true_for_a_model_without_levels(
    mock: OllamaMock, reasoning: Any
) -> None:
    async with client_for(mock) as c:
        await c.chat(QWEN, "think", reasoning=reasoning)
    assert sent_think(mock) is True
    assert mock.sent_reasoning(mock.last_request) == Reasoning()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasoning", "level"),
    [
        ("minimal", "low"),  # Ollama has nothing below low
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "high"),  # nor above high
        (1024, "low"),  # a budget as the effort it stands for
        (8192, "medium"),
        (8193, "high"),
        ({"effort": "low", "budget_tokens": 4000}, "low"),  # the effort given wins
    ],
)
async def test_gpt_oss_gets_a_level(mock: OllamaMock, reasoning: Any, level: str) -> None:
    async with client_for(mock) as c:
        await c.chat(GPT_OSS, "think", reasoning=reasoning)
    assert sent_think(mock) == level
    assert mock.sent_reasoning(mock.last_request) == Reasoning(level)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_thinking_on_is_true_for_gpt_oss_too(mock: OllamaMock) -> None:
    async with client_for(mock) as c:
        await c.chat(GPT_OSS, "think", reasoning=True)  # its default, medium
    assert sent_think(mock) is True


@pytest.mark.anyio
@pytest.mark.parametrize("model", [QWEN, GPT_OSS, LLAMA])
@pytest.mark.parametrize("reasoning", [False, "none", 0])
async def test_thinking_off_is_false(mock: OllamaMock, model: str, reasoning: Any) -> None:
    async with client_for(mock) as c:
        await c.chat(model, "at once", reasoning=reasoning)  # Llama takes it too
    assert sent_think(mock) is False
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
async def test_a_gpt_oss_model_by_another_path_gets_a_level() -> None:
    name = "hf.co/unsloth/gpt-oss-20b-GGUF:latest"
    with OllamaMock(models=(*MODELS, (name, "gptoss", "20.9B"))) as mock:
        async with client_for(mock) as c:
            await c.chat(f"ollama/{name}", "think", reasoning="high")
        assert sent_think(mock) == "high"


@pytest.mark.anyio
async def test_thinking_asked_of_a_model_that_cannot_is_ollamas_400(mock: OllamaMock) -> None:
    async with client_for(mock) as c:
        with pytest.raises(InvalidRequestError, match="does not support thinking") as e:
            await c.chat(LLAMA, "think", reasoning="high")
    assert e.value.status == 400


@pytest.mark.anyio
async def test_without_reasoning_nothing_is_sent(mock: OllamaMock) -> None:
    async with client_for(mock) as c:
        await c.chat(QWEN, "as you like")
    assert sent_think(mock) == "absent"
    assert mock.sent_reasoning(mock.last_request) is None


@pytest.mark.anyio
async def test_streaming_sends_the_same_setting(mock: OllamaMock) -> None:
    async with client_for(mock) as c, c.stream(GPT_OSS, "think", reasoning="xhigh") as s:
        async for _ in s:
            pass
    body = mock.last_request.json()
    assert (body["stream"], body["think"]) == (True, "high")


# -- with the provider's think option and extra -----------------------------------


@pytest.mark.anyio
async def test_reasoning_replaces_the_configured_think(mock: OllamaMock) -> None:
    async with client_for(mock, think="high") as c:
        await c.chat(GPT_OSS, "configured")
        assert sent_think(mock) == "high"
        await c.chat(GPT_OSS, "quick", reasoning="minimal")
        assert sent_think(mock) == "low"
        await c.chat(GPT_OSS, "at once", reasoning=False)
        assert sent_think(mock) is False
    async with client_for(mock, think=False) as c:
        await c.chat(QWEN, "think after all", reasoning=2048)
        assert sent_think(mock) is True


@pytest.mark.anyio
async def test_think_in_extra_wins(mock: OllamaMock) -> None:
    async with client_for(mock) as c:
        await c.chat(GPT_OSS, "think", reasoning="low", extra={"think": "medium"})
    assert sent_think(mock) == "medium"


# -- the plugin's reading of model names -------------------------------------------


@pytest.mark.parametrize(
    ("model", "levels"),
    [
        ("gpt-oss:20b", True),
        ("gpt-oss", True),
        ("GPT-OSS:120b-cloud", True),
        ("hf.co/unsloth/gpt-oss-20b-GGUF", True),
        ("qwen3:8b", False),
        ("my-gpt-oss-finetune", False),
    ],
)
def test_gpt_oss_by_name(model: str, levels: bool) -> None:
    assert thinking.takes_levels(model) is levels


# -- the mock, as Ollama -----------------------------------------------------------


@pytest.mark.anyio
async def test_the_mock_refuses_a_level_for_a_model_without_levels(mock: OllamaMock) -> None:
    async with client_for(mock) as c:
        with pytest.raises(InvalidRequestError, match='think value "high" is not supported'):
            await c.chat(QWEN, "think", extra={"think": "high"})


@pytest.mark.parametrize("think", ["max", "Medium", 2, [True]])
def test_the_mock_refuses_a_think_ollama_does_not_know(think: Any) -> None:
    problem = validate({"model": "qwen3:8b", "messages": [], "think": think})
    assert problem is not None and problem.startswith("invalid think value")


@pytest.mark.parametrize(
    ("think", "read"),
    [
        (False, Reasoning("none")),
        (True, Reasoning()),
        ("low", Reasoning("low")),
        (None, None),
    ],
)
def test_the_mock_reads_the_setting_back(think: Any, read: Reasoning | None) -> None:
    body: dict[str, Any] = {"model": "gpt-oss:20b", "messages": []}
    if think is not None:
        body["think"] = think
    assert sent_reasoning(body) == read
