"""The entry point: answers ``relaykit_storage`` for the ``postgres`` backend."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from relaykit import hookimpl
from relaykit.errors import ConfigError

if TYPE_CHECKING:
    # Annotations only: every relaykit process (`relaykit --help` too) imports this module.
    from relaykit.config import Config

    from .storage import PostgresStorage

DSN_ENV = "RELAYKIT_POSTGRES_DSN"


def dsn_for(config: Config) -> str:
    """``[storage] dsn``, else ``$RELAYKIT_POSTGRES_DSN``."""
    dsn = config.storage.dsn or os.environ.get(DSN_ENV)
    if not dsn:
        raise ConfigError(
            "the postgres storage backend needs a connection string",
            hint=f"set [storage] dsn = 'postgresql://user@host/db' or {DSN_ENV}",
        )
    return dsn


@hookimpl
def relaykit_storage(name: str, config: Config) -> PostgresStorage | None:
    """The PostgreSQL backend; connections open lazily on first use."""
    if name != "postgres":
        return None
    from .storage import PostgresStorage

    return PostgresStorage(dsn_for(config))
