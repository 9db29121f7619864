"""relaykit.plugin_options: a plugin's config numbers, or a ConfigError naming the key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit.config import load_config
from relaykit.plugin_options import config_path, path_option, seconds, whole_number


@pytest.mark.parametrize(
    ("given", "taken"),
    [({}, 8125), ({"port": 9464}, 9464), ({"port": "9464"}, 9464), ({"port": 80.0}, 80)],
)
def test_a_whole_number_is_taken_as_written_or_as_a_string(
    given: dict[str, Any], taken: int
) -> None:
    assert whole_number(given, "port", 8125, where="exporters.x", high=65535) == taken


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (70000, "a port number from 0 to 65535, not 70000"),
        (-1, "a port number from 0 to 65535, not -1"),
        (True, "not True"),
        ("http", "not 'http'"),
        (1.5, "not 1.5"),
        (math.inf, "not inf"),
        (10**30, "not 1000000000000000000000000000000"),
    ],
)
def test_a_port_out_of_range_or_of_another_kind_names_the_key(value: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"config key exporters\.x\.port must be") as e:
        whole_number({"port": value}, "port", 8125, where="exporters.x", high=65535)
    assert expected in str(e.value)


def test_a_count_names_its_lower_bound() -> None:
    with pytest.raises(
        ConfigError, match=r"exporters\.x\.max_packet must be a whole number from 1, not 0"
    ):
        whole_number({"max_packet": 0}, "max_packet", 1432, where="exporters.x", low=1)


@pytest.mark.parametrize(("value", "taken"), [(2, 2.0), ("0.5", 0.5), (None, None)])
def test_seconds_are_taken_as_written_or_as_a_string(value: object, taken: float | None) -> None:
    table = {} if value is None else {"timeout": value}
    assert seconds(table, "timeout", 10.0, where="exporters.x") == (taken or 10.0)


@pytest.mark.parametrize("value", [0, -1, math.inf, math.nan, "soon", False])
def test_seconds_not_finite_and_above_zero_name_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"exporters\.x\.timeout must be a number of seconds > 0"):
        seconds({"timeout": value}, "timeout", 10.0, where="exporters.x")


# -- paths --------------------------------------------------------------------------


def test_a_relative_path_in_a_config_file_is_taken_from_the_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "relaykit.toml").write_text(
        '[storage]\nbackend = "none"\n[exporters.x]\nfile = "keys/sa.json"\n'
    )
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "project" / "relaykit.toml", env={})
    table = config.exporters["x"]
    # absolute when read: a later chdir does not move it
    assert path_option(table, "file", where="exporters.x", config=config) == (
        project / "keys" / "sa.json"
    )
    assert config_path("/etc/sa.json", config) == Path("/etc/sa.json")
    assert config_path("~/sa.json", config) == Path.home() / "sa.json"
    assert path_option(table, "missing", where="exporters.x", config=config) is None
    # found through $RELAYKIT_CONFIG too, and handed to providers in their settings
    found = load_config(env={"RELAYKIT_CONFIG": str(project / "relaykit.toml")})
    assert config_path("sa.json", found) == project / "sa.json"


def test_a_relative_path_in_a_dict_config_is_the_working_directorys(
    closed_after: Any,
) -> None:
    config = load_config({"storage": {"backend": "none"}}, env={})
    assert config.base_dir is None
    assert config_path("keys/sa.json", config) == Path("keys/sa.json")
    assert config_path("keys/sa.json", None) == Path("keys/sa.json")


def test_providers_get_the_config_files_directory(tmp_path: Path, closed_after: Any) -> None:
    (tmp_path / "relaykit.toml").write_text(
        '[storage]\nbackend = "none"\n[providers.local]\ntype = "openai"\n'
        'base_url = "http://127.0.0.1:9/v1"\napi_key = "sk-local-0123456789"\n'
    )
    client = closed_after(relaykit.Client(tmp_path / "relaykit.toml", env={}))
    _, settings = client._registry.settings("local")
    assert settings.base_dir == tmp_path.absolute()
    assert config_path("sa.json", settings) == tmp_path / "sa.json"


@pytest.mark.parametrize("value", [3, "", "  ", ["a"], True])
def test_a_path_that_is_not_a_string_names_the_key(value: object) -> None:
    with pytest.raises(
        ConfigError, match=r"config key providers\.v\.credentials_file must be a path"
    ):
        path_option(
            {"credentials_file": value}, "credentials_file", where="providers.v", config=None
        )
