"""relaykit.lazy_exports: a package's names load on first use, once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def test_names_load_on_first_use_and_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "lazy_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from relaykit.lazy_exports import lazy_exports\n"
        "__all__ = ['Thing']\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'Thing': 'heavy'}, __all__)\n"
    )
    (package / "heavy.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazy_pkg  # type: ignore[import-not-found]

    try:
        assert "lazy_pkg.heavy" not in sys.modules  # importing the package loads nothing
        assert "Thing" in dir(lazy_pkg)  # listed before it loads
        thing = lazy_pkg.Thing
        assert "lazy_pkg.heavy" in sys.modules
        assert vars(lazy_pkg)["Thing"] is thing  # kept: later look-ups are plain
        with pytest.raises(AttributeError, match="module 'lazy_pkg' has no attribute 'Other'"):
            _ = lazy_pkg.Other
    finally:
        for name in ("lazy_pkg", "lazy_pkg.heavy"):
            sys.modules.pop(name, None)


def test_a_name_its_own_modules_is_refused() -> None:
    from relaykit.lazy_exports import lazy_exports

    # `from .serve import serve` would hand out the module once anything imported it
    with pytest.raises(ValueError, match="pkg: serve would be shadowed by the submodule"):
        lazy_exports("pkg", {"serve": "serve", "Gateway": "app"}, ["serve", "Gateway"])
