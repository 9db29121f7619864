"""Web search in OpenAI's APIs (and OpenRouter's server tool), for
:class:`~relaykit.testing.OpenAIMock`.

What the mock checks, in the API's words where OpenAI publishes them:

- the Responses API's ``{"type": "web_search"}`` tool (``web_search_2025_08_26``,
  and the older ``web_search_preview``, which takes no ``filters``): only
  ``filters.allowed_domains`` (bare domains), ``search_context_size`` (low,
  medium, high) and an ``approximate`` ``user_location`` (city, country, region,
  timezone); anything else is an unknown parameter;
- Chat Completions' ``web_search_options`` (``search_context_size``, and a
  ``user_location`` with its fields under ``approximate``), taken only by the
  search models (gpt-4o-search-preview, gpt-4o-mini-search-preview,
  gpt-5-search-api, dated snapshots too); a search tool in Chat Completions'
  ``tools`` is refused, as OpenAI does, but OpenRouter's
  ``{"type": "openrouter:web_search", "parameters": {...}}`` is taken (the mock
  stands in for OpenRouter too).

What it answers, for a scripted ``Reply(citations=..., web_searches=N)``: in the
Responses API, ``N`` ``web_search_call`` output items (``status: completed``, a
``search`` action of the reply's ``search_queries``) when the request carried the
tool, and each citation as a ``url_citation`` annotation on the ``output_text``
(``start_index``/``end_index`` index that part's text); in Chat Completions,
``message.annotations`` (each ``{"type": "url_citation", "url_citation": {...}}``),
streamed as one ``delta.annotations`` chunk after the text.
"""

from __future__ import annotations

import re
from typing import Any

from .openai_responses import Refusal
from .script import Reply

#: the models Chat Completions searches with (``web_search_options``), snapshots too
_SEARCH_MODELS = re.compile(
    r"^(gpt-4o-search-preview|gpt-4o-mini-search-preview|gpt-5-search-api)\b"
)
#: the Responses API's web search tool types
TOOL_TYPES = (
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
)
_SIZES = ("low", "medium", "high")
_LOCATION_FIELDS = frozenset({"city", "country", "region", "timezone"})
_OPENROUTER_PARAMETERS = frozenset(
    {
        "engine",
        "max_results",
        "max_total_results",
        "max_characters",
        "search_context_size",
        "user_location",
        "allowed_domains",
        "excluded_domains",
    }
)


def is_search_model(model: str) -> bool:
    """Whether Chat Completions searches the web with ``model``."""
    return _SEARCH_MODELS.match(model) is not None


def _unknown(param: str) -> Refusal:
    return Refusal(f"Unknown parameter: '{param}'.", param)


def _size(value: Any, param: str) -> None:
    if value is not None and value not in _SIZES:
        raise Refusal(
            f"Invalid value: '{value}'. Supported values are: 'low', 'medium', and 'high'.", param
        )


def _location(value: Any, param: str, *, nested: bool) -> None:
    if not isinstance(value, dict):
        raise Refusal(f"Invalid type for '{param}': expected an object.", param)
    if value.get("type") != "approximate":
        raise Refusal(
            f"Invalid value: '{value.get('type')}'. Supported values are: 'approximate'.",
            f"{param}.type",
        )
    fields = value.get("approximate") if nested else value
    if nested:
        for key in sorted(set(value) - {"type", "approximate"}):
            raise _unknown(f"{param}.{key}")
        if not isinstance(fields, dict):
            raise Refusal(f"Missing required parameter: '{param}.approximate'.", param)
        where = f"{param}.approximate"
    else:
        fields = {k: v for k, v in value.items() if k != "type"}
        where = param
    for key in sorted(set(fields) - _LOCATION_FIELDS):
        raise _unknown(f"{where}.{key}")


def _domains(value: Any, param: str) -> None:
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise Refusal(f"Invalid type for '{param}': expected an array of strings.", param)
    for d in value:
        if "://" in d:
            raise Refusal(
                f"Invalid domain '{d}' in '{param}': give the domain without http:// or https://.",
                param,
            )


def validate_tool(tool: dict[str, Any], at: str) -> None:
    """Refuse a Responses web search tool ``tools[i]`` (``at``) the API refuses."""
    kind = tool["type"]
    known = {"type", "search_context_size", "user_location"}
    if not kind.startswith("web_search_preview"):
        known.add("filters")
    for key in sorted(set(tool) - known):
        raise _unknown(f"{at}.{key}")
    _size(tool.get("search_context_size"), f"{at}.search_context_size")
    if tool.get("user_location") is not None:
        _location(tool["user_location"], f"{at}.user_location", nested=False)
    filters = tool.get("filters")
    if filters is not None:
        if not isinstance(filters, dict):
            raise Refusal(f"Invalid type for '{at}.filters': expected an object.", f"{at}.filters")
        for key in sorted(set(filters) - {"allowed_domains"}):
            raise _unknown(f"{at}.filters.{key}")
        if filters.get("allowed_domains") is not None:
            _domains(filters["allowed_domains"], f"{at}.filters.allowed_domains")


def searches(body: dict[str, Any]) -> bool:
    """Whether a Responses body gives the model a web search tool."""
    return any(isinstance(t, dict) and t.get("type") in TOOL_TYPES for t in body.get("tools") or ())


def validate_chat(body: dict[str, Any]) -> None:
    """Refuse web search in a Chat Completions body as OpenAI (or OpenRouter) does."""
    model = str(body.get("model"))
    options = body.get("web_search_options")
    if options is not None:
        if not is_search_model(model):
            raise Refusal("Web search options not supported with this model.", "web_search_options")
        if not isinstance(options, dict):
            raise Refusal(
                "Invalid type for 'web_search_options': expected an object.", "web_search_options"
            )
        for key in sorted(set(options) - {"search_context_size", "user_location"}):
            raise _unknown(f"web_search_options.{key}")
        _size(options.get("search_context_size"), "web_search_options.search_context_size")
        if options.get("user_location") is not None:
            _location(options["user_location"], "web_search_options.user_location", nested=True)
    for i, tool in enumerate(body.get("tools") or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "openrouter:web_search":
            _validate_openrouter(tool, f"tools[{i}]")
        elif kind not in ("function", "custom"):
            raise Refusal(
                f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'.",
                f"tools[{i}].type",
            )


def _validate_openrouter(tool: dict[str, Any], at: str) -> None:
    for key in sorted(set(tool) - {"type", "parameters"}):
        raise _unknown(f"{at}.{key}")
    params = tool.get("parameters") or {}
    for key in sorted(set(params) - _OPENROUTER_PARAMETERS):
        raise _unknown(f"{at}.parameters.{key}")
    _size(params.get("search_context_size"), f"{at}.parameters.search_context_size")
    if params.get("user_location") is not None:
        _location(params["user_location"], f"{at}.parameters.user_location", nested=False)
    if params.get("allowed_domains") and params.get("excluded_domains"):
        raise Refusal("allowed_domains cannot be used with excluded_domains.", f"{at}.parameters")
    for key in ("allowed_domains", "excluded_domains"):
        if params.get(key) is not None:
            _domains(params[key], f"{at}.parameters.{key}")


# -- answers ------------------------------------------------------------------------


def _span(reply: Reply, i: int) -> tuple[int, int]:
    c = reply.citations[i]
    start = c.start if c.start is not None else 0
    return start, c.end if c.end is not None else start


def responses_annotations(reply: Reply) -> list[dict[str, Any]]:
    """The citations as the Responses API's ``output_text`` annotations."""
    out = []
    for i, c in enumerate(reply.citations):
        start, end = _span(reply, i)
        out.append(
            {
                "type": "url_citation",
                "start_index": start,
                "end_index": end,
                "url": c.url,
                "title": c.title,
            }
        )
    return out


def chat_annotations(reply: Reply) -> list[dict[str, Any]]:
    """The citations as Chat Completions' ``message.annotations`` (OpenRouter's too:
    it adds the page's ``content`` where it has it)."""
    out = []
    for i, c in enumerate(reply.citations):
        start, end = _span(reply, i)
        cited: dict[str, Any] = {
            "end_index": end,
            "start_index": start,
            "title": c.title,
            "url": c.url,
        }
        if c.cited_text:
            cited["content"] = c.cited_text
        out.append({"type": "url_citation", "url_citation": cited})
    return out


def search_calls(reply: Reply, serial: int, query: str) -> list[dict[str, Any]]:
    """``reply.web_searches`` ``web_search_call`` output items, each a completed search
    of the reply's next ``search_queries`` (past them, of ``query``): as today's API
    answers, the action's ``queries`` and its deprecated ``query`` both."""
    calls = []
    for i in range(reply.web_searches):
        searched = reply.search_queries[i] if i < len(reply.search_queries) else query or "search"
        calls.append(
            {
                "id": f"ws_mock{serial:06d}{i:02d}",
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": searched, "queries": [searched]},
            }
        )
    return calls
