"""``relaykit logs`` and ``relaykit keys``: the storage commands of the command line.

Call :func:`register` with the ``relaykit`` command's sub-parsers. Handlers
take the parsed ``argparse`` namespace and return an exit code; failures a
user can fix are :class:`relaykit.RelayError` subclasses. They honour
``args.context`` (the CLI's shared settings) when present, and otherwise read
``args.config``, ``args.backend`` and ``args.plugins`` (tests use those).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .keys import add_keys_command
from .logs import add_logs_command

__all__ = ["register"]


def register(
    subparsers: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser] = ()
) -> None:
    """Add ``logs`` (with ``logs prune``) and ``keys set|list|rm|rotate`` to ``subparsers``.

    :param parents: parsers whose options every command also accepts (the CLI's
        global options).
    """
    add_logs_command(subparsers, list(parents))
    add_keys_command(subparsers, list(parents))
