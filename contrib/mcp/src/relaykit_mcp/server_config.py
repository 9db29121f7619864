"""``[mcp.servers.NAME]``: the MCP servers ``relaykit prompt/chat --mcp NAME`` names.

::

    [mcp.servers.time]
    command = "uvx"
    args = ["mcp-server-time"]

    [mcp.servers.docs]
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ${DOCS_TOKEN}" }
    prefix = "docs_"

The whole ``[mcp]`` table is checked when a client is built (the plugin's
``relaykit_config_tables``) and whenever ``--mcp`` is used: a wrong key or type
is a :class:`relaykit.ConfigError` naming the key and the fix. A
``${VAR}`` (or ``${VAR:-default}``) in a value reads the environment when the
server is used, as Claude Code's ``.mcp.json`` does, so a token need not be
written in the file; a value read so is masked wherever the server's errors
quote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from relaykit import ConfigError, Secret
from relaykit.errors import did_you_mean

#: seconds a server has to start and answer ``initialize`` (relaykit_mcp.DEFAULT_START_TIMEOUT)
START_TIMEOUT = 30.0

_TYPES = ("stdio", "http")
_COMMAND_ONLY = ("command", "args", "env", "cwd")
_URL_ONLY = ("url", "headers")
_KEYS = (
    *_COMMAND_ONLY,
    *_URL_ONLY,
    "type",
    "prefix",
    "include",
    "start_timeout",
    "call_timeout",
    "max_output_chars",
)
#: characters of text a tool result keeps (relaykit_mcp.content.DEFAULT_MAX_OUTPUT_CHARS)
MAX_OUTPUT_CHARS = 100_000
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# env values under such names are credentials even when written out in the file
#: the words of a name that say its value is a credential (``GITHUB_TOKEN``, ``--api-key``)
_SECRET_WORDS = frozenset(
    ("token", "key", "secret", "secrets", "password", "passwd", "credential", "credentials")
) | {"auth", "apikey", "pat"}
#: what a word run together with others ends with when it names one (``PGPASSWORD``)
_SECRET_ENDINGS = ("token", "secret", "password", "passwd", "apikey", "credentials")
#: last words that make a credential's name the name of something about it: where
#: it is kept, what kind it is, its id (``SSH_KEY_PATH``, ``--token-url``, ``--auth-type``)
_ABOUT_WORDS = frozenset(
    ("file", "path", "dir", "name", "type", "mode", "method", "url", "uri", "id", "env", "var")
)
#: words that make it a count or a limit of tokens (``--max-token 100``), not a credential
_COUNT_WORDS = frozenset(("max", "min", "limit", "count", "num", "size", "length", "budget"))
#: a name's words: split at ``-``, ``_``, ``.`` and a camelCase capital
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def secret_name(name: str) -> bool:
    """Whether ``name`` (an env variable's, a command-line flag's without its dashes)
    says its value is a credential: one of its words is a credential's (``TOKEN``,
    ``KEY``, ``SECRET``, ``PASSWORD``, ``CREDENTIAL``, ``AUTH``, ...) or ends with one
    (``PGPASSWORD``), unless its last word says it names something about one
    (``SSH_KEY_PATH``), it counts tokens (``MAX_TOKEN``) or it turns one off
    (``no-auth``). Whole words, not letters: ``TOKENIZERS_PARALLELISM``,
    ``MAX_TOKENS``, ``AUTHOR`` and ``KEYBOARD`` name no credential, and a value
    taken for one is masked everywhere it shows (quoted stderr, tool results)."""
    words = [w.lower() for w in _WORD.findall(name)]
    if not words or words[0] == "no" or words[-1] in _ABOUT_WORDS:
        return False
    if _COUNT_WORDS.intersection(words):
        return False
    return any(w in _SECRET_WORDS or w.endswith(_SECRET_ENDINGS) for w in words)


@attrs.frozen
class ServerConfig:
    """One ``[mcp.servers.NAME]``, checked; its values as written (``${VAR}`` unread)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    #: goes before each tool's name, to keep two servers' tools apart
    prefix: str = ""
    #: the tools to keep (the server's names); all when None
    include: tuple[str, ...] | None = None
    start_timeout: float = START_TIMEOUT
    call_timeout: float | None = None
    #: characters of text a tool result keeps, the rest cut with a note
    max_output_chars: int = MAX_OUTPUT_CHARS

    def where(self, key: str) -> str:
        """The config key ``key`` of this server, as errors name it."""
        return f"mcp.servers.{self.name}.{key}"


def configured_servers(mcp: Mapping[str, Any]) -> dict[str, ServerConfig]:
    """The servers of the ``[mcp]`` table ``mcp``, each checked."""
    for key in mcp:
        if key != "servers":
            raise ConfigError(
                f"unknown config key mcp.{key}",
                hint=did_you_mean(key, ["servers"], "[mcp] holds servers: [mcp.servers.NAME]"),
            )
    servers = mcp.get("servers", {})
    if not isinstance(servers, Mapping):
        raise ConfigError(
            "config key mcp.servers must be a table of servers, e.g. [mcp.servers.time]"
        )
    return {str(name): _server(str(name), value) for name, value in servers.items()}


def _server(name: str, table: Any) -> ServerConfig:
    where = f"mcp.servers.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"config key {where} must be a table",
            hint=f"[{where}] with command = ... or url = ...",
        )
    for key in table:
        if key not in _KEYS:
            raise ConfigError(
                f"unknown config key {where}.{key}",
                hint=did_you_mean(key, _KEYS, f"valid keys: {', '.join(sorted(_KEYS))}"),
            )
    kind = _kind(table, where)
    wrong = [k for k in (_URL_ONLY if kind == "stdio" else _COMMAND_ONLY) if k in table]
    if wrong:
        has, takes = (
            ("a command", "command, args, env, cwd")
            if kind == "stdio"
            else ("a url", "url, headers")
        )
        raise ConfigError(
            f"config key {where}.{wrong[0]} is not for a server with {has}",
            hint=f"drop it: a server with {has} takes {takes}, prefix, include and timeouts",
        )
    include = table.get("include")
    return ServerConfig(
        name=name,
        command=_text(table, "command", where),
        args=_texts(table, "args", where) or (),
        env=_pairs(table, "env", where),
        cwd=_text(table, "cwd", where),
        url=_url(table, where),
        headers=_pairs(table, "headers", where),
        prefix=_text(table, "prefix", where) or "",
        include=_texts(table, "include", where) if include is not None else None,
        start_timeout=_seconds(table, "start_timeout", where) or START_TIMEOUT,
        call_timeout=_seconds(table, "call_timeout", where),
        max_output_chars=_chars(table, "max_output_chars", where) or MAX_OUTPUT_CHARS,
    )


def _kind(table: Mapping[str, Any], where: str) -> str:
    """``stdio`` (a ``command``) or ``http`` (a ``url``): exactly one of them, and
    the ``type`` Claude's configuration writes, if given, agreeing."""
    if "command" in table and "url" in table:
        raise ConfigError(
            f"config key {where} has both command and url",
            hint="keep command, for a server relaykit starts, or url, for one it connects to",
        )
    if "command" not in table and "url" not in table:
        raise ConfigError(
            f"config key {where} needs command or url",
            hint="e.g. command = 'uvx', args = ['mcp-server-time'], "
            "or url = 'https://mcp.example.com/mcp'",
        )
    kind = "stdio" if "command" in table else "http"
    given = table.get("type")
    if given is None or given == kind:
        return kind
    if given == "sse":
        raise ConfigError(
            f"config key {where}.type: relaykit-mcp speaks streamable HTTP, not the older "
            "SSE transport",
            hint="give the server's streamable HTTP endpoint, often /mcp, with type = 'http'",
        )
    if given in _TYPES:
        key = "command" if given == "stdio" else "url"
        raise ConfigError(
            f"config key {where}.type is {given!r}, which needs {key}",
            hint=f"drop type, or give {key} instead",
        )
    raise ConfigError(
        f"config key {where}.type must be 'stdio' or 'http', not {given!r}",
        hint=did_you_mean(str(given), _TYPES, "or leave it out: command or url says which"),
    )


def _text(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"config key {where}.{key} must be a non-empty string, not {value!r}")
    return value


def _texts(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        example = (
            "['mcp-server-time', '--local-timezone', 'UTC']" if key == "args" else "['search']"
        )
        raise ConfigError(
            f"config key {where}.{key} must be a list of strings", hint=f"e.g. {key} = {example}"
        )
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(
                f"config key {where}.{key} must be a list of strings, and holds {item!r}",
                hint="quote it",
            )
    return tuple(value)


def _pairs(table: Mapping[str, Any], key: str, where: str) -> tuple[tuple[str, str], ...]:
    value = table.get(key)
    if value is None:
        return ()
    example = (
        "headers = { Authorization = 'Bearer ${DOCS_TOKEN}' }"
        if key == "headers"
        else "env = { GITHUB_TOKEN = '${GITHUB_TOKEN}' }"
    )
    if not isinstance(value, Mapping):
        raise ConfigError(f"config key {where}.{key} must be a table", hint=f"e.g. {example}")
    for name, item in value.items():
        if not isinstance(item, str):
            # the value may be a token: name its type, never the value
            raise ConfigError(
                f"config key {where}.{key}.{name} must be a string, not {type(item).__name__}",
                hint=f"quote it: {example}",
            )
    return tuple((str(name), item) for name, item in value.items())


def _url(table: Mapping[str, Any], where: str) -> str | None:
    url = _text(table, "url", where)
    if url is not None and not url.startswith(("http://", "https://", "${")):
        raise ConfigError(
            f"config key {where}.url must be an http(s) URL",
            hint="e.g. url = 'https://mcp.example.com/mcp'",
        )
    return url


def _seconds(table: Mapping[str, Any], key: str, where: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(
            f"config key {where}.{key} must be a number of seconds above 0, not {value!r}"
        )
    return float(value)


def _chars(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"config key {where}.{key} must be a whole number of characters above 0, not {value!r}",
            hint=f"e.g. {key} = 200000",
        )
    return value


# -- ${VAR} --------------------------------------------------------------------------------


def expand(value: str, where: str, environ: Mapping[str, str]) -> tuple[str, bool]:
    """``value`` with each ``${VAR}`` (or ``${VAR:-default}``) read from ``environ``,
    and whether it read any (a value read so is a secret, until known otherwise).

    A variable that is not set, without a default, is a ConfigError naming
    ``where`` and the variable (never a value).
    """
    read = False

    def replace(match: re.Match[str]) -> str:
        nonlocal read
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found is None and default is None:
            raise ConfigError(
                f"{where} reads ${{{name}}}, which is not set",
                hint=f"set {name} in the environment, or give a default: ${{{name}:-value}}",
            )
        read = True
        return found if found is not None else default

    return _REFERENCE.sub(replace, value), read


def values_read(value: str, environ: Mapping[str, str]) -> list[str]:
    """The values ``value``'s ``${VAR}`` references read from ``environ`` (not their
    defaults): what a value written with them keeps out of the file."""
    return [environ[m.group(1)] for m in _REFERENCE.finditer(value) if m.group(1) in environ]


def expanded_env(server: ServerConfig, environ: Mapping[str, str]) -> dict[str, str | Secret]:
    """``server``'s env, ``${VAR}`` read; values read so, or under a name such as
    ``*_TOKEN``, as :class:`relaykit.Secret` (masked when its stderr is quoted)."""
    env: dict[str, str | Secret] = {}
    for name, raw in server.env:
        value, read = expand(raw, f"config key {server.where('env')}.{name}", environ)
        env[name] = Secret(value) if read or secret_name(name) else value
    return env


def expanded_headers(
    pairs: tuple[tuple[str, str], ...], where: Callable[[str], str], environ: Mapping[str, str]
) -> dict[str, Secret]:
    """Headers with ``${VAR}`` read, every value a :class:`relaykit.Secret` (headers
    carry tokens); ``where(name)`` names one in errors."""
    return {name: Secret(expand(raw, where(name), environ)[0]) for name, raw in pairs}
