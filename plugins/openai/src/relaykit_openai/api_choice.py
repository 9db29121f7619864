"""Which OpenAI API a provider speaks for a model: Chat Completions or Responses."""

from __future__ import annotations

import re
from typing import Any, Literal

from relaykit import ConfigError

Api = Literal["chat", "responses", "auto"]
#: the values of the ``api`` provider option
API_CHOICES: tuple[Api, ...] = ("chat", "responses", "auto")

#: models OpenAI serves only through ``/responses`` ("This model is only supported
#: in v1/responses and not in v1/chat/completions."), dated snapshots included:
#: the pro models, the Codex models, computer use and deep research.
_RESPONSES_ONLY = re.compile(
    r"^(o1-pro|o3-pro|gpt-5(\.\d+)?-pro|codex-mini|gpt-5(\.\d+)?-codex"
    r"|computer-use-preview|o3-deep-research|o4-mini-deep-research)(\b|-|$)"
)


def responses_only(model: str) -> bool:
    """Whether OpenAI serves ``model`` only through the Responses API."""
    return _RESPONSES_ONLY.match(model) is not None


def parse_api(value: Any, default: Api, provider: str) -> Api:
    """The ``api`` option's value, checked; ``default`` when it is not set."""
    if value is None:
        return default
    if value not in API_CHOICES:
        raise ConfigError(
            f"providers.{provider}.api is {value!r}; use one of "
            + ", ".join(repr(c) for c in API_CHOICES),
            hint='"chat" for Chat Completions, "responses" for the Responses API,'
            ' "auto" for Responses only where a model requires it',
        )
    return value  # type: ignore[no-any-return]
