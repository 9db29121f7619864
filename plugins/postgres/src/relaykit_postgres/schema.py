"""The PostgreSQL schema, as numbered migrations recorded in ``relaykit_migrations``.

Migrations run in one transaction under an advisory lock (per schema), so
processes starting together take turns and none sees a half-built schema;
PostgreSQL's DDL is transactional, so a failure leaves nothing behind.
Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

from typing import Any

# Full-text search: a generated tsvector over prompt and response with the
# 'simple' configuration (no stemming, no stop words). Migration 16 turned it
# into a plain column the writer fills with the words as SQLite splits them.
_V1 = """
CREATE TABLE logs (
    id text PRIMARY KEY,
    started_at double precision NOT NULL,
    finished_at double precision,
    operation text NOT NULL,
    provider text NOT NULL,
    model_requested text NOT NULL,
    model text NOT NULL,
    model_served text,
    route jsonb NOT NULL,
    streamed boolean NOT NULL,
    ok boolean NOT NULL,
    prompt text NOT NULL,
    messages jsonb NOT NULL,
    params jsonb NOT NULL,
    response text NOT NULL,
    tool_calls jsonb NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cached_input_tokens bigint NOT NULL,
    reasoning_tokens bigint NOT NULL,
    cost numeric,
    latency double precision,
    time_to_first_token double precision,
    finish_reason text,
    attempts integer NOT NULL,
    error_type text,
    error_message text,
    http_status integer,
    cache_hit boolean NOT NULL,
    correlation_id text,
    conversation_id text,
    response_id text,
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, prompt || ' ' || response)
    ) STORED
);
CREATE INDEX logs_started_at ON logs (started_at);
CREATE INDEX logs_deployment ON logs (provider, model, started_at);
CREATE INDEX logs_model_requested ON logs (model_requested, started_at);
CREATE INDEX logs_errors ON logs (started_at) WHERE NOT ok;
CREATE INDEX logs_search ON logs USING gin (search);
CREATE TABLE vault (
    name text PRIMARY KEY,
    blob bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE model_cache (
    provider text PRIMARY KEY,
    fetched_at double precision NOT NULL,
    models jsonb NOT NULL
);
"""

_V2 = """
CREATE TABLE response_cache (
    key text PRIMARY KEY,
    expires_at double precision NOT NULL,
    response text NOT NULL
);
CREATE INDEX response_cache_expiry ON response_cache (expires_at);
"""

# The --model filter ORs model_requested with model, which no index leads
# with, so the planner walks logs_started_at instead (checked with EXPLAIN on
# 20,000 analysed rows): this index cost every insert and served no query.
_V3 = "DROP INDEX IF EXISTS logs_model_requested;"

# A constant default: PostgreSQL 11+ adds the column without rewriting the table.
_V4 = "ALTER TABLE logs ADD COLUMN reasoning text NOT NULL DEFAULT '';"

# The response's reasoning blocks, signatures and redacted data with them.
_V5 = "ALTER TABLE logs ADD COLUMN reasoning_parts jsonb NOT NULL DEFAULT '[]'::jsonb;"

# Prompt tokens written to the provider's cache; 0 for rows logged before.
_V6 = "ALTER TABLE logs ADD COLUMN cache_write_input_tokens bigint NOT NULL DEFAULT 0;"

# Of those writes, the ones to a one-hour cache (priced apart); 0 for rows logged before.
_V7 = "ALTER TABLE logs ADD COLUMN cache_write_1h_input_tokens bigint NOT NULL DEFAULT 0;"

# A chat resends its whole history every call, and each row stored every
# message whole: a chat of n turns stored (and indexed) ~n²/2 messages (ten
# 60-turn chats of ~1 MB of text made 75 MB in SQLite). Now each long message
# is stored once, here, and rows name it by key (relaykit.record_rows.
# RowEncoder.shared). `refs` counts the references from logs rows, each
# occurrence once: writers add a batch's inserted rows', prune takes the
# deleted rows' away and drops the messages nothing refers to any more.
# Every batch rewrites the rows of the messages it refers to (a new refs is a
# new row version, body and all): at fillfactor 50 the new versions fit in
# their page (HOT updates, pruned without VACUUM). At 100, ten 60-turn chats
# left 6 dead versions for each live one, 8.9 MB for 1.6 MB of text; at 50,
# none, 3.3 MB.
_V8 = """
CREATE TABLE shared_messages (
    key text PRIMARY KEY,
    body text NOT NULL,
    refs bigint NOT NULL
) WITH (fillfactor = 50);
"""

# `relaykit logs --conversation` and `relaykit chat --continue` read one
# conversation's calls, newest first. Partial: most calls have no
# conversation id, and those cost no index entry.
_V9 = """
CREATE INDEX logs_conversation ON logs (conversation_id, started_at)
    WHERE conversation_id IS NOT NULL;
"""

# The searches a web-searching answer was billed (0 for rows logged before)
# and the pages it cited. The citations' titles and URLs are searched through
# the prompt column (relaykit.record_rows), so the generated tsvector stays.
_V10 = """
ALTER TABLE logs ADD COLUMN web_searches bigint NOT NULL DEFAULT 0;
ALTER TABLE logs ADD COLUMN citations jsonb NOT NULL DEFAULT '[]'::jsonb;
"""

# What the model searched the web for ('[]' for rows logged before), searched
# through the prompt column as the citations are: the tsvector stays.
_V11 = """
ALTER TABLE logs ADD COLUMN search_queries jsonb NOT NULL DEFAULT '[]'::jsonb;
"""

# The targets given up on before the one that answered (0 for rows logged before).
_V12 = """
ALTER TABLE logs ADD COLUMN fallbacks integer NOT NULL DEFAULT 0;
"""

# Whether the usage and cost are relaykit's estimate of what the vendor billed (a
# call cut off mid-call, a stream ended before the vendor's usage came); false
# for rows logged before, which were not marked.
_V13 = """
ALTER TABLE logs ADD COLUMN usage_estimated boolean NOT NULL DEFAULT false;
"""

# The stop sequence the answer stopped on, redacted (where the vendor names it);
# NULL for rows logged before, which did not keep it. Not searched.
_V14 = """
ALTER TABLE logs ADD COLUMN stop_sequence text;
"""

# Text is stored by relaykit.storable_text's rule now, where U+FFFF only ever
# opens or closes an escape. A name stored before with a U+FFFF in it would read
# back the same, but writing that name again would make a second row (the name
# now escaped) beside it: so the keyed tables' U+FFFF are escaped here (they are
# small). Call records are read as they were written and never rewritten: a
# scan of every row is not worth it for a noncharacter, which reads back wrong
# only in an escape's exact shape.
_V15 = """
UPDATE vault SET name = replace(name, chr(65535), chr(65535) || 'ffff' || chr(65535))
 WHERE strpos(name, chr(65535)) > 0;
UPDATE model_cache SET
 provider = replace(provider, chr(65535), chr(65535) || 'ffff' || chr(65535)),
 models = replace(models::text, chr(65535), chr(65535) || 'ffff' || chr(65535))::jsonb
 WHERE strpos(provider, chr(65535)) > 0 OR strpos(models::text, chr(65535)) > 0;
UPDATE response_cache SET
 key = replace(key, chr(65535), chr(65535) || 'ffff' || chr(65535)),
 response = replace(response, chr(65535), chr(65535) || 'ffff' || chr(65535))
 WHERE strpos(key, chr(65535)) > 0 OR strpos(response, chr(65535)) > 0;
"""

# The search words are the backend's own from now on (queries.search_vector):
# PostgreSQL's parser kept 3.14, foo/bar, os.path.join and e-mail addresses
# whole, so a word of theirs was found in SQLite and not here, and a text of
# more than 1 MB of distinct words made the whole batch fail. DROP EXPRESSION
# (PostgreSQL 13+) keeps the column, its values and its index: rows stored
# before are found as they were indexed (queries.where looks for both). A
# process not yet upgraded (a rolling deploy) copies rows without the column:
# the trigger indexes those as the generated column did, and costs this
# backend's rows only the WHEN test, evaluated without calling the function.
_V16 = """
ALTER TABLE logs ALTER COLUMN search DROP EXPRESSION;
CREATE FUNCTION relaykit_search_as_generated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple'::regconfig, NEW.prompt || ' ' || NEW.response);
    RETURN NEW;
END $$;
CREATE TRIGGER logs_search_of_older_writers BEFORE INSERT ON logs
    FOR EACH ROW WHEN (NEW.search IS NULL) EXECUTE FUNCTION relaykit_search_as_generated();
"""

# query_logs lists started_at DESC, id COLLATE "C" DESC and a page cursor
# continues at (started_at, id COLLATE "C") < (...): an index in that order
# (and collation: the database's own would not serve it) reads a page's rows
# and no more. It serves every started_at range too (prune, since/until), so
# the old index goes: one index to write per row, not two.
_V17 = """
CREATE INDEX logs_newest ON logs (started_at, id COLLATE "C");
DROP INDEX logs_started_at;
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "logs with full-text search, vault, model cache", _V1),
    (2, "response cache", _V2),
    (3, "drop the unused index logs_model_requested", _V3),
    (4, "the model's reasoning text", _V4),
    (5, "the model's reasoning blocks", _V5),
    (6, "prompt-cache write tokens", _V6),
    (7, "one-hour prompt-cache write tokens", _V7),
    (8, "long messages stored once", _V8),
    (9, "an index of conversations", _V9),
    (10, "web searches and citations", _V10),
    (11, "web search queries", _V11),
    (12, "fallbacks", _V12),
    (13, "estimated usage", _V13),
    (14, "the stop sequence met", _V14),
    (15, "U+FFFF escaped in vault, model and response cache keys", _V15),
    (16, "search words split as every backend splits them", _V16),
    (17, "an index in the order records are listed", _V17),
]


def migrate(conn: Any, schema: str | None) -> list[int]:
    """Bring the schema up to date on a psycopg (sync) connection; return the versions applied."""
    with conn.transaction():
        # First, before even CREATE SCHEMA, which races with itself across sessions.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('relaykit_migrations'))")
        if schema is not None:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(
            "CREATE TABLE IF NOT EXISTS relaykit_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM relaykit_migrations")}
        applied = []
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute(sql)
            conn.execute(
                "INSERT INTO relaykit_migrations (version, name) VALUES (%s, %s)", (version, name)
            )
            applied.append(version)
    return applied
