"""Refuse a plugin table no installed plugin reads, and name the plugin that would.

The core does not read ``[exporters.NAME]`` or ``[redactors.NAME]``: each plugin
looks its own table up in its ``relaykit_exporters`` / ``relaykit_redactors``
hook. A table nobody reads would do nothing without a word
(``[exporters.promethues]``, ``[redactors.pii]`` without relaykit-pii), and the
user would believe their metrics or redaction are on. So plugins name the
tables they read through ``relaykit_config_tables``, and a client refuses one
that no plugin names (:func:`check_plugin_tables`).

Whole tables a plugin reads are checked alike (:data:`CHECKED_TABLES`):
relaykit-mcp's ``[mcp]`` is read only when ``--mcp`` is used, so without the
plugin, or with a mistake in it, nothing was said until a server was wanted.
relaykit-mcp checks the table as it names it, so its mistakes show at start too.

A plugin written before that hook names nothing, yet may read a table. While a
plugin implementing a kind's hook (``relaykit_exporters`` for exporters,
``relaykit_tool_source`` for ``[mcp]``) names nothing, an unclaimed table of
that kind is logged as a warning, not refused: refusing would break a working
configuration on an upgrade of the core alone.

The backends a firstresult hook picks by name (``[storage] backend``,
``[cache] backend``, ``[limiter] backend``) are checked where they are opened;
:func:`missing_backend_hint` words the fix for all of them alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from .config import Config
from .errors import ConfigError
from .plugin_faults import list_results, table_problem
from .plugins import NotLoaded, PluginManager, distribution_key

log = logging.getLogger("relaykit.config")

#: the plugin tables checked, and the hook that reads each kind
CHECKED_KINDS: dict[str, str] = {
    "exporters": "relaykit_exporters",
    "redactors": "relaykit_redactors",
}

#: whole plugin tables checked (``[mcp]``), and the hook of the plugin that reads each
CHECKED_TABLES: dict[str, str] = {"mcp": "relaykit_tool_source"}

#: relaykit's own plugins by what they provide: ``{kind: {name: distribution}}``
FIRST_PARTY: dict[str, dict[str, str]] = {
    "exporters": {
        "prometheus": "relaykit-prometheus",
        "statsd": "relaykit-statsd",
        "otlp": "relaykit-otlp",
    },
    "redactors": {"pii": "relaykit-pii"},
    # whole tables: [mcp]
    "tables": {"mcp": "relaykit-mcp"},
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

#: (table, plugins) already warned about in this process: an application
#: building a client per request would otherwise log the same warning each time
_warned: set[tuple[str, tuple[str, ...]]] = set()


def check_plugin_tables(config: Config, pm: PluginManager) -> None:
    """Raise a :class:`ConfigError` for an ``[exporters.NAME]`` or ``[redactors.NAME]``
    table, or a whole plugin table (``[mcp]``), that no registered plugin names in
    ``relaykit_config_tables``.

    While a plugin implementing the kind's hook does not implement
    ``relaykit_config_tables`` (written before it), such a table is logged as a
    warning instead (see the module docstring).
    """
    tables = [table for table in CHECKED_TABLES if getattr(config, table)]
    if not tables and not any(getattr(config, kind) for kind in CHECKED_KINDS):
        return
    # A plugin may check its table as it names it (relaykit-mcp's [mcp], read only
    # when --mcp is used): its ConfigError is raised from here, as the client starts.
    claimed = set(list_results(pm, "relaykit_config_tables", check=table_problem, config=config))
    declaring = {id(impl.plugin) for impl in pm.hook.relaykit_config_tables.get_hookimpls()}

    def silent(hook_name: str) -> tuple[str, ...]:
        """The plugins with ``hook_name`` that name no tables: any of them may read one."""
        return tuple(
            sorted(
                impl.plugin_name
                for impl in getattr(pm.hook, hook_name).get_hookimpls()
                if id(impl.plugin) not in declaring
            )
        )

    for kind, hook_name in CHECKED_KINDS.items():
        unclaimed = [name for name in getattr(config, kind) if f"{kind}.{name}" not in claimed]
        if not unclaimed:
            continue
        read = sorted(n.partition(".")[2] for n in claimed if n.startswith(f"{kind}."))
        for name in unclaimed:
            error = _unclaimed(kind, name, read, pm.not_loaded)
            _refuse_or_warn(f"{kind}.{name}", error, silent(hook_name))
    for table in tables:
        if table not in claimed:
            error = _unclaimed_table(table, pm.not_loaded)
            _refuse_or_warn(table, error, silent(CHECKED_TABLES[table]))


def _refuse_or_warn(table: str, error: ConfigError, silent: tuple[str, ...]) -> None:
    """Raise ``error`` for ``table``, or warn of it (once) while ``silent`` plugins may read it."""
    if not silent:
        raise error
    if (table, silent) not in _warned:
        _warned.add((table, silent))
        log.warning(
            "no plugin says it reads [%s]; %s may (written before plugins named"
            " their tables): if none does, the table is ignored. %s",
            table,
            ", ".join(silent),
            error.hint,
        )


def _unclaimed_table(table: str, not_loaded: Mapping[str, NotLoaded]) -> ConfigError:
    package = FIRST_PARTY["tables"].get(table)
    hint = (
        _get_package(package, f"(it reads [{table}])", "remove the table", not_loaded)
        if package is not None
        else "remove the table, or install the plugin that reads it"
        " (`relaykit plugins` lists those loaded)"
    )
    return ConfigError(f"no installed plugin reads [{table}]: it would be ignored", hint=hint)


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
        what = f"(it {'reads' if table else 'provides'} {shown(name)})"
        return _get_package(first_party[name], what, instead, not_loaded)
    installed = set(offered)
    import difflib  # only on the way to an error

    near = difflib.get_close_matches(name, sorted({*installed, *first_party}), n=1)
    if not near:
        return unknown or f"{install_hint(f'relaykit-{name}', not_loaded)}, or {instead}"
    if near[0] not in installed:
        return f"did you mean {shown(near[0])}? ({install_hint(first_party[near[0]], not_loaded)})"
    return f"did you mean {shown(near[0])}?"


def _get_package(
    package: str, what: str, instead: str, not_loaded: Mapping[str, NotLoaded] | None
) -> str:
    """``pip install PACKAGE WHAT, or INSTEAD``, or the change that loads it when installed."""
    skipped = (not_loaded or {}).get(distribution_key(package))
    if skipped is not None:
        return f"{package} {what} is installed but {skipped.state}: {skipped.fix}, or {instead}"
    return f"pip install {package} {what}, or {instead}"


def install_hint(package: str, not_loaded: Mapping[str, NotLoaded] | None) -> str:
    """How to get ``package``'s plugin loaded: ``pip install relaykit-pii``, or, when
    it is installed but the environment keeps it out, ``relaykit-pii is installed but
    disabled: take 'pii' out of RELAYKIT_DISABLE_PLUGINS``."""
    skipped = (not_loaded or {}).get(distribution_key(package))
    if skipped is None:
        return f"pip install {package}"
    return f"{package} is installed but {skipped.state}: {skipped.fix}"
