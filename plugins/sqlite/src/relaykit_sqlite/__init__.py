"""relaykit-sqlite: call logs, usage totals, key vault and model cache in one SQLite file.

The default storage backend (``[storage] backend = "sqlite"``). See
:class:`~relaykit_sqlite.storage.SQLiteStorage` for how it writes and what a
crash can lose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["SQLiteStorage"]

if TYPE_CHECKING:
    from .storage import SQLiteStorage


def __getattr__(name: str) -> Any:
    # Lazy: the plugin module loads with every relaykit.Client; sqlite-utils only on use.
    if name == "SQLiteStorage":
        from .storage import SQLiteStorage

        return SQLiteStorage
    raise AttributeError(f"module 'relaykit_sqlite' has no attribute {name!r}")
