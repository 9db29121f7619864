"""What every storage command needs: the config, the storage backend, an event loop."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    # Loaded by the handlers that open storage, not by the commands' registration
    # (`make_parser`), which every `relaykit` run does.
    from ..config import Config
    from ..plugins import PluginManager
    from ..protocols import Storage


def run(args: argparse.Namespace, fn: Callable[[argparse.Namespace], Awaitable[int]]) -> int:
    """Run ``fn(args)`` on the event loop the CLI chose (``--backend``, default asyncio)."""
    context = getattr(args, "context", None)
    if context is not None:
        return int(context.run(fn, args))
    import anyio

    return anyio.run(fn, args, backend=getattr(args, "backend", None) or "asyncio")


def config_of(args: argparse.Namespace) -> Config:
    """The configuration ``--config`` (or the usual lookup) gives."""
    context = getattr(args, "context", None)
    if context is not None:
        loaded: Config = context.load_config()
        return loaded
    from ..config import load_config

    return load_config(getattr(args, "config", None))


def plugin_manager_of(args: argparse.Namespace) -> PluginManager:
    """The CLI's plugin manager (extra plugins included)."""
    context = getattr(args, "context", None)
    if context is not None:
        pm: PluginManager = context.plugin_manager
        return pm
    from ..plugins import build_plugin_manager

    return build_plugin_manager(getattr(args, "plugins", ()))


@asynccontextmanager
async def opened_storage(
    args: argparse.Namespace, *, reading: bool = False
) -> AsyncIterator[Storage]:
    """The configured storage backend, closed afterwards; an error if logging is off.

    ``reading``: the command only reads (or deletes from) what is logged, so a backend
    whose file does not exist is an error instead of a new, empty file: a mistyped
    ``[storage] path`` would otherwise be created and answer that nothing matches.
    """
    from ..storage_open import open_storage

    config = config_of(args)
    storage = open_storage(config, plugin_manager_of(args))
    if storage is None:
        backend = config.storage.backend
        if backend == "none":
            raise ConfigError(
                "storage is off ([storage] backend = 'none')",
                hint="set [storage] backend = 'sqlite' (or another installed backend)",
            )
        raise ConfigError(
            f"no plugin provides the storage backend {backend!r}",
            hint=f"pip install relaykit-{backend}",
        )
    try:
        if reading:
            _refuse_missing_file(storage)
        yield storage
    finally:
        await storage.aclose()


def _refuse_missing_file(storage: Storage) -> None:
    # A file-backed backend (relaykit-sqlite) names its file as ``path``; it creates
    # the file on first use, which a read must not be.
    path = getattr(storage, "path", None)
    if isinstance(path, os.PathLike) and not os.path.exists(path):
        raise ConfigError(
            f"no call log at {os.fspath(path)}: nothing has been logged there yet",
            hint="make a call first, or point [storage] path (or -c CONFIG) at the log's file",
        )


def needs(storage: Storage, *methods: str) -> None:
    """Fail clearly when a (third-party) backend predates part of the storage protocol."""
    missing = [m for m in methods if not hasattr(storage, m)]
    if missing:
        raise ConfigError(
            f"the storage backend {type(storage).__name__} does not support {', '.join(missing)}",
            hint="upgrade the storage plugin",
        )


def make_parser(
    subparsers: argparse._SubParsersAction[Any], name: str, parents: Sequence[Any], **kw: Any
) -> argparse.ArgumentParser:
    """A sub-command parser sharing the CLI's global options."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, parents=list(parents), **kw)
    return parser
