"""Prompt templates: where they live, what keys they take, and reading and writing them.

A template is a small TOML file, ``templates/NAME.toml`` in the user config dir
(:func:`relaykit.config.user_config_dir`, where ``relaykit.toml`` and
``master.key`` live), or a ``[templates.NAME]`` table in ``relaykit.toml``::

    model = "openai/gpt-4o-mini"
    system = "You summarize text in the voice of $voice."
    prompt = "Summarize this:\\n\\n$input"
    defaults = { voice = "a pirate" }
    options = { temperature = 0.2, max_tokens = 300 }

``$input`` is the text given or piped; ``$NAME`` is filled from ``-p NAME VALUE``
(else from ``defaults``); ``$$`` is a literal ``$``. When a name is in both
places, the file wins: it is what ``--save`` and ``relaykit templates edit``
write, so what a user just saved or edited is what runs, and a shared
``relaykit.toml`` (a team's, checked in) gives defaults a user can override.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigError, InvalidRequestError, did_you_mean

#: the keys a template may set, in the order ``--save`` writes them
TEMPLATE_KEYS = (
    "model",
    "system",
    "prompt",
    "defaults",
    "options",
    "schema",
    "web_search",
    "reasoning",
    "functions",
)
SUFFIX = ".toml"
#: up to 100 characters: a file name (with .toml) may have 255 bytes, and a longer
#: name raised OSError (ENAMETOOLONG)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@attrs.frozen
class PromptTemplate:
    """One template, checked: each key's value as the prompt and chat options take it.

    ``source`` says where it was read (a file's path, or ``relaykit.toml
    [templates.NAME]``); ``base`` is the folder relative ``functions`` and
    ``schema`` paths are read from (the template file's own).
    """

    name: str
    source: str
    base: Path
    model: str | None = None
    system: str | None = None
    prompt: str | None = None
    defaults: Mapping[str, str] = attrs.field(factory=dict)
    options: Mapping[str, Any] = attrs.field(factory=dict)
    schema: str | Mapping[str, Any] | None = None
    web_search: bool | Mapping[str, Any] | None = None
    reasoning: str | int | None = None
    functions: tuple[str, ...] = ()

    def variables(self) -> list[str]:
        """The ``$NAME`` placeholders of the system prompt and the prompt, in order, once each."""
        found: dict[str, None] = {}
        for field in ("system", "prompt"):
            text = getattr(self, field)
            if text:
                found.update(dict.fromkeys(_checked(text, self, field).get_identifiers()))
        return list(found)

    def fill(self, field: str, values: Mapping[str, str]) -> str | None:
        """The ``system`` or ``prompt`` with its placeholders replaced by ``values``
        (each one present); ``None`` when the template has none."""
        text: str | None = getattr(self, field)
        return None if text is None else _checked(text, self, field).substitute(values)

    def paths(self, names: tuple[str, ...]) -> list[str]:
        """``functions`` paths as the CLI reads them: relative ones from :attr:`base`."""
        return [str(self.base / name) for name in names]


def _checked(text: str, template: PromptTemplate, field: str) -> string.Template:
    parsed = string.Template(text)
    if not parsed.is_valid():
        # string.Template says only "Invalid placeholder"; find the line.
        at = next(
            m.start("invalid")
            for m in parsed.pattern.finditer(text)
            if m.group("invalid") is not None
        )
        line = text.count("\n", 0, at) + 1
        where = f" (line {line} of its {field})"
        raise ConfigError(
            f"template {template.name!r} ({template.source}) has a $ that names nothing{where}",
            hint="write $$ for a literal $, and $name or ${name} for a -p parameter",
        )
    return parsed


def templates_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder of template files: ``templates`` in the user config dir."""
    from ..config import user_config_dir

    return user_config_dir(env) / "templates"


def check_name(name: str) -> str:
    """``name`` if it can name a template file; else a typed error saying what can."""
    if not _NAME.fullmatch(name) or name.endswith(SUFFIX):
        raise InvalidRequestError(
            f"{name!r} cannot name a template",
            param="template",
            hint="use up to 100 letters, digits, '-', '_' and '.', starting with a letter"
            " or digit (no .toml: relaykit adds it)",
        )
    return name


def template_path(name: str) -> Path:
    """Where the file of template ``name`` is (or would be)."""
    return templates_dir() / f"{check_name(name)}{SUFFIX}"


def file_names() -> list[str]:
    """The names of the template files, sorted."""
    folder = templates_dir()
    if not folder.is_dir():
        return []
    # a folder named notes.toml is no template: load_template reads files only
    found = folder.glob(f"*{SUFFIX}")
    return sorted(p.stem for p in found if _NAME.fullmatch(p.stem) and p.is_file())


def write_template_file(name: str, path: Path, text: str) -> None:
    """Write template ``name``'s file, making its folder; an OS error (a folder or
    file in the way, no permission, a full disk) as :class:`InvalidRequestError`."""
    # Written whole or not at all (a temporary file beside it, renamed over it):
    # text found unwritable halfway left --force's or edit's template empty.
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: bytes of another encoding
        raise InvalidRequestError(
            f"cannot write template {name!r} ({path}): its text is not UTF-8"
            f" (character {e.start + 1})",
            param="template",
            hint="give the text in UTF-8 (iconv -f LATIN1 -t UTF-8)",
        ) from None
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise InvalidRequestError(
            f"cannot write template {name!r} ({path}): {e.strerror}",
            param="template",
            hint="move away what is in the way, or check the permissions of the templates "
            "folder (`relaykit templates path` prints it)",
        ) from None


def config_source(name: str, config_file: str | None) -> str:
    """How a ``[templates.NAME]`` table is named in messages."""
    return f"{config_file or 'the config'} [templates.{name}]"


def load_template(
    name: str, config_templates: Mapping[str, Mapping[str, Any]], config_file: str | None
) -> PromptTemplate:
    """Template ``name``: its file, else its ``[templates.NAME]`` table; a typed error
    listing the known ones (and the nearest) when there is neither."""
    path = template_path(name)
    if path.is_file():
        return read_template_file(name, path)
    if name in config_templates:
        base = Path(config_file).parent if config_file else Path.cwd()
        return parse_template(name, config_templates[name], config_source(name, config_file), base)
    known = sorted({*file_names(), *config_templates})
    listed = ", ".join(known) if known else "none yet"
    raise InvalidRequestError(
        f"there is no template {name!r} (known: {listed})",
        param="template",
        hint=did_you_mean(name, known, "save one: relaykit prompt --system '...' --save NAME"),
    )


def read_template_file(name: str, path: Path) -> PromptTemplate:
    """Read and check one template file; bad TOML names the file and line."""
    from ..config import _read_toml

    return parse_template(name, _read_toml(path, "template file"), str(path), path.parent)


def parse_template(name: str, data: Mapping[str, Any], source: str, base: Path) -> PromptTemplate:
    """Check a template's keys and their types; an error names the key and the allowed ones."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in TEMPLATE_KEYS:
            allowed = f"a template has {', '.join(TEMPLATE_KEYS)}"
            near = did_you_mean(key, TEMPLATE_KEYS)
            raise ConfigError(
                f"template {name!r} ({source}) has an unknown key {key!r}",
                hint=f"{near} ({allowed})" if near else allowed,
            )
        values[key] = _value(key, value, name, source)
    template = PromptTemplate(name=name, source=source, base=base, **values)
    template.variables()  # a bad $ fails here, where the template is named
    return template


def _value(key: str, value: Any, name: str, source: str) -> Any:
    def wrong(expected: str) -> ConfigError:
        return ConfigError(
            f"template {name!r} ({source}): {key} must be {expected}, not {type(value).__name__}",
        )

    if key in ("model", "system", "prompt"):
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if key == "defaults":
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str | int | float | bool) for v in value.values()
        ):
            raise wrong('a table of texts, e.g. defaults = { voice = "a pirate" }')
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    if key == "options":
        if not isinstance(value, Mapping):
            raise wrong("a table, e.g. options = { temperature = 0.2 }")
        return dict(value)
    if key == "schema":
        if not isinstance(value, str | Mapping):
            raise wrong("a string (as --schema takes) or a table (a JSON schema)")
        return value
    if key == "web_search":
        if not isinstance(value, bool | Mapping):
            raise wrong("true, false or a table of limits")
        return value
    if key == "reasoning":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise wrong("an effort (low, medium, high, ...) or a budget in tokens")
        return value
    # functions
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise wrong('a list of paths of Python files, e.g. functions = ["tools.py"]')
    return tuple(value)


def render_template(values: Mapping[str, Any]) -> str:
    """``values`` (template keys, in :data:`TEMPLATE_KEYS` order) as the text of a
    template file. Texts with several lines are written as multi-line strings, so
    the file reads (and edits) as the prompt does."""
    lines = []
    for key in TEMPLATE_KEYS:
        if key in values:
            lines.append(f"{key} = {_toml_value(values[key])}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        if "\n" not in value.strip("\n"):
            return '"' + _escaped(value, keep_newlines=False) + '"'
        if _literal_ok(value):  # as written: backslashes and quotes need no escapes
            return "'''\n" + value + "'''"
        return '"""\n' + _escaped(value, keep_newlines=True) + '"""'
    if value is None:
        raise ConfigError(
            "a template cannot hold null (TOML has no null)",
            hint="leave the option out instead of setting it to null",
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }" if value else "{}"
    raise ConfigError(f"a template cannot hold {type(value).__name__} values")


def _literal_ok(text: str) -> bool:
    """Whether ``text`` can be a TOML multi-line literal string ('''...''')."""
    return (
        "'''" not in text
        and not text.endswith("'")
        and all(ch in "\n\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F) for ch in text)
    )


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + _escaped(key, False) + '"'


def _escaped(text: str, keep_newlines: bool) -> str:
    out = []
    for ch in text:
        if ch == "\\" or ch == '"':
            out.append("\\" + ch)
        elif ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)
