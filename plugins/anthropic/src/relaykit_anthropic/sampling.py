"""The sampling parameters newer Claude models refuse, whether they think or not.

Anthropic removed ``temperature``, ``top_p`` and ``top_k`` from Claude Opus
4.7 on: a value other than the default is answered with a 400 ("temperature
is deprecated for this model"), thinking or not. The models, from Anthropic's
migration guide (Opus 4.7, 4.8 and 5 sections, and the Claude Sonnet 5 one:
"non-default sampling parameters are rejected ... omitting the parameter, or
passing its default, is still accepted"), each model's "What's new" page for
Sonnet 5.5, Haiku 5.5, Opus 5.5, Fable and Mythos, and reports of the 400 on
Opus 4.7, 4.8, Sonnet 5 and Fable 5 (read 2026-12-02):

- Claude Opus 4.7 and later (4.8, 5, 5.5);
- Claude Sonnet 5 and later (5.5), Claude Haiku 5 and later (5.5);
- Claude Fable and Claude Mythos (5, 5.1).

relaykit refuses such a call before sending it
(:class:`~relaykit.InvalidRequestError`, ``param`` the parameter's name, no
status), so that a route falls back to a deployment that takes it. What is
still taken: no value at all, ``temperature`` 1 (the API's default), and
``top_p`` of 0.99 or more (0.99 is the API's default, 1 samples from every
token); ``top_k`` has no default, so any value is refused. The values come
from ``temperature=``, ``top_p=`` and ``extra`` (which may carry ``top_k``,
and whose values are the ones sent).

A deployment's name (a Foundry deployment "my-claude" serving Claude Opus
4.7) is read as the model it serves: the provider passes that model in
(``base_model``), as the prefill check (:mod:`.prefill`) reads it. Older models,
and names with no Claude version or family read here (a gateway's alias, a
later family), are left to the API: it answers what it refuses with its own 400.
"""

from __future__ import annotations

import re
from typing import Any

from relaykit import ChatRequest, InvalidRequestError

from .thinking import claude_version

_FAMILY = re.compile(r"claude-([a-z]+)-\d")

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
    found = _FAMILY.search(model.lower())
    if version is None or found is None:
        return None
    family = found.group(1)
    refuses = (
        family in ("fable", "mythos")
        or (family == "opus" and version >= (4, 7))
        or (family in ("sonnet", "haiku") and version >= (5, 0))
    )
    if not refuses:
        return None
    major, minor = version
    return f"Claude {family.title()} {major}" + (f".{minor}" if minor else "")


def sampling_values(request: ChatRequest) -> dict[str, Any]:
    """The sampling parameters the body of ``request`` will carry (``extra``'s win)."""
    values = {"temperature": request.temperature, "top_p": request.top_p, "top_k": None}
    for name in values:
        if name in request.extra:
            values[name] = request.extra[name]
    return {name: value for name, value in values.items() if value is not None}


def check(request: ChatRequest, base: str | None = None) -> None:
    """Refuse ``request`` before sending when its model (or ``base``, the Claude model
    a deployment named ``request.model`` serves) refuses one of its sampling values."""
    name = refuses_sampling(base or request.model)
    if name is None:
        return
    if base and base != request.model:
        name = f"{name} (deployment {request.model!r})"
    for param, value in sampling_values(request).items():
        if _taken(param, value):
            continue
        raise InvalidRequestError(
            f"{name} takes no {param} ({param}={value!r}): Anthropic removed the sampling "
            "parameters from Claude Opus 4.7, Sonnet 5 and Haiku 5.5 on, Fable and Mythos",
            model=request.model,
            param=param,
            hint=_HINT.format(param=param),
        )


def _taken(param: str, value: Any) -> bool:
    """Whether ``value`` is one the API still takes: its default, or no cut at all."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if param == "temperature":
        return value == 1
    if param == "top_p":
        return value >= DEFAULT_TOP_P
    return False
