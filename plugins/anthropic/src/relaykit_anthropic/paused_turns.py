"""Carry on a turn Claude paused: ``stop_reason: "pause_turn"``.

A server tool (web search) runs a loop of its own inside one request; when that
loop reaches the API's limit, the answer stops with ``pause_turn`` and whatever
it holds so far (searches, results, some text). Anthropic's "Handling stop
reasons" and "Server tools" pages say to continue it by sending the paused
content back, unchanged, as the last assistant turn, with the same tools: the
next answer carries on from there, its content adding to the paused content.

A caller asked for an answer, not for half of one: a non-streamed call is
continued by the plugin, up to :data:`MAX_CONTINUATIONS` times, and returned
as one answer (the contents joined, usage and searches summed). A ``max_uses``
limit holds for the whole call: each continuation may search only what is
left of it, and with nothing left the turn is not continued. A turn still
paused at the end comes back as it is, with ``finish_reason`` ``"other"``.
A stream is not continued (its events have reached the caller already): it
ends with ``finish_reason`` ``"other"`` and ``Finish.raw_reason`` ``"pause_turn"``;
``response.to_message()`` keeps its text, not the server blocks, so send the
question again to resume it.
"""

from __future__ import annotations

import copy
from typing import Any

from relaykit import json_decode

from . import web_search

PAUSED = "pause_turn"
#: what a paused answer's continuation reads: its content and usage
_PAUSED_SHAPE = {"content": [{}], "usage": {"server_tool_use": {}, "cache_creation": {}}}
#: continuations after the first answer (the API's own loop runs 10 searches a request)
MAX_CONTINUATIONS = 3


def paused(data: dict[str, Any]) -> bool:
    """Whether a Messages answer is a paused turn (not, for an answer that is not an
    object: the decoder says what is wrong with it); a ``ValueError`` naming the
    place when a paused answer's content or usage has the wrong shape, since
    continuing it reads them (checked on paused answers only)."""
    if not (isinstance(data, dict) and data.get("stop_reason") == PAUSED):
        return False
    found = json_decode.misfit(data, _PAUSED_SHAPE)
    if found is not None:
        raise ValueError(f"a paused turn: {found}")
    return True


def continuation(body: dict[str, Any], answers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The body that continues the turn ``answers`` (the paused answers so far, in
    order) paused: ``body`` with their content as the last assistant turn, and
    the web search's ``max_uses`` cut by the searches run; ``None`` when no
    search is left."""
    out = copy.copy(body)
    searched = sum(web_search.searches(a.get("usage")) for a in answers)
    tools = []
    for tool in body.get("tools") or ():
        if web_search.is_search_tool(tool) and isinstance(tool.get("max_uses"), int):
            left = tool["max_uses"] - searched
            if left < 1:
                return None
            tool = {**tool, "max_uses": left}
        tools.append(tool)
    if tools:
        out["tools"] = tools
    content = [block for a in answers for block in a.get("content") or ()]
    out["messages"] = [*body["messages"], {"role": "assistant", "content": content}]
    return out


def joined(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """One Messages answer from a paused turn's answers: the contents in order,
    the usage counts summed (each request bills its prompt again), the last
    answer's stop reason."""
    last = answers[-1]
    usage: dict[str, Any] = {}
    for a in answers:
        _add(usage, a.get("usage") or {})
    return {
        **last,
        "model": answers[0].get("model") or last.get("model"),
        "content": [block for a in answers for block in a.get("content") or ()],
        "usage": usage,
    }


def _add(total: dict[str, Any], usage: dict[str, Any]) -> None:
    # Counts, and the objects of counts in it (server_tool_use, cache_creation).
    for key, value in usage.items():
        if isinstance(value, int) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
