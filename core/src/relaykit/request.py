"""What a caller asks for: :class:`ChatRequest` and the values inside it.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from math import inf, isfinite
from typing import Any, Literal, get_origin

import attrs

from .errors import InvalidRequestError, did_you_mean
from .messages import (
    CachePoint,
    DocumentPart,
    Message,
    TextPart,
    ToolResultPart,
    parse_cache_control,
)
from .secrets import scrubbed_repr
from .web_search import WebSearch, is_search_tool

__all__ = [
    "EFFORTS",
    "EFFORT_BUDGETS",
    "ChatRequest",
    "Effort",
    "Reasoning",
    "ResponseFormat",
    "Tool",
    "ToolChoice",
    "estimate_prompt_tokens",
    "refuse_seed",
]


@attrs.frozen
class Tool:
    """A function the model may call: its name, purpose and JSON-schema parameters.

    ``cache`` set to a :class:`CachePoint` caches the tool definitions up to and
    including this one (put it on the last tool); a ``CachePoint`` placed last
    in a call's ``tools`` list does the same.
    """

    name: str
    description: str = ""
    parameters: dict[str, Any] = attrs.field(factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    cache: CachePoint | None = attrs.field(default=None, kw_only=True)

    @classmethod
    def coerce(cls, value: Tool | Mapping[str, Any] | Any, where: str = "tools") -> Tool:
        """Accept a Tool, an OpenAI ``{"type": "function", "function": {...}}`` dict or
        flat, a Python function (its schema written from its signature:
        :meth:`relaykit.FunctionTool.from_function`) or a FunctionTool."""
        if isinstance(value, Tool):
            return value
        if not isinstance(value, Mapping):
            from .function_tools import FunctionTool, as_function_tool

            if isinstance(value, FunctionTool) or callable(value):
                return as_function_tool(value).tool
            raise InvalidRequestError(
                f"{where} must be a relaykit.Tool, a dict or a function", param=where
            )
        spec = value.get("function", value)
        if not isinstance(spec, Mapping) or not spec.get("name"):
            kind = value.get("type")
            if isinstance(kind, str) and kind != "function":
                # OpenAI's custom (free-form) tools and the vendors' hosted ones
                # keep their name under their type: no name here was not the fault
                raise InvalidRequestError(
                    f"{where} is a {kind!r} tool, which relaykit does not send: only"
                    " function tools (a name, a description and JSON-schema parameters)",
                    param=f"{where}.type",
                    hint="give the tool as a function with JSON-schema parameters",
                )
            raise InvalidRequestError(f"{where} needs a `name`", param=f"{where}.name")
        params = spec.get("parameters") or spec.get("input_schema")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidRequestError(
                f"{where}'s parameters must be a JSON schema object, not {type(params).__name__}",
                param=f"{where}.parameters",
            )
        # Anthropic's tools carry the mark; LiteLLM reads it on an OpenAI-shaped
        # tool or inside its function, the tool's own first.
        mark = value.get("cache_control")
        if mark is None and spec is not value:
            mark, where = spec.get("cache_control"), f"{where}.function"
        return cls(
            name=str(spec["name"]),
            description=str(spec.get("description") or ""),
            parameters=dict(params) if params else {"type": "object", "properties": {}},
            strict=spec.get("strict"),
            cache=parse_cache_control(mark, where),
        )


@attrs.frozen
class ToolChoice:
    """How the model may use tools: ``auto``, ``none``, ``required``, or one named ``tool``."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None

    @classmethod
    def coerce(cls, value: ToolChoice | str | Mapping[str, Any]) -> ToolChoice:
        """Read ``tool_choice`` as a caller gives it, in any vendor's spelling.

        A string: ``"auto"``, ``"none"``, ``"required"`` (Anthropic's and Gemini's
        ``"any"``; the upper-case ``"AUTO"``, ``"ANY"``, ``"NONE"``, ``"REQUIRED"``
        of Gemini and Cohere), else the name of the one tool to call. A dict as
        OpenAI's Chat Completions (``{"type": "function", "function": {"name":
        "f"}}``), its Responses API (``{"type": "function", "name": "f"}``),
        Anthropic (``{"type": "auto" | "any" | "none"}``, ``{"type": "tool",
        "name": "f"}``), Bedrock (``{"auto": {}}``, ``{"any": {}}``, ``{"tool":
        {"name": "f"}}``) or Gemini (``{"mode": "ANY", "allowed_function_names":
        ["f"]}``) takes it. Anything else, or what relaykit has no setting for
        (Anthropic's ``disable_parallel_tool_use: true``, a choice among several
        tools), is an :class:`InvalidRequestError` naming the accepted forms.
        """
        if isinstance(value, ToolChoice):
            return value
        if isinstance(value, str):
            mode = _MODE_WORDS.get(value)
            if mode is not None:
                return cls(mode)  # type: ignore[arg-type]
            if value:
                return cls("tool", value)
        elif isinstance(value, Mapping):
            return _choice_from_dict(cls, value)
        raise _bad_choice(f"tool_choice {_shown(value)} is not understood")


def _not_a_format(value: object) -> InvalidRequestError:
    """The error for a ``response_format`` that is neither a class nor a dict: a type
    such as ``list[int]`` (pydantic could describe it, but an answer is a JSON
    object at the top for every vendor's structured output), or a word."""
    if get_origin(value) is not None:
        return InvalidRequestError(
            f"response_format {value!r} is a type, not a class: structured output is a "
            "JSON object at the top",
            param="response_format",
            hint="wrap it in a class with one field, e.g. class Answer(BaseModel): "
            "items: list[int]",
        )
    return InvalidRequestError(
        f"response_format must be a class or a dict, not {value!r}"[:160],
        param="response_format",
        hint="a pydantic model, a dataclass, an attrs class or a TypedDict; or "
        "{'type': 'json_object'} for any JSON, {'type': 'json_schema', ...} for a schema",
    )


#: the words for a mode, as each vendor spells it
_MODE_WORDS = {
    "auto": "auto",
    "none": "none",
    "required": "required",
    "any": "required",  # Anthropic's, Bedrock's and Gemini's word for required
    # Gemini's mode and Cohere's tool_choice are upper case
    "AUTO": "auto",
    "NONE": "none",
    "REQUIRED": "required",
    "ANY": "required",
}

_ACCEPTED = (
    "use 'auto', 'none', 'required' (or 'any'), a tool's name, or one of the vendors' "
    "dicts: {'type': 'function', 'function': {'name': 'f'}} (OpenAI), {'type': "
    "'function', 'name': 'f'} (Responses API), {'type': 'auto'|'any'|'none'} or "
    "{'type': 'tool', 'name': 'f'} (Anthropic), {'auto': {}}, {'any': {}} or {'tool': "
    "{'name': 'f'}} (Bedrock), {'mode': 'AUTO'|'ANY'|'NONE', 'allowed_function_names': "
    "['f']} (Gemini)"
)


def _shown(value: object) -> str:
    """``value`` in an error, cut short: a tool_choice is no secret, but may be long."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _bad_choice(message: str, param: str = "tool_choice", hint: str = _ACCEPTED) -> Exception:
    return InvalidRequestError(message, param=param, hint=hint)


def _tool_name(value: object, param: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise _bad_choice(
        f"{param} must be the name of a tool, not {_shown(value)}",
        param=param,
        hint="name one of the request's tools, e.g. {'type': 'tool', 'name': 'get_weather'}",
    )


def _choice_from_dict(cls: type[ToolChoice], value: Mapping[str, Any]) -> ToolChoice:
    """:meth:`ToolChoice.coerce` for a dict: each vendor's shape, its every key read or
    refused (a key left unread would be a setting dropped without a word)."""
    keys = set(value)
    if "disable_parallel_tool_use" in keys:
        keys.discard("disable_parallel_tool_use")
        flag = value["disable_parallel_tool_use"]
        if flag is not False and flag is not None:
            # relaykit has no setting for it: sent without it, the model could
            # answer with several calls where the caller asked for one at most.
            raise _bad_choice(
                "tool_choice.disable_parallel_tool_use is Anthropic's own, and relaykit "
                "has no parallel-tool-calls setting to carry it to every provider",
                param="tool_choice.disable_parallel_tool_use",
                hint="pass the vendor's own setting in extra, which reaches its API "
                "untouched: extra={'tool_choice': {'type': 'auto', "
                "'disable_parallel_tool_use': True}} for Anthropic, "
                "extra={'parallel_tool_calls': False} for OpenAI; or leave it out",
            )
    kind = value.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _bad_choice(f"tool_choice.type {_shown(kind)} is not understood")
    if kind is None and len(keys) == 1:
        (key,) = keys
        inner = value[key]
        if key in ("auto", "any") and isinstance(inner, Mapping) and not inner:  # Bedrock
            return cls(_MODE_WORDS[key])  # type: ignore[arg-type]
        if key == "tool" and isinstance(inner, Mapping) and set(inner) == {"name"}:  # Bedrock
            return cls("tool", _tool_name(inner["name"], "tool_choice.tool.name"))
        if key == "name":  # {"name": "f"}, OpenAI's old function_call shape
            return cls("tool", _tool_name(inner, "tool_choice.name"))
    if kind is None:
        config = value
        for wrapper in ("function_calling_config", "functionCallingConfig"):
            if keys == {wrapper} and isinstance(value[wrapper], Mapping):
                config = value[wrapper]
        if "mode" in config:
            return _gemini_choice(cls, config)
    if kind in _MODE_WORDS and keys == {"type"}:
        return cls(_MODE_WORDS[kind])  # type: ignore[arg-type]
    if kind == "tool" and keys == {"type", "name"}:  # Anthropic
        return cls("tool", _tool_name(value["name"], "tool_choice.name"))
    if kind in ("function", None):
        function = value.get("function")
        # OpenAI Chat Completions
        if (
            keys <= {"type", "function"}
            and isinstance(function, Mapping)
            and set(function) == {"name"}
        ):
            return cls("tool", _tool_name(function["name"], "tool_choice.function.name"))
        if keys == {"type", "name"} and kind == "function":  # the Responses API
            return cls("tool", _tool_name(value["name"], "tool_choice.name"))
    if kind == "allowed_tools":
        raise _bad_choice(
            "tool_choice 'allowed_tools' picks among several tools, which relaykit's "
            "tool_choice cannot say",
            hint="send only the allowed tools in `tools`, with tool_choice 'auto' or 'required'",
        )
    raise _bad_choice(f"tool_choice {_shown(value)} is not understood")


_GEMINI_MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none"}


def _gemini_choice(cls: type[ToolChoice], config: Mapping[str, Any]) -> ToolChoice:
    """Gemini's ``functionCallingConfig``: a mode, and for ``ANY`` the tools allowed."""
    word = config["mode"]
    mode = _GEMINI_MODES.get(word) if isinstance(word, str) else None
    names_key = (
        "allowedFunctionNames" if "allowedFunctionNames" in config else ("allowed_function_names")
    )
    names = config.get(names_key)
    if mode is None or not set(config) <= {"mode", names_key}:
        raise _bad_choice(f"tool_choice {_shown(dict(config))} is not understood")
    if not names:
        return cls(mode)  # type: ignore[arg-type]
    if mode == "required" and isinstance(names, list | tuple) and len(names) == 1:
        return cls("tool", _tool_name(names[0], f"tool_choice.{names_key}[0]"))
    raise _bad_choice(
        f"tool_choice {_shown(dict(config))} allows several tools, which relaykit's "
        "tool_choice cannot say",
        param=f"tool_choice.{names_key}",
        hint="send only the allowed tools in `tools`, with tool_choice 'required'; or "
        "name one tool",
    )


#: how hard a model thinks before it answers, least to most; ``none`` turns thinking off
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

#: the thinking budget, in tokens, an effort stands for at providers that take a
#: budget (Anthropic, Gemini 2.5, Cohere). Google's own mapping for its
#: OpenAI-compatible endpoint sets low, medium and high; the ends follow it.
#: ``max`` (OpenAI's and Claude's most) has no larger step among budgets than
#: ``xhigh``: the plugins cap a budget at what each model takes anyway.
EFFORT_BUDGETS: Mapping[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}


@attrs.frozen
class Reasoning:
    """How much a model thinks before it answers: ``reasoning=`` on a chat.

    Give an ``effort`` (``"none"`` turns thinking off), an exact ``budget_tokens``,
    or neither (``reasoning=True``: thinking on, as much as the model likes).
    Each provider plugin sends what its API takes: an effort (OpenAI, Gemini 3,
    Ollama's gpt-oss) or a budget (Anthropic, Gemini 2.5, Cohere), converting the
    other with :meth:`level` and :meth:`tokens`; one that cannot control thinking
    refuses the call before sending it, so a route falls back.

    ``summary`` asks for the model's reasoning to come back as text
    (``ChatResponse.reasoning``): ``True`` asks the vendors that return it only
    when asked (OpenAI's Responses API, as a summary; Claude 4.7 on; Gemini's
    thoughts), ``False`` asks those that would return it not to, ``None``
    leaves each vendor's default. Vendors that never return it (OpenAI's Chat
    Completions) ignore it, as do those that always do.
    """

    effort: Effort | None = None
    budget_tokens: int | None = None
    summary: bool | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        effort = self.effort
        if effort is not None and (not isinstance(effort, str) or effort not in EFFORT_BUDGETS):
            raise InvalidRequestError(
                f"reasoning effort {self.effort!r} is not one relaykit knows",
                param="reasoning",
                hint=did_you_mean(
                    str(self.effort),
                    EFFORTS,
                    f"use one of {', '.join(EFFORTS)}, or a budget in tokens",
                ),
            )
        budget = self.budget_tokens
        if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)):
            raise InvalidRequestError(
                f"reasoning budget_tokens must be a whole number of tokens, not {budget!r}",
                param="reasoning",
            )
        if budget is not None and budget < 0:
            raise InvalidRequestError(
                f"reasoning budget_tokens must be 0 (thinking off) or more, not {budget}",
                param="reasoning",
            )
        effort = self.effort
        if budget is not None and effort is not None and (budget == 0) != (effort == "none"):
            raise InvalidRequestError(
                f"reasoning effort {self.effort!r} and budget_tokens={budget} disagree "
                "on whether the model thinks",
                param="reasoning",
                hint="give one of them, or both on the same side of off",
            )
        if self.summary is not None and not isinstance(self.summary, bool):
            raise InvalidRequestError(
                f"reasoning summary must be True, False or None, not {self.summary!r}",
                param="reasoning",
            )
        if self.summary and self.off:
            raise InvalidRequestError(
                "reasoning summary=True asks for the reasoning of a model told not to think",
                param="reasoning",
                hint="turn thinking on (an effort other than 'none', a budget above 0),"
                " or drop summary",
            )

    @property
    def off(self) -> bool:
        """Whether this turns thinking off (``effort="none"`` or a budget of 0)."""
        return self.effort == "none" or self.budget_tokens == 0

    def level(self) -> Effort | None:
        """The effort to send an API that takes one.

        The effort given, or the budget's: 0 is ``none``, up to 1,024 tokens
        ``low``, up to 8,192 ``medium``, more ``high`` (``minimal``, ``xhigh``
        and ``max`` only when asked for by name: fewer models take them). ``None``
        when neither was given: the model's default.
        """
        if self.effort is not None:
            return self.effort
        budget = self.budget_tokens
        if budget is None:
            return None
        if budget == 0:
            return "none"
        return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"

    def tokens(self) -> int | None:
        """The budget to send an API that takes one: the one given, or the effort's
        (:data:`EFFORT_BUDGETS`); ``None`` when neither was given."""
        if self.budget_tokens is not None:
            return self.budget_tokens
        return None if self.effort is None else EFFORT_BUDGETS[self.effort]

    @classmethod
    def coerce(cls, value: Reasoning | str | int | bool | Mapping[str, Any]) -> Reasoning:
        """Accept a Reasoning, an effort (``"low"``), a budget in tokens (``2048``),
        ``True`` (thinking on) or ``False`` (off), or a dict with ``effort``,
        ``budget_tokens`` and ``summary``, each optional."""
        if isinstance(value, Reasoning):
            return value
        if isinstance(value, bool):
            return cls("none") if value is False else cls()
        if isinstance(value, str):
            return cls(value)  # type: ignore[arg-type]  # checked in __attrs_post_init__
        if isinstance(value, int):
            return cls(budget_tokens=value)
        if isinstance(value, Mapping):
            fields = ("effort", "budget_tokens", "summary")
            unknown = sorted(set(value) - set(fields))
            if unknown:
                raise InvalidRequestError(
                    f"reasoning has no field {unknown[0]!r}",
                    param="reasoning",
                    hint=did_you_mean(unknown[0], fields, "use effort, budget_tokens or summary"),
                )
            return cls(
                value.get("effort"), value.get("budget_tokens"), summary=value.get("summary")
            )
        raise InvalidRequestError(
            f"reasoning {value!r} is not understood",
            param="reasoning",
            hint=f"use an effort ({', '.join(EFFORTS)}), a budget in tokens, True or False",
        )

    def to_param(self) -> dict[str, Any]:
        """The setting as a call record's ``params["reasoning"]`` keeps it: the fields given."""
        out: dict[str, Any] = {}
        if self.effort is not None:
            out["effort"] = self.effort
        if self.budget_tokens is not None:
            out["budget_tokens"] = self.budget_tokens
        if self.summary is not None:
            out["summary"] = self.summary
        return out


@attrs.frozen
class ResponseFormat:
    """Structured output: free ``text``, any ``json_object``, or a ``json_schema``.

    ``output_type`` is the class the schema was written from, when the caller
    gave one (see :mod:`relaykit.output_types`): the answer is parsed into it.
    It is not sent, and two formats with the same schema are equal.
    """

    type: Literal["text", "json_object", "json_schema"] = "json_schema"
    schema: dict[str, Any] | None = None
    name: str = "response"
    strict: bool = True
    output_type: builtins.type[Any] | None = attrs.field(
        default=None, kw_only=True, eq=False, repr=False
    )

    @classmethod
    def coerce(
        cls, value: ResponseFormat | Mapping[str, Any] | builtins.type[Any]
    ) -> ResponseFormat:
        """Accept a ResponseFormat, an OpenAI ``response_format`` dict, a bare JSON
        schema, or a class to parse the answer into (a pydantic model, a dataclass,
        an attrs class or a ``TypedDict``).

        A dict that does not say ``strict`` is strict when its schema keeps OpenAI's
        strict rules (:func:`relaykit.json_schemas.strict_ok`: every object closed,
        every property required), and sent non-strict when it does not, rather
        than refused; ``strict: true`` on a schema that breaks them is refused
        before sending by the providers that enforce it."""
        if isinstance(value, ResponseFormat):
            return value
        if isinstance(value, type):
            from .output_types import is_output_type, output_format

            if not is_output_type(value):
                raise InvalidRequestError(
                    f"response_format {value.__name__} is not a class relaykit can describe",
                    param="response_format",
                    hint="pass a pydantic model, a dataclass, an attrs class, a TypedDict "
                    "or a JSON schema dict",
                )
            name, schema, strict = output_format(value)  # type: ignore[arg-type]  # a class is hashable
            return cls("json_schema", schema, name, strict, output_type=value)
        if not isinstance(value, Mapping):
            raise _not_a_format(value)
        from .json_schemas import strict_ok

        kind = value.get("type")
        if kind == "json_schema" and isinstance(value.get("json_schema"), Mapping):
            js = value["json_schema"]
            schema = dict(js.get("schema") or {})
            said = js.get("strict")
            return cls(
                "json_schema",
                schema,
                str(js.get("name") or "response"),
                strict_ok(schema) if said is None else bool(said),
            )
        if kind in ("text", "json_object"):
            return cls(kind)
        if kind == "json_schema" and "schema" in value:
            schema = dict(value["schema"])
            said = value.get("strict")
            return cls(
                "json_schema",
                schema,
                str(value.get("name", "response")),
                strict_ok(schema) if said is None else bool(said),
            )
        schema = dict(value)  # a bare JSON schema
        return cls("json_schema", schema, strict=strict_ok(schema))


# Not slotted: a frozen slotted class sets each field through object.__setattr__
# (a C call of ~1 k instructions); a frozen dict class writes its __dict__
# directly, ~40% less to build. This one is built on every call (see
# docs/benchmarks.md, "Session 19").
@attrs.frozen(kw_only=True, slots=False)
class ChatRequest:
    """One chat call, as the core hands it to a provider plugin.

    ``model`` is the provider's own model name (without the ``provider/`` prefix).
    ``extra`` is merged into the provider's request body untouched.
    """

    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)
    #: the provider searches the web for the model (see :mod:`relaykit.web_search`)
    web_search: WebSearch | None = None

    @property
    def system(self) -> str:
        """All system messages' text joined by blank lines (for APIs with a separate field)."""
        return "\n\n".join([m.text for m in self.messages if m.role == "system"])


PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning",
    "timeout",
    "metadata",
    "extra",
    "web_search",
)


_PARAM_SET = frozenset(PARAMS)
#: parameters that need more than a type check; calls without them skip that part
_STRUCTURED = frozenset(
    (
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning",
        "metadata",
        "extra",
        "web_search",
    )
)


def build_request(
    model: str, messages: tuple[Message, ...], params: Mapping[str, Any]
) -> ChatRequest:
    """Validate and normalise user-supplied parameters into a :class:`ChatRequest`."""
    if not params:
        return ChatRequest(model=model, messages=messages)
    keys = params.keys()
    if keys <= _PARAM_SET and keys.isdisjoint(_STRUCTURED):
        # Plain numbers only (max_tokens, temperature, ...): just check them.
        _check_numbers(params)
        return ChatRequest(model=model, messages=messages, **params)
    unknown = sorted(set(params) - _PARAM_SET)
    if unknown:
        name = unknown[0]
        from .foreign_params import foreign_param_fix  # only on the way to an error

        fix = foreign_param_fix(name, params[name]) or did_you_mean(
            name, PARAMS, "pass provider-specific fields in extra={...}"
        )
        raise InvalidRequestError(f"unknown parameter {name!r}: {fix}", param=name)
    p = dict(params)
    stop = p.get("stop")
    if isinstance(stop, str):
        p["stop"] = (stop,)
    elif stop is not None:
        p["stop"] = _stop_sequences(stop)
    else:
        p.pop("stop", None)
    if p.get("web_search") is not None:
        p["web_search"] = WebSearch.coerce(p["web_search"])
    else:
        p.pop("web_search", None)
    if p.get("tools") is not None:
        p["tools"], search = _tools(p["tools"])
        if search is not None:
            if p.get("web_search") is not None:
                raise InvalidRequestError(
                    "web search is asked for twice: in tools and in web_search",
                    param="web_search",
                    hint="keep one of them",
                )
            p["web_search"] = search
    else:
        p.pop("tools", None)
    if p.get("tool_choice") is not None:
        p["tool_choice"] = ToolChoice.coerce(p["tool_choice"])
    if p.get("response_format") is not None:
        p["response_format"] = ResponseFormat.coerce(p["response_format"])
    if p.get("reasoning") is not None:
        p["reasoning"] = Reasoning.coerce(p["reasoning"])
    for key in ("metadata", "extra"):
        if p.get(key) is None:
            p.pop(key, None)
        elif not isinstance(p[key], Mapping):
            raise InvalidRequestError(f"`{key}` must be a dict", param=key)
        else:
            p[key] = dict(p[key])
    _check_numbers(p)
    return ChatRequest(model=model, messages=messages, **p)


def _stop_sequences(stop: Any) -> tuple[str, ...]:
    """``stop`` given as a list: its strings, each checked (a number was sent as it
    was, for the vendor to refuse; a value that is no list raised TypeError)."""
    if not isinstance(stop, Sequence) or isinstance(stop, bytes):
        raise InvalidRequestError(
            f"`stop` must be a string or a list of strings, not {stop!r}"[:160],
            param="stop",
            hint="stop=['END', '###']",
        )
    for i, sequence in enumerate(stop):
        if not isinstance(sequence, str):
            raise InvalidRequestError(
                f"`stop` must hold strings only: stop[{i}] is {sequence!r}"[:160], param="stop"
            )
    return tuple(stop)


def _tools(given: Any) -> tuple[tuple[Tool, ...], WebSearch | None]:
    """Tools from a list of tools and dicts, where a :class:`CachePoint` marks the one
    before it as the end of the cached definitions, and the web search a vendor's
    search tool among them asks for (code written for that vendor's SDK)."""
    if not isinstance(given, Sequence) or isinstance(given, str | bytes):
        # One tool passed alone: a dict was read as its keys, a function raised
        # TypeError (not iterable).
        raise InvalidRequestError(
            f"`tools` must be a list of tools, not {type(given).__name__}",
            param="tools",
            hint="pass one tool as a list of one: tools=[tool]",
        )
    tools: list[Tool] = []
    search: WebSearch | None = None
    for i, t in enumerate(given):
        if isinstance(t, WebSearch) or is_search_tool(t):
            if search is not None:
                raise InvalidRequestError(
                    f"tools[{i}] is a second web search",
                    param=f"tools[{i}]",
                    hint="give one web search tool (or web_search=), with every setting in it",
                )
            search = WebSearch.coerce(t)
            # Anthropic's SDK marks the last tool, which may be the search: the mark
            # caches the definitions up to it, so it goes to the function tool before.
            mark = t.get("cache_control") if isinstance(t, Mapping) else None
            if mark is not None and tools:
                tools[-1] = attrs.evolve(tools[-1], cache=parse_cache_control(mark, f"tools[{i}]"))
        elif isinstance(t, CachePoint):
            if not tools:
                raise InvalidRequestError(
                    f"tools[{i}] is a cache point with no tool before it",
                    param=f"tools[{i}]",
                    hint="put the CachePoint after the tools it should cache",
                )
            tools[-1] = attrs.evolve(tools[-1], cache=t)
        else:
            tools.append(Tool.coerce(t, f"tools[{i}]"))
    return tuple(tools), search


def _check_numbers(p: Mapping[str, Any]) -> None:
    for key in ("max_tokens", "seed"):
        value = p.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidRequestError(f"`{key}` must be an integer, not {value!r}", param=key)
    if p.get("max_tokens") is not None and p["max_tokens"] < 1:
        raise InvalidRequestError("`max_tokens` must be at least 1", param="max_tokens")
    for key in ("temperature", "top_p", "timeout"):
        value = p.get(key)
        if value is None:
            continue
        # NaN and infinity are not JSON (one encoder would send null, the other invalid
        # JSON); a timeout is not sent, and an infinite one means none
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not (isfinite(value) or (key == "timeout" and value == inf))
        ):
            raise InvalidRequestError(f"`{key}` must be a finite number, not {value!r}", param=key)
        if key == "timeout" and value <= 0:  # as check_options says for the other calls
            raise InvalidRequestError(
                f"`timeout` must be a positive number of seconds, not {value!r}", param=key
            )


def request_size(request: ChatRequest) -> int:
    """Characters of text the request carries (message text, tool results and
    text documents; a PDF's text is not known before the provider reads it).

    Raises :class:`InvalidRequestError` for a document in an assistant message,
    which no vendor reads.
    """
    size = 0
    for message in request.messages:
        for part in message.content:
            if isinstance(part, TextPart):
                size += len(part.text)
            elif isinstance(part, ToolResultPart):
                size += len(part.content)
                for attachment in part.attachments:
                    if isinstance(attachment, DocumentPart):
                        size += _text_size(attachment)
            elif isinstance(part, DocumentPart):
                if message.role == "assistant":
                    # Vendors read documents from the user's side (OpenAI's Responses
                    # API in a system message too); in an assistant turn a plugin
                    # would have to drop it without a word.
                    raise InvalidRequestError(
                        f"a document is in a {message.role} message",
                        param="messages",
                        hint="put documents in a user message",
                    )
                size += _text_size(part)
    return size


def _text_size(document: DocumentPart) -> int:
    return len(document.data) if document.media_type == "text/plain" and document.data else 0


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """The prompt's tokens as relaykit's limits estimate them before a call: a
    quarter of the characters of its text, tool results and text documents
    (:func:`request_size`).

    For a provider whose vendor left the prompt's count out of an answer: the
    usage it reports then is this estimate, marked ``usage_estimated``, so the
    call is charged what its limits reserved, not a free prompt. It walks every
    message: call it only when the count is missing.
    """
    return request_size(request) // 4


#: what :func:`refuse_seed` says to do, unless its caller knows a better way out
SEED_FIX = (
    "drop seed=: temperature=0 makes the answers the most repeatable this "
    "model's can be, and cache=True answers a repeated call from the response cache"
)


def refuse_seed(request: ChatRequest, api: str, *, hint: str = SEED_FIX) -> None:
    """Refuse ``request``'s ``seed`` for a plugin whose vendor's ``api`` ("Anthropic's
    Messages API") has no such field: before sending, with no status (so a route
    falls back to a target that takes it), rather than drop it without a word, as
    LiteLLM refuses it unless told ``drop_params``. ``hint`` is the fix, where the
    plugin knows one better than dropping it (another API of the same vendor)."""
    if request.seed is None:
        return
    raise InvalidRequestError(
        f"{api} has no seed (seed={request.seed})",
        model=request.model,
        param="seed",
        hint=hint,
    )
