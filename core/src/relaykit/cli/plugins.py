"""``relaykit plugins``: which plugins are loaded, their versions, and the hooks they implement."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .table import format_table

if TYPE_CHECKING:
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``plugins`` command."""
    parser = commands.add_parser(
        "plugins",
        parents=parents,
        help="list loaded plugins and the hooks they implement",
        description="List every loaded plugin: built-ins (relaykit.*), entry points of "
        "installed packages (filtered by RELAYKIT_PLUGINS / RELAYKIT_DISABLE_PLUGINS), "
        "and plugins an application passed in.",
    )
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit plugins``."""
    from ..plugins import describe_plugins

    context: CliContext = args.context
    plugins = describe_plugins(context.plugin_manager)
    if args.json:
        from ..serialization import to_json

        print(to_json(plugins))
        return 0
    rows = [(p.name, p.version or "-", ", ".join(p.hooks) or "-") for p in plugins]
    print(format_table(("name", "version", "hooks"), rows))
    return 0
