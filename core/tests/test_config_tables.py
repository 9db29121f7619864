"""An ``[exporters.NAME]`` or ``[redactors.NAME]`` table that no plugin reads is refused.

Such a table did nothing and said nothing: ``[exporters.promethues]``, or
``[exporters.statsd]`` without relaykit-statsd, left the user believing their
metrics were on. Plugins name the tables they read (``relaykit_config_tables``);
a client refuses one nobody names, unless a plugin written before that hook may
read it (then it logs a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import relaykit
import relaykit.config_tables as config_tables
from relaykit import ConfigError, hookimpl
from relaykit.cli import main
from relaykit.config import Config
from relaykit.testing import FakePlugin, RecordingExporter

from .conftest import SETTINGS, uninstall

#: only the built-in plugins and those a test passes: no installed entry point
BARE = {"RELAYKIT_PLUGINS": ""}


class TableExporter(RecordingExporter):
    """An exporter plugin configured by ``[exporters.recording]``, as a real one is."""

    @hookimpl
    def relaykit_exporters(self, config: Config) -> Sequence[Any]:
        return [self] if "recording" in config.exporters else []

    @hookimpl
    def relaykit_config_tables(self, config: Config) -> Sequence[str]:
        return ["exporters.recording"]


class UndeclaredPlugin:
    """A plugin written before ``relaykit_config_tables``: it reads ``[exporters.legacy]``
    but does not say so."""

    __name__ = "old-exporter"

    def __init__(self) -> None:
        self.exporter = RecordingExporter()

    @hookimpl
    def relaykit_exporters(self, config: Config) -> Sequence[Any]:
        return [self.exporter] if "legacy" in config.exporters else []


@pytest.fixture
def not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """No plugin installed (see :func:`uninstall`)."""
    uninstall(monkeypatch)


def refused(config: dict[str, Any], *plugins: object, env: Any = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        relaykit.Client({**SETTINGS, **config}, plugins=plugins, env=BARE if env is None else env)
    return info.value


@pytest.mark.anyio
async def test_relaykit_config_tables_a_named_table_is_read_and_its_exporter_records() -> None:
    exporter = TableExporter()
    config = {**SETTINGS, "exporters": {"recording": {}}}
    async with relaykit.Client(config, plugins=[FakePlugin(), exporter], env=BARE) as client:
        await client.chat("fake/m", "hi")
    assert [r.ok for r in exporter.records] == [True]


def test_relaykit_config_tables_a_misspelt_table_is_refused_naming_the_near_one() -> None:
    error = refused({"exporters": {"recordng": {}}}, FakePlugin(), TableExporter())
    assert error.message == "no installed plugin reads [exporters.recordng]: it would be ignored"
    assert error.hint == "did you mean [exporters.recording]?"


@pytest.mark.usefixtures("not_installed")
def test_a_table_of_relaykit_s_own_plugin_names_the_package_to_install() -> None:
    error = refused({"exporters": {"statsd": {"port": 8125}}})
    assert "no installed plugin reads [exporters.statsd]" in error.message
    assert (
        error.hint
        == "pip install relaykit-statsd (it reads [exporters.statsd]), or remove the table"
    )
    error = refused({"redactors": {"pii": {"enabled": True}}})
    assert (error.hint or "").startswith("pip install relaykit-pii")
    # a near miss of one not installed: the name as it is written, and its package
    error = refused({"exporters": {"promethues": {}}})
    assert error.hint == "did you mean [exporters.prometheus]? (pip install relaykit-prometheus)"


def test_a_disabled_plugin_s_table_says_how_to_enable_it() -> None:
    # installed, but RELAYKIT_DISABLE_PLUGINS keeps it from loading: its table reads
    # nothing, and "pip install relaykit-prometheus" would answer "already satisfied"
    error = refused(
        {"exporters": {"prometheus": {}}}, env={"RELAYKIT_DISABLE_PLUGINS": "prometheus,pii"}
    )
    assert error.message == "no installed plugin reads [exporters.prometheus]: it would be ignored"
    assert error.hint == (
        "relaykit-prometheus (it reads [exporters.prometheus]) is installed but disabled:"
        " take 'prometheus' out of RELAYKIT_DISABLE_PLUGINS, or remove the table"
    )
    # left out of RELAYKIT_PLUGINS, the list of those to load
    error = refused({"redactors": {"pii": {}}}, env={"RELAYKIT_PLUGINS": "openai"})
    assert error.hint == (
        "relaykit-pii (it reads [redactors.pii]) is installed but not loaded:"
        " add 'pii' to RELAYKIT_PLUGINS, or remove the table"
    )
    # a near miss of a disabled one
    error = refused(
        {"exporters": {"promethues": {}}}, env={"RELAYKIT_DISABLE_PLUGINS": "prometheus"}
    )
    assert error.hint == (
        "did you mean [exporters.prometheus]? (relaykit-prometheus is installed but"
        " disabled: take 'prometheus' out of RELAYKIT_DISABLE_PLUGINS)"
    )


def test_an_unknown_table_names_the_tables_the_installed_plugins_read() -> None:
    error = refused({"exporters": {"graphite": {}}}, TableExporter())
    assert error.hint == (
        "the installed plugins read [exporters.recording]; remove the table, or install"
        " the plugin that reads it (`relaykit plugins` lists those loaded)"
    )
    # the built-in secret redactor reads no table: redactors are checked as strictly
    error = refused({"redactors": {"secrets": {}}})
    assert (error.hint or "").startswith("no installed plugin reads a [redactors.NAME] table")


def test_the_cli_prints_the_refusal_as_one_line(
    write_config: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(extra="[exporters.promethues]\nport = 9464\n")
    monkeypatch.setenv("RELAYKIT_CONFIG", str(path))

    assert main(["prompt", "-m", "openai/gpt-4o-mini", "Hi"]) == 1

    captured = capsys.readouterr()
    assert captured.err == (
        "error: no installed plugin reads [exporters.promethues]: it would be ignored"
        " (did you mean [exporters.prometheus]?)\n"
    )
    assert captured.out == ""


@pytest.mark.anyio
async def test_a_plugin_that_names_no_tables_makes_the_check_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written before the hook, it may read the table: refusing would break a working
    # configuration on an upgrade of the core alone. It still works, and is warned of.
    monkeypatch.setattr(config_tables, "_warned", set())
    old = UndeclaredPlugin()
    config = {**SETTINGS, "exporters": {"legacy": {}}}
    with caplog.at_level(logging.WARNING, logger="relaykit.config"):
        async with relaykit.Client(config, plugins=[FakePlugin(), old], env=BARE) as client:
            await client.chat("fake/m", "hi")
        async with relaykit.Client(config, plugins=[FakePlugin(), old], env=BARE):
            pass  # warned once only
    assert [r.ok for r in old.exporter.records] == [True]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "relaykit.config"]
    assert warning.startswith("no plugin says it reads [exporters.legacy]; old-exporter may")
    # a kind it has no hook for stays strict
    with pytest.raises(ConfigError, match=r"reads \[redactors.legacy\]"):
        relaykit.Client({**config, "redactors": {"legacy": {}}}, plugins=[old], env=BARE)


MCP = {"mcp": {"servers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}}}}


@pytest.mark.usefixtures("not_installed")
def test_an_mcp_table_without_relaykit_mcp_is_refused_naming_the_package() -> None:
    # Read only when --mcp is used: without relaykit-mcp, `relaykit prompt --mcp time`
    # was the first to say so, and a library client never did.
    error = refused(MCP)
    assert error.message == "no installed plugin reads [mcp]: it would be ignored"
    assert error.hint == "pip install relaykit-mcp (it reads [mcp]), or remove the table"


def test_an_mcp_table_with_relaykit_mcp_disabled_says_how_to_enable_it() -> None:
    error = refused(MCP, env={"RELAYKIT_DISABLE_PLUGINS": "mcp"})
    assert error.message == "no installed plugin reads [mcp]: it would be ignored"
    assert error.hint == (
        "relaykit-mcp (it reads [mcp]) is installed but disabled:"
        " take 'mcp' out of RELAYKIT_DISABLE_PLUGINS, or remove the table"
    )


class UndeclaredToolSource:
    """A ``--mcp`` plugin written before ``relaykit_config_tables``: it may read ``[mcp]``."""

    __name__ = "old-tools"

    @hookimpl
    def relaykit_tool_source(self, spec: str, headers: Any, config: Config) -> Any:
        return None


def test_a_tool_source_that_names_no_tables_makes_the_mcp_check_a_warning(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    monkeypatch.setattr(config_tables, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="relaykit.config"):
        closed_after(
            relaykit.Client({**SETTINGS, **MCP}, plugins=[UndeclaredToolSource()], env=BARE)
        )
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "relaykit.config"]
    assert warning.startswith("no plugin says it reads [mcp]; old-tools may")


def test_a_misspelt_storage_or_limiter_backend_names_the_near_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # checked at start already, but the fix named a package that does not exist
    # (pip install relaykit-sqllite)
    error = refused({"storage": {"backend": "sqllite"}}, env={})
    assert error.hint == "did you mean 'sqlite'?"
    uninstall(monkeypatch)
    error = refused({"storage": {"backend": "postgres"}})  # first-party, not loaded
    assert error.hint == (
        "pip install relaykit-postgres (it provides 'postgres'), or set [storage] backend = 'none'"
    )
    limits = {"limits": {"fake/*": {"rpm": 5}}}
    error = refused({**limits, "limiter": {"backend": "memroy"}})
    assert error.hint == "did you mean 'memory'?"
    error = refused({**limits, "limiter": {"backend": "etcd"}})
    assert error.hint == "pip install relaykit-etcd, or set [limiter] backend = 'memory'"


def test_a_providers_table_no_plugin_provides_is_refused_at_start() -> None:
    # Found out only at the first call to it before, and never when the calls went to
    # the provider it misspells: [providers.antropic] base_url = "..." (a proxy),
    # while anthropic/... calls went straight to the vendor.
    error = refused({"providers": {"antropic": {"base_url": "http://proxy"}}}, env={})
    assert error.message == "no plugin provides provider 'antropic'"
    assert error.hint == "did you mean 'anthropic'?"
    error = refused({"providers": {"fast": {"type": "groqq"}}}, env={})
    assert error.message == "no plugin provides provider type 'groqq' (of 'fast')"
    assert error.hint == "did you mean 'groq'?"
    error = refused({"providers": {"zzzz": {}}}, env={})
    assert error.hint == (
        "install its plugin (pip install relaykit-zzzz), or give [providers.zzzz] the type"
        " of an installed provider (type = 'openai' for an OpenAI-compatible service),"
        " or remove the table"
    )


def test_a_disabled_storage_backend_says_how_to_enable_it() -> None:
    error = refused({"storage": {"backend": "postgres"}}, env={"RELAYKIT_PLUGINS": "sqlite"})
    assert error.hint == (
        "relaykit-postgres (it provides 'postgres') is installed but not loaded:"
        " add 'postgres' to RELAYKIT_PLUGINS, or set [storage] backend = 'none'"
    )


@pytest.mark.usefixtures("not_installed")
@pytest.mark.parametrize(
    ("type_", "package"),
    [
        ("groq", "relaykit-openai"),
        ("vertex-anthropic", "relaykit-anthropic"),
        ("vertex", "relaykit-gemini"),
    ],
)
def test_a_missing_first_party_provider_type_names_the_package_that_brings_it(
    type_: str, package: str
) -> None:
    # relaykit-openai brings every OpenAI-compatible preset: "pip install relaykit-groq"
    # named a package that does not exist
    error = refused({"providers": {"mine": {"type": type_}}}, env={})
    assert error.hint is not None
    assert error.hint.startswith(f"install its plugin (pip install {package}), or give")


def test_a_disabled_provider_plugin_says_how_to_enable_it() -> None:
    disabled = {"RELAYKIT_DISABLE_PLUGINS": "openai,anthropic"}
    error = refused({"providers": {"mine": {"type": "groq"}}}, env=disabled)
    assert error.hint == (
        "enable its plugin (relaykit-openai is installed but disabled: take 'openai' out of"
        " RELAYKIT_DISABLE_PLUGINS), or give [providers.mine] the type of an installed"
        " provider (type = 'openai' for an OpenAI-compatible service), or remove the table"
    )
    error = refused({"providers": {"anthropic": {}}}, env=disabled)
    assert error.message == "no plugin provides provider 'anthropic'"
    assert (error.hint or "").startswith(
        "enable its plugin (relaykit-anthropic is installed but disabled: take 'anthropic' out"
    )


def test_a_misspelt_provider_whose_plugin_is_not_installed_names_the_right_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uninstall(monkeypatch, "anthropic")
    error = refused({"providers": {"antropic": {}}})
    # not "pip install relaykit-antropic": no such package
    assert error.message == "no plugin provides provider 'antropic'"
    assert error.hint == "did you mean 'anthropic'? (pip install relaykit-anthropic)"
    # one loaded is named as it was; one installed but not loaded says how to load it
    loaded = {"RELAYKIT_PLUGINS": "openai"}
    assert refused({"providers": {"opneai": {}}}, env=loaded).hint == "did you mean 'openai'?"
    assert refused({"providers": {"opneai": {}}}).hint == (
        "did you mean 'openai'? (relaykit-openai is installed but not loaded:"
        " add 'openai' to RELAYKIT_PLUGINS)"
    )
    # a type of relaykit's own, not installed: the package that provides it
    error = refused({"providers": {"claude": {"type": "vertex-anthropic"}}})
    assert (error.hint or "").startswith("install its plugin (pip install relaykit-anthropic)")
