"""The sampling OpenAI's reasoning models take, checked before sending.

OpenAI's reasoning models (o1, o3, o3-mini, o4-mini, the GPT-5 family but its
``-chat`` models, the Codex models) take no ``temperature`` or ``top_p`` but
the default, 1, while they reason: the API answers any other with a 400
(``Unsupported value: 'temperature' does not support 0.5 with this model. Only
the default (1) value is supported.``, or ``Unsupported parameter:
'temperature' is not supported with this model.``). relaykit refuses such a
call before sending, as relaykit-anthropic does for Claude while it thinks,
with the fix in the error.

GPT-5.1 and later take both when they do not reason (effort ``"none"``):
sent with ``reasoning="none"``, or, for gpt-5.1 to gpt-5.3, whose effort is
``"none"`` when none is sent, left out (reported for gpt-5.1 and gpt-5.2;
gpt-5.3 has no report either way, so it is not refused). gpt-5.4 and later
reason by default (refusals of a temperature sent without an effort are
reported for both); their ``-pro`` and ``-codex`` models, the o-series and
gpt-5 always reason. Where in doubt, nothing is refused: the API still answers.

Only OpenAI's own API and Azure's deployments of its models are judged: a
compatible service's model may bear any name, and takes sampling of its own.
"""

from __future__ import annotations

import re
from typing import Any

from relaykit import InvalidRequestError

#: OpenAI's reasoning models: the o-series, GPT-5 but its chat models, Codex
_REASONING_MODEL = re.compile(r"^(o\d|codex-|gpt-5(?:\.\d+)?(?![.\d]|-chat))")
#: GPT-5.N, whose minor version says whether it reasons when no effort is sent;
#: ``-pro`` and ``-codex`` models always reason
_GPT5_MINOR = re.compile(r"^gpt-5\.(\d+)(?!.*-(?:pro|codex))")
#: the GPT-5.N minors that do not reason when no effort is sent
_NO_EFFORT_BY_DEFAULT = frozenset({1, 2, 3})


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` reasons (o-series, GPT-5 but its chat variants, Codex)."""
    return _REASONING_MODEL.match(model) is not None


def reasons(model: str, effort: object) -> bool:
    """Whether OpenAI's ``model`` reasons at ``effort`` (``None``: none sent)."""
    if not is_reasoning_model(model):
        return False
    minor = _GPT5_MINOR.match(model)
    if minor is None:
        return True  # o-series, gpt-5, the pro and Codex models: no effort turns it off
    if effort is None:
        return int(minor.group(1)) not in _NO_EFFORT_BY_DEFAULT
    return effort != "none"


def check_body(body: dict[str, Any], *, served: str, model: str, provider: str) -> None:
    """Refuse a Chat Completions or Responses ``body`` of a call to ``model`` (an
    Azure deployment's name, or OpenAI's model) whose ``temperature`` or ``top_p``
    OpenAI's ``served`` model refuses while it reasons. The body is judged as it
    will be sent, with what ``extra`` put in it (an effort, a temperature)."""
    if not is_reasoning_model(served):
        return
    effort = body.get("reasoning_effort")
    reasoning = body.get("reasoning")
    if effort is None and isinstance(reasoning, dict):
        effort = reasoning.get("effort")
    if not reasons(served, effort):
        return
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value == 1:
            continue  # a value of another type: the API refuses it for that
        minor = _GPT5_MINOR.match(served)
        off = (
            ", or turn reasoning off with reasoning='none', which this model takes"
            if minor is not None
            else ""
        )
        raise InvalidRequestError(
            f"OpenAI's {served} takes no {key} but 1 while it reasons ({key}={value})",
            provider=provider,
            model=model,
            param=key,
            hint=f"drop {key} (the model samples as it was tuned to){off}",
        )
