"""The items ``relaykit embed-multi`` reads: CSV, TSV, JSON, JSON lines, or files.

As simonw/llm's ``embed-multi`` reads them: in a table (CSV and TSV with a
header row) or an object (JSON, JSON lines) the first column or key is the
id, unless a key is named ``id``, and the other values, joined with spaces,
are the text (an item whose text is blank is refused as the input is
read, naming its row, before anything is embedded). Where llm would embed
a ``metadata`` object as text, relaykit keeps it as the item's metadata.
``--files DIR GLOB`` makes an item of each file matched: its path under DIR
is the id, its UTF-8 text the text (empty files are skipped: there is
nothing to embed).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from relaykit.errors import InvalidRequestError

#: what ``--format`` takes (``nl`` is simonw/llm's name for JSON lines)
FORMATS = ("csv", "tsv", "json", "jsonl", "nl")

#: an item: id, text, metadata
Row = tuple[str, str, dict[str, Any] | None]

_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def guess_format(name: str, text: str) -> str:
    """The format of ``text`` (read from ``name``): by the file's suffix, else by its start."""
    suffix = Path(name).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    start = text.lstrip()[:1]
    if start == "[":
        return "json"
    if start == "{":
        return "jsonl"
    first_line = text.split("\n", 1)[0]
    return "tsv" if "\t" in first_line else "csv"


def parse_items(name: str, text: str, format: str | None = None) -> list[Row]:
    """The items in ``text``, read from ``name`` (a file name, or ``stdin``), in ``format``
    (guessed when ``None``)."""
    if not text.strip():
        raise InvalidRequestError(
            f"{name} is empty: it holds no items",
            param="file",
            hint="give it the items: a header row (id,text) then a row each, or JSON objects",
        )
    kind = format or guess_format(name, text)
    if kind in ("csv", "tsv"):
        return list(_table_rows(name, text, "\t" if kind == "tsv" else ","))
    if kind == "json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise _bad(name, f"is not JSON ({e})", kind) from e
        if not isinstance(data, list):
            raise _bad(name, f"holds a JSON {type(data).__name__}, not an array of objects", kind)
        return [_object_row(name, f"item {i}", value) for i, value in enumerate(data, 1)]
    if kind in ("jsonl", "nl"):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as e:
                raise _bad(name, f"line {number} is not JSON ({e})", "jsonl") from e
            rows.append(_object_row(name, f"line {number}", value))
        return rows
    raise InvalidRequestError(
        f"unknown input format {kind!r}",
        param="format",
        hint=f"use one of: {', '.join(FORMATS)}",
    )


def _bad(name: str, what: str, kind: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{name} {what}",
        param="format",
        hint=f"fix the {kind} or name its format with --format ({', '.join(FORMATS)})",
    )


def _table_rows(name: str, text: str, delimiter: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header or len(header) < 2:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise _bad(
            name,
            f"needs a header row of two columns or more (id, then text), not {header!r}",
            kind.lower(),
        )
    for number, cells in enumerate(reader, 2):
        if not any(cells):
            continue
        item_id = cells[0].strip()
        if not item_id:
            raise _bad(name, f"row {number} has no id in its first column", "table")
        text = " ".join(cell for cell in cells[1:] if cell)
        _check_text(name, f"row {number}", item_id, text)
        yield item_id, text, None


def _object_row(name: str, where: str, value: Any) -> Row:
    if not isinstance(value, dict) or not value:
        raise _bad(name, f"{where} is not a JSON object with an id and a text", "json")
    fields = dict(value)
    metadata = fields.pop("metadata", None) if isinstance(fields.get("metadata"), dict) else None
    key = "id" if "id" in fields else next(iter(fields))
    item_id = fields.pop(key)
    if item_id is None or item_id == "" or isinstance(item_id, dict | list):
        raise _bad(name, f"{where} has no usable id in its {key!r} key", "json")
    text = " ".join(
        value if isinstance(value, str) else json.dumps(value)
        for value in fields.values()
        if value is not None and value != ""
    )
    _check_text(name, where, str(item_id), text)
    return str(item_id), text, metadata


def _check_text(name: str, where: str, item_id: str, text: str) -> None:
    """Refuse an item with nothing to embed, naming its place in the input.

    Checked as the input is read, so that a bad row far into a big file stops
    the run before its first request, not after the batches before it were
    embedded (and billed); the providers refuse blank texts anyway.
    """
    if not text.strip():
        raise InvalidRequestError(
            f"{name} {where} (id {item_id!r}) has no text to embed",
            param="text",
            hint="leave the item out, or give it a text",
        )


def file_items(directory: str, pattern: str) -> tuple[list[Row], int]:
    """An item for each non-empty file under ``directory`` matching ``pattern``
    (``**/*.md``), by path, and the number of empty files skipped."""
    # blank, each would be taken for the current directory or fail inside pathlib
    for what, value in (("DIR", directory), ("GLOB", pattern)):
        if not value.strip():
            raise InvalidRequestError(
                f"--files: the {what} is blank",
                hint="pass --files DIR GLOB, e.g. --files . '**/*.md'",
            )
    if Path(pattern).is_absolute():  # pathlib raises NotImplementedError for one
        raise InvalidRequestError(
            f"--files: GLOB {pattern!r} is an absolute path",
            hint="put the folder in DIR and the pattern under it in GLOB: --files /etc '*.conf'",
        )
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise InvalidRequestError(
            f"--files: {directory} is not a directory", hint="pass --files DIR GLOB"
        )
    rows: list[Row] = []
    empty = 0
    try:
        matches = sorted(p for p in root.glob(pattern) if p.is_file())
    except ValueError as e:  # "Invalid pattern: '**' can only be an entire path component"
        raise InvalidRequestError(
            f"--files: GLOB {pattern!r} is not a pattern pathlib takes ({e})",
            hint="use * within a name and ** alone between slashes: '**/*.md'",
        ) from None
    for path in matches:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InvalidRequestError(
                f"--files: {path} is not UTF-8 text ({e.reason} at byte {e.start})",
                hint="convert it to UTF-8, or narrow GLOB to leave it out",
            ) from e
        if not text.strip():
            empty += 1
            continue
        rows.append((path.relative_to(root).as_posix(), text, None))
    return rows, empty


def with_metadata(rows: list[Row], prefix: str, metadata: Mapping[str, Any] | None) -> list[Row]:
    """``rows`` with ``prefix`` before each id and ``metadata`` under each item's own."""
    if not prefix and not metadata:
        return rows
    return [
        (prefix + item_id, text, {**metadata, **(own or {})} if metadata else own)
        for item_id, text, own in rows
    ]
