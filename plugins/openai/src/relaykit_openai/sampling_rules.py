"""The sampling OpenAI's reasoning models take, checked before sending.

OpenAI's reasoning models (o1, o3, o3-mini, o4-mini, the GPT-5 family but its
``-chat`` models, the Codex models) sample as they were tuned to, and the API
answers a request that asks otherwise with a 400. relaykit refuses such a call
before sending, as relaykit-anthropic does for Claude while it thinks, with
the fix in the error. The body is judged as it will be sent, ``extra``'s
fields included (the penalties and log probabilities only come from there):

- a ``temperature`` or ``top_p`` other than the default, 1, while they reason
  (``Unsupported value: 'temperature' does not support 0.5 with this model.
  Only the default (1) value is supported.``, or ``Unsupported parameter:
  'temperature' is not supported with this model.``);
- on Chat Completions, a ``presence_penalty`` or ``frequency_penalty`` other
  than 0 and ``logprobs: true``, and on both APIs a ``top_logprobs`` above 0,
  while they reason (``Unsupported parameter: 'presence_penalty' is not
  supported with this model.``, reported for o-series models, gpt-5 and
  gpt-5-mini; a penalty of 0 is taken). OpenAI's GPT-5.1 guide lists
  ``logprobs`` among the fields taken at effort ``"none"``, so the fix offered
  there is to stop reasoning; the penalties it does not name, so only dropping
  them is offered;
- on Chat Completions, ``max_tokens`` whatever the effort (``Unsupported
  parameter: 'max_tokens' is not supported with this model. Use
  'max_completion_tokens' instead.``, reported for o1, o3, gpt-5 and gpt-5.1,
  which does not reason unless asked). relaykit sends ``max_tokens=`` as
  ``max_completion_tokens`` to OpenAI and Azure, so only ``extra`` or a
  ``max_tokens_param = "max_tokens"`` setting sends it.

GPT-5.1 and later take the sampling fields when they do not reason (effort
``"none"``): sent with ``reasoning="none"``, or, for gpt-5.1 to gpt-5.3, whose
effort is ``"none"`` when none is sent, left out (reported for gpt-5.1 and
gpt-5.2; gpt-5.3 has no report either way, so it is not refused). gpt-5.4 and
later reason by default (refusals of a temperature sent without an effort are
reported for both); their ``-pro`` and ``-codex`` models, the o-series and
gpt-5 always reason. Where in doubt, nothing is refused: the API still
answers. ``logit_bias`` is left to the API: reports disagree on whether these
models take it.

Only OpenAI's own API and Azure's deployments of its models are judged: a
compatible service's model may bear any name, and takes sampling of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, Literal

from relaykit import InvalidRequestError

#: the API a body goes to: Chat Completions or the Responses API
Api = Literal["chat", "responses"]

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


def check_body(
    body: dict[str, Any],
    *,
    served: str,
    model: str,
    provider: str,
    api: Api = "chat",
    extra: Collection[str] = (),
) -> None:
    """Refuse a Chat Completions (``api="chat"``) or Responses API ``body`` of a call
    to ``model`` (an Azure deployment's name, or OpenAI's model) whose sampling
    OpenAI's ``served`` model refuses (see the module's description). The body is
    judged as it will be sent, with what ``extra`` put in it (an effort, a
    temperature, a penalty); ``extra`` is the keys it gave, named in the fix."""
    if not is_reasoning_model(served):
        return
    if api == "chat" and body.get("max_tokens") is not None:
        hint = (
            "give the cap as max_tokens= (relaykit sends it as max_completion_tokens) "
            "instead of extra's max_tokens"
            if "max_tokens" in extra
            else "leave max_tokens_param unset for this provider: relaykit then sends "
            "max_tokens= as max_completion_tokens"
        )
        raise _refusal(
            f"OpenAI's {served} takes no max_tokens on Chat Completions: it takes "
            "max_completion_tokens",
            "max_tokens",
            model=model,
            provider=provider,
            hint=hint,
        )
    effort = body.get("reasoning_effort")
    reasoning = body.get("reasoning")
    if effort is None and isinstance(reasoning, dict):
        effort = reasoning.get("effort")
    if not reasons(served, effort):
        return
    # Turning reasoning off is a fix only where the model takes it (GPT-5.1 on).
    stops = _GPT5_MINOR.match(served) is not None
    for key, default, apis, off_documented in _WHILE_REASONING:
        value = body.get(key)
        if api not in apis or _taken(value, default):
            continue
        off = (
            ", or turn reasoning off with reasoning='none', which this model takes"
            if stops and off_documented
            else ""
        )
        raise _refusal(
            f"OpenAI's {served} takes no {key} but {json.dumps(default)} while it reasons"
            f" ({key}={json.dumps(value)})",
            key,
            model=model,
            provider=provider,
            hint=f"drop {key}{_from(key, extra)} or set it to {json.dumps(default)}{off}",
        )


#: what OpenAI's reasoning models refuse while they reason: each field, the one value
#: it takes (its default), the APIs that have it, and whether OpenAI documents that
#: the model takes it at effort "none" (GPT-5.1's guide: temperature, top_p,
#: logprobs; it says nothing of the penalties)
_WHILE_REASONING: tuple[tuple[str, object, tuple[Api, ...], bool], ...] = (
    ("temperature", 1, ("chat", "responses"), True),
    ("top_p", 1, ("chat", "responses"), True),
    ("presence_penalty", 0, ("chat",), False),
    ("frequency_penalty", 0, ("chat",), False),
    ("logprobs", False, ("chat",), True),
    ("top_logprobs", 0, ("chat", "responses"), True),
)


def _taken(value: object, default: object) -> bool:
    """Whether a reasoning model takes ``value`` for a field whose only value is
    ``default``: none, the default, or one of another type (the API refuses that for
    its type, reasoning or not; ``logprobs`` asks only with ``true``)."""
    if isinstance(default, bool):
        return value is not True
    number = _number(value)
    return number is None or number == default


def _number(value: object) -> float | None:
    """``value`` if it is a JSON number (``True`` is none), else ``None``: the API
    refuses a value of another type for its type, reasoning or not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _from(key: str, extra: Collection[str]) -> str:
    """ " from extra" when ``extra`` gave ``key``, for the fix."""
    return " from extra" if key in extra else ""


def _refusal(
    message: str, param: str, *, model: str, provider: str, hint: str
) -> InvalidRequestError:
    return InvalidRequestError(message, provider=provider, model=model, param=param, hint=hint)
