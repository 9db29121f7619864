"""What every command handler gets besides its own options: ``args.context``.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, TypeVarTuple, Unpack

import attrs

if TYPE_CHECKING:
    from ..client import Client
    from ..config import Config
    from ..plugins import PluginManager
    from ..sync_client import SyncClient

__all__ = ["CliContext"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@attrs.frozen
class CliContext:
    """The settings of one ``relaykit`` invocation, shared by all its commands.

    Handlers, built-in and plugin-added alike, find it as ``args.context``. Use
    :meth:`client` for a client that honours ``--config`` and the extra plugins,
    and :meth:`run` to run async code on the event loop ``--backend`` chose.
    """

    plugin_manager: PluginManager
    plugins: tuple[object, ...] = ()
    config: str | None = None
    backend: str = "asyncio"

    def load_config(self) -> Config:
        """The configuration: ``--config``, else the usual lookup (env, ./relaykit.toml, ...)."""
        from ..config import load_config

        return load_config(self.config)

    def client(self, config: Config | None = None) -> Client:
        """A new async client; ``config`` saves reading the configuration twice."""
        from ..client import Client

        return Client(config if config is not None else self.config, plugins=self.plugins)

    def sync_client(self, config: Config | None = None) -> SyncClient:
        """A new blocking client whose event loop (in a thread) runs on ``--backend``."""
        from ..sync_client import SyncClient

        return SyncClient(
            config if config is not None else self.config,
            plugins=self.plugins,
            backend=self.backend,
        )

    def run(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``fn(*args)`` in a fresh event loop of the chosen backend."""
        import anyio

        return anyio.run(fn, *args, backend=self.backend)
