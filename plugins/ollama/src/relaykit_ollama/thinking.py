"""``reasoning=`` as Ollama's ``/api/chat`` takes it: the top-level ``think``.

``think`` is ``true`` or ``false``, or, for gpt-oss models, a level: ``"low"``,
``"medium"`` or ``"high"`` (Ollama's thinking guide; gpt-oss thinks at
``medium`` by default, and ``true`` means that). Ollama has no amount control
for other models. So the plugin sends:

- thinking off as ``false``;
- to a gpt-oss model, an effort (a budget as :meth:`relaykit.Reasoning.level`
  reads it) as its level, clamped to Ollama's three: ``minimal`` as ``low``,
  ``xhigh`` as ``high``; ``reasoning=True`` as ``true``, the model's default;
- to any other model, ``true``: an effort or a budget only turns thinking on.

A model is gpt-oss when its name (after any registry or namespace path) starts
with ``gpt-oss``. A model that cannot think answers ``think: true`` with a 400
("... does not support thinking"), which reaches the caller as an
:class:`~relaykit.InvalidRequestError`.
"""

from __future__ import annotations

from relaykit import Reasoning

#: the ``think`` levels Ollama takes (for gpt-oss models), least to most
LEVELS = ("low", "medium", "high")
#: relaykit's efforts (thinking on) as Ollama's levels
_CLAMPED = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}


def takes_levels(model: str) -> bool:
    """Whether ``model`` takes a ``think`` level rather than only true or false:
    gpt-oss (``gpt-oss:20b``, ``hf.co/unsloth/gpt-oss-20b-GGUF``)."""
    return model.rsplit("/", 1)[-1].lower().startswith("gpt-oss")


def think(reasoning: Reasoning, model: str) -> bool | str:
    """The ``think`` value that asks ``model`` to think as ``reasoning`` says."""
    if reasoning.off:
        return False
    level = reasoning.level()
    if level is None or not takes_levels(model):
        return True
    return _CLAMPED[level]
