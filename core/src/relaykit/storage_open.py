"""Find the storage backend ``[storage] backend`` names, through the ``relaykit_storage`` hook."""

from __future__ import annotations

from .config import Config
from .config_tables import missing_backend_hint
from .errors import ConfigError
from .plugin_faults import first_result
from .plugins import PluginManager
from .protocols import Storage


def open_storage(config: Config, pm: PluginManager) -> Storage | None:
    """The configured backend, or ``None`` when logging is off or the default is not installed.

    Naming a backend explicitly that no plugin provides is a :class:`ConfigError`;
    the implicit default (``sqlite``) quietly turns logging off when its plugin
    is missing, so the bare core works.
    """
    backend = config.storage.backend
    if backend == "none":
        return None
    storage: Storage | None = first_result(
        pm, "relaykit_storage", needs=("write_batch",), name=backend, config=config
    )[1]
    if storage is None and config.storage_explicit:
        offered = [impl.plugin_name for impl in pm.hook.relaykit_storage.get_hookimpls()]
        raise ConfigError(
            f"no plugin provides the storage backend {backend!r}",
            hint=missing_backend_hint(
                "storage",
                backend,
                offered,
                "set [storage] backend = 'none'",
                not_loaded=pm.not_loaded,
            ),
        )
    return storage
