"""relaykit-sqlite: call logs, usage totals, key vault and model cache in one SQLite file,
and embedding collections in another.

The default storage backend (``[storage] backend = "sqlite"``). See
:class:`~relaykit_sqlite.storage.SQLiteStorage` for how it writes and what a
crash can lose, and :class:`~relaykit_sqlite.collection.Collection` for
embeddings stored under names and searched by similarity (``relaykit
embed-multi``, ``relaykit similar``, ``relaykit collections``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    # Lazy: the plugin module loads with every relaykit.Client; sqlite-utils only on use.
    if name == "SQLiteStorage":
        return importlib.import_module(".storage", __name__).SQLiteStorage
    if name in __all__:
        return getattr(importlib.import_module(".collection", __name__), name)
    raise AttributeError(f"module 'relaykit_sqlite' has no attribute {name!r}")
