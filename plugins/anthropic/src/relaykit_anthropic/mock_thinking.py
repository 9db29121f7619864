"""The mock's checks of the ``thinking`` field and ``output_config.effort``, as the API makes them.

From Anthropic's extended- and adaptive-thinking guides (and, for the models
that take adaptive thinking only, Bedrock's copy of them), and for Claude 5
each model's "What's new" and migration pages (read 2026-12-02):

- ``thinking.type`` is ``enabled`` (with ``budget_tokens``: at least 1,024
  and below ``max_tokens``), ``disabled``, ``adaptive`` or ``between_tools``.
- Claude before 3.7 does not think; adaptive thinking comes with Claude 4.6;
  Opus 4.7 on refuse ``enabled``, and 4.7 and 4.8 (as Bedrock documents it)
  ``disabled``.
- Claude 5 thinks without a ``thinking`` field. Opus 5, Sonnet 5 and Haiku 5.5
  take ``disabled`` (Opus 5 and Haiku 5.5 at effort ``high`` or below); Opus
  5.5, Fable 5 and 5.1, Mythos 5 and 5.1 refuse it; Sonnet 5.5 refuses it and
  takes ``between_tools`` instead, at effort ``high`` or below; no other model
  takes ``between_tools``.
- With thinking on: ``temperature`` 1 or unset, ``top_k`` unset, ``top_p``
  0.95 or more, and no forced tool (``tool_choice`` ``any`` or ``tool``).
- Whatever the thinking: Opus 5.5, Sonnet 5.5, Fable 5.1 and Mythos 5.1
  refuse a forced tool; Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable and
  Mythos refuse a ``temperature`` other than 1, a ``top_p`` under 0.99 (the
  API's default; 1 is taken too) and any ``top_k`` ("temperature is
  deprecated for this model"; Anthropic's migration guide); Opus 4.1 to 4.6,
  Sonnet 4.5 and 4.6 and Haiku 4.5 refuse ``temperature`` and ``top_p``
  together, whatever their values ("Migrating to Claude 4.5"; a ``null`` is
  no value). The models that take only the defaults take both defaults here
  (no page says otherwise).
- ``output_config.effort`` is ``low``, ``medium``, ``high``, ``xhigh`` (Opus
  4.7 on) or ``max`` (4.6 on), on Claude Opus 4.5 and 4.6 on.

Messages quote the API where its wording is known; the rest are the mock's.
The model's version is read from its name here, apart from the client's own
reading, so that the mock catches the client's mistakes rather than sharing them.
"""

from __future__ import annotations

import re
from typing import Any

from relaykit import Reasoning

_DOCS = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude"
#: the API's refusal of ``temperature`` and ``top_p`` together (reported verbatim, e.g.
#: charmbracelet/mods#618)
_BOTH_SAMPLERS = (
    "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
)
_TYPES = ("enabled", "disabled", "adaptive", "between_tools")
#: what adaptive thinking's ``display`` takes (the mock's reading: Claude 4.7 on
#: omit the thinking text unless it is ``summarized``)
_DISPLAYS = ("summarized", "omitted")
_EFFORTS = ("low", "medium", "high", "xhigh", "max")


def model_version(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a Claude model name (``claude-opus-4-6``, ``claude-3-7-sonnet``)."""
    found = re.search(r"claude-[a-z]+-(\d+)(?:-(\d\d?))?(?!\d)", model) or re.search(
        r"claude-(\d+)(?:-(\d\d?))?-[a-z]", model
    )
    return (int(found.group(1)), int(found.group(2) or 0)) if found else None


def _family(model: str) -> str:
    found = re.search(r"claude-([a-z]+)-\d", model)
    return found.group(1) if found else ""


def _always_thinks(model: str, version: tuple[int, int]) -> bool:
    family = _family(model)
    return family in ("fable", "mythos") or (family == "opus" and version >= (5, 5))


def _refuses_forced_tool(model: str, version: tuple[int, int] | None) -> bool:
    family = _family(model)
    if version is None or version < (5, 1):
        return False
    return (family in ("fable", "mythos")) or (family in ("opus", "sonnet") and version >= (5, 5))


def _refuses_sampling(model: str, version: tuple[int, int] | None) -> bool:
    family = _family(model)
    if version is None:
        return False
    return (
        family in ("fable", "mythos")
        or (family == "opus" and version >= (4, 7))
        or (family in ("sonnet", "haiku") and version >= (5, 0))
    )


def _refuses_sampling_pair(model: str, version: tuple[int, int] | None) -> bool:
    family = _family(model)
    if version is None or _refuses_sampling(model, version):
        return False
    return (family == "opus" and version >= (4, 1)) or (
        family in ("sonnet", "haiku") and version >= (4, 5)
    )


def _sampling_taken(name: str, value: Any) -> bool:
    """Whether a model that refuses sampling takes ``value``: none, or the default."""
    if value is None:
        return True
    if name == "temperature":
        return bool(value == 1)
    return name == "top_p" and isinstance(value, int | float) and value >= 0.99


def thinking_problem(body: dict[str, Any]) -> str | None:
    """What the API would refuse in ``body``'s thinking setting, or ``None``."""
    model = str(body.get("model"))
    version = model_version(model)
    problem = _effort_problem(body, version) or _model_problem(body, model, version)
    thinking = body.get("thinking")
    if problem or thinking is None:
        return problem
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in _TYPES:
        expected = ", ".join(f"'{t}'" for t in _TYPES)
        return (
            f"thinking.type: Input tag {kind!r} found using 'type' does not match any "
            f"of the expected tags: {expected}"
        )
    if kind in ("disabled", "between_tools") and version is not None and version >= (5, 0):
        return _off_problem(body, model, version, kind)
    if kind == "between_tools":
        return f'"thinking.type.between_tools" is not supported for this model ({model}).'
    if version is not None and version >= (4, 7) and kind != "adaptive":
        return (
            f'"thinking.type.{kind}" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking.'
        )
    display = thinking.get("display")
    if display is not None and (kind != "adaptive" or display not in _DISPLAYS):
        expected = ", ".join(f"'{d}'" for d in _DISPLAYS)
        return f"thinking.display: expected one of {expected} with adaptive thinking"
    if kind == "disabled":
        return None
    if version is not None and version < (3, 7):
        return f"thinking: {body['model']} does not support extended thinking."
    if kind == "adaptive" and (version is None or version < (4, 6)):
        return f"thinking.type.adaptive: {body['model']} does not support adaptive thinking."
    return (_budget_problem(body, thinking) if kind == "enabled" else None) or _sampling_problem(
        body
    )


def _off_problem(
    body: dict[str, Any], model: str, version: tuple[int, int], kind: str
) -> str | None:
    """Whether a Claude 5 model takes ``kind`` (``disabled`` or ``between_tools``) as off."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    sonnet_5_5 = _family(model) == "sonnet" and version >= (5, 5)
    if kind == "disabled" and sonnet_5_5:
        return (
            '"thinking.type.disabled" is not supported for this model. Use '
            '"thinking.type.between_tools" to turn off up-front thinking.'
        )
    if kind == "disabled" and _always_thinks(model, version):
        return (
            '"thinking.type.disabled" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
        )
    if kind == "between_tools" and not sonnet_5_5:
        return f'"thinking.type.between_tools" is not supported for this model ({model}).'
    if effort in ("xhigh", "max"):
        return f'"thinking.type.{kind}" is supported at effort high or below, not {effort!r}.'
    return None


def _model_problem(body: dict[str, Any], model: str, version: tuple[int, int] | None) -> str | None:
    """What a model refuses whatever its thinking: a forced tool (Claude 5), sampling."""
    choice = body.get("tool_choice")
    forced = isinstance(choice, dict) and choice.get("type") in ("any", "tool")
    if forced and _refuses_forced_tool(model, version):
        return 'tool_choice: type "tool" and "any" are not supported for this model.'
    if _refuses_sampling(model, version):
        for name in ("temperature", "top_p", "top_k"):
            if not _sampling_taken(name, body.get(name)):
                return f"`{name}` is deprecated for this model."
    both = body.get("temperature") is not None and body.get("top_p") is not None
    if both and _refuses_sampling_pair(model, version):
        return _BOTH_SAMPLERS
    return None


def _budget_problem(body: dict[str, Any], thinking: dict[str, Any]) -> str | None:
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return "thinking.enabled.budget_tokens: Field required"
    if budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and budget >= max_tokens:
        return (
            "`max_tokens` must be greater than `thinking.budget_tokens`. "
            f"{_DOCS}/extended-thinking#max-tokens-and-context-window-size"
        )
    return None


def _sampling_problem(body: dict[str, Any]) -> str | None:
    """What thinking does not go with: sampling changes and a forced tool."""
    at = f"{_DOCS}/extended-thinking#feature-compatibility"
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return (
            f"`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. {at}"
        )
    if body.get("top_k") is not None:
        return f"`top_k` must be unset when thinking is enabled. {at}"
    top_p = body.get("top_p")
    if top_p is not None and top_p < 0.95:
        return (
            f"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. {at}"
        )
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def _effort_problem(body: dict[str, Any], version: tuple[int, int] | None) -> str | None:
    config = body.get("output_config")
    if not isinstance(config, dict) or "effort" not in config:
        return None
    effort = config["effort"]
    if effort not in _EFFORTS:
        listed = ", ".join(f"'{e}'" for e in _EFFORTS[:-1])
        return f"output_config.effort: Input should be {listed} or '{_EFFORTS[-1]}'"
    model = str(body["model"])
    if version is None or not (version >= (4, 6) or "opus-4-5" in model):
        return f"output_config.effort: effort is not supported on {model}."
    if effort == "xhigh" and version < (4, 7):
        return f"output_config.effort: 'xhigh' is not supported on {model}."
    if effort == "max" and version < (4, 6):
        return f"output_config.effort: 'max' is not supported on {model}."
    return None


def sent_reasoning(body: dict[str, Any]) -> Reasoning | None:
    """The thinking setting a Messages body carries: a budget, or an adaptive effort
    (``max`` read as ``xhigh``, the most relaykit names); off when ``thinking`` is
    ``disabled`` or ``between_tools``. Without ``thinking``, off before Claude 5
    (which thinks only when asked); on Claude 5, which thinks by default, the
    effort sent, or ``None`` when nothing is: the model's own default."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if kind == "enabled":
        return Reasoning(budget_tokens=thinking["budget_tokens"])  # type: ignore[index]
    if kind is None and (model_version(str(body.get("model"))) or (0, 0)) >= (5, 0):
        return None if effort is None else Reasoning(effort)
    if kind != "adaptive":
        return Reasoning("none")
    display = thinking.get("display")  # type: ignore[union-attr]
    summary = None if display is None else display == "summarized"
    if effort is None:
        return Reasoning(summary=summary)
    return Reasoning(effort, summary=summary)
