"""Every installed plugin that reads a plugin table names it (``relaykit_config_tables``).

A plugin with ``relaykit_exporters``, ``relaykit_redactors`` or ``relaykit_tool_source``
(which reads ``[mcp]``) that names nothing makes
the client's check of unread tables a mere warning, so each of relaykit's own must name
its tables; and each table a first-party package reads must be one it names, or the
error's "pip install relaykit-NAME" would point at a package that does not help.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import relaykit
from relaykit.config import Config
from relaykit.config_tables import CHECKED_KINDS, CHECKED_TABLES, FIRST_PARTY
from relaykit.plugins import build_plugin_manager, collect

PM = build_plugin_manager(env={})


@pytest.mark.parametrize("hook", sorted({*CHECKED_KINDS.values(), *CHECKED_TABLES.values()}))
def test_every_installed_plugin_with_a_table_reading_hook_names_its_tables(hook: str) -> None:
    declaring = {impl.plugin_name for impl in PM.hook.relaykit_config_tables.get_hookimpls()}
    readers = {impl.plugin_name for impl in getattr(PM.hook, hook).get_hookimpls()}
    assert readers and readers <= declaring


@pytest.mark.parametrize(
    "table",
    [
        *(f"{kind}.{name}" for kind in CHECKED_KINDS for name in FIRST_PARTY[kind]),
        *FIRST_PARTY["tables"],
    ],
)
def test_each_first_party_table_is_named_by_its_installed_plugin(table: str) -> None:
    assert table in collect(PM.hook.relaykit_config_tables(config=Config()))


def test_a_pii_table_that_turns_it_off_is_still_read(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    # relaykit-pii reads the table whatever it holds: enabled = false is no typo
    closed_after(
        relaykit.Client({"storage": {"backend": "none"}, "redactors": {"pii": {"enabled": False}}})
    )
