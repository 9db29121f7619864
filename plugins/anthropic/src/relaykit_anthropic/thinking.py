"""``reasoning=`` as Claude takes it: the Messages API's ``thinking`` field.

Before Claude 5, Claude thinks only when asked; Claude 5 models think by
default. Which shape a setting takes depends on the model, read from its name
(:func:`thinking_style`, :func:`claude5`):

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
- Claude 4.6 on (Opus 4.6, Sonnet 4.6, Opus 4.7, Opus 4.8, and Claude 5):
  adaptive thinking, ``{"type": "adaptive"}``, with the effort in
  ``output_config.effort`` (``minimal`` is sent as ``low``, the least Claude
  takes; ``xhigh`` as ``high`` before 4.7, which added it; Claude 5 models take
  all of ``low`` to ``max``). These models take no budget (Opus 4.7 on refuse
  one, 4.6 deprecates it), so a budget goes as the effort it stands for
  (:meth:`relaykit.Reasoning.level`); ``reasoning=True`` sends no effort (the
  model's default). On Claude 4.6 to 4.8 thinking off sends no ``thinking`` at
  all: off is their default, and Bedrock documents ``disabled`` as refused on
  Opus 4.7.
- Claude 5 thinks by default, so thinking off must be sent, and not every
  model can stop (each model's "What's new" and migration pages on
  platform.claude.com, read 2026-12-02):

  - Opus 5, Sonnet 5 and Haiku 5.5: ``reasoning="none"`` sends
    ``{"type": "disabled"}``;
  - Sonnet 5.5: it sends ``{"type": "between_tools"}``;
  - Opus 5.5, Fable 5 and 5.1, Mythos 5 and 5.1: it is refused before
    sending, since they always think (the API answers ``disabled`` with a 400).

  Their default effort is ``high``, but ``medium`` on Opus 5.5 and Haiku 5.5.

  ``disabled`` is taken at effort ``high`` or below (Opus 5, Haiku 5.5), and
  relaykit sends no effort with it. ``between_tools`` is what Anthropic gives
  Sonnet 5.5 (which refuses ``disabled``) to turn off the thinking before an
  answer: with no tools the answer is text only, and with tools the short
  notes Claude writes between tool calls still come back as thinking blocks
  (reasoning parts). A Claude 5 model not named here (a later minor version,
  a new name) is sent ``disabled``: if it cannot stop, the API says so with a
  400, rather than thinking while the caller asked it not to.
- Claude before 3.7 does not think: thinking off sends nothing, and any
  other setting is refused before sending, so a route falls back.

With thinking on, Claude refuses a ``temperature`` other than 1, a
``top_p`` under 0.95 and a forced tool (``tool_choice`` ``"required"`` or a
tool's name, and so JSON output emulated with a tool); relaykit refuses such a
call before sending it, rather than let the API answer 400 (or, on the Claude
5 models that take a forced tool by skipping their thinking, quietly not
think as asked). Opus 5.5, Sonnet 5.5, Fable 5.1 and Mythos 5.1 refuse a
forced tool whatever the thinking setting, so it is refused before sending
for them even without ``reasoning=`` (:func:`check_forced_tool`).

Without ``reasoning=`` nothing is sent and the model's default applies: Claude
5 models think, at their default effort, and the checks above are not made
for them (but the forced tool one where the model never takes it): what they
take alongside their default thinking differs by model (Opus 5 and Sonnet 5
took a forced tool, skipping the thinking), and the API answers what it
refuses with its own 400. Pass ``reasoning=`` to have relaykit check the call
first. The models that refuse a non-default ``temperature``, ``top_p`` or
``top_k`` whatever their thinking (Claude Opus 4.7 on, Sonnet 5 on, Haiku 5.5,
Fable and Mythos) are checked for it in every call, first: see :mod:`.sampling`.
Their default ``max_tokens`` leaves room for that thinking (see
:func:`default_room`).

``summary`` goes to adaptive models as ``thinking.display`` (``summarized``
or ``omitted``: Claude 4.7 on omit the thinking text unless asked); models with
a budget return their (summarised) thinking anyway, so it is not sent to them.

``extra={"thinking": ...}`` replaces all of this: it is sent as given, and
``reasoning=`` is then ignored.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NamedTuple

from relaykit import InvalidRequestError, Reasoning
from relaykit.request import EFFORT_BUDGETS, Effort

#: the least ``budget_tokens`` the API takes
MIN_BUDGET = 1024

#: how a model takes a thinking setting: a budget, adaptive thinking, or not at all
ThinkingStyle = Literal["budget", "adaptive", "none"]

# Claude 4 on: claude-opus-4-6, claude-sonnet-4-5-20250929, claude-opus-4-20250514
# (a date is no minor version: eight digits). Claude 3: claude-3-7-sonnet-20250219.
_VERSION = re.compile(r"claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?!\d)")
_OLD_VERSION = re.compile(r"claude-(\d+)(?:-(\d{1,2}))?-[a-z]")
_FAMILY = re.compile(r"claude-([a-z]+)-\d")


class Claude5(NamedTuple):
    """What a Claude 5 model takes: it thinks unless told not to, where it can be."""

    #: the model in words, for messages ("Claude Opus 5.5")
    name: str
    #: the ``thinking.type`` that turns its thinking off, or ``None``: it always thinks
    off: Literal["disabled", "between_tools"] | None
    #: the effort it thinks at when none is sent
    default_effort: Effort
    #: whether it takes a forced tool (``tool_choice`` ``any`` or ``tool``) at all
    forced_tool: bool


def claude_version(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` of the Claude model ``model`` names, or ``None`` when it names none."""
    name = model.lower()
    found = _VERSION.search(name) or _OLD_VERSION.search(name)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def claude5(model: str) -> Claude5 | None:
    """What ``model`` takes if it is a Claude 5 model (or later), else ``None``.

    From each model's "What's new" and migration pages on platform.claude.com
    (read 2026-12-02): Opus 5.5, Fable 5.1 and Mythos 5.1 (and Fable 5, Mythos 5)
    refuse ``disabled``; Sonnet 5.5 refuses it and takes ``between_tools``; Opus 5,
    Sonnet 5 and Haiku 5.5 take it. Opus 5.5, Sonnet 5.5, Fable 5.1 and Mythos 5.1
    refuse a forced tool. Opus 5.5 and Haiku 5.5 default to effort ``medium``,
    the others to ``high``. A model the pages do not name is sent ``disabled``.
    """
    version = claude_version(model)
    if version is None or version < (5, 0):
        return None
    found = _FAMILY.search(model.lower())
    family = found.group(1) if found else "claude"
    major, minor = version
    name = f"Claude {family.title()} {major}" + (f".{minor}" if minor else "")
    if major == 5:
        if family in ("fable", "mythos"):
            return Claude5(name, None, "high", forced_tool=version < (5, 1))
        if family == "opus" and version >= (5, 5):
            return Claude5(name, None, "medium", forced_tool=False)
        if family == "sonnet" and version >= (5, 5):
            return Claude5(name, "between_tools", "high", forced_tool=False)
        if family == "haiku":
            return Claude5(name, "disabled", "medium", forced_tool=True)
    # Opus 5, Sonnet 5, and what the pages do not name yet: a model that cannot
    # stop thinking answers "disabled" with a 400, rather than think unasked.
    return Claude5(name, "disabled", "high", forced_tool=True)


def thinking_style(model: str) -> ThinkingStyle:
    """How ``model`` takes a thinking setting (see the module's description)."""
    version = claude_version(model)
    if version is None:
        return "budget"
    if version < (3, 7):
        return "none"
    return "adaptive" if version >= (4, 6) else "budget"


def room(reasoning: Reasoning, model: str = "") -> int:
    """The tokens thinking needs on top of an answer's: its budget, or the effort's
    (with none given, the model's default effort for Claude 5, else ``medium``)."""
    tokens = reasoning.tokens()
    if tokens is None:
        rules = claude5(model)
        tokens = EFFORT_BUDGETS[rules.default_effort if rules else "medium"]
    return max(tokens, MIN_BUDGET)


def default_room(model: str) -> int:
    """The tokens ``model`` thinks on top of an answer's when no ``reasoning=`` is
    given: its default effort's (:data:`~relaykit.request.EFFORT_BUDGETS`) for a
    Claude 5 model, which thinks by default, else none.

    Anthropic's Opus 5 and Sonnet 5 migration guides: max_tokens stays a hard
    limit on thinking and answer together, so revisit it for workloads that ran
    without thinking before.
    """
    rules = claude5(model)
    return 0 if rules is None else EFFORT_BUDGETS[rules.default_effort]


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
    """``thinking: {"type": "adaptive"}`` and the effort, for Claude 4.6 on; or what
    turns thinking off."""
    if reasoning.off:
        return off_fields(model)
    out: dict[str, Any] = {"thinking": adaptive_thinking(reasoning)}
    level = reasoning.level()
    if level is not None:
        newer = (claude_version(model) or (0, 0)) >= (4, 7)
        effort = {"minimal": "low", "xhigh": "xhigh" if newer else "high"}.get(level, level)
        out["output_config"] = {"effort": effort}
    return out


def off_fields(model: str) -> dict[str, Any]:
    """What turns an adaptive model's thinking off: nothing before Claude 5 (off is
    their default), the model's own ``thinking`` type on Claude 5; refused for the
    Claude 5 models that always think."""
    rules = claude5(model)
    if rules is None:
        return {}
    if rules.off is None:
        raise InvalidRequestError(
            f"{rules.name} always thinks: it takes no reasoning='none' "
            "(the API refuses thinking disabled on it)",
            model=model,
            param="reasoning",
            hint="ask for the least effort (reasoning='low'), or use a Claude model that "
            "can stop thinking (Opus 5, Sonnet 5, Sonnet 5.5, Haiku 5.5)",
        )
    return {"thinking": {"type": rules.off}}


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
    # Not every Claude 5 model can stop thinking: offer that fix only where it is one.
    rules = claude5(model)
    stops = rules is None or rules.off is not None
    off = ", or turn thinking off (reasoning='none')" if stops else ""
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise _incompatible(
            f"Claude takes no temperature but 1 while it thinks (temperature={temperature})",
            model,
            f"drop temperature{off}",
        )
    top_p = body.get("top_p")
    if top_p is not None and top_p < 0.95:
        raise _incompatible(
            f"Claude takes no top_p under 0.95 while it thinks (top_p={top_p})",
            model,
            f"drop top_p or raise it to 0.95{off}",
        )
    choice = body.get("tool_choice") or {}
    if choice.get("type") in ("any", "tool"):
        raise _incompatible(
            "Claude cannot think while a tool is forced",
            model,
            "JSON output here is emulated with a forced tool: use a JSON schema "
            f"response_format with structured_output = 'native'{off}"
            if emulated
            else f"use tool_choice='auto' (or 'none'){off}",
        )


def check_forced_tool(body: dict[str, Any], model: str, *, emulated: bool) -> None:
    """Refuse a forced tool in ``body`` for the Claude 5 models that never take one
    (Opus 5.5, Sonnet 5.5, Fable 5.1, Mythos 5.1), whatever the thinking setting:
    the API answers it with a 400 ("What's new in Claude Opus 5.5")."""
    rules = claude5(model)
    choice = body.get("tool_choice") or {}
    if rules is None or rules.forced_tool or choice.get("type") not in ("any", "tool"):
        return
    raise InvalidRequestError(
        f"{rules.name} takes no forced tool (tool_choice 'required' or a tool's name)",
        model=model,
        param="response_format" if emulated else "tool_choice",
        hint="JSON output here is emulated with a forced tool: use a JSON schema "
        "response_format with structured_output = 'native'"
        if emulated
        else "use tool_choice='auto' and say in the prompt which tool to call",
    )


def _incompatible(message: str, model: str, hint: str) -> InvalidRequestError:
    return InvalidRequestError(message, model=model, param="reasoning", hint=hint)
