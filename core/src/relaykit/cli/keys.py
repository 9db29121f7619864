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
from .stdin_text import read_stdin_text
from .storage_session import (
    config_of,
    make_parser,
    needs,
    opened_storage,
    plugin_manager_of,
    run,
)
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
    set_.add_argument(
        "--force",
        action="store_true",
        help="store it though no installed plugin or [providers] table here knows the"
        " provider (for a machine that has the plugin and shares this storage)",
    )
    set_.set_defaults(func=keys_set)
    make_parser(actions, "list", parents, help="stored keys, as prefixes").set_defaults(
        func=keys_list
    )
    rm = make_parser(actions, "rm", parents, help="delete a provider's key")
    rm.add_argument("provider")
    rm.set_defaults(func=keys_rm)
    make_parser(
        actions,
        "rotate",
        parents,
        help="re-encrypt every key under a new master key",
        description="Re-encrypt every stored key under a new master key. With a key file "
        "(master.key), the new key is generated into it; with RELAYKIT_MASTER_KEY, it is "
        "read from RELAYKIT_NEW_MASTER_KEY (refused beside a key file).",
    ).set_defaults(func=keys_rotate)


def read_key(provider: str) -> Secret:
    """The key, typed without echo at a terminal, or read from piped standard input
    (one line: blank lines aside, more is refused)."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            text = getpass.getpass(f"API key for {provider} (input hidden): ")
        except EOFError:  # Ctrl-D at the prompt: no key, as an empty line is
            print(file=sys.stderr)  # getpass left the cursor after its prompt
            text = ""
    else:
        text = read_stdin_text(sys.stdin, f"keys set {provider}") if sys.stdin else ""
        # Taking the first line dropped the rest without a word: a file of two keys, or
        # a .env file, piped in. Blank lines around the one key are no second key.
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1:
            raise ConfigError(
                f"stdin holds {len(lines)} lines for the key of {provider!r}: a key is one line",
                hint=f"pipe the key alone: printf '%s' \"$KEY\" | relaykit keys set {provider}",
            )
        text = lines[0] if lines else ""
    text = text.strip()
    if not text:
        raise ConfigError(f"no key given for {provider!r}", hint="type or pipe the key")
    return Secret(text)


def keys_set(args: argparse.Namespace) -> int:
    """Store the key of ``args.provider``."""
    if not args.force:
        _check_known(args)  # before the key is typed: a misspelt name would waste it
    key = read_key(args.provider)
    return run(args, functools.partial(_set, key=key))


def _check_known(args: argparse.Namespace) -> None:
    """Refuse a provider no installed plugin provides and no ``[providers.NAME]``
    table names: its key would be stored and never used (``opneai``)."""
    from ..config_tables import FIRST_PARTY, install_hint
    from ..errors import did_you_mean
    from ..key_vault import check_provider_name
    from ..plugin_faults import factory_problem, list_results

    name = args.provider
    check_provider_name(name)
    pm = plugin_manager_of(args)
    types = {f.type for f in list_results(pm, "relaykit_providers", check=factory_problem)}
    known = sorted(types | set(config_of(args).providers))
    if name in known:
        return
    get = install_hint(FIRST_PARTY["providers"].get(name, f"relaykit-{name}"), pm.not_loaded)
    near = did_you_mean(name, known, "")
    raise ConfigError(
        f"no installed plugin or [providers] table knows provider {name!r}"
        f" (known: {', '.join(known) or 'none'})",
        hint=f"{near + ' ' if near else ''}To add it: {get}, or configure [providers.{name}];"
        " or store it anyway with --force (for a machine that has its plugin and"
        " shares this storage)",
    )


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
