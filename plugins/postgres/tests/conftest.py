"""The real PostgreSQL service: one schema per test run, dropped afterwards.

Tests that need it skip with the reason when the server is unreachable,
except in CI (``CI=true``), where an unreachable server is a failure: a
green CI run must mean the PostgreSQL backend was tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """A DSN that reaches the server (``$RELAYKIT_TEST_POSTGRES_DSN`` or the local default)."""
    dsn = os.environ.get("RELAYKIT_TEST_POSTGRES_DSN") or DEFAULT_DSN
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        where = DEFAULT_DSN if dsn == DEFAULT_DSN else "$RELAYKIT_TEST_POSTGRES_DSN"
        reason = f"PostgreSQL is unreachable at {where}: {' '.join(str(e).split())}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(reason)
    return dsn


def _schema_dropped_after(dsn: str) -> Iterator[str]:
    schema = f"relaykit_test_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema for this test run, dropped with everything in it at the end."""
    yield from _schema_dropped_after(postgres_dsn)


@pytest.fixture
def fresh_schema(postgres_dsn: str) -> Iterator[str]:
    """A schema of its own for one test (created by the storage), dropped afterwards."""
    yield from _schema_dropped_after(postgres_dsn)


@pytest.fixture
def empty_tables(postgres_dsn: str, postgres_schema: str) -> Callable[[], None]:
    """A function deleting every row a test wrote (the schema and its migrations stay)."""
    return lambda: _empty(postgres_dsn, postgres_schema)


def _empty(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = %s AND table_name = 'logs'",
            (schema,),
        ).fetchone()
        if exists:
            tables = ("logs", "shared_messages", "vault", "model_cache")
            conn.execute("TRUNCATE " + ", ".join(f'"{schema}".{table}' for table in tables))
