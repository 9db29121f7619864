"""Vertex AI's streamed function call arguments, for the mock.

With ``toolConfig.functionCallingConfig.streamFunctionCallArguments`` true,
Gemini 3 on Vertex streams each call in pieces, each piece a chunk of its own
(as recorded from Vertex in vercel/ai's fixtures, ``google-stream-tool-call-
arguments`` and ``google-vertex-stream-tool-call-arguments-nested``):

- ``{"functionCall": {"name": ..., "willContinue": true}}`` opens the call (with
  the turn's ``thoughtSignature`` on the first call's, an ``id`` where the mock
  gives ids);
- then one ``{"functionCall": {"partialArgs": [...], "willContinue": true}}``
  per value, in the order of the arguments: its JSON path (``$.a.b[0]``,
  ``$['a key']``) and its value as ``stringValue``, ``numberValue``,
  ``boolValue`` or ``nullValue`` (``"NULL_VALUE"``); a string comes in two pieces
  with ``willContinue``, then an empty one without, which ends it; between an
  array's elements comes a bare ``{"functionCall": {"willContinue": true}}``;
- ``{"functionCall": {}}`` ends the call; the last call's end rides on the chunk
  with the finish reason.

An empty object or list among the arguments has no value to send: the mock
leaves it out (what Vertex does with one is not known here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def asked(body: Mapping[str, Any]) -> bool:
    """Whether a ``generateContent`` body asks for streamed call arguments."""
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    return bool(config.get("streamFunctionCallArguments"))


def call_chunks(calls: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The parts of each chunk that stream ``calls`` (``functionCall`` parts, whole),
    the last call's end last."""
    chunks: list[list[dict[str, Any]]] = []
    for part in calls:
        fc = part["functionCall"]
        opening: dict[str, Any] = {"name": fc["name"], "willContinue": True}
        if "id" in fc:
            opening["id"] = fc["id"]
        start: dict[str, Any] = {"functionCall": opening}
        if "thoughtSignature" in part:
            start["thoughtSignature"] = part["thoughtSignature"]
        chunks.append([start])
        chunks.extend([{"functionCall": piece}] for piece in _pieces(fc.get("args") or {}))
        chunks.append([{"functionCall": {}}])
    return chunks


def _pieces(args: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for path, value in _leaves(args, "$"):
        if path is None:  # between an array's elements
            yield {"willContinue": True}
        elif isinstance(value, str):
            half = len(value) // 2
            for text in (value[:half], value[half:]):
                yield _piece(path, {"stringValue": text, "willContinue": True})
            yield _piece(path, {"stringValue": ""})
        elif isinstance(value, bool):
            yield _piece(path, {"boolValue": value})
        elif value is None:
            yield _piece(path, {"nullValue": "NULL_VALUE"})
        else:
            yield _piece(path, {"numberValue": value})


def _piece(path: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"partialArgs": [{"jsonPath": path, **value}], "willContinue": True}


def _leaves(value: Any, path: str) -> Iterator[tuple[str | None, Any]]:
    """``(path, value)`` for each value that is no object or list, in order; ``(None,
    None)`` between a list's elements."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            step = f".{key}" if _NAME.fullmatch(key) else f"['{_quoted(key)}']"
            yield from _leaves(item, path + step)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if i:
                yield None, None
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _quoted(key: str) -> str:
    """``key`` inside a single-quoted path step (RFC 9535: its quote and backslash
    escaped)."""
    return key.replace("\\", "\\\\").replace("'", "\\'")
