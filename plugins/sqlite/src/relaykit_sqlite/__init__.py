"""relaykit-sqlite: call logs, usage totals, key vault and model cache in one SQLite file,
and embedding collections in another.

The default storage backend (``[storage] backend = "sqlite"``). See
:class:`~relaykit_sqlite.storage.SQLiteStorage` for how it writes and what a
crash can lose, and :class:`~relaykit_sqlite.collection.Collection` for
embeddings stored under names and searched by similarity (``relaykit
embed-multi``, ``relaykit similar``, ``relaykit collections``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

__all__ = [
    "Collection",
    "CollectionInfo",
    "CollectionModelError",
    "CollectionNotFoundError",
    "EmbedCounts",
    "SQLiteStorage",
    "SimilarItem",
    "default_embeddings_path",
    "list_collections",
]

if TYPE_CHECKING:
    from .collection import (
        Collection,
        CollectionInfo,
        CollectionModelError,
        CollectionNotFoundError,
        EmbedCounts,
        SimilarItem,
        default_embeddings_path,
        list_collections,
    )
    from .storage import SQLiteStorage


# Lazy: the plugin module loads with every relaykit.Client; sqlite-utils only on use.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {name: "storage" if name == "SQLiteStorage" else "collection" for name in __all__},
    __all__,
)
