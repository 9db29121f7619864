"""Every optional attribute the core looks for on a plugin's object is in the hook reference.

The protocols' required methods are checked elsewhere; these are the ones the
core asks for with ``getattr(obj, "name", ...)`` or ``hasattr(obj, "name")``
(fast paths, capabilities, optional clean-up): a plugin author only learns of
them from docs/plugin-hooks.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "src" / "relaykit"
REFERENCE = (ROOT / "docs" / "plugin-hooks.md").read_text()

#: what the core calls the plugin objects it probes (the last name of the expression)
PLUGIN_OBJECTS = {
    "provider",
    "factory",
    "limiter",
    "_limiter",
    "exporter",
    "redactor",
    "storage",
    "_storage",
    "store",
    "_own_cache_store",
}


def _probed() -> set[tuple[str, str, str]]:
    """(attribute, object, file) for every getattr/hasattr on a plugin object in core."""
    found = set()
    for path in CORE.rglob("*.py"):
        if "testing" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                continue
            target = node.args[0]
            name = (
                target.id
                if isinstance(target, ast.Name)
                else target.attr
                if isinstance(target, ast.Attribute)
                else None
            )
            if name in PLUGIN_OBJECTS:
                found.add((node.args[1].value, name, path.name))
    return found


def test_the_core_probes_plugin_objects_for_optional_attributes() -> None:
    # (so the check below cannot pass by finding nothing)
    assert {"acquire_nowait", "needs_content", "searches_web"} <= {a for a, _, _ in _probed()}


def test_every_optional_attribute_the_core_probes_for_is_documented() -> None:
    missing = sorted(
        f"{attribute} (on {obj}, {where})"
        for attribute, obj, where in _probed()
        if f"`{attribute}" not in REFERENCE and f"{attribute}(" not in REFERENCE
    )
    assert not missing, f"document these in docs/plugin-hooks.md: {missing}"
