"""Which arguments of a command line given whole (``relaykit prompt --mcp "server
--token T"``) are credentials, masked in the server's label, errors and quoted stderr."""

from __future__ import annotations

from collections.abc import Iterable

from relaykit import Secret
from relaykit.secrets import MASK, scrub

from .server_config import secret_name

__all__ = ["flag_value", "secret_args", "shown"]


def secret_args(args: Iterable[str]) -> list[str | Secret]:
    """A command line's arguments with those that look like credentials made
    :class:`relaykit.Secret`, so the server's label (``python server.py --token ***``),
    its errors and its quoted stderr mask them.

    A credential is: the value after a flag whose name says it holds one (``--token T``,
    ``--api-key T``, ``--password T``, ``--client-secret T``: its words are a
    credential's, as a secret env name's are: see
    :func:`~relaykit_mcp.server_config.secret_name`; not ``--max-tokens 100``), the
    whole ``--token=T`` form of one, and any argument of a known format (``sk-...``,
    ``ghp_...``, a URL's ``user:password@`` or ``?api_key=``: what
    :func:`relaykit.secrets.scrub` recognises).
    """
    out: list[str | Secret] = []
    after_flag = False
    for arg in args:
        name, eq, _ = arg.partition("=")
        flagged = arg.startswith("-") and secret_name(name.lstrip("-"))
        if (after_flag and not arg.startswith("--")) or (flagged and eq) or scrub(arg) != arg:
            out.append(Secret(arg))
        else:
            out.append(arg)
        after_flag = flagged and not eq
    return out


def flag_value(arg: str | Secret) -> str:
    """The value of a ``--flag=value`` argument (``""`` for any other): a server may
    quote it alone."""
    text = arg.reveal() if isinstance(arg, Secret) else arg
    name, eq, value = text.partition("=")
    return value if eq and name.startswith("-") and " " not in name else ""


def shown(arg: str | Secret) -> str:
    """How an argument shows in a server's label: a secret as ``***``, a secret
    ``--flag=value`` as ``--flag=***`` (which flag it was helps tell servers apart)."""
    if not isinstance(arg, Secret):
        return arg
    if flag_value(arg):
        return arg.reveal().partition("=")[0] + "=" + MASK
    return MASK
