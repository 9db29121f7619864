"""``[storage] busy_timeout``: how long the SQLite backend waits for another
process's lock, set from the client's configuration (30 s when left out).

The backend took 30 s whatever the config said: a worker that would rather spill
its records after a second than hold its calls for 30 s could not say so.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import anyio
import pytest

from relaykit import ConfigError
from relaykit.config import load_config
from relaykit.errors import StorageUnavailableError
from relaykit.testing.storage_contract import make_record
from relaykit_sqlite import SQLiteStorage
from relaykit_sqlite.plugin import relaykit_storage


def _storage_from(toml: str, tmp_path: Path) -> SQLiteStorage:
    conf = tmp_path / "relaykit.toml"
    conf.write_text(toml)
    storage = relaykit_storage(name="sqlite", config=load_config(conf, env={}))
    assert isinstance(storage, SQLiteStorage)
    return storage


@pytest.mark.anyio
async def test_a_write_waits_for_another_connections_lock_as_long_as_the_config_says(
    tmp_path: Path,
) -> None:
    made = SQLiteStorage(tmp_path / "logs.db")
    await made.write_batch([make_record(0)])
    await made.aclose()
    storage = _storage_from('[storage]\npath = "logs.db"\nbusy_timeout = 0.2\n', tmp_path)
    holder = sqlite3.connect(tmp_path / "logs.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        # the default (30 s) would outlast this bound many times over, however loaded
        with anyio.fail_after(25), pytest.raises(StorageUnavailableError, match="locked"):
            await storage.write_batch([make_record(1)])
        holder.execute("COMMIT")
        await storage.write_batch([make_record(2)])  # the lock gone, it writes
        assert len(await storage.query_logs()) == 2
    finally:
        holder.close()
        with contextlib.suppress(Exception):
            await storage.aclose()


def test_left_out_it_is_30_seconds_as_before(tmp_path: Path) -> None:
    storage = _storage_from('[storage]\npath = "logs.db"\n', tmp_path)
    assert load_config({}, env={}).storage.busy_timeout == 30.0
    assert storage._busy_timeout == 30.0


@pytest.mark.parametrize("value", ["-1", '"soon"', "true", "inf", "nan"])
def test_a_negative_or_non_number_busy_timeout_is_a_config_error_naming_the_key(
    tmp_path: Path, value: str
) -> None:
    conf = tmp_path / "relaykit.toml"
    conf.write_text(f"[storage]\nbusy_timeout = {value}\n")
    with pytest.raises(ConfigError, match=r"storage\.busy_timeout") as info:
        load_config(conf, env={})
    assert "seconds" in str(info.value) or "number" in str(info.value)


def test_the_environment_variable_is_checked_too() -> None:
    assert load_config({}, env={"RELAYKIT_STORAGE_BUSY_TIMEOUT": "1.5"}).storage.busy_timeout == 1.5
    with pytest.raises(ConfigError, match=r"storage\.busy_timeout.*-2"):
        load_config({}, env={"RELAYKIT_STORAGE_BUSY_TIMEOUT": "-2"})
