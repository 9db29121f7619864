"""SQL for reading call records: the WHERE clause a :class:`~relaykit.protocols.LogQuery` means."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import MAX_PREC, Context, Decimal
from typing import Any

from relaykit.protocols import LogQuery, UsageTotal, metadata_text
from relaykit.record_rows import COLUMNS
from relaykit.response import Usage
from relaykit.storable_text import decode_json, decode_text, encode_text

SELECT_RECORDS = f"SELECT {', '.join(COLUMNS)} FROM logs"
INSERT_RECORD = (
    f"INSERT OR IGNORE INTO logs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)
# The index holds each text's search words (search_text), not the text: see there.
INDEX_NEW_ROWS = (
    "INSERT INTO logs_fts (rowid, prompt, response)"
    " SELECT rowid, search_text(prompt), search_text(response) FROM logs WHERE rowid > ?"
)
# A batch's shared messages go in first, unreferenced; once its rows are in,
# their references are counted from the rows themselves, so a row that
# INSERT OR IGNORE skipped (a record written before) counts nothing. (SQLite
# needs the WHERE in an upsert's SELECT: without one, ON CONFLICT would read
# as a join's ON.)
INSERT_SHARED = (
    "INSERT INTO shared_messages (key, body, refs) VALUES (?, ?, 0) ON CONFLICT DO NOTHING"
)
COUNT_NEW_REFERENCES = (
    "INSERT INTO shared_messages (key, body, refs)"
    " SELECT j.value, '', count(DISTINCT logs.rowid) FROM logs, json_each(logs.messages) AS j"
    " WHERE logs.rowid > ? AND j.type = 'text' GROUP BY j.value"
    " ON CONFLICT (key) DO UPDATE SET refs = refs + excluded.refs"
)
# Messages of a batch whose every row was skipped: nothing refers to them.
DROP_UNREFERENCED = "DELETE FROM shared_messages WHERE key = ? AND refs = 0"
SELECT_SHARED = (
    "SELECT key, body FROM shared_messages WHERE key IN (SELECT value FROM json_each(?))"
)


def _processed(column: str) -> str:
    """The sum of ``column`` over the calls the provider answered: a cache hit's
    record keeps its answer's usage, which the provider processed for another call."""
    return f"sum(CASE WHEN cache_hit THEN 0 ELSE {column} END)"


# The day a call started on: its start floored to the second first, as the
# other backends do (date() rounds to the millisecond, and a call started in
# the last half millisecond of a day counted on the next).
_START_SECOND = "(CAST(started_at AS INTEGER) - (started_at < CAST(started_at AS INTEGER)))"
_TOTALS = (
    f"SELECT date({_START_SECOND}, 'unixepoch') AS day, provider, model, count(*), sum(NOT ok),"
    f" {_processed('input_tokens')}, {_processed('output_tokens')},"
    f" {_processed('cached_input_tokens')}, {_processed('reasoning_tokens')},"
    f" decimal_sum(cost), {_processed('cache_write_input_tokens')},"
    f" {_processed('cache_write_1h_input_tokens')}, {_processed('web_searches')},"
    " sum(usage_estimated), decimal_sum(CASE WHEN usage_estimated THEN cost END),"
    " sum(cache_hit)"
)
SELECT_TOTALS = f"{_TOTALS} FROM logs"
# One metadata value of a call (params holds its metadata as a JSON object):
# json_each needs no JSON path, so any name is safe to look up. A value that
# is not a string is its JSON text (5, 2.5, true), null none, as
# relaykit.protocols.metadata_text has it (json_each gives true as 1). That
# is PostgreSQL's jsonb text, which SQLite's is not for a float (1.0e-07 for
# 0.0000001), an integer over 64 bits (a float to SQLite) or an object (no
# spaces, keys unsorted): those go through metadata_json.
_METADATA_VALUE = (
    "(SELECT CASE type WHEN 'text' THEN value WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
    " WHEN 'null' THEN NULL"
    " WHEN 'integer' THEN iif(typeof(value) = 'integer', CAST(value AS TEXT),"
    " metadata_json(params, key))"
    " ELSE metadata_json(params, key) END FROM json_each(params, '$.metadata') WHERE key = ?)"
)


def where(query: LogQuery) -> tuple[str, list[Any]]:
    """`` WHERE ...`` (or ``""``) and its parameters, for the filters of ``query``."""
    clauses: list[str] = []
    params: list[Any] = []
    # Stored text is storable text (relaykit.storable_text): so is what it is compared with.
    if query.provider is not None:
        clauses.append("provider = ?")
        params.append(encode_text(query.provider))
    if query.model is not None:
        wanted = encode_text(query.model)
        if "/" in query.model:
            provider, model = (encode_text(part) for part in query.model.split("/", 1))
            clauses.append("(model_requested = ? OR model = ? OR (provider = ? AND model = ?))")
            params += [wanted, wanted, provider, model]
        else:
            clauses.append("(model_requested = ? OR model = ?)")
            params += [wanted, wanted]
    if query.status is not None:
        clauses.append("ok" if query.status == "ok" else "NOT ok")
    if query.since is not None:
        clauses.append("started_at >= ?")
        params.append(query.since.timestamp())
    if query.until is not None:
        clauses.append("started_at < ?")
        params.append(query.until.timestamp())
    if query.conversation_id is not None:
        clauses.append("conversation_id = ?")
        params.append(encode_text(query.conversation_id))
    for name, value in query.metadata:
        clauses.append(f"{_METADATA_VALUE} = ?")
        params += [encode_text(name), encode_text(value)]
    words = query.words()
    if words:
        # Each word quoted as an FTS5 string: operators and punctuation in what
        # the user typed are plain text, never query syntax.
        clauses.append("rowid IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)")
        params.append(" ".join(f'"{w}"' for w in words))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def select_records(query: LogQuery) -> tuple[str, list[Any]]:
    """The SELECT for :meth:`~relaykit.protocols.Storage.query_logs`, newest first:
    the order of the index ``logs_newest`` (migration 17), so a page reads only its rows."""
    sql, params = where(query)
    position = query.position()
    if position is not None:
        # A row value compares as the ORDER BY sorts, and bounds the index scan.
        started_at, record_id = position
        sql += f"{' AND' if sql else ' WHERE'} (started_at, id) < (?, ?)"
        params += [started_at, encode_text(record_id)]
    return f"{SELECT_RECORDS}{sql} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?", [
        *params,
        query.limit,
        query.offset,
    ]


def select_totals(query: LogQuery) -> tuple[str, list[Any]]:
    """The SELECT for :meth:`~relaykit.protocols.Storage.usage_totals`."""
    sql, params = where(query)
    if query.group_by is None:
        return (
            f"{SELECT_TOTALS}{sql} GROUP BY day, provider, model ORDER BY day, provider, model",
            params,
        )
    # SQLite sorts NULL first: calls without the value come first, as the protocol says.
    return (
        f"{_TOTALS}, {_METADATA_VALUE} AS grp FROM logs{sql}"
        " GROUP BY day, provider, model, grp ORDER BY day, provider, model, grp",
        [encode_text(query.group_by), *params],
    )


def total_from_row(row: tuple[Any, ...]) -> UsageTotal:
    """One row of :func:`select_totals` as a value."""
    day, provider, model, calls, errors, inp, out, cached, reasoning, cost, written, hour = row[:12]
    searches, estimated, estimated_cost, hits = row[12:16]
    group = row[16] if len(row) > 16 else None
    return UsageTotal(
        day=date.fromisoformat(day),
        provider=decode_text(provider),
        model=decode_text(model),
        calls=calls,
        errors=errors,
        usage=Usage(inp, out, cached, reasoning, written, hour, searches),
        cost=Decimal(cost) if cost is not None else None,
        group=decode_text(str(group)) if group is not None else None,
        estimated=estimated,
        estimated_cost=Decimal(estimated_cost) if estimated_cost is not None else None,
        cache_hits=hits,
    )


#: adds decimals without rounding: the default context keeps 28 digits, and
#: PostgreSQL's numeric sum (and so the other backend's totals) keeps them all
_EXACT = Context(prec=MAX_PREC)


class DecimalSum:
    """``decimal_sum(text)``: an exact SQL sum of decimal strings (SQLite has no decimal type)."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: str | None) -> None:
        """Add one value; NULLs are skipped, as ``sum`` does."""
        if value is not None:
            self.total = _EXACT.add(Decimal(value), self.total or 0)

    def finalize(self) -> str | None:
        """The sum as text, or NULL when every value was NULL."""
        return str(self.total) if self.total is not None else None


# ASCII letters and digits lower-cased, every other ASCII byte a space, the bytes
# of other characters as they are: bytes.translate does most text's work at C speed.
_ASCII_WORDS = bytes(ord(chr(b).lower()) if chr(b).isalnum() else 32 for b in range(128)) + bytes(
    range(128, 256)
)
_ASCII = bytes(range(128))
# More distinct separators than this outside ASCII (emoji, punctuation of other
# scripts) and one pass over the text beats a str.replace per separator.
_REPLACED_SEPARATORS = 16


class _Separators(dict[int, str]):
    """A str.translate table for any character: itself if a letter or digit, else a space."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        self[code] = kept = char if char.isalnum() else " "
        return kept


_separators = _Separators()


def search_text(text: str | None) -> str | None:
    """``search_text(text)``: the search words of ``text``, spaces between: what FTS5 indexes.

    The words are :func:`~relaykit.protocols.search_words`, as the reference
    and PostgreSQL split text. FTS5's own ``unicode61`` tokenizer disagreed on
    ~1,400 letters and marks: it drops Latin accents (``cafe`` found ``café``,
    which no other backend finds), folds ``İ`` to ``i``, and keeps combining
    marks and characters newer than its Unicode tables (an emoji such as
    U+1F916) inside a word (``hi🤖robot`` was one word, so ``robot`` missed
    it). Given only letters, digits and spaces, with ``remove_diacritics 0``,
    it finds what the other backends find.
    """
    if text is None:
        return None
    # Lower-cased whole first, as search_words does (a final sigma, İ's two characters).
    lowered = text.lower().encode()
    words = lowered.translate(_ASCII_WORDS).decode()
    # The other characters, each once: most are letters (é, ü, 東), kept as they are.
    others = {c for c in lowered.translate(None, _ASCII).decode() if not c.isalnum()}
    if len(others) > _REPLACED_SEPARATORS:
        return words.translate(_separators)
    for separator in others:
        words = words.replace(separator, " ")
    return words


def metadata_json(params: str, name: str) -> str | None:
    """``metadata_json(params, name)``: a metadata value that is a number, object or
    array, as :func:`~relaykit.protocols.metadata_text` has it, storable."""
    value = decode_json(params).get("metadata", {}).get(decode_text(name))
    text = metadata_text(value)
    return None if text is None else encode_text(text)


def register_functions(conn: sqlite3.Connection) -> None:
    """Add the SQL functions the queries above and the schema's trigger use."""
    conn.create_aggregate("decimal_sum", 1, DecimalSum)  # type: ignore[arg-type]
    conn.create_function("search_text", 1, search_text, deterministic=True)
    conn.create_function("metadata_json", 2, metadata_json, deterministic=True)
