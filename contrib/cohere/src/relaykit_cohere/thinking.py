"""``reasoning=`` as Cohere's v2 Chat takes it: ``thinking``.

Cohere's reasoning models (Command A Reasoning) take ``thinking: {"type":
"enabled" | "disabled", "token_budget": N}`` and think by default;
``token_budget``, a positive number of tokens, caps the thinking (Cohere's
reasoning guide). So the plugin sends:

- thinking off as ``{"type": "disabled"}``;
- an effort or a budget as ``{"type": "enabled", "token_budget": N}``, N being
  the budget given or the one :data:`relaykit.request.EFFORT_BUDGETS` names for
  the effort, an effort's capped at :data:`MOST_TOKENS` (``xhigh`` asks for
  32,768 tokens, all of Command A Reasoning's output);
- ``reasoning=True`` as ``{"type": "enabled"}``: unlimited thinking, which is
  what Cohere recommends.

Cohere documents ``thinking`` for its reasoning models; what another model
does with it is Cohere's to answer. A ``thinking`` in ``extra`` replaces this
one whole: the type and the budget are one setting.
"""

from __future__ import annotations

from typing import Any

from relaykit import Reasoning

#: the largest budget an effort asks for: Cohere recommends 31K "to reason until
#: the maximum limit", leaving 1K of the 32K output for the answer
MOST_TOKENS = 31_000


def field(reasoning: Reasoning) -> dict[str, Any]:
    """The ``thinking`` object that asks a Cohere reasoning model to think as
    ``reasoning`` says."""
    if reasoning.off:
        return {"type": "disabled"}
    if reasoning.budget_tokens is not None:
        return {"type": "enabled", "token_budget": reasoning.budget_tokens}
    budget = reasoning.tokens()
    if budget is None:  # thinking on, as much as the model likes
        return {"type": "enabled"}
    return {"type": "enabled", "token_budget": min(budget, MOST_TOKENS)}
