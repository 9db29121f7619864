"""``reasoning=`` as Claude takes it: the Messages API's ``thinking`` field.

Claude thinks only when asked. Which shape it takes depends on the model,
read from its name (:func:`thinking_style`):

- Claude 3.7 through 4.5, and any model whose name carries no Claude version
  (a gateway's alias, a compatible service): a budget,
  ``{"type": "enabled", "budget_tokens": N}``, or ``{"type": "disabled"}``.
  ``N`` is the budget given, or the effort's (:data:`relaykit.request.EFFORT_BUDGETS`;
  ``reasoning=True`` is ``medium``'s), raised to the API's minimum of 1,024.
  It must stay below ``max_tokens``, which caps thinking and answer together:
  without a ``max_tokens`` the budget is added to the default one; with one,
  an effort's budget is cut to half of it (never below 1,024), so that the
  answer keeps the other half, and a budget given in tokens is sent as it is.
  One that cannot fit is refused before sending (:class:`~relaykit.InvalidRequestError`,
  ``param="reasoning"``).
- Claude 4.6 on (Opus 4.6, Sonnet 4.6, Opus 4.7, ...): adaptive thinking,
  ``{"type": "adaptive"}``, with the effort in ``output_config.effort``
  (``minimal`` is sent as ``low``, the least Claude takes; ``xhigh`` as
  ``high`` before 4.7, which added it). These models take no budget (Opus
  4.7 on refuse one, 4.6 deprecates it), so a budget goes as the effort it
  stands for (:meth:`relaykit.Reasoning.level`); ``reasoning=True`` sends no
  effort (the model's default). Thinking off sends no ``thinking`` at all:
  off is their default, and Bedrock documents ``disabled`` as refused from
  Opus 4.7 on.
- Claude before 3.7 does not think: thinking off sends nothing, and any
  other setting is refused before sending, so a route falls back.

With thinking on, Claude refuses a ``temperature`` other than 1, a
``top_p`` under 0.95 and a forced tool (``tool_choice`` ``"required"`` or a
tool's name, and so JSON output emulated with a tool); relaykit refuses such a
call before sending it, rather than let the API answer 400.

``summary`` goes to adaptive models as ``thinking.display`` (``summarized``
or ``omitted``: Claude 4.7 on omit the thinking text unless asked); models with
a budget return their (summarised) thinking anyway, so it is not sent to them.

``extra={"thinking": ...}`` replaces all of this: it is sent as given, and
``reasoning=`` is then ignored.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from relaykit import InvalidRequestError, Reasoning
from relaykit.request import EFFORT_BUDGETS

#: the least ``budget_tokens`` the API takes
MIN_BUDGET = 1024

#: how a model takes a thinking setting: a budget, adaptive thinking, or not at all
ThinkingStyle = Literal["budget", "adaptive", "none"]

# Claude 4 on: claude-opus-4-6, claude-sonnet-4-5-20250929, claude-opus-4-20250514
# (a date is no minor version: eight digits). Claude 3: claude-3-7-sonnet-20250219.
_VERSION = re.compile(r"claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?!\d)")
_OLD_VERSION = re.compile(r"claude-(\d+)(?:-(\d{1,2}))?-[a-z]")


def claude_version(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` of the Claude model ``model`` names, or ``None`` when it names none."""
    name = model.lower()
    found = _VERSION.search(name) or _OLD_VERSION.search(name)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def thinking_style(model: str) -> ThinkingStyle:
    """How ``model`` takes a thinking setting (see the module's description)."""
    version = claude_version(model)
    if version is None:
        return "budget"
    if version < (3, 7):
        return "none"
    return "adaptive" if version >= (4, 6) else "budget"


def room(reasoning: Reasoning) -> int:
    """The tokens thinking needs on top of an answer's: its budget, or the effort's."""
    return max(reasoning.tokens() or EFFORT_BUDGETS["medium"], MIN_BUDGET)


def fields(reasoning: Reasoning, model: str, max_tokens: int | None) -> dict[str, Any]:
    """The body fields ``reasoning`` becomes for ``model``: ``thinking``, and for an
    adaptive effort ``output_config.effort``; empty when nothing is sent.

    ``max_tokens`` is the caller's, or ``None`` when the default is raised to fit.
    """
    style = thinking_style(model)
    if style == "none":
        if reasoning.off:
            return {}
        raise InvalidRequestError(
            "Claude before 3.7 does not think, so it takes no reasoning setting",
            model=model,
            param="reasoning",
            hint="use Claude 3.7 Sonnet or a Claude 4 model, or drop reasoning=",
        )
    if style == "adaptive":
        return adaptive_fields(reasoning, model)
    if reasoning.off:
        return {"thinking": {"type": "disabled"}}
    return {"thinking": {"type": "enabled", "budget_tokens": budget(reasoning, model, max_tokens)}}


def adaptive_fields(reasoning: Reasoning, model: str) -> dict[str, Any]:
    """``thinking: {"type": "adaptive"}`` and the effort, for Claude 4.6 on."""
    if reasoning.off:
        return {}
    out: dict[str, Any] = {"thinking": adaptive_thinking(reasoning)}
    level = reasoning.level()
    if level is not None:
        newer = (claude_version(model) or (0, 0)) >= (4, 7)
        effort = {"minimal": "low", "xhigh": "xhigh" if newer else "high"}.get(level, level)
        out["output_config"] = {"effort": effort}
    return out


def adaptive_thinking(reasoning: Reasoning) -> dict[str, Any]:
    """The ``thinking`` object of adaptive thinking, with ``display`` when
    ``reasoning.summary`` says whether the thinking text comes back: Claude 4.7 on
    omit it unless asked (``"summarized"``); ``"omitted"`` keeps only the signature."""
    thinking: dict[str, Any] = {"type": "adaptive"}
    if reasoning.summary is not None:
        thinking["display"] = "summarized" if reasoning.summary else "omitted"
    return thinking


def budget(reasoning: Reasoning, model: str, max_tokens: int | None) -> int:
    """The ``budget_tokens`` to send: see the module's description for the rules."""
    wanted = room(reasoning)
    if max_tokens is None:
        return wanted  # the default max_tokens is raised around it
    if reasoning.budget_tokens is None:
        # An effort is a wish and max_tokens a cap: the answer keeps half the cap.
        wanted = max(MIN_BUDGET, min(wanted, max_tokens // 2))
    if wanted < max_tokens:
        return wanted
    if reasoning.budget_tokens is None:
        raise InvalidRequestError(
            f"max_tokens={max_tokens} leaves no room for Claude's least thinking budget "
            f"({MIN_BUDGET} tokens): max_tokens caps thinking and answer together",
            model=model,
            param="reasoning",
            hint=f"raise max_tokens above {MIN_BUDGET}, or turn thinking off (reasoning='none')",
        )
    raise InvalidRequestError(
        f"a thinking budget of {wanted} tokens does not fit in max_tokens={max_tokens}: "
        "Claude's budget must be below max_tokens, which caps thinking and answer together",
        model=model,
        param="reasoning",
        hint=f"raise max_tokens above {wanted}, or lower the budget",
    )


def check_compatible(body: dict[str, Any], model: str, *, emulated: bool) -> None:
    """Refuse what Claude refuses alongside thinking in ``body``: a temperature other
    than 1, a ``top_p`` under 0.95, a forced tool (``emulated``: one that carries JSON
    output)."""
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise _incompatible(
            f"Claude takes no temperature but 1 while it thinks (temperature={temperature})",
            model,
            "drop temperature, or turn thinking off (reasoning='none')",
        )
    top_p = body.get("top_p")
    if top_p is not None and top_p < 0.95:
        raise _incompatible(
            f"Claude takes no top_p under 0.95 while it thinks (top_p={top_p})",
            model,
            "drop top_p or raise it to 0.95, or turn thinking off (reasoning='none')",
        )
    choice = body.get("tool_choice") or {}
    if choice.get("type") in ("any", "tool"):
        raise _incompatible(
            "Claude cannot think while a tool is forced",
            model,
            "JSON output here is emulated with a forced tool: use a JSON schema "
            "response_format with structured_output = 'native', or turn thinking off"
            if emulated
            else "use tool_choice='auto' (or 'none'), or turn thinking off (reasoning='none')",
        )


def _incompatible(message: str, model: str, hint: str) -> InvalidRequestError:
    return InvalidRequestError(message, model=model, param="reasoning", hint=hint)
