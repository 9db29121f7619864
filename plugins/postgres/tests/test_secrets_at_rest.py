"""What a caller names a call by (``correlation_id``, ``conversation_id``, the metadata
kept) is theirs to choose: a key sent there reaches no PostgreSQL row in clear."""

from __future__ import annotations

import psycopg
import pytest

import relaykit
from relaykit.testing import FakePlugin

pytestmark = pytest.mark.anyio

#: a provider's key of no shape the built-in redactor knows
KEY = "vendor-7f3a9c2e5b8d1f4a"


async def test_a_key_in_a_calls_ids_and_metadata_is_stored_masked(
    postgres_dsn: str, fresh_schema: str
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{fresh_schema}"')
    dsn = f"{postgres_dsn} options='-c search_path={fresh_schema}'"
    config = {
        "storage": {"backend": "postgres", "dsn": dsn},
        "providers": {"local": {"type": "fake", "api_key": KEY}},
    }
    metadata = {"correlation_id": KEY, "conversation_id": KEY, "user": KEY}
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("local/m", "hi", metadata=metadata)
        await client.embed("local/e", ["hi"], metadata={"correlation_id": KEY})
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(f'SELECT to_jsonb(l)::text FROM "{fresh_schema}".logs l').fetchall()
    assert len(rows) == 2
    stored = "\n".join(row[0] for row in rows)
    assert KEY not in stored
    assert stored.count("[REDACTED]") >= 4  # both ids, the user, the embedding's id
