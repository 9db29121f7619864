"""relaykit-postgres: call logs, usage totals, key vault and model cache in PostgreSQL.

Select it with ``[storage] backend = "postgres"`` and ``dsn = "postgresql://..."``
(or ``$RELAYKIT_POSTGRES_DSN``). See :class:`~relaykit_postgres.storage.PostgresStorage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["PostgresStorage"]

if TYPE_CHECKING:
    from .storage import PostgresStorage


def __getattr__(name: str) -> Any:
    # Lazy: the plugin module loads with every relaykit.Client; psycopg only on use.
    if name == "PostgresStorage":
        from .storage import PostgresStorage

        return PostgresStorage
    raise AttributeError(f"module 'relaykit_postgres' has no attribute {name!r}")
