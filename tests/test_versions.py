"""Every distribution in the workspace is released in lockstep."""

from __future__ import annotations

import tomllib
from pathlib import Path

import relaykit

ROOT = Path(__file__).resolve().parents[1]


def projects() -> dict[str, dict[str, object]]:
    paths = [
        ROOT / "core" / "pyproject.toml",
        *sorted(ROOT.glob("plugins/*/pyproject.toml")),
        *sorted(ROOT.glob("libs/*/pyproject.toml")),
        *sorted(ROOT.glob("contrib/*/pyproject.toml")),
    ]
    return {str(p.parent.relative_to(ROOT)): tomllib.loads(p.read_text())["project"] for p in paths}


def test_versions_agree() -> None:
    versions = {name: project["version"] for name, project in projects().items()}
    assert set(versions.values()) == {relaykit.__version__}, versions


def test_plugins_pin_the_core_they_were_released_with() -> None:
    for name, project in projects().items():
        if name == "core":
            continue
        deps = project["dependencies"]
        assert isinstance(deps, list)
        assert f"relaykit=={relaykit.__version__}" in deps, name


def test_every_plugin_is_in_the_workspace() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for name, project in projects().items():
        assert project["name"] in root["project"]["dependencies"], name
        assert project["name"] in root["tool"]["uv"]["sources"], name
