"""OpenAI's Moderations API (``POST /v1/moderations``), served.

A request body becomes the arguments of one :meth:`relaykit.Client.moderate`
(:func:`parse_moderation`), and its answer OpenAI's ``{"id", "model",
"results": [...]}`` (:func:`moderation_body`): one result per text, in order,
each with ``flagged``, ``categories``, ``category_scores`` and
``category_applied_input_types``, under the category names of the vendor that
judged them (OpenAI's, or Mistral's when a route sends the call there; empty
input kinds where the vendor says none).

``input`` is text: a string or a list of strings. OpenAI's multimodal form (a
list of ``text`` and ``image_url`` parts, judged together as one input) is
refused with a 400 that says to send the texts as strings: relaykit does not
send images to moderation yet. ``model`` may be left out, as OpenAI's own
default is: the configuration's ``[defaults] moderation_model``, else
``openai/omni-moderation-latest``. As on the chat route, ``metadata`` and
``user`` become the call's metadata and other fields go to the provider
untouched in ``extra``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from relaykit import InvalidRequestError, ModerationResponse

from .dialect import model_id, require_object
from .openai_dialect import with_body_fields

#: the model OpenAI moderates with when the request names none
DEFAULT_MODEL = "openai/omni-moderation-latest"
#: request fields the gateway itself reads
_OWN = frozenset(("model", "input", "metadata", "user"))


@attrs.frozen
class ModerationCall:
    """One call to make: ``client.moderate(model, inputs, **params)``."""

    model: str
    #: the caller's ``input`` as it came (a string or a list), for the core to check
    inputs: str | Sequence[Any]
    params: Mapping[str, Any] = attrs.field(factory=dict)


def parse_moderation(
    body: Any, aliases: Sequence[str], default_model: str | None = None
) -> ModerationCall:
    """The call a moderation request body asks for; :class:`InvalidRequestError` names
    what is wrong. A bare model name goes to ``openai``, as on the chat route; no
    model at all to ``default_model`` (else :data:`DEFAULT_MODEL`)."""
    body = require_object(body)
    sent = body.get("model")
    fallback = default_model or DEFAULT_MODEL
    model = fallback if sent is None else model_id(sent, aliases, "openai")
    inputs = body.get("input")
    if inputs is None:
        raise InvalidRequestError(
            "`input` is required: a string or a list of strings to moderate", param="input"
        )
    if isinstance(inputs, list) and any(isinstance(item, Mapping) for item in inputs):
        raise InvalidRequestError(
            "`input` holds multimodal parts: relaykit moderates text only for now, so send"
            " the texts themselves as strings (images are not sent to moderation yet)",
            param="input",
        )
    params = with_body_fields({}, body, _OWN)
    return ModerationCall(model=model, inputs=inputs, params=params)


def moderation_body(response: ModerationResponse) -> dict[str, Any]:
    """OpenAI's answer: ``{"id", "model", "results": [...]}``, one result per input, in
    the inputs' order, under the judging vendor's category names."""
    return {
        # OpenAI's ids start modr-; a vendor that gave none gets one, as the SDK expects
        "id": response.id or f"modr-{os.urandom(12).hex()}",
        "model": response.model,
        "results": [
            {
                "flagged": result.flagged,
                "categories": dict(result.categories),
                "category_scores": dict(result.scores),
                "category_applied_input_types": {
                    name: list(kinds) for name, kinds in result.applied_input_types.items()
                },
            }
            for result in response.results
        ],
    }
