"""Parameters of LiteLLM's ``acompletion`` and the OpenAI SDK that relaykit names
otherwise, or takes elsewhere: the refusal says where each goes, never the nearest
spelling of another parameter (``store`` is not ``stop``), and never ``extra`` for
what would then be sent to the vendor in the body (a key, a header, a retry count)."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit.testing import FakePlugin

SECRET = "sk-proj-ZZZZzzzz0123456789abcdefTUVW"


def client(fake: FakePlugin) -> relaykit.Client:
    return relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "fix"),
    [
        ({"max_completion_tokens": 10}, "max_tokens=10"),
        ({"reasoning_effort": "low"}, "reasoning='low'"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "reasoning=2048"),
        ({"extra_body": {"a": 1}}, "relaykit's name for it is extra"),
        ({"api_key": SECRET}, "[providers.NAME] api_key"),
        ({"base_url": "http://127.0.0.1:9/v1"}, "[providers.NAME] base_url"),
        ({"api_base": "http://127.0.0.1:9/v1"}, "[providers.NAME] base_url"),
        ({"extra_headers": {"X-Team": "a"}}, "[providers.NAME] headers"),
        ({"n": 2}, "one answer a call"),
        ({"stream_options": {"include_usage": True}}, "s.response.usage"),
        ({"stream": True}, "client.stream("),
        ({"num_retries": 2}, "[retry] attempts"),
        ({"max_retries": 2}, "[retry] attempts"),
        ({"drop_params": True}, "refused before sending"),
        ({"fallbacks": ["openai/gpt-4o"]}, "[models.NAME] targets"),
        ({"mock_response": "hi"}, "relaykit.testing.FakePlugin"),
        ({"functions": [{"name": "f", "parameters": {}}]}, "tools=["),
        ({"function_call": "auto"}, "tool_choice="),
        ({"request_timeout": 5}, "timeout=5"),
        ({"caching": True}, "cache=True"),
        ({"user": "u-1"}, "metadata={'user': 'u-1'}"),
        ({"store": True}, "extra={...}"),
        ({"top_k": 3}, "extra={...}"),
        ({"logprobs": True}, "extra={'logprobs': True}"),
        ({"top_logprobs": 3}, "r.logprobs holds them"),
    ],
)
async def test_a_foreign_parameter_is_refused_with_where_it_goes(
    params: dict[str, Any], fix: str
) -> None:
    fake = FakePlugin()
    (name,) = params
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat("fake/m", "hi", **params)
        with pytest.raises(InvalidRequestError) as streamed:
            async with c.stream("fake/m", "hi", **params):
                pass
    error = caught.value
    assert error.param == name
    assert error.message.startswith(f"unknown parameter {name!r}: ")
    assert fix in error.message, error.message
    assert "did you mean" not in error.message  # store is not stop, top_k not top_p
    assert SECRET not in str(error) and SECRET not in repr(error)
    assert streamed.value.message == error.message
    assert fake.calls == []


@pytest.mark.anyio
async def test_a_misspelling_still_gets_the_nearest_parameter() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match="did you mean 'max_tokens'"):
            await c.chat("fake/m", "hi", max_token=5)
        with pytest.raises(InvalidRequestError, match=r"in extra=\{\.\.\.\}"):
            await c.chat("fake/m", "hi", presence_penalty=0.5)
    assert fake.calls == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "fix"),
    [
        ("gpt-4o", "write 'openai/gpt-4o'"),
        ("o3-mini", "write 'openai/o3-mini'"),
        ("claude-sonnet-4-5", "write 'anthropic/claude-sonnet-4-5'"),
        ("gemini-2.5-flash", "write 'gemini/gemini-2.5-flash'"),
        ("llama3.2", "write e.g. 'openai/gpt-4o-mini'"),
        ("/gpt-4o", "write e.g. 'openai/gpt-4o-mini'"),
    ],
)
async def test_a_bare_model_name_is_refused_naming_its_provider(model: str, fix: str) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(relaykit.ConfigError) as caught:
            await c.chat(model, "hi")
    assert "is not of the form 'provider/model'" in caught.value.message
    assert fix in (caught.value.hint or ""), caught.value.hint
    assert fake.calls == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "fix"),
    [
        ("fake/m\n", "write 'fake/m'"),  # read from a file or a variable with its newline
        (" fake/m", "write 'fake/m'"),
        ("fake/ m", "write 'fake/m'"),
        ("fake /m", "write 'fake/m'"),
        ("fast ", "write 'fast'"),  # an alias
    ],
)
async def test_a_model_with_surrounding_whitespace_is_refused_naming_it(
    model: str, fix: str
) -> None:
    """Not stripped: a model id is refused rather than guessed at, as a bare name or a
    provider in capitals is, and one that differs only by a space would name another
    record, metric series and cache key than the same model without it."""
    fake = FakePlugin()
    config = {"storage": {"backend": "none"}, "models": {"fast": {"targets": ["fake/m"]}}}
    async with relaykit.Client(config, plugins=[fake]) as c:
        with pytest.raises(relaykit.ConfigError) as caught:
            await c.chat(model, "hi")
    assert "whitespace" in caught.value.message and repr(model) in caught.value.message
    assert fix in (caught.value.hint or ""), caught.value.hint
    assert fake.calls == []


@pytest.mark.anyio
async def test_a_provider_named_in_capitals_gets_its_name() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(relaykit.ConfigError) as caught:
            await c.chat("OpenAI/gpt-4o", "hi")
    assert "did you mean 'openai'?" in (caught.value.hint or ""), caught.value.hint
    assert fake.calls == []


@pytest.mark.parametrize(
    ("strategy", "fix"),
    [
        ("simple-shuffle", "strategy = 'weighted'"),
        ("latency-based-routing", "strategy = 'latency'"),
        ("usage-based-routing-v2", "use one of fallback, weighted, least-busy, latency"),
        ("least_busy", "did you mean 'least-busy'?"),
    ],
)
def test_a_litellm_routing_strategy_is_refused_with_relaykits_name(strategy: str, fix: str) -> None:
    config = {"models": {"gpt": {"targets": ["fake/a", "fake/b"], "strategy": strategy}}}
    with pytest.raises(relaykit.ConfigError) as caught:
        relaykit.Client({"storage": {"backend": "none"}, **config}, plugins=[FakePlugin()])
    assert f"models.gpt.strategy {strategy!r} is not a strategy" in caught.value.message
    assert fix in (caught.value.hint or ""), caught.value.hint
