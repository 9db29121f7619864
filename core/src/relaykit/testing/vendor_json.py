"""JSON as a vendor's parser reads it: :func:`strict_json`, which refuses the
``NaN``, ``Infinity`` and ``-Infinity`` Python's parser takes and JSON has not.

Google's front end (Gemini) and Go's decoder (Ollama) refuse a body with one, each
in its own words: a mock catches :class:`JSONConstant` and words the refusal as its
vendor does, from the constant's name.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JSONConstant", "strict_json"]


class JSONConstant(ValueError):
    """A ``NaN``, ``Infinity`` or ``-Infinity`` in a body (:attr:`name` says which):
    Python's JSON, not the vendors'."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        #: the constant as it stands in the body: ``NaN``, ``Infinity``, ``-Infinity``
        self.name = name


def strict_json(text: str | bytes) -> Any:
    """``json.loads(text)``, but a ``NaN`` or ``Infinity`` raises :class:`JSONConstant`
    (a ``ValueError``, as any JSON error is)."""
    return json.loads(text, parse_constant=_refuse)


def _refuse(name: str) -> Any:
    raise JSONConstant(name)
