"""``reasoning=`` as Claude takes it: the Messages API's ``thinking`` field.

Before Claude 5, Claude thinks only when asked; Claude 5 models think by
default. Which shape a setting takes depends on the model, read from its name
(:mod:`relaykit_claude_models.thinking_rules`: ``thinking_style``, ``claude5``), or
from the model a deployment serves (a Foundry deployment's name says nothing):

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

With thinking on, Claude refuses a ``temperature`` other than 1, any
``top_k`` (which only ``extra`` gives), a ``top_p`` under 0.95 and a forced
tool (``tool_choice`` ``"required"`` or a tool's name, and so JSON output
emulated with a tool); relaykit refuses such a call before sending it (what the
body will carry: ``extra``'s ``temperature``, ``top_p``, ``top_k`` and
``tool_choice``, when it gives them, replace relaykit's), rather than let the
API answer 400 (or, on the Claude 5 models that take a forced tool by
skipping their thinking, quietly not think as asked). Opus 5.5, Sonnet 5.5,
Fable 5.1 and Mythos 5.1 refuse a forced tool whatever the thinking setting,
so it is refused before sending for them even without ``reasoning=``
(:func:`check_forced_tool`).

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
:func:`relaykit_claude_models.default_room`).

``summary`` goes to adaptive models as ``thinking.display`` (``summarized``
or ``omitted``: Claude 4.7 on omit the thinking text unless asked); models with
a budget return their (summarised) thinking anyway, so it is not sent to them.

``extra={"thinking": ...}`` replaces all of this: it is sent as given, and
``reasoning=`` is then ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaykit import Reasoning
from relaykit_claude_models import (
    adaptive_fields,
    check_while_thinking,
    no_thinking,
    thinking_budget,
    thinking_style,
)
from relaykit_claude_models import check_forced_tool as _check_forced_tool


def fields(
    reasoning: Reasoning, model: str, max_tokens: int | None, served: str | None = None
) -> dict[str, Any]:
    """The body fields ``reasoning`` becomes for ``model`` (or ``served``, the Claude
    model a deployment named ``model`` serves): ``thinking``, and for an adaptive
    effort ``output_config.effort``; empty when nothing is sent.

    ``max_tokens`` is the caller's, or ``None`` when the default is raised to fit.
    """
    style = thinking_style(served or model)
    if style == "none":
        if reasoning.off:
            return {}
        raise no_thinking(model)
    if style == "adaptive":
        return adaptive_fields(reasoning, model, served)
    if reasoning.off:
        return {"thinking": {"type": "disabled"}}
    budget = thinking_budget(reasoning, model, max_tokens)
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def check_compatible(
    body: dict[str, Any],
    extra: Mapping[str, Any],
    sampling: Mapping[str, Any],
    model: str,
    *,
    emulated: bool,
    served: str | None = None,
) -> None:
    """Refuse what Claude refuses alongside thinking: a temperature other than 1, any
    ``top_k``, a ``top_p`` under 0.95 (in ``sampling``, the values the body will
    carry: :func:`relaykit_anthropic.sampling.sampling_values`, ``extra``'s winning),
    a forced tool in ``body`` or ``extra``'s ``tool_choice``, which replaces it
    (``emulated``: relaykit's own choice forces a tool that carries JSON output)."""
    forced, given = _forced(body, extra)
    check_while_thinking(
        model,
        temperature=sampling.get("temperature"),
        top_p=sampling.get("top_p"),
        top_k=sampling.get("top_k"),
        forced=forced,
        emulated=emulated,
        extra_choice=given,
        served=served,
    )


def check_forced_tool(
    body: dict[str, Any],
    extra: Mapping[str, Any],
    model: str,
    *,
    emulated: bool,
    served: str | None = None,
) -> None:
    """Refuse a forced tool (in ``body``, or ``extra``'s ``tool_choice``, which replaces
    it) for the Claude 5 models that never take one (Opus 5.5, Sonnet 5.5, Fable 5.1,
    Mythos 5.1), whatever the thinking setting."""
    forced, given = _forced(body, extra)
    _check_forced_tool(model, forced=forced, emulated=emulated, extra_choice=given, served=served)


def _forced(body: dict[str, Any], extra: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Whether the body sent will force a tool (``tool_choice`` ``any`` or ``tool``), and
    ``"tool_choice"`` when that choice is ``extra``'s (it replaces ``body``'s)."""
    given = "tool_choice" in extra
    choice = extra["tool_choice"] if given else body.get("tool_choice")
    forced = isinstance(choice, dict) and choice.get("type") in ("any", "tool")
    return forced, "tool_choice" if given else None
