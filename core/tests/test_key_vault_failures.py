"""The key vault when things go wrong: damaged key files, edited rows, races, crashes mid-rotation.

Real SQLite files and the real ``relaykit`` command line (``relaykit.cli.main``).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import anyio
import pytest

import relaykit
from relaykit import key_vault
from relaykit.cli.main import main
from relaykit.key_vault import (
    MASTER_KEY_ENV,
    NEW_MASTER_KEY_ENV,
    KeyVault,
    MasterKey,
    generate_key,
    key_file,
    load_master_key,
    rotate_master_key,
)
from relaykit.secrets import Secret
from relaykit_sqlite.storage import SQLiteStorage

OPENAI_KEY = "sk-proj-" + "Fail00" * 6
GROQ_KEY = "gsk_" + "Fail11" * 6


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def _cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _db() -> Path:
    return key_file(os.environ).with_name("logs.db")


@pytest.mark.parametrize("damage", ["not utf-8", "a directory"])
def test_an_unreadable_key_file_is_one_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    assert _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=OPENAI_KEY)[0] == 0
    path = key_file(os.environ)
    path.unlink()
    if damage == "a directory":
        path.mkdir()
    else:
        path.write_bytes(b"\x94\xff" * 22)
    code, _, err = _cli(capsys, monkeypatch, "keys", "list")
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(path) in err and "RELAYKIT_MASTER_KEY" in err


def test_a_key_file_created_by_another_process_meanwhile_is_used(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = generate_key()
    real_generate = key_vault.generate_key

    def racing_generate() -> Secret:
        # Another `keys set` creates master.key between our look and our write.
        path = key_file(env)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(theirs.reveal() + "\n")
        path.chmod(0o600)
        return real_generate()

    monkeypatch.setattr(key_vault, "generate_key", racing_generate)
    master = load_master_key(env, create=True)
    assert master is not None
    assert master.key == theirs  # not FileExistsError, and not a second key
    assert key_file(env).read_text().strip() == theirs.reveal()


def test_a_crash_while_writing_the_key_file_leaves_no_half_written_key(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)  # the module key_vault calls it in
    with pytest.raises(OSError, match="No space"):
        load_master_key(env, create=True)
    monkeypatch.undo()
    assert not key_file(env).exists()  # not an empty master.key that no longer decrypts anything
    assert [p.name for p in key_file(env).parent.iterdir()] == []
    master = load_master_key(env, create=True)
    assert master is not None
    master.fernet()  # a valid key


@pytest.mark.anyio
async def test_rotating_to_the_same_key_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "logs.db")
    key = generate_key().reveal()
    with_env = {**env, MASTER_KEY_ENV: key, NEW_MASTER_KEY_ENV: f" {key}\n"}
    master = load_master_key(with_env)
    assert master is not None
    try:
        await KeyVault(storage, master).set("openai", OPENAI_KEY)
        with pytest.raises(relaykit.ConfigError, match="already the master key") as info:
            await rotate_master_key(storage, with_env)
        assert key not in f"{info.value} {info.value.hint}"
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_an_environment_rotation_run_again_finishes(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The first run committed, then the process died before anyone swapped the
    # variables: running the same command again must not lock the vault.
    storage = SQLiteStorage(tmp_path / "logs.db")
    old, new = generate_key().reveal(), generate_key().reveal()
    with_env = {**env, MASTER_KEY_ENV: old, NEW_MASTER_KEY_ENV: new}
    master = load_master_key({MASTER_KEY_ENV: old})
    assert master is not None
    try:
        await KeyVault(storage, master).set("openai", OPENAI_KEY)
        await rotate_master_key(storage, with_env)
        _, count = await rotate_master_key(storage, with_env)
        assert count == 1
        after = load_master_key({MASTER_KEY_ENV: new})
        assert after is not None
        assert await KeyVault(storage, after).keys() == {"openai": Secret(OPENAI_KEY)}
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_a_rotation_that_fails_between_rows_leaves_every_key_readable(
    env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "logs.db"
    storage = SQLiteStorage(db)
    old = load_master_key(env, create=True)
    assert old is not None
    try:
        vault = KeyVault(storage, old)
        await vault.set("groq", GROQ_KEY)
        await vault.set("openai", OPENAI_KEY)
        expected = await vault.keys()
        # The second row's update fails, after the first one was written.
        with sqlite3.connect(db) as conn:
            conn.execute(
                "CREATE TRIGGER fail_mid_rotation BEFORE UPDATE ON vault WHEN NEW.name = 'openai' "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        with pytest.raises(relaykit.RelayError, match="injected failure"):
            await rotate_master_key(storage, env)
        assert await KeyVault(storage, old).keys() == expected  # the old key alone
        pending = key_file(env).with_name("master.key.new")
        new = MasterKey(Secret(pending.read_text().strip()), str(pending))
        both = load_master_key(env)
        assert both is not None and both.fallbacks == (new.key,)
        assert await KeyVault(storage, both).keys() == expected
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TRIGGER fail_mid_rotation")
        finished, count = await rotate_master_key(storage, env)
        assert (finished.key, count) == (new.key, 2)
        assert await KeyVault(storage, new).keys() == expected  # the new key alone
    finally:
        await storage.aclose()


@pytest.mark.parametrize("edit", ["'edited by hand'", "NULL", "x'00112233'"])
def test_a_vault_row_edited_in_the_database_is_one_error_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    assert _cli(capsys, monkeypatch, "keys", "set", "groq", stdin=GROQ_KEY)[0] == 0
    assert _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=OPENAI_KEY)[0] == 0
    with sqlite3.connect(_db()) as conn:
        conn.execute(f"UPDATE vault SET blob = {edit} WHERE name = 'openai'")
    code, _, err = _cli(capsys, monkeypatch, "keys", "list")
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    # The master key decrypts the other entry: the entry is what is damaged.
    assert "entry 'openai' is damaged" in err and "relaykit keys rm openai" in err
    assert _cli(capsys, monkeypatch, "keys", "rm", "openai")[0] == 0
    assert "groq" in _cli(capsys, monkeypatch, "keys", "list")[1]


def test_the_only_vault_row_edited_is_damaged_not_a_wrong_master_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vault's marker entry decrypts: the master key is right, so the one key
    stored is what is damaged (it said to use the master key the keys were stored
    with, which is the one in use)."""
    assert _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=OPENAI_KEY)[0] == 0
    with sqlite3.connect(_db()) as conn:
        conn.execute("UPDATE vault SET blob = x'00112233' WHERE name = 'openai'")
    code, _, err = _cli(capsys, monkeypatch, "keys", "list")
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "entry 'openai' is damaged" in err and "relaykit keys rm openai" in err
    assert "use the master key the keys were stored with" not in err


@pytest.mark.anyio
async def test_a_stored_key_loses_surrounding_whitespace(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A pasted key often ends in a newline: in an HTTP header it would fail every call.
    storage = SQLiteStorage(tmp_path / "logs.db")
    master = load_master_key(env, create=True)
    assert master is not None
    try:
        vault = KeyVault(storage, master)
        await vault.set("openai", f"  {OPENAI_KEY}\r\n")
        assert await vault.keys() == {"openai": Secret(OPENAI_KEY)}
        with pytest.raises(relaykit.ConfigError, match="is empty") as info:
            await vault.set("groq", " \n")
        assert info.value.hint
    finally:
        await storage.aclose()


@pytest.mark.anyio
async def test_a_wrong_environment_key_next_to_a_key_file_says_which_wins(
    env: dict[str, str], tmp_path: Path
) -> None:
    storage = SQLiteStorage(tmp_path / "logs.db")
    from_file = load_master_key(env, create=True)
    assert from_file is not None
    try:
        await KeyVault(storage, from_file).set("openai", OPENAI_KEY)
        wrong = load_master_key({**env, MASTER_KEY_ENV: generate_key().reveal()})
        assert wrong is not None
        with pytest.raises(relaykit.ConfigError, match="cannot decrypt") as info:
            await KeyVault(storage, wrong).keys()
        assert info.value.hint is not None
        assert str(key_file(env)) in info.value.hint and "unset" in info.value.hint
    finally:
        await storage.aclose()


def test_keys_set_racing_the_first_keys_set_uses_the_key_file_it_created(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two first `keys set` runs: this one looked for master.key just before the
    # other created it and stored its key; it must share that key, not refuse.
    assert _cli(capsys, monkeypatch, "keys", "set", "groq", stdin=GROQ_KEY)[0] == 0
    real_load = key_vault.load_master_key
    looks: list[bool] = []

    def load_too_early(env: object = None, *, create: bool = False) -> MasterKey | None:
        looks.append(create)
        return None if len(looks) == 1 else real_load(env, create=create)  # type: ignore[arg-type]

    monkeypatch.setattr(key_vault, "load_master_key", load_too_early)
    code, _, err = _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=OPENAI_KEY)
    assert (code, err) == (0, ""), err
    monkeypatch.setattr(key_vault, "load_master_key", real_load)
    assert _cli(capsys, monkeypatch, "keys", "list")[1].split()[2:] == [
        "groq",
        "gsk_…",
        "openai",
        "sk-p…",
    ]


@pytest.mark.anyio
async def test_a_rotation_another_process_finished_first_is_done_not_an_error(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SQLiteStorage(tmp_path / "logs.db")
    old = load_master_key(env, create=True)
    assert old is not None
    path = key_file(env)
    pending = path.with_name("master.key.new")
    rotate = KeyVault.rotate

    async def and_the_other_process_finishes(self: KeyVault, new: MasterKey) -> int:
        count = await rotate(self, new)
        os.replace(pending, path)  # as a concurrent `keys rotate` with the same new key does
        return count

    try:
        await KeyVault(storage, old).set("openai", OPENAI_KEY)
        monkeypatch.setattr(KeyVault, "rotate", and_the_other_process_finishes)
        new, count = await rotate_master_key(storage, env)  # was FileNotFoundError
        assert count == 1
        assert path.read_text().strip() == new.key.reveal()
        assert (await KeyVault(storage, new).keys())["openai"].reveal() == OPENAI_KEY
    finally:
        await storage.aclose()


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("“" + OPENAI_KEY + "”", "a character that is not ASCII"),  # pasted in smart quotes
        (OPENAI_KEY[:20] + "\u200b" + OPENAI_KEY[20:], "a character that is not ASCII"),
        (OPENAI_KEY[:20] + "\x7f" + OPENAI_KEY[20:], "a control character"),
    ],
)
def test_a_key_no_http_header_can_carry_is_refused_before_it_is_stored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, typed: str, named: str
) -> None:
    """It was stored, listed, and then failed every call that used it."""
    code, out, err = _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=typed + "\n")
    assert code == 1, out
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert named in err and "openai" in err and "paste the key again" in err
    assert OPENAI_KEY[:12] not in err + out  # not even the key's prefix
    code, _, err = _cli(capsys, monkeypatch, "keys", "list")
    assert code == 0 and "no keys stored" in err


@pytest.mark.anyio
async def test_the_vault_refuses_a_key_holding_a_line_break(
    env: dict[str, str], tmp_path: Path
) -> None:
    storage = SQLiteStorage(tmp_path / "logs.db")
    master = load_master_key(env, create=True)
    assert master is not None
    try:
        vault = KeyVault(storage, master)
        with pytest.raises(relaykit.ConfigError, match="holds a line break") as info:
            await vault.set("openai", f"{OPENAI_KEY}\n{GROQ_KEY}")
        assert OPENAI_KEY not in str(info.value) and GROQ_KEY not in str(info.value)
        assert info.value.hint
        assert await vault.keys() == {}
    finally:
        await storage.aclose()


def test_keys_stored_with_a_config_file_from_another_directory_are_found_from_any(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``[storage] path = "vault.db"`` is the file beside the config, wherever
    ``relaykit -c`` runs (it was a new vault in each working directory)."""
    project = tmp_path / "project"
    project.mkdir()
    config = project / "relaykit.toml"
    config.write_text('[storage]\nbackend = "sqlite"\npath = "vault.db"\n')
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    monkeypatch.chdir(one)
    assert (
        _cli(capsys, monkeypatch, "keys", "set", "openai", "-c", str(config), stdin=OPENAI_KEY)[0]
        == 0
    )
    monkeypatch.chdir(two)
    code, out, _ = _cli(capsys, monkeypatch, "keys", "list", "-c", str(config))
    assert code == 0 and "openai" in out
    assert (project / "vault.db").is_file()
    assert not (one / "vault.db").exists() and not (two / "vault.db").exists()


def test_piped_input_of_more_than_one_line_is_refused_not_cut_to_the_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first line was stored and the rest dropped without a word (a file of two
    keys, or a .env file, piped in)."""
    code, out, err = _cli(
        capsys, monkeypatch, "keys", "set", "openai", stdin=f"{OPENAI_KEY}\n{GROQ_KEY}\n"
    )
    assert code == 1, out
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "2 lines" in err and "one line" in err
    assert OPENAI_KEY[:12] not in err and GROQ_KEY[:8] not in err
    assert "no keys stored" in _cli(capsys, monkeypatch, "keys", "list")[2]
    # Blank lines around the one key are no second key.
    stdin = f"\n{OPENAI_KEY}\r\n\n"
    assert _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=stdin)[0] == 0
    code, out, _ = _cli(capsys, monkeypatch, "keys", "list")
    assert code == 0 and "openai" in out


@pytest.mark.parametrize("blocker", ["a file", "a file's child"])
def test_a_master_key_file_that_cannot_be_created_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    blocker: str,
) -> None:
    """The first `keys set` with a user config dir that cannot be made (a file in
    its way, a read-only home) was an OSError traceback."""
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "vault.db"}"\n')
    in_the_way = tmp_path / "in-the-way"
    in_the_way.write_text("")
    home = in_the_way if blocker == "a file" else in_the_way / "below"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    code, out, err = _cli(
        capsys, monkeypatch, "keys", "set", "openai", "-c", str(config), stdin=OPENAI_KEY
    )
    assert code == 1, out
    assert err.startswith("error: cannot create the master key file ") and err.count("\n") == 1
    assert str(home / "relaykit" / "master.key") in err
    assert MASTER_KEY_ENV in err  # the way around it
    assert OPENAI_KEY[:12] not in err


def test_a_key_file_that_cannot_be_replaced_after_rotating_is_one_error_line_losing_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vault committed under the new key, then master.key.new could not be renamed
    over master.key (a read-only directory, an immutable file, a Windows lock): it was
    an OSError traceback. Both keys are read meanwhile; rotating again finishes."""
    assert _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=OPENAI_KEY)[0] == 0
    path = key_file(os.environ)
    pending = path.with_name("master.key.new")
    old = path.read_text()
    real_replace = os.replace

    def read_only(src: object, dst: object) -> None:
        if Path(str(dst)) == path:
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", read_only)
    code, out, err = _cli(capsys, monkeypatch, "keys", "rotate")
    assert code == 1, out
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Read-only file system" in err and str(path) in err and str(pending) in err
    assert "relaykit keys rotate" in err  # the fix: run it again
    assert path.read_text() == old and pending.exists()
    new = pending.read_text().strip()
    assert new not in err and old.strip() not in err
    # nothing lost: the keys are read (with either key), and stored
    code, out, _ = _cli(capsys, monkeypatch, "keys", "list")
    assert code == 0 and "openai" in out
    assert _cli(capsys, monkeypatch, "keys", "set", "groq", stdin=GROQ_KEY)[0] == 0
    monkeypatch.setattr(os, "replace", real_replace)
    code, out, _ = _cli(capsys, monkeypatch, "keys", "rotate")
    assert code == 0 and "re-encrypted 2 keys" in out
    assert path.read_text().strip() == new and not pending.exists()
    master = load_master_key(os.environ)
    assert master is not None and master.fallbacks == ()

    async def stored() -> dict[str, Secret]:
        storage = SQLiteStorage(_db())
        try:
            return await KeyVault(storage, master).keys()
        finally:
            await storage.aclose()

    assert anyio.run(stored) == {"openai": Secret(OPENAI_KEY), "groq": Secret(GROQ_KEY)}


def test_a_new_master_key_variable_beside_a_key_file_is_refused_naming_both(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a key file, rotation generates the new key (docs/storage.md): a
    $RELAYKIT_NEW_MASTER_KEY set meanwhile was ignored without a word, and the
    vault moved to a key other than the one its owner had chosen."""
    assert _cli(capsys, monkeypatch, "keys", "set", "openai", stdin=OPENAI_KEY)[0] == 0
    path = key_file(os.environ)
    old = path.read_text()
    chosen = generate_key().reveal()
    monkeypatch.setenv(NEW_MASTER_KEY_ENV, chosen)
    code, out, err = _cli(capsys, monkeypatch, "keys", "rotate")
    assert code == 1, out
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert NEW_MASTER_KEY_ENV in err and str(path) in err and MASTER_KEY_ENV in err
    assert chosen not in err and old.strip() not in err
    assert path.read_text() == old and not path.with_name("master.key.new").exists()
    monkeypatch.delenv(NEW_MASTER_KEY_ENV)
    code, out, _ = _cli(capsys, monkeypatch, "keys", "list")
    assert code == 0 and "openai" in out
