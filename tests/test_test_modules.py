"""The test suite's own hygiene: no test module imports another.

Pieces tests share live in their directory's conftest.py or, when plugins use them
too, in relaykit.testing; a test module that imports a sibling runs (or skips) that
sibling's module-level code, and hides a helper where nobody looks for one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_DIRS = ["core/tests", "plugins/*/tests", "contrib/*/tests", "libs/*/tests", "tests"]


def modules_to_check() -> list[Path]:
    return sorted(path for pattern in TEST_DIRS for path in ROOT.glob(f"{pattern}/test_*.py"))


def imported_test_modules(path: Path) -> list[str]:
    """The test modules ``path`` imports, as written (``.test_x``, ``core.tests.test_x``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            # ``from . import test_x`` names the module in the imported names
            names = [module] if node.module else [module + a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n.rsplit(".", 1)[-1].startswith("test_")]
    return found


def test_the_check_finds_each_way_of_importing_a_test_module(tmp_path: Path) -> None:
    path = tmp_path / "test_x.py"
    path.write_text(
        "from .test_a import x\nimport core.tests.test_b\nfrom . import test_c, conftest\n"
        "from .conftest import y\nfrom relaykit.testing import z\n"
        "def f():\n    from test_d import w\n"
    )
    assert imported_test_modules(path) == [".test_a", "core.tests.test_b", ".test_c", "test_d"]


def test_no_test_module_imports_another() -> None:
    paths = modules_to_check()
    assert len(paths) > 300  # the globs still find the suite
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in paths
        if (found := imported_test_modules(path))
    }
    assert offenders == {}, (
        "a test module imports a test module: move what it shares to its directory's "
        "conftest.py, or to relaykit.testing when plugins use it too"
    )
