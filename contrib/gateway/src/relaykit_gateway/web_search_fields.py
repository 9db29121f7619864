"""Web search in the APIs the gateway serves: each one's way of asking for it, read
as relaykit's ``web_search=``, and the citations of an answer, placed where each
one puts them.

Asking: Chat Completions' ``web_search_options``, the Responses API's
``web_search`` (or ``web_search_preview``) tool, Anthropic's
``web_search_20250305`` server tool. Each becomes one :class:`relaykit.WebSearch`,
which the provider plugin behind the call sends in its own vendor's terms (or
refuses, before sending, if it cannot search: a 400 naming ``web_search``). A
field the gateway does not know is a 400 that names it, not dropped.

Answering: a :class:`relaykit.Citation` says where in the answer's text the claim
it supports lies (``start``, ``end``), when its vendor said. One whose vendor did
not say supports the whole answer here (``0`` to the text's length): OpenAI's
``url_citation`` needs a range, and an Anthropic text block holds its citations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from relaykit import Citation, InvalidRequestError, WebSearch
from relaykit.errors import did_you_mean

#: what Chat Completions' ``web_search_options`` takes
CHAT_OPTIONS = ("search_context_size", "user_location")
#: the Responses API's search tool types (dated versions included)
RESPONSES_TOOLS = (
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
)
#: the fields of a Responses API search tool
RESPONSES_FIELDS = ("type", "filters", "search_context_size", "user_location")
#: what the Responses API search tool's ``filters`` take
_FILTERS = frozenset(("allowed_domains",))
#: the fields of Anthropic's search tool (``cache_control`` is read by the dialect)
ANTHROPIC_FIELDS = (
    "type",
    "name",
    "max_uses",
    "allowed_domains",
    "blocked_domains",
    "user_location",
    "cache_control",
)


def is_anthropic_search(tool: Any) -> bool:
    """Whether a Messages API tool is Anthropic's web search (``web_search_20250305``
    or a later version of it)."""
    kind = tool.get("type") if isinstance(tool, Mapping) else None
    return isinstance(kind, str) and kind.startswith("web_search_")


def is_responses_search(tool: Any) -> bool:
    """Whether a Responses API tool is its web search tool."""
    return isinstance(tool, Mapping) and tool.get("type") in RESPONSES_TOOLS


def search_setting(value: Any, where: str, known: Sequence[str]) -> WebSearch:
    """``value`` (an object of ``known`` fields) as a :class:`WebSearch`; a field not
    known, or a value relaykit refuses, is a 400 naming ``where`` and the field."""
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"`{where}` must be an object", param=where)
    for key in value:
        if key not in known:
            raise InvalidRequestError(
                f"`{where}.{key}` is not a field the gateway reads: it takes {', '.join(known)}",
                param=f"{where}.{key}",
                hint=did_you_mean(str(key), known),
            )
    filters = value.get("filters")
    if filters is not None and (not isinstance(filters, Mapping) or set(filters) - _FILTERS):
        raise InvalidRequestError(
            f"`{where}.filters` must be an object of allowed_domains only",
            param=f"{where}.filters",
        )
    given = {k: v for k, v in value.items() if k != "cache_control"}
    try:
        setting = WebSearch.coerce(given)
    except InvalidRequestError as e:
        # relaykit's own words name web_search=; the caller wrote `where`.
        message = e.message.replace("web_search ", "", 1)
        raise InvalidRequestError(f"`{where}`: {message}", param=where, hint=e.hint) from e
    assert setting is not None  # a dict is always a setting
    return setting


def only_search(found: WebSearch | None, where: str) -> None:
    """Refuse a second web search tool in one request (``found``: the first)."""
    if found is not None:
        raise InvalidRequestError(
            f"{where} is a second web search tool: send one", param=f"{where}.type"
        )


def spans(citations: Iterable[Citation], length: int) -> list[tuple[Citation, int, int]]:
    """Each citation with where it lies in a text of ``length`` characters: its own
    range (kept inside the text), or the whole text when its vendor did not say."""
    out = []
    for c in citations:
        if c.start is None or c.end is None:
            out.append((c, 0, length))
        else:
            start = min(max(c.start, 0), length)
            out.append((c, start, min(max(c.end, start), length)))
    return out


def url_citation(citation: Citation, start: int, end: int) -> dict[str, Any]:
    """The Responses API's ``url_citation`` annotation of an ``output_text``."""
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "url": citation.url,
        "title": citation.title,
    }


def chat_annotations(citations: Sequence[Citation], text: str) -> list[dict[str, Any]]:
    """Chat Completions' ``message.annotations`` for an answer's citations."""
    return [
        {
            "type": "url_citation",
            "url_citation": {"start_index": s, "end_index": e, "url": c.url, "title": c.title},
        }
        for c, s, e in spans(citations, len(text))
    ]


def search_result_location(citation: Citation) -> dict[str, Any]:
    """Anthropic's ``web_search_result_location`` citation. Its ``encrypted_index``
    points into Anthropic's own search results, which the gateway does not have
    (the provider may not even be Anthropic): it is empty."""
    return {
        "type": "web_search_result_location",
        "url": citation.url,
        "title": citation.title or None,
        "cited_text": citation.cited_text,
        "encrypted_index": "",
    }


def cited_blocks(text: str, citations: Sequence[Citation]) -> list[dict[str, Any]]:
    """An answer's text as Anthropic's text blocks: split where a cited span begins or
    ends, each cited span a block of its own with the citations that cover it."""
    if not citations:
        return [{"type": "text", "text": text}] if text else []
    placed = spans(citations, len(text))
    cuts = sorted({0, len(text), *(s for _, s, _ in placed), *(e for _, _, e in placed)})
    blocks: list[dict[str, Any]] = []
    for start, end in pairwise(cuts):
        covering = [search_result_location(c) for c, s, e in placed if _covers(s, e, start, end)]
        block: dict[str, Any] = {"type": "text", "text": text[start:end]}
        if covering:
            block["citations"] = covering
        blocks.append(block)
    if not text:  # no text to split: the citations still come back, on an empty block
        located = [search_result_location(c) for c in citations]
        blocks.append({"type": "text", "text": "", "citations": located})
    return blocks


def _covers(s: int, e: int, start: int, end: int) -> bool:
    """Whether a citation of ``s:e`` belongs on the block of ``start:end``: the block
    lies inside it, or it is empty (a point) and the block ends there (begins, at 0)."""
    if s < e:
        return s <= start and end <= e
    return end == e or (e == 0 and start == 0)
