"""``relaykit prompt --schema``: a JSON schema from a file, JSON text, or a list of fields.

The short form is for the command line: ``--schema 'name, age int, bio: one
sentence about them'`` is an object with a string ``name``, an integer ``age``
and a string ``bio`` described as "one sentence about them". Types are ``str``
(the default), ``int``, ``float`` and ``bool``; fields are separated by commas
or new lines. The schema is strict: every field required, no others.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from .named_files import MAX_SCHEMA_BYTES, read_named_file

_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def schema_from_option(text: str) -> dict[str, Any]:
    """The JSON schema ``--schema TEXT`` stands for (see the module docstring)."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):  # '[]' is JSON too, not a field named "[]"
        return _json_schema(stripped, "--schema")
    path = Path(stripped)
    # A directory is a path too: a wrong one, not a field list naming one field.
    if path.suffix == ".json" or path.is_file() or path.is_dir():
        data = read_named_file(
            stripped,
            limit=MAX_SCHEMA_BYTES,
            what="--schema",
            param="--schema",
            hint="give a JSON schema file, JSON text, or fields: 'name, age int'",
        )
        try:
            return _json_schema(data.decode("utf-8"), str(path))
        except UnicodeDecodeError:
            raise InvalidRequestError(
                f"--schema {stripped!r} is not UTF-8 text",
                param="--schema",
                hint="save it as UTF-8 (iconv -f LATIN1 -t UTF-8), as JSON is",
            ) from None
    return _fields_schema(stripped)


def _json_schema(text: str, where: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
    except ValueError as e:
        # ``where`` is a file's name or the text typed; only a file can be checked
        fix = (
            f"python -m json.tool {shlex.quote(where)} shows where"
            if os.path.isfile(where)
            else "write JSON, or fields such as 'name, age int'"
        )
        raise InvalidRequestError(
            f"{where} is not valid JSON: {e}", param="--schema", hint=fix
        ) from None
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"{where} must be a JSON object", param="--schema")
    return schema


def _fields_schema(text: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for raw in text.replace("\n", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        head, _, description = entry.partition(":")
        words = head.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in _TYPES):
            raise InvalidRequestError(
                f"--schema field {entry!r} is not 'name', 'name TYPE' or 'name TYPE: description'",
                param="--schema",
                hint=f"TYPE is one of {', '.join(_TYPES)}",
            )
        name = words[0]
        field: dict[str, Any] = {"type": _TYPES[words[1] if len(words) == 2 else "str"]}
        if description.strip():
            field["description"] = description.strip()
        properties[name] = field
    if not properties:
        raise InvalidRequestError("--schema names no fields", param="--schema")
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
