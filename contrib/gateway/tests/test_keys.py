"""Gateway keys: parsed with names, compared in constant time, never shown."""

from __future__ import annotations

import pytest

import relaykit
from relaykit import ConfigError
from relaykit_gateway import Gateway, GatewayKeys
from relaykit_gateway.serve import check_exposure, is_loopback

ALICE = "gw-alice-0123456789abcdef"
BOB = "gw-bob-0123456789abcdef"


def test_keys_are_named_or_numbered_and_found_by_value() -> None:
    keys = GatewayKeys.parse(f" alice = {ALICE} , {BOB} ,")
    assert [name for name, _ in keys.keys] == ["alice", "key2"]
    assert keys.name_of(ALICE) == "alice"
    assert keys.name_of(BOB) == "key2"
    assert keys.name_of(ALICE[:-1]) is None
    assert keys.name_of(ALICE + "x") is None
    assert keys.name_of("") is None


def test_no_keys_is_falsy_and_read_from_the_environment() -> None:
    assert not GatewayKeys.parse("")
    assert not GatewayKeys.from_env({})
    assert GatewayKeys.from_env({"RELAYKIT_GATEWAY_KEYS": f"alice={ALICE}"}).name_of(ALICE)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (f"alice={ALICE},bob=too-short", "key 2 of 2"),
        (f"={ALICE}", "empty name"),
        (f"alice={ALICE},alice={BOB}", "'alice' is used twice"),
    ],
)
def test_bad_keys_are_config_errors_that_never_show_a_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        GatewayKeys.parse(text)
    message = str(caught.value)
    assert needle in message
    for secret in (ALICE, BOB, "too-short"):
        assert secret not in message


def test_the_keys_repr_hides_them() -> None:
    keys = GatewayKeys.parse(f"alice={ALICE}")
    assert ALICE not in repr(keys)
    assert ALICE not in str(keys)
    assert "alice" in repr(keys)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("gateway.internal", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_gateway_without_keys_may_not_listen_beyond_this_machine() -> None:
    client = relaykit.Client({"storage": {"backend": "none"}})
    open_gateway = Gateway(client, keys=GatewayKeys())
    check_exposure(open_gateway, "127.0.0.1")
    with pytest.raises(ConfigError, match="no keys"):
        check_exposure(open_gateway, "0.0.0.0")
    check_exposure(Gateway(client, keys=GatewayKeys.parse(ALICE)), "0.0.0.0")
