"""The entry point relaykit loads: the PII redactor, when ``[redactors.pii]`` enables it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from relaykit import ConfigError, hookimpl
from relaykit.errors import did_you_mean

if TYPE_CHECKING:
    # Annotations only: every relaykit process (`relaykit --help` too) imports this module.
    from relaykit.config import Config

_KEYS = ("enabled", "outbound", "kinds", "max_values")


@hookimpl
def relaykit_redactors(config: Config) -> Sequence[Any]:
    """``[redactors.pii] enabled = true`` masks PII in what is stored, logged and traced;
    ``outbound = true`` also swaps it for placeholders in prompts, restored in answers."""
    conf = config.redactors.get("pii")
    if not conf:
        return []
    for key in conf:
        if key not in _KEYS:
            hint = did_you_mean(key, _KEYS, f"valid keys: {', '.join(_KEYS)}")
            raise ConfigError(f"unknown config key redactors.pii.{key!r}", hint=hint)
    if not conf.get("enabled", False):
        return []
    # Imported only when enabled: the detectors compile their patterns on import.
    from .detectors import KINDS
    from .redactor import PiiRedactor, ReversiblePiiRedactor

    kinds = conf.get("kinds", KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(
            f"redactors.pii.kinds: unknown kind {unknown[0]!r}",
            hint=f"use some of {', '.join(KINDS)}",
        )
    if conf.get("outbound", False):
        return [ReversiblePiiRedactor(kinds, max_values=int(conf.get("max_values", 100_000)))]
    return [PiiRedactor(kinds)]


@hookimpl
def relaykit_config_tables(config: Config) -> Sequence[str]:
    """The table this plugin reads, so that the client refuses a misspelt one."""
    return ("redactors.pii",)
