"""``relaykit keys set|list|rm|rotate``: provider keys in the encrypted key vault."""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, NotFoundError
from ..secrets import Secret
from .stdin_text import read_stdin_lines
from .storage_session import make_parser, needs, opened_storage, run
from .table import format_table

if TYPE_CHECKING:
    # The vault (with the config and storage modules it needs) loads in the handlers:
    # every `relaykit` run registers this command, `relaykit --help` too.
    from ..key_vault import MasterKey
    from ..protocols import Storage

VAULT_METHODS = ("vault_put", "vault_items", "vault_delete")


def register(subparsers: argparse._SubParsersAction[Any], parents: Sequence[Any]) -> None:
    """Add ``keys`` and its actions."""
    keys = make_parser(
        subparsers,
        "keys",
        list(parents),
        help="provider API keys in the encrypted key vault",
        description="Provider API keys, encrypted at rest in the storage backend. Keys in "
        "the vault are used after [providers.NAME] api_key and before environment variables.",
    )
    actions = keys.add_subparsers(title="actions", metavar="ACTION", required=True)
    set_ = make_parser(actions, "set", parents, help="store a provider's key (asked for, hidden)")
    set_.add_argument("provider", help="provider name, e.g. openai")
    set_.set_defaults(func=keys_set)
    make_parser(actions, "list", parents, help="stored keys, as prefixes").set_defaults(
        func=keys_list
    )
    rm = make_parser(actions, "rm", parents, help="delete a provider's key")
    rm.add_argument("provider")
    rm.set_defaults(func=keys_rm)
    make_parser(
        actions, "rotate", parents, help="re-encrypt every key under a new master key"
    ).set_defaults(func=keys_rotate)


def read_key(provider: str) -> Secret:
    """The key, typed without echo at a terminal, or read from piped standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            text = getpass.getpass(f"API key for {provider} (input hidden): ")
        except EOFError:  # Ctrl-D at the prompt: no key, as an empty line is
            print(file=sys.stderr)  # getpass left the cursor after its prompt
            text = ""
    else:
        lines = read_stdin_lines(sys.stdin, f"keys set {provider}") if sys.stdin else iter(())
        text = next(lines, "")
    text = text.strip()
    if not text:
        raise ConfigError(f"no key given for {provider!r}", hint="type or pipe the key")
    return Secret(text)


def keys_set(args: argparse.Namespace) -> int:
    """Store the key of ``args.provider``."""
    key = read_key(args.provider)  # before any I/O, so a typo costs nothing
    return run(args, functools.partial(_set, key=key))


async def _set(args: argparse.Namespace, key: Secret) -> int:
    from ..key_vault import KeyVault, load_master_key

    async with opened_storage(args) as storage:
        needs(storage, *VAULT_METHODS)
        master = load_master_key(os.environ) or await _master_for_stored_keys(storage)
        if master is None:
            master = load_master_key(os.environ, create=True)
            assert master is not None
        await KeyVault(storage, master).set(args.provider, key)
    print(f"stored the key for {args.provider} ({key.hint()}), encrypted with {master.source}")
    return 0


async def _master_for_stored_keys(storage: Storage) -> MasterKey | None:
    """With no master key found: ``None`` for an empty vault, else refuse.

    A new master key could not read what is stored, so none is created then,
    unless a key file appeared since the first look: another first ``keys set``
    creates it before storing, so it is there whenever its key is.
    """
    from ..key_vault import GENERATION_ENTRY, load_master_key

    names = sorted(set(await storage.vault_items()) - {GENERATION_ENTRY})
    if not names:
        return None
    master = load_master_key(os.environ)
    if master is None:
        raise ConfigError(
            f"the key vault holds keys for {', '.join(names)} but no master key is set",
            hint="set RELAYKIT_MASTER_KEY, or restore master.key in the user config dir",
        )
    return master


def keys_list(args: argparse.Namespace) -> int:
    """Print each stored key's provider and prefix."""
    return run(args, _list)


async def _list(args: argparse.Namespace) -> int:
    from ..key_vault import KeyVault, load_master_key

    master = load_master_key(os.environ)
    async with opened_storage(args) as storage:
        needs(storage, *VAULT_METHODS)
        master = master or await _master_for_stored_keys(storage)
        hints = {} if master is None else await KeyVault(storage, master).hints()
    if not hints:
        print("no keys stored; add one with `relaykit keys set PROVIDER`", file=sys.stderr)
        return 0
    print(format_table(["PROVIDER", "KEY"], sorted(hints.items())))
    return 0


def keys_rm(args: argparse.Namespace) -> int:
    """Delete the key of ``args.provider``."""
    return run(args, _rm)


async def _rm(args: argparse.Namespace) -> int:
    from ..key_vault import check_provider_name

    check_provider_name(args.provider)
    async with opened_storage(args) as storage:
        needs(storage, *VAULT_METHODS)
        removed = await storage.vault_delete(args.provider)
    if not removed:
        raise NotFoundError(
            f"no key stored for {args.provider!r}",
            hint="`relaykit keys list` shows the providers that have one",
        )
    print(f"deleted the key for {args.provider}")
    return 0


def keys_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt every stored key under a new master key."""
    return run(args, _rotate)


async def _rotate(args: argparse.Namespace) -> int:
    from ..key_vault import rotate_master_key

    async with opened_storage(args) as storage:
        needs(storage, *VAULT_METHODS)
        new, count = await rotate_master_key(storage, os.environ)
    print(f"re-encrypted {count} key{'s' if count != 1 else ''} under a new master key")
    if new.path is None:
        print(f"now set RELAYKIT_MASTER_KEY to the value of {new.source}")
    else:
        print(f"the new master key is in {new.path}")
    return 0
