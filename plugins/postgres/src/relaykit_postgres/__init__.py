"""relaykit-postgres: call logs, usage totals, key vault and model cache in PostgreSQL.

Select it with ``[storage] backend = "postgres"`` and ``dsn = "postgresql://..."``
(or ``$RELAYKIT_POSTGRES_DSN``). See :class:`~relaykit_postgres.storage.PostgresStorage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

__all__ = ["PostgresStorage"]

if TYPE_CHECKING:
    from .storage import PostgresStorage

# Lazy: the plugin module loads with every relaykit.Client; psycopg only on use.
__getattr__, __dir__ = lazy_exports(__name__, {"PostgresStorage": "storage"}, __all__)
