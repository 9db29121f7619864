"""Configuration: find it, parse it, validate it, and let the environment override it.

Looked up in order: ``Client(config=...)`` (a dict, a path or a :class:`Config`),
``$RELAYKIT_CONFIG``, ``./relaykit.toml``, then ``relaykit.toml`` in the user
config dir. ``RELAYKIT_<SECTION>_<KEY>`` environment variables override file
values (``RELAYKIT_RETRY_ATTEMPTS=5``). Unknown keys are a :class:`ConfigError`
naming the key and the nearest valid one, because a typo that is silently
ignored (``atempts = 10``) is a production incident waiting to happen.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import codecs
import difflib
import math
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs

from .errors import ConfigError, did_you_mean
from .response import ModelPrice
from .secrets import Secret, headers_repr, scrub, tables_repr

__all__ = [
    "BUDGET_PERIODS",
    "BUILT_IN_CACHE_BACKENDS",
    "BreakerConfig",
    "CacheConfig",
    "Config",
    "DefaultsConfig",
    "HttpConfig",
    "LimitConfig",
    "LimiterConfig",
    "ProviderConfig",
    "RedactionConfig",
    "RegistryConfig",
    "RetryConfig",
    "RouteConfig",
    "StorageConfig",
    "TelemetryConfig",
    "TimeoutConfig",
    "ValidationConfig",
    "load_config",
    "user_config_dir",
]


def _check_not_blank(path: str | None, key: str, default: str) -> None:
    """Refuse a blank file path: ``"  "`` named a file of spaces in the working
    directory, and ``""`` (a variable left unset) meant the default without a word."""
    if isinstance(path, str) and not path.strip():
        raise ConfigError(
            f"config key {key} is blank", hint=f"name a file, or leave it out for {default}"
        )


@attrs.frozen
class RetryConfig:
    """``[retry]``: how often and how patiently to retry (on stamina; see retry.py).

    Before retry ``n``: ``initial_wait * 2 ** (n - 1)`` plus up to ``initial_wait``
    of jitter, capped at ``max_wait``; a Retry-After (429, 5xx) instead when it is
    at most ``max_retry_after``. A longer one is not retried on that deployment
    (a retry after ``max_retry_after`` would come while the server still refuses):
    the route's next deployment is asked, else the error is raised with the
    server's ``retry_after`` for the caller to schedule. ``max_retry_after = 0``
    retries at once whatever the Retry-After (tests).
    """

    attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 10.0
    max_retry_after: float = 60.0
    #: which failures are retried: rate_limit (429), unavailable (5xx, 529, 409),
    #: connection (could not connect, connection dropped), timeout
    on: tuple[str, ...] = ("rate_limit", "unavailable", "connection", "timeout")


@attrs.frozen
class BreakerConfig:
    """``[breaker]``: when a deployment's circuit opens and when to try it again."""

    failures: int = 5
    reset_after: float = 30.0
    #: seconds a deployment that just failed moves to the back of its routes
    cool_down: float = 5.0


@attrs.frozen
class TimeoutConfig:
    """``[timeouts]`` in seconds: connect, first token, idle gap between events, total,
    and each attempt of a call that is not streamed.

    ``attempt`` is off (``inf``) by default: a reasoning model's non-streamed answer
    may rightly take many minutes, as long as the vendor SDKs' own 600 s request
    timeout allows, which ``total`` matches; set it to what a healthy deployment
    never takes, so a hanging one is cut off, and retried or fallen back from.
    """

    connect: float = 10.0
    first_token: float = 60.0
    idle: float = 60.0
    total: float = 600.0
    attempt: float = math.inf


@attrs.frozen
class StorageConfig:
    """``[storage]``: where call logs go. ``backend = "none"`` turns logging off.

    ``path`` is the SQLite file (default: ``logs.db`` in the user config dir;
    relative in a config file: to the file's directory, as ``spill_path``);
    ``dsn`` the PostgreSQL connection string (default: ``$RELAYKIT_POSTGRES_DSN``).
    ``retention_days`` deletes older records when a client starts and then at
    most daily (``None`` keeps everything). ``queue_size`` records may wait in
    memory for the writer, which takes up to ``batch_size`` at a time (larger
    transactions cost SQLite less per record: see docs/benchmarks-storage.md).

    When storage fails (or a write hangs that long), the writer retries a batch
    for up to ``retry_for`` seconds (once the queue is full, calls wait for it
    meanwhile, until the client begins to close), then writes
    batches to ``spill_path`` (default: ``spilled-records-<hash>.jsonl`` in the
    user config dir, one per storage: the hash of the storage's own
    ``spill_target`` if it has one, else of the backend, the SQLite path or the
    DSN without its password) until storage works again; then the writer
    replays the file into storage by itself (POSIX; ``relaykit logs import``
    loads it anywhere). An explicit ``spill_path`` is replayed into whichever
    storage the client that finds it has.
    Closing the client gives a failing storage ``close_timeout`` seconds before
    the records left are spilled. ``busy_timeout`` is how long the SQLite backend
    waits for another process's lock on its file before a write counts as failed.
    """

    backend: str = "sqlite"
    path: str | None = None
    # repr=False: a DSN may carry a password, and configs end up in logs.
    dsn: str | None = attrs.field(default=None, repr=False)
    retention_days: float | None = None
    queue_size: int = 10_000
    batch_size: int = 2000
    retry_for: float = 60.0
    close_timeout: float = 15.0
    spill_path: str | None = None
    busy_timeout: float = 30.0

    def __attrs_post_init__(self) -> None:
        _check_not_blank(self.path, "storage.path", "logs.db in the user config dir")
        _check_not_blank(
            self.spill_path, "storage.spill_path", "a file per storage in the user config dir"
        )
        days = self.retention_days
        if days is not None and math.isinf(days):  # NaN and the rest: _check_range
            raise ConfigError(
                f"config key storage.retention_days must be a finite number of days, not {days!r}",
                hint="leave it out to keep every record",
            )
        for key in ("retry_for", "close_timeout"):
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"config key storage.{key} must be a number of seconds >= 0, not {value!r}",
                    hint="0 spills records at once when storage fails, rather than retrying",
                )
        if not math.isfinite(self.busy_timeout) or self.busy_timeout < 0:
            raise ConfigError(
                "config key storage.busy_timeout must be a finite number of seconds >= 0, "
                f"not {self.busy_timeout!r}",
                hint="busy_timeout = 30 (the default) waits 30 s for another process's lock; "
                "0 does not wait",
            )


#: the ``[cache] backend`` names the core serves itself (from the storage backend or
#: memory, within one process); any other name is a plugin's store, which other
#: processes may share
BUILT_IN_CACHE_BACKENDS: tuple[str, ...] = ("storage", "memory")


@attrs.frozen
class CacheConfig:
    """``[cache]``: the exact response cache, and where it keeps answers.

    ``enabled`` and ``deterministic_only`` decide for calls that do not say: with
    both on, only requests that should give the same answer again (``temperature
    == 0`` or a ``seed``) are cached. A call's own ``cache=True`` caches it
    whatever its sampling (the caller asks for the answer to be replayed), and
    ``cache=False`` keeps it out of the cache.
    ``backend`` picks the store behind the in-memory LRU: ``"storage"`` (the
    storage backend's cache when it keeps one, as relaykit-sqlite and
    relaykit-postgres do, else memory alone), ``"memory"``, or a plugin's store
    (``"redis"``: relaykit-redis). ``url`` and ``prefix`` are for shared
    stores: where the store is (unset: ``[limiter] url``, then the plugin's
    default) and the key prefix separating applications that share it (a
    plugin's store, unset: ``[limiter] prefix``; the storage backend's cache in a
    SQLite file or PostgreSQL database, unset: none, its keys the client's own).
    ``timeout`` is the seconds one lookup or write of any store may take before
    it counts as a miss (the store's first, which may open it, up to
    :data:`relaykit.cache_store.OPEN_TIMEOUT`).
    ``retry_after`` is the seconds the client leaves a store alone after it
    failed (each lookup meanwhile a miss at once); ``max_entry_bytes`` the
    largest entry a store with a cap keeps (unset: its own; relaykit-redis
    keeps up to 512 KiB). ``memory_mb`` bounds the in-memory LRU by size as
    ``max_entries`` does by count: megabytes of 2^20 characters of text,
    reasoning and tool-call arguments (a Python string takes about a byte a
    character of English); an answer larger than the whole bound is not kept
    in memory.
    """

    enabled: bool = False
    ttl: float = 3600.0
    #: without a call's own ``cache=``, cache only requests that should give the same
    #: answer (temperature 0 or a seed)
    deterministic_only: bool = True
    max_entries: int = 1024
    memory_mb: float = 64.0
    backend: str = "storage"
    url: str | None = attrs.field(
        default=None, repr=lambda v: scrub(repr(v))
    )  # may hold a password
    prefix: str | None = None
    timeout: float = 0.5
    retry_after: float = 1.0
    max_entry_bytes: int | None = None

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.retry_after) or self.retry_after < 0:
            raise ConfigError(
                f"config key cache.retry_after must be a number of seconds >= 0,"
                f" not {self.retry_after!r}",
                hint="retry_after = 1 is the default; 0 tries a failed store again at once",
            )
        if self.max_entry_bytes is not None and self.max_entry_bytes < 1:
            raise ConfigError(
                f"config key cache.max_entry_bytes must be a positive number of bytes,"
                f" not {self.max_entry_bytes!r}",
                hint="e.g. max_entry_bytes = 1048576 (1 MiB), or leave it out for the store's own",
            )

    @property
    def memory_chars(self) -> int | None:
        """``memory_mb`` in characters; ``None`` for ``inf`` (no bound but ``max_entries``)."""
        chars = self.memory_mb * 2**20
        # 1e308 MB is finite, but not as characters: no bound either
        return None if math.isinf(chars) else int(chars)


@attrs.frozen
class ValidationConfig:
    """``[validation]``: checks made before anything is sent."""

    #: the most characters of message text one request may carry
    max_chars: int = 1_000_000


@attrs.frozen
class HttpConfig:
    """``[http]``: connection pool limits of each provider's HTTP client, which client,
    and which certificate authorities it trusts.

    ``transport = "httpx"`` keeps the default ``httpx.AsyncClient`` even when a
    plugin offers a faster client through ``relaykit_http_client`` (``"auto"``,
    the default, asks the plugins). ``ca_file`` is a PEM file of CA
    certificates to trust instead of the default ones (a private gateway's, a
    TLS-inspecting proxy's); it is read when the client is built (see tls.py).
    ``env_proxies = false`` ignores ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``
    and ``NO_PROXY`` (see env_proxies.py), which both clients otherwise honour.
    """

    max_connections: int = 100
    max_keepalive_connections: int = 20
    keepalive_expiry: float = 30.0
    transport: Literal["auto", "httpx"] = "auto"
    ca_file: str | None = None
    env_proxies: bool = True

    def __attrs_post_init__(self) -> None:
        _check_not_blank(self.ca_file, "http.ca_file", "the default CAs")


@attrs.frozen
class LimiterConfig:
    """``[limiter]``: which rate-limiter plugin enforces ``[limits]``.

    ``url``, ``prefix`` and ``timeout`` are for shared backends (relaykit-redis):
    where the state lives, the key prefix separating applications that share it,
    and the seconds a decision may wait to connect and again for its answer.
    A decision is not cut short by its call's cancellation (a grant must not be
    lost on its way back), so this bounds how long a stalled server holds a call;
    past it the call fails (limits fail closed).
    """

    backend: str = "memory"
    url: str | None = attrs.field(
        default=None, repr=lambda v: scrub(repr(v))
    )  # may hold a password
    prefix: str = "relaykit"
    timeout: float = 5.0

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ConfigError(
                f"config key limiter.timeout must be a number of seconds > 0, not {self.timeout!r}",
                hint="a shared limiter usually answers in a millisecond: 1 to 5 seconds is plenty",
            )


@attrs.frozen
class RegistryConfig:
    """``[registry]``: how long a provider's model listing is cached, in seconds."""

    ttl: float = 60.0


@attrs.frozen
class DefaultsConfig:
    """``[defaults]``: what to use when a caller does not say: the CLI's chat
    ``model``, its ``embedding_model`` (``relaykit embed``), its
    ``rerank_model`` (``relaykit rerank``), its ``transcription_model``
    (``relaykit transcribe``), its ``image_model`` (``relaykit image``), its
    ``speech_model`` (``relaykit speak``) and its ``moderation_model``
    (``relaykit moderate``)."""

    model: str | None = None
    embedding_model: str | None = None
    rerank_model: str | None = None
    transcription_model: str | None = None
    image_model: str | None = None
    speech_model: str | None = None
    moderation_model: str | None = None


@attrs.frozen
class ProviderConfig:
    """``[providers.NAME]``: one configured provider.

    ``type`` picks the plugin (defaults to NAME); ``options`` holds the
    plugin-specific keys, which the plugin validates when it is built.
    """

    type: str | None = None
    base_url: str | None = attrs.field(default=None, repr=lambda v: scrub(repr(v)))
    api_key: Secret | None = None
    api_key_env: str | None = None
    # headers often carry credentials (a gateway's Authorization): masked in reprs by name
    headers: dict[str, str] = attrs.field(factory=dict, repr=headers_repr)
    options: dict[str, Any] = attrs.field(factory=dict, repr=lambda v: scrub(repr(v)))


@attrs.frozen
class RouteConfig:
    """``[models.ALIAS]``: an alias for one model, or a group of targets with a strategy."""

    targets: tuple[str, ...]
    strategy: Literal["fallback", "weighted", "least-busy", "latency"] = "fallback"
    weights: tuple[float, ...] | None = None
    #: hedging (non-streamed calls): after this many seconds without an answer, or
    #: after the first target's observed p95 latency ("p95"), also ask the next target
    hedge_after: float | Literal["p95"] | None = None
    #: model ids tried in order, after the route's own, only when a call fails because
    #: its prompt is too long (a ContextLengthError): LiteLLM's context_window_fallbacks
    context_window_fallbacks: tuple[str, ...] = ()
    #: model ids tried in order, after the route's own, only when a provider's content
    #: filter refused the call (a ContentFilterError, or a non-streamed answer that
    #: ends ``content_filter``): LiteLLM's content_policy_fallbacks
    content_policy_fallbacks: tuple[str, ...] = ()


def _usd(raw: Any, what: str = "a USD amount") -> Decimal | None:
    """A USD amount from TOML (int, float or string) as an exact Decimal."""
    if raw is None or isinstance(raw, Decimal):
        return raw
    if isinstance(raw, bool):
        raise ConfigError(f"{what} must be a number, not {raw!r}")
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        raise ConfigError(f"{what} must be a number, not {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{what} must be a finite number >= 0, not {raw!r}")
    return value


BUDGET_PERIODS = ("day", "month")


def is_scoped(pattern: str) -> bool:
    """Whether a ``[limits]`` pattern is ``NAME=GLOB``, on a call's metadata, rather than
    a glob on model ids (``openai/*``)."""
    return "=" in pattern


@attrs.frozen
class LimitConfig:
    """``[limits."PATTERN"]``: requests and tokens per minute, and optionally a spending
    budget in USD per calendar ``period`` (UTC).

    ``PATTERN`` is a glob on model ids (``openai/*``: the matching models share one
    limit), or ``NAME=GLOB`` on a call's ``metadata[NAME]`` (``user=*``,
    ``gateway_key=alice``): every value that matches has a limit of its own.
    """

    rpm: int | None = None
    tpm: int | None = None
    budget_usd: Decimal | None = attrs.field(default=None, converter=_usd)
    period: str = "day"

    def __attrs_post_init__(self) -> None:
        if self.period not in BUDGET_PERIODS:
            raise ConfigError(
                f"limits period {self.period!r} is not a budget period",
                hint="use period = 'day' or period = 'month'",
            )


def _names(value: Iterable[str] | str) -> tuple[str, ...]:
    """A TOML list of names as the tuple a frozen config keeps; a string is names
    separated by commas (as an environment variable gives them), not its letters."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"config key telemetry.log_metadata must list metadata names, not {value!r}"[:160],
            hint='log_metadata = ["user", "gateway_key"]',
        )
    return tuple(value)


@attrs.frozen
class TelemetryConfig:
    """``[telemetry]``: tracing through OpenTelemetry, and whether spans carry content.

    ``tracing`` traces calls when an OpenTelemetry tracer provider is configured
    (by an exporter plugin such as relaykit-otlp, or by the application);
    ``capture_content`` adds the messages and the answer to spans, redacted.
    ``log_metadata`` names the call metadata each call's log line carries (as
    ``metadata``, its values through the secret redactor): ``["user",
    "gateway_key"]``; none by default, as metadata may say who a caller is.
    """

    tracing: bool = True
    capture_content: bool = False
    log_metadata: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def __attrs_post_init__(self) -> None:
        for name in self.log_metadata:
            if not isinstance(name, str) or not name:
                raise ConfigError(
                    f"config key telemetry.log_metadata must list metadata names, not {name!r}",
                    hint='log_metadata = ["user", "gateway_key"]',
                )


@attrs.frozen
class RedactionConfig:
    """``[redaction]``: how much the client remembers of what its redactors did.

    ``memo_mb``: the megabytes (of 2^20 characters each, about a megabyte of
    ASCII text) of texts and their redacted results a client keeps, so that a text
    it sees again (a system prompt, a chat's history resent every turn) is not
    redacted again. The default, 8, holds ~200 chats of ten exchanges of
    ~1 KB messages; a server holding more chats at once wants ~4 MB per 100
    of them, or their histories are redacted anew every turn. 0 turns
    remembering off.
    """

    memo_mb: float = 8.0

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.memo_mb) or self.memo_mb < 0:
            raise ConfigError(
                f"config key redaction.memo_mb must be a number of megabytes >= 0,"
                f" not {self.memo_mb!r}",
                hint="memo_mb = 8 is the default; 0 turns remembering off",
            )

    @property
    def memo_chars(self) -> int:
        """``memo_mb`` in characters (a bound too large to count: the largest there is)."""
        chars = self.memo_mb * 2**20
        return sys.maxsize if math.isinf(chars) else int(chars)


def _server_names(mcp: dict[str, Any]) -> str:
    servers = mcp.get("servers")
    names = sorted(map(str, servers)) if isinstance(servers, Mapping) else []
    return f"<[mcp] servers: {', '.join(names) or 'none'}>"


@attrs.frozen
class Config:
    """The whole, validated configuration. Build one with :func:`load_config`."""

    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    timeouts: TimeoutConfig = TimeoutConfig()
    storage: StorageConfig = StorageConfig()
    cache: CacheConfig = CacheConfig()
    http: HttpConfig = HttpConfig()
    registry: RegistryConfig = RegistryConfig()
    validation: ValidationConfig = ValidationConfig()
    limiter: LimiterConfig = LimiterConfig()
    defaults: DefaultsConfig = DefaultsConfig()
    providers: dict[str, ProviderConfig] = attrs.field(factory=dict)
    models: dict[str, RouteConfig] = attrs.field(factory=dict)
    limits: dict[str, LimitConfig] = attrs.field(factory=dict)
    # plugin tables may hold credentials (an OTLP collector's auth header): masked in reprs
    exporters: dict[str, dict[str, Any]] = attrs.field(factory=dict, repr=tables_repr)
    redactors: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    telemetry: TelemetryConfig = TelemetryConfig()
    redaction: RedactionConfig = RedactionConfig()
    prices: dict[str, ModelPrice] = attrs.field(factory=dict)
    #: ``[mcp]``: the MCP servers ``relaykit prompt/chat --mcp NAME`` names, as written;
    #: relaykit-mcp validates it as a client is built (``relaykit_config_tables``; a
    #: client refuses the table when no plugin names it) and when ``--mcp`` is used
    #: (its headers and env may hold tokens: the repr names the servers only)
    mcp: dict[str, Any] = attrs.field(factory=dict, repr=_server_names)
    #: ``[templates.NAME]``: prompt templates for ``relaykit prompt/chat -t NAME``, as
    #: written; the CLI checks a template's keys when it is used or listed
    #: (:mod:`relaykit.cli.template_files`), naming this file and table
    templates: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    source: str | None = attrs.field(default=None, eq=False)
    #: the directory of the config file (absolute), whose relative paths are taken
    #: from it: the core's own as it is read, plugins' with
    #: :func:`relaykit.plugin_options.config_path`; ``None`` for a dict (the
    #: working directory)
    base_dir: Path | None = attrs.field(default=None, eq=False)
    storage_explicit: bool = attrs.field(default=False, eq=False)


_SECTIONS: dict[str, type[Any]] = {
    "retry": RetryConfig,
    "breaker": BreakerConfig,
    "timeouts": TimeoutConfig,
    "storage": StorageConfig,
    "cache": CacheConfig,
    "http": HttpConfig,
    "registry": RegistryConfig,
    "validation": ValidationConfig,
    "limiter": LimiterConfig,
    "defaults": DefaultsConfig,
    "telemetry": TelemetryConfig,
    "redaction": RedactionConfig,
}
_TABLES = ("providers", "models", "limits", "exporters", "redactors", "prices", "templates")
#: tables kept as written for the plugin that reads them (it names their bad keys)
_PLUGIN_TABLES = ("mcp",)
_PROVIDER_KEYS = ("type", "base_url", "api_key", "api_key_env", "headers")


def load_config(
    config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Find, parse and validate the configuration; see the module docstring for the order."""
    env = os.environ if env is None else env
    if isinstance(config, Config):
        return config
    source: str | None = None
    base_dir: Path | None = None
    if config is None:
        path = _find_config_file(env)
        data: Mapping[str, Any] = _anchored(_read_toml(path), path.parent) if path else {}
        source = str(path) if path else None
        base_dir = Path(os.path.abspath(path.parent)) if path else None
    elif isinstance(config, Mapping):
        data, source = config, "<dict>"
    else:
        try:
            path = Path(config)
        except TypeError:  # bytes, a number, a list: pathlib's TypeError
            raise ConfigError(
                "config must be a dict, a path to a TOML file or a relaykit Config,"
                f" not {type(config).__name__}",
                hint="Client({'retry': {'attempts': 5}}) or Client('relaykit.toml')",
            ) from None
        data, source = _anchored(_read_toml(path), path.parent), str(config)
        base_dir = Path(os.path.abspath(path.parent))
    data, origins = _apply_env_overrides(data, env)
    try:
        return _build(data, source, base_dir)
    except ConfigError as e:
        # Name the variable when the bad value came from the environment.
        culprits = [var for where, var in origins.items() if f"config key {where} " in e.message]
        if not culprits:
            raise
        raise ConfigError(f"environment variable {culprits[0]}: {e.message}", hint=e.hint) from None


#: the (section, key) pairs of a config file that name a file
_FILE_KEYS = (("storage", "path"), ("storage", "spill_path"), ("http", "ca_file"))


def _anchored(data: Mapping[str, Any], base: Path) -> Mapping[str, Any]:
    """``data`` (a config file's) with its relative file paths taken from ``base``,
    the file's directory.

    Taken from the working directory, ``-c ~/proj/relaykit.toml`` (or the user
    config dir's file) with ``path = "calls.db"`` opened, and created, a new empty
    log wherever the command ran: the keys and calls stored beside the config
    looked lost. A ``~`` path stays as written (expanded where it is used);
    ``RELAYKIT_*`` variables and dicts are relative to the working directory.
    """
    anchored = dict(data)
    for section, key in _FILE_KEYS:
        table = data.get(section)
        value = table.get(key) if isinstance(table, Mapping) else None
        if not isinstance(value, str) or not value.strip() or value.startswith("~"):
            continue  # a wrong type or a blank value: validation refuses it
        if not os.path.isabs(value):
            anchored[section] = {**anchored[section], key: str(base / value)}
    return anchored


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user directory for relaykit's config and data."""
    env = os.environ if env is None else env
    if sys.platform == "win32":
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "relaykit"


def _find_config_file(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("RELAYKIT_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            what = "a directory" if path.is_dir() else "a path that does not exist"
            raise ConfigError(
                f"RELAYKIT_CONFIG points to {explicit}, {what}",
                hint="name the config file itself, or unset RELAYKIT_CONFIG",
            )
        return path
    for candidate in (Path("relaykit.toml"), user_config_dir(env) / "relaykit.toml"):
        if candidate.is_file():
            return candidate
    return None


#: the most a config or template file may hold: far above any real one
MAX_TOML_BYTES = 8 << 20


def _read_toml(path: Path, kind: str = "config file") -> dict[str, Any]:
    """A TOML file's tables; ``kind`` names the file in errors ("template file")."""
    if "\x00" in str(path):  # Python refuses it with ValueError: quoted, to show it
        raise ConfigError(
            f"{kind} {str(path)!r} cannot be read (the path holds a NUL character)",
            hint="check the path",
        )
    try:
        with path.open("rb") as f:
            # capped: -c /dev/zero (or a log named by mistake) would fill the memory
            data = f.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            raise ConfigError(
                f"{kind} {path} is larger than {MAX_TOML_BYTES >> 20} MB",
                hint=f"check the path: a {kind} is a few KB of TOML",
            )
        # Notepad saves UTF-8 with a byte order mark, which tomllib calls an invalid
        # statement on line 1: a cause nobody can see. The text is plain either way.
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        try:
            text = data[bom:].decode("utf-8")
        except UnicodeDecodeError as e:  # counted from the file's first byte, BOM included
            e.start += bom
            raise
        return tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(
            f"{kind} {path} does not exist", hint="check the path, or create the file"
        ) from None
    except IsADirectoryError:  # -c ~/.config/relaykit: the folder, not the file in it
        inside = f": {path / 'relaykit.toml'}" if kind == "config file" else ""
        raise ConfigError(
            f"{kind} {path} is a directory", hint=f"name the file in it{inside}"
        ) from None
    except OSError as e:  # unreadable, or a path through a file
        raise ConfigError(
            f"{kind} {path} cannot be read ({e.strerror or e})",
            hint="check the path and the file's permissions",
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(path, e, kind) from None
    except UnicodeDecodeError as e:  # tomllib reads UTF-8 only; an old editor saves Latin-1
        raise ConfigError(
            f"{kind} {path} is not UTF-8 text (byte {e.start + 1})",
            hint="save it as UTF-8 (iconv -f LATIN1 -t UTF-8)",
        ) from None


# What usually causes each of tomllib's messages, as the fix to try.
_TOML_HINTS = (
    ("Invalid value", 'a string needs quotes: key = "value"; true/false and numbers do not'),
    ("Expected '=' after a key", "each line is key = value; a key with spaces needs quotes"),
    ("Cannot declare", "the same [table] appears twice: merge the two"),
    ("Cannot overwrite", "a key is set twice (or a [table] repeats a key): keep one"),
    ("Expected ']'", "close the [table] header with ]"),
    ("Unclosed", "an array or inline table is missing its closing ] or }"),
    ("Illegal character", "a string is missing its closing quote"),
    ("Expected newline", "one key = value per line; quote values that hold spaces"),
)


def _toml_error(
    path: Path, error: tomllib.TOMLDecodeError, kind: str = "config file"
) -> ConfigError:
    """The file, the line (its key quoted, never its value), what is wrong and what to check."""
    text = str(error)
    reason, _, where = text.partition(" (at ")
    match = re.search(r"line (\d+)", where)
    location = f"{path}, line {match.group(1)}" if match else str(path)
    column = re.search(r"column (\d+)", where)
    if match and column:  # a number only: the value there is never shown
        location += f", column {column.group(1)}"
    quoted = ""
    if match:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            line = lines[int(match.group(1)) - 1].strip().lstrip("\ufeff")
        except (OSError, IndexError):
            line = ""
        if line:
            # The key finds the line; the value is not shown: it may be a key of any shape.
            key, equals, _ = line.partition("=")
            quoted = f": {scrub(key.strip())} = …" if equals else f": {scrub(line)}"
    hint = next((h for prefix, h in _TOML_HINTS if reason.startswith(prefix)), None)
    return ConfigError(
        f"{kind} {location} is not valid TOML ({reason}){quoted}",
        hint=hint or "check the quotes, brackets and = on that line (syntax: https://toml.io)",
    )


def _apply_env_overrides(
    data: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` with the ``RELAYKIT_<SECTION>_<KEY>`` overrides, and which variable set what."""
    merged = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    origins: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith("RELAYKIT_") or name in ("RELAYKIT_CONFIG",):
            continue
        rest = name[len("RELAYKIT_") :].lower()
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1 :]
                fields = attrs.fields_dict(_SECTIONS[section])
                if key not in fields:
                    # RELAYKIT_RETRY_ATEMPTS=5 would otherwise be ignored without a word
                    near = difflib.get_close_matches(key, list(fields), n=1)
                    raise ConfigError(
                        f"environment variable {name} overrides no config key",
                        hint=f"did you mean RELAYKIT_{section.upper()}_{near[0].upper()}?"
                        if near
                        else f"[{section}] has {', '.join(fields)}",
                    )
                table = merged.setdefault(section, {})
                if not isinstance(table, dict):
                    continue  # refused as it is by _build: "must be a table"
                table[key] = value
                origins[f"{section}.{key}"] = name
    return merged, origins


def _unknown(key: str, valid: Any, where: str) -> ConfigError:
    hint = did_you_mean(key, valid, f"valid keys: {', '.join(sorted(valid))}")
    return ConfigError(f"unknown config key {where}{key}", hint=hint)


def _build(data: Mapping[str, Any], source: str | None, base_dir: Path | None = None) -> Config:
    valid_top = (*_SECTIONS, *_TABLES, *_PLUGIN_TABLES)
    kwargs: dict[str, Any] = {"source": source, "base_dir": base_dir}
    for key, value in data.items():
        _check_key(key, "")
        if key not in valid_top:
            raise _unknown(key, valid_top, "")
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} must be a table, e.g. [{key}]")
        if key in _SECTIONS:
            kwargs[key] = _section(_SECTIONS[key], value, key)
        elif key == "providers":
            kwargs[key] = {n: _provider(n, v) for n, v in _tables(value, key)}
        elif key == "models":
            kwargs[key] = {n: _route(n, v) for n, v in _tables(value, key)}
        elif key == "limits":
            kwargs[key] = {
                n: _section(LimitConfig, v, f"limits.{n}") for n, v in _tables(value, key)
            }
        elif key == "prices":
            kwargs[key] = {n: _price(n, v) for n, v in _tables(value, key)}
        elif key in _PLUGIN_TABLES:
            kwargs[key] = dict(value)
        else:
            kwargs[key] = {n: dict(v) for n, v in _tables(value, key)}
    kwargs["storage_explicit"] = "backend" in (data.get("storage") or {})
    return Config(**kwargs)


def _check_key(key: object, where: str) -> None:
    """Refuse a key that is no string: only a dict config can have one (a number),
    and it raised TypeError on its way to an error."""
    if not isinstance(key, str):
        at = f"in [{where}] " if where else ""
        raise ConfigError(f"a config key {at}must be a string, not {type(key).__name__} {key!r}")


def _tables(value: Mapping[str, Any], where: str) -> list[tuple[str, Mapping[str, Any]]]:
    for name, table in value.items():
        _check_key(name, where)
        if not isinstance(table, Mapping):
            raise ConfigError(f"config key {where}.{name} must be a table, e.g. [{where}.{name}]")
    return list(value.items())


def _section(cls: type[Any], value: Mapping[str, Any], where: str) -> Any:
    fields = attrs.fields_dict(cls)
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in fields:
            raise _unknown(key, fields, f"{where}.")
        if where == "retry" and key == "on":
            out[key] = _retry_on(raw)
            continue
        if cls is LimitConfig and key == "budget_usd":
            out[key] = _usd(raw, f"config key {where}.{key}")
            continue
        if cls is LimitConfig and key == "period" and raw not in BUDGET_PERIODS:
            raise ConfigError(
                f"config key {where}.period must be 'day' or 'month', not {raw!r}",
                hint="budgets run per UTC calendar day or month",
            )
        out[key] = _coerce(raw, fields[key].type, f"{where}.{key}")
        # every [limits."PATTERN"] table has the same ranges, under limits.KEY
        _check_range(out[key], f"{where}.{key}", f"limits.{key}" if cls is LimitConfig else None)
    return cls(**out)


# The least each number may be, and whether it may equal that: a value outside
# was taken as it was (attempts = 0 still called once; a negative timeout failed
# every call; a negative max_chars refused every prompt). (minimum, inclusive, hint)
_RANGES: dict[str, tuple[float, bool, str]] = {
    "retry.attempts": (1, True, "attempts = 1 calls once, without retrying"),
    "retry.initial_wait": (0, True, "seconds; 0 retries at once"),
    "retry.max_wait": (0, True, "seconds; 0 retries at once"),
    "retry.max_retry_after": (0, True, "seconds; 0 retries at once, whatever the Retry-After"),
    "breaker.failures": (1, True, "failures in a row that open a deployment's circuit"),
    "breaker.reset_after": (0, True, "seconds before an open circuit is tried again"),
    "breaker.cool_down": (0, True, "seconds; 0 turns the cool-down off"),
    "timeouts.connect": (0, False, "seconds; inf waits for ever"),
    "timeouts.first_token": (0, False, "seconds; inf waits for ever"),
    "timeouts.idle": (0, False, "seconds; inf waits for ever"),
    "timeouts.total": (0, False, "seconds; inf waits for ever"),
    "timeouts.attempt": (0, False, "seconds; inf (the default) leaves attempts to total"),
    "storage.queue_size": (1, True, "records that may wait for the writer"),
    "storage.batch_size": (1, True, "records written per transaction"),
    "storage.retention_days": (0, False, "leave it out to keep every record"),
    "cache.ttl": (0, True, "seconds an answer stays cached"),
    "cache.max_entries": (0, True, "answers kept in memory"),
    "cache.memory_mb": (0, False, "megabytes of answers kept in memory"),
    "validation.max_chars": (1, True, "characters of message text one request may carry"),
    "http.max_connections": (1, True, "connections per provider"),
    "http.max_keepalive_connections": (0, True, "idle connections kept per provider"),
    "http.keepalive_expiry": (0, True, "seconds an idle connection is kept"),
    "registry.ttl": (0, True, "seconds a model listing is cached; 0 asks every time"),
    # 0 is refused too: the limiters read it as no limit, not as none allowed
    "limits.rpm": (1, True, "leave rpm out for no limit; budget_usd = 0 stops priced calls"),
    "limits.tpm": (1, True, "leave tpm out for no limit; budget_usd = 0 stops priced calls"),
}


def _check_range(value: Any, where: str, range_key: str | None = None) -> None:
    found = _RANGES.get(range_key or where)
    if found is None or value is None:
        return
    minimum, inclusive, hint = found
    # written so that NaN (valid TOML: nan) fails too
    if not (value >= minimum if inclusive else value > minimum):
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        raise ConfigError(f"config key {where} must be {bound}, not {value!r}", hint=hint)


RETRY_ON = ("rate_limit", "unavailable", "connection", "timeout")


def _retry_on(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list | tuple):
        raise ConfigError("config key retry.on must be a list, e.g. ['rate_limit', 'timeout']")
    for name in raw:
        if name not in RETRY_ON:
            raise ConfigError(
                f"config key retry.on has {name!r}",
                hint=did_you_mean(str(name), RETRY_ON, f"use some of {', '.join(RETRY_ON)}"),
            )
    return tuple(raw)


_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}
#: TOML's largest integer (64-bit signed); tomllib reads larger ones, which no
#: float holds (float() raises OverflowError) and no limit needs
_LARGEST_INT = 2**63 - 1


def _too_large(where: str, value: int) -> ConfigError:
    """The error for an integer beyond :data:`_LARGEST_INT`, without its digits."""
    digits = len(str(abs(value))) if abs(value) < 10**4000 else "thousands of"
    return ConfigError(
        f"config key {where} is too large: an integer of {digits} digits",
        hint="write inf for no limit where the key takes it, or a number below 2**63",
    )


def _coerce(raw: Any, annotation: Any, where: str) -> Any:
    kind = str(annotation)
    if kind.startswith("Literal["):
        choices = tuple(re.findall(r"'([^']*)'", kind))  # Literal['auto', 'httpx']
        if raw not in choices:
            listed = ", ".join(repr(c) for c in choices)
            raise ConfigError(
                f"config key {where} must be one of {listed}, not {raw!r}",
                hint=did_you_mean(str(raw), choices),
            )
        return raw
    try:
        if kind.startswith("int"):
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(raw) if not (kind.endswith("None") and raw in ("", None)) else None
            if value is not None and abs(value) > _LARGEST_INT:
                raise _too_large(where, value)
            return value
        if kind.startswith("float"):
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int) and abs(raw) > _LARGEST_INT:
                raise _too_large(where, raw)  # float() of it overflows, or loses digits
            return float(raw)
        if kind == "bool":
            if isinstance(raw, str):
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if not isinstance(raw, bool):
                raise ValueError
            return raw
        if kind.startswith("str"):
            if not isinstance(raw, str):
                raise ValueError
            return raw
    except (TypeError, ValueError):
        expected = _EXPECTED.get(kind.split(" ")[0], kind)
        given = f"{type(raw).__name__} {raw!r}"
        raise ConfigError(f"config key {where} must be {expected}, not {given}") from None
    return raw


def header_problem(text: str) -> str | None:
    """What in ``text`` (an API key, a header's value) no HTTP header can carry, in an
    error's words, or ``None``. Never the text itself: it may be a credential.

    A line break or another control character makes the HTTP library refuse to send
    the request (a key read with ``$(cat file)`` from a file of two lines); a
    character outside ASCII is sent, and refused by the vendor as a wrong key (a key
    pasted in typographic quotes).
    """
    if text.isascii() and text.isprintable():  # the usual case, in C
        return None
    if "\n" in text or "\r" in text:
        return "a line break"
    if not text.isascii():
        return "a character that is not ASCII"
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in text):
        return "a control character"
    return None  # a tab, which a header may hold


#: ``${NAME}``: read from the environment in [mcp.servers] tables (relaykit-mcp), so
#: written in [providers] tables too, where nothing reads it: refused there
_VARIABLE_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _provider(name: str, value: Mapping[str, Any]) -> ProviderConfig:
    general: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, raw in value.items():
        if key == "api_key":
            if not isinstance(raw, str):
                raise ConfigError(f"config key providers.{name}.api_key must be a string")
            reference = _VARIABLE_REFERENCE.search(raw)
            if reference is not None:
                raise ConfigError(
                    f"config key providers.{name}.api_key holds {reference.group(0)}: relaykit"
                    " does not read variables in [providers] tables, so it would be sent as"
                    " the key",
                    hint=f"api_key_env = '{reference.group(1)}' reads the key from that variable",
                )
            general[key] = Secret(raw.strip())  # a key pasted with a space or a newline
        elif key == "headers":
            if not isinstance(raw, Mapping):
                raise ConfigError(f"config key providers.{name}.headers must be a table")
            general[key] = {str(k): str(v) for k, v in raw.items()}
            for header, text in general[key].items():
                reference = _VARIABLE_REFERENCE.search(text)
                if reference is not None:
                    raise ConfigError(
                        f"config key providers.{name}.headers.{scrub(header)} holds"
                        f" {reference.group(0)}: relaykit does not read variables in"
                        " [providers] tables, so it would be sent as written",
                        hint="write the header's value itself, or build the config in code"
                        " from os.environ (relaykit.Client(config={...}))",
                    )
                problem = header_problem(header) or header_problem(text)
                if problem is not None:
                    raise ConfigError(
                        f"config key providers.{name}.headers.{scrub(header)} holds {problem}",
                        hint="write the header on one line, in ASCII",
                    )
        elif key in _PROVIDER_KEYS:
            general[key] = _coerce(raw, "str", f"providers.{name}.{key}")
        else:
            options[key] = raw  # validated by the plugin that builds the provider
    return ProviderConfig(options=options, **general)


_NOTHING = Decimal(0)


def _price(name: str, value: Mapping[str, Any]) -> ModelPrice:
    """``[prices."provider/model"]``: USD per million tokens (or per search, for a rerank
    model; per minute of audio, for a transcription model; per image, for an image
    model; per character of text, for a speech model), overriding the plugin's price.
    ``web_search`` is USD per web search, on top of the tokens."""
    valid = (
        "input",
        "output",
        "cached_input",
        "cache_write_input",
        "cache_write_1h_input",
        "per_search",
        "per_minute",
        "audio_input",
        "per_image",
        "image_prices",
        "per_character",
        "image_input",
        "batch_share",
        "web_search",
    )
    for key in value:
        if key not in valid:
            raise _unknown(key, valid, f"prices.{name}.")
    if "/" not in name:
        raise ConfigError(
            f"prices.{name!r} must name a model as 'provider/model'",
            hint=f'write [prices."openai/{name}"]',
        )
    per_unit = any(
        k in value
        for k in ("per_search", "per_minute", "per_image", "image_prices", "per_character")
    )
    missing = [k for k in ("input", "output") if k not in value and not per_unit]
    if missing:
        raise ConfigError(
            f"prices.{name!r} needs {' and '.join(missing)} (USD per million tokens),"
            " or per_search (USD per search, for a rerank model), or per_minute (USD per"
            " minute of audio, for a transcription model), or per_image (USD per image,"
            " for an image model), or per_character (USD per character, for a speech model)"
        )
    try:
        amounts = {k: _usd(v) for k, v in value.items() if k != "image_prices"}
        by_kind = _image_prices(value.get("image_prices", {}))
    except ConfigError as e:
        raise ConfigError(f"prices.{name!r}: {e.message}", hint=e.hint) from None
    return ModelPrice(
        amounts.get("input") or _NOTHING,
        amounts.get("output") or _NOTHING,
        amounts.get("cached_input"),
        amounts.get("cache_write_input"),
        amounts.get("cache_write_1h_input"),
        amounts.get("per_search"),
        amounts.get("per_minute"),
        amounts.get("audio_input"),
        amounts.get("per_image"),
        by_kind,
        amounts.get("per_character"),
        amounts.get("image_input"),
        _batch_share(name, amounts.get("batch_share")),
        web_search=amounts.get("web_search"),
    )


def _batch_share(name: str, share: Decimal | None) -> Decimal | None:
    """``batch_share = 0.5``: the share of the price a batch item pays, from 0 to 1."""
    if share is not None and not Decimal(0) <= share <= Decimal(1):
        raise ConfigError(
            f"prices.{name!r}: batch_share is {share}, the share of the price a batch item pays",
            hint="give a number from 0 to 1: batch_share = 0.5 for half price",
        )
    return share


def _image_prices(value: Any) -> dict[str, Decimal]:
    """``image_prices = { "hd/1024x1792" = 0.12, "1024x1792" = 0.08, hd = 0.08 }``: USD
    per image by ``QUALITY/SIZE``, ``SIZE`` or ``QUALITY`` (see ModelPrice)."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"image_prices must be a table of USD per image, not {value!r}"[:120],
            hint='image_prices = { "hd/1024x1792" = 0.12, "1024x1792" = 0.08, hd = 0.08 }',
        )
    prices: dict[str, Decimal] = {}
    for key, raw in value.items():
        usd = _usd(raw, f"image_prices[{key!r}]")
        if usd is None or not str(key).strip():
            raise ConfigError(f"image_prices[{key!r}] needs a key and a USD amount")
        prices[str(key)] = usd
    return prices


def _drawable(weights: Sequence[float]) -> bool:
    """Whether a weighted draw can use ``weights``: finite, none negative, some positive."""
    floats = [float(w) for w in weights]
    total = sum(floats)
    return all(math.isfinite(w) and w >= 0 for w in floats) and math.isfinite(total) and total > 0


#: LiteLLM's Router routing_strategy names with a relaykit equivalent
_LITELLM_STRATEGIES = {"simple-shuffle": "weighted", "latency-based-routing": "latency"}


def _route(name: str, value: Mapping[str, Any]) -> RouteConfig:
    fields = attrs.fields_dict(RouteConfig)
    for key in value:
        if key not in fields:
            raise _unknown(key, fields, f"models.{name}.")
    targets = value.get("targets")
    if isinstance(targets, str):
        targets = [targets]
    if (
        not targets
        or not isinstance(targets, list | tuple)
        or not all(isinstance(t, str) and "/" in t for t in targets)
    ):
        raise ConfigError(
            f"models.{name}.targets must list model ids like 'openai/gpt-4o-mini'",
        )
    strategy = value.get("strategy", "fallback")
    strategies = ("fallback", "weighted", "least-busy", "latency")
    if strategy not in strategies:
        ours = _LITELLM_STRATEGIES.get(strategy) if isinstance(strategy, str) else None
        raise ConfigError(
            f"models.{name}.strategy {strategy!r} is not a strategy",
            hint=f"LiteLLM's {strategy} is relaykit's strategy = {ours!r}"
            if ours
            else did_you_mean(str(strategy), strategies, f"use one of {', '.join(strategies)}"),
        )
    weights = value.get("weights")
    if weights is not None and (
        not isinstance(weights, list | tuple)
        or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights)
    ):
        raise ConfigError(
            f"models.{name}.weights must be a list of numbers, one per target,"
            f" not {type(weights).__name__} {weights!r}",
            hint=f"e.g. weights = {[1] * len(targets)}",
        )
    if weights is not None and len(weights) != len(targets):
        raise ConfigError(f"models.{name}.weights needs one weight per target")
    huge = [w for w in weights or () if isinstance(w, int) and abs(w) > _LARGEST_INT]
    if huge:
        raise _too_large(f"models.{name}.weights", huge[0])
    if weights is not None and not _drawable(weights):
        # else every call of the route raised random.choices' ValueError
        raise ConfigError(
            f"models.{name}.weights are {weights!r}; weights must be finite numbers >= 0,"[:160]
            + " at least one of them above 0",
            hint=f"e.g. weights = {[1] * len(targets)} shares the calls evenly",
        )
    hedge = value.get("hedge_after")
    if isinstance(hedge, int) and hedge > _LARGEST_INT:
        raise _too_large(f"models.{name}.hedge_after", hedge)
    if (
        hedge is not None
        and hedge != "p95"
        and (
            isinstance(hedge, bool)
            or not isinstance(hedge, int | float)
            or not hedge >= 0  # NaN too
        )
    ):
        raise ConfigError(f"models.{name}.hedge_after must be seconds (a number) or 'p95'")
    if hedge is not None and len(targets) < 2:
        raise ConfigError(f"models.{name}.hedge_after needs at least two targets to hedge between")
    return RouteConfig(
        tuple(targets),
        strategy,
        tuple(float(w) for w in weights) if weights else None,
        hedge if hedge in (None, "p95") else float(hedge),
        _fallback_ids(name, "context_window_fallbacks", value, targets),
        _fallback_ids(name, "content_policy_fallbacks", value, targets),
    )


#: what each kind of route fallback is for, said in its config error's hint
_FALLBACKS_FOR = {
    "context_window_fallbacks": "list models with a larger context window than the route's",
    "content_policy_fallbacks": "list models whose content filters differ from the route's",
}


def _fallback_ids(
    name: str, key: str, route: Mapping[str, Any], targets: Sequence[str]
) -> tuple[str, ...]:
    """``[models.NAME] context_window_fallbacks`` or ``content_policy_fallbacks``
    (``key``, read from ``route``): model ids, in the order to try them (none of the
    route's ``targets``: those refused the prompt already)."""
    value = route.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    hint = _FALLBACKS_FOR[key]
    key = f"models.{name}.{key}"
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise ConfigError(
            f"{key} must list model ids, not {type(value).__name__} {value!r}"[:160],
            hint=f'e.g. {key.rsplit(".", 1)[1]} = ["openai/gpt-4.1"]',
        )
    for model_id in value:
        provider, _, model = model_id.partition("/")
        if not provider or not model:
            # an alias is not followed: its own route would decide when to fall back
            raise ConfigError(
                f"{key} names {model_id!r}, which is not a model id like 'openai/gpt-4.1'"[:160],
                hint="list 'provider/model' ids; for an alias under [models], list its targets",
            )
        if model_id in targets:
            # it would be asked again for a prompt it has just refused
            raise ConfigError(
                f"{key} names {model_id!r}, a target of the route itself"[:160],
                hint=hint,
            )
    return tuple(value)
