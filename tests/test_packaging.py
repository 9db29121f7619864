"""Every distribution declares what its code imports, and its test helpers import
without pytest: what ``nox -s wheels`` finds by installing each wheel alone, checked
here offline in a fraction of a second.

In the workspace every package is installed, so an import of an undeclared
distribution works for us and fails for a user who installs the plugin alone.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECTS = sorted([ROOT / "core" / "pyproject.toml", *ROOT.glob("*/*/pyproject.toml")])

#: imports a distribution may make without declaring them, each with why; the
#: distribution named after "via" must itself require the imported one (checked)
UNDECLARED: dict[tuple[str, str], tuple[str | None, str]] = {
    ("relaykit-mcp", "uvicorn"): (
        "mcp",
        "the test server serves mcp's own streamable HTTP app, on the server mcp runs on",
    ),
    ("relaykit-examples", "pydantic"): ("fastapi", "FastAPI's request models are pydantic's"),
}


def normalize(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def project(pyproject: Path) -> dict[str, object]:
    """The ``[project]`` table of ``pyproject``."""
    table: dict[str, object] = tomllib.loads(pyproject.read_text())["project"]
    return table


@cache
def workspace() -> dict[str, Path]:
    """Each workspace distribution's name -> its pyproject.toml."""
    return {normalize(str(project(p)["name"])): p for p in PYPROJECTS}


def declared(pyproject: Path) -> set[str]:
    """What installing the distribution at ``pyproject`` guarantees is importable.

    Its own requirements and extras; the extras those requirements ask for
    (``psycopg[pool]`` brings psycopg-pool); and, transitively, what the relaykit-*
    distributions it requires declare (they are pinned to this release, so their
    requirements come with it, and this test sees them change in the same commit).
    """
    meta = project(pyproject)
    reqs = [Requirement(r) for r in meta.get("dependencies", [])]  # type: ignore[attr-defined]
    extras = meta.get("optional-dependencies", {})
    reqs += [Requirement(r) for group in extras.values() for r in group]  # type: ignore[attr-defined]
    names = {normalize(r.name) for r in reqs}
    for req in reqs:
        name = normalize(req.name)
        if name in workspace():
            names |= declared(workspace()[name])
        elif req.extras:
            names |= extra_requirements(name, frozenset(req.extras))
    return names


def extra_requirements(dist: str, extras: frozenset[str]) -> set[str]:
    """The distributions ``dist[extras]`` adds, from its installed metadata."""
    found = set()
    for text in requires(dist) or []:
        req = Requirement(text)
        # only what the extras add: not the base requirements, which are declared
        marker = req.marker
        added = marker and any(marker.evaluate({"extra": e}) for e in extras)
        if added and not marker.evaluate({"extra": ""}):  # type: ignore[union-attr]
            found.add(normalize(req.name))
    return found


def runtime_imports(source: str) -> set[str]:
    """The top-level modules ``source`` imports absolutely, except under TYPE_CHECKING."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    modules = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


@cache
def providers() -> Mapping[str, list[str]]:
    """Importable top-level module -> the installed distributions providing it."""
    return packages_distributions()


@cache
def undeclared(pyproject: Path) -> dict[str, set[str]]:
    """Third-party modules the sources import, none of whose distributions is declared:
    module -> the files importing it."""
    src = pyproject.parent / "src"
    own = {p.name for p in src.iterdir() if p.is_dir()}
    allowed = declared(pyproject) | {normalize(str(project(pyproject)["name"]))}
    missing: dict[str, set[str]] = {}
    for path in src.rglob("*.py"):
        for module in runtime_imports(path.read_text()) - own:
            if module in sys.stdlib_module_names or module == "__future__":
                continue
            dists = {normalize(d) for d in providers().get(module, [module])}
            if not dists & allowed:
                missing.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return missing


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_every_import_is_declared(pyproject: Path) -> None:
    """What a distribution's code imports is in its own dependencies (or comes with them)."""
    name = normalize(str(project(pyproject)["name"]))
    missing = dict(undeclared(pyproject))
    for (dist, module), (via, _why) in UNDECLARED.items():
        if dist == name and module in missing:
            if via is not None:  # the exception holds only while `via` brings it
                brought = {normalize(Requirement(r).name) for r in requires(via) or []}
                assert normalize(module) in brought, f"{via} no longer requires {module}"
            del missing[module]
    assert not missing, (
        f"{name} imports distributions its pyproject.toml does not declare "
        f"(add them to [project] dependencies): {missing}"
    )


def test_undeclared_exceptions_are_still_needed() -> None:
    """Every entry of UNDECLARED names an import that is there and still undeclared."""
    for dist, module in UNDECLARED:
        assert module in undeclared(workspace()[dist]), f"{(dist, module)} is no longer needed"


def test_runtime_imports_skip_type_checking_blocks() -> None:
    source = "import a\nfrom b.c import d\nif TYPE_CHECKING:\n    import e\nfrom . import f\n"
    assert runtime_imports(source) == {"a", "b"}


def test_test_helpers_import_without_pytest() -> None:
    """The mocks and fakes a plugin ships (``relaykit_NAME.testing``, ``mock_*``) and
    relaykit.testing's pytest-free names load where pytest is not installed: plugins'
    mock servers run in subprocesses and in users' own test setups."""
    modules = sorted(
        ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for src in ROOT.glob("*/*/src")
        for path in src.rglob("*.py")
        if path.parent.name == "testing"
        or path.name == "testing.py"
        or path.name.startswith("mock_")
    )
    assert "relaykit_mcp.testing" in modules
    script = f"""
import importlib, sys
class NoPytest:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pytest", "_pytest", "trustme"):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)")
sys.meta_path.insert(0, NoPytest())
import relaykit.testing as t
for name in ("OpenAIMock", "FakePlugin", "VendorMock", "Reply", "PNG", "PDF"):
    getattr(t, name)
failed = []
for module in {modules!r}:
    if module.startswith("relaykit.testing.") and module.rsplit(".", 1)[1] in (
        "provider_contract", "storage_contract", "cache_store_contract", "services", "forking"
    ):
        continue  # pytest suites and fixtures: pytest is their point
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        failed.append(f"{{module}}: {{error}}")
print("\\n".join(failed))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"need pytest or trustme to import:\n{done.stdout}"


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_every_distribution_ships_the_license(pyproject: Path) -> None:
    """Each distribution names its own LICENSE in ``license-files``, and that file is the
    repository's, byte for byte: hatchling takes no file from outside a project's
    directory (a symlink to ../../LICENSE goes into the sdist dangling), so each keeps
    a copy, and a change to one must reach them all."""
    meta = project(pyproject)
    assert meta.get("license-files") == ["LICENSE"], f"{pyproject}: license-files"
    copy = pyproject.parent / "LICENSE"
    assert not copy.is_symlink(), f"{copy}: a symlink leaves the sdist without the text"
    assert copy.read_bytes() == (ROOT / "LICENSE").read_bytes(), (
        f"{copy.relative_to(ROOT)} differs from LICENSE: copy the root one over it"
    )


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_every_distribution_has_a_readme(pyproject: Path) -> None:
    """Without ``readme`` a distribution's PyPI page is empty (``twine check`` and
    ``nox -s wheels`` only warn): each names a README.md that is there."""
    readme = project(pyproject).get("readme")
    assert readme == "README.md", f"{pyproject}: readme = {readme!r}"
    assert (pyproject.parent / "README.md").is_file(), f"{pyproject.parent}: no README.md"
