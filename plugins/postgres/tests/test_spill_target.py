"""The PostgreSQL storage names its spill file by the database it writes to, never by a
secret: no server needed (building the storage does not connect)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import relaykit
from relaykit.record_spill import default_spill_path
from relaykit.testing import FakePlugin
from relaykit_postgres import PostgresStorage, plugin


def test_spill_target_names_the_database_and_never_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for env in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(env, raising=False)
    url = PostgresStorage("postgresql://app:s3cretpw@db/logs?sslmode=require&password=pw2")
    assert "s3cretpw" not in url.spill_target and "pw2" not in url.spill_target
    assert "host=db port=5432 dbname=logs user=app" in url.spill_target
    same = [
        "postgresql://app:rotated@db:5432/logs",  # a new password, the port said, no sslmode
        "host=db dbname=logs user=app password=s3cretpw",
    ]
    assert {PostgresStorage(dsn).spill_target for dsn in same} == {url.spill_target}
    others = [
        PostgresStorage("postgresql://app@db/logs", schema="other"),
        PostgresStorage("postgresql://app@db/logs2"),
        PostgresStorage("postgresql://app@db2/logs"),
        PostgresStorage("postgresql://reader@db/logs"),
    ]
    assert len({s.spill_target for s in [url, *others]}) == 5
    monkeypatch.setenv("PGHOST", "envhost")  # what libpq would connect to
    assert "host=envhost" in PostgresStorage("dbname=logs").spill_target


def test_clients_with_dsns_from_the_environment_spill_to_files_of_their_own(
    monkeypatch: pytest.MonkeyPatch, closed_after: Callable[[relaykit.Client], relaykit.Client]
) -> None:
    def spill_path(dsn: str) -> Path:
        monkeypatch.setenv(plugin.DSN_ENV, dsn)
        client = closed_after(
            relaykit.Client({"storage": {"backend": "postgres"}}, plugins=[FakePlugin()])
        )
        assert client._call_log is not None
        return client._call_log.spill_path

    a = spill_path("postgresql://app:pw@db/a")
    assert a == default_spill_path(PostgresStorage("postgresql://app@db/a").spill_target)
    assert a != spill_path("postgresql://app:pw@db/b")
    assert a == spill_path("postgresql://app:rotated@db/a")
