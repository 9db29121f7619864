"""Content moderation: is a text harmful, and how (:class:`ModerationRequest` in,
:class:`ModerationResponse` out).

:meth:`relaykit.Client.moderate` builds the request from the caller's arguments
(:func:`build_moderation_request`) and hands it to a provider's optional
``moderate`` method; routing, limits, retries, breakers, cost, traces, metrics
and the call log are the chat pipeline's, in :mod:`relaykit.moderation_call`.

Categories keep the vendor's own names, as the vendor spells them: OpenAI's
``harassment/threatening`` or ``self-harm/intent``, Mistral's
``violence_and_threats`` or ``pii``. Vendors classify differently, so relaykit
does not map one vendor's categories onto another's: a check that reads a
category names the vendor's. Text only, for now: images (which OpenAI's
omni-moderation models also read) are refused before sending.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from .embeddings import coerce_inputs
from .errors import InvalidRequestError, did_you_mean
from .response import Usage
from .secrets import scrubbed_repr
from .validation import check_options

__all__ = ["ModerationRequest", "ModerationResponse", "ModerationResult", "moderation_result"]


@attrs.frozen(kw_only=True)
class ModerationRequest:
    """One moderation call, as the core hands it to a provider plugin's ``moderate``.

    ``model`` is the provider's own model name (without the ``provider/``
    prefix); ``inputs`` the texts to classify, at least one, none blank: the
    answer has one result per text, in order. ``extra`` is merged into the
    request body.
    """

    model: str
    inputs: tuple[str, ...]
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)


def _copied(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A copy of ``value``: a result does not change when the vendor's dict does."""
    return dict(value)


@attrs.frozen(repr=False)
class ModerationResult:
    """What the vendor says of one input.

    ``flagged`` is whether any category was (Mistral, which sends no verdict of
    its own: whether any category is ``True``). ``categories`` holds each
    category's verdict and ``scores`` its score, from 0 to 1, under the
    vendor's own category names (OpenAI's ``harassment/threatening``,
    Mistral's ``hate_and_discrimination``). ``applied_input_types`` says, where
    the vendor does (OpenAI's ``category_applied_input_types``), which kinds of
    input each category's score read (``("text",)``); empty otherwise. The
    repr names the flagged categories with their scores, not every category.
    """

    flagged: bool
    categories: Mapping[str, bool] = attrs.field(factory=dict, converter=_copied)
    scores: Mapping[str, float] = attrs.field(factory=dict, converter=_copied)
    applied_input_types: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=dict, converter=_copied
    )

    @property
    def flagged_categories(self) -> tuple[str, ...]:
        """The categories flagged, the highest score first (then by name)."""
        scores = self.scores
        flagged = [name for name, on in self.categories.items() if on]
        return tuple(sorted(flagged, key=lambda name: (-scores.get(name, 0.0), name)))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name!r}: {self.scores.get(name, 0.0):.3g}" for name in self.flagged_categories
        )
        return (
            f"ModerationResult(flagged={self.flagged}, flagged_categories={{{shown}}},"
            f" {len(self.categories)} categories)"
        )


@attrs.frozen(kw_only=True)
class ModerationResponse:
    """The result of one moderation call: one :class:`ModerationResult` per input, in
    the inputs' order.

    ``usage.input_tokens`` is what the vendor counted or, when it said nothing
    (``tokens_estimated``: neither OpenAI nor Mistral does), about a quarter of
    the characters sent, which rate limits count. ``cost`` is in USD when the
    model's price is known (OpenAI's moderation is free: 0).
    """

    results: tuple[ModerationResult, ...]
    model: str = ""
    provider: str = ""
    id: str | None = None
    usage: Usage = Usage()
    tokens_estimated: bool = False
    cost: Decimal | None = None
    latency: float | None = None
    attempts: int = 1

    @property
    def flagged(self) -> bool:
        """Whether any input was flagged."""
        return any(result.flagged for result in self.results)

    @property
    def flagged_categories(self) -> tuple[str, ...]:
        """The categories any input was flagged for, each once, in the order the
        inputs' :attr:`ModerationResult.flagged_categories` name them."""
        return tuple(dict.fromkeys(c for r in self.results for c in r.flagged_categories))


PARAMS = ("timeout", "metadata", "extra")
#: what a refused input is told: text is all relaykit sends to moderation so far
_TAKES = "moderation takes text in relaykit (images are not sent to moderation yet)"


def build_moderation_request(
    model: str, inputs: str | Sequence[str], params: Mapping[str, Any]
) -> ModerationRequest:
    """Validate the caller's arguments into a :class:`ModerationRequest` for ``model``."""
    texts = coerce_inputs(inputs, param="input", takes=_TAKES)
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        name = unknown[0]
        fix = did_you_mean(
            name, PARAMS, f"moderate takes {', '.join(PARAMS)}; pass others in extra={{...}}"
        )
        raise InvalidRequestError(f"unknown parameter {name!r} for moderate: {fix}", param=name)
    p = {key: value for key, value in params.items() if value is not None}
    check_options(p)
    return ModerationRequest(model=model, inputs=texts, **p)


def input_size(request: ModerationRequest) -> int:
    """Characters of text the request carries (for the size check and limit estimates)."""
    return sum(map(len, request.inputs))


# -- for provider plugins -------------------------------------------------------


def moderation_result(
    categories: Mapping[str, Any],
    scores: Mapping[str, Any],
    *,
    flagged: bool | None = None,
    applied_input_types: Mapping[str, Sequence[str]] | None = None,
) -> ModerationResult:
    """A :class:`ModerationResult` from a vendor's JSON maps: each verdict a bool, each
    score a float (a ``TypeError`` or ``ValueError`` for what is neither: the answer
    is unreadable); ``flagged`` whether any category is when the vendor gives no
    verdict of its own. A category a vendor sends ``null`` for is left out."""
    verdicts = {str(k): _bool(v) for k, v in categories.items() if v is not None}
    numbers = {str(k): _score(v) for k, v in scores.items() if v is not None}
    applied = {
        str(k): tuple(str(kind) for kind in v)
        for k, v in (applied_input_types or {}).items()
        if isinstance(v, Sequence) and not isinstance(v, str)
    }
    return ModerationResult(
        flagged=any(verdicts.values()) if flagged is None else _bool(flagged),
        categories=verdicts,
        scores=numbers,
        applied_input_types=applied,
    )


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{value!r} is not true or false")
    return value


def _score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a score")
    return float(value)
