"""The entry point: answers ``relaykit_storage`` for the ``sqlite`` backend, and adds
the embedding collection commands (``embed-multi``, ``similar``, ``collections``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from relaykit import hookimpl

if TYPE_CHECKING:
    import argparse

    # Annotations only: every relaykit process (`relaykit --help` too) imports this module.
    from relaykit.config import Config

    from .storage import SQLiteStorage

#: the file name in the user config dir when ``[storage] path`` is not set
DEFAULT_FILE = "logs.db"


def database_path(config: Config) -> Path:
    """``[storage] path`` (``~`` expanded), else ``logs.db`` in the user config dir."""
    from relaykit.config import user_config_dir

    if config.storage.path:
        return Path(config.storage.path).expanduser()
    return user_config_dir() / DEFAULT_FILE


@hookimpl
def relaykit_storage(name: str, config: Config) -> SQLiteStorage | None:
    """The SQLite backend, opened lazily on first use; it waits ``[storage]
    busy_timeout`` seconds for another process's lock."""
    if name != "sqlite":
        return None
    from .storage import SQLiteStorage

    return SQLiteStorage(database_path(config), busy_timeout=config.storage.busy_timeout)


@hookimpl
def relaykit_commands(cli: argparse._SubParsersAction[Any]) -> None:
    """Add ``relaykit embed-multi``, ``relaykit similar`` and ``relaykit collections``."""
    from .collection_commands import register

    register(cli)
