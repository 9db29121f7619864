"""A function's docstring read for a tool: its description and each parameter's.

Three styles are read, as the tool libraries users come from read them
(Anthropic's ``@beta_tool``, the OpenAI Agents SDK's ``@function_tool``):
reST fields (``:param city: the city``), Google sections (``Args:`` then
``city (str): the city``) and NumPy sections (``Parameters`` underlined, then
``city : str`` and the text indented below). The description is the prose
before the first field or section, its paragraphs kept apart: a second
paragraph is often the usage note a model needs ("temperatures are in
Celsius").
"""

from __future__ import annotations

import inspect
import re

import attrs

#: reST field lists: ``:param name:``, ``:param str name:``, ``:returns:``, ...
_FIELD = re.compile(r"^:(\w+)(?:\s+([^:]*?))?\s*:(.*)$")
_PARAM_FIELDS = frozenset(("param", "parameter", "arg", "argument", "key", "keyword"))
#: Google section headers (``Args:``) and NumPy ones (a title over a dashed line)
_SECTIONS = frozenset(
    (
        "args",
        "arguments",
        "parameters",
        "params",
        "keyword args",
        "keyword arguments",
        "other parameters",
        "returns",
        "return",
        "yields",
        "yield",
        "raises",
        "raise",
        "examples",
        "example",
        "notes",
        "note",
        "attributes",
        "see also",
        "warnings",
        "warning",
        "references",
        "todo",
    )
)
_PARAM_SECTIONS = frozenset(
    ("args", "arguments", "parameters", "params", "keyword args", "keyword arguments")
)
#: a Google entry, ``name (type, optional): text``, or a NumPy one, ``name : type``
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?::.*)?$")


@attrs.frozen
class Docstring:
    """What a docstring says: the description, and each parameter's by name."""

    description: str = ""
    params: dict[str, str] = attrs.field(factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """``doc`` (a function's ``__doc__``) read as reST, Google or NumPy style."""
    lines = inspect.cleandoc(doc or "").splitlines()
    params: dict[str, str] = {}
    prose: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        header = _section_at(lines, i)
        if header is not None:
            title, numpy = header
            i = _read_section(lines, i + (2 if numpy else 1), title, numpy, params)
            continue
        field = _FIELD.match(line.strip()) if not line.startswith(" ") else None
        if field is not None:
            i = _read_field(lines, i, field, params)
            continue
        if not params:  # prose after the fields is not the description
            prose.append(line)
        i += 1
    return Docstring(_paragraphs(prose), params)


def _section_at(lines: list[str], i: int) -> tuple[str, bool] | None:
    """The section starting at line ``i`` (its title, and whether it is NumPy's), if any."""
    line = lines[i]
    if line.startswith(" "):
        return None
    title = line.strip().lower()
    if title.endswith(":") and title[:-1].strip() in _SECTIONS:
        return title[:-1].strip(), False
    below = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if title in _SECTIONS and below and set(below) == {"-"}:
        return title, True
    return None


def _read_section(lines: list[str], i: int, title: str, numpy: bool, params: dict[str, str]) -> int:
    """Read a section's body from line ``i``; return the line after it."""
    entry = _NUMPY_ENTRY if numpy else _GOOGLE_ENTRY
    name: str | None = None
    base: int | None = None  # the indentation of the section's entries
    while i < len(lines):
        line = lines[i]
        if line.strip() and _section_at(lines, i) is not None:
            break
        if not numpy and line.strip() and not line.startswith(" "):
            break  # a Google section ends where the indentation does
        if line.strip():
            indent = len(line) - len(line.lstrip())
            if base is None:
                base = indent
            found = entry.match(line.strip()) if indent == base else None
            if found is not None:
                name = found.group(1)
                if title in _PARAM_SECTIONS:
                    text = found.group(2) if not numpy else ""
                    params[name] = text.strip()
            elif name is not None and title in _PARAM_SECTIONS:
                params[name] = f"{params[name]} {line.strip()}".strip()
        i += 1
    return i


def _read_field(lines: list[str], i: int, field: re.Match[str], params: dict[str, str]) -> int:
    """Read a reST field and its indented continuation lines; return the line after."""
    kind, target, text = field.group(1), field.group(2), field.group(3).strip()
    i += 1
    while i < len(lines) and lines[i].startswith(" "):
        text = f"{text} {lines[i].strip()}".strip()
        i += 1
    if kind in _PARAM_FIELDS and target:
        params[target.split()[-1].lstrip("*")] = text
    return i


def _paragraphs(lines: list[str]) -> str:
    """``lines`` as paragraphs: the lines of each joined by spaces, paragraphs by a blank line."""
    out: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(" ".join(current))
            current = []
    return "\n\n".join(out)
