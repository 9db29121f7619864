"""The key vault: Fernet at rest, a 0600 key file, rotation, clear errors, lookup order."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import relaykit
from relaykit.key_vault import (
    MASTER_KEY_ENV,
    NEW_MASTER_KEY_ENV,
    KeyVault,
    generate_key,
    key_file,
    load_master_key,
    rotate_master_key,
)
from relaykit.secrets import Secret
from relaykit.testing import MemoryStorage

OPENAI_KEY = "sk-proj-" + "Vault0" * 6
ANTHROPIC_KEY = "sk-ant-" + "Vault1" * 6


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_generated_key_file_is_private(env: dict[str, str]) -> None:
    assert load_master_key(env) is None  # nothing is created unless asked
    created = load_master_key(env, create=True)
    assert created is not None
    path = key_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_master_key(env, create=True)
    assert again is not None
    assert again.key == created.key
    assert created.key.reveal() not in repr(created)


def test_environment_master_key_wins_over_the_file(env: dict[str, str]) -> None:
    load_master_key(env, create=True)
    key = generate_key()
    master = load_master_key({**env, MASTER_KEY_ENV: key.reveal()})
    assert master is not None
    assert (master.key, master.source) == (key, MASTER_KEY_ENV)


@pytest.mark.anyio
async def test_keys_are_encrypted_at_rest_and_listed_as_prefixes(env: dict[str, str]) -> None:
    storage = MemoryStorage()
    master = load_master_key(env, create=True)
    assert master is not None
    vault = KeyVault(storage, master)
    await vault.set("openai", OPENAI_KEY)
    await vault.set("anthropic", Secret(ANTHROPIC_KEY))
    for blob in storage.blobs.values():
        assert b"Vault" not in blob
    assert await vault.keys() == {"anthropic": Secret(ANTHROPIC_KEY), "openai": Secret(OPENAI_KEY)}
    assert await vault.hints() == {"anthropic": "sk-a…", "openai": "sk-p…"}
    assert await vault.remove("openai") is True
    assert await vault.remove("openai") is False
    assert list(await vault.keys()) == ["anthropic"]


@pytest.mark.anyio
async def test_a_wrong_master_key_is_a_clear_config_error(env: dict[str, str]) -> None:
    storage = MemoryStorage()
    right = load_master_key(env, create=True)
    assert right is not None
    await KeyVault(storage, right).set("openai", OPENAI_KEY)
    wrong = load_master_key({MASTER_KEY_ENV: generate_key().reveal()})
    assert wrong is not None
    with pytest.raises(
        relaykit.ConfigError, match="RELAYKIT_MASTER_KEY cannot decrypt the key vault"
    ) as info:
        await KeyVault(storage, wrong).keys()
    assert "Vault0" not in f"{info.value} {info.value!r}"
    with pytest.raises(relaykit.ConfigError):  # and it refuses to mix keys in one vault
        await KeyVault(storage, wrong).set("groq", "gsk_" + "x" * 30)
    not_a_key = load_master_key({MASTER_KEY_ENV: "hunter2"})
    assert not_a_key is not None
    with pytest.raises(relaykit.ConfigError, match="not a valid key") as info:
        KeyVault(storage, not_a_key)
    assert "hunter2" not in str(info.value)


@pytest.mark.anyio
async def test_a_blob_copied_to_another_name_is_detected(env: dict[str, str]) -> None:
    storage = MemoryStorage()
    master = load_master_key(env, create=True)
    assert master is not None
    await KeyVault(storage, master).set("openai", OPENAI_KEY)
    storage.blobs["groq"] = storage.blobs["openai"]
    with pytest.raises(relaykit.ConfigError, match="'groq' holds the key of 'openai'"):
        await KeyVault(storage, master).keys()


@pytest.mark.anyio
async def test_rotating_the_key_file_re_encrypts_everything(env: dict[str, str]) -> None:
    storage = MemoryStorage()
    old = load_master_key(env, create=True)
    assert old is not None
    await KeyVault(storage, old).set("openai", OPENAI_KEY)
    await KeyVault(storage, old).set("anthropic", ANTHROPIC_KEY)
    before = dict(storage.blobs)
    new, count = await rotate_master_key(storage, env)
    assert count == 2
    assert new.key != old.key
    assert all(storage.blobs[name] != blob for name, blob in before.items())
    path = key_file(env)
    assert path.read_text().strip() == new.key.reveal()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name("master.key.new").exists()
    reloaded = load_master_key(env)
    assert reloaded is not None
    assert (await KeyVault(storage, reloaded).keys())["openai"] == Secret(OPENAI_KEY)
    with pytest.raises(relaykit.ConfigError):
        await KeyVault(storage, old).keys()


@pytest.mark.anyio
async def test_an_interrupted_rotation_is_still_readable_and_finishes(env: dict[str, str]) -> None:
    storage = MemoryStorage()
    old = load_master_key(env, create=True)
    assert old is not None
    await KeyVault(storage, old).set("openai", OPENAI_KEY)
    # Crash after writing master.key.new and re-encrypting, before the rename:
    pending = key_file(env).with_name("master.key.new")
    new_key = generate_key()
    pending.write_text(new_key.reveal())
    pending.chmod(0o600)
    await KeyVault(storage, old).rotate(relaykit.key_vault.MasterKey(new_key, str(pending)))
    master = load_master_key(env)
    assert master is not None
    assert (await KeyVault(storage, master).keys())["openai"] == Secret(OPENAI_KEY)
    finished, _ = await rotate_master_key(storage, env)  # reuses the pending key
    assert finished.key == new_key
    assert not pending.exists()


@pytest.mark.anyio
async def test_rotating_an_environment_key_needs_the_new_key_in_the_environment(
    env: dict[str, str],
) -> None:
    storage = MemoryStorage()
    old = generate_key()
    with_env = {**env, MASTER_KEY_ENV: old.reveal()}
    master = load_master_key(with_env)
    assert master is not None
    await KeyVault(storage, master).set("openai", OPENAI_KEY)
    with pytest.raises(relaykit.ConfigError, match=NEW_MASTER_KEY_ENV):
        await rotate_master_key(storage, with_env)
    new = generate_key()
    rotated, count = await rotate_master_key(
        storage, {**with_env, NEW_MASTER_KEY_ENV: new.reveal()}
    )
    assert (rotated.key, count) == (new, 1)
    after = load_master_key({MASTER_KEY_ENV: new.reveal()})
    assert after is not None
    assert (await KeyVault(storage, after).keys())["openai"] == Secret(OPENAI_KEY)


@pytest.mark.anyio
async def test_client_looks_up_vault_keys_after_config_and_before_the_environment(
    env: dict[str, str],
) -> None:
    storage = MemoryStorage()
    master = load_master_key(env, create=True)
    assert master is not None
    await KeyVault(storage, master).set("openai", OPENAI_KEY)
    await KeyVault(storage, master).set("groq", "gsk_" + "v" * 30)
    client_env = {
        **env,
        "OPENAI_API_KEY": "sk-proj-" + "Env000" * 6,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    }
    config = {
        "storage": {"backend": "memory"},
        "providers": {"groq": {"api_key": "gsk_" + "c" * 30}},
    }
    async with relaykit.Client(config, plugins=[storage.plugin()], env=client_env) as client:
        keys = {name: client.provider(name).settings.api_key for name in ("openai", "groq")}  # type: ignore[attr-defined]
        assert "openai" in client._registry.names()
    assert keys["openai"] == Secret(OPENAI_KEY)  # the vault beats the environment
    assert keys["groq"] == Secret("gsk_" + "c" * 30)  # explicit config beats the vault


@pytest.mark.anyio
async def test_client_start_fails_clearly_with_a_wrong_master_key(env: dict[str, str]) -> None:
    storage = MemoryStorage()
    master = load_master_key(env, create=True)
    assert master is not None
    await KeyVault(storage, master).set("openai", OPENAI_KEY)
    wrong = {**env, MASTER_KEY_ENV: generate_key().reveal()}
    client = relaykit.Client(
        {"storage": {"backend": "memory"}}, plugins=[storage.plugin()], env=wrong
    )
    with pytest.raises(relaykit.ConfigError, match="cannot decrypt"):
        async with client:
            pass
    assert storage.closed


@pytest.mark.anyio
async def test_a_key_from_the_environment_loses_surrounding_whitespace() -> None:
    # A key read from a file (a mounted secret) often ends in a newline: sent as
    # is, every call failed as "malformed response" (aiohttp refuses the header).
    env = {"OPENAI_API_KEY": f" {OPENAI_KEY}\n", "GROQ_API_KEY": " \n"}
    async with relaykit.Client({}, env=env) as client:
        key = client.provider("openai").settings.api_key  # type: ignore[attr-defined]
        assert key == Secret(OPENAI_KEY)
        with pytest.raises(relaykit.ConfigError, match="no API key for provider 'groq'"):
            client.provider("groq")


@pytest.mark.anyio
async def test_a_key_from_the_config_loses_surrounding_whitespace_too() -> None:
    # pasted into relaykit.toml with a space or a newline from a multi-line string
    config = {"providers": {"openai": {"api_key": f"{OPENAI_KEY}\n"}, "groq": {"api_key": " "}}}
    async with relaykit.Client(config, env={}) as client:
        key = client.provider("openai").settings.api_key  # type: ignore[attr-defined]
        assert key == Secret(OPENAI_KEY)
        with pytest.raises(relaykit.ConfigError, match="no API key for provider 'groq'"):
            client.provider("groq")
