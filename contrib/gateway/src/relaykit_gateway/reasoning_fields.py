"""The thinking settings of the APIs the gateway serves, read as relaykit's ``reasoning=``.

Chat Completions takes ``reasoning_effort`` (and, from OpenRouter's callers, a
``reasoning`` object), the Responses API ``reasoning.effort``, Anthropic's
Messages API ``thinking`` (and ``output_config.effort``). Each dialect reads
its own field into one :class:`relaykit.Reasoning`, which the provider plugin
behind the call sends in its own vendor's terms: an OpenAI SDK's
``reasoning_effort`` reaches Claude as a thinking budget, an Anthropic SDK's
budget reaches o4-mini as an effort (:meth:`relaykit.Reasoning.level`).
A value the API would refuse is a 400 that names the field, before any call.

An effort a vendor adds that relaykit has no word for yet would be listed in
:data:`VENDOR_ONLY_EFFORTS`: a field asking for it is not translated but goes
to the provider as the caller sent it (in ``extra``), so the vendor's own
models get it and any other vendor refuses it out loud, rather than the
gateway quietly asking for less. Today relaykit knows every effort OpenAI's
and Anthropic's SDKs name, ``max`` included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaykit import InvalidRequestError, Reasoning
from relaykit.errors import did_you_mean
from relaykit.request import EFFORTS

#: efforts the vendors take that relaykit has no word for: not translated (none today)
VENDOR_ONLY_EFFORTS: tuple[str, ...] = ()
#: OpenAI's efforts (``reasoning_effort``, the Responses API's ``reasoning.effort``;
#: OpenRouter's ``reasoning.effort`` takes the same words, but ``max``)
OPENAI_EFFORTS: tuple[str, ...] = EFFORTS
#: Anthropic's efforts (``output_config.effort``): it has no ``none`` or ``minimal``
ANTHROPIC_EFFORTS = ("low", "medium", "high", "xhigh", "max")


def effort_word(value: Any, param: str, accepted: tuple[str, ...]) -> str:
    """``value`` if it is one of the ``accepted`` efforts, else the 400 naming ``param``.

    The caller then checks :data:`VENDOR_ONLY_EFFORTS`: such a word is passed on
    as sent, not translated.
    """
    if isinstance(value, str) and value in accepted:
        return value
    listed = ", ".join(accepted)
    raise InvalidRequestError(
        f"`{param}` is {value!r}; use one of {listed}",
        param=param,
        hint=did_you_mean(value, accepted) if isinstance(value, str) else None,
    )


def whole_tokens(value: Any, param: str, minimum: int) -> int:
    """``value`` if it is a whole number of tokens of at least ``minimum``, else the 400."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise InvalidRequestError(
        f"`{param}` must be a whole number of tokens, {minimum} or more, not {value!r}",
        param=param,
    )


def flag(value: Any, param: str) -> bool:
    """``value`` if it is a boolean, else the 400 naming ``param``."""
    if isinstance(value, bool):
        return value
    raise InvalidRequestError(f"`{param}` must be true or false, not {value!r}", param=param)


def require_mapping(value: Any, param: str, what: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else the 400 saying what ``param`` takes."""
    if isinstance(value, Mapping):
        return value
    raise InvalidRequestError(f"`{param}` must be an object ({what})", param=param)


def setting(
    param: str,
    effort: str | None = None,
    budget_tokens: int | None = None,
    summary: bool | None = None,
) -> Reasoning:
    """The :class:`~relaykit.Reasoning` for an effort and/or a budget read from ``param``
    (and whether the reasoning's text should come back, ``summary``); relaykit's
    own refusal (an effort and a budget that disagree on whether the model
    thinks) names ``param``, where the caller put them."""
    try:
        # the effort is checked by the caller
        return Reasoning(effort, budget_tokens, summary=summary)  # type: ignore[arg-type]
    except InvalidRequestError as e:
        raise InvalidRequestError(f"`{param}`: {e.message}", param=param, hint=e.hint) from e
