"""Claude's web search: the server tool ``web_search`` in a Messages body, and the
citations and billed searches of its answer.

From Anthropic's "Web search tool" page and its API reference (read 2026-12-02):

- the tool, after the function tools: ``{"type": "web_search_20250305", "name":
  "web_search", "max_uses", "allowed_domains" | "blocked_domains",
  "user_location": {"type": "approximate", "city", "region", "country",
  "timezone"}}``. Every limit relaykit's :class:`~relaykit.WebSearch` has is
  honoured; ``context_size`` is a hint Claude has no field for, left out.
  ``web_search_20260209`` adds dynamic filtering (Claude writes code to filter
  the results before reading them) on Claude 4.6 and later, on Anthropic's API
  and in Microsoft Foundry only; it is not eligible for zero data retention by
  default, so it is sent only when a provider asks for it
  (``dynamic_web_search = true``), and then only to the models that take it;
- the answer: ``server_tool_use`` blocks (``name: "web_search"``, ``input.query``)
  and ``web_search_tool_result`` blocks (the pages, encrypted, or an error object
  ``{"type": "web_search_tool_result_error", "error_code"}``), then ``text``
  blocks whose ``citations`` are ``web_search_result_location`` objects (``url``,
  ``title``, ``cited_text``, ``encrypted_index``). None of the server blocks is
  text or a tool call; each citation becomes a :class:`~relaykit.Citation` whose
  ``start``/``end`` are its text block's place in ``ChatResponse.text``. Each
  ``server_tool_use`` block's ``input.query`` is a ``ChatResponse.search_queries``
  entry, in the blocks' order (streamed, the query arrives as the block's
  ``input_json_delta``\\ s, and the list with the finish).
  A search that failed (``max_uses_exceeded``, ``too_many_requests``,
  ``invalid_tool_input``, ``query_too_long``, ``unavailable``...) is not an error
  of the call: Claude answers with what it has, and says so if it matters. The
  error code is logged at DEBUG on the ``relaykit_anthropic`` logger, nothing
  else is surfaced;
- billing: ``usage.server_tool_use.web_search_requests`` is ``Usage.web_searches``
  (USD 10 per 1,000 searches, :mod:`.prices`).

Claude 3 Haiku (and the retired Claude 3 Opus and Sonnet) cannot search: asking
them is refused before sending, so a route falls back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from relaykit import Citation, InvalidRequestError, WebSearch
from relaykit.web_search import unsupported
from relaykit_claude_models import claude_version

#: the basic tool: every Claude model from 3.5 Haiku and 3.7 Sonnet on, on every host
BASIC = "web_search_20250305"
#: with dynamic filtering: Claude 4.6 and later, on Anthropic's API and Foundry
DYNAMIC = "web_search_20260209"
#: the name the tool must have, which a function tool may then not take
NAME = "web_search"

log = logging.getLogger("relaykit_anthropic")

# Claude 3 Haiku, Opus and Sonnet: before the web search tool (3.5 and 3.7 have it).
_CANNOT_SEARCH = re.compile(r"claude-3-(haiku|opus|sonnet)\b")


def check(model: str, provider: str, tools: Iterable[Mapping[str, Any]]) -> None:
    """Refuse, before sending, a model that cannot search and a function tool that
    takes the search tool's name."""
    if _CANNOT_SEARCH.match(model.lower()):
        raise unsupported(provider, model, "web search")
    for tool in tools:
        if tool.get("name") == NAME:
            raise InvalidRequestError(
                f"a function tool is named {NAME!r}, the name of Claude's web search tool",
                provider=provider,
                model=model,
                param="tools",
                hint="rename the function tool, or leave web_search out of the call",
            )


def takes_dynamic(model: str) -> bool:
    """Whether ``model`` takes the dynamic-filtering tool (Claude 4.6 and later)."""
    version = claude_version(model)
    return version is not None and version >= (4, 6)


def tool(search: WebSearch, model: str, *, dynamic: bool = False) -> dict[str, Any]:
    """The ``tools`` entry for ``search``: the dynamic-filtering version when asked
    for and ``model`` takes it, else the basic one."""
    out: dict[str, Any] = {
        "type": DYNAMIC if dynamic and takes_dynamic(model) else BASIC,
        "name": NAME,
    }
    if search.max_uses is not None:
        out["max_uses"] = search.max_uses
    if search.allowed_domains:
        out["allowed_domains"] = list(search.allowed_domains)
    if search.blocked_domains:
        out["blocked_domains"] = list(search.blocked_domains)
    if search.location is not None and (fields := search.location.fields()):
        out["user_location"] = {"type": "approximate", **fields}
    return out


def is_search_tool(entry: Mapping[str, Any]) -> bool:
    """Whether a body's ``tools`` entry is the web search tool."""
    kind = entry.get("type")
    return isinstance(kind, str) and kind.startswith("web_search_")


def citations(raw: Any, start: int, end: int) -> list[Citation]:
    """The web citations of a text block that spans ``start:end`` of the answer's
    text (other kinds, such as a document's, are not web sources: left out)."""
    if not isinstance(raw, list):
        return []
    return [c for item in raw if (c := citation(item, start, end)) is not None]


def citation(raw: Any, start: int | None, end: int | None) -> Citation | None:
    """One ``web_search_result_location`` as a :class:`~relaykit.Citation`."""
    if not isinstance(raw, Mapping) or raw.get("type") != "web_search_result_location":
        return None
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        return None
    return Citation(
        url=url,
        title=str(raw.get("title") or ""),
        cited_text=str(raw.get("cited_text") or ""),
        start=start,
        end=end,
    )


def search_query(block: Mapping[str, Any]) -> str | None:
    """The query of a ``server_tool_use`` block that is a web search (``None`` for
    another server tool's, such as ``web_fetch``, or a block without one)."""
    if block.get("type") != "server_tool_use" or block.get("name") != NAME:
        return None
    given = block.get("input")
    query = given.get("query") if isinstance(given, Mapping) else None
    return query if isinstance(query, str) and query.strip() else None


def note_result(block: Mapping[str, Any]) -> None:
    """Log a ``web_search_tool_result`` that is an error: the model answers anyway."""
    content = block.get("content")
    if isinstance(content, Mapping) and content.get("type") == "web_search_tool_result_error":
        log.debug("Claude's web search failed: %s", content.get("error_code"))


def searches(usage: Mapping[str, Any] | None) -> int:
    """The searches a ``usage`` object bills (``server_tool_use.web_search_requests``)."""
    server = usage.get("server_tool_use") if usage else None
    if not isinstance(server, Mapping):
        return 0
    count = server.get("web_search_requests")
    return count if isinstance(count, int) else 0
