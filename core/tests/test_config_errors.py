"""Config errors say which key, what was given, what is expected, and where it came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import ConfigError
from relaykit.config import load_config


def error(data: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(data, env=env or {})
    return str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"retry": {"attempts": "many"}}, "retry.attempts must be an integer, not str 'many'"),
        ({"retry": {"attempts": 2.5}}, "retry.attempts must be an integer, not float 2.5"),
        ({"timeouts": {"total": "soon"}}, "timeouts.total must be a number, not str 'soon'"),
        ({"timeouts": {"total": True}}, "timeouts.total must be a number, not bool True"),
        ({"cache": {"enabled": 1}}, "cache.enabled must be true or false, not int 1"),
        ({"storage": {"path": 5}}, "storage.path must be a string, not int 5"),
        ({"storage": {"retention_days": [1]}}, "storage.retention_days must be a number"),
        ({"limiter": {"backend": ["redis"]}}, "limiter.backend must be a string, not list"),
    ],
)
def test_a_wrong_type_names_the_key_the_type_given_and_the_type_expected(
    data: dict[str, Any], message: str
) -> None:
    assert message in error(data)


def test_a_choice_outside_its_literal_names_the_choices_and_the_nearest() -> None:
    text = error({"http": {"transport": "httpx2"}})
    assert "http.transport must be one of 'auto', 'httpx', not 'httpx2'" in text
    assert "did you mean 'httpx'?" in text


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (
            {"weights": 3},
            "models.fast.weights must be a list of numbers, one per target, not int 3",
        ),
        ({"weights": ["a", "b"]}, "models.fast.weights must be a list of numbers"),
        ({"weights": [1]}, "models.fast.weights needs one weight per target"),
    ],
)
def test_route_weights_of_the_wrong_type_are_config_errors(
    route: dict[str, Any], message: str
) -> None:
    assert message in error({"models": {"fast": {"targets": ["a/x", "b/y"], **route}}})


def test_a_bad_budget_names_its_limits_table() -> None:
    text = error({"limits": {"openai/*": {"budget_usd": "lots"}}})
    assert "limits.openai/*.budget_usd" in text and "'lots'" in text
    text = error({"limits": {"openai/*": {"period": "week"}}})
    assert "limits.openai/*.period" in text and "'day'" in text


def test_an_unknown_key_is_written_as_it_would_appear_in_the_file() -> None:
    assert "unknown config key retry.atempts (did you mean 'attempts'?)" in error(
        {"retry": {"atempts": 3}}
    )


def test_an_environment_override_that_does_not_parse_names_the_variable() -> None:
    text = error({}, env={"RELAYKIT_RETRY_ATTEMPTS": "abc"})
    assert "RELAYKIT_RETRY_ATTEMPTS" in text
    assert "retry.attempts must be an integer, not str 'abc'" in text
    text = error({}, env={"RELAYKIT_CACHE_ENABLED": "maybe"})
    assert "RELAYKIT_CACHE_ENABLED" in text and "true or false" in text


def test_a_misspelt_environment_override_names_the_nearest_variable() -> None:
    text = error({}, env={"RELAYKIT_RETRY_ATEMPTS": "5"})
    assert "RELAYKIT_RETRY_ATEMPTS" in text
    assert "did you mean RELAYKIT_RETRY_ATTEMPTS?" in text


def test_variables_that_are_not_overrides_are_left_alone() -> None:
    env = {
        "RELAYKIT_PLUGINS": "openai",
        "RELAYKIT_MASTER_KEY": "x",
        "RELAYKIT_POSTGRES_DSN": "postgresql://localhost/x",
        "RELAYKIT_RETRY_ATTEMPTS": "5",
    }
    assert load_config({}, env=env).retry.attempts == 5


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("retry", "attempts", 0, ">= 1"),
        ("retry", "initial_wait", -1, ">= 0"),
        ("retry", "max_wait", float("nan"), ">= 0"),
        ("breaker", "failures", -1, ">= 1"),
        ("breaker", "reset_after", -5, ">= 0"),
        ("timeouts", "total", -1, "> 0"),
        ("timeouts", "connect", 0, "> 0"),
        ("storage", "queue_size", 0, ">= 1"),
        ("storage", "batch_size", -1, ">= 1"),
        ("storage", "retention_days", -1, "> 0"),
        ("cache", "ttl", -5, ">= 0"),
        ("validation", "max_chars", -1, ">= 1"),
        ("http", "max_connections", 0, ">= 1"),
        ("registry", "ttl", -1, ">= 0"),
    ],
)
def test_a_number_out_of_range_names_the_key_and_the_range(
    section: str, key: str, value: float, expected: str
) -> None:
    """These were taken as they were: attempts = 0 still called once, a negative
    timeout failed every call as timed out, a negative max_chars refused every prompt."""
    text = error({section: {key: value}})
    assert f"config key {section}.{key} must be {expected}, not {value!r}" in text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("rpm", -1, ">= 1"), ("tpm", -5, ">= 1"), ("rpm", 0, ">= 1"), ("tpm", 0, ">= 1")],
)
def test_a_limit_out_of_range_names_its_limits_table(key: str, value: int, expected: str) -> None:
    """A negative rpm/tpm was taken (the limiter then let every call through), and so
    was 0, which the limiters read as no limit at all: refused, with how to say either."""
    text = error({"limits": {"openai/*": {key: value}}})
    assert f"config key limits.openai/*.{key} must be {expected}, not {value!r}" in text
    assert f"leave {key} out for no limit" in text and "budget_usd = 0" in text


def test_a_negative_budget_is_refused() -> None:
    text = error({"limits": {"openai/*": {"budget_usd": -1}}})
    assert "limits.openai/*.budget_usd must be a finite number >= 0, not -1" in text


def test_a_number_out_of_range_from_the_environment_names_the_variable() -> None:
    text = error({}, env={"RELAYKIT_RETRY_ATTEMPTS": "0"})
    assert text.startswith("environment variable RELAYKIT_RETRY_ATTEMPTS: config key retry.")


def test_the_edges_of_each_range_are_accepted() -> None:
    config = load_config(
        {
            "retry": {"attempts": 1, "initial_wait": 0, "max_wait": 0, "max_retry_after": 0},
            "breaker": {"failures": 1, "reset_after": 0, "cool_down": 0},
            "timeouts": {"total": float("inf")},
            "cache": {"ttl": 0, "max_entries": 0},
        },
        env={},
    )
    assert config.retry.attempts == 1 and config.timeouts.total == float("inf")


def test_a_config_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    """``relaykit -c ~/.config/relaykit`` (the folder, not the file in it) raised
    IsADirectoryError, a traceback on the command line."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={})
    text = str(info.value)
    assert f"config file {tmp_path} is a directory" in text
    assert "relaykit.toml" in text  # the fix: name the file in it


def test_a_config_path_under_a_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"cannot be read .*Not a directory"):
        load_config(blocker / "relaykit.toml", env={})


def test_a_missing_config_file_says_what_to_check(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "relaykit.tmol", env={})
    assert "does not exist (check the path" in str(info.value)


def test_relaykit_config_naming_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"RELAYKIT_CONFIG": str(tmp_path)})
    assert f"RELAYKIT_CONFIG points to {tmp_path}, a directory" in str(info.value)
    assert "name the config file itself" in str(info.value)


# -- values that used to escape as bare TypeError / OverflowError / ValueError ------

#: an integer TOML reads (tomllib takes any size) that no float holds
HUGE = 10**400


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"timeouts": {"total": HUGE}}, "timeouts.total"),
        ({"retry": {"initial_wait": -HUGE}}, "retry.initial_wait"),
        ({"registry": {"ttl": HUGE}}, "registry.ttl"),
        ({"limits": {"openai/*": {"rpm": HUGE}}}, "limits.openai/*.rpm"),
        ({"storage": {"queue_size": HUGE}}, "storage.queue_size"),
        ({"models": {"m": {"targets": ["a/x", "b/y"], "hedge_after": HUGE}}}, "hedge_after"),
        ({"models": {"m": {"targets": ["a/x", "b/y"], "weights": [HUGE, 1]}}}, "weights"),
    ],
)
def test_a_number_too_large_for_its_key_is_a_config_error(data: dict[str, Any], where: str) -> None:
    """OverflowError ("int too large to convert to float") came out of load_config, or
    out of the client's limiter when it was built."""
    text = error(data)
    assert where in text and "too large" in text
    assert str(HUGE) not in text  # four hundred digits help no one


def test_the_largest_toml_integer_is_taken() -> None:
    config = load_config({"limits": {"openai/*": {"rpm": 2**63 - 1}}}, env={})
    assert config.limits["openai/*"].rpm == 2**63 - 1


@pytest.mark.parametrize("targets", [True, 5, 1.5, {"a/x": 1}])
def test_route_targets_that_are_no_list_are_a_config_error(targets: Any) -> None:
    """targets = true raised TypeError: 'bool' object is not iterable."""
    text = error({"models": {"fast": {"targets": targets}}})
    assert "models.fast.targets must list model ids" in text


@pytest.mark.parametrize(
    "weights",
    [[0, 0], [-1, 2], [float("nan"), 1], [float("inf"), 1]],
    ids=["all-zero", "negative", "nan", "inf"],
)
def test_route_weights_no_draw_can_use_are_a_config_error(weights: list[float]) -> None:
    """Taken by load_config, then every call of the route raised random's ValueError
    ("Total of weights must be greater than zero", "... must be finite")."""
    route = {"targets": ["a/x", "b/y"], "strategy": "weighted", "weights": weights}
    text = error({"models": {"fast": route}})
    assert "models.fast.weights" in text
    assert "finite numbers >= 0, at least one of them above 0" in text


def test_a_nan_hedge_delay_is_a_config_error() -> None:
    text = error({"models": {"fast": {"targets": ["a/x", "b/y"], "hedge_after": float("nan")}}})
    assert "models.fast.hedge_after must be seconds (a number) or 'p95'" in text


@pytest.mark.parametrize("value", [True, None, 5, {"user": 1}])
def test_log_metadata_that_is_no_list_is_a_config_error(value: Any) -> None:
    """log_metadata = true raised TypeError: 'bool' object is not iterable."""
    text = error({"telemetry": {"log_metadata": value}})
    assert "telemetry.log_metadata must list metadata names" in text


def test_log_metadata_as_a_string_is_names_separated_by_commas() -> None:
    """A string was split into its letters: log_metadata = "user" logged the metadata
    named u, s, e and r; and RELAYKIT_TELEMETRY_LOG_METADATA (always a string) could
    name no metadata at all."""
    assert load_config({"telemetry": {"log_metadata": "user"}}, env={}).telemetry.log_metadata == (
        "user",
    )
    env = {"RELAYKIT_TELEMETRY_LOG_METADATA": "user, gateway_key"}
    assert load_config({}, env=env).telemetry.log_metadata == ("user", "gateway_key")


@pytest.mark.parametrize(("section", "key"), [("cache", "memory_mb"), ("redaction", "memo_mb")])
def test_a_memory_bound_too_large_to_count_is_a_client_not_an_overflow(
    section: str, key: str, closed_after: Callable[[relaykit.Client], relaykit.Client]
) -> None:
    """memory_mb = 1e308 passed the checks, and then OverflowError came out of building
    the client ("cannot convert float infinity to integer")."""
    closed_after(relaykit.Client({section: {key: 1e308}, "storage": {"backend": "none"}}, env={}))


@pytest.mark.parametrize("config", [5, True, ["relaykit.toml"], b"relaykit.toml"])
def test_a_config_of_no_kind_load_config_takes_is_a_config_error(config: Any) -> None:
    """``Client(config=b"relaykit.toml")`` and the like raised pathlib's TypeError."""
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert f"not {type(config).__name__}" in str(info.value)
    assert "a dict, a path to a TOML file" in str(info.value)


def test_a_config_path_holding_a_nul_is_a_config_error() -> None:
    """Python refuses such a path with ValueError ("embedded null byte")."""
    with pytest.raises(ConfigError) as info:
        load_config("relaykit.toml\x00", env={})
    assert "config file 'relaykit.toml\\x00' cannot be read (the path holds" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [{5: {}}, {"providers": {5: {}}}, {"limits": {5: {"rpm": 1}}}, {"prices": {5: {"input": 1}}}],
    ids=["top", "providers", "limits", "prices"],
)
def test_a_dict_config_with_a_key_that_is_no_string_is_a_config_error(
    data: dict[Any, Any],
) -> None:
    """A dict config keyed by a number raised TypeError from difflib, or from ``in``."""
    assert "must be a string, not int 5" in error(data)


def test_an_override_of_a_section_that_is_no_table_is_refused_as_the_section() -> None:
    """{"retry": None} with $RELAYKIT_RETRY_ATTEMPTS raised TypeError (item assignment)."""
    text = error({"retry": None}, env={"RELAYKIT_RETRY_ATTEMPTS": "2"})
    assert "config key 'retry' must be a table" in text


def test_an_infinite_retention_is_a_config_error_saying_to_leave_it_out() -> None:
    """retention_days = inf passed the range check (> 0), and the client's first prune
    raised OverflowError ("cannot convert float infinity to integer")."""
    text = error({"storage": {"retention_days": float("inf")}})
    assert "storage.retention_days must be a finite number of days, not inf" in text
    assert "leave it out to keep every record" in text


@pytest.mark.parametrize("key", ["context_window_fallbacks", "content_policy_fallbacks"])
@pytest.mark.parametrize(
    ("value", "said"),
    [
        (5, "models.small.{key} must list model ids, not int 5"),
        ({"a": "b"}, "must list model ids, not dict"),
        (["big"], "names 'big', which is not a model id like 'openai/gpt-4.1'"),
        (["openai/"], "names 'openai/', which is not a model id"),
        (["b/y", "a/x"], "names 'a/x', a target of the route itself"),
    ],
)
def test_route_fallbacks_that_are_no_model_ids_are_a_config_error(
    key: str, value: Any, said: str
) -> None:
    text = error({"models": {"small": {"targets": ["a/x"], key: value}}})
    assert said.format(key=key) in text
    if value == ["big"]:  # an alias: its own route would decide when to fall back
        assert "for an alias under [models], list its targets" in text
    if value == ["b/y", "a/x"]:  # the fix says what the list is for
        assert ("larger context window" if key.startswith("context") else "filters") in text


@pytest.mark.parametrize("key", ["context_window_fallbacks", "content_policy_fallbacks"])
def test_route_fallbacks_as_one_model_id_are_a_list_of_it(key: str) -> None:
    route = {"targets": ["a/x"], key: "openai/gpt-4.1"}
    config = load_config({"models": {"small": route}}, env={})
    assert getattr(config.models["small"], key) == ("openai/gpt-4.1",)


def test_a_misspelt_route_fallbacks_key_names_the_nearest() -> None:
    text = error({"models": {"small": {"targets": ["a/x"], "content_policy_fallback": "b/y"}}})
    assert "content_policy_fallback" in text and "did you mean 'content_policy_fallbacks'" in text


def test_a_variable_reference_as_a_provider_api_key_is_refused_naming_api_key_env() -> None:
    """``${VAR}`` is read in [mcp.servers] tables, so users write it here too: it was
    sent to the vendor as the key itself (a 401 that named no cause)."""
    with pytest.raises(ConfigError) as info:
        load_config({"providers": {"openai": {"api_key": " ${OPENAI_API_KEY} "}}})
    assert "providers.openai.api_key" in info.value.message
    assert "${OPENAI_API_KEY}" in info.value.message  # a variable's name, never a key
    assert info.value.hint == "api_key_env = 'OPENAI_API_KEY' reads the key from that variable"


def test_a_variable_reference_in_a_provider_header_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            {"providers": {"gw": {"type": "openai", "headers": {"X-Team": "t-${TEAM_ID}"}}}}
        )
    assert "providers.gw.headers.X-Team" in info.value.message
    assert "${TEAM_ID}" in info.value.message and info.value.hint


def test_a_dollar_sign_that_is_no_variable_reference_is_kept() -> None:
    cfg = load_config(
        {"providers": {"openai": {"api_key": "sk-a$b{c}", "headers": {"X-Price": "$5 {x}"}}}}
    )
    assert cfg.providers["openai"].api_key is not None
    assert cfg.providers["openai"].api_key.reveal() == "sk-a$b{c}"
    assert cfg.providers["openai"].headers == {"X-Price": "$5 {x}"}


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize("key", ["storage.path", "storage.spill_path", "http.ca_file"])
def test_a_blank_file_path_is_refused_naming_the_key(blank: str, key: str) -> None:
    """``path = "  "`` created a SQLite file named two spaces in the working
    directory; ``""`` (a variable left unset) fell back to the default file without
    a word."""
    section, name = key.split(".")
    with pytest.raises(ConfigError) as info:
        load_config({section: {name: blank}})
    assert f"config key {key} is blank" in info.value.message
    assert info.value.hint and "leave it out" in info.value.hint
    variable = f"RELAYKIT_{section.upper()}_{name.upper()}"
    with pytest.raises(ConfigError, match=f"^environment variable {variable}: config key {key}"):
        load_config({}, env={variable: blank})
