"""``relaykit models`` and ``relaykit plugins``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.cli.models import usd


@pytest.mark.usefixtures("cli_config")
def test_models_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "openai"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "context", "input", "$/1M", "output", "$/1M"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["openai/gpt-4o-mini"] == ["128,000", "0.15", "0.60"]
    assert rows["openai/gpt-4.1-mini"] == ["1,047,576", "0.40", "1.60"]
    assert len(rows) == 4


@pytest.mark.usefixtures("cli_config")
def test_models_lists_every_configured_provider_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models"]) == 0
    assert "openai/o4-mini" in capsys.readouterr().out


@pytest.mark.usefixtures("cli_config")
def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "openai", "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    first = data[0]
    assert (first["id"], first["provider"], first["context_window"]) == (
        "gpt-4o-mini",
        "openai",
        128000,
    )
    assert first["price"]["input"] == "0.15"


def test_models_without_any_provider_says_how_to_add_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./relaykit.toml
    # No provider plugin at all: keyless local presets (lmstudio, ...) would
    # otherwise depend on what happens to be running on this machine.
    monkeypatch.setenv("RELAYKIT_DISABLE_PLUGINS", "openai")

    assert main(["models"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: no provider is configured")
    assert "OPENAI_API_KEY" in captured.err
    assert len(captured.err.splitlines()) == 1


def test_models_when_every_provider_fails_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(  # nothing listens on port 9: the listing is skipped, with a log line
        '[storage]\nbackend = "none"\n[providers.local]\ntype = "openai"\n'
        'base_url = "http://127.0.0.1:9/v1"\napi_key = "local-key-1234567890"\n'
    )
    assert main(["--config", str(config), "models"]) == 1
    err = capsys.readouterr().err
    assert "error: no models found: local listed none or failed" in err
    assert "relaykit models local" in err


@pytest.mark.usefixtures("cli_config")
def test_models_of_an_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "opneai"]) == 1
    assert capsys.readouterr().err == (
        "error: no plugin provides provider 'opneai' (did you mean 'openai'?)\n"
    )


@pytest.mark.parametrize(
    ("amount", "text"), [("0.15", "0.15"), ("2.5", "2.50"), ("10", "10.00"), ("0.075", "0.075")]
)
def test_prices_keep_at_least_cents(amount: str, text: str) -> None:
    assert usd(Decimal(amount)) == text


@pytest.mark.usefixtures("cli_config")
def test_plugins_lists_openai_with_its_version_and_hooks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plugins"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "version", "hooks"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["openai"] == ["0.1.0", "relaykit_providers"]
    assert rows["relaykit.secrets"] == ["0.1.0", "relaykit_config_tables,", "relaykit_redactors"]


@pytest.mark.usefixtures("cli_config")
def test_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0

    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert plugins["openai"] == {
        "name": "openai",
        "version": "0.1.0",
        "hooks": ["relaykit_providers"],
        "builtin": False,
    }
    assert plugins["relaykit.memory-limiter"]["builtin"] is True


@pytest.mark.usefixtures("cli_config")
def test_disabled_plugins_are_not_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELAYKIT_DISABLE_PLUGINS", "openai")

    assert main(["plugins"]) == 0

    assert "openai" not in capsys.readouterr().out
