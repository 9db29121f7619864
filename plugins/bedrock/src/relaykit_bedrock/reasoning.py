"""``reasoning=`` on Bedrock: each model family's own field in ``additionalModelRequestFields``.

Converse has no thinking setting of its own; each family takes its own, by
model id (a foundation model id, an inference profile id, or an ARN ending in
one):

- Claude (``anthropic.claude-*``): ``thinking`` as Anthropic's Messages API
  takes it, by Anthropic's rules (:mod:`relaykit_claude_models.thinking_rules`,
  shared with relaykit-anthropic). Claude 3.7 to 4.5 (and ids with no Claude version) take a budget,
  ``{"type": "enabled", "budget_tokens": N}`` or ``{"type": "disabled"}``: the
  budget given, or the effort's (:data:`relaykit.request.EFFORT_BUDGETS`,
  ``reasoning=True`` is ``medium``'s), at least 1,024 and below
  ``maxTokens``, which caps thinking and answer together. With no
  ``max_tokens`` relaykit sends ``maxTokens`` of 4,096 plus the budget; with
  one, an effort's budget is cut to half of it (never below 1,024) so the
  answer keeps the other half, and a budget that cannot fit is refused. Claude
  4.6 on take adaptive thinking, ``{"type": "adaptive"}`` with
  ``output_config.effort`` (``minimal`` sent as ``low``, ``xhigh`` as ``high``
  before 4.7, all of ``low`` to ``max`` on Claude 5; a budget as the effort
  it stands for). On 4.6 to 4.8 thinking off sends nothing (off is their
  default; Bedrock refuses ``disabled`` on Opus 4.7). Claude 5 thinks by
  default, so off is sent as the model takes it: ``disabled`` on Opus 5,
  Sonnet 5 and Haiku 5.5 (and on a Claude 5 id not named here, so that one
  that cannot stop answers 400), ``between_tools`` on Sonnet 5.5, and it is
  refused before sending on Opus 5.5, Fable 5 and 5.1 and Mythos 5 and 5.1,
  which always think. AWS's adaptive thinking page (read 2026-12-02) lists
  ``anthropic.claude-opus-5``, ``-sonnet-5``, ``-fable-5``/``-5-1`` and
  ``-mythos-5``/``-5-1`` and documents ``disabled`` as refused by Fable and
  Mythos; it does not yet name Opus 5.5, Sonnet 5.5 or Haiku 5.5, whose rules
  here are Anthropic's (each model's "What's new" page). Without
  ``reasoning=`` nothing is sent and no ``maxTokens`` either (Bedrock's
  default applies, as for the other adaptive models): the Claude 5 model
  thinks at its default effort, and only the forced tool check below is
  made. Claude before 3.7 does not think: off sends nothing, on is refused.
  While Claude thinks it refuses a ``temperature`` other than 1, any
  ``top_k`` (which only ``extra`` gives), a ``top_p`` under 0.95 and a forced
  tool, so relaykit refuses those calls before sending them (the values the
  body will carry, ``extra``'s included: see :func:`.sampling.sampling_values`,
  and ``extra``'s ``toolConfig.toolChoice``, or Claude's own ``tool_choice`` in
  its ``additionalModelRequestFields``, or on the Messages route top-level); Opus 5.5,
  Sonnet 5.5, Fable 5.1 and Mythos 5.1 refuse a forced tool whatever the thinking setting, so it is
  refused for them even without ``reasoning=``. Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable and
  Mythos refuse a non-default ``temperature``, ``top_p`` or ``top_k`` thinking
  or not; that is checked first, in every call (:mod:`.sampling`).
- Amazon Nova 2 (``amazon.nova-2-*``): ``reasoningConfig``,
  ``{"type": "enabled", "maxReasoningEffort": "low" | "medium" | "high"}`` or
  ``{"type": "disabled"}`` (``minimal`` sent as ``low``, ``xhigh`` as
  ``high``, a budget as its effort, ``reasoning=True`` as ``medium``). At
  ``high`` Nova takes no ``maxTokens``, ``temperature`` or ``topP``: a call
  with them (``extra``'s ``inferenceConfig`` included) is refused.
- OpenAI's gpt-oss (``openai.gpt-oss-*``): ``reasoning_effort`` (``low``,
  ``medium``, ``high``, mapped as for Nova; ``reasoning=True`` sends nothing:
  it always reasons). It cannot stop reasoning, so ``"none"`` is refused.
- Any other model: the setting is refused before sending, so a route falls
  back to a deployment that takes it.

Every refusal is an :class:`~relaykit.InvalidRequestError` with
``param="reasoning"`` and no status. When ``extra={"additionalModelRequestFields":
{...}}`` carries the family's own field (``thinking``, ``reasoningConfig``,
``reasoning_effort``), it is sent as given and ``reasoning=`` is ignored;
its other keys join the ones made here. On the Messages route a top-level
``extra={"thinking": ...}`` (a Messages API field, sent as it is) does the same.
"""

from __future__ import annotations

from typing import Any, Literal

from relaykit import ChatRequest, InvalidRequestError, Reasoning
from relaykit_claude_models import (
    Claude5,
    adaptive_fields,
    check_forced_tool,
    check_while_thinking,
    no_thinking,
    off_fields,
    thinking_budget,
)
from relaykit_claude_models import claude5 as _claude5
from relaykit_claude_models import claude_version as _claude_version

from . import messages_wire, sampling
from .prices import base_model
from .routes import CONVERSE, Api

#: the model families that take a thinking setting on Bedrock
Family = Literal["claude", "nova", "gpt-oss", "other"]

#: the field of ``additionalModelRequestFields`` each family's setting goes in
OWN_FIELD: dict[Family, str] = {
    "claude": "thinking",
    "nova": "reasoningConfig",
    "gpt-oss": "reasoning_effort",
}

#: ``maxTokens`` left for Claude's answer when the caller gives none
ANSWER_TOKENS = 4096


def family(model: str) -> Family:
    """The family whose thinking field ``model`` takes."""
    base = base_model(model)
    if base.startswith("anthropic.claude"):
        return "claude"
    if base.startswith("amazon.nova-2"):
        return "nova"
    if base.startswith("openai.gpt-oss"):
        return "gpt-oss"
    return "other"


def apply(body: dict[str, Any], request: ChatRequest, api: Api = CONVERSE) -> None:
    """Put ``request.reasoning`` in ``body`` (a Converse body before ``extra``, for a
    call through ``api``), or refuse it."""
    reasoning = request.reasoning
    kind = family(request.model)
    if kind == "claude":
        _check_forced_tool(body, request, api)
    if reasoning is None:
        return
    if kind != "other" and _own_field_given(request, kind, api):
        return  # extra's own setting is sent instead
    if kind == "claude":
        fields = _claude(body, reasoning, request, api)
    elif kind == "nova":
        fields = _nova(body, reasoning, request)
    elif kind == "gpt-oss":
        fields = _gpt_oss(reasoning, request.model)
    else:
        raise _refusal(
            "Bedrock sends no reasoning setting to this model: relaykit knows the thinking "
            "fields of Claude, Amazon Nova 2 and gpt-oss only",
            request.model,
            "use an anthropic.claude-*, amazon.nova-2-* or openai.gpt-oss-* model, or send "
            "the model's own field in extra={'additionalModelRequestFields': {...}}",
        )
    if fields:
        body.setdefault("additionalModelRequestFields", {}).update(fields)


def _own_field_given(request: ChatRequest, kind: Family, api: Api) -> bool:
    """Whether ``extra`` gives the family's own thinking field, which the body carries
    over ``reasoning=``'s: in ``additionalModelRequestFields``, or on the Messages
    route (Claude's ``thinking``) also at the top level, sent as it is."""
    if kind == "claude":
        return messages_wire.extra_field(request, "thinking", api) is not None
    theirs = request.extra.get("additionalModelRequestFields")
    return isinstance(theirs, dict) and OWN_FIELD[kind] in theirs


# -- Claude -----------------------------------------------------------------------


def claude_version(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` of the Claude model ``model`` (a model id, an inference profile
    id or an ARN ending in one) names, or ``None`` when it names none."""
    return _claude_version(base_model(model))


def claude5(model: str) -> Claude5 | None:
    """What ``model`` takes if it is a Claude 5 model (or later), else ``None``:
    Anthropic's rules (:func:`relaykit_claude_models.claude5`), which AWS repeats for
    the models it names (Fable and Mythos refuse ``disabled``)."""
    return _claude5(base_model(model))


def _claude(
    body: dict[str, Any], reasoning: Reasoning, request: ChatRequest, api: Api
) -> dict[str, Any]:
    model = request.model
    version = claude_version(model)
    if version is not None and version < (3, 7):
        if reasoning.off:
            return {}
        raise no_thinking(model)
    if reasoning.off:
        return _claude_off(model, version)
    _check_claude_call(body, request, api)
    if version is not None and version >= (4, 6):
        return adaptive_fields(reasoning, model)
    inference = body.setdefault("inferenceConfig", {})
    tokens = thinking_budget(reasoning, model, inference.get("maxTokens"))
    inference.setdefault("maxTokens", ANSWER_TOKENS + tokens)
    return {"thinking": {"type": "enabled", "budget_tokens": tokens}}


def _claude_off(model: str, version: tuple[int, int] | None) -> dict[str, Any]:
    """What turns Claude's thinking off: ``disabled`` with a budget model, nothing on
    4.6 to 4.8 (off is their default; Opus 4.7 refuses ``disabled``), the model's own
    type on Claude 5, which thinks by default; refused where it always thinks."""
    if version is None or version < (4, 6):
        return {"thinking": {"type": "disabled"}}
    return off_fields(model)


def _check_forced_tool(body: dict[str, Any], request: ChatRequest, api: Api) -> None:
    """Refuse a forced tool (the one the body for ``api`` will carry, ``extra``'s
    included) for the Claude 5 models that never take one (Opus 5.5, Sonnet 5.5,
    Fable 5.1, Mythos 5.1), whatever the thinking setting."""
    forced, given = _forced(body, request, api)
    check_forced_tool(
        request.model,
        forced=forced,
        extra_choice=given,
        emulated=_emulated(request),
        schema_fix=SCHEMA_FIX,
    )


def _check_claude_call(body: dict[str, Any], request: ChatRequest, api: Api) -> None:
    """Refuse what Claude refuses while it thinks: a temperature other than 1, any
    ``top_k``, a ``topP`` under 0.95, a forced tool.

    The values are the ones the body for ``api`` will carry: ``extra``'s (its
    ``inferenceConfig`` and ``toolConfig.toolChoice``, and a ``temperature``,
    ``top_p``, ``top_k`` or ``tool_choice`` by Claude's own name in
    ``additionalModelRequestFields``, or on the Messages route top-level) win over
    relaykit's parameters,
    as in the body, so a value ``extra`` gives is refused unsent and one it replaces
    is not refused."""
    values = sampling.sampling_values(request, api)
    forced, given = _forced(body, request, api)
    check_while_thinking(
        request.model,
        temperature=values.get("temperature"),
        top_p=values.get("top_p"),
        top_k=values.get("top_k"),
        forced=forced,
        extra_choice=given,
        emulated=_emulated(request),
        schema_fix=SCHEMA_FIX,
    )


#: the fix for ``json_object`` (emulated with a forced tool: :mod:`.wire`) where Claude
#: refuses a forced tool
SCHEMA_FIX = (
    "give response_format a JSON schema instead (Bedrock takes one natively, as "
    "outputConfig.textFormat)"
)


def _emulated(request: ChatRequest) -> bool:
    """Whether the body forces a tool of relaykit's own: ``json_object``'s (:mod:`.wire`)."""
    rf = request.response_format
    return rf is not None and rf.type == "json_object"


def _forced(body: dict[str, Any], request: ChatRequest, api: Api) -> tuple[bool, str | None]:
    """Whether the body for ``api`` will force a tool, and the field of ``extra`` that
    makes the choice when ``extra``'s replaces the Converse ``body``'s: Claude's own
    ``tool_choice`` (``any`` or ``tool``) in ``additionalModelRequestFields``, or on the
    Messages route top-level, which the model gets over the translated one
    (:func:`.messages_wire.extra_field`; Converse refuses it beside a ``toolChoice``
    of its own, which :func:`.wire.request_body` refuses unsent); else
    ``toolConfig.toolChoice`` (``any`` or ``tool``), ``extra``'s merged over ``body``'s."""
    given = messages_wire.extra_field(request, "tool_choice", api)
    if given is not None:
        choice, field = given
        return isinstance(choice, dict) and choice.get("type") in ("any", "tool"), field
    theirs = request.extra.get("toolConfig")
    if isinstance(theirs, dict) and "toolChoice" in theirs:
        return _converse_forced(theirs["toolChoice"]), "toolConfig.toolChoice"
    return _converse_forced((body.get("toolConfig") or {}).get("toolChoice")), None


def _converse_forced(choice: Any) -> bool:
    """Whether a Converse ``toolChoice`` forces a tool (``any`` or ``tool``)."""
    return isinstance(choice, dict) and ("any" in choice or "tool" in choice)


# -- Nova 2, gpt-oss ----------------------------------------------------------------


def _effort(reasoning: Reasoning) -> str | None:
    """low, medium or high (what Nova 2 and gpt-oss take), or ``None`` for no amount."""
    level = reasoning.level()
    if level is None:
        return None
    return {"minimal": "low", "xhigh": "high", "max": "high"}.get(level, level)


def _nova(body: dict[str, Any], reasoning: Reasoning, request: ChatRequest) -> dict[str, Any]:
    model = request.model
    if reasoning.off:
        return {"reasoningConfig": {"type": "disabled"}}
    effort = _effort(reasoning) or "medium"
    inference = dict(body.get("inferenceConfig") or {})
    theirs = request.extra.get("inferenceConfig")
    if isinstance(theirs, dict):  # merged into the body's after this, as sent
        inference.update(theirs)
    given = [k for k in ("maxTokens", "temperature", "topP") if k in inference]
    if effort == "high" and given:
        relaykit_names = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p"}
        names = ", ".join(relaykit_names[k] for k in given)
        raise _refusal(
            f"Nova 2 takes no {names} with high reasoning effort",
            model,
            f"drop {names}, or ask for less effort (reasoning='medium')",
        )
    return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}}


def _gpt_oss(reasoning: Reasoning, model: str) -> dict[str, Any]:
    if reasoning.off:
        raise _refusal(
            "gpt-oss always reasons: it takes no reasoning='none'",
            model,
            "ask for the least effort (reasoning='low'), or use a model that can stop thinking",
        )
    effort = _effort(reasoning)
    return {} if effort is None else {"reasoning_effort": effort}


def _refusal(message: str, model: str, hint: str) -> InvalidRequestError:
    return InvalidRequestError(message, model=model, param="reasoning", hint=hint)
