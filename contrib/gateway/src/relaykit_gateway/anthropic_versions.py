"""What a Messages request may hold under the ``anthropic-version`` it was sent with.

Anthropic's versioning page lists what 2026-10-21 (sent by its 2.x Python SDK) changed
for the Messages API, token counting and each request of a Message Batch made under
it: ``temperature``, ``top_p`` and ``top_k`` are removed (a request sending any is a
400, at any value), and a user message's ``text`` block with a non-empty ``citations``
array, directly or inside a ``search_result`` block, is a 400. Its third change, a
``document`` block in an assistant message refused, the gateway makes under every
version (it cannot pass one on). 2023-06-01, and a request without the header (read
as leniently as any version reads it), take all of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaykit import InvalidRequestError

#: the version whose requests have no sampling parameters nor citations sent back
STRICT = "2026-10-21"
#: the request fields 2026-10-21 removed
REMOVED = ("temperature", "top_p", "top_k")


def refuse_removed(version: str | None, body: Any, where: str = "") -> None:
    """Refuse what ``version`` does not take in a Messages request ``body`` as Anthropic
    does (a 400 naming the field, ``where`` before it for a batch's request). Anything
    else about the body is left for the parse to check."""
    if version != STRICT or not isinstance(body, Mapping):
        return
    for name in REMOVED:
        if name in body:
            raise InvalidRequestError(
                f"{where}{name}: Extra inputs are not permitted (anthropic-version {STRICT}"
                f" removed temperature, top_p and top_k): leave {name} out, or send"
                " anthropic-version: 2023-06-01 to set it",
                param=f"{where}{name}",
            )
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, block in enumerate(content):
            _refuse_cited(block, f"{where}messages.{i}.content.{j}")


def _refuse_cited(block: Any, at: str) -> None:
    """Refuse a user message's ``text`` block citing something, or a ``search_result``
    block holding one."""
    if not isinstance(block, Mapping):
        return
    if block.get("type") == "search_result" and isinstance(block.get("content"), list):
        for k, inner in enumerate(block["content"]):
            _refuse_cited(inner, f"{at}.content.{k}")
    elif block.get("type") == "text" and block.get("citations"):
        raise InvalidRequestError(
            f"{at}.citations: a text block in a user message may not carry citations under"
            f" anthropic-version {STRICT}: remove the citations (an assistant message's"
            " text may keep them)",
            param=f"{at}.citations",
        )
