"""Grounding with Google Search in the mocks: the ``googleSearch`` tool checked as
Google checks it, and a reply's web sources rendered as ``groundingMetadata``.

A scripted :class:`~relaykit.testing.Reply`'s ``citations`` become
``groundingChunks`` (``web.uri``, ``web.title``; one per distinct page) and
``groundingSupports`` (one per distinct ``start``/``end``, naming every page
cited there), its ``web_searches`` as many ``webSearchQueries`` (its
``search_queries``, then names of the mock's own), with an empty query among
them as Gemini 3 answers sometimes hold (Google bills none of those), and its
``search_suggestions`` (else :data:`SUGGESTIONS`) as the ``searchEntryPoint``'s
``renderedContent``.
A citation's offsets, characters of ``Reply.text``, are sent as Google sends
them: UTF-8 *bytes* from the start of the answer's text part, whose index is
``partIndex`` (left out at 0, as Google's JSON leaves out defaults). A
citation's ``cited_text`` has no place in Gemini's answer and is not sent.

Streamed, the first chunk carries the queries and the search entry point, and
the last one (with the finish reason) the queries again with the chunks and
supports, as Google's streams split them.

Checked in a request: the tool's fields (the Gemini API's ``googleSearch`` has
``timeRangeFilter`` only; Vertex AI's also ``excludeDomains`` and
``blockingConfidence``), ``googleSearchRetrieval`` to a model that has Google
Search, and Google Search beside function declarations (Gemini 2.x refuses it;
Gemini 3 wants ``toolConfig.includeServerSideToolInvocations``), in the words
Google's answers hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from relaykit import Citation
from relaykit.testing.script import Reply

#: the fields of the Gemini API's ``googleSearch`` tool
GEMINI_SEARCH_FIELDS = ("timeRangeFilter",)
#: the fields of Vertex AI's
VERTEX_SEARCH_FIELDS = ("timeRangeFilter", "excludeDomains", "blockingConfidence")

_SEARCH = ("googleSearch", "google_search")
_RETRIEVAL = ("googleSearchRetrieval", "google_search_retrieval")
_FUNCTIONS = ("functionDeclarations", "function_declarations")
_GENERATION = re.compile(r"gemini-(\d+)")


def _generation(model: str) -> int | None:
    found = _GENERATION.match(model)
    return int(found.group(1)) if found else None


def tools_problem(body: dict[str, Any], model: str, fields: Sequence[str]) -> str | None:
    """Google's message for what is wrong with the ``tools`` of ``body`` for
    ``model``, or ``None``; ``fields`` are those ``googleSearch`` takes."""
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        return "Invalid value at 'tools' (type.googleapis.com/google.ai.generativelanguage.Tool)"
    made = _generation(model)
    search = functions = False
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return f"Invalid value at 'tools[{i}]'"
        for key, value in tool.items():
            if key in _SEARCH:
                search = True
                if not isinstance(value, dict):
                    return f"Invalid value at 'tools[{i}].google_search'"
                for field in value:
                    if field not in fields:
                        return (
                            f'Invalid JSON payload received. Unknown name "{field}" at '
                            f"'tools[{i}].google_search': Cannot find field."
                        )
            elif key in _RETRIEVAL and (made is None or made >= 2):
                return (
                    "google_search_retrieval is not supported. "
                    "Please use google_search tool instead."
                )
            elif key in _FUNCTIONS:
                functions = True
    if search and functions:
        if made is not None and made < 3:
            return "Tool use with function calling is unsupported by the model."
        if not (body.get("toolConfig") or {}).get("includeServerSideToolInvocations"):
            return (
                "Please enable tool_config.include_server_side_tool_invocations to use "
                "Built-in tools with Function calling."
            )
    return None


#: the Search Suggestions of a reply that scripts none: HTML and CSS, as Google's are
SUGGESTIONS = (
    '<style>.container{display:flex}</style><div class="container">mock search suggestions</div>'
)


def queries(reply: Reply) -> list[str]:
    """The ``webSearchQueries`` of ``reply``: ``web_searches`` of them (its
    ``search_queries`` first), and an empty one."""
    found = [
        reply.search_queries[i]
        if i < len(reply.search_queries)
        else f"mock search {i + 1} for {reply.text[:24].strip()!r}"
        for i in range(reply.web_searches)
    ]
    return [*found[:1], "", *found[1:]] if found else []


def metadata(reply: Reply, part_index: int, *, sources: bool = True) -> dict[str, Any] | None:
    """The ``groundingMetadata`` of ``reply``, its text being part ``part_index`` of the
    answer; ``sources=False`` holds the queries only (a stream's first piece).
    ``None`` for a reply without web sources or searches."""
    if not reply.citations and not reply.web_searches:
        return None
    data: dict[str, Any] = {
        "webSearchQueries": queries(reply),
        "searchEntryPoint": {"renderedContent": reply.search_suggestions or SUGGESTIONS},
    }
    if not sources:
        return data
    pages: dict[tuple[str, str], int] = {}
    spans: dict[tuple[int, int], list[int]] = {}
    for citation in reply.citations:
        index = pages.setdefault((citation.url, citation.title), len(pages))
        if citation.start is not None and citation.end is not None:
            named = spans.setdefault((citation.start, citation.end), [])
            if index not in named:
                named.append(index)
    data["groundingChunks"] = [
        {"web": {"uri": url, "title": title} if title else {"uri": url}} for url, title in pages
    ]
    supports = [
        {"segment": _segment(reply.text, start, end, part_index), "groundingChunkIndices": named}
        for (start, end), named in spans.items()
    ]
    if supports:
        data["groundingSupports"] = supports
    return data


def _segment(text: str, start: int, end: int, part_index: int) -> dict[str, Any]:
    """A ``Segment``: byte offsets, the defaults (0) left out as Google's JSON does."""
    segment: dict[str, Any] = {}
    if part_index:
        segment["partIndex"] = part_index
    first = len(text[:start].encode())
    if first:
        segment["startIndex"] = first
    segment["endIndex"] = len(text[:end].encode())
    segment["text"] = text[start:end]
    return segment


def check_citations(citations: Sequence[Citation], text: str) -> None:
    """Refuse to script a citation whose offsets do not fit the reply's text."""
    for c in citations:
        if c.start is not None and c.end is not None and not 0 <= c.start < c.end <= len(text):
            raise ValueError(f"citation {c} does not index the reply's text ({len(text)} chars)")


__all__ = [
    "GEMINI_SEARCH_FIELDS",
    "SUGGESTIONS",
    "VERTEX_SEARCH_FIELDS",
    "check_citations",
    "metadata",
    "queries",
    "tools_problem",
]
