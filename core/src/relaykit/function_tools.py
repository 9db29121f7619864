"""Python functions as tools: the JSON schema from the signature, the call from a model's arguments.

:meth:`FunctionTool.from_function` reads a function's type hints and docstring
into a :class:`~relaykit.Tool` (its parameters' JSON schema, its description
and each parameter's) and keeps the function beside it.
:meth:`FunctionTool.call` checks a model's arguments against the signature,
converts them to the annotated types (an Enum member, a dataclass, a tuple)
and calls the function: awaited when it is async, in a worker thread when it
is not, so a blocking tool never stalls the event loop.
:meth:`relaykit.Client.run_tools` runs the whole loop on top of these.

:meth:`FunctionTool.from_schema` pairs a JSON schema written elsewhere (a
tool an MCP server lists, say) with a callable that takes the arguments as
one dict: the arguments are checked against the schema's top level only.

The schema writer is structured output's (:mod:`relaykit.output_types`), so
a parameter may be anything a ``response_format`` class's field may be; the
arguments are converted with its strict converter (``"3"`` is not an int).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import inspect
import json
import re
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import anyio.to_thread
import attrs

from .docstrings import parse_docstring
from .errors import InvalidRequestError
from .json_schemas import describe_problem, normalized, strict_ok, strict_problems
from .messages import Attachment, CachePoint, DocumentPart, ImagePart
from .request import Tool
from .web_search import WebSearch, is_search_tool

#: what OpenAI, Anthropic and Gemini all accept as a tool's name (OpenAI and
#: Anthropic take no dots; Gemini wants a letter or an underscore first)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")  # \Z: "$" lets a final newline through
_SUPPORTED = (
    "str, int, float, bool, None, list[...], tuple[..., ...], dict[str, ...], Literal, "
    "an Enum, Optional or a union, Annotated[T, 'description'], or a dataclass, attrs "
    "class or TypedDict"
)


@attrs.frozen
class _Parameter:
    name: str
    annotation: Any
    positional_only: bool
    default: Any  # inspect.Parameter.empty when required


def _parameters_of(function: Callable[..., Any]) -> tuple[tuple[_Parameter, ...], bool]:
    """``function``'s named parameters, and whether it takes ``**kwargs`` too."""
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # unresolvable hints: the arguments go unconverted
        hints = {}
    params = []
    takes_more = False
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            takes_more = True
        elif p.kind is not p.VAR_POSITIONAL:
            params.append(
                _Parameter(
                    p.name,
                    hints.get(p.name, Any),
                    p.kind is p.POSITIONAL_ONLY,
                    p.default,
                )
            )
    return tuple(params), takes_more


@attrs.frozen
class _Arguments:
    """Checks and converts a model's arguments for one function."""

    function_name: str
    parameters: tuple[_Parameter, ...]
    takes_more: bool

    @classmethod
    def of(cls, tool: FunctionTool) -> _Arguments:
        params, takes_more = _parameters_of(tool.function)
        return cls(tool.tool.name, params, takes_more)

    def convert(self, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments to call with; InvalidRequestError if wrong."""
        from .output_types import _converter, _describe

        converter = _converter()
        problems: list[str] = []
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        known = {p.name for p in self.parameters}
        for name in arguments:
            if name not in known and not self.takes_more:
                problems.append(f"there is no argument {name!r}")
        for p in self.parameters:
            if p.name not in arguments:
                if p.default is inspect.Parameter.empty:
                    problems.append(f"argument {p.name!r} is missing")
                elif p.positional_only:
                    args.append(p.default)
                continue
            value = arguments[p.name]
            if not (value is None and p.default is None) and p.annotation is not Any:
                try:
                    value = converter.structure(value, p.annotation)
                except Exception as e:  # any converter failure is the model's
                    problems.append(f"argument {p.name!r}: {_describe(e)}")
                    continue
            if p.positional_only:
                args.append(value)
            else:
                kwargs[p.name] = value
        if self.takes_more:
            kwargs.update({k: v for k, v in arguments.items() if k not in known})
        if problems:
            expected = ", ".join(p.name for p in self.parameters) or "none"
            raise InvalidRequestError(
                f"the arguments for {self.function_name} are not valid: {'; '.join(problems)}",
                param=self.function_name,
                hint=f"its arguments are: {expected}",
            )
        return args, kwargs


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@attrs.frozen
class _SchemaArguments:
    """Checks a model's arguments against a given JSON schema's top level: the
    required properties, no unknown ones when ``additionalProperties`` is false,
    and each property's ``type``. Deeper checks are the callee's (an MCP server
    validates its own arguments and answers with an error result)."""

    tool: Tool

    def convert(self, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The arguments dict, as the one positional argument; InvalidRequestError if wrong."""
        schema = self.tool.parameters
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        problems = [
            f"argument {name!r} is missing"
            for name in schema.get("required") or ()
            if name not in arguments
        ]
        for name, value in arguments.items():
            spec = properties.get(name)
            if spec is None:
                if schema.get("additionalProperties") is False:
                    problems.append(f"there is no argument {name!r}")
            elif isinstance(spec, Mapping) and not _has_json_type(value, spec.get("type")):
                problems.append(f"argument {name!r} must be of JSON type {spec['type']}")
        if problems:
            expected = ", ".join(properties) or "none"
            raise InvalidRequestError(
                f"the arguments for {self.tool.name} are not valid: {'; '.join(problems)}",
                param=self.tool.name,
                hint=f"its arguments are: {expected}",
            )
        return [dict(arguments)], {}


def _has_json_type(value: Any, kind: Any) -> bool:
    """Whether ``value`` is of JSON schema type ``kind`` (a name or a list of them);
    true for a type this does not know, or none given."""
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
    known = [_JSON_TYPES[k] for k in kinds if isinstance(k, str) and k in _JSON_TYPES]
    if not known or len(known) < len(kinds):
        return True
    for types in known:
        # JSON has no bool among its numbers; 3.0 is an integer to JSON schema
        if isinstance(value, bool) and bool not in types:
            continue
        if isinstance(value, types) or (
            int in types and float not in types and isinstance(value, float) and value.is_integer()
        ):
            return True
    return False


@attrs.frozen
class FunctionTool:
    """A :class:`~relaykit.Tool` and the Python function that answers it.

    Build one with :meth:`from_function` (the schema written from the
    function's signature and docstring), pair a hand-written ``Tool`` with
    a function: ``FunctionTool(Tool("lookup", "...", schema), lookup)``, or
    with :meth:`from_schema` a ``Tool`` with a callable that takes the
    arguments as one dict. :meth:`relaykit.Client.run_tools` takes these, or
    plain functions.
    """

    tool: Tool
    function: Callable[..., Any] = attrs.field(validator=attrs.validators.is_callable())
    #: ``function`` takes the model's arguments as one dict, checked against
    #: ``tool.parameters`` (:meth:`from_schema`), not as keyword arguments
    #: checked against its signature
    takes_arguments_dict: bool = attrs.field(default=False, kw_only=True)
    _arguments: _Arguments | _SchemaArguments = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(
            lambda self: (
                _SchemaArguments(self.tool) if self.takes_arguments_dict else _Arguments.of(self)
            ),
            takes_self=True,
        ),
    )

    @property
    def name(self) -> str:
        """The tool's name, as the model calls it."""
        return self.tool.name

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
    ) -> FunctionTool:
        """``function`` as a tool: its name, its docstring's description, and its
        parameters' JSON schema from their type hints.

        Each parameter needs an annotation: str, int, float, bool, None,
        ``list[T]``, ``tuple[T, ...]``, ``dict[str, T]``, ``Literal``, an Enum,
        ``Optional``/unions, a dataclass, attrs class or ``TypedDict``, or
        ``Any``; ``Annotated[T, "text"]`` describes it. A parameter with a default
        is not required (the default goes in the schema). Parameter
        descriptions come from the docstring's reST ``:param x:`` lines or its
        Google (``Args:``) or NumPy (``Parameters``) section.

        ``strict=True`` asks for OpenAI's strict function calling, which needs
        every parameter required. An annotation missing or JSON schema cannot
        describe raises :class:`~relaykit.InvalidRequestError` naming it.
        """
        if not callable(function):
            raise InvalidRequestError(f"{function!r} is not a function", param="tools")
        name = name if name is not None else getattr(function, "__name__", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequestError(
                f"{name!r} cannot be a tool's name: a name is 1 to 64 letters, digits,"
                " '_' or '-', starting with a letter or '_'",
                param="tools",
                hint="pass name='...' to FunctionTool.from_function",
            )
        try:
            inspect.signature(function)
        except (ValueError, TypeError) as e:  # a builtin class (dict, int): none to read
            raise InvalidRequestError(
                f"tool {name}: its signature cannot be read ({e})",
                param="tools",
                hint="wrap it in a function with annotated parameters: def f(x: str) -> ...",
            ) from None
        docs = parse_docstring(inspect.getdoc(function))
        parameters = _schema(function, name, docs.params)
        if strict and set(parameters["required"]) != set(parameters["properties"]):
            optional = sorted(set(parameters["properties"]) - set(parameters["required"]))
            raise InvalidRequestError(
                f"tool {name} cannot be strict: strict function calling needs every"
                f" parameter required, and {', '.join(optional)} has a default",
                param="tools",
                hint="drop the defaults (a parameter may be Optional and required), "
                "or leave strict unset",
            )
        if strict and not strict_ok(parameters):
            raise InvalidRequestError(
                f"tool {name} cannot be strict: {describe_problem(strict_problems(parameters)[0])}"
                " (strict function calling needs every object closed: a dict[str, X]"
                " parameter or field takes any keys)",
                param="tools",
                hint="use a class with named fields instead of the dict, or leave strict unset",
            )
        tool = Tool(
            name,
            docs.description if description is None else description,
            parameters,
            strict,
        )
        return cls(tool, function)

    @classmethod
    def from_schema(
        cls, tool: Tool, call: Callable[[dict[str, Any]], Awaitable[Any] | Any]
    ) -> FunctionTool:
        """``tool`` (its name, description and parameters' JSON schema as given)
        answered by ``call``, which takes the model's arguments as one dict.

        For tools described elsewhere: by an MCP server (relaykit-mcp builds
        its tools with this), an OpenAPI document, a config file. Before
        ``call`` runs, the arguments are checked against the schema's top
        level (required properties present, no unknown ones when
        ``additionalProperties`` is false, each property's ``type``); a
        mismatch is an :class:`~relaykit.InvalidRequestError`, which a tool run
        sends back to the model. ``call`` is awaited when it is async and runs
        in a worker thread when it is not. A name OpenAI, Anthropic or Gemini
        would refuse, or parameters that are not an object schema, raise
        InvalidRequestError here.
        """
        if not isinstance(tool, Tool):
            raise InvalidRequestError(
                f"FunctionTool.from_schema needs a relaykit.Tool, not {type(tool).__name__}",
                param="tools",
                hint="build one with relaykit.Tool.coerce(the_dict)",
            )
        if not _NAME.match(tool.name):
            raise InvalidRequestError(
                f"{tool.name!r} cannot be a tool's name: a name is 1 to 64 letters, digits,"
                " '_' or '-', starting with a letter or '_'",
                param="tools",
                hint="rename the tool: attrs.evolve(tool, name='...')",
            )
        if not isinstance(tool.parameters, Mapping) or tool.parameters.get("type") != "object":
            raise InvalidRequestError(
                f"tool {tool.name}'s parameters must be a JSON schema of type 'object'",
                param="tools",
                hint='give it {"type": "object", "properties": {...}}',
            )
        if not callable(call):
            raise InvalidRequestError(f"{call!r} is not a function", param="tools")
        return cls(tool, call, takes_arguments_dict=True)

    async def call(self, arguments: Mapping[str, Any]) -> Any:
        """Call the function with a model's ``arguments`` and return what it returns.

        The arguments are checked against the signature and converted to the
        annotated types first (for a :meth:`from_schema` tool: checked against
        the schema's top level and passed as one dict):
        :class:`~relaykit.InvalidRequestError` says what is wrong (an unknown
        or missing argument, a value of the wrong type), and the function is
        not called. An async function is awaited;
        a sync one runs in a worker thread (``anyio.to_thread``), never one of the
        event loop's shared ones (see :meth:`invoke`). A thread cannot be
        interrupted: cancelled, this waits for it to return.
        """
        args, kwargs = self._arguments.convert(arguments)
        return await self.invoke(args, kwargs)

    async def invoke(
        self,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        threads: anyio.CapacityLimiter | None = None,
    ) -> Any:
        """Call the function with arguments already converted (see :meth:`call`).

        :param threads: what a sync function's worker thread is taken from (a
            tool run's step shares one between its tools); by default a thread
            of this call's own. Never the event loop's default limiter: a tool
            may wait on the client (a nested ``run_tools`` through a
            :class:`~relaykit.SyncClient`), and forty such tools held every
            thread of it, while what they waited for needed one (the nested
            run's tools, a provider's preparation): a deadlock.
        """
        if _is_async(self.function):
            return await self.function(*args, **kwargs)
        if threads is None:
            threads = anyio.CapacityLimiter(1)
        result = await anyio.to_thread.run_sync(
            functools.partial(self.function, *args, **kwargs), limiter=threads
        )
        if inspect.isawaitable(result):  # a sync wrapper that returns a coroutine
            result = await result
        return result

    def arguments(self, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """A model's ``arguments`` checked and converted, as (args, kwargs) for :meth:`invoke`."""
        return self._arguments.convert(arguments)


def _is_async(function: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)  # noqa: B004  # an object with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _schema(
    function: Callable[..., Any], name: str, described: Mapping[str, str]
) -> dict[str, Any]:
    """The JSON schema of ``function``'s parameters (``name`` is the tool's, for errors)."""
    from .output_types import _SchemaWriter

    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except NameError as e:
        raise InvalidRequestError(
            f"tool {name}: its type hints cannot be read: {e}",
            param="tools",
            hint="define the types its parameters name at module level",
        ) from None
    writer = _SchemaWriter(None, where="relaykit")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in inspect.signature(function).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InvalidRequestError(
                f"tool {name}: parameter {p.name!r} is *args or **kwargs, which a"
                " model cannot be told about",
                param="tools",
                hint="give the function named parameters",
            )
        if p.name not in hints:
            raise InvalidRequestError(
                f"tool {name}: parameter {p.name!r} has no type annotation",
                param="tools",
                hint=f"annotate it ({p.name}: str, ...); Any takes any JSON value",
            )
        try:
            schema = writer.describe(hints[p.name])
        except InvalidRequestError as e:
            raise InvalidRequestError(
                f"tool {name}: JSON schema cannot describe parameter {p.name!r} ({e.message})",
                param="tools",
                hint=f"annotate it with {_SUPPORTED}",
            ) from None
        if p.name in described and "description" not in schema:
            schema = {**schema, "description": described[p.name]}
        if p.default is p.empty:
            required.append(p.name)
        elif (default := _json_default(p.default)) is not _NO_DEFAULT:
            schema = {**schema, "default": default}
        properties[p.name] = schema
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if writer.defs:
        parameters["$defs"] = writer.defs
    return normalized(parameters)


_NO_DEFAULT = object()


def _json_default(value: Any) -> Any:
    """``value`` as a schema's ``default``, or ``_NO_DEFAULT`` when JSON cannot hold it."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return _NO_DEFAULT
    return value


# -- tools given to a call --------------------------------------------------------------


def as_function_tool(value: Any) -> FunctionTool:
    """A :class:`FunctionTool`, or a function made into one (cached per function)."""
    if isinstance(value, FunctionTool):
        return value
    if isinstance(value, Tool | Mapping) or not callable(value):
        raise InvalidRequestError(
            f"run_tools needs a function for every tool; {_label(value)} has none to run",
            param="tools",
            hint="pass the function itself, or FunctionTool(tool, function)",
        )
    try:
        return _cached(value)
    except TypeError:  # unhashable (a bound method of an unhashable object)
        return FunctionTool.from_function(value)


@functools.lru_cache(maxsize=256)
def _cached(function: Callable[..., Any]) -> FunctionTool:
    return FunctionTool.from_function(function)


def function_tools(
    values: Iterable[Any],
) -> tuple[dict[str, FunctionTool], list[Tool | CachePoint | WebSearch | Mapping[str, Any]]]:
    """``run_tools``'s ``tools``: each a FunctionTool by its (unique) name, and what
    each step's ``tools`` are: their Tools, with a :class:`~relaykit.CachePoint`
    where the caller put one (to cache the definitions up to it) and a web
    search where the caller asked for one (the provider runs it, not the loop)."""
    if isinstance(values, str | Mapping) or not isinstance(values, Iterable):
        raise InvalidRequestError("run_tools' `tools` must be a list of functions", param="tools")
    found: dict[str, FunctionTool] = {}
    sent: list[Tool | CachePoint | WebSearch | Mapping[str, Any]] = []
    for value in values:
        if isinstance(value, CachePoint | WebSearch) or is_search_tool(value):
            sent.append(value)
            continue
        tool = as_function_tool(value)
        if tool.name in found:
            raise InvalidRequestError(
                f"two tools are named {tool.name!r}",
                param="tools",
                hint="give one another name: FunctionTool.from_function(f, name='...')",
            )
        found[tool.name] = tool
        sent.append(tool.tool)
    if not found:
        raise InvalidRequestError(
            "run_tools needs at least one tool", param="tools", hint="use client.chat without tools"
        )
    return found, sent


def _label(value: Any) -> str:
    if isinstance(value, Tool):
        return f"Tool {value.name!r}"
    if isinstance(value, Mapping):
        return f"the tool dict {value.get('name') or (value.get('function') or {}).get('name')!r}"
    return repr(value)


# -- results ----------------------------------------------------------------------------


def result_content(value: Any, tool: str) -> tuple[str, tuple[Attachment, ...]]:
    """What a tool returned as a tool result's text and attachments.

    A string is the text; an image or document (or a list of strings, images
    and documents) goes as attachments, with the strings as the text; anything
    else is sent as JSON (dataclasses, attrs classes and pydantic models as
    objects, enums as their values, decimals, dates and UUIDs as strings).
    """
    if isinstance(value, str):
        return value, ()
    if isinstance(value, ImagePart | DocumentPart):
        return "", (value,)
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, str | ImagePart | DocumentPart) for v in value)
        and any(not isinstance(v, str) for v in value)
    ):
        text = "\n".join(v for v in value if isinstance(v, str))
        return text, tuple(v for v in value if not isinstance(v, str))
    try:
        return json.dumps(value, default=_jsonable, ensure_ascii=False), ()
    except (TypeError, ValueError) as e:
        raise InvalidRequestError(
            f"tool {tool} returned {type(value).__name__}, which relaykit cannot send: {e}",
            param="tools",
            hint="return a str, or a value JSON can hold (dicts, lists, numbers, "
            "dataclasses, attrs classes)",
        ) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):  # a pydantic model
        return value.model_dump(mode="json")
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
