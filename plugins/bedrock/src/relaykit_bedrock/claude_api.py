"""Which Bedrock API a Claude model is called through: Converse or the Messages API.

Anthropic's Bedrock guide splits Claude on Bedrock in two (platform.claude.com,
"Claude on Amazon Bedrock (Opus 4.6 and earlier)", read 2026-12-02): the legacy
integration, ``InvokeModel`` and ``Converse`` with ARN-versioned model ids
(``anthropic.claude-opus-4-6-v1``), serves Claude up to Opus 4.6 and Sonnet
4.6; newer models are served by "Claude in Amazon Bedrock", the Messages API
at ``/anthropic/v1/messages`` on ``bedrock-runtime`` with server-sent events,
and have no ARN-versioned id (Opus 4.7 "is omitted from the model table on
this page because it does not have an ARN-versioned model ID"). AWS's page
"Inference using Anthropic Messages API" documents that route on
``bedrock-runtime.{region}.amazonaws.com/anthropic`` with SigV4 or a Bedrock
API key. So, by default (``auto``):

- Claude 4.7 and later (Opus 4.7, 4.8, every Claude 5 model) and the Fable and
  Mythos families (``anthropic.claude-mythos-preview`` included, which names
  no version) go through the Messages API;
- every other model, Claude 4.6 and earlier included, through Converse.

``[providers.NAME] claude_api`` overrides that for Claude models:
``"messages"`` sends every Claude model through the Messages API,
``"converse"`` every one through Converse (for an account where AWS serves the
newer models there too). Other models always go through Converse.
"""

from __future__ import annotations

import re
from typing import Literal

from relaykit import ConfigError

from .prices import base_model
from .reasoning import claude_version

ClaudeApi = Literal["auto", "converse", "messages"]
CHOICES: tuple[ClaudeApi, ...] = ("auto", "converse", "messages")

#: the first Claude version served by the Messages API rather than Converse
FIRST_MESSAGES_VERSION = (4, 7)
# Families that exist only on the new integration, versioned or not (mythos-preview).
_MESSAGES_FAMILIES = re.compile(r"claude-(fable|mythos)(-|$)")


def claude_api_option(value: object, key: str) -> ClaudeApi:
    """The ``claude_api`` option, checked: ``auto`` when unset."""
    if value is None or value == "":
        return "auto"
    for choice in CHOICES:
        if value == choice:
            return choice
    raise ConfigError(
        f"{key} must be one of {', '.join(repr(c) for c in CHOICES)}, not {value!r}",
        hint=f"set {key} = 'messages' to call Claude through the Messages API, 'converse' "
        "for Converse, or leave it out to choose by model",
    )


def is_claude(model: str) -> bool:
    """Whether ``model`` (a model id, inference profile id or ARN) is an Anthropic Claude model."""
    return base_model(model).lower().startswith("anthropic.claude")


def uses_messages_api(model: str, choice: ClaudeApi = "auto") -> bool:
    """Whether ``model`` is called through the Messages API (else Converse)."""
    if not is_claude(model):
        return False
    if choice != "auto":
        return choice == "messages"
    base = base_model(model).lower()
    if _MESSAGES_FAMILIES.search(base):
        return True
    version = claude_version(model)
    return version is not None and version >= FIRST_MESSAGES_VERSION
