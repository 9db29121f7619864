"""Configuration: sources in order, environment overrides, errors that name the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import relaykit
from relaykit import ConfigError
from relaykit.config import load_config, user_config_dir
from relaykit.testing import FakePlugin


def test_defaults() -> None:
    cfg = load_config({})
    assert (cfg.retry.attempts, cfg.breaker.failures, cfg.timeouts.first_token) == (3, 5, 60.0)
    assert cfg.storage.backend == "sqlite"


def test_explicit_file_then_env_var_then_cwd_then_user_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    user = user_config_dir()
    user.mkdir(parents=True)
    (user / "relaykit.toml").write_text("[retry]\nattempts = 4\n")
    assert load_config().retry.attempts == 4
    (tmp_path / "relaykit.toml").write_text("[retry]\nattempts = 5\n")
    assert load_config().retry.attempts == 5
    other = tmp_path / "other.toml"
    other.write_text("[retry]\nattempts = 6\n")
    monkeypatch.setenv("RELAYKIT_CONFIG", str(other))
    assert load_config().retry.attempts == 6
    assert load_config({"retry": {"attempts": 7}}).retry.attempts == 7
    assert load_config(other).source == str(other)


def test_environment_overrides_files(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[retry]\nattempts = 2\n[storage]\nbackend = "sqlite"\n')
    cfg = load_config(
        path, env={"RELAYKIT_RETRY_ATTEMPTS": "9", "RELAYKIT_STORAGE_BACKEND": "none"}
    )
    assert cfg.retry.attempts == 9
    assert cfg.storage.backend == "none"


def test_full_example_parses() -> None:
    cfg = load_config(
        {
            "retry": {"attempts": 3, "initial_wait": 0.5, "max_wait": 10, "max_retry_after": 60},
            "breaker": {"failures": 5, "reset_after": 30},
            "timeouts": {"connect": 10, "first_token": 60, "idle": 60, "total": 600},
            "storage": {"backend": "sqlite", "path": "/tmp/x.db"},
            "cache": {"enabled": False, "ttl": 3600},
            "providers": {"openai": {"base_url": "http://x/v1", "api_key_env": "OPENAI_API_KEY"}},
            "models": {
                "fast": {
                    "targets": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"],
                    "strategy": "fallback",
                }
            },
            "limits": {"openai/*": {"rpm": 500, "tpm": 200000}},
            "exporters": {"prometheus": {"port": 9464}},
            "redactors": {"pii": {"enabled": True}},
        }
    )
    assert cfg.models["fast"].targets == ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5")
    assert cfg.limits["openai/*"].tpm == 200000
    assert cfg.exporters["prometheus"] == {"port": 9464}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"retyr": {}}, "unknown config key retyr (did you mean 'retry'?)"),
        (
            {"retry": {"atempts": 3}},
            "unknown config key retry.atempts (did you mean 'attempts'?)",
        ),
        ({"retry": {"attempts": "many"}}, "retry.attempts must be an integer"),
        ({"cache": {"enabled": "perhaps"}}, "cache.enabled must be true or false"),
        ({"retry": 3}, "must be a table"),
        ({"models": {"fast": {"targets": ["gpt-4o"]}}}, "models.fast.targets must list model ids"),
        (
            {"models": {"fast": {"targets": ["a/b"], "strategy": "fallbak"}}},
            "did you mean 'fallback'",
        ),
        ({"redaction": {"memo_mb": -1}}, "redaction.memo_mb must be a number of megabytes >= 0"),
        ({"redaction": {"memo_mb": "lots"}}, "redaction.memo_mb must be a number"),
        ({"redaction": {"memo": 8}}, "unknown config key redaction.memo (did you mean 'memo_mb'?)"),
    ],
)
def test_errors_name_the_key_and_the_fix(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(data)
    assert message in str(info.value)


def test_a_toml_syntax_error_names_the_file_the_line_and_what_to_check(tmp_path: Path) -> None:
    bad = tmp_path / "relaykit.toml"
    bad.write_text("[retry]\nattempts = 3\n\n[providers.local]\napi_key = local-key-1234567890\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    text = str(info.value)
    assert f"{bad}, line 5" in text
    assert "(Invalid value): api_key = …" in text  # the line's key, never its value
    assert "local-key-1234567890" not in text
    assert "quote" in (info.value.hint or "")  # strings need quotes: the usual mistake


def test_a_toml_syntax_error_names_the_column_too(tmp_path: Path) -> None:
    """Line 5 alone left a long inline table or array to be searched by eye."""
    bad = tmp_path / "relaykit.toml"
    bad.write_text('[retry]\non = ["rate_limit", "timeout" "connection"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert f"{bad}, line 2, column 31 is not valid TOML" in info.value.message


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[retry\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="RELAYKIT_CONFIG"):
        load_config(env={"RELAYKIT_CONFIG": str(tmp_path / "missing.toml")})


def test_the_redaction_memo_is_sized_in_megabytes() -> None:
    assert load_config({}).redaction.memo_chars == 8 * 2**20
    assert load_config({"redaction": {"memo_mb": 0.5}}).redaction.memo_chars == 2**19
    env = {"RELAYKIT_REDACTION_MEMO_MB": "0"}
    assert load_config({}, env=env).redaction.memo_chars == 0


def test_api_key_in_config_is_a_secret() -> None:
    cfg = load_config({"providers": {"openai": {"api_key": "sk-live-abcdefghijklmnopqrst"}}})
    assert "abcdefghij" not in repr(cfg)


def test_provider_options_are_checked_against_the_plugin(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    client = closed_after(
        relaykit.Client(
            {
                "storage": {"backend": "none"},
                "providers": {"openai": {"api_key": "k", "organisation": "x"}},
            }
        )
    )
    with pytest.raises(ConfigError, match="did you mean 'organization'"):
        client.provider("openai")


def test_unknown_provider_suggests_the_nearest(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}))
    with pytest.raises(ConfigError, match="did you mean 'openai'"):
        client.provider("opneai")
    with pytest.raises(ConfigError, match="pip install relaykit-zzzz"):
        client.provider("zzzz")


def test_missing_key_names_the_variable(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}, env={}))
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        client.provider("openai")
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}, env={}))
    with pytest.raises(ConfigError, match="set GROQ_API_KEY"):
        client.provider("groq")


def test_key_precedence_config_then_named_variable_then_default_variable(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    env = {"OPENAI_API_KEY": "from-default", "MY_KEY": "from-named"}
    cfg: dict[str, object] = {"storage": {"backend": "none"}}
    _, s = closed_after(relaykit.Client(cfg, env=env))._registry.settings("openai")
    assert s.api_key is not None and s.api_key.reveal() == "from-default"
    cfg["providers"] = {"openai": {"api_key_env": "MY_KEY"}}
    _, s = closed_after(relaykit.Client(cfg, env=env))._registry.settings("openai")
    assert s.api_key is not None and s.api_key.reveal() == "from-named"
    cfg["providers"] = {"openai": {"api_key_env": "MY_KEY", "api_key": "literal"}}
    _, s = closed_after(relaykit.Client(cfg, env=env))._registry.settings("openai")
    assert s.api_key is not None and s.api_key.reveal() == "literal"


def test_base_url_from_vendor_variable_only_for_that_vendor(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    env = {"OPENAI_API_KEY": "k", "GROQ_API_KEY": "g", "OPENAI_BASE_URL": "http://proxy/v1/"}
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}, env=env))
    assert client._registry.settings("openai")[1].base_url == "http://proxy/v1"
    assert client._registry.settings("groq")[1].base_url == "https://api.groq.com/openai/v1"


def test_storage_backend_that_is_not_installed(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    with pytest.raises(ConfigError, match="pip install relaykit-nosuch"):
        closed_after(relaykit.Client({"storage": {"backend": "nosuch"}}))
    # The default backend is only a preference: without its plugin, logging is off.
    closed_after(relaykit.Client({}, plugins=[FakePlugin()]))


def test_the_mcp_table_is_kept_for_its_plugin_and_its_repr_names_servers_only() -> None:
    docs = {"url": "https://mcp.example.com/mcp", "headers": {"X-Token": "tok-5e1f9a7c3b"}}
    config = load_config({"mcp": {"servers": {"docs": docs, "time": {"command": "uvx"}}}}, env={})
    assert config.mcp["servers"]["docs"] == docs  # relaykit-mcp checks it when --mcp is used
    assert "<[mcp] servers: docs, time>" in repr(config)
    assert "tok-5e1f9a7c3b" not in repr(config)
    with pytest.raises(ConfigError, match="config key 'mcp' must be a table"):
        load_config({"mcp": "time"}, env={})


def test_relative_paths_in_a_config_file_are_taken_from_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-c ~/proj/relaykit.toml`` with ``path = "calls.db"``, run from another
    directory, opened (and created) ``./calls.db`` there: an empty log, the keys
    stored beside the config missing, new ones stored where nobody looks."""
    home = tmp_path / "proj"
    home.mkdir()
    config = home / "relaykit.toml"
    config.write_text(
        '[storage]\npath = "calls.db"\nspill_path = "spill/records.jsonl"\n'
        '[http]\nca_file = "../certs/ca.pem"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for cfg in (load_config(config), load_config(env={"RELAYKIT_CONFIG": str(config)})):
        assert cfg.storage.path == str(home / "calls.db")
        assert cfg.storage.spill_path == str(home / "spill" / "records.jsonl")
        assert cfg.http.ca_file == str(home / ".." / "certs" / "ca.pem")


def test_paths_not_relative_to_a_config_file_are_kept_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "sub" / "relaykit.toml"
    config.parent.mkdir()
    config.write_text(f'[storage]\npath = "~/logs.db"\nspill_path = "{tmp_path / "s.jsonl"}"\n')
    cfg = load_config(config)
    assert (cfg.storage.path, cfg.storage.spill_path) == ("~/logs.db", str(tmp_path / "s.jsonl"))
    # A variable is typed in a shell: relative to where the command runs, as a shell's are.
    env = {"RELAYKIT_STORAGE_PATH": "here.db"}
    assert load_config(config, env=env).storage.path == "here.db"
    # A dict has no file to be relative to.
    assert load_config({"storage": {"path": "calls.db"}}).storage.path == "calls.db"
    # ./relaykit.toml: its directory is the working directory already.
    (tmp_path / "relaykit.toml").write_text('[storage]\npath = "calls.db"\n')
    assert Path(load_config(env={}).storage.path or "").resolve() == tmp_path / "calls.db"
