"""``reasoning=``: one thinking setting for every provider, checked and kept by the core."""

from __future__ import annotations

import pytest

import relaykit
from relaykit import InvalidRequestError, Reasoning
from relaykit.request import EFFORT_BUDGETS, build_request
from relaykit.response_cache import cache_key
from relaykit.testing import FakePlugin, RecordingExporter


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("low", Reasoning("low")),
        (2048, Reasoning(budget_tokens=2048)),
        (0, Reasoning(budget_tokens=0)),
        (True, Reasoning()),
        (False, Reasoning("none")),
        ({"effort": "high"}, Reasoning("high")),
        ({"effort": "high", "budget_tokens": 30000}, Reasoning("high", 30000)),
        (Reasoning("minimal"), Reasoning("minimal")),
    ],
)
def test_a_setting_is_given_as_a_word_a_budget_a_flag_or_a_dict(
    given: object, expected: Reasoning
) -> None:
    assert build_request("m", (), {"reasoning": given}).reasoning == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("hihg", r"'hihg' is not one relaykit knows \(did you mean 'high'\?\)"),
        (-5, "must be 0 \\(thinking off\\) or more, not -5"),
        (1.5, "1.5 is not understood \\(use an effort"),
        ({"effrot": "low"}, "no field 'effrot' \\(did you mean 'effort'\\?\\)"),
        ({"effort": "none", "budget_tokens": 100}, "disagree on whether the model thinks"),
        ({"budget_tokens": "lots"}, "whole number of tokens, not 'lots'"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_problem_and_the_fix(
    given: object, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        build_request("m", (), {"reasoning": given})
    assert caught.value.param == "reasoning"


def test_an_effort_and_a_budget_convert_into_each_other() -> None:
    # Providers that take a budget get the effort's; those that take an effort
    # get the budget's, by the same table read back.
    assert [Reasoning(e).tokens() for e in ("none", "low", "medium", "high")] == [
        0,
        1024,
        8192,
        24576,
    ]
    assert [Reasoning(budget_tokens=b).level() for b in (0, 1, 1024, 1025, 8192, 9000, 10**6)] == [
        "none",
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    for effort in ("low", "medium", "high"):  # round trip
        assert Reasoning(budget_tokens=EFFORT_BUDGETS[effort]).level() == effort
    assert Reasoning().level() is None and Reasoning().tokens() is None
    assert Reasoning("none").off and Reasoning(budget_tokens=0).off and not Reasoning().off
    assert Reasoning("high", 5000).tokens() == 5000  # the exact budget wins


def test_the_cache_key_tells_settings_apart_and_keeps_old_keys() -> None:
    def key(**params: object) -> str:
        return cache_key("openai", build_request("m", (relaykit.Message.user("hi"),), params))

    plain = key(temperature=0)
    assert key(temperature=0, reasoning=None) == plain
    keys = {plain, key(temperature=0, reasoning="low"), key(temperature=0, reasoning="high")}
    keys.add(key(temperature=0, reasoning=1024))
    assert len(keys) == 4


@pytest.mark.anyio
async def test_the_setting_reaches_the_provider_and_the_record() -> None:
    fake, exported = FakePlugin(), RecordingExporter()
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake, exported]) as c:
        await c.chat("fake/m", "think", reasoning="high")
        async with c.stream("fake/m", "think briefly", reasoning=512) as s:
            async for _ in s:
                pass
        await c.chat("fake/m", "no setting")
        with pytest.raises(InvalidRequestError, match="did you mean 'medium'"):
            await c.chat("fake/m", "typo", reasoning="meduim")
    assert [r.reasoning for r in fake.calls] == [
        Reasoning("high"),
        Reasoning(budget_tokens=512),
        None,
    ]
    params = [r.params.get("reasoning") for r in exported.records]
    assert params == [{"effort": "high"}, {"budget_tokens": 512}, None]


def test_the_sync_client_takes_it_too() -> None:
    fake = FakePlugin()
    with relaykit.SyncClient({"storage": {"backend": "none"}}, plugins=[fake]) as c:
        c.chat("fake/m", "think", reasoning="low")
    assert fake.calls[0].reasoning == Reasoning("low")


def test_summary_asks_for_the_reasoning_text_and_cannot_ask_it_of_thinking_off() -> None:
    r = build_request("m", (), {"reasoning": {"effort": "high", "summary": True}}).reasoning
    assert r == Reasoning("high", summary=True)
    assert r.to_param() == {"effort": "high", "summary": True}
    assert Reasoning.coerce({"summary": False}) == Reasoning(summary=False)
    with pytest.raises(InvalidRequestError, match="a model told not to think"):
        Reasoning("none", summary=True)
    with pytest.raises(InvalidRequestError, match="summary must be True, False or None"):
        Reasoning("low", summary="yes")  # type: ignore[arg-type]
    assert Reasoning("none", summary=False).off  # asking for no text of no thinking is fine


def test_the_cache_key_tells_a_summary_apart() -> None:
    def key(reasoning: object) -> str:
        messages = (relaykit.Message.user("hi"),)
        return cache_key("openai", build_request("m", messages, {"reasoning": reasoning}))

    assert (
        len(
            {
                key("high"),
                key(Reasoning("high", summary=True)),
                key({"effort": "high", "summary": False}),
            }
        )
        == 3
    )
