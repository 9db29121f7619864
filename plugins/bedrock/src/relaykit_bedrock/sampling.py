"""The sampling parameters newer Claude models refuse on Bedrock, whether they think or not.

Anthropic removed ``temperature``, ``top_p`` and ``top_k`` from Claude Opus
4.7 on, and Bedrock relays the model's 400 ("The model returned the following
errors: temperature is deprecated for this model"). The models, as Anthropic
lists them (its migration guide's Opus 4.7, 4.8, 5 and Sonnet 5 sections, each
model's "What's new" page for Sonnet 5.5, Haiku 5.5, Opus 5.5, Fable and
Mythos; its guide says these breaking changes apply unchanged on Bedrock),
with reports of the 400 from ``anthropic.claude-opus-4-7`` and ``-4-8`` on
Bedrock (read 2026-12-02):

- ``anthropic.claude-opus-4-7`` and later (4.8, 5, 5.5);
- ``anthropic.claude-sonnet-5`` and later (5.5), ``-haiku-5`` and later (5.5);
- ``anthropic.claude-fable-*`` and ``-mythos-*`` (5, 5.1).

Which models, and which values are still taken, is
:mod:`relaykit_claude_models.sampling_rules`'s. relaykit refuses such a call before sending it
(:class:`~relaykit.InvalidRequestError`, ``param`` the parameter's name, no
status), so that a route falls back to a deployment that takes it. Still
taken: no value, ``temperature`` 1 (the default), ``top_p`` of 0.99 or more
(the default is 0.99; 1 samples from every token); ``top_k`` has no default,
so any value is refused. The values are the ones the body will carry:
``temperature=`` and ``top_p=`` (``inferenceConfig``), and ``extra``'s
``inferenceConfig``, and the ``temperature``, ``top_p`` and ``top_k`` of its
``additionalModelRequestFields`` (Claude's own fields, which both routes hand to
the model over the others), and on the Messages route its top-level ones too
(sent as they are: :func:`.messages_wire.extra_field`).

Claude Opus 4.1 to 4.6, Sonnet 4.5 and 4.6 and Haiku 4.5 take ``temperature``
or ``top_p``, not both, and Bedrock relays the model's 400
("The model returned the following errors: `temperature` and `top_p` cannot
both be specified for this model. Please use only one."): the two together,
from wherever in the body each comes, are refused before sending too
(:func:`relaykit_claude_models.refuses_sampling_pair`), on both routes.

The model is read from its id, an inference profile id or an ARN ending in
one. Older models and ids with no Claude version or family read here are left
to Bedrock, which answers what the model refuses with its own 400.
"""

from __future__ import annotations

from typing import Any

from relaykit import ChatRequest
from relaykit_claude_models import check_sampling, refuses_sampling_pair
from relaykit_claude_models import refuses_sampling as _refuses_sampling

from . import messages_wire
from .prices import base_model
from .routes import CONVERSE, Api


def refuses_sampling(model: str) -> str | None:
    """The model in words ("Claude Opus 4.7") when ``model`` (a model id, an inference
    profile id or an ARN ending in one) refuses non-default sampling parameters, else
    ``None``."""
    base = _claude_base(model)
    return None if base is None else _refuses_sampling(base)


def _claude_base(model: str) -> str | None:
    """The Claude model id ``model`` (an id, inference profile id or ARN) names, or
    ``None`` when it names another model."""
    base = base_model(model)
    return base if base.lower().startswith("anthropic.claude") else None


def sampling_values(request: ChatRequest, api: Api = CONVERSE) -> dict[str, Any]:
    """The sampling parameters the body of ``request`` for ``api`` will carry, by
    relaykit's names (``extra``'s win, as they do in the body)."""
    values: dict[str, Any] = {"temperature": request.temperature, "top_p": request.top_p}
    inference = request.extra.get("inferenceConfig")
    if isinstance(inference, dict):
        for name, key in (("temperature", "temperature"), ("top_p", "topP")):
            if key in inference:
                values[name] = inference[key]
    # Claude's own names (additionalModelRequestFields on both routes; on the Messages
    # route top-level keys too), which reach the model over Converse's
    for name in ("temperature", "top_p", "top_k"):
        found = messages_wire.extra_field(request, name, api)
        if found is not None:
            values[name] = found[0]
    return {name: value for name, value in values.items() if value is not None}


def check(request: ChatRequest, api: Api = CONVERSE) -> None:
    """Refuse ``request`` before sending through ``api`` when its model refuses one of
    its sampling values, or ``temperature`` and ``top_p`` together."""
    base = _claude_base(request.model)
    check_sampling(
        sampling_values(request, api),
        name=refuses_sampling(request.model),
        pair=None if base is None else refuses_sampling_pair(base),
        model=request.model,
    )
