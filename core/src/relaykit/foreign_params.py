"""Where a chat parameter of LiteLLM's ``acompletion`` or the OpenAI SDK goes in relaykit.

Code moved from either passes their names (``max_completion_tokens``,
``reasoning_effort``, ``api_key``, ``num_retries``, ...). ``chat`` refuses every
unknown parameter; for these the refusal says where the setting lives instead of
the nearest spelling of another parameter (``store`` is not ``stop``) or the
catch-all ``extra={...}``, which would send a key, a header or a retry count to
the vendor in the request body.
"""

from __future__ import annotations

from typing import Any

__all__ = ["foreign_param_fix"]

#: the setting is the provider's configuration, not a call's
_PROVIDER_SETTING = (
    "{what} is the provider's configuration, not a call's: set [providers.NAME] {key} "
    "(another account or endpoint of one vendor: its own [providers.NAME] with type = "
    "'openai', 'anthropic', ..., called as 'NAME/model')"
)

_FIXES: dict[str, str] = {
    "max_completion_tokens": "relaykit's name is max_tokens (max_tokens={value}): the "
    "OpenAI plugin sends it as max_completion_tokens, other providers as their own field",
    "max_output_tokens": "relaykit's name is max_tokens (max_tokens={value})",
    "reasoning_effort": "relaykit's name is reasoning (reasoning={value}): each provider "
    "gets its own field (reasoning_effort, Anthropic's thinking, Gemini's thinkingConfig)",
    "thinking": "relaykit's name is reasoning: a budget in tokens (reasoning={budget}), an "
    "effort (reasoning='low') or reasoning=False; each provider gets its own field",
    "extra_body": "relaykit's name for it is extra (merged into the provider's request "
    "body as given)",
    "stop_sequences": "relaykit's name is stop (stop=[...]): each provider gets its own field",
    "request_timeout": "relaykit's name is timeout (timeout={value}, seconds for the whole call)",
    "api_key": _PROVIDER_SETTING.format(what="a key", key="api_key or api_key_env"),
    "base_url": _PROVIDER_SETTING.format(what="an endpoint", key="base_url"),
    "api_base": _PROVIDER_SETTING.format(what="an endpoint", key="base_url"),
    "api_version": _PROVIDER_SETTING.format(what="an API version", key="api_version"),
    "organization": _PROVIDER_SETTING.format(what="an organization", key="headers"),
    "extra_headers": _PROVIDER_SETTING.format(what="a header", key="headers"),
    "headers": _PROVIDER_SETTING.format(what="a header", key="headers"),
    "n": "relaykit returns one answer a call (a vendor's n would bill several and keep "
    "one): for several answers make several calls, concurrently in an anyio task group",
    "stream": "client.chat returns the whole answer; for a stream use "
    "`async with client.stream(model, messages) as s:`",
    "stream_options": "streams always report usage (UsageUpdate events, then "
    "s.response.usage): relaykit asks each vendor for it",
    "num_retries": "retries are the client's configuration: [retry] attempts = N "
    "(Client(config={'retry': {'attempts': N}}))",
    "max_retries": "retries are the client's configuration: [retry] attempts = N "
    "(Client(config={'retry': {'attempts': N}}))",
    "fallbacks": "fallbacks are a route: [models.NAME] targets = ['openai/gpt-4o', ...], "
    "strategy = 'fallback', then call 'NAME'",
    "drop_params": "relaykit drops nothing unsaid: a parameter a provider cannot take is "
    "refused before sending (InvalidRequestError naming it, so a route falls back); "
    "leave drop_params out",
    "mock_response": "for tests, use relaykit.testing.FakePlugin (a provider answering "
    "from a script) or the vendor mocks in relaykit.testing",
    "functions": "the functions API is tools now: tools=[{'name': ..., 'parameters': ...}] "
    "(the function dicts as they are)",
    "function_call": "the functions API is tools now: tool_choice='auto', 'none', "
    "'required' or a tool's name",
    "caching": "relaykit's name is cache (cache=True answers from the response cache)",
    "user": "who called is metadata (metadata={'user': {value}}): limits, budgets and "
    "logs go by it, and it is not sent; OpenAI's own user field goes in extra={...}",
    "logprobs": "a vendor's field: extra={'logprobs': True} (with 'top_logprobs': N for "
    "alternatives) asks OpenAI's Chat Completions and compatibles (Gemini's: "
    "extra={'generationConfig': {'responseLogprobs': True, 'logprobs': N}}), and "
    "r.logprobs holds them (a stream's: its LogprobsDelta events)",
    "top_logprobs": "a vendor's field: extra={'logprobs': True, 'top_logprobs': N} asks "
    "OpenAI's Chat Completions and compatibles, and r.logprobs holds them",
}

#: vendors' own fields whose names are near a parameter of relaykit's they are not
_VENDOR_FIELDS = frozenset(("store", "top_k", "top_a", "tool_config", "response_model"))

_VENDOR_FIX = "a vendor's own field: pass provider-specific fields in extra={...}"


def foreign_param_fix(name: str, value: Any) -> str | None:
    """Where parameter ``name`` (given ``value``) goes in relaykit, or ``None`` when it
    is no parameter relaykit knows from LiteLLM, the OpenAI SDK or a vendor's API.

    ``value`` is shown only when it is a number or a short string, and never for a
    credential or header: the fix is for a log line."""
    if name in _VENDOR_FIELDS:
        return _VENDOR_FIX
    fix = _FIXES.get(name)
    if fix is None:
        return None
    # replace, not format: the fixes hold literal braces (extra={...})
    return fix.replace("{value}", _shown(value)).replace("{budget}", _budget(value))


def _shown(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return "..."


def _budget(value: Any) -> str:
    """Anthropic's ``thinking={'type': 'enabled', 'budget_tokens': N}``'s budget."""
    budget = value.get("budget_tokens") if isinstance(value, dict) else None
    return _shown(budget) if isinstance(budget, int) else "4096"
