"""The values and errors of embedding collections.

Apart from :mod:`relaykit_sqlite.collection` because more than the
:class:`~relaykit_sqlite.collection.Collection` speaks them: its file and
search modules, the CLI commands, and callers' type hints. Import them from
:mod:`relaykit_sqlite` (or :mod:`relaykit_sqlite.collection`), where they
have always been.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from relaykit.errors import InvalidRequestError, NotFoundError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CollectionInfo",
    "CollectionModelError",
    "CollectionNotFoundError",
    "EmbedCounts",
    "Item",
    "SimilarItem",
]

#: texts sent to ``Client.embed`` at once by :meth:`Collection.embed_many` (as in simonw/llm);
#: here, not in :mod:`.collection`, so ``relaykit --help`` can show it without importing that
DEFAULT_BATCH_SIZE = 100

#: what :meth:`Collection.embed_many` takes: ``(id, text)`` or ``(id, text, metadata)``
Item = tuple[str, str] | tuple[str, str, Mapping[str, Any] | None]


class CollectionModelError(InvalidRequestError):
    """A collection was asked to use another model than the one its vectors came from.

    Vectors from two models live in two spaces: comparing them gives noise,
    so a collection keeps the model it was created with.
    """


class CollectionNotFoundError(NotFoundError):
    """No collection of that name is stored in the file."""


@attrs.frozen
class SimilarItem:
    """One answer of a similarity search.

    :param id: the item's id in its collection.
    :param score: the cosine similarity to the query, -1 to 1 (1: same direction).
    :param content: the text, if it was stored (``store=True``), else ``None``.
    :param metadata: the JSON metadata stored with it, or ``None``.
    """

    id: str
    score: float
    content: str | None
    metadata: Mapping[str, Any] | None


@attrs.frozen
class CollectionInfo:
    """A stored collection: its name, its model and how many items it holds."""

    name: str
    model: str
    count: int


@attrs.frozen
class EmbedCounts:
    """What :meth:`Collection.embed_many` did: items embedded, and items skipped
    because their text was stored already (their hash unchanged)."""

    embedded: int
    unchanged: int
