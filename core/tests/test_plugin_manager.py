"""The plugin manager's memo of what each plugin attribute is to pluggy.

Building a Client registers every plugin again; pluggy's answer for each
attribute is remembered per module or class (relaykit.plugins). These check the
memo never answers for an attribute that changed, nor for one an instance holds.
"""

from __future__ import annotations

import gc
import types
import weakref
from collections.abc import Sequence
from typing import Any

from relaykit import hookimpl
from relaykit.plugins import _hookimpl_opts, build_plugin_manager


def provider_hooks(pm: Any, plugin: object) -> list[str]:
    impls = pm.hook.relaykit_providers.get_hookimpls()
    return [impl.plugin_name for impl in impls if impl.plugin is plugin]


class Plain:
    """A plugin class with one hook implementation."""

    @hookimpl
    def relaykit_providers(self) -> Sequence[type]:
        return []


def test_a_module_plugin_changed_after_registering_is_read_again() -> None:
    module = types.ModuleType("a_plugin_module")
    module.relaykit_providers = lambda: []  # type: ignore[attr-defined]  # no hookimpl yet
    pm = build_plugin_manager([module])
    assert provider_hooks(pm, module) == []

    @hookimpl
    def relaykit_providers() -> Sequence[type]:
        return []

    module.relaykit_providers = relaykit_providers  # type: ignore[attr-defined]
    pm = build_plugin_manager([module])
    assert provider_hooks(pm, module) == [pm.get_name(module)]
    module.relaykit_providers = lambda: []  # type: ignore[attr-defined]
    pm = build_plugin_manager([module])
    assert provider_hooks(pm, module) == []


def test_instances_of_one_class_share_the_memo_but_not_their_own_attributes() -> None:
    first, second = Plain(), Plain()
    pm = build_plugin_manager([first, second])
    assert len(provider_hooks(pm, first)) == len(provider_hooks(pm, second)) == 1

    class Bare:
        pass

    @hookimpl
    def relaykit_providers() -> Sequence[type]:
        return []

    bare, hooked = Bare(), Bare()
    hooked.relaykit_providers = relaykit_providers  # type: ignore[attr-defined]  # its own
    pm = build_plugin_manager([bare, hooked])
    assert provider_hooks(pm, bare) == []
    assert len(provider_hooks(pm, hooked)) == 1


def test_a_class_changed_after_registering_is_read_again() -> None:
    class Changing:
        def relaykit_providers(self) -> Sequence[type]:  # no hookimpl yet
            return []

    before = Changing()
    pm = build_plugin_manager([before])
    assert provider_hooks(pm, before) == []
    plugin = Changing()

    @hookimpl
    def relaykit_providers(self: object) -> Sequence[type]:
        return []

    Changing.relaykit_providers = relaykit_providers  # type: ignore[method-assign]
    pm = build_plugin_manager([plugin])
    assert len(provider_hooks(pm, plugin)) == 1


def test_the_memo_does_not_keep_a_plugin_class_alive() -> None:
    class Passing(Plain):
        pass

    build_plugin_manager([Passing()])
    assert Passing in _hookimpl_opts
    gone = weakref.ref(Passing)
    del Passing
    gc.collect()
    assert gone() is None
