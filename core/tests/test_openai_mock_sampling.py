"""OpenAIMock refuses the sampling OpenAI's reasoning models refuse, in OpenAI's words.

o1, o3, o4-mini, gpt-5 and the Codex models take no ``temperature`` or ``top_p``
but 1, no penalties and no log probabilities while they reason, and Chat
Completions refuses them ``max_tokens`` (:mod:`relaykit.testing.openai_sampling`).
Before, the mock answered such a request: a client sending it passed here and
failed against the API.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock
from relaykit.testing.openai_sampling import reasons


def _unsupported(key: str) -> dict[str, Any]:
    return {
        "message": f"Unsupported parameter: '{key}' is not supported with this model.",
        "type": "invalid_request_error",
        "param": key,
        "code": "unsupported_parameter",
    }


def _default_only(key: str, value: str) -> dict[str, Any]:
    return {
        "message": f"Unsupported value: '{key}' does not support {value} with this model."
        " Only the default (1) value is supported.",
        "type": "invalid_request_error",
        "param": key,
        "code": "unsupported_value",
    }


MAX_TOKENS = {
    "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use"
    " 'max_completion_tokens' instead.",
    "type": "invalid_request_error",
    "param": "max_tokens",
    "code": "unsupported_parameter",
}

#: (model, fields added to a Chat Completions body, the error, or None: answered)
CHAT: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("o3", {"temperature": 0.5}, _default_only("temperature", "0.5")),
    ("o4-mini", {"temperature": 0}, _default_only("temperature", "0")),
    ("gpt-5", {"temperature": 0.0}, _default_only("temperature", "0.0")),
    ("gpt-5-mini", {"top_p": 0.9}, _default_only("top_p", "0.9")),
    ("o3-mini", {"temperature": 0.2}, _unsupported("temperature")),
    ("gpt-5-mini", {"presence_penalty": 0.5}, _unsupported("presence_penalty")),
    ("o3", {"frequency_penalty": -1}, _unsupported("frequency_penalty")),
    ("gpt-5-nano", {"logprobs": True}, _unsupported("logprobs")),
    ("o1", {"logprobs": True, "top_logprobs": 2}, _unsupported("logprobs")),
    ("gpt-5", {"top_logprobs": 3}, _unsupported("top_logprobs")),
    ("o3", {"max_tokens": 50}, MAX_TOKENS),
    ("gpt-5.1", {"max_tokens": 50}, MAX_TOKENS),
    ("gpt-5.1", {"max_tokens": 50, "reasoning_effort": "none"}, MAX_TOKENS),
    ("gpt-5.4", {"temperature": 0}, _default_only("temperature", "0")),
    (
        "gpt-5.2",
        {"temperature": 0, "reasoning_effort": "medium"},
        _default_only("temperature", "0"),
    ),
    # the defaults, asked for: what the model does anyway
    ("o3", {"temperature": 1, "top_p": 1.0, "presence_penalty": 0, "logprobs": False}, None),
    ("o3", {"max_completion_tokens": 50}, None),
    # GPT-5.1 and later sample when they do not reason
    ("gpt-5.1", {"temperature": 0.2, "top_p": 0.5, "logprobs": True}, None),
    ("gpt-5.2", {"temperature": 0, "reasoning_effort": "none"}, None),
    ("gpt-5.4", {"temperature": 0, "reasoning_effort": "none", "top_logprobs": 2}, None),
    # models that do not reason, OpenAI's and compatible services' thinking ones
    ("gpt-4o-mini", {"temperature": 0.2, "max_tokens": 50, "logprobs": True}, None),
    ("gpt-5-chat-latest", {"temperature": 0.2, "max_tokens": 50}, None),
    ("gpt-oss-120b", {"temperature": 0.2, "max_tokens": 50, "reasoning_effort": "high"}, None),
    ("qwen3-32b", {"temperature": 0.6, "max_tokens": 50, "presence_penalty": 1.5}, None),
]

#: (model, fields added to a Responses body, the error, or None: answered)
RESPONSES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("o3", {"temperature": 0.5}, _unsupported("temperature")),
    ("o4-mini", {"top_p": 0.9, "reasoning": {"effort": "low"}}, _unsupported("top_p")),
    ("gpt-5.1-codex", {"temperature": 0.5}, _unsupported("temperature")),
    ("gpt-5.2", {"temperature": 0.2, "reasoning": {"effort": "high"}}, _unsupported("temperature")),
    ("gpt-5", {"top_logprobs": 5}, _unsupported("top_logprobs")),
    ("o3", {"temperature": 1, "top_p": 1}, None),
    ("gpt-5.2", {"temperature": 0.2}, None),
    ("gpt-5.5", {"temperature": 0.2, "reasoning": {"effort": "none"}, "top_logprobs": 5}, None),
    ("gpt-4.1", {"temperature": 0.2, "top_p": 0.5, "top_logprobs": 5}, None),
]


def _chat(model: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}


def _responses(model: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "input": "hi", **fields}


#: each case of both tables as (path, body, error), named by its route and model
CASES = [
    pytest.param(path, body(model, fields), error, id=f"{name}-{model}-{n}")
    for name, path, body, table in (
        ("chat", "/chat/completions", _chat, CHAT),
        ("responses", "/responses", _responses, RESPONSES),
    )
    for n, (model, fields, error) in enumerate(table)
]


@pytest.mark.parametrize(("path", "body", "error"), CASES)
def test_both_apis_refuse_what_reasoning_models_refuse(
    path: str, body: dict[str, Any], error: dict[str, Any] | None
) -> None:
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}{path}", json=body, timeout=10)
        assert not mock.failures
    if error is None:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 400, r.text
        assert r.json()["error"] == error


def test_a_streamed_request_is_refused_before_it_streams() -> None:
    body = {**_chat("o3", {"temperature": 0.5}), "stream": True}
    with OpenAIMock() as mock:
        r = httpx.post(f"{mock.base_url}/chat/completions", json=body, timeout=10)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == _default_only("temperature", "0.5")


@pytest.mark.parametrize(
    ("model", "effort", "reasoning"),
    [
        ("o3", None, True),
        ("o3", "none", True),  # no effort turns the o-series' reasoning off
        ("gpt-5", "minimal", True),
        ("gpt-5.1", None, False),
        ("gpt-5.3", None, False),
        ("gpt-5.4", None, True),
        ("gpt-5.4-mini", "none", False),
        ("gpt-5.2-pro", None, True),
        ("gpt-5.2-codex", "none", True),
        ("gpt-5.1-chat-latest", "high", False),
        ("codex-mini-latest", None, True),
        ("gpt-oss-20b", "high", False),  # a compatible service's: its own sampling
    ],
)
def test_which_models_reason_at_which_effort(
    model: str, effort: str | None, reasoning: bool
) -> None:
    assert reasons(model, effort) is reasoning
