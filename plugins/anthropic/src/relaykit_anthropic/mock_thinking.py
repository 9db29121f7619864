"""The mock's checks of the ``thinking`` field and ``output_config.effort``, as the API makes them.

From Anthropic's extended- and adaptive-thinking guides (and, for the models
that take adaptive thinking only, Bedrock's copy of them):

- ``thinking.type`` is ``enabled`` (with ``budget_tokens``: at least 1,024
  and below ``max_tokens``), ``disabled`` or ``adaptive``.
- Claude before 3.7 does not think; adaptive thinking comes with Claude 4.6;
  Opus 4.7 on take nothing else (``enabled`` and, as Bedrock documents it,
  ``disabled`` are refused).
- With thinking on: ``temperature`` 1 or unset, ``top_k`` unset, ``top_p``
  0.95 or more, and no forced tool (``tool_choice`` ``any`` or ``tool``).
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
_TYPES = ("enabled", "disabled", "adaptive")
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


def thinking_problem(body: dict[str, Any]) -> str | None:
    """What the API would refuse in ``body``'s thinking setting, or ``None``."""
    version = model_version(str(body.get("model")))
    problem = _effort_problem(body, version)
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


def sent_reasoning(body: dict[str, Any]) -> Reasoning:
    """The thinking setting a Messages body carries: off unless ``thinking`` turns it on
    (Claude does not think unless asked); a budget, or an adaptive effort (``max``
    read as ``xhigh``, the most relaykit names)."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        return Reasoning(budget_tokens=thinking["budget_tokens"])  # type: ignore[index]
    if kind != "adaptive":
        return Reasoning("none")
    display = thinking.get("display")  # type: ignore[union-attr]
    summary = None if display is None else display == "summarized"
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort is None:
        return Reasoning(summary=summary)
    return Reasoning(effort, summary=summary)
