"""Claude's web search as :class:`~relaykit_anthropic.testing.AnthropicMock` serves it.

From Anthropic's "Web search tool" page and API reference:

- the tool is checked as the API checks it: ``type`` ``web_search_20250305`` (or
  ``web_search_20260209``, on Claude 4.6 and later only), ``name`` ``web_search``,
  its known fields only, ``max_uses`` a positive whole number, not both
  ``allowed_domains`` and ``blocked_domains``, ``user_location`` of ``type``
  ``approximate``; tool names unique;
- a :class:`~relaykit.testing.Reply`'s ``web_searches`` become that many
  ``server_tool_use`` blocks (``srvtoolu_...``, ``input: {"query": ...}``, its
  ``search_queries`` in order, then names of the mock's own), each
  followed by its ``web_search_tool_result`` (the cited pages as
  ``web_search_result`` items, ``encrypted_content`` and all). Searches past
  the tool's ``max_uses`` get an error result (``max_uses_exceeded``) and are not
  billed; :attr:`AnthropicMock.search_error` makes every result an error;
- ``Reply.citations`` split the text into ``text`` blocks at their ``start`` /
  ``end``: a cited stretch is a block whose ``citations`` are
  ``web_search_result_location`` objects (a citation without offsets cites the
  whole text). Streamed, each cited block's citations come as ``citations_delta``\\ s
  before its text;
- ``usage.server_tool_use.web_search_requests`` counts the searches billed,
  whenever the request carries the tool;
- a paused turn's content sent back (``server_tool_use``, ``web_search_tool_result``,
  cited text) is accepted in an assistant turn, each result after its search.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from typing import Any

from relaykit import Citation
from relaykit.testing.script import Reply
from relaykit_claude_models import claude_version

BASIC = "web_search_20250305"
DYNAMIC = "web_search_20260209"
_TOOL_FIELDS = frozenset(
    {
        "type",
        "name",
        "max_uses",
        "allowed_domains",
        "blocked_domains",
        "user_location",
        "cache_control",
        "allowed_callers",
        "defer_loading",
        "strict",
    }
)
_LOCATION_FIELDS = frozenset({"type", "city", "region", "country", "timezone"})
#: block types a paused turn sent back may hold
ASSISTANT_BLOCKS = frozenset({"server_tool_use", "web_search_tool_result"})


def search_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The web search tool in ``body``'s tools, if any."""
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search_"):
            return tool
    return None


def tool_problem(body: dict[str, Any], *, dynamic: bool = True) -> str | None:
    """What the API would reject in ``body``'s tools as to web search, or ``None``;
    without ``dynamic`` (Vertex AI), the dynamic-filtering version is refused."""
    tools = body.get("tools") or ()
    names = [t.get("name") for t in tools if isinstance(t, dict)]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        return f"tools: Tool names must be unique. Found duplicate: {duplicate!r}"
    for i, tool in enumerate(tools):
        if not (isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search_")):
            continue
        kind = tool["type"]
        if kind not in (BASIC, DYNAMIC) or (kind == DYNAMIC and not dynamic):
            return f"tools.{i}.type: unknown tool type {kind!r}"
        version = claude_version(str(body.get("model") or ""))
        if kind == DYNAMIC and (version is None or version < (4, 6)):
            return f"tools.{i}: {DYNAMIC} is not supported on model {body.get('model')!r}"
        if tool.get("name") != "web_search":
            return f"tools.{i}.name: Input should be 'web_search'"
        extra = sorted(set(tool) - _TOOL_FIELDS)
        if extra:
            return f"tools.{i}.{extra[0]}: Extra inputs are not permitted"
        uses = tool.get("max_uses")
        if uses is not None and (not isinstance(uses, int) or uses < 1):
            return f"tools.{i}.max_uses: Input should be greater than 0"
        if tool.get("allowed_domains") and tool.get("blocked_domains"):
            return f"tools.{i}: cannot use both allowed_domains and blocked_domains"
        location = tool.get("user_location")
        if location is not None:
            if not isinstance(location, dict) or location.get("type") != "approximate":
                return f"tools.{i}.user_location.type: Input should be 'approximate'"
            extra = sorted(set(location) - _LOCATION_FIELDS)
            if extra:
                return f"tools.{i}.user_location.{extra[0]}: Extra inputs are not permitted"
    return None


def turn_problem(content: list[dict[str, Any]], where: str) -> str | None:
    """What the API would reject in an assistant turn's server blocks: a result
    whose search is not before it."""
    searched: set[str] = set()
    for j, block in enumerate(content):
        if block.get("type") == "server_tool_use":
            searched.add(str(block.get("id")))
        elif block.get("type") == "web_search_tool_result" and (
            block.get("tool_use_id") not in searched
        ):
            return (
                f"{where}.content.{j}: web_search_tool_result block(s) provided without a"
                " preceding server_tool_use block with the same id"
            )
    return None


def searches_run(reply: Reply, body: dict[str, Any]) -> int:
    """The searches ``reply`` runs (and bills) under the tool's ``max_uses``."""
    tool = search_tool(body)
    limit = tool.get("max_uses") if tool else None
    return min(reply.web_searches, limit) if isinstance(limit, int) else reply.web_searches


def search_blocks(
    reply: Reply, body: dict[str, Any], serial: int, error: str | None = None
) -> list[dict[str, Any]]:
    """A ``server_tool_use`` and a ``web_search_tool_result`` block for each search."""
    run = searches_run(reply, body)
    blocks: list[dict[str, Any]] = []
    for i in range(reply.web_searches):
        block_id = f"srvtoolu_mock{serial:04d}{i:02d}"
        blocks.append(
            {
                "type": "server_tool_use",
                "id": block_id,
                "name": "web_search",
                "input": {"query": _query(reply, i)},
            }
        )
        code = error or (None if i < run else "max_uses_exceeded")
        content: Any = (
            {"type": "web_search_tool_result_error", "error_code": code}
            if code
            else [_result(c) for c in _pages(reply.citations)]
        )
        blocks.append(
            {"type": "web_search_tool_result", "tool_use_id": block_id, "content": content}
        )
    return blocks


def _query(reply: Reply, i: int) -> str:
    """What search ``i`` of ``reply`` searched for: its scripted query, else a name."""
    return reply.search_queries[i] if i < len(reply.search_queries) else f"mock search {i + 1}"


def _pages(citations: tuple[Citation, ...]) -> list[Citation]:
    seen: dict[str, Citation] = {}
    for c in citations:
        seen.setdefault(c.url, c)
    return list(seen.values())


def _result(c: Citation) -> dict[str, Any]:
    return {
        "type": "web_search_result",
        "url": c.url,
        "title": c.title,
        "encrypted_content": encrypted(c.url),
        "page_age": "April 30, 2025",
    }


def encrypted(url: str) -> str:
    """The mock's stand-in for the API's encrypted page (or index) of ``url``."""
    return f"EqMock{zlib.crc32(url.encode()):08x}"


def location(c: Citation) -> dict[str, Any]:
    """``c`` as a ``web_search_result_location``."""
    return {
        "type": "web_search_result_location",
        "url": c.url,
        "title": c.title or None,
        "cited_text": c.cited_text,
        "encrypted_index": encrypted(c.url),
    }


def text_blocks(reply: Reply) -> list[dict[str, Any]]:
    """``reply.text`` as text blocks, cut where its citations start and end; the
    cited ones carry their ``citations``."""
    text = reply.text
    if not text:
        return []
    spans = [
        (c.start if c.start is not None else 0, c.end if c.end is not None else len(text), c)
        for c in reply.citations
    ]
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    blocks: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(cuts):
        if a >= b:
            continue
        block: dict[str, Any] = {"type": "text", "text": text[a:b]}
        cited = [location(c) for s, e, c in spans if s <= a and b <= e]
        if cited:
            block["citations"] = cited
        blocks.append(block)
    return blocks


def stream_text(
    block: dict[str, Any], pieces: Iterator[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A text block's ``content_block_start`` and deltas: its citations first, as
    ``citations_delta``\\ s, then its text."""
    deltas: list[dict[str, Any]] = [
        {"type": "citations_delta", "citation": c} for c in block.get("citations") or ()
    ]
    deltas += [{"type": "text_delta", "text": p} for p in pieces]
    start: dict[str, Any] = {"type": "text", "text": ""}
    if "citations" in block:
        start["citations"] = []
    return start, deltas
