"""The key vault under concurrency: `keys set` racing `keys rotate`, and creating master.key
where the filesystem has no hard links.

Real SQLite files; the contract suite (relaykit.testing.storage_contract) runs the
set-during-rotation race on every backend, PostgreSQL included.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import relaykit
from relaykit import key_vault
from relaykit.cli.main import main
from relaykit.key_vault import (
    GENERATION_ENTRY,
    MASTER_KEY_ENV,
    NEW_MASTER_KEY_ENV,
    KeyVault,
    MasterKey,
    generate_key,
    key_file,
    load_master_key,
    load_vault_keys,
    rotate_master_key,
)
from relaykit.secrets import Secret
from relaykit_sqlite.storage import SQLiteStorage

OPENAI_KEY = "sk-proj-" + "Race00" * 6
GROQ_KEY = "gsk_" + "Race11" * 6


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(tmp_path / "logs.db")
    yield storage
    await storage.aclose()


def _revealed(keys: dict[str, Secret]) -> dict[str, str]:
    return {name: key.reveal() for name, key in keys.items()}


# -- keys set racing keys rotate ---------------------------------------------------------


@pytest.mark.anyio
async def test_a_set_after_a_rotation_committed_but_before_the_rename_uses_the_new_key(
    env: dict[str, str], storage: SQLiteStorage
) -> None:
    old = load_master_key(env, create=True)
    assert old is not None
    await KeyVault(storage, old).set("openai", OPENAI_KEY)
    # A rotation has written master.key.new and committed, and not yet renamed it.
    path = key_file(env)
    pending = path.with_name("master.key.new")
    new_key = generate_key()
    pending.write_text(new_key.reveal() + "\n")
    await KeyVault(storage, old).rotate(MasterKey(new_key, str(path), (), path))
    await KeyVault(storage, old).set("groq", GROQ_KEY)  # `old` knows only the old key
    os.replace(pending, path)  # the rotation finishes
    assert _revealed(await load_vault_keys(storage, env)) == {
        "groq": GROQ_KEY,
        "openai": OPENAI_KEY,
    }


@pytest.mark.anyio
async def test_a_set_after_an_empty_vault_was_rotated_uses_the_new_key(
    env: dict[str, str], storage: SQLiteStorage
) -> None:
    old = load_master_key(env, create=True)
    assert old is not None
    _, count = await rotate_master_key(storage, env)  # nothing to re-encrypt, but it moved
    assert count == 0
    await KeyVault(storage, old).set("openai", OPENAI_KEY)
    assert _revealed(await load_vault_keys(storage, env)) == {"openai": OPENAI_KEY}


@pytest.mark.anyio
async def test_a_set_with_the_old_environment_key_after_a_rotation_stores_nothing(
    storage: SQLiteStorage,
) -> None:
    old, new = generate_key(), generate_key()
    env = {MASTER_KEY_ENV: old.reveal()}
    before = load_master_key(env)
    assert before is not None
    await KeyVault(storage, before).set("openai", OPENAI_KEY)
    await rotate_master_key(storage, {**env, NEW_MASTER_KEY_ENV: new.reveal()})
    with pytest.raises(relaykit.ConfigError, match="cannot decrypt the key vault"):
        await KeyVault(storage, before).set("groq", GROQ_KEY)
    assert set(await storage.vault_items()) == {"openai", GENERATION_ENTRY}
    assert _revealed(await load_vault_keys(storage, {MASTER_KEY_ENV: new.reveal()})) == {
        "openai": OPENAI_KEY
    }


@pytest.mark.anyio
async def test_a_vault_emptied_and_its_key_lost_takes_a_new_master_key(
    env: dict[str, str], storage: SQLiteStorage
) -> None:
    first = load_master_key(env, create=True)
    assert first is not None
    await KeyVault(storage, first).set("openai", OPENAI_KEY)
    assert await KeyVault(storage, first).remove("openai") is True
    key_file(env).unlink()
    second = load_master_key(env, create=True)
    assert second is not None and second.key != first.key
    await KeyVault(storage, second).set("groq", GROQ_KEY)  # the old marker names no entry
    assert _revealed(await load_vault_keys(storage, env)) == {"groq": GROQ_KEY}


@pytest.mark.anyio
async def test_a_vault_stored_before_the_generation_entry_still_takes_keys(
    env: dict[str, str], storage: SQLiteStorage
) -> None:
    master = load_master_key(env, create=True)
    assert master is not None
    vault = KeyVault(storage, master)
    await vault.set("openai", OPENAI_KEY)
    assert await storage.vault_delete(GENERATION_ENTRY) is True  # as an older relaykit stored it
    await vault.set("groq", GROQ_KEY)
    assert _revealed(await vault.keys()) == {"groq": GROQ_KEY, "openai": OPENAI_KEY}


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["openai/gpt-4o", GENERATION_ENTRY, ""])
async def test_a_name_no_provider_has_is_refused(
    env: dict[str, str], storage: SQLiteStorage, name: str
) -> None:
    master = load_master_key(env, create=True)
    assert master is not None
    with pytest.raises(relaykit.ConfigError, match="is not a provider name") as info:
        await KeyVault(storage, master).set(name, OPENAI_KEY)
    assert info.value.hint is not None and "e.g. openai" in info.value.hint
    with pytest.raises(relaykit.ConfigError, match="is not a provider name"):
        await KeyVault(storage, master).remove(name)
    assert await storage.vault_items() == {}


def test_the_generation_entry_is_neither_listed_nor_removable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(OPENAI_KEY))
    assert main(["keys", "set", "openai"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    assert capsys.readouterr().out.split()[2:] == ["openai", "sk-p…"]
    assert main(["keys", "rm", GENERATION_ENTRY]) == 1
    assert "is not a provider name" in capsys.readouterr().err


# -- master.key without hard links ---------------------------------------------------------


def _no_hard_links(monkeypatch: pytest.MonkeyPatch, code: int = errno.EPERM) -> None:
    def link(src: object, dst: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", link)


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.ENOSYS])
def test_without_hard_links_the_key_file_is_created_whole_and_private(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    _no_hard_links(monkeypatch, code)
    created = load_master_key(env, create=True)
    assert created is not None
    path = key_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == created.key.reveal() + "\n"
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]  # no temporary file left
    created.fernet()  # a valid key
    again = load_master_key(env, create=True)
    assert again is not None and again.key == created.key


def test_without_hard_links_a_key_file_created_meanwhile_is_shared(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_hard_links(monkeypatch)
    theirs = generate_key()
    real_generate = key_vault.generate_key

    def racing_generate() -> Secret:
        path = key_file(env)  # another first `keys set` creates it between look and write
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(theirs.reveal() + "\n")
        return real_generate()

    monkeypatch.setattr(key_vault, "generate_key", racing_generate)
    master = load_master_key(env, create=True)
    assert master is not None and master.key == theirs
    assert key_file(env).read_text() == theirs.reveal() + "\n"


def test_without_hard_links_the_loser_waits_for_the_winner_to_finish_writing(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_hard_links(monkeypatch)
    theirs = generate_key()
    path = key_file(env)
    real_generate = key_vault.generate_key

    def racing_generate() -> Secret:
        # The winner has created the file (O_EXCL) and not yet written it.
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)

        def finish() -> None:
            time.sleep(0.2)
            with path.open("a") as f:
                f.write(theirs.reveal() + "\n")

        threading.Thread(target=finish).start()
        return real_generate()

    monkeypatch.setattr(key_vault, "generate_key", racing_generate)
    master = load_master_key(env, create=True)
    assert master is not None and master.key == theirs


@pytest.mark.parametrize("left", ["", "dGhpcyBpcyBoYWxm"])
def test_without_hard_links_a_key_file_a_crash_cut_short_is_named(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, left: str
) -> None:
    _no_hard_links(monkeypatch)
    monkeypatch.setattr(key_vault, "_CREATED_KEY_WAIT", 0.1)
    path = key_file(env)
    real_generate = key_vault.generate_key

    def crashed_creator() -> Secret:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(left)  # what a creator killed mid-write leaves
        return real_generate()

    monkeypatch.setattr(key_vault, "generate_key", crashed_creator)
    with pytest.raises(relaykit.ConfigError, match="is half-written") as info:
        load_master_key(env, create=True)
    assert str(path) in str(info.value)
    assert info.value.hint is not None and "delete it" in info.value.hint
    assert path.read_text() == left  # not replaced: a key may have been stored under it


def test_without_hard_links_a_failed_write_leaves_no_key_file(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_hard_links(monkeypatch)
    real_fsync = os.fsync
    calls: list[int] = []

    def disk_full_on_the_key_file(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the temporary file's fsync passes; the key file's fails
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_on_the_key_file)
    with pytest.raises(OSError, match="No space"):
        load_master_key(env, create=True)
    assert [p.name for p in key_file(env).parent.iterdir()] == []


def test_an_empty_key_file_is_named_not_used(env: dict[str, str]) -> None:
    path = key_file(env)
    path.parent.mkdir(parents=True)
    path.write_text("\n")
    with pytest.raises(relaykit.ConfigError, match="is empty") as info:
        load_master_key(env)
    assert str(path) in str(info.value)


@pytest.mark.anyio
async def test_the_generation_entry_reads_as_an_entry_to_a_relaykit_from_before_it(
    env: dict[str, str], storage: SQLiteStorage
) -> None:
    import json

    master = load_master_key(env, create=True)
    assert master is not None
    await KeyVault(storage, master).set("openai", OPENAI_KEY)
    marker = (await storage.vault_items())[GENERATION_ENTRY]
    # What an older KeyVault.keys() does with every row: decrypt, parse, compare the name.
    payload = json.loads(master.fernet().decrypt(marker))
    assert payload == {"name": GENERATION_ENTRY, "key": ""}
