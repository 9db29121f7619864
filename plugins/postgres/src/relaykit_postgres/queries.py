"""SQL for call records: what a :class:`~relaykit.protocols.LogQuery` means, rows in and out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Sequence
from typing import Any

import attrs

from relaykit.protocols import CallRecord, LogQuery, UsageTotal, search_words
from relaykit.record_rows import COLUMNS, JSON_COLUMNS, MESSAGES, RowEncoder, message_keys
from relaykit.response import Usage
from relaykit.storable_text import decode_text, encode_text

_COLUMNS = ", ".join(COLUMNS)
# jsonb columns come back as their text: row_to_record parses it and turns the
# escapes of relaykit.storable_text back only when the text holds one (parsed
# by psycopg, every string would have to be looked at).
SELECT_RECORDS = "SELECT {} FROM logs".format(
    ", ".join(f"{name}::text" if name in JSON_COLUMNS else name for name in COLUMNS)
)
# Batches arrive by COPY, several times faster than INSERTs. COPY cannot skip
# rows that exist already, so a batch with a stored id (a retry) is copied
# again into a per-session staging table and moved over with ON CONFLICT
# (ON COMMIT DELETE ROWS empties the staging table with every transaction);
# RETURNING names the rows that went in, whose references count.
# Each row goes in with its search words (search_vector), after COLUMNS.
_COPIED = f"{_COLUMNS}, search"
COPY_NEW_RECORDS = f"COPY logs ({_COPIED}) FROM STDIN"
CREATE_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS relaykit_staging (LIKE logs) ON COMMIT DELETE ROWS"
)
COPY_STAGED_RECORDS = f"COPY relaykit_staging ({_COPIED}) FROM STDIN"
INSERT_STAGED_RECORDS = (
    f"INSERT INTO logs ({_COPIED}) SELECT {_COPIED} FROM relaykit_staging"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)
# A big prune goes in chunks, each its own transaction, so writers queue
# behind one chunk's locks and not behind the whole prune.
PRUNE_CHUNK = 5000
# The strings in a messages array are keys (record_rows.message_keys): the
# server picks them out, so old rows' inline messages never travel.
DELETE_OLD_RECORDS = (
    "DELETE FROM logs WHERE id IN"
    " (SELECT id FROM logs WHERE started_at < %s LIMIT %s)"
    " RETURNING ARRAY(SELECT m #>> '{}' FROM jsonb_array_elements(messages) AS m"
    " WHERE jsonb_typeof(m) = 'string')"
)


def _processed(column: str) -> str:
    """The sum of ``column`` over the calls the provider answered: a cache hit's
    record keeps its answer's usage, which the provider processed for another call."""
    return f"sum(CASE WHEN cache_hit THEN 0 ELSE {column} END)::bigint"


_TOTALS = (
    # floor(): to_timestamp rounds to the microsecond, and a call started in the
    # last half of a day's last one counted on the next day
    "SELECT (to_timestamp(floor(started_at)) AT TIME ZONE 'UTC')::date AS day, provider, model,"
    f" count(*), count(*) FILTER (WHERE NOT ok), {_processed('input_tokens')},"
    f" {_processed('output_tokens')}, {_processed('cached_input_tokens')},"
    f" {_processed('reasoning_tokens')}, sum(cost), {_processed('cache_write_input_tokens')},"
    f" {_processed('cache_write_1h_input_tokens')}, {_processed('web_searches')},"
    " count(*) FILTER (WHERE usage_estimated), sum(cost) FILTER (WHERE usage_estimated),"
    " count(*) FILTER (WHERE cache_hit)"
)
SELECT_TOTALS = f"{_TOTALS} FROM logs"


def where(query: LogQuery) -> tuple[str, list[Any]]:
    """`` WHERE ...`` (or ``""``) and its parameters, for the filters of ``query``."""
    clauses: list[str] = []
    params: list[Any] = []
    # Stored text is storable text (relaykit.storable_text): so is what it is compared with.
    if query.provider is not None:
        clauses.append("provider = %s")
        params.append(encode_text(query.provider))
    if query.model is not None:
        wanted = encode_text(query.model)
        if "/" in query.model:
            provider, model = (encode_text(part) for part in query.model.split("/", 1))
            clauses.append("(model_requested = %s OR model = %s OR (provider = %s AND model = %s))")
            params += [wanted, wanted, provider, model]
        else:
            clauses.append("(model_requested = %s OR model = %s)")
            params += [wanted, wanted]
    if query.status is not None:
        clauses.append("ok" if query.status == "ok" else "NOT ok")
    if query.since is not None:
        clauses.append("started_at >= %s")
        params.append(query.since.timestamp())
    if query.until is not None:
        clauses.append("started_at < %s")
        params.append(query.until.timestamp())
    if query.conversation_id is not None:
        clauses.append("conversation_id = %s")
        params.append(encode_text(query.conversation_id))
    for name, value in query.metadata:
        clauses.append("params -> 'metadata' ->> %s = %s")
        params += [encode_text(name), encode_text(value)]
    words = query.words()
    if words:
        # The words as search_vector indexed them (every word a quoted lexeme:
        # nothing the user typed is tsquery syntax), or, for rows stored before
        # migration 16, the text as PostgreSQL's parser indexed those.
        old_rows = "search @@ plainto_tsquery('simple', %s)"
        if any(len(w.encode()) > _LEXEME_BYTES for w in words):
            # In no row's words (search_vector leaves it out, to_tsvector did too):
            # no row is found by it. (plainto_tsquery drops it, and matched rows
            # by the other words alone, without it.)
            clauses.append("FALSE")
        else:
            clauses.append(f"(search @@ %s::tsquery OR {old_rows})")
            params.append(" & ".join([f"'{w}'" for w in words]))
            params.append(encode_text(query.text or ""))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


# tsvector's limits: a lexeme's bytes, and all its lexemes' bytes together.
_LEXEME_BYTES = 2047
_VECTOR_BYTES = (1 << 20) - 1


def search_vector(*texts: str) -> str:
    """The distinct search words of ``texts`` as a tsvector literal: what a row is found by.

    The words are :func:`~relaykit.protocols.search_words`, as SQLite's FTS5
    and the reference backend split text, so every backend finds a row by the
    same words: a word inside ``3.14``, ``foo/bar``, ``os.path.join`` or
    ``bob@example.com`` too, which PostgreSQL's parser (``to_tsvector``)
    keeps whole. A tsvector holds 1 MB of words: a text with more distinct
    words is found by its first ones (a word over 2,047 bytes never is), and
    stored whole, where ``to_tsvector`` made the whole batch fail.
    """
    text = " ".join(texts)
    words = dict.fromkeys(_words(text))  # distinct, first seen first
    # Counted in characters, 4 bytes each at most: most texts are well within.
    if len(text) * 4 > _LEXEME_BYTES and (
        len(text) * 4 > _VECTOR_BYTES or max(map(len, words), default=0) * 4 > _LEXEME_BYTES
    ):
        kept, size = [], 0
        for word in words:
            length = len(word.encode())
            if length > _LEXEME_BYTES:
                continue
            if size + length > _VECTOR_BYTES:
                break
            kept.append(word)
            size += length
        words = dict.fromkeys(kept)
    # A word is letters and digits: nothing in it needs escaping inside quotes.
    return "'" + "' '".join(words) + "'" if words else ""


# ASCII letters and digits lower-cased, every other byte a space: most text is
# ASCII, and bytes.translate splits it into words 4-5 times faster than a regex.
_ASCII_WORDS = bytes(ord(chr(b).lower()) if chr(b).isalnum() else 32 for b in range(256))


def _words(text: str) -> list[str]:
    """:func:`~relaykit.protocols.search_words` of ``text``, the same words, faster."""
    if text.isascii():
        return text.encode().translate(_ASCII_WORDS).decode().split()
    return search_words(text)


def select_records(query: LogQuery) -> tuple[str, list[Any]]:
    """The SELECT for :meth:`~relaykit.protocols.Storage.query_logs`, newest first:
    the order of the index ``logs_newest`` (migration 17), so a page reads only its rows."""
    sql, params = where(query)
    position = query.position()
    if position is not None:
        # A row comparison sorts as the ORDER BY does, and bounds the index scan
        # of logs_newest (migration 17), whose id is in "C" order too.
        started_at, record_id = position
        sql += f'{" AND" if sql else " WHERE"} (started_at, id COLLATE "C") < (%s, %s)'
        params += [started_at, encode_text(record_id)]
    # Ids in code point order (COLLATE "C"), as SQLite sorts them: a database's
    # own collation (en_US.UTF-8, most often) would put call-B after call-a.
    order = 'ORDER BY started_at DESC, id COLLATE "C" DESC'
    return f"{SELECT_RECORDS}{sql} {order} LIMIT %s OFFSET %s", [
        *params,
        query.limit,
        query.offset,
    ]


def select_totals(query: LogQuery) -> tuple[str, list[Any]]:
    """The SELECT for :meth:`~relaykit.protocols.Storage.usage_totals`."""
    sql, params = where(query)
    # Code point order (COLLATE "C"), as SQLite sorts: not the database's collation.
    order = 'ORDER BY 1, provider COLLATE "C", model COLLATE "C"'
    if query.group_by is None:
        return f"{SELECT_TOTALS}{sql} GROUP BY 1, 2, 3 {order}", params
    # Groups in byte order too, and NULLs first: as the other backends sort them.
    return (
        f"{_TOTALS}, (params -> 'metadata' ->> %s) COLLATE \"C\" FROM logs{sql}"
        f" GROUP BY 1, 2, 3, 17 {order}, 17 NULLS FIRST",
        [encode_text(query.group_by), *params],
    )


def total_from_row(row: Sequence[Any]) -> UsageTotal:
    """One row of :func:`select_totals` as a value."""
    day, provider, model, calls, errors, inp, out, cached, reasoning, cost, written, hour = row[:12]
    searches, estimated, estimated_cost, hits = row[12:16]
    return UsageTotal(
        day=day,
        provider=decode_text(provider),
        model=decode_text(model),
        calls=calls,
        errors=errors,
        usage=Usage(inp, out, cached, reasoning, written, hour, searches),
        cost=cost,
        group=decode_text(row[16]) if len(row) > 16 and row[16] is not None else None,
        estimated=estimated,
        estimated_cost=estimated_cost,
        cache_hits=hits,
    )


_PROMPT, _RESPONSE = COLUMNS.index("prompt"), COLUMNS.index("response")

#: encodes every batch of the process: its cache holds the messages a chat resends
_encode = RowEncoder()


@attrs.frozen
class Batch:
    """Records as COPY rows, and the long messages those rows refer to by key."""

    #: one row per record: :data:`~relaykit.record_rows.COLUMNS`, then its search words
    rows: list[tuple[Any, ...]]
    #: each referred-to message's JSON text, by key
    bodies: dict[str, str]
    #: per row, the keys it refers to, once per occurrence
    keys: list[list[str]]

    def references(self, inserted: Container[str] | None = None) -> list[list[Any]]:
        """Keys, bodies and reference counts, for :func:`~.shared_messages.add_references`.

        :param inserted: the ids of the rows that went in; ``None`` for all.
        """
        counts: Counter[str] = Counter()
        for row, keys in zip(self.rows, self.keys, strict=True):
            if keys and (inserted is None or row[0] in inserted):
                counts.update(keys)
        return [list(counts), [self.bodies[key] for key in counts], list(counts.values())]


def batch_for(records: Sequence[CallRecord]) -> Batch:
    """``records`` as rows and shared messages, every text storable
    (:mod:`relaykit.storable_text`: no NUL, no lone surrogate, in text or jsonb)."""
    rows, bodies, keys = [], {}, []
    for record in records:
        row, shared = _encode.shared(record)
        rows.append((*row, search_vector(row[_PROMPT], row[_RESPONSE])))
        bodies.update(shared)
        # Only a row with shared messages refers to any: most rows skip the parse.
        keys.append(message_keys(row[MESSAGES]) if shared else [])
    return Batch(rows, bodies, keys)
