"""A plugin's own mistakes as a ``ConfigError`` naming the plugin and the fix.

Without this, a plugin that fails to import, misspells a hook, takes other
parameters than a hook's, raises in a hook or returns the wrong kind of value
shows up as a traceback from inside pluggy or the client (``'type' object is not
iterable``), which names neither the plugin nor what to change. The hooks are
called here one implementation at a time, in pluggy's order, so each result and
each exception is known to come from its plugin.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import ConfigError, RelayError, did_you_mean
from .half_built import close_now

if TYPE_CHECKING:
    from .half_built import HalfBuilt
    from .plugins import PluginManager


def plugin_label(pm: pluggy.PluginManager, plugin: object) -> str:
    """How an error names ``plugin``: its entry point's name, or, for an object
    passed as ``Client(plugins=[...])``, its class too (``extra-1`` says little)."""
    name = pm.get_name(plugin) or ""
    if not name or name.startswith("extra-"):
        kind = plugin.__name__ if isinstance(plugin, type) else type(plugin).__name__
        return f"{name} ({kind})" if name else kind
    return name


def hook_signature(hook: str) -> str:
    """``relaykit_storage(name, config)``: the hook as an implementation must take it."""
    spec = getattr(hookspecs, hook, None)
    params = ", ".join(inspect.signature(spec).parameters) if spec else "..."
    return f"{hook}({params})"


def registration_error(label: str, exc: pluggy.PluginValidationError) -> ConfigError:
    """pluggy's refusal of a plugin's hook implementation, worded with the fix."""
    message = str(exc)
    known = [name for name in dir(hookspecs) if name.startswith("relaykit_")]
    if message.startswith("unknown hook "):
        hook = message.split("'")[1]
        return ConfigError(
            f"plugin {label!r} implements {hook!r}, which is not a relaykit hook",
            hint=did_you_mean(hook, known, "the hooks are listed in docs/plugin-hooks.md") or "",
        )
    spec = next((h for h in known if f"'{h}'" in message), None)
    detail = message.splitlines()[-1]
    return ConfigError(
        f"plugin {label!r}: its {spec or 'hook'} takes other parameters: {detail}",
        hint=f"take the hook's parameters (any subset, by name): {hook_signature(spec)}"
        if spec
        else "see docs/plugin-hooks.md for each hook's parameters",
    )


def import_error(name: str, exc: BaseException) -> ConfigError:
    """An entry point whose module failed to import."""
    return ConfigError(
        f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}",
        hint=f"reinstall or fix the plugin, or skip it: RELAYKIT_DISABLE_PLUGINS={name}",
    )


def _implementations(pm: PluginManager, hook: str) -> list[Any]:
    # pluggy calls the last registered first (``_multicall`` walks them reversed)
    return list(reversed(getattr(pm.hook, hook).get_hookimpls()))


def _registration_order(pm: PluginManager, hook: str) -> list[Any]:
    """``hook``'s implementations in registration order, ``tryfirst`` ones first and
    ``trylast`` ones last, as pluggy places them in its own (reversed) call order.

    pluggy's list holds trylast ones first and tryfirst ones last (it calls from the
    end), so taking it as it is would put them the wrong way round.
    """
    impls = getattr(pm.hook, hook).get_hookimpls()
    return [
        *(i for i in impls if i.tryfirst),
        *(i for i in impls if not i.tryfirst and not i.trylast),
        *(i for i in impls if i.trylast),
    ]


def _call(pm: PluginManager, hook: str, impl: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return impl.function(*(kwargs[arg] for arg in impl.argnames))
    except RelayError:
        raise  # the plugin's own typed error (a ConfigError for a bad table) says it
    except Exception as e:
        raise ConfigError(
            f"plugin {plugin_label(pm, impl.plugin)!r}: its {hook} raised {type(e).__name__}: {e}",
            hint="a hook should return its answer, or raise relaykit.ConfigError naming "
            "the setting to fix",
        ) from e


def _plain(pm: PluginManager, hook: str) -> bool:
    # a wrapper implementation changes what the others return: leave it to pluggy
    return not any(
        impl.hookwrapper or getattr(impl, "wrapper", False)
        for impl in getattr(pm.hook, hook).get_hookimpls()
    )


def list_results(
    pm: PluginManager,
    hook: str,
    check: Callable[[Any], tuple[str, str] | None] | None = None,
    made: HalfBuilt | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Every plugin's items for ``hook`` joined, in the order the plugins were
    registered; a result that is not a list (or another iterable), an exception, or an item
    ``check`` finds a problem in (``(problem, fix)``) is a ``ConfigError`` naming
    the plugin. ``made`` is told each plugin's items as they come, so that the
    caller can close those made before a later plugin failed."""
    if not _plain(pm, hook):
        from .plugins import collect

        # pluggy's results come last registered first: turned back, as below
        return collect(reversed(getattr(pm.hook, hook)(**kwargs)))
    out: list[Any] = []
    # Registration order (built-ins, entry points, then Client(plugins=...)), not
    # pluggy's reverse: the built-in secret redactor masks keys before any plugin's
    # redactor can change their shape, and a later provider factory replaces an
    # earlier one of the same type, as the hook reference says.
    for impl in _registration_order(pm, hook):
        result = _call(pm, hook, impl, kwargs)
        if result is None:
            continue
        label = plugin_label(pm, impl.plugin)
        # any iterable, as before (a tuple, a set of table names, a generator)
        if isinstance(result, str | bytes) or not isinstance(result, Iterable):
            raise ConfigError(
                f"plugin {label!r}: its {hook} returned {_kind(result)}, not a list",
                hint=f"return a list, even of one: return [{_shown(result)}]",
            )
        result = list(result)
        if made is not None:
            made.add(*result)
        for item in result:
            problem = check(item) if check is not None else None
            if problem is not None:
                raise ConfigError(
                    f"plugin {label!r}: its {hook} returned {problem[0]}", hint=problem[1]
                )
        out.extend(result)
    return out


def first_result(
    pm: PluginManager, hook: str, *, needs: tuple[str, ...] = (), **kwargs: Any
) -> tuple[str | None, Any]:
    """The first non-None result of a firstresult ``hook`` and the plugin that gave it
    (``(None, None)`` when none did); an exception is a ``ConfigError`` naming the plugin,
    and so is a class returned where the hook wants an instance of it, or an object
    without one of the coroutine methods in ``needs``."""
    if not _plain(pm, hook):
        return None, getattr(pm.hook, hook)(**kwargs)
    for impl in _implementations(pm, hook):
        result = _call(pm, hook, impl, kwargs)
        if result is None:
            continue
        label = plugin_label(pm, impl.plugin)
        if isinstance(result, type):
            raise ConfigError(
                f"plugin {label!r}: its {hook} returned the class {result.__name__}, "
                "not an instance of it",
                hint=f"return an instance: return {result.__name__}(...)",
            )
        for member in needs:
            problem = _async_member_problem(result, member, PROTOCOLS.get(hook, "its protocol"))
            if problem is not None:
                # refused, but made: it may hold a socket or a thread already
                close_now(result)
                raise ConfigError(
                    f"plugin {label!r}: its {hook} returned {problem[0]}", hint=problem[1]
                )
        return label, result
    return None, None


#: the protocol each firstresult hook's object implements, for the fix's wording
PROTOCOLS = {
    "relaykit_storage": "relaykit.protocols.Storage",
    "relaykit_response_cache": "relaykit.protocols.CacheStore",
    "relaykit_rate_limiter": "relaykit.protocols.RateLimiter",
}


def _async_member_problem(obj: object, name: str, protocol: str) -> tuple[str, str] | None:
    member = getattr(obj, name, None)
    if member is None:
        return (
            f"{_kind(obj)}, which has no `{name}`",
            f"implement {protocol} (docs/plugin-hooks.md)",
        )
    # only a plain function is known not to return an awaitable (a callable object
    # or a partial may): the client awaits what it returns
    if (inspect.isfunction(member) or inspect.ismethod(member)) and not (
        inspect.iscoroutinefunction(member)
    ):
        return (
            f"{_kind(obj)}, whose `{name}` is not a coroutine function",
            f"write it `async def {name}(...)`: the client awaits it ({protocol})",
        )
    return None


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, str | bytes) else _kind(value)


def _kind(value: object) -> str:
    return value.__name__ if isinstance(value, type) else type(value).__name__ + "()"


def factory_problem(factory: Any) -> tuple[str, str] | None:
    """What is wrong with a ``relaykit_providers`` item, if anything."""
    if not isinstance(getattr(factory, "type", None), str):
        return (
            f"{_kind(factory)}, which has no `type`",
            'give the provider class `type: ClassVar[str] = "NAME"`, the name users '
            "write before the / in a model id (docs/writing-plugins.md, 4. The provider)",
        )
    if not callable(factory):
        return f"{_kind(factory)}, which is not callable", "return the provider class itself"
    return None


def redactor_problem(redactor: Any) -> tuple[str, str] | None:
    """What is wrong with a ``relaykit_redactors`` item, if anything."""
    if not callable(getattr(redactor, "redact", None)):
        return (
            f"{_kind(redactor)}, which has no `redact` method",
            "return objects with a method redact(text) -> str, not functions",
        )
    return None


def exporter_problem(exporter: Any) -> tuple[str, str] | None:
    """What is wrong with a ``relaykit_exporters`` item, if anything."""
    if not callable(getattr(exporter, "record", None)):
        return (
            f"{_kind(exporter)}, which has no `record` method",
            "return objects with record(event), async flush() and async aclose()",
        )
    return None


def table_problem(name: Any) -> tuple[str, str] | None:
    """What is wrong with a ``relaykit_config_tables`` item, if anything."""
    if not isinstance(name, str):
        return f"{_kind(name)}, not a table name", 'return names such as ["exporters.NAME"]'
    return None


def wrong_answer(provider: str, method: str, answer: object) -> ConfigError:
    """A provider plugin's ``chat`` answered something other than a ChatResponse."""
    return ConfigError(
        f"provider {provider!r}: its plugin's {method} returned {type(answer).__name__}, "
        "not a ChatResponse",
        hint="build the answer with relaykit.ChatResponse(text=..., finish_reason=..., "
        "usage=...) (docs/writing-plugins.md, 3.)",
        provider=provider,
    )


def wrong_reservation(limiter: object, method: str, answer: object) -> ConfigError:
    """A rate limiter's ``acquire`` (or a twin) answered something other than reservations."""
    kind = type(limiter)
    return ConfigError(
        f"rate limiter {kind.__module__}.{kind.__qualname__}: {method} returned "
        f"{type(answer).__name__}, not a Reservation",
        hint="return relaykit.protocols.Reservation(key, tokens, cost) from acquire "
        "(acquire_many: a list of them, one per request); the client settles it with "
        "reconcile",
    )


def wrong_event(provider: str, event: object) -> ConfigError:
    """A provider plugin's ``stream`` yielded something that is no stream event."""
    return ConfigError(
        f"provider {provider!r}: its plugin's stream yielded {type(event).__name__}, "
        "not a stream event",
        hint="yield relaykit events: relaykit.TextDelta(text), ToolCallDelta, UsageUpdate, "
        "Finish ... (relaykit.events.StreamEvent; docs/writing-plugins.md, 3.)",
        provider=provider,
    )


def from_a_plugin(obj: object) -> bool:
    """Whether ``obj`` is a plugin's (its class defined outside relaykit's core), and
    so worth checking as it is used: the core's own are trusted, unchecked."""
    return not type(obj).__module__.startswith("relaykit.")


def checked_redact(redactor: Any) -> Callable[[str], str]:
    """``redactor.redact``, checked to return text when the redactor is a plugin's
    (a ``redact`` that forgot its ``return`` failed deep in record building with
    "object of type 'NoneType' has no len()"); the core's own, as it is."""
    redact: Callable[[str], str] = redactor.redact
    if not from_a_plugin(redactor):
        return redact
    kind = type(redactor)

    def checked(text: str) -> str:
        out = redact(text)
        if type(out) is not str:
            raise ConfigError(
                f"redactor {kind.__module__}.{kind.__qualname__}: redact returned "
                f"{type(out).__name__}, not the text",
                hint="return the text, redacted or as it came: redact(text) -> str",
            )
        return out

    return checked
