"""The sampling parameters newer Claude models refuse, whether they think or not.

Anthropic removed ``temperature``, ``top_p`` and ``top_k`` from Claude Opus
4.7 on (Opus 4.7 on, Sonnet 5 on, Haiku 5 on, Fable and Mythos): a value other
than the default is answered with a 400. Which models, and which values are
still taken, is :mod:`relaykit_claude_models.sampling_rules`'s.

Claude Opus 4.1 to 4.6, Sonnet 4.5 and 4.6 and Haiku 4.5 take ``temperature``
or ``top_p``, not both: the two together are refused too
(:func:`relaykit_claude_models.refuses_sampling_pair`), on Anthropic's API,
Vertex AI and Foundry alike.

relaykit refuses such a call before sending it
(:class:`~relaykit.InvalidRequestError`, ``param`` the parameter's name, no
status), so that a route falls back to a deployment that takes it. The values
come from ``temperature=``, ``top_p=`` and ``extra`` (which may carry ``top_k``,
and whose values are the ones sent).

A deployment's name (a Foundry deployment "my-claude" serving Claude Opus
4.7) is read as the model it serves: the provider passes that model in
(``base_model``), as the prefill (:mod:`.prefill`) and thinking
(:mod:`.thinking`) checks read it. Older models, and names with no Claude
version or family read here (a gateway's alias, a later family), are left to
the API: it answers what it refuses with its own 400.
"""

from __future__ import annotations

from typing import Any

from relaykit import ChatRequest
from relaykit_claude_models import (
    as_deployment,
    check_sampling,
    refuses_sampling,
    refuses_sampling_pair,
)


def sampling_values(request: ChatRequest) -> dict[str, Any]:
    """The sampling parameters the body of ``request`` will carry (``extra``'s win)."""
    values = {"temperature": request.temperature, "top_p": request.top_p, "top_k": None}
    for name in values:
        if name in request.extra:
            values[name] = request.extra[name]
    return {name: value for name, value in values.items() if value is not None}


def check(request: ChatRequest, base: str | None = None) -> None:
    """Refuse ``request`` before sending when its model (or ``base``, the Claude model
    a deployment named ``request.model`` serves) refuses one of its sampling values,
    or ``temperature`` and ``top_p`` together."""
    served = base or request.model
    name, pair = refuses_sampling(served), refuses_sampling_pair(served)
    check_sampling(
        sampling_values(request),
        name=None if name is None else as_deployment(name, request.model, base),
        pair=None if pair is None else as_deployment(pair, request.model, base),
        model=request.model,
    )
