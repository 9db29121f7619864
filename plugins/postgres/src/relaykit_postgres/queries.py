"""SQL for call records: what a :class:`~relaykit.protocols.LogQuery` means, rows in and out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from relaykit.protocols import CallRecord, LogQuery, UsageTotal
from relaykit.record_rows import COLUMNS, JSON_COLUMNS, record_to_row
from relaykit.response import Usage

from .drivers import Copy

SELECT_RECORDS = f"SELECT {', '.join(COLUMNS)} FROM logs"
# Batches arrive by COPY, several times faster than INSERTs. COPY cannot skip
# rows that exist already, so a batch with a stored id (a retry) is copied
# again into a per-session staging table and moved over with ON CONFLICT
# (ON COMMIT DELETE ROWS empties the staging table with every transaction).
COPY_NEW_RECORDS = Copy(sql=f"COPY logs ({', '.join(COLUMNS)}) FROM STDIN")
COPY_RECORDS_SKIPPING_DUPLICATES = Copy(
    sql=f"COPY relaykit_staging ({', '.join(COLUMNS)}) FROM STDIN",
    before=("CREATE TEMP TABLE IF NOT EXISTS relaykit_staging (LIKE logs) ON COMMIT DELETE ROWS",),
    after=(
        f"INSERT INTO logs ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)}"
        " FROM relaykit_staging ON CONFLICT (id) DO NOTHING",
    ),
)
SELECT_TOTALS = (
    "SELECT (to_timestamp(started_at) AT TIME ZONE 'UTC')::date AS day, provider, model,"
    " count(*), count(*) FILTER (WHERE NOT ok), sum(input_tokens)::bigint,"
    " sum(output_tokens)::bigint, sum(cached_input_tokens)::bigint,"
    " sum(reasoning_tokens)::bigint, sum(cost), sum(cache_write_input_tokens)::bigint,"
    " sum(cache_write_1h_input_tokens)::bigint FROM logs"
)
_JSON_INDEXES = frozenset(i for i, name in enumerate(COLUMNS) if name in JSON_COLUMNS)


def where(query: LogQuery) -> tuple[str, list[Any]]:
    """`` WHERE ...`` (or ``""``) and its parameters, for the filters of ``query``."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.provider is not None:
        clauses.append("provider = %s")
        params.append(query.provider)
    if query.model is not None:
        if "/" in query.model:
            provider, model = query.model.split("/", 1)
            clauses.append("(model_requested = %s OR model = %s OR (provider = %s AND model = %s))")
            params += [query.model, query.model, provider, model]
        else:
            clauses.append("(model_requested = %s OR model = %s)")
            params += [query.model, query.model]
    if query.status is not None:
        clauses.append("ok" if query.status == "ok" else "NOT ok")
    if query.since is not None:
        clauses.append("started_at >= %s")
        params.append(query.since.timestamp())
    if query.until is not None:
        clauses.append("started_at < %s")
        params.append(query.until.timestamp())
    if query.words():
        # plainto_tsquery parses the text as the column was parsed (and treats
        # any operator characters in it as plain text).
        clauses.append("search @@ plainto_tsquery('simple', %s)")
        params.append(query.text)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def select_records(query: LogQuery) -> tuple[str, list[Any]]:
    """The SELECT for :meth:`~relaykit.protocols.Storage.query_logs`, newest first."""
    sql, params = where(query)
    return f"{SELECT_RECORDS}{sql} ORDER BY started_at DESC, id DESC LIMIT %s OFFSET %s", [
        *params,
        query.limit,
        query.offset,
    ]


def select_totals(query: LogQuery) -> tuple[str, list[Any]]:
    """The SELECT for :meth:`~relaykit.protocols.Storage.usage_totals`."""
    sql, params = where(query)
    return f"{SELECT_TOTALS}{sql} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", params


def total_from_row(row: Sequence[Any]) -> UsageTotal:
    """One row of :func:`select_totals` as a value."""
    day, provider, model, calls, errors, inp, out, cached, reasoning, cost, written, hour = row
    return UsageTotal(
        day=day,
        provider=provider,
        model=model,
        calls=calls,
        errors=errors,
        usage=Usage(inp, out, cached, reasoning, written, hour),
        cost=cost,
    )


def _clean(value: Any, json: bool) -> Any:
    # PostgreSQL text cannot hold NUL, and jsonb refuses its \u0000 escape; one
    # NUL in a model's output must not fail a whole batch, so it becomes U+FFFD.
    if json:
        return value.replace("\\u0000", "\\ufffd") if "\\u0000" in value else value
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def rows_for(records: Sequence[CallRecord]) -> list[tuple[Any, ...]]:
    """``records`` as INSERT parameters."""
    out = []
    for record in records:
        row = record_to_row(record)
        text = "".join([v for v in row if type(v) is str])  # one scan instead of 32
        if "\x00" in text or "\\u0000" in text:
            row = tuple(
                _clean(v, i in _JSON_INDEXES) if isinstance(v, str) else v
                for i, v in enumerate(row)
            )
        out.append(row)
    return out
