"""Anthropic's lists (``GET /v1/messages/batches``, ``GET /v1/models``), a page at a time.

A list is newest first (the models: in the client's order); ``limit`` (1 to 1000,
20 unless given) items come at a time, ``after_id`` asks for the page after an
item, ``before_id`` for the page before it, and the answer says ``has_more``
with its ``first_id`` and ``last_id``, which Anthropic's SDKs page on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from relaykit import InvalidRequestError

from .whole_numbers import whole_number

#: the most items a page holds (Anthropic's bound), and how many unless asked
MAX_PAGE, PAGE = 1000, 20


@attrs.frozen
class ListPage:
    """Which of a list's ids one page holds: ``ids[start:end]``; ``has_more``: whether
    more lie beyond it, on the side the caller pages towards (after it, or before it
    when paging with ``before_id``)."""

    start: int
    end: int
    has_more: bool

    @classmethod
    def of(cls, ids: Sequence[str], query: Mapping[str, list[str]]) -> ListPage:
        """The page a list request's ``query`` (``limit``, ``after_id``, ``before_id``)
        asks for. A cursor no longer listed (a batch expired from the list) pages from
        the end: an empty page, as OpenAI's lists answer."""
        limit_text = query.get("limit", [str(PAGE)])[-1]
        limit = whole_number(limit_text)
        if limit is None or not 1 <= limit <= MAX_PAGE:
            raise InvalidRequestError(
                f"`limit` must be a whole number from 1 to {MAX_PAGE}, not {limit_text!r}",
                param="limit",
            )
        after, before = query.get("after_id", [""])[-1], query.get("before_id", [""])[-1]
        if after and before:
            raise InvalidRequestError(
                "give `after_id` (the page after that item) or `before_id` (the page"
                " before it), not both",
                param="before_id",
            )
        if before:
            end = ids.index(before) if before in ids else 0
            return cls(max(0, end - limit), end, end > limit)
        start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
        return cls(start, start + limit, start + limit < len(ids))


def list_body(items: Sequence[dict[str, Any]], page: ListPage) -> dict[str, Any]:
    """Anthropic's list: the page's items, whether more lie beyond it, and its first and
    last ids (the SDKs' cursors)."""
    first = items[0]["id"] if items else None
    last = items[-1]["id"] if items else None
    return {"data": list(items), "has_more": page.has_more, "first_id": first, "last_id": last}
