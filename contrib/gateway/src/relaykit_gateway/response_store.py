"""Responses API answers kept in memory, so a caller can continue one (``previous_response_id``).

OpenAI keeps a response (``store``, true unless the caller says false) so that
the next request can name it instead of resending the conversation, and so
that it can be fetched again or deleted. The
gateway does the same in its own memory: each kept response holds the
conversation so far, its answer included, for at most ``ttl`` seconds and
within ``max_chars`` characters of text for all of them together (the oldest
go first; an image's or a document's bytes count a character each, and each
response :data:`ENTRY_CHARS` more, each message in it :data:`MESSAGE_CHARS`,
for the objects that hold them). Memory is
per process: :mod:`relaykit_gateway.kept_responses` also keeps them in the
client's shared cache store, when it has one, for every gateway process.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeAlias

from relaykit import (
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
)

#: (expires at, conversation, the response object, the conversation's size)
_Kept: TypeAlias = tuple[float, tuple[Message, ...], dict[str, Any] | None, int]

#: how long a response can be continued: an hour
TTL = 3600.0
#: the characters of conversation text kept for all responses together: 64 million
MAX_CHARS = 64 * 2**20
#: what each kept response counts besides its text, and each message in it: about the
#: bytes their objects and the response object take (2.7 KB for a one-word exchange).
#: Text alone would let millions of one-word conversations into the bound, each
#: holding a thousand times its text.
ENTRY_CHARS = 2048
MESSAGE_CHARS = 256


class ResponseStore:
    """Conversations by the id of the response that ended them, least recently used first.

    Each is kept for its owner (the gateway key that made it, or ``None`` without
    keys): another caller who learns the id cannot read the conversation on.
    """

    def __init__(
        self,
        *,
        ttl: float = TTL,
        max_chars: int = MAX_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_chars = max_chars
        self._clock = clock
        #: (owner, id) -> (expires at, conversation, the response object, its size)
        self._kept: OrderedDict[tuple[str | None, str], _Kept] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._kept)

    def put(
        self,
        owner: str | None,
        response_id: str,
        conversation: tuple[Message, ...],
        response: dict[str, Any] | None = None,
        *,
        ttl: float | None = None,
    ) -> None:
        """Keep ``conversation`` (ending with the answer) as ``owner``'s ``response_id``,
        with the ``response`` object the caller got (for :meth:`response`), for
        ``ttl`` seconds (the store's unless given)."""
        size = conversation_size(conversation) + ENTRY_CHARS + MESSAGE_CHARS * len(conversation)
        if size > self.max_chars:
            return  # larger than the whole store: keeping it would evict everything
        key = (owner, response_id)
        self._forget(key)
        expires = self._clock() + (self.ttl if ttl is None else ttl)
        self._kept[key] = (expires, conversation, response, size)
        self._chars += size
        while self._chars > self.max_chars:
            self._forget(next(iter(self._kept)))

    def entry(
        self, owner: str | None, response_id: str
    ) -> tuple[tuple[Message, ...], dict[str, Any] | None] | None:
        """The conversation ``owner``'s ``response_id`` ended and the response object it
        was, or ``None`` if unknown, expired or another owner's."""
        kept = self._live(owner, response_id)
        return None if kept is None else (kept[1], kept[2])

    def get(self, owner: str | None, response_id: str) -> tuple[Message, ...] | None:
        """The conversation ``owner``'s ``response_id`` ended, or ``None`` if unknown,
        expired or another owner's."""
        kept = self._live(owner, response_id)
        return None if kept is None else kept[1]

    def response(self, owner: str | None, response_id: str) -> dict[str, Any] | None:
        """The response object ``owner``'s ``response_id`` was, if still kept."""
        kept = self._live(owner, response_id)
        return None if kept is None else kept[2]

    def delete(self, owner: str | None, response_id: str) -> bool:
        """Forget ``owner``'s ``response_id``; whether it was kept."""
        found = self._live(owner, response_id) is not None
        self._forget((owner, response_id))
        return found

    def _live(self, owner: str | None, response_id: str) -> _Kept | None:
        key = (owner, response_id)
        kept = self._kept.get(key)
        if kept is None:
            return None
        if kept[0] <= self._clock():
            self._forget(key)
            return None
        self._kept.move_to_end(key)
        return kept

    def _forget(self, key: tuple[str | None, str]) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._chars -= kept[3]


def conversation_size(conversation: tuple[Message, ...]) -> int:
    """Characters a conversation holds (images and documents by their bytes): what memory
    it takes."""
    size = 0
    for message in conversation:
        for part in message.content:
            if isinstance(part, TextPart):
                size += len(part.text)
            elif isinstance(part, ToolResultPart):
                size += len(part.content) + sum(map(_media_size, part.attachments))
            elif isinstance(part, ToolCall):
                size += len(str(part.arguments)) + len(part.raw_arguments or "")
            elif isinstance(part, ReasoningPart):
                size += len(part.text) + len(part.redacted or "") + len(part.signature or "")
            elif isinstance(part, ImagePart | DocumentPart):
                size += _media_size(part)
    return size


def _media_size(part: ImagePart | DocumentPart) -> int:
    name = part.name or "" if isinstance(part, DocumentPart) else ""
    return len(part.data or b"") + len(part.url or "") + len(name)
