"""Test helpers for relaykit and its plugins: fakes, loopback vendor servers, contract suites.

Everything here runs offline. Import what you need from the submodules, or
from this package (names load lazily, so importing it costs nothing).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoopbackServer": "loopback",
    "Request": "loopback",
    "Response": "loopback",
    "Pause": "loopback",
    "Drop": "loopback",
    "Reply": "script",
    "Script": "script",
    "VendorMock": "vendor_mock",
    "OpenAIMock": "openai_mock",
    "FakeProvider": "fake_provider",
    "FakePlugin": "fake_provider",
    "Harness": "provider_contract",
    "ProviderContract": "provider_contract",
    "require_service": "services",
    "service_reachable": "services",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'relaykit.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
