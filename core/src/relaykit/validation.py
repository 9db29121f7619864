"""Checks made before anything is sent: a request too big to be sensible is refused here."""

from __future__ import annotations

from collections.abc import Mapping
from math import inf, isfinite
from typing import Any

from .errors import InvalidRequestError
from .request import ChatRequest, request_size


def cache_choice(params: dict[str, Any]) -> bool | None:
    """The call's own ``cache=`` (relaykit's, not a request parameter), popped from
    ``params``: ``None`` when it does not say. Anything but True, False or None is
    refused: read as truthy, ``cache="no"`` would cache the call."""
    value = params.pop("cache", None)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidRequestError(
        f"`cache` must be True, False or None, not {value!r}"[:160],
        param="cache",
        hint="cache=True keeps and replays this call's answer, cache=False bypasses the cache",
    )


def check_size(request: ChatRequest, limit: int) -> int:
    """The request's size (:func:`request_size`); raise :class:`InvalidRequestError` when it
    exceeds ``limit`` characters.

    A runaway loop that keeps appending to a conversation should fail fast and
    cheaply here, not after uploading megabytes to a provider that bills for them.
    """
    size = request_size(request)
    if size > limit:  # compared here: this runs on every chat call, check_chars rarely
        check_chars(size, limit, "the request carries", "messages", "trim the conversation")
    return size


def check_chars(size: int, limit: int, what: str, param: str, fix: str) -> None:
    """Refuse a call whose text is ``size`` characters, over ``limit`` (``[validation]
    max_chars``): :class:`InvalidRequestError` naming ``param``. ``what`` says what
    carries them (``"the prompt carries"``), ``fix`` how to send less."""
    if size > limit:
        raise InvalidRequestError(
            f"{what} {size:,} characters of text, over the limit of {limit:,}",
            param=param,
            hint=f"{fix}, or raise [validation] max_chars",
        )


def check_options(p: dict[str, Any]) -> None:
    """Check (and copy) the options every call takes, in ``p`` (a call's parameters):
    ``timeout`` a positive number of seconds (or ``inf``), ``metadata`` and ``extra``
    dicts. Raises :class:`InvalidRequestError` naming the one that is not."""
    timeout = p.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not (isfinite(timeout) or timeout == inf)
        or timeout <= 0
    ):
        raise InvalidRequestError(
            f"`timeout` must be a positive number of seconds, not {timeout!r}", param="timeout"
        )
    for key in ("metadata", "extra"):
        if key in p:
            if not isinstance(p[key], Mapping):
                raise InvalidRequestError(f"`{key}` must be a dict", param=key)
            p[key] = dict(p[key])
