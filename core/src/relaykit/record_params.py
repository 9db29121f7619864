"""A request's structured parameters as a call record keeps them: plain JSON values.

Both SQL backends store ``params`` as JSON, and a record must round-trip
whatever a caller passed in ``extra`` or a tool's schema, so everything here
becomes dicts, lists, strings, finite numbers, booleans and ``None``. The
numeric parameters are copied by the client itself (it does that on every
call); this module handles the rarer, structured ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import isfinite
from typing import Any

from .request import ChatRequest, ResponseFormat, Tool, ToolChoice

#: metadata keys the record keeps in columns of their own
ID_KEYS = frozenset(("correlation_id", "conversation_id"))


def tool_choice_param(choice: ToolChoice) -> str | dict[str, str]:
    """The choice as ``"auto"``, ``"none"``, ``"required"`` or ``{"name": ...}``."""
    if choice.mode == "tool":
        return {"name": choice.name or ""}
    return choice.mode


def add_content_params(
    request: ChatRequest, params: dict[str, Any], redact: Callable[[Any], Any]
) -> None:
    """Put ``tools``, ``response_format``, ``extra``, the other ``metadata`` and a web
    search's location in ``params``.

    They hold text (descriptions, schemas, a user's id): ``redact`` takes each as
    plain JSON values and returns it with every string redacted.
    """
    if request.tools:
        params["tools"] = redact([_tool(t) for t in request.tools])
    if request.response_format is not None:
        params["response_format"] = redact(_response_format(request.response_format))
    if request.extra:
        params["extra"] = redact(plain(request.extra))
    if request.metadata:
        others = {k: v for k, v in request.metadata.items() if k not in ID_KEYS}
        if others:
            params["metadata"] = redact(plain(others))
    search = request.web_search
    if search is not None and search.location is not None:
        # where the user is: content, as a message is (see WebSearch.to_param)
        params["web_search"] = {
            **params.get("web_search", {}),
            "location": redact(search.location.fields()),
        }


def _tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "parameters": plain(tool.parameters),
    }
    if tool.strict is not None:
        out["strict"] = tool.strict
    return out


def _response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    return {
        "type": fmt.type,
        "name": fmt.name,
        "schema": plain(fmt.schema or {}),
        "strict": fmt.strict,
    }


def plain(value: Any) -> Any:
    """``value`` as JSON any backend stores: str keys, lists, finite numbers, else ``str``.

    PostgreSQL's jsonb refuses NaN and infinities, and an object no encoder knows
    would fail the whole batch it is written in.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)
