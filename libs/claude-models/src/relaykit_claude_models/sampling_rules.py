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


def check_sampling(values: Mapping[str, Any], *, name: str | None, model: str) -> None:
    """Refuse, before sending, the first of ``values`` (relaykit's names: the sampling
    values the body will carry) that the model refuses.

    ``name`` is :func:`refuses_sampling`'s answer (``None``: nothing is refused);
    ``model`` is the caller's model, named in the error
    (:class:`~relaykit.InvalidRequestError`, ``param`` the parameter, no status), so
    that a route falls back to a deployment that takes it.
    """
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
