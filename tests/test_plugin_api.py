"""Plugins depend only on the core's public plugin API (relaykit.plugin_api), and it is documented.

Every ``relaykit`` import in the source of plugins/, contrib/ and libs/ (their tests may use
anything) must name a module in :data:`relaykit.plugin_api.PLUGIN_MODULES` (or a
``relaykit.testing`` submodule) and only names in that module's ``__all__``; each such module
says it is public in its docstring, has an ``__all__`` whose names exist, are not private and
(classes and functions) carry docstrings; and docs/writing-plugins.md lists the same modules.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from relaykit.plugin_api import PLUGIN_MODULES, is_plugin_module, render

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    path for top in ("plugins", "contrib", "libs") for path in (ROOT / top).glob("*/src/**/*.py")
)
MARKER = "Public plugin API"


def _public_names(module: str) -> frozenset[str] | None:
    """``module``'s ``__all__``, or None when it is not a plugin module (or has none)."""
    if not is_plugin_module(module):
        return None
    names = getattr(importlib.import_module(module), "__all__", None)
    return None if names is None else frozenset(names)


def _name_problem(module: str, name: str) -> str | None:
    """Why ``from module import name`` (or ``module.name``) is outside the plugin API."""
    if is_plugin_module(f"{module}.{name}"):
        return None  # a public submodule, e.g. ``from relaykit import multipart``
    if name.startswith("_") and not name.endswith("__"):  # dunders: __version__
        return f"{module}.{name} is private"
    public = _public_names(module)
    if public is None:
        return f"{module} has no __all__"
    if name not in public:
        return f"{module}.{name} is not in {module}.__all__"
    return None


def import_problems(source: str, where: str = "<source>") -> Iterator[str]:
    """Each use of the core in ``source`` that leaves the documented plugin API."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> the public module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if module != "relaykit" and not module.startswith("relaykit."):
                continue
            if not is_plugin_module(module):
                yield f"{where}:{node.lineno}: imports {module}, not a plugin API module"
                continue
            for alias in node.names:
                problem = _name_problem(module, alias.name)
                if problem:
                    yield f"{where}:{node.lineno}: {problem}"
                elif is_plugin_module(f"{module}.{alias.name}"):
                    aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name != "relaykit" and not alias.name.startswith("relaykit."):
                    continue
                if not is_plugin_module(alias.name):
                    yield f"{where}:{node.lineno}: imports {alias.name}, not a plugin API module"
                elif alias.asname or alias.name == "relaykit":
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            problem = _name_problem(aliases[node.value.id], node.attr)
            if problem:
                yield f"{where}:{node.lineno}: {problem}"


def test_sources_found() -> None:
    # a moved tree would otherwise make the scan below pass on nothing
    assert len(SOURCES) > 100
    assert any("relaykit_gateway" in str(p) for p in SOURCES)


def test_plugins_import_only_the_plugin_api() -> None:
    problems = [
        problem
        for path in SOURCES
        for problem in import_problems(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from relaykit.client import Client", "relaykit.client, not a plugin API module"),
        ("import relaykit.routing", "relaykit.routing, not a plugin API module"),
        ("from relaykit.sse import _split_lines", "relaykit.sse._split_lines is private"),
        ("from relaykit.config import is_scoped", "not in relaykit.config.__all__"),
        ("from relaykit import breaker", "relaykit.breaker is not in relaykit.__all__"),
        ("from relaykit import metrics\nmetrics.Nope", "relaykit.metrics.Nope is not in"),
        ("import relaykit\nrelaykit.retry.x", "relaykit.retry is not in relaykit.__all__"),
    ],
)
def test_scan_catches(source: str, expected: str) -> None:
    assert any(expected in p for p in import_problems(source))


def test_scan_passes_public_uses() -> None:
    source = (
        "import relaykit\nfrom relaykit import multipart, hookimpl\n"
        "from relaykit.testing.loopback import Response\n"
        "multipart.encode\nrelaykit.Client\n"
    )
    assert list(import_problems(source)) == []


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(PLUGIN_MODULES))
def test_plugin_module_is_documented(name: str) -> None:
    module = _module(name)
    assert module.__doc__ and MARKER in module.__doc__, f"{name}'s docstring says it is public"
    public = getattr(module, "__all__", None)
    assert public, f"{name} has an __all__"
    for attr in public:
        assert not attr.startswith("_") or attr.endswith("__"), f"{name}.{attr} is private"
        value = getattr(module, attr)  # every promised name exists
        if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == name:
            assert inspect.getdoc(value), f"{name}.{attr} has a docstring"


def test_docs_list_the_plugin_modules() -> None:
    text = (ROOT / "docs" / "writing-plugins.md").read_text()
    heading = "## Modules plugins may import\n"
    assert heading in text
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    assert render() in section
    # the list is the whole of the section's bullets: nothing listed twice or by hand
    bullets = [line for line in section.splitlines() if line.startswith("- `relaykit")]
    assert len(bullets) == len(PLUGIN_MODULES)
