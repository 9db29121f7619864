"""Shared pytest setup: every async test runs under asyncio and trio (anyio's plugin)."""

from __future__ import annotations

import pytest

# Shipped test helpers get pytest's assertion messages too.
pytest.register_assert_rewrite("relaykit.testing")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per backend."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keep the developer's own config, keys and plugin filters out of tests."""
    import os

    for name in list(os.environ):
        if name.startswith("RELAYKIT_") or name.endswith("_API_KEY") or name.endswith("_BASE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
