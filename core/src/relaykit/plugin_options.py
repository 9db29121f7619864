"""A plugin's own config table read into numbers and paths, or a ConfigError naming the key.

An exporter's or backend's options arrive as TOML (or ``RELAYKIT_*`` strings, or a
dict in code): ``int()`` and ``float()`` on them raised ValueError, TypeError or
OverflowError deep inside a plugin, or let through values (``inf``, a port of
70000) that failed later in a thread where nobody saw it. Numbers written as
strings (``port = "9464"``) are taken, as ``int()`` took them.

A path (``credentials_file``, an MCP server's ``cwd``) that is relative is taken
from the config file's directory, as the core's own ``[storage] path`` is: read
from the working directory instead, ``relaykit -c ~/proj/relaykit.toml`` found
the file only when run from ``~/proj``.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config
    from .protocols import ProviderSettings

__all__ = ["config_path", "path_option", "seconds", "whole_number"]


def whole_number(
    table: Mapping[str, Any],
    key: str,
    default: int,
    *,
    where: str,
    low: int = 0,
    high: int | None = None,
) -> int:
    """``table[key]`` (``default`` when missing) as a whole number from ``low`` to
    ``high``; ``where`` names the table in the error (``"exporters.statsd"``).

    A key named ``port`` is described as a port number in the error.
    """
    raw = table.get(key, default)
    # ASCII digits only: isdigit() is true of "٣" (int() reads 3) and "²" (int() raises)
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw)
    whole = isinstance(raw, int) and not isinstance(raw, bool)
    if isinstance(raw, float) and raw.is_integer():
        raw, whole = int(raw), True
    if not whole or raw < low or (high is not None and raw > high):
        if key == "port":
            expected = f"a port number from {low} to {high}"
        else:
            expected = f"a whole number from {low}" + (f" to {high}" if high is not None else "")
        raise ConfigError(f"config key {where}.{key} must be {expected}, not {raw!r}"[:160])
    return int(raw)


def seconds(table: Mapping[str, Any], key: str, default: float, *, where: str) -> float:
    """``table[key]`` (``default`` when missing) as a finite number of seconds above 0;
    ``where`` names the table in the error."""
    raw = table.get(key, default)
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = float(raw)
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if not number or not math.isfinite(raw) or raw <= 0:
        raise ConfigError(
            f"config key {where}.{key} must be a number of seconds > 0, not {raw!r}"[:160]
        )
    return float(raw)


def config_path(value: str, config: Config | ProviderSettings | None) -> Path:
    """``value``, a path a plugin's table in ``config`` names, taken as the core's own
    paths are: ``~`` expanded, and a relative one from the directory of the config
    file it was written in (``config.base_dir``), not from wherever the process runs.

    ``config`` is the :class:`relaykit.config.Config` the plugin was handed, or a
    provider's :class:`relaykit.protocols.ProviderSettings`; for a dict config
    (or ``None``) a relative path stays relative: to the working directory.
    """
    path = Path(value).expanduser()
    base = config.base_dir if config is not None else None
    if base is None or path.is_absolute():
        return path
    return base / path


def path_option(
    table: Mapping[str, Any],
    key: str,
    *,
    where: str,
    config: Config | ProviderSettings | None,
) -> Path | None:
    """``table[key]``, a file or directory path, as :func:`config_path` takes it
    (``None`` when missing); ``where`` names the table in the error."""
    raw = table.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str | os.PathLike) or not str(raw).strip():
        raise ConfigError(
            f"config key {where}.{key} must be a path (a non-empty string), not {raw!r}"[:160],
            hint=f'{key} = "relative/to/the/config/file" (or an absolute path, or ~/...)',
        )
    return config_path(os.fspath(raw), config)
