"""How a Claude model takes ``reasoning=``: a budget, adaptive thinking, or none.

Read from the model's name (each model's "What's new" and migration pages on
platform.claude.com, read 2026-12-02; AWS's adaptive thinking page repeats them
for the models it names, and Bedrock carries Claude's own ``thinking`` and
``output_config`` fields in ``additionalModelRequestFields``):

- Claude before 3.7 does not think (:func:`thinking_style` ``"none"``).
- Claude 3.7 through 4.5, and a name with no Claude version (a gateway's
  alias): a budget (``"budget"``), at least :data:`MIN_BUDGET` tokens and
  below ``max_tokens``, which caps thinking and answer together
  (:func:`thinking_budget`).
- Claude 4.6 on: adaptive thinking (``"adaptive"``) with an effort
  (:func:`adaptive_fields`): ``minimal`` is sent as ``low``, ``xhigh`` as
  ``high`` before 4.7, which added it. On 4.6 to 4.8 thinking off sends
  nothing: off is their default (and Bedrock refuses ``disabled`` on Opus 4.7).
- Claude 5 thinks by default (:func:`claude5`): thinking off is sent as the
  model takes it (``disabled``, ``between_tools`` on Sonnet 5.5) or refused
  where it always thinks (Opus 5.5, Fable, Mythos); Opus 5.5, Sonnet 5.5,
  Fable 5.1 and Mythos 5.1 take no forced tool, thinking or not.

While Claude thinks it refuses a ``temperature`` other than 1, any ``top_k``, a
``top_p`` under 0.95 and a forced tool (:func:`check_while_thinking`). Every refusal is an
:class:`~relaykit.InvalidRequestError` with no status, made before sending so
that a route falls back.

The functions take ``model``, the caller's model (named in errors), and
``served``: the Claude model a deployment named ``model`` serves, when it is
another (a Foundry deployment "my-claude"); the rules are read from ``served``
when given.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from relaykit import InvalidRequestError, Reasoning
from relaykit.request import EFFORT_BUDGETS, Effort

from .model_names import as_deployment, claude_family, claude_version, model_words

#: the least ``budget_tokens`` Claude takes
MIN_BUDGET = 1024

#: the fix for JSON output emulated with a forced tool, on Anthropic's own API: a
#: JSON schema sent natively (relaykit-anthropic's provider option)
NATIVE_SCHEMA_FIX = "use a JSON schema response_format with structured_output = 'native'"

#: how a model takes a thinking setting: a budget, adaptive thinking, or not at all
ThinkingStyle = Literal["budget", "adaptive", "none"]


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
    family = claude_family(model) or "claude"
    name = model_words(family, version)
    if version[0] == 5:
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


def thinking_room(reasoning: Reasoning, model: str = "") -> int:
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


def default_max_tokens(
    answer: int, model: str, reasoning: Reasoning | None, given: object = None
) -> int:
    """The ``max_tokens`` of a Messages API call to ``model`` that gives none: the
    answer's share ``answer`` plus room for the thinking the call will do.

    ``max_tokens`` caps thinking and answer together (and the API wants it above a
    budget), so the room goes on top: ``given``, a ``thinking`` field the caller
    sent as is, brings its ``budget_tokens`` (none for another shape) and replaces
    ``reasoning``; ``reasoning=`` its budget or effort's tokens
    (:func:`thinking_room`), nothing when off or for a model that does not think;
    no ``reasoning=`` the default effort's tokens of a Claude 5 model, which thinks
    unasked (:func:`default_room`). It is a cap, not a charge.
    """
    if given is not None:
        budget = given.get("budget_tokens") if isinstance(given, dict) else None
        return answer + budget if isinstance(budget, int) else answer
    if reasoning is None:
        return answer + default_room(model)
    if reasoning.off or thinking_style(model) == "none":
        return answer
    return answer + thinking_room(reasoning, model)


def thinking_budget(reasoning: Reasoning, model: str, max_tokens: int | None) -> int:
    """The ``budget_tokens`` to send a budget model: the one given or the effort's,
    at least :data:`MIN_BUDGET`. ``max_tokens`` is the caller's, or ``None`` when
    the default is raised around the budget. With one, an effort's budget is cut to
    half of it (never below the least), so that the answer keeps the other half; a
    budget that cannot fit below it is refused (``param="reasoning"``)."""
    wanted = thinking_room(reasoning)
    if max_tokens is None:
        return wanted  # the default max_tokens is raised around it
    if reasoning.budget_tokens is None:
        # An effort is a wish and max_tokens a cap: the answer keeps half the cap.
        wanted = max(MIN_BUDGET, min(wanted, max_tokens // 2))
    if wanted < max_tokens:
        return wanted
    if reasoning.budget_tokens is None:
        raise _refusal(
            f"max_tokens={max_tokens} leaves no room for Claude's least thinking budget "
            f"({MIN_BUDGET} tokens): max_tokens caps thinking and answer together",
            model,
            f"raise max_tokens above {MIN_BUDGET}, or turn thinking off (reasoning='none')",
        )
    raise _refusal(
        f"a thinking budget of {wanted} tokens does not fit in max_tokens={max_tokens}: "
        "Claude's budget must be below max_tokens, which caps thinking and answer together",
        model,
        f"raise max_tokens above {wanted}, or lower the budget",
    )


def no_thinking(model: str) -> InvalidRequestError:
    """The refusal of a thinking setting (other than off) for Claude before 3.7."""
    return _refusal(
        "Claude before 3.7 does not think, so it takes no reasoning setting",
        model,
        "use Claude 3.7 Sonnet or a Claude 4 model, or drop reasoning=",
    )


def adaptive_fields(reasoning: Reasoning, model: str, served: str | None = None) -> dict[str, Any]:
    """``thinking: {"type": "adaptive"}`` and ``output_config.effort``, for Claude 4.6
    on; or what turns thinking off (:func:`off_fields`)."""
    if reasoning.off:
        return off_fields(model, served)
    thinking: dict[str, Any] = {"type": "adaptive"}
    if reasoning.summary is not None:
        # Claude 4.7 on omit the thinking text unless asked; "omitted" keeps the signature.
        thinking["display"] = "summarized" if reasoning.summary else "omitted"
    out: dict[str, Any] = {"thinking": thinking}
    level = reasoning.level()
    if level is not None:
        newer = (claude_version(served or model) or (0, 0)) >= (4, 7)
        effort = {"minimal": "low", "xhigh": "xhigh" if newer else "high"}.get(level, level)
        out["output_config"] = {"effort": effort}
    return out


def off_fields(model: str, served: str | None = None) -> dict[str, Any]:
    """What turns an adaptive model's thinking off: nothing before Claude 5 (off is
    their default), the model's own ``thinking`` type on Claude 5; refused for the
    Claude 5 models that always think."""
    rules = claude5(served or model)
    if rules is None:
        return {}
    if rules.off is None:
        raise _refusal(
            f"{as_deployment(rules.name, model, served)} always thinks: it takes no "
            "reasoning='none' (it refuses thinking disabled)",
            model,
            "ask for the least effort (reasoning='low'), or use a Claude model that can stop "
            "thinking (Opus 5, Sonnet 5, Sonnet 5.5, Haiku 5.5)",
        )
    return {"thinking": {"type": rules.off}}


def check_while_thinking(
    model: str,
    *,
    temperature: Any,
    top_p: Any,
    forced: bool,
    top_k: Any = None,
    emulated: bool = False,
    extra_choice: str | None = None,
    served: str | None = None,
    schema_fix: str = NATIVE_SCHEMA_FIX,
) -> None:
    """Refuse what Claude refuses while it thinks: a ``temperature`` other than 1, any
    ``top_k``, a ``top_p`` under 0.95, a ``forced`` tool (``emulated``: one that
    carries JSON output, whose fix differs: ``schema_fix``, the provider's way to a
    JSON schema sent natively; ``extra_choice``: the field of ``extra`` that forces
    it, as ``"tool_choice"``, when ``extra`` gives the choice).

    ``temperature``, ``top_p`` and ``top_k`` are the values the body will carry, which
    ``extra`` may give (``top_k`` only comes from there: relaykit has no parameter for
    it). A ``temperature`` or ``top_p`` that is not a number is not judged here (the
    API refuses it for its type, thinking or not); ``top_k`` must be unset ("`top_k`
    must be unset when thinking is enabled"), so any value is refused."""
    # Not every Claude 5 model can stop thinking: offer that fix only where it is one.
    rules = claude5(served or model)
    stops = rules is None or rules.off is not None
    off = ", or turn thinking off (reasoning='none')" if stops else ""
    temperature, top_p = _number(temperature), _number(top_p)
    if temperature is not None and temperature != 1:
        raise _refusal(
            f"Claude takes no temperature but 1 while it thinks (temperature={temperature})",
            model,
            f"drop temperature{off}",
        )
    if top_k is not None:
        raise _refusal(
            f"Claude takes no top_k while it thinks (top_k={top_k!r}): it must be unset",
            model,
            f"drop top_k from extra{off}",
        )
    if top_p is not None and top_p < 0.95:
        raise _refusal(
            f"Claude takes no top_p under 0.95 while it thinks (top_p={top_p})",
            model,
            f"drop top_p or raise it to 0.95{off}",
        )
    if not forced:
        return
    if extra_choice is not None:
        hint = f"drop {extra_choice} from extra, or make it auto{off}"
    elif emulated:
        hint = f"JSON output here is emulated with a forced tool: {schema_fix}{off}"
    else:
        hint = f"use tool_choice='auto' (or 'none'){off}"
    raise _refusal("Claude cannot think while a tool is forced", model, hint)


def check_forced_tool(
    model: str,
    *,
    forced: bool,
    emulated: bool = False,
    extra_choice: str | None = None,
    served: str | None = None,
    schema_fix: str = NATIVE_SCHEMA_FIX,
) -> None:
    """Refuse a ``forced`` tool for the Claude 5 models that never take one (Opus 5.5,
    Sonnet 5.5, Fable 5.1, Mythos 5.1), whatever the thinking setting: the API
    answers it with a 400 ("What's new in Claude Opus 5.5"). ``emulated``: the tool
    carries JSON output (``param`` ``"response_format"``, else ``"tool_choice"``; the
    fix offered is ``schema_fix``);
    ``extra_choice``: the field of ``extra`` that forces it, when ``extra`` gives
    the choice (named in the fix)."""
    rules = claude5(served or model)
    if rules is None or rules.forced_tool or not forced:
        return
    forcing = "tool_choice 'required' or a tool's name"
    if extra_choice is not None:
        forcing = f"extra's {extra_choice} forces one"
        hint = (
            f"drop {extra_choice} from extra, or make it auto and say in the prompt "
            "which tool to call"
        )
    elif emulated:
        hint = f"JSON output here is emulated with a forced tool: {schema_fix}"
    else:
        hint = "use tool_choice='auto' and say in the prompt which tool to call"
    raise InvalidRequestError(
        f"{as_deployment(rules.name, model, served)} takes no forced tool ({forcing})",
        model=model,
        param="response_format" if emulated and extra_choice is None else "tool_choice",
        hint=hint,
    )


def _number(value: Any) -> float | None:
    """``value`` if it is a number (``True`` is not one), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _refusal(message: str, model: str, hint: str) -> InvalidRequestError:
    return InvalidRequestError(message, model=model, param="reasoning", hint=hint)
