"""Turn a provider name into a built provider: find its plugin, settings, key and HTTP client."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio.to_thread

from .config import Config, ProviderConfig, header_problem
from .config_tables import FIRST_PARTY, install_hint
from .errors import ConfigError, did_you_mean
from .fork_safety import after_fork_in_child, leave_to_parent
from .half_built import close_all
from .known_secrets import KnownSecrets
from .metrics import Attributes, ProviderNames, genai_provider_name, provider_names_entry
from .plugin_faults import factory_problem, first_result, list_results
from .plugins import PluginManager, distribution_key
from .protocols import Provider, ProviderFactory, ProviderSettings
from .secrets import Secret
from .tls import ca_file_context

if TYPE_CHECKING:
    import ssl

    from .http import HeaderHook, HttpClient


#: the environment variables that name an HTTP proxy (``http://user:password@host``)
PROXY_ENVS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class ProviderRegistry:
    """Knows every provider factory; builds each configured provider once, on first use."""

    def __init__(self, config: Config, pm: PluginManager, env: Mapping[str, str]) -> None:
        self._config = config
        self._pm = pm
        self._env = env
        self.factories: dict[str, ProviderFactory] = {}
        for factory in list_results(pm, "relaykit_providers", check=factory_problem):
            self.factories[factory.type] = factory
        # A [providers.NAME] table whose plugin is missing (or a misspelt NAME or type)
        # would otherwise be found out only when that provider is first called, and
        # not at all when calls go to the provider it misspells, bypassing its settings.
        for name, pconf in config.providers.items():
            if (pconf.type or name) not in self.factories:
                raise self._unknown(name, pconf.type or name)
        self._built: dict[str, Provider] = {}
        #: base URL of each built provider: with provider and model it names a deployment
        self.base_urls: dict[str, str] = {}
        self._http: dict[str, HttpClient] = {}
        after_fork_in_child(self, ProviderRegistry._forget_parent)
        #: [http] ca_file's context, made (and the file checked) as the client is
        #: built, so a wrong path fails at once rather than at the first call
        self._ssl_context: ssl.SSLContext | None = (
            ca_file_context(config.http.ca_file) if config.http.ca_file else None
        )
        #: [http] ca_file as configured, for the fix an untrusted certificate's error names
        self.ca_file = config.http.ca_file
        #: keys from the key vault by provider name, loaded when the client starts
        self.vault_keys: dict[str, Secret] = {}
        #: header hooks every provider's HTTP client runs on each request (the client's
        #: tracer adds W3C trace-context propagation here, so providers need no change)
        self.header_hooks: list[HeaderHook] = []
        #: every key and header value the providers use, masked wherever it shows:
        #: configured ones and the environment's now, vault keys when the client
        #: starts (each provider adds the key it resolved as it is built, too)
        self.known_secrets = KnownSecrets()
        for pconf in config.providers.values():
            self.known_secrets.add(pconf.api_key)
            self.known_secrets.add_url(pconf.base_url)
            if pconf.api_key_env:
                self.known_secrets.add(env.get(pconf.api_key_env))
            for header, value in pconf.headers.items():
                self.known_secrets.add_header(header, value)
        # and those that exporters send their collectors (a Honeycomb or Grafana key),
        # and the passwords in the URLs of the stores and collectors
        for table in config.exporters.values():
            if not isinstance(table, Mapping):
                continue
            headers = table.get("headers")
            if isinstance(headers, Mapping):
                for header, value in headers.items():
                    self.known_secrets.add_header(str(header), str(value))
            for key in ("endpoint", "url"):
                if isinstance(table.get(key), str):
                    self.known_secrets.add_url(table[key])
        for url in (config.storage.dsn, config.cache.url, config.limiter.url):
            self.known_secrets.add_url(url)
        # The environment's keys are known before any call: a span that captures
        # content redacts the prompt when it starts, before the call builds its
        # provider, and a key of no known shape would reach it in clear.
        # A proxy's password too (aiohttp sends through $HTTPS_PROXY and the like)
        for var in PROXY_ENVS:
            self.known_secrets.add_url(env.get(var))
        # and the process's: the HTTP clients send through those (urllib's getproxies),
        # whatever environment the client was given (Client(env=...))
        for var in PROXY_ENVS:
            self.known_secrets.add_url(os.environ.get(var))
        for factory in self.factories.values():
            if factory.api_key_env:
                self.known_secrets.add(env.get(factory.api_key_env))
            for var in getattr(factory, "secret_envs", ()):  # credentials besides a key
                self.known_secrets.add(env.get(var))

    def telemetry_names(self) -> ProviderNames:
        """How spans and metrics name each provider a model id may start with: every
        installed type, and every ``[providers.NAME]`` table, by the
        ``gen_ai.provider.name`` of its type (the factory's ``genai_provider_name``,
        else :func:`relaykit.metrics.genai_provider_name` of the type); a table not
        named after its type adds ``relaykit.provider``, and a base URL that names a
        host adds ``server.address`` and ``server.port``. Worked out once per client,
        so a call only looks its provider up.
        """
        names: dict[str, Attributes] = {}
        for type_, factory in self.factories.items():
            names[type_] = provider_names_entry(
                _genai_name(type_, factory), server=self._server(type_)
            )
        for name, pconf in self._config.providers.items():
            type_ = pconf.type or name
            if type_ != name:  # the registry checked every table's type is installed
                names[name] = provider_names_entry(
                    _genai_name(type_, self.factories[type_]), table=name, server=self._server(name)
                )
        return names

    def _server(self, name: str) -> tuple[str, int] | None:
        """The host and port of provider ``name``'s base URL (as its span's
        ``server.address`` and ``server.port``); ``None`` when it has none that
        names a host (a provider without a base URL, ``fake://``)."""
        # Not settings(name): that wants the API key, which a client may get later
        # (`relaykit keys set`), or never for a provider it does not call.
        pconf = self._config.providers.get(name, ProviderConfig())
        type_ = pconf.type or name
        base_url = self._base_url(name, pconf, self.factories[type_], type_)
        try:
            url = urlsplit(base_url or "")
            port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:  # a port out of range: the call's own settings say so
            return None
        return (url.hostname, port) if url.hostname else None

    def names(self) -> list[str]:
        """Providers the user has set up: configured under [providers], or keyed in the env.

        Keyless local servers (vllm, lmstudio, ...) count only once configured, so
        listing every model does not try to reach servers that are not running.
        """
        names = set(self._config.providers)
        names.update(n for n in self.vault_keys if n in self.factories)
        for type_, factory in self.factories.items():
            if factory.api_key_env and self._env.get(factory.api_key_env, "").strip():
                names.add(type_)
        return sorted(names)

    def settings(self, name: str) -> tuple[ProviderFactory, ProviderSettings]:
        """The factory and resolved settings for provider ``name``."""
        pconf = self._config.providers.get(name, ProviderConfig())
        type_ = pconf.type or name
        factory = self.factories.get(type_)
        if factory is None:
            raise self._unknown(name, type_)
        for key in pconf.options:
            if key not in factory.options:
                valid = ["type", "base_url", "api_key", "api_key_env", "headers", *factory.options]
                raise ConfigError(
                    f"unknown config key providers.{name}.{key}",
                    hint=did_you_mean(key, valid, f"valid keys: {', '.join(valid)}"),
                )
        base_url = self._base_url(name, pconf, factory, type_)
        env_var = factory.base_url_env if type_ == name else None
        if not base_url:
            example = getattr(factory, "base_url_example", None) or "http://host:port/v1"
            where = f"{env_var} or " if env_var else ""
            raise ConfigError(
                f"provider {name!r} has no base URL",
                hint=f"set {where}[providers.{name}] base_url = '{example}'",
            )
        api_key = self._api_key(name, pconf, factory, type_)
        settings = ProviderSettings(
            name=name,
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            headers=dict(pconf.headers),
            options=dict(pconf.options),
            timeouts=self._config.timeouts,
            env=self._env,
            known_secrets=self.known_secrets,
            base_dir=self._config.base_dir,
        )
        return factory, settings

    def _base_url(
        self, name: str, pconf: ProviderConfig, factory: ProviderFactory, type_: str
    ) -> str | None:
        """Provider ``name``'s base URL as configured (the table's, the type's option
        or environment variable, else the factory's default); ``None`` if none."""
        base_url = pconf.base_url
        alias = getattr(factory, "base_url_option", None)  # Azure's "endpoint"
        if not base_url and alias and pconf.options.get(alias):
            base_url = str(pconf.options[alias])
        env_var = factory.base_url_env if type_ == name else None
        if not base_url and env_var:
            base_url = self._env.get(env_var) or None
        return base_url or factory.default_base_url or None

    def _api_key(
        self, name: str, pconf: ProviderConfig, factory: ProviderFactory, type_: str
    ) -> Secret | None:
        if pconf.api_key:
            return _sendable(pconf.api_key, name, f"config key providers.{name}.api_key")
        if name in self.vault_keys:  # after explicit config, before the environment
            return _sendable(self.vault_keys[name], name, f"`relaykit keys set {name}`")
        env_names = [pconf.api_key_env] if pconf.api_key_env else []
        if factory.api_key_env and (type_ == name or not pconf.api_key_env):
            env_names.append(factory.api_key_env)
        for var in env_names:
            # A key read from a file often ends in a newline, which no HTTP header takes.
            value = self._env.get(var, "").strip() if var else ""
            if value:
                return _sendable(Secret(value), name, f"environment variable {var}")
        if factory.requires_api_key:
            var = env_names[0] if env_names else f"{name.upper()}_API_KEY"
            raise ConfigError(
                f"no API key for provider {name!r}",
                hint=f"set {var}, [providers.{name}] api_key, or `relaykit keys set {name}`",
            )
        return None

    def _unknown(self, name: str, type_: str) -> ConfigError:
        # not the unknown name itself, which a [providers.NAME] table may hold
        known = sorted({*self.factories, *self._config.providers} - {type_})
        fix = (
            f"give [providers.{name}] the type of an installed provider"
            " (type = 'openai' for an OpenAI-compatible service), or remove the table"
            if name in self._config.providers
            else f"configure [providers.{name}]"
        )
        first_party = FIRST_PARTY["providers"]
        package = first_party.get(type_, f"relaykit-{type_}")
        verb = "enable" if distribution_key(package) in self._pm.not_loaded else "install"
        get = install_hint(package, self._pm.not_loaded)
        hint = did_you_mean(type_, known, f"{verb} its plugin ({get}), or {fix}")
        if type_ not in first_party:
            import difflib  # only on the way to an error

            near = difflib.get_close_matches(type_, sorted({*known, *first_party}), n=1)
            if near and near[0] not in known:
                # a misspelling of a type of relaykit's own whose plugin is not
                # loaded: its package, not "pip install relaykit-antropic"
                get = install_hint(first_party[near[0]], self._pm.not_loaded)
                hint = f"did you mean {near[0]!r}? ({get})"
        if type_ != type_.lower() and type_.lower() in known:
            # OpenAI/gpt-4o: too far from 'openai' for difflib
            hint = f"did you mean {type_.lower()!r}? (provider names are lower case)"
        what = f"provider {name!r}" if type_ == name else f"provider type {type_!r} (of {name!r})"
        return ConfigError(f"no plugin provides {what}", hint=hint)

    def _forget_parent(self) -> None:
        """In a forked child: build providers afresh, each with HTTP connections of its own.

        The parent's pooled connections are its own: a request from the child on
        one of them would interleave with the parent's on the same socket.
        """
        leave_to_parent(self._built, self._http)
        self._built, self._http = {}, {}

    def get(self, name: str) -> Provider:
        """The provider called ``name``, built on first use."""
        provider = self._built.get(name)
        if provider is None:
            factory, settings = self.settings(name)
            http = self._http.get(name)
            if http is None:
                # Kept before the provider is built: one whose constructor refuses
                # its settings leaves it to aclose (each call made another, dropped
                # unclosed), and the next try reuses it.
                http = self._http[name] = self._make_http()
            provider = factory(settings, http)
            self.known_secrets.add(settings.api_key)  # from the vault or the environment
            self.known_secrets.add_url(settings.base_url)  # the environment's, too
            self._built[name] = provider
            self.base_urls[name] = settings.base_url
        return provider

    def http_modules(self) -> tuple[str, ...]:
        """The modules building a provider's HTTP client imports (see :meth:`warm_up`)."""
        return self._http_modules()[1]

    def _http_modules(self) -> tuple[str | None, tuple[str, ...]]:
        """:meth:`http_modules`, and the plugin that named them (``None``: the default)."""
        cfg = self._config
        if cfg.http.transport != "httpx":
            plugin, named = first_result(self._pm, "relaykit_http_client_modules", config=cfg)
            if named is not None:
                return plugin, tuple(named)
        return None, _HTTPX_MODULES

    async def warm_up(self) -> None:
        """Import the HTTP stack in a worker thread, so building providers does not.

        A cold import of httpx or aiohttp takes about a third of a second, all
        of it on the event loop if the first call did it: every other task's
        timers (timeouts, hedge delays) would wait that long. For httpx the
        thread also makes the SSL context its clients share, once per process
        instead of once per provider (see ``httpx_client.shared_ssl_context``).
        """
        plugin, modules = self._http_modules()
        missing = [name for name in modules if name not in sys.modules]
        # [http] ca_file's context is made already: httpx's default one is not needed
        default_ssl = modules is _HTTPX_MODULES and self._ssl_context is None
        make_ssl = default_ssl and not _httpx_ssl_ready()
        if missing or make_ssl:
            # Abandoned when cancelled (a client closing): the import goes on in its
            # thread, and the next call's warm-up finds it done, or waits on its lock.
            await anyio.to_thread.run_sync(
                _prepare, missing, make_ssl, plugin, abandon_on_cancel=True
            )

    def _make_http(self) -> HttpClient:
        from .http import HttpOptions

        cfg = self._config
        options = HttpOptions(
            max_connections=cfg.http.max_connections,
            max_keepalive_connections=cfg.http.max_keepalive_connections,
            keepalive_expiry=cfg.http.keepalive_expiry,
            connect_timeout=cfg.timeouts.connect,
            header_hooks=tuple(self.header_hooks),
            ssl_context=self._ssl_context,
            env_proxies=cfg.http.env_proxies,
        )
        if cfg.http.transport != "httpx":
            client: HttpClient | None = self._pm.hook.relaykit_http_client(
                config=cfg, options=options
            )
            if client is not None:
                return client
        from .httpx_client import httpx_client

        return httpx_client(options)

    async def aclose(self) -> None:
        """Close every provider's HTTP client (each, even after one failed to close:
        the first error is raised once all have run)."""
        closers = [getattr(provider, "aclose", None) for provider in self._built.values()]
        closers += [http.aclose for http in self._http.values()]
        self._built.clear()
        self._http.clear()
        await close_all(close for close in closers if close is not None)


#: the default stack: httpx imports httpcore only as it builds its first transport
_HTTPX_MODULES = ("httpx", "httpcore", "relaykit.httpx_client", "relaykit.httpx_body")


def _httpx_ssl_ready() -> bool:
    module = sys.modules.get("relaykit.httpx_client")
    return module is not None and bool(module.has_shared_ssl_context())


def _prepare(names: Sequence[str], ssl: bool, plugin: str | None = None) -> None:
    """In a worker thread: import ``names`` (named by ``plugin``'s
    ``relaykit_http_client_modules``), and make httpx's shared SSL context."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            if plugin is None:
                raise  # relaykit's own stack: an installation problem, shown as it is
            raise ConfigError(
                f"plugin {plugin!r}: its relaykit_http_client_modules named {name!r}, "
                f"which does not import: {e}",
                hint="name the modules its relaykit_http_client imports, as import "
                "statements write them",
            ) from e
    if ssl:
        from .httpx_client import shared_ssl_context

        shared_ssl_context()


def _sendable(key: Secret, provider: str, source: str) -> Secret:
    """``key``, if an HTTP header can carry it; else a ConfigError naming ``source``
    (where the key came from) and what is wrong, never the key.

    Else every call failed as a malformed, retryable answer (the HTTP library refused
    to send a line break), or with a 401 for a key that looked right.
    """
    problem = header_problem(key.reveal())
    if problem is None:
        return key
    raise ConfigError(
        f"the API key of provider {provider!r} ({source}) holds {problem}",
        hint="paste the key again: it is one line of ASCII characters, without quotes",
    )


def _genai_name(type_: str, factory: ProviderFactory) -> str:
    """The ``gen_ai.provider.name`` of providers of ``type_``: what the factory says,
    else relaykit's well-known name of the type, else the type."""
    declared = getattr(factory, "genai_provider_name", None)
    return declared if isinstance(declared, str) and declared else genai_provider_name(type_)
