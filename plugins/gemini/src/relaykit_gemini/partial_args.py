"""Vertex AI's streamed function call arguments, as pieces of JSON text.

With ``toolConfig.functionCallingConfig.streamFunctionCallArguments`` (Vertex AI
only: the Gemini API has no such field), Gemini 3 streams a call's arguments as
``partialArgs``: each a JSON path (RFC 9535, ``$.recipe.steps[0]``,
``$['a key']``) and one typed value (``stringValue``, ``numberValue``,
``boolValue``, ``nullValue``); a string comes in pieces, each but its last with
``willContinue``. relaykit streams a call's arguments as pieces of its JSON text
(as OpenAI's and Anthropic's come), so :class:`ArgumentsText` writes the JSON as
the values arrive: it opens and closes the objects and arrays their paths pass
through, in the order they come, which is the order of the arguments (the pieces
Vertex sends follow it).

A piece for a place the text has already left (a member of an object closed
before, an array element before the last) cannot be written so; it is a
``ValueError`` naming its path, as is a path this reader does not know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

#: one step of a path: ``.name``, ``[0]``, ``['name']`` or ``["name"]``
_STEP = re.compile(
    r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]"
)
_ESCAPE = re.compile(r"\\(.)")


def path_steps(path: str) -> tuple[str | int, ...]:
    """The steps of a JSON path from ``$``: names (``str``) and indexes (``int``);
    a ``ValueError`` for a path of another form."""
    if not path.startswith("$"):
        raise ValueError(f"the JSON path {path!r} does not start at $")
    steps: list[str | int] = []
    at = 1
    while at < len(path):
        m = _STEP.match(path, at)
        if m is None:
            raise ValueError(f"the JSON path {path!r} has a step relaykit cannot read")
        name, index, single, double = m.groups()
        if index is not None:
            steps.append(int(index))
        else:
            quoted = single if single is not None else double
            steps.append(name if quoted is None else _ESCAPE.sub(r"\1", quoted))
        at = m.end()
    return tuple(steps)


class ArgumentsText:
    """One call's arguments written as JSON text from its ``partialArgs``.

    :meth:`add` returns the text each piece adds; :meth:`close` the text that
    ends the object (``{}`` for a call that had no arguments).
    """

    def __init__(self) -> None:
        self._started = False
        #: the steps of the containers open below the top object
        self._open: list[str | int] = []
        #: of each open container (the top object first): "{" or "[", and how many
        #: members it has so far
        self._kinds: list[str] = ["{"]
        self._counts: list[int] = [0]
        self._string: tuple[str | int, ...] | None = None  # the path of an open string
        #: the paths of the values written and the containers closed: a piece for
        #: one of them again could only be a second member of the same name
        self._done: set[tuple[str | int, ...]] = set()

    def add(self, piece: Mapping[str, Any]) -> str:
        """The text ``piece`` (one of ``partialArgs``) adds."""
        path = str(piece.get("jsonPath") or "")
        steps = path_steps(path)
        if not steps:
            raise ValueError(f"the JSON path {path!r} names no argument")
        more = bool(piece.get("willContinue"))
        if "stringValue" in piece and self._string == steps:
            # the next piece of the string being written
            text = _escaped(str(piece["stringValue"]))
            if not more:
                self._string = None
                text += '"'
            return text
        out = [self._start()]
        if self._string is not None:
            self._string = None
            out.append('"')  # a string left open ends where the next value begins
        out.append(self._move_to(steps, path))
        if "stringValue" in piece:
            out.append('"' + _escaped(str(piece["stringValue"])))
            if more:
                self._string = steps
            else:
                out.append('"')
        elif "numberValue" in piece:
            out.append(json.dumps(piece["numberValue"]))
        elif "boolValue" in piece:
            out.append("true" if piece["boolValue"] else "false")
        elif "nullValue" in piece:
            out.append("null")
        else:
            raise ValueError(f"the argument at {path!r} came without a value")
        return "".join(out)

    def close(self) -> str:
        """The text that ends the arguments (a string left open, the containers)."""
        out = [self._start()]
        if self._string is not None:
            self._string = None
            out.append('"')
        out.extend("}" if kind == "{" else "]" for kind in reversed(self._kinds))
        self._kinds, self._counts, self._open = [], [], []
        return "".join(out)

    def _start(self) -> str:
        if self._started:
            return ""
        self._started = True
        return "{"

    def _move_to(self, steps: tuple[str | int, ...], path: str) -> str:
        """Close the containers ``steps`` leaves, open those it enters, and write the
        separator and name of its value."""
        parent = steps[:-1]
        common = 0
        while common < min(len(self._open), len(parent)) and self._open[common] == parent[common]:
            common += 1
        out = []
        while len(self._open) > common:
            self._done.add(tuple(self._open))
            self._open.pop()
            self._counts.pop()
            out.append("}" if self._kinds.pop() == "{" else "]")
        for depth in range(common, len(steps)):
            if steps[: depth + 1] in self._done:
                raise ValueError(
                    f"the argument at {path!r} came out of order (its place was written before)"
                )
            out.append(self._member(steps[depth], path))
            if depth < len(parent):  # a container to open: its kind from the step in it
                kind = "[" if isinstance(steps[depth + 1], int) else "{"
                out.append(kind)
                self._open.append(steps[depth])
                self._kinds.append(kind)
                self._counts.append(0)
        self._done.add(steps)
        return "".join(out)

    def _member(self, step: str | int, path: str) -> str:
        """The separator (and, in an object, the name) before member ``step`` of the
        innermost open container."""
        kind, count = self._kinds[-1], self._counts[-1]
        if (kind == "[") != isinstance(step, int):
            raise ValueError(f"the JSON path {path!r} mixes names and indexes at one place")
        if isinstance(step, int) and step != count:
            raise ValueError(
                f"the argument at {path!r} came out of order (element {count} was next)"
            )
        self._counts[-1] = count + 1
        comma = "," if count else ""
        return comma if isinstance(step, int) else f"{comma}{json.dumps(step)}:"


def _escaped(text: str) -> str:
    """``text`` as the inside of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]
