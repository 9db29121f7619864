"""The model a CLI command that is not a chat uses: ``-m``, else its ``[defaults]`` key.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["command_model"]


def command_model(given: str | None, config: Config, kind: str, example: str) -> str:
    """``given`` (the command's ``-m``), else ``[defaults] {kind}_model``; a
    :class:`~relaykit.ConfigError` naming both, with ``example`` as a model to pass,
    when neither says.

    ``kind`` is ``embedding``, ``rerank``, ``transcription``, ``image``,
    ``speech`` or ``moderation`` (:class:`~relaykit.config.DefaultsConfig`).
    """
    model = given or getattr(config.defaults, f"{kind}_model")
    if not model:
        raise ConfigError(
            f"no {kind} model given",
            hint=f"pass -m provider/model (e.g. -m {example}) "
            f"or set [defaults] {kind}_model in relaykit.toml",
        )
    return model
