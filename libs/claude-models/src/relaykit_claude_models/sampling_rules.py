"""The sampling parameters newer Claude models refuse, whether they think or not.

Anthropic removed ``temperature``, ``top_p`` and ``top_k`` from Claude Opus
4.7 on: a value other than the default is answered with a 400 ("temperature
is deprecated for this model"), thinking or not, on Anthropic's API and
relayed by Bedrock alike ("The model returned the following errors: ...").
The models, from Anthropic's migration guide (Opus 4.7, 4.8 and 5 sections,
and the Claude Sonnet 5 one: "non-default sampling parameters are rejected ...
omitting the parameter, or passing its default, is still accepted"; its
breaking changes apply unchanged on Bedrock), each model's "What's new" page
for Sonnet 5.5, Haiku 5.5, Opus 5.5, Fable and Mythos, and reports of the 400
on Opus 4.7, 4.8, Sonnet 5 and Fable 5 (read 2026-12-02):

- Claude Opus 4.7 and later (4.8, 5, 5.5);
- Claude Sonnet 5 and later (5.5), Claude Haiku 5 and later (5.5);
- Claude Fable and Claude Mythos (5, 5.1).

What is still taken: no value at all, ``temperature`` 1 (the API's default),
and ``top_p`` of 0.99 or more (0.99 is the API's default, 1 samples from every
token); ``top_k`` has no default, so any value is refused. Older models, and
names with no Claude version or family read here, are left to the API, which
answers what it refuses with its own 400.

Before those, from Claude Opus 4.1, Sonnet 4.5 and Haiku 4.5 on, Claude takes
``temperature`` or ``top_p`` but not both in one call, whatever their values:
the API answers the two with a 400 ("`temperature` and `top_p` cannot both be
specified for this model. Please use only one."), and Bedrock relays it.
Anthropic's "Migrating to Claude 4.5" guide ("Use only temperature OR top_p,
not both"), and reports of the 400 on Opus 4.1, 4.5, Sonnet 4.5, 4.6 and
Haiku 4.5 (read 2026-12-04); Claude Opus 4 and Sonnet 4 take both. So
:func:`refuses_sampling_pair` names Opus 4.1 to 4.6, Sonnet 4.5 and 4.6 and
Haiku 4.5. The models above take only the defaults (refused otherwise, on their
own); whether they take both defaults together no page or report says, so that
is left to the API (an OpenAI SDK sends both, at 1). A ``null`` is no value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaykit import InvalidRequestError

from .model_names import claude_family, claude_version, model_words

#: the least ``top_p`` still taken: the API's default (1 is taken as well)
DEFAULT_TOP_P = 0.99

_HINT = (
    "drop {param} (steer the answer from the prompt instead), or route to a model that "
    "takes it (Claude Sonnet 4.6, Opus 4.6 or older)"
)


def refuses_sampling(model: str) -> str | None:
    """The model in words ("Claude Opus 4.7") when ``model`` refuses non-default
    sampling parameters, else ``None``."""
    version = claude_version(model)
    family = claude_family(model)
    if version is None or family is None:
        return None
    refuses = (
        family in ("fable", "mythos")
        or (family == "opus" and version >= (4, 7))
        or (family in ("sonnet", "haiku") and version >= (5, 0))
    )
    return model_words(family, version) if refuses else None


def refuses_sampling_pair(model: str) -> str | None:
    """The model in words ("Claude Sonnet 4.5") when ``model`` takes ``temperature``
    or ``top_p`` but not both in one call (Opus 4.1 to 4.6, Sonnet 4.5 and 4.6,
    Haiku 4.5), else ``None``: older models take both; the models that take only
    the defaults (:func:`refuses_sampling`), and names with no Claude version or
    family read here, are left to the API (see the module's description)."""
    version = claude_version(model)
    family = claude_family(model)
    if version is None or family is None or refuses_sampling(model) is not None:
        return None
    refuses = (family == "opus" and version >= (4, 1)) or (
        family in ("sonnet", "haiku") and version >= (4, 5)
    )
    return model_words(family, version) if refuses else None


def sampling_taken(param: str, value: Any) -> bool:
    """Whether ``value`` of ``param`` (``temperature``, ``top_p``, ``top_k``) is one
    these models still take: its default, or no cut at all."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if param == "temperature":
        return value == 1
    if param == "top_p":
        return value >= DEFAULT_TOP_P
    return False


def check_sampling(
    values: Mapping[str, Any], *, name: str | None, model: str, pair: str | None = None
) -> None:
    """Refuse, before sending, the first of ``values`` (relaykit's names: the sampling
    values the body will carry, ``None`` left out) that the model refuses, then
    ``temperature`` and ``top_p`` together where the model takes only one of them.

    ``name`` is :func:`refuses_sampling`'s answer and ``pair``
    :func:`refuses_sampling_pair`'s (``None``: nothing is refused on that ground);
    ``model`` is the caller's model, named in the error
    (:class:`~relaykit.InvalidRequestError`, ``param`` the parameter, no status), so
    that a route falls back to a deployment that takes it.
    """
    _check_each(values, name, model)
    if pair is not None and "temperature" in values and "top_p" in values:
        raise InvalidRequestError(
            f"{pair} takes temperature or top_p, not both (temperature="
            f"{values['temperature']!r}, top_p={values['top_p']!r}): Claude refuses the two "
            "together from Opus 4.1, Sonnet 4.5 and Haiku 4.5 on",
            model=model,
            param="top_p",
            hint="send only one of them: drop top_p and keep temperature (or the other way round)",
        )


def _check_each(values: Mapping[str, Any], name: str | None, model: str) -> None:
    """Refuse the first of ``values`` that ``name`` (a model refusing non-default
    sampling, or ``None``) refuses."""
    if name is None:
        return
    for param, value in values.items():
        if sampling_taken(param, value):
            continue
        raise InvalidRequestError(
            f"{name} takes no {param} ({param}={value!r}): Anthropic removed the sampling "
            "parameters from Claude Opus 4.7, Sonnet 5 and Haiku 5.5 on, Fable and Mythos",
            model=model,
            param=param,
            hint=_HINT.format(param=param),
        )
