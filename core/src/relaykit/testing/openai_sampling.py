"""The sampling OpenAI's reasoning models refuse, for :class:`~relaykit.testing.OpenAIMock`.

OpenAI's reasoning models (o1, o3, o3-mini, o4-mini, the GPT-5 family but its
``-chat`` models, the Codex models) sample as they were tuned to: the API
refuses a request that asks otherwise, with a 400. :func:`check_sampling`
refuses, in the words, params and codes issues quoting the API report:

- a ``temperature`` or ``top_p`` other than the default, 1: on Chat Completions
  ``Unsupported value: 'temperature' does not support 0.5 with this model. Only
  the default (1) value is supported.`` (code ``unsupported_value``; o3, o4-mini,
  gpt-5, gpt-5-mini, gpt-5.4), but for o3-mini, and on the Responses API
  (o3, gpt-5.1-codex, gpt-5.2), ``Unsupported parameter: 'temperature' is not
  supported with this model.`` (code ``unsupported_parameter``);
- ``presence_penalty`` or ``frequency_penalty`` other than 0, ``logprobs: true``,
  a ``top_logprobs`` above 0: ``Unsupported parameter: 'presence_penalty' is
  not supported with this model.`` (Chat Completions; the Responses API has
  ``top_logprobs`` only, refused the same way);
- ``max_tokens`` on Chat Completions, for any effort: ``Unsupported parameter:
  'max_tokens' is not supported with this model. Use 'max_completion_tokens'
  instead.`` (o1, o3, o3-mini, gpt-5, gpt-5.1, gpt-5.4; the Responses API
  refuses the field for every model, :mod:`.openai_responses`).

GPT-5.1 and later take the sampling fields when they do not reason (effort
``"none"``; OpenAI's GPT-5.1 guide, and reports for gpt-5.1 and gpt-5.2). Left
out, the effort is ``"none"`` for gpt-5.1 and gpt-5.2 (reported), and gpt-5.3
(no report: not refused); gpt-5.4 and later reason by default (refusals of a
temperature sent without an effort are reported for gpt-5.4 and gpt-5.5). Their
``-pro`` and ``-codex`` models always reason. Compatible services' thinking
models (gpt-oss, Qwen3, ...) take their own sampling: nothing here applies to them.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from .openai_responses import Refusal, openai_reasoning

#: GPT-5.N, whose minor version says whether it reasons when no effort is sent;
#: ``-pro`` and ``-codex`` models always reason
_GPT5_MINOR = re.compile(r"^gpt-5\.(\d+)(?!.*-(?:pro|codex))")
#: the GPT-5.N minors that do not reason when no effort is sent (see the module docstring)
_NO_EFFORT_BY_DEFAULT = frozenset({1, 2, 3})
#: models whose Chat Completions API refuses a sampling field as a parameter, not a value
_PARAMETER_WORDING = re.compile(r"^o3-mini")

Route = Literal["chat", "responses"]


def reasons(model: str, effort: object) -> bool:
    """Whether ``model``, one of OpenAI's, reasons at ``effort`` (``None``: not sent),
    and so takes only the default sampling (see the module docstring)."""
    if not openai_reasoning(model):
        return False
    minor = _GPT5_MINOR.match(model)
    if minor is None:
        return True  # o-series, gpt-5, the Codex and pro models: no effort turns it off
    if effort is None:
        return int(minor.group(1)) not in _NO_EFFORT_BY_DEFAULT
    return effort != "none"


def check_sampling(body: dict[str, Any], route: Route) -> None:
    """Raise :class:`Refusal` for a well-shaped body (``route``: Chat Completions or
    the Responses API) that asks an OpenAI reasoning model for sampling it refuses."""
    model = str(body.get("model"))
    if not openai_reasoning(model):
        return
    if route == "chat" and body.get("max_tokens") is not None:
        raise Refusal(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use"
            " 'max_completion_tokens' instead.",
            "max_tokens",
            code="unsupported_parameter",
        )
    if route == "chat":
        effort = body.get("reasoning_effort")
    else:
        reasoning = body.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if not reasons(model, effort):
        return
    for key in ("temperature", "top_p"):
        value = _number(body.get(key))
        if value is not None and value != 1:
            if route == "responses" or _PARAMETER_WORDING.match(model):
                raise _unsupported(key)
            raise Refusal(
                f"Unsupported value: '{key}' does not support {json.dumps(value)} with this"
                " model. Only the default (1) value is supported.",
                key,
                code="unsupported_value",
            )
    if route == "chat":
        for key in ("presence_penalty", "frequency_penalty"):
            if _number(body.get(key)) not in (None, 0):
                raise _unsupported(key)
        if body.get("logprobs") is True:
            raise _unsupported("logprobs")
    top = _number(body.get("top_logprobs"))
    if top is not None and top > 0:
        raise _unsupported("top_logprobs")


def _number(value: object) -> float | None:
    """``value`` if it is a JSON number (``true`` is none), else ``None``: a value of
    another type is the shape checks' to refuse, or the API's."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _unsupported(key: str) -> Refusal:
    return Refusal(
        f"Unsupported parameter: '{key}' is not supported with this model.",
        key,
        code="unsupported_parameter",
    )
