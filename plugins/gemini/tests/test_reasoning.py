"""``reasoning=`` on Gemini: a level for Gemini 3, a budget before, off where it can be.

Every call goes over loopback HTTP to :class:`GeminiMock`, which refuses what
Gemini refuses (a level and a budget together, a level before Gemini 3, a
budget of 0 to a model that always thinks) and reads the setting back.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from relaykit import InvalidRequestError, Reasoning
from relaykit.request import EFFORT_BUDGETS
from relaykit_gemini import thinking
from relaykit_gemini.testing import MODELS, GeminiMock, sent_reasoning, validate_thinking

from .conftest import client

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
FLASH_25 = "gemini/gemini-2.5-flash"
PRO_25 = "gemini/gemini-2.5-pro"
FLASH_3 = "gemini/gemini-3-flash-preview"
PRO_3 = "gemini/gemini-3-pro-preview"


def thinking_config(mock: GeminiMock) -> Any:
    """The last request's ``thinkingConfig``, or ``None`` when it had none."""
    return (mock.last_request.json().get("generationConfig") or {}).get("thinkingConfig")


# -- what goes on the wire ---------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("effort", ["minimal", "low", "medium", "high"])
async def test_an_effort_is_a_budget_before_gemini_3(mock: GeminiMock, effort: str) -> None:
    async with client(mock) as c:
        await c.chat(FLASH_25, "think", reasoning=effort)
    assert thinking_config(mock) == {"thinkingBudget": EFFORT_BUDGETS[effort]}
    assert mock.sent_reasoning(mock.last_request) == Reasoning(budget_tokens=EFFORT_BUDGETS[effort])


@pytest.mark.anyio
async def test_xhigh_is_capped_at_the_most_the_model_takes(mock: GeminiMock) -> None:
    async with client(mock) as c:
        await c.chat(FLASH_25, "think", reasoning="xhigh")
        assert thinking_config(mock) == {"thinkingBudget": 24_576}  # Flash's most
        await c.chat(PRO_25, "think", reasoning="xhigh")
        assert thinking_config(mock) == {"thinkingBudget": 32_768}  # Pro takes it all


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("effort", "level"),
    [("minimal", "minimal"), ("low", "low"), ("medium", "medium"), ("high", "high")],
)
async def test_an_effort_is_a_level_from_gemini_3(
    mock: GeminiMock, effort: str, level: str
) -> None:
    async with client(mock) as c:
        await c.chat(FLASH_3, "think", reasoning=effort)
    assert thinking_config(mock) == {"thinkingLevel": level}
    assert mock.sent_reasoning(mock.last_request) == Reasoning(level)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_xhigh_is_gemini_3s_high(mock: GeminiMock) -> None:
    async with client(mock) as c:
        await c.chat(PRO_3, "think", reasoning="xhigh")
    assert thinking_config(mock) == {"thinkingLevel": "high"}


@pytest.mark.anyio
async def test_a_level_the_model_lacks_is_geminis_to_refuse(mock: GeminiMock) -> None:
    # Gemini 3 Pro takes low and high only; which levels a model takes changes
    # from model to model, so the plugin sends the effort and Gemini answers.
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="MINIMAL is not supported") as e:
            await c.chat(PRO_3, "think", reasoning="minimal")
    assert e.value.status == 400


@pytest.mark.anyio
@pytest.mark.parametrize("model", [FLASH_25, PRO_25, FLASH_3])
async def test_a_budget_goes_as_given_to_every_generation(mock: GeminiMock, model: str) -> None:
    async with client(mock) as c:
        await c.chat(model, "think", reasoning=2048)
    assert thinking_config(mock) == {"thinkingBudget": 2048}
    assert mock.sent_reasoning(mock.last_request) == Reasoning(budget_tokens=2048)


@pytest.mark.anyio
async def test_a_budget_the_model_refuses_comes_back_as_geminis_400(mock: GeminiMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=r"thinking budget \(50\) is invalid") as e:
            await c.chat(PRO_25, "think", reasoning=50)  # 2.5 Pro takes 128 at least
    assert e.value.status == 400


@pytest.mark.anyio
async def test_thinking_on_is_dynamic_before_gemini_3_and_the_default_after(
    mock: GeminiMock,
) -> None:
    async with client(mock) as c:
        await c.chat("gemini/gemini-2.5-flash-lite", "think", reasoning=True)
        assert thinking_config(mock) == {"thinkingBudget": -1}
        assert mock.sent_reasoning(mock.last_request) == Reasoning()
        await c.chat(FLASH_3, "think", reasoning=True)
        assert "generationConfig" not in mock.last_request.json()  # it thinks by default


@pytest.mark.anyio
async def test_thinking_off_is_a_budget_of_zero(mock: GeminiMock) -> None:
    async with client(mock) as c:
        await c.chat(FLASH_25, "at once", reasoning=False)
        assert thinking_config(mock) == {"thinkingBudget": 0}
        await c.chat("gemini/gemini-2.5-flash-lite", "at once", reasoning={"budget_tokens": 0})
        assert thinking_config(mock) == {"thinkingBudget": 0}
    assert mock.sent_reasoning(mock.last_request) == Reasoning("none")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "reasoning", "hint"),
    [
        (FLASH_3, "none", "minimal"),
        (PRO_3, 0, "low"),
        (PRO_25, False, "128"),
    ],
)
async def test_thinking_off_is_refused_unsent_where_the_model_always_thinks(
    mock: GeminiMock, model: str, reasoning: Any, hint: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="cannot turn thinking off") as e:
            await c.chat(model, "at once", reasoning=reasoning)
        with pytest.raises(InvalidRequestError, match="cannot turn thinking off"):
            async with c.stream(model, "at once", reasoning=reasoning) as s:
                async for _ in s:
                    pass
    err = e.value
    assert (err.status, err.provider, err.param) == (None, "gemini", "reasoning")
    assert err.hint is not None and hint in err.hint
    assert not mock.requests, "a refused setting must not reach Gemini"


@pytest.mark.anyio
async def test_a_model_of_unknown_generation_gets_a_budget() -> None:
    alias = ("gemini-flash-latest", 1_048_576, 65_536, ("generateContent",))
    with GeminiMock(api_key=KEY, models=(*MODELS, alias)) as mock:
        async with client(mock) as c:
            await c.chat("gemini/gemini-flash-latest", "think", reasoning="high")
            assert thinking_config(mock) == {"thinkingBudget": EFFORT_BUDGETS["high"]}
            await c.chat("gemini/gemini-flash-latest", "at once", reasoning="none")
            assert thinking_config(mock) == {"thinkingBudget": 0}


@pytest.mark.anyio
async def test_without_reasoning_nothing_is_sent(mock: GeminiMock) -> None:
    async with client(mock) as c:
        await c.chat(FLASH_3, "as you like")
    assert "generationConfig" not in mock.last_request.json()
    assert mock.sent_reasoning(mock.last_request) is None


@pytest.mark.anyio
async def test_streaming_sends_the_same_setting(mock: GeminiMock) -> None:
    async with client(mock) as c, c.stream(FLASH_3, "think", reasoning="medium") as s:
        async for _ in s:
            pass
    assert "streamGenerateContent" in mock.last_request.path
    assert thinking_config(mock) == {"thinkingLevel": "medium"}


# -- with the provider's options ---------------------------------------------------


@pytest.mark.anyio
async def test_reasoning_replaces_the_configured_budget_and_keeps_include_thoughts(
    mock: GeminiMock,
) -> None:
    async with client(mock, include_thoughts=True, thinking_budget=512) as c:
        await c.chat(FLASH_25, "configured")
        assert thinking_config(mock) == {"includeThoughts": True, "thinkingBudget": 512}
        await c.chat(FLASH_3, "a level", reasoning="high")
        # a level with the configured budget beside it would be a 400
        assert thinking_config(mock) == {"includeThoughts": True, "thinkingLevel": "high"}
        await c.chat(FLASH_25, "dynamic", reasoning=True)
        assert thinking_config(mock) == {"includeThoughts": True, "thinkingBudget": -1}
        await c.chat(FLASH_3, "the default", reasoning=True)
        assert thinking_config(mock) == {"includeThoughts": True}


@pytest.mark.anyio
async def test_a_configured_budget_of_zero_gives_way_to_reasoning(mock: GeminiMock) -> None:
    async with client(mock, thinking_budget=0) as c:
        await c.chat(FLASH_25, "think after all", reasoning="low")
    assert thinking_config(mock) == {"thinkingBudget": EFFORT_BUDGETS["low"]}


# -- with extra --------------------------------------------------------------------


@pytest.mark.anyio
async def test_extra_thinking_config_adds_to_ours(mock: GeminiMock) -> None:
    extra = {"generationConfig": {"topK": 3, "thinkingConfig": {"includeThoughts": True}}}
    async with client(mock) as c:
        await c.chat(FLASH_3, "think", reasoning="low", max_tokens=9, extra=extra)
    assert mock.last_request.json()["generationConfig"] == {
        "maxOutputTokens": 9,
        "topK": 3,
        "thinkingConfig": {"thinkingLevel": "low", "includeThoughts": True},
    }


@pytest.mark.anyio
async def test_an_amount_in_extra_replaces_ours_whole(mock: GeminiMock) -> None:
    extra = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 4096}}}
    async with client(mock, include_thoughts=True) as c:
        await c.chat(FLASH_3, "think", reasoning="high", extra=extra)
    # extra wins, and without our level beside its budget (which Gemini refuses)
    assert thinking_config(mock) == {"includeThoughts": True, "thinkingBudget": 4096}


# -- count_tokens ------------------------------------------------------------------


@pytest.mark.anyio
async def test_count_tokens_carries_the_setting_and_refuses_the_same(mock: GeminiMock) -> None:
    async with client(mock) as c:
        await c.count_tokens(FLASH_3, "think", reasoning="low")
        inner = mock.last_request.json()["generateContentRequest"]
        assert inner["generationConfig"] == {"thinkingConfig": {"thinkingLevel": "low"}}
        assert mock.sent_reasoning(mock.last_request) == Reasoning("low")
        sent = len(mock.requests)
        with pytest.raises(InvalidRequestError, match="cannot turn thinking off"):
            await c.count_tokens(PRO_3, "at once", reasoning="none")
    assert len(mock.requests) == sent


# -- the plugin's reading of model names -------------------------------------------


@pytest.mark.parametrize(
    ("model", "gen"),
    [
        ("gemini-2.5-flash", 2),
        ("models/gemini-3-pro-preview", 3),
        ("gemini-3.1-flash-lite-preview", 3),
        ("gemini-3", 3),
        ("gemini-flash-latest", None),
        ("gemini-exp-1206", None),
        ("tunedModels/my-model", None),
    ],
)
def test_generation_from_the_name(model: str, gen: int | None) -> None:
    assert thinking.generation(model) == gen


# -- the mock, as Gemini -----------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "model", "message"),
    [
        (
            {"thinkingLevel": "low", "thinkingBudget": 1024},
            "gemini-3-flash-preview",
            "only one of thinking budget and thinking level",
        ),
        ({"thinkingLevel": "high"}, "gemini-2.5-flash", "Thinking level is not supported"),
        ({"thinkingLevel": "medium"}, "gemini-3-pro-preview", "MEDIUM is not supported"),
        ({"thinkingLevel": "max"}, None, "thinking_level"),
        ({"thinkingBudget": "lots"}, None, "TYPE_INT32"),
        ({"thinkingBudget": 0}, "gemini-2.5-pro", "only works in thinking mode"),
        ({"thinkingBudget": 0}, "gemini-3-flash-preview", "only works in thinking mode"),
        ({"thinkingBudget": 24_577}, "gemini-2.5-flash", r"\(24577\) is invalid"),
        ({"thinkingBudget": 256}, "gemini-2.5-flash-lite", r"\(256\) is invalid"),
        ({"thinkingBudget": -2}, "gemini-2.5-flash", r"\(-2\) is invalid"),
        ({"thinkingBudget": 1024}, "gemini-2.0-flash", "thinking is not supported"),
        ({"effort": "high"}, None, 'Unknown name "effort"'),
        ({"includeThoughts": "yes"}, None, "TYPE_BOOL"),
        ("high", None, "ThinkingConfig"),
    ],
)
def test_the_mock_refuses_as_gemini_does(settings: Any, model: str | None, message: str) -> None:
    problem = validate_thinking(settings, model)
    assert problem is not None
    assert re.search(message, problem), problem


@pytest.mark.parametrize(
    ("settings", "model"),
    [
        ({"thinkingLevel": "LOW"}, "gemini-3-pro-preview"),  # the enum's own spelling
        ({"thinkingBudget": -1}, "gemini-2.5-pro"),
        ({"thinkingBudget": 0}, "gemini-2.0-flash"),
        ({"thinkingBudget": 0, "includeThoughts": False}, "gemini-2.5-flash-lite"),
        ({"thinkingBudget": 128}, "gemini-2.5-pro"),
        ({"thinkingBudget": 10**6}, "a-model-the-mock-does-not-know"),
        ({"includeThoughts": True}, "gemini-2.0-flash"),
    ],
)
def test_the_mock_takes_what_gemini_takes(settings: Any, model: str) -> None:
    assert validate_thinking(settings, model) is None


@pytest.mark.parametrize(
    ("settings", "read"),
    [
        ({"thinkingLevel": "HIGH"}, Reasoning("high")),
        ({"thinkingBudget": 0}, Reasoning("none")),
        ({"thinkingBudget": -1}, Reasoning()),
        ({"thinkingBudget": 300}, Reasoning(budget_tokens=300)),
        ({"includeThoughts": True}, None),
        (None, None),
    ],
)
def test_the_mock_reads_the_setting_back(settings: Any, read: Reasoning | None) -> None:
    body: dict[str, Any] = {"contents": []}
    if settings is not None:
        body["generationConfig"] = {"thinkingConfig": settings}
    assert sent_reasoning(body) == read


@pytest.mark.anyio
async def test_summary_asks_for_thoughts_over_the_providers_option(mock: GeminiMock) -> None:
    async with client(mock, include_thoughts=False) as c:
        await c.chat(FLASH_25, "think", reasoning=Reasoning("low", summary=True))
        assert thinking_config(mock) == {"includeThoughts": True, "thinkingBudget": 1024}
        await c.chat(FLASH_3, "think", reasoning={"effort": "high", "summary": False})
        assert thinking_config(mock) == {"includeThoughts": False, "thinkingLevel": "high"}
        await c.chat(FLASH_25, "think", reasoning="low")  # the option, when the call says nothing
        assert thinking_config(mock) == {"includeThoughts": False, "thinkingBudget": 1024}
