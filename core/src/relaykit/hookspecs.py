"""Hook specifications: every way a plugin extends relaykit.

Hooks are synchronous and declarative. They return objects (or factories of
objects) that implement the small async protocols in :mod:`relaykit.protocols`;
pluggy never awaits anything. Implement a hook with ``@relaykit.hookimpl`` in a
module exposed through the ``relaykit`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from .config import Config
    from .function_tools import FunctionTool
    from .http import HttpClient, HttpOptions
    from .protocols import (
        CacheStore,
        Exporter,
        ProviderFactory,
        RateLimiter,
        Redactor,
        Storage,
    )
    from .secrets import Secret

hookspec = pluggy.HookspecMarker("relaykit")

# -------------------------------------------------------------------------
# providers
# -------------------------------------------------------------------------


@hookspec
def relaykit_providers() -> Sequence[ProviderFactory]:
    """Return the provider factories this plugin adds.

    A factory is usually a class implementing :class:`relaykit.protocols.Provider`.
    Its ``type`` attribute is the name users write before the ``/`` in a model id
    (``openai`` in ``openai/gpt-4o-mini``) or as ``type`` in ``[providers.NAME]``.
    Factories from every plugin are collected; a later plugin's factory of the
    same type replaces an earlier one.

    :return: a sequence of provider factories.
    """


# -------------------------------------------------------------------------
# persistence
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relaykit_storage(name: str, config: Config) -> Storage | None:
    """Return the storage backend called ``name``, or ``None`` if it is not yours.

    Called once per :class:`relaykit.Client` with ``[storage] backend``.

    Stops at first non-None result.

    :param name: the backend the configuration asks for, e.g. ``"sqlite"``.
    :param config: the client's validated configuration.
    :return: an object implementing :class:`relaykit.protocols.Storage`, or ``None``.
    """


@hookspec(firstresult=True)
def relaykit_response_cache(name: str, config: Config) -> CacheStore | None:
    """Return the response cache store called ``name``, or ``None`` if it is not yours.

    Called once per :class:`relaykit.Client` with ``[cache] backend``, unless it
    is ``"storage"`` or ``"memory"`` (the built-in choices). The store holds the
    chat cache's answers and the embeddings cache's vectors behind an in-memory
    LRU; ``[cache] url`` and ``prefix`` are for stores shared over the network,
    ``timeout`` bounds each operation (the client cancels one that runs longer,
    and counts it a miss). The client awaits the store's ``aclose()``, if it
    has one, when it closes.

    Stops at first non-None result.

    :param name: the store the configuration asks for, e.g. ``"redis"``.
    :param config: the client's validated configuration.
    :return: an object implementing :class:`relaykit.protocols.CacheStore`, or ``None``.
    """


# -------------------------------------------------------------------------
# telemetry and redaction
# -------------------------------------------------------------------------


@hookspec
def relaykit_config_tables(config: Config) -> Sequence[str]:
    """Name the ``[exporters.NAME]``, ``[redactors.NAME]`` and ``[mcp]`` tables it reads.

    Called once per client, before ``relaykit_exporters`` and
    ``relaykit_redactors``. A client refuses, with a :class:`relaykit.ConfigError`,
    a table of those kinds that no plugin names: a misspelt one, or one whose
    plugin is not installed, would otherwise do nothing without a word. Name
    every table you may read, whatever it holds (relaykit-pii names
    ``redactors.pii`` even when ``enabled = false``); return an empty sequence
    when you read none. A table read only later (relaykit-mcp's ``[mcp]``, when
    ``--mcp`` is used) may be checked here: raise a ConfigError naming the key,
    and the client refuses to start. A plugin with ``relaykit_exporters``,
    ``relaykit_redactors`` or (for ``[mcp]``) ``relaykit_tool_source`` that does
    not implement this hook (written before it) makes the check of that kind a
    logged warning rather than an error.

    :param config: the client's validated configuration.
    :return: dotted table names, e.g. ``["exporters.prometheus"]``, or ``["mcp"]``.
    """


@hookspec
def relaykit_exporters(config: Config) -> Sequence[Exporter]:
    """Return the metrics exporters this plugin contributes for ``config``.

    Called once per client. Return an empty sequence when the plugin is not
    configured (typically when its ``[exporters.NAME]`` table is absent), and
    name the tables you read in ``relaykit_config_tables``.
    Exporters receive call records and :mod:`relaykit.gauge_events`;
    :func:`relaykit.metrics.observe` turns either into metric observations.

    :param config: the client's validated configuration.
    :return: objects implementing :class:`relaykit.protocols.Exporter`.
    """


@hookspec
def relaykit_redactors(config: Config) -> Sequence[Redactor]:
    """Return the redactors this plugin contributes for ``config``.

    Redactors run in registration order on everything relaykit stores, logs,
    traces or exports; the built-in secret redactor always runs, first. A redactor
    with ``restore`` is reversible: it also redacts outbound prompts, and
    its placeholders are restored in the answer. Name the
    ``[redactors.NAME]`` tables you read in ``relaykit_config_tables``.

    :param config: the client's validated configuration.
    :return: objects implementing :class:`relaykit.protocols.Redactor`.
    """


# -------------------------------------------------------------------------
# limits
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relaykit_rate_limiter(name: str, config: Config) -> RateLimiter | None:
    """Return the rate limiter called ``name``, or ``None`` if it is not yours.

    Called once per client when ``[limits]`` is configured.

    Stops at first non-None result.

    :param name: the limiter backend asked for, e.g. ``"memory"`` or ``"redis"``.
    :param config: the client's validated configuration.
    :return: an object implementing :class:`relaykit.protocols.RateLimiter`, or ``None``.
    """


# -------------------------------------------------------------------------
# HTTP client
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relaykit_http_client(config: Config, options: HttpOptions) -> HttpClient | None:
    """Return a fresh HTTP client for one provider, to use instead of the default httpx one.

    Called once for each provider as it is built (clients are not shared, since
    closing a provider's client closes its pool). The client must honour
    ``options`` and raise the transport errors of :mod:`relaykit.http` (see its
    docstring). Return ``None`` to keep the default ``httpx.AsyncClient``, for
    example when the running async library is not yours. Not called when
    ``[http] transport = "httpx"``.

    Stops at first non-None result.

    :param config: the client's validated configuration.
    :param options: pool limits, timeouts and header hooks the client must apply.
    :return: an object implementing :class:`relaykit.http.HttpClient`, or ``None``.
    """


@hookspec(firstresult=True)
def relaykit_http_client_modules(config: Config) -> Sequence[str] | None:
    """Name the modules your ``relaykit_http_client`` imports to build a client now.

    The client imports them in a worker thread before it builds its first
    provider, so a cold import of an HTTP stack (a third of a second) does not
    stall the event loop and every other task's timers with it. Return ``None``
    exactly when your ``relaykit_http_client`` would return ``None``: the
    default httpx client's modules are imported then. Called from the event
    loop thread, once per client, before its first call.

    Stops at first non-None result.

    :param config: the client's validated configuration.
    :return: importable module names (one that fails to import is a
        :class:`relaykit.ConfigError` naming your plugin), or ``None``.
    """


# -------------------------------------------------------------------------
# command line
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def relaykit_tool_source(
    spec: str, headers: Mapping[str, Secret], config: Config
) -> AbstractAsyncContextManager[Sequence[FunctionTool]] | None:
    """Return the tools ``relaykit prompt --mcp SPEC`` names, or ``None`` if not yours.

    ``spec`` is what the user wrote after ``--mcp`` (``relaykit prompt`` and
    ``relaykit chat`` take it): a server's URL, a command line that starts one,
    or a name your plugin reads from the configuration (relaykit-mcp's
    ``[mcp.servers.NAME]``). Return an async context manager, not connected
    yet: relaykit enters it in the command's event loop, where it connects and
    yields the tools (:class:`relaykit.FunctionTool` values, as ``run_tools``
    takes), and leaves it, disconnecting, when the prompt is answered or the
    chat ends. Called from the main thread before the event loop starts, so a
    heavy import here holds up no timer. For a spec that is yours but wrong,
    raise a :class:`relaykit.ConfigError` or
    :class:`relaykit.InvalidRequestError`: the CLI prints it as one line.

    A tool's result is stored, logged and traced with the conversation, and a
    server may quote the credentials it was given. The command's client masks
    each ``headers`` value; credentials your plugin reads itself (tokens in
    ``config.mcp``, ``${VAR}`` read from the environment) it masks too if the
    context manager names them in a ``secrets`` attribute: a sequence of
    :class:`relaykit.Secret` or ``str``, read as the hook returns, each masked
    (with the token of a ``Bearer ...`` value) before the first call. A context
    manager without it (a plugin written before) masks nothing more. Keep the
    values out of its ``repr``.

    Stops at first non-None result.

    :param spec: the ``--mcp`` value.
    :param headers: the ``--mcp-header NAME=VALUE`` options given after it, for
        an HTTP server (empty when there are none).
    :param config: the command's validated configuration.
    :return: an async context manager yielding a sequence of
        :class:`relaykit.FunctionTool` (with, optionally, ``secrets``), or ``None``.
    """


@hookspec
def relaykit_commands(cli: argparse._SubParsersAction[Any]) -> None:
    """Add sub-commands to the ``relaykit`` command line.

    Call ``cli.add_parser(name, help=...)`` and ``set_defaults(func=handler)`` on the
    parser you add; ``handler(args)`` returns the exit code. An ``async def`` handler
    runs on the event loop ``--backend`` chose. ``args.context`` (a
    :class:`relaykit.cli.context.CliContext`) builds clients that honour ``--config``.
    Raise a :class:`relaykit.RelayError` for failures the user can fix: the CLI
    prints it as one line and exits non-zero.

    :param cli: the ``argparse`` sub-parsers object of the ``relaykit`` command.
    """
