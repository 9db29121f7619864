"""A value the client refuses, named in the error as the user typed it.

Options go to the client under its parameter names: ``relaykit rerank --top-n 0``
becomes ``top_n=0``, ``-o max_tokens=x`` becomes ``max_tokens="x"``, and the
client's error names the parameter (`` `top_n` must be a positive integer``).
The user never typed ``top_n``; :func:`named_as_typed` puts back what they did
(``--top-n must be a positive integer``), for every command, plugins' included,
so no command has to repeat the client's checks to get its own option named.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence

from ..errors import InvalidRequestError
from .chat_options import parse_param

__all__ = ["named_as_typed"]


def named_as_typed(
    error: InvalidRequestError,
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    argv: Sequence[str],
) -> InvalidRequestError | None:
    """``error`` with its parameter (`` `top_n` ``) renamed to the option typed in
    ``argv`` (``--top-n``, ``-o max_tokens``), or ``None`` when it names no parameter
    that way or the user typed no option for it (a default, a template's value).

    :param parser: the parser of the command that ran (it knows its options).
    """
    param = error.param
    if not param:
        return None
    quoted = f"`{param}`"
    if quoted in error.message:
        typed = _typed_option(param, parser, args, argv)
        return None if typed is None else _replaced(error, quoted, typed)
    if _EXTRA in error.message or _EXTRA in (error.hint or ""):
        # "unknown parameter 'n': pass provider-specific fields in extra={...}" is
        # the Python API's fix; on the command line extra is an -o option too.
        flag = _options_flag(parser, argv)
        if flag is not None:
            return _replaced(error, _EXTRA, f"{flag} extra='{{\"{param}\": ...}}'")
    return None


#: how the client's errors say where a vendor's own field goes (Python's spelling)
_EXTRA = "extra={...}"


def _replaced(error: InvalidRequestError, old: str, new: str) -> InvalidRequestError:
    renamed = copy.copy(error)
    renamed.message = error.message.replace(old, new)
    renamed.hint = error.hint.replace(old, new) if error.hint else error.hint
    renamed.args = (renamed.message,)
    return renamed


def _options_flag(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The ``-o``/``--option`` flag of ``parser``'s command, as typed (``-o`` if not)."""
    for action in parser._actions:
        if action.type is parse_param and action.option_strings:
            return _last_typed(action.option_strings, argv) or action.option_strings[0]
    return None


def _typed_option(
    param: str, parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
) -> str | None:
    for action in parser._actions:  # argparse has no public way to list them
        if not action.option_strings:
            continue  # a positional: its value is what the user typed, not a name
        if action.dest == param:
            return _last_typed(action.option_strings, argv)
        if action.type is parse_param and param in dict(getattr(args, action.dest) or ()):
            flag = _last_typed(action.option_strings, argv)
            return None if flag is None else f"{flag} {param}"
    return None


def _last_typed(option_strings: Sequence[str], argv: Sequence[str]) -> str | None:
    """Which of ``option_strings`` the user typed last (the one argparse kept):
    ``--top-n 3``, ``--top-n=3``, or a short one with its value attached, ``-n3``."""
    typed = argv[: argv.index("--")] if "--" in argv else argv
    for token in reversed(typed):
        for option in option_strings:
            if token == option or token.startswith(option + "="):
                return option
            if len(option) == 2 and not token.startswith("--") and token.startswith(option):
                return option
    return None
