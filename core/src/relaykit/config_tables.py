"""Refuse a plugin table no installed plugin reads, and name the plugin that would.

The core does not read ``[exporters.NAME]`` or ``[redactors.NAME]``: each plugin
looks its own table up in its ``relaykit_exporters`` / ``relaykit_redactors``
hook. A table nobody reads would do nothing without a word
(``[exporters.promethues]``, ``[redactors.pii]`` without relaykit-pii), and the
user would believe their metrics or redaction are on. So plugins name the
tables they read through ``relaykit_config_tables``, and a client refuses one
that no plugin names (:func:`check_plugin_tables`).

A plugin written before that hook names nothing, yet may read a table. While a
plugin implementing a kind's hook (``relaykit_exporters`` for exporters) names
nothing, an unclaimed table of that kind is logged as a warning, not refused:
refusing would break a working configuration on an upgrade of the core alone.

The backends a firstresult hook picks by name (``[storage] backend``,
``[cache] backend``, ``[limiter] backend``) are checked where they are opened;
:func:`missing_backend_hint` words the fix for all of them alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from .config import Config
from .errors import ConfigError
from .plugins import NotLoaded, PluginManager, collect, distribution_key

log = logging.getLogger("relaykit.config")

#: the plugin tables checked, and the hook that reads each kind
CHECKED_KINDS: dict[str, str] = {
    "exporters": "relaykit_exporters",
    "redactors": "relaykit_redactors",
}

#: relaykit's own plugins by what they provide: ``{kind: {name: distribution}}``
FIRST_PARTY: dict[str, dict[str, str]] = {
    "exporters": {
        "prometheus": "relaykit-prometheus",
        "statsd": "relaykit-statsd",
        "otlp": "relaykit-otlp",
    },
    "redactors": {"pii": "relaykit-pii"},
    "storage": {"sqlite": "relaykit-sqlite", "postgres": "relaykit-postgres"},
    "cache": {"redis": "relaykit-redis"},
    "limiter": {"redis": "relaykit-redis"},
    # provider types: relaykit-openai brings every OpenAI-compatible preset, so a
    # missing "groq" is fixed by installing relaykit-openai, not a "relaykit-groq"
    "providers": {
        **dict.fromkeys(
            (
                "openai",
                "azure",
                "bedrock-mantle",
                "cerebras",
                "deepseek",
                "fireworks",
                "groq",
                "lmstudio",
                "mistral",
                "ollama-openai",
                "openrouter",
                "together",
                "vllm",
                "xai",
            ),
            "relaykit-openai",
        ),
        **dict.fromkeys(
            ("anthropic", "foundry-anthropic", "vertex-anthropic"), "relaykit-anthropic"
        ),
        **dict.fromkeys(("gemini", "vertex"), "relaykit-gemini"),
        "bedrock": "relaykit-bedrock",
        "ollama": "relaykit-ollama",
        "cohere": "relaykit-cohere",
    },
}

#: (kind, table, plugins) already warned about in this process: an application
#: building a client per request would otherwise log the same warning each time
_warned: set[tuple[str, str, tuple[str, ...]]] = set()


def check_plugin_tables(config: Config, pm: PluginManager) -> None:
    """Raise a :class:`ConfigError` for an ``[exporters.NAME]`` or ``[redactors.NAME]``
    table that no registered plugin names in ``relaykit_config_tables``.

    While a plugin implementing the kind's hook does not implement
    ``relaykit_config_tables`` (written before it), such a table is logged as a
    warning instead (see the module docstring).
    """
    if not any(getattr(config, kind) for kind in CHECKED_KINDS):
        return
    claimed = {str(name) for name in collect(pm.hook.relaykit_config_tables(config=config))}
    declaring = {id(impl.plugin) for impl in pm.hook.relaykit_config_tables.get_hookimpls()}
    for kind, hook_name in CHECKED_KINDS.items():
        unclaimed = [name for name in getattr(config, kind) if f"{kind}.{name}" not in claimed]
        if not unclaimed:
            continue
        silent = tuple(
            sorted(
                impl.plugin_name
                for impl in getattr(pm.hook, hook_name).get_hookimpls()
                if id(impl.plugin) not in declaring
            )
        )
        read = sorted(n.partition(".")[2] for n in claimed if n.startswith(f"{kind}."))
        for name in unclaimed:
            if not silent:
                raise _unclaimed(kind, name, read, pm.not_loaded)
            if (kind, name, silent) not in _warned:
                _warned.add((kind, name, silent))
                log.warning(
                    "no plugin says it reads [%s.%s]; %s may (written before plugins named"
                    " their tables): if none does, the table is ignored. %s",
                    kind,
                    name,
                    ", ".join(silent),
                    _unclaimed(kind, name, read, pm.not_loaded).hint,
                )


def _unclaimed(
    kind: str, name: str, read: list[str], not_loaded: Mapping[str, NotLoaded]
) -> ConfigError:
    installed = (
        f"the installed plugins read {', '.join(f'[{kind}.{n}]' for n in read)}"
        if read
        else f"no installed plugin reads a [{kind}.NAME] table"
    )
    hint = missing_backend_hint(
        kind,
        name,
        read,
        "remove the table",
        unknown=f"{installed}; remove the table, or install the plugin that reads it"
        " (`relaykit plugins` lists those loaded)",
        table=True,
        not_loaded=not_loaded,
    )
    return ConfigError(f"no installed plugin reads [{kind}.{name}]: it would be ignored", hint=hint)


def missing_backend_hint(
    kind: str,
    name: str,
    offered: Iterable[str],
    instead: str,
    *,
    unknown: str | None = None,
    table: bool = False,
    not_loaded: Mapping[str, NotLoaded] | None = None,
) -> str:
    """The fix for ``name`` of ``kind`` (``"storage"``, ``"exporters"``) that no
    installed plugin provides, ``offered`` being the names installed ones do.

    The package to install for one of relaykit's own (``pip install
    relaykit-statsd``), else the nearest name installed or first-party ("did you
    mean 'prometheus'?"), else ``unknown`` (by default: install
    ``relaykit-NAME``). ``instead`` is the way out other than installing
    (``set [storage] backend = 'none'``). ``table``: ``name`` is an
    ``[exporters.NAME]``-style table, and is written as one. ``not_loaded``: the
    installed plugins the environment keeps from loading (the plugin manager's
    ``not_loaded``), whose fix is to let them load rather than to install them.
    """
    first_party = FIRST_PARTY.get(kind, {})

    def shown(found: str) -> str:
        return f"[{kind}.{found}]" if table else repr(found)

    if name in first_party:
        package = first_party[name]
        what = f"(it {'reads' if table else 'provides'} {shown(name)})"
        skipped = (not_loaded or {}).get(distribution_key(package))
        if skipped is not None:
            return f"{package} {what} is installed but {skipped.state}: {skipped.fix}, or {instead}"
        return f"pip install {package} {what}, or {instead}"
    installed = set(offered)
    import difflib  # only on the way to an error

    near = difflib.get_close_matches(name, sorted({*installed, *first_party}), n=1)
    if not near:
        return unknown or f"{install_hint(f'relaykit-{name}', not_loaded)}, or {instead}"
    if near[0] not in installed:
        return f"did you mean {shown(near[0])}? ({install_hint(first_party[near[0]], not_loaded)})"
    return f"did you mean {shown(near[0])}?"


def install_hint(package: str, not_loaded: Mapping[str, NotLoaded] | None) -> str:
    """How to get ``package``'s plugin loaded: ``pip install relaykit-pii``, or, when
    it is installed but the environment keeps it out, ``relaykit-pii is installed but
    disabled: take 'pii' out of RELAYKIT_DISABLE_PLUGINS``."""
    skipped = (not_loaded or {}).get(distribution_key(package))
    if skipped is None:
        return f"pip install {package}"
    return f"{package} is installed but {skipped.state}: {skipped.fix}"
