"""Build the plugin manager: hookspecs, then built-ins, then entry points.

``RELAYKIT_PLUGINS=a,b`` loads only the named entry points;
``RELAYKIT_DISABLE_PLUGINS=a`` blocks some. Built-ins always load.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import weakref
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import ConfigError, did_you_mean
from .plugin_faults import import_error, plugin_label, registration_error

ENTRY_POINT_GROUP = "relaykit"


@attrs.frozen
class PluginInfo:
    """One loaded plugin, as ``relaykit plugins`` lists it."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


@attrs.frozen
class NotLoaded:
    """An installed entry point the environment kept from loading, and why.

    A config table or backend only its plugin reads is then read by nobody, and
    the fix is to let it load, not to install it again (``pip install`` would
    answer "already satisfied").
    """

    #: the entry point's name, as ``RELAYKIT_PLUGINS`` and ``RELAYKIT_DISABLE_PLUGINS`` name it
    name: str
    #: ``RELAYKIT_PLUGINS`` leaves it out (it names the only ones to load)
    unlisted: bool
    #: ``RELAYKIT_DISABLE_PLUGINS`` names it
    blocked: bool

    @property
    def state(self) -> str:
        """``"disabled"`` or ``"not loaded"``, as a hint words it."""
        return "disabled" if self.blocked else "not loaded"

    @property
    def fix(self) -> str:
        """What to change in the environment to load it."""
        steps = []
        if self.blocked:
            steps.append(f"take {self.name!r} out of RELAYKIT_DISABLE_PLUGINS")
        if self.unlisted:
            steps.append(f"add {self.name!r} to RELAYKIT_PLUGINS")
        return " and ".join(steps)


def distribution_key(name: str) -> str:
    """A distribution's name as PEP 503 compares them: ``relaykit_pii`` is ``relaykit-pii``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {p.strip() for p in value.split(",") if p.strip()}


_UNSET = object()

#: what pluggy made of each attribute of each plugin module or class, with the
#: attribute as it was then: ``{owner: {name: (attribute, options)}}``. Building
#: a Client registers every plugin again, and pluggy looks each attribute of
#: each up with ``inspect.getattr_static`` (~350 per Client): 4.7 of the 5.5 ms
#: a Client() took. Weak: a class made by a test goes when the test is done.
_hookimpl_opts: weakref.WeakKeyDictionary[
    object, dict[str, tuple[object, pluggy.HookimplOpts | None]]
] = weakref.WeakKeyDictionary()


def _stored(plugin: object, name: str) -> tuple[object, object]:
    """``(owner, attribute)``: where ``plugin``'s attribute ``name`` is stored and
    what it is there, without binding or running a descriptor; the owner is
    ``None`` for an attribute of the instance itself (not remembered)."""
    if isinstance(plugin, ModuleType):
        return plugin, plugin.__dict__.get(name, _UNSET)
    if isinstance(plugin, type):
        owner, mro = plugin, plugin.__mro__
    else:
        try:
            own = object.__getattribute__(plugin, "__dict__")
        except AttributeError:
            own = {}
        if name in own:
            return None, _UNSET
        owner = type(plugin)
        mro = owner.__mro__
    for klass in mro:
        found = klass.__dict__.get(name, _UNSET)
        if found is not _UNSET:
            return owner, found
    return owner, _UNSET


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering which distribution each entry point came from."""

    def __init__(self) -> None:
        super().__init__("relaykit")
        self.versions: dict[str, str] = {}
        #: installed entry points kept from loading by ``RELAYKIT_PLUGINS`` or
        #: ``RELAYKIT_DISABLE_PLUGINS``, by distribution (:func:`distribution_key`)
        self.not_loaded: dict[str, NotLoaded] = {}

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """pluggy's answer, remembered per plugin module or class while the attribute
        stays the same object (a module or class changed later is read again)."""
        owner, attribute = _stored(plugin, name)
        if owner is None:
            return super().parse_hookimpl_opts(plugin, name)
        try:
            known = _hookimpl_opts[owner]
        except (KeyError, TypeError):  # TypeError: an owner that takes no weak reference
            try:
                known = _hookimpl_opts.setdefault(owner, {})
            except TypeError:
                return super().parse_hookimpl_opts(plugin, name)
        seen = known.get(name)
        if seen is not None and seen[0] is attribute:
            return seen[1]
        opts = super().parse_hookimpl_opts(plugin, name)
        known[name] = (attribute, opts)
        return opts


def build_plugin_manager(
    extra: Iterable[object] = (), env: Mapping[str, str] | None = None
) -> PluginManager:
    """A plugin manager with relaykit's hookspecs, built-ins, entry points and ``extra``.

    ``extra`` plugins (objects or modules with hook implementations) are registered
    last, so they win over entry points; tests use this to add fakes.
    """
    env = os.environ if env is None else env
    if not isinstance(extra, Iterable) or isinstance(extra, str | bytes):
        # one plugin passed alone: iterating it raised TypeError
        raise ConfigError(
            f"plugins must be a list of plugin objects, not {type(extra).__name__}",
            hint="pass one plugin as a list of one: plugins=[plugin]",
        )
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    from . import builtins

    for name, plugin in builtins.PLUGINS.items():
        pm.register(plugin, name=f"relaykit.{name}")
    only = _split(env.get("RELAYKIT_PLUGINS"))
    blocked = _split(env.get("RELAYKIT_DISABLE_PLUGINS")) or set()
    entry_points = _discovered()
    names = [found.name for found in entry_points]
    _check_filter("RELAYKIT_PLUGINS", only or set(), names)
    _check_filter("RELAYKIT_DISABLE_PLUGINS", blocked, names)
    for found in entry_points:
        unlisted = only is not None and found.name not in only
        if unlisted or found.name in blocked:
            if found.distribution is not None:
                skipped = NotLoaded(found.name, unlisted, found.name in blocked)
                pm.not_loaded.setdefault(distribution_key(found.distribution), skipped)
            continue
        if pm.get_plugin(found.name) is not None or pm.is_blocked(found.name):
            continue
        try:
            module = found.load()
        except Exception as e:  # its own import failed: name it, not a traceback
            raise import_error(found.name, e) from e
        _register(pm, module, found.name)
        if found.version is not None:
            pm.versions[found.name] = found.version
    for i, plugin in enumerate(extra):
        if pm.is_registered(plugin):  # e.g. a test passing a plugin that is also installed
            continue
        _register(pm, plugin, getattr(plugin, "__name__", None) or f"extra-{i}")
    try:
        pm.check_pending()  # a hook name no hookspec has: a typo, most likely
    except pluggy.PluginValidationError as e:
        raise registration_error(plugin_label(pm, e.plugin), e) from e
    return pm


def _register(pm: PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as e:  # a hook taking other parameters
        label = plugin_label(pm, plugin) if pm.is_registered(plugin) else name
        if label.startswith("extra-"):
            label = f"{label} ({type(plugin).__name__})"
        raise registration_error(label, e) from e


@attrs.frozen
class _Found:
    """An entry point of the ``relaykit`` group and its distribution's version."""

    name: str
    entry_point: importlib.metadata.EntryPoint
    version: str | None
    #: the distribution that installed it (``relaykit-pii``), if known
    distribution: str | None = None

    def load(self) -> Any:
        return self.entry_point.load()


#: the entry points found, and what the import path looked like then
_found: tuple[object, tuple[_Found, ...]] | None = None


def _discovered() -> tuple[_Found, ...]:
    """The ``relaykit`` entry points installed, read once per process while the
    import path stays as it was.

    Scanning every installed distribution's metadata, and reading the version
    of each plugin's, took ~20-30 ms a client (a test suite builds thousands
    of clients; an app that builds one per request pays it each time). The scan
    is kept with a fingerprint of the import path: its entries, their
    modification times and link counts, which change when a distribution is
    installed into or removed from one of them (a ``.dist-info`` folder) or the
    path itself changes, and then the next client scans again.
    """
    global _found
    fingerprint = _path_fingerprint()
    if _found is not None and _found[0] == fingerprint:
        return _found[1]
    found = tuple(
        _Found(ep.name, ep, ep.dist.version, ep.dist.name)
        if ep.dist is not None
        else _Found(ep.name, ep, None)
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
    _found = (fingerprint, found)
    return found


def _path_fingerprint() -> tuple[tuple[str, int, int], ...]:
    # A folder's link count grows with each folder made in it (a distribution's
    # .dist-info): that holds where its modification time is too coarse to move
    # between a scan and an install.
    out = []
    for entry in sys.path:
        try:
            found = os.stat(entry or ".")
        except OSError:
            out.append((entry, -1, -1))
        else:
            out.append((entry, found.st_mtime_ns, found.st_nlink))
    return tuple(out)


def _check_filter(variable: str, names: set[str], installed: Iterable[str]) -> None:
    # A misspelt name would otherwise load nothing (or block nothing) without a word.
    installed = sorted(installed)
    for name in sorted(names - set(installed)):
        raise ConfigError(
            f"{variable} names {name!r}, which no installed plugin is called",
            hint=did_you_mean(
                name,
                installed,
                f"installed: {', '.join(installed) or 'none'}; `relaykit plugins` lists them",
            ),
        )


def describe_plugins(pm: PluginManager) -> list[PluginInfo]:
    """Name, version and implemented hooks of every registered plugin."""
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        builtin = name.startswith("relaykit.")
        version = importlib.metadata.version("relaykit") if builtin else pm.versions.get(name)
        out.append(PluginInfo(name, version, hooks, builtin))
    return out


def collect(results: Iterable[Iterable[Any] | None]) -> list[Any]:
    """Flatten the list-of-lists a non-firstresult hook returns."""
    return [item for group in results if group for item in group]
