"""The docs' install lines give a working environment, read as a new user reads them.

- Each ``pip install -e ...`` block installs, from the checkout, every relaykit
  distribution that what it names depends on: pip cannot find
  ``relaykit-claude-models`` on an index, so a line naming ``plugins/anthropic``
  without ``libs/claude-models`` stops with "No matching distribution found".
- Every module the README's Python examples import comes with what the README
  tells the reader to install (or is in the standard library).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("plugins/*/README.md")),
    *sorted(ROOT.glob("contrib/*/README.md")),
    *sorted(ROOT.glob("libs/*/README.md")),
]


def _workspace() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each distribution of the checkout: its directory and its ``[project]`` table."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for pyproject in [ROOT / "core/pyproject.toml", *ROOT.glob("*/*/pyproject.toml")]:
        project = tomllib.loads(pyproject.read_text())["project"]
        found[canonicalize_name(project["name"])] = (
            str(pyproject.parent.relative_to(ROOT)),
            project,
        )
    return found


WORKSPACE = _workspace()
BY_DIRECTORY = {directory: name for name, (directory, _) in WORKSPACE.items()}


def _requirements(name: str, extras: set[str]) -> list[Requirement]:
    project = WORKSPACE[name][1]
    texts = list(project.get("dependencies", []))
    for extra in extras:
        texts += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(text) for text in texts]


def _editable_installs(block: str) -> list[tuple[str, list[Requirement]]]:
    """Each ``pip install`` line of a shell block: the line and its ``-e`` requirements
    (a checkout directory, with its extras, as a requirement on its distribution)."""
    lines = []
    for line in block.splitlines():
        line = line.split(" #")[0].strip()
        if not line.startswith("pip install") or " -e " not in f" {line} ":
            continue
        words = shlex.split(line)
        named = []
        for i, word in enumerate(words[:-1]):
            if word == "-e":
                directory, _, extras = words[i + 1].partition("[")
                name = BY_DIRECTORY[directory.rstrip("/")]
                named.append(Requirement(f"{name}[{extras}" if extras else name))
        lines.append((line, named))
    return lines


def _blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


INSTALL_BLOCKS = [
    pytest.param(block, id=f"{path.relative_to(ROOT)}-{i}")
    for path in DOCS
    for i, block in enumerate(_blocks(path, "sh"))
    if _editable_installs(block)
]


def test_the_docs_show_editable_installs() -> None:
    assert len(INSTALL_BLOCKS) >= 3  # the README's, relaykit-cohere's, relaykit-gateway's


@pytest.mark.parametrize("block", INSTALL_BLOCKS)
def test_an_editable_install_names_every_relaykit_distribution_it_needs(block: str) -> None:
    """Lines of one block run in order, into one environment."""
    installed: set[str] = set()
    for line, named in _editable_installs(block):
        installed |= {canonicalize_name(r.name) for r in named}
        todo = list(named)
        while todo:
            requirement = todo.pop()
            name = canonicalize_name(requirement.name)
            for needed in _requirements(name, requirement.extras):
                needed_name = canonicalize_name(needed.name)
                if needed_name not in WORKSPACE:
                    continue  # from the index, as pip finds it
                assert needed_name in installed, (
                    f"{line!r}: {name} needs {needed_name}, which is on no index: "
                    f"add -e {WORKSPACE[needed_name][0]}"
                )
                todo.append(needed)


# -- what the README's examples import -----------------------------------------------------


def _imported_modules(source: str) -> set[str]:
    tree = ast.parse(textwrap.dedent(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names)


def _with_dependencies(requirements: list[Requirement]) -> set[str]:
    """The distributions these requirements install, as the test environment has them."""
    found: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = requirement.extras
        if name in found and not extras:
            continue
        found.add(name)
        try:
            texts = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:  # a tool (uv), not in this venv
            texts = []
        for text in texts:
            needed = Requirement(text)
            wanted = needed.marker is None or any(
                needed.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if wanted:
                todo.append(needed)
    return found


def _named(command: str) -> list[Requirement]:
    """The index names a ``pip install`` command gives (not its ``-e`` directories)."""
    words = shlex.split(command.split(" #")[0].split("&&")[0])
    return [
        Requirement(word)
        for i, word in enumerate(words)
        if i >= 2 and not word.startswith("-") and words[i - 1] != "-e"
    ]


def test_every_module_the_readme_examples_import_is_one_the_readme_installs() -> None:
    """A reader who installed what the README says runs its examples without a
    ModuleNotFoundError: each third-party module comes with the README's install
    lines (with what they depend on), or is named by a ``pip install NAME`` of its
    own in passing (``pip install 'relaykit-sqlite[numpy]'``). What an extra named in
    passing happens to bring (``relaykit[testing]`` brings trio) does not count."""
    readme = ROOT / "README.md"
    install_lines = [
        line
        for block in _blocks(readme, "sh")
        for line in block.splitlines()
        if line.startswith("pip install ")
    ]
    requirements = [r for line in install_lines for r in _named(line)]
    requirements += [r for line in install_lines for _, n in _editable_installs(line) for r in n]
    installed = _with_dependencies(requirements)
    in_passing = re.findall(r"`(pip install [^`]+)`", readme.read_text())
    installed |= {canonicalize_name(r.name) for c in in_passing for r in _named(c)}
    owners = dict(importlib.metadata.packages_distributions())
    # the checkout's own, installed editable: no file list maps their modules
    owners |= {name.replace("-", "_"): [name] for name in WORKSPACE}
    missing = {
        module: owners.get(module, ["?"])
        for block in _blocks(readme, "python")
        for module in _imported_modules(block)
        if not {canonicalize_name(d) for d in owners.get(module, [])} & installed
    }
    assert missing == {}, f"the README imports these without saying to install them: {missing}"


@pytest.mark.parametrize(
    "readme", sorted(ROOT.glob("plugins/*/README.md")), ids=lambda p: p.parent.name
)
def test_each_plugin_readme_says_how_to_install_it(readme: Path) -> None:
    name = tomllib.loads((readme.parent / "pyproject.toml").read_text())["project"]["name"]
    assert re.search(rf"pip install [^\n]*\b{re.escape(name)}\b", readme.read_text()), (
        f"{readme.relative_to(ROOT)} never says `pip install ... {name}`"
    )
