"""The mock's checks of the thinking fields in ``additionalModelRequestFields``, by model family.

Converse hands ``additionalModelRequestFields`` to the model, which refuses
what it does not take; each family's rules here come from its documentation:

- Claude (``anthropic.claude-*``): ``thinking`` as Anthropic's Messages API
  takes it (``enabled`` with ``budget_tokens`` of at least 1,024 and below
  ``inferenceConfig.maxTokens`` when that is given, ``disabled``,
  ``adaptive`` from Claude 4.6 on, no ``enabled`` from Opus 4.7 on and no
  ``disabled`` on 4.7 and 4.8; no thinking before Claude 3.7), and
  ``output_config.effort`` (Opus 4.5, and 4.6 on; ``xhigh`` from 4.7, ``max``
  from 4.6). While it thinks: ``temperature`` 1 or unset, ``top_k`` unset,
  ``topP`` 0.95 or more, no forced tool. Claude 5 thinks by default: Opus 5,
  Sonnet 5 and Haiku 5.5 take ``disabled`` (Opus 5 and Haiku 5.5 at effort
  ``high`` or below), Fable, Mythos and Opus 5.5 refuse it (AWS's adaptive
  thinking page names Fable and Mythos; the rest is Anthropic's), Sonnet 5.5
  takes ``between_tools`` instead; whatever the thinking, Opus 5.5, Sonnet
  5.5, Fable 5.1 and Mythos 5.1 refuse a forced tool, and Opus 4.7 on,
  Sonnet 5 on, Haiku 5.5, Fable and Mythos a ``temperature`` other than 1, a
  ``topP`` under 0.99 (the default; 1 is taken too) and any ``top_k``; Opus
  4.1 to 4.6, Sonnet 4.5 and 4.6 and Haiku 4.5 ``temperature`` and ``topP``
  together, whatever their values ("Migrating to Claude 4.5"). Its
  refusals come as Bedrock relays them: "The model returned the following
  errors: ...".
- Amazon Nova 2 (``amazon.nova-2-*``): ``reasoningConfig`` with ``type``
  ``enabled`` or ``disabled`` and ``maxReasoningEffort`` ``low``, ``medium``
  or ``high``; at ``high``, no ``maxTokens``, ``temperature`` or ``topP``.
- gpt-oss (``openai.gpt-oss-*``): ``reasoning_effort`` ``low``, ``medium`` or ``high``.

Each of those fields sent to a model of another family is refused as a key
its schema does not know. Messages not quoted from AWS or Anthropic are the
mock's own; the model's version is read here apart from the client's reading.
"""

from __future__ import annotations

import re
from typing import Any

from relaykit import Reasoning

from .checks import base_model_id, malformed

_FROM_MODEL = "The model returned the following errors: "
_EFFORTS = ("low", "medium", "high")
_CLAUDE_EFFORTS = ("low", "medium", "high", "xhigh", "max")
#: the family that takes each field
_OWNERS = {
    "thinking": "anthropic.claude",
    "output_config": "anthropic.claude",
    "reasoningConfig": "amazon.nova-2",
    "reasoning_effort": "openai.gpt-oss",
}


def claude_version(base: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a Claude model id (``anthropic.claude-opus-4-6-v1``)."""
    found = re.search(r"claude-[a-z]+-(\d+)(?:-(\d\d?))?(?!\d)", base) or re.search(
        r"claude-(\d+)(?:-(\d\d?))?-[a-z]", base
    )
    return (int(found.group(1)), int(found.group(2) or 0)) if found else None


def reasoning_problem(model_id: str, body: dict[str, Any]) -> str | None:
    """The ValidationException message for ``body``'s thinking fields, or ``None``."""
    base = base_model_id(model_id)
    fields = body.get("additionalModelRequestFields")
    if not isinstance(fields, dict):
        # Claude 5 refuses some calls whatever the thinking setting
        return _claude5_problem(base, body, {}) if base.startswith("anthropic.claude") else None
    for key, owner in _OWNERS.items():
        if key in fields and not base.startswith(owner):
            return malformed("#", f"extraneous key [{key}] is not permitted")
    if base.startswith("anthropic.claude"):
        return _claude_problem(base, body, fields)
    if base.startswith("amazon.nova-2") and "reasoningConfig" in fields:
        return _nova_problem(body, fields["reasoningConfig"])
    effort = fields.get("reasoning_effort", "low")
    if effort not in _EFFORTS:
        return malformed("#/reasoning_effort", f"{effort} is not a valid enum value")
    return None


def _family(base: str) -> str:
    found = re.search(r"claude-([a-z]+)-\d", base)
    return found.group(1) if found else ""


def _claude5_problem(base: str, body: dict[str, Any], fields: dict[str, Any]) -> str | None:
    """What Claude refuses whatever its thinking: a forced tool (Claude 5), sampling
    parameters (Opus 4.7 on, Claude 5), ``temperature`` with ``topP`` (Opus 4.1 to
    4.6, Sonnet 4.5 and 4.6, Haiku 4.5)."""
    version = claude_version(base)
    family = _family(base)
    if version is None:
        return None
    if version < (4, 7):
        return _sampling_pair_problem(family, version, body)
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    never_forced = family in ("fable", "mythos") and version >= (5, 1)
    never_forced = never_forced or (family in ("opus", "sonnet") and version >= (5, 5))
    if ("any" in choice or "tool" in choice) and never_forced:
        return f'{_FROM_MODEL}tool_choice: type "tool" and "any" are not supported for this model.'
    refuses_sampling = family in ("fable", "mythos", "opus") or (
        family in ("sonnet", "haiku") and version >= (5, 0)
    )
    if refuses_sampling:
        inference = body.get("inferenceConfig") or {}
        for name, value in (
            ("temperature", inference.get("temperature")),
            ("top_p", inference.get("topP")),
            ("top_k", fields.get("top_k")),
        ):
            if not _sampling_taken(name, value):
                return f"{_FROM_MODEL}`{name}` is deprecated for this model."
    return None


def _sampling_pair_problem(
    family: str, version: tuple[int, int], body: dict[str, Any]
) -> str | None:
    """The refusal of ``temperature`` and ``topP`` together by the Claude before 4.7
    that takes one of them only (Anthropic's words, as Bedrock relays them)."""
    inference = body.get("inferenceConfig") or {}
    if inference.get("temperature") is None or inference.get("topP") is None:
        return None
    refuses = (family == "opus" and version >= (4, 1)) or (
        family in ("sonnet", "haiku") and version >= (4, 5)
    )
    if not refuses:
        return None
    return (
        f"{_FROM_MODEL}`temperature` and `top_p` cannot both be specified for this model. "
        "Please use only one."
    )


def _sampling_taken(name: str, value: Any) -> bool:
    """Whether a model that refuses sampling takes ``value``: none, or the default."""
    if value is None:
        return True
    if name == "temperature":
        return bool(value == 1)
    return name == "top_p" and isinstance(value, int | float) and value >= 0.99


def _claude5_off_problem(base: str, fields: dict[str, Any], kind: str) -> str | None:
    """Whether a Claude 5 model takes ``kind`` (``disabled`` or ``between_tools``) as off."""
    version = claude_version(base) or (5, 0)
    family = _family(base)
    config = fields.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    sonnet_5_5 = family == "sonnet" and version >= (5, 5)
    if kind == "disabled" and sonnet_5_5:
        return (
            f'{_FROM_MODEL}"thinking.type.disabled" is not supported for this model. Use '
            '"thinking.type.between_tools" to turn off up-front thinking.'
        )
    if kind == "disabled" and (
        family in ("fable", "mythos") or (family == "opus" and version >= (5, 5))
    ):
        return (
            f'{_FROM_MODEL}"thinking.type.disabled" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
        )
    if kind == "between_tools" and not sonnet_5_5:
        return f'{_FROM_MODEL}"thinking.type.between_tools" is not supported for this model.'
    if effort in ("xhigh", "max"):
        return f'{_FROM_MODEL}"thinking.type.{kind}" is supported at effort high or below.'
    return None


def _claude_problem(base: str, body: dict[str, Any], fields: dict[str, Any]) -> str | None:
    version = claude_version(base)
    problem = _claude_effort_problem(base, version, fields.get("output_config"))
    problem = problem or _claude5_problem(base, body, fields)
    thinking = fields.get("thinking")
    if problem or thinking is None:
        return problem
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled", "adaptive", "between_tools"):
        return (
            f"{_FROM_MODEL}thinking.type: Input should be 'enabled', 'disabled', 'adaptive' "
            "or 'between_tools'"
        )
    if kind in ("disabled", "between_tools") and version is not None and version >= (5, 0):
        return _claude5_off_problem(base, fields, kind)
    if kind == "between_tools":
        return f'{_FROM_MODEL}"thinking.type.between_tools" is not supported for this model.'
    if version is not None and version >= (4, 7) and kind != "adaptive":
        return (
            f'{_FROM_MODEL}"thinking.type.{kind}" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking.'
        )
    if kind == "disabled":
        return None
    if version is not None and version < (3, 7):
        return f"{_FROM_MODEL}thinking: this model does not support extended thinking."
    if kind == "adaptive" and (version is None or version < (4, 6)):
        return f"{_FROM_MODEL}thinking.type.adaptive: this model does not support it."
    if kind == "enabled" and (problem := _budget_problem(body, thinking)):
        return problem
    return _claude_sampling_problem(body, fields)


def _budget_problem(body: dict[str, Any], thinking: dict[str, Any]) -> str | None:
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return f"{_FROM_MODEL}thinking.enabled.budget_tokens: Field required"
    if budget < 1024:
        return (
            f"{_FROM_MODEL}thinking.enabled.budget_tokens: Input should be greater than "
            "or equal to 1024"
        )
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
    if isinstance(max_tokens, int) and budget >= max_tokens:
        return f"{_FROM_MODEL}`max_tokens` must be greater than `thinking.budget_tokens`."
    return None


def _claude_sampling_problem(body: dict[str, Any], fields: dict[str, Any]) -> str | None:
    inference = body.get("inferenceConfig") or {}
    temperature = inference.get("temperature")
    if temperature is not None and temperature != 1:
        return (
            f"{_FROM_MODEL}`temperature` may only be set to 1 when thinking is enabled "
            "or in adaptive mode."
        )
    if fields.get("top_k") is not None:
        return f"{_FROM_MODEL}`top_k` must be unset when thinking is enabled."
    top_p = inference.get("topP")
    if top_p is not None and top_p < 0.95:
        return (
            f"{_FROM_MODEL}`top_p` must be greater than or equal to 0.95 or unset when "
            "thinking is enabled."
        )
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if "any" in choice or "tool" in choice:
        return f"{_FROM_MODEL}Thinking may not be enabled when tool_choice forces tool use."
    return None


def _claude_effort_problem(base: str, version: tuple[int, int] | None, config: Any) -> str | None:
    if not isinstance(config, dict) or "effort" not in config:
        return None
    effort = config["effort"]
    if effort not in _CLAUDE_EFFORTS:
        return f"{_FROM_MODEL}output_config.effort: Input should be one of {_CLAUDE_EFFORTS}"
    if version is None or not (version >= (4, 6) or "opus-4-5" in base):
        return f"{_FROM_MODEL}output_config.effort: effort is not supported on this model."
    if (effort == "xhigh" and version < (4, 7)) or (effort == "max" and version < (4, 6)):
        return f"{_FROM_MODEL}output_config.effort: {effort!r} is not supported on this model."
    return None


def _nova_problem(body: dict[str, Any], config: Any) -> str | None:
    if not isinstance(config, dict) or config.get("type") not in ("enabled", "disabled"):
        return malformed("#/reasoningConfig/type", "expected one of [enabled, disabled]")
    effort = config.get("maxReasoningEffort")
    if effort is not None and effort not in _EFFORTS:
        return malformed(
            "#/reasoningConfig/maxReasoningEffort", f"{effort} is not a valid enum value"
        )
    inference = body.get("inferenceConfig") or {}
    unset = [k for k in ("maxTokens", "temperature", "topP") if k in inference]
    if config["type"] == "enabled" and effort == "high" and unset:
        return (
            f"{_FROM_MODEL}inferenceConfig.{unset[0]} must not be set when "
            "reasoningConfig.maxReasoningEffort is high."
        )
    return None


def sent_reasoning(model_id: str, body: dict[str, Any]) -> Reasoning | None:
    """The thinking setting a Converse ``body`` to ``model_id`` carries, as the model reads it.

    Claude before 5 and Nova 2 think only when asked (nothing sent is
    ``Reasoning("none")``); Claude 5 thinks by default and gpt-oss always reasons
    (nothing sent is ``None``, their default effort); other models take no setting
    (``None``). Claude's ``disabled`` and ``between_tools`` are off.
    """
    base = base_model_id(model_id)
    fields = body.get("additionalModelRequestFields")
    fields = fields if isinstance(fields, dict) else {}
    if base.startswith("anthropic.claude"):
        return _claude_sent(base, fields)
    if base.startswith("amazon.nova-2"):
        config = fields.get("reasoningConfig") or {}
        if config.get("type") != "enabled":
            return Reasoning("none")
        effort = config.get("maxReasoningEffort")
        return Reasoning(effort) if effort else Reasoning()
    if base.startswith("openai.gpt-oss") and fields.get("reasoning_effort"):
        return Reasoning(fields["reasoning_effort"])
    return None


def _claude_sent(base: str, fields: dict[str, Any]) -> Reasoning | None:
    thinking = fields.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    config = fields.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if kind == "enabled":
        return Reasoning(budget_tokens=thinking["budget_tokens"])  # type: ignore[index]
    if kind is None and (claude_version(base) or (0, 0)) >= (5, 0):
        return None if effort is None else Reasoning(effort)
    if kind != "adaptive":
        return Reasoning("none")
    if effort is None:
        return Reasoning()
    return Reasoning(effort)
