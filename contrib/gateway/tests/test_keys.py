"""Gateway keys: parsed with names, compared in constant time, never shown."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import relaykit
from relaykit import ConfigError
from relaykit_gateway import Gateway, GatewayKeys
from relaykit_gateway.server import check_exposure, is_loopback

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


def test_a_gateway_without_keys_may_not_listen_beyond_this_machine(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}))
    open_gateway = Gateway(client, keys=GatewayKeys())
    check_exposure(open_gateway, "127.0.0.1")
    with pytest.raises(ConfigError, match="no keys"):
        check_exposure(open_gateway, "0.0.0.0")
    check_exposure(Gateway(client, keys=GatewayKeys.parse(ALICE)), "0.0.0.0")


# -- the models each key may use ----------------------------------------------------


def test_key_models_are_patterns_by_key_name() -> None:
    keys = GatewayKeys.parse(f"alice={ALICE},bob={BOB}", " alice = openai/gpt-4o-mini , fast ; ")
    assert keys.models == {"alice": ("openai/gpt-4o-mini", "fast")}
    assert keys.allows("alice", "fast") and keys.allows("alice", "openai/gpt-4o-mini")
    assert not keys.allows("alice", "openai/gpt-4o")
    assert keys.allows("bob", "anything/at-all")  # a key not named may use every model
    assert keys.allows(None, "anything/at-all")  # no keys: no limits
    both = {"RELAYKIT_GATEWAY_KEYS": f"alice={ALICE}", "RELAYKIT_GATEWAY_KEY_MODELS": "alice=*/m"}
    assert GatewayKeys.from_env(both).models == {"alice": ("*/m",)}


@pytest.mark.parametrize(
    ("models", "needle"),
    [
        ("carol=openai/*", "names the key 'carol', which is not a gateway key"),
        ("alice", "entry 1 of RELAYKIT_GATEWAY_KEY_MODELS is 'alice'"),
        ("alice=,", "entry 1"),
        ("alice=a/*;alice=b/*", "names the key 'alice' twice"),
    ],
)
def test_bad_key_models_are_config_errors(models: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        GatewayKeys.parse(f"alice={ALICE}", models)


@pytest.mark.anyio
async def test_a_key_uses_only_its_models_on_every_route() -> None:
    import httpx

    from relaykit.testing import FakePlugin
    from relaykit_gateway.testing import running

    fake = FakePlugin()
    keys = GatewayKeys.parse(f"alice={ALICE},bob={BOB}", "alice=fake/small-*,fast")
    config = {
        "storage": {"backend": "none"},
        "providers": {"fake": {}},
        "models": {"fast": {"targets": ["fake/big"]}},
    }
    alice = {"authorization": f"Bearer {ALICE}"}
    bob = {"authorization": f"Bearer {BOB}"}

    def chat(model: str) -> dict[str, object]:
        return {"model": model, "messages": [{"role": "user", "content": "hi"}]}

    async with (
        relaykit.Client(config, plugins=[fake]) as client,
        running(client, keys=keys) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        refused = await http.post("/v1/chat/completions", json=chat("fake/big"), headers=alice)
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["message"] == (
            "the gateway key 'alice' may not use the model 'fake/big'; it may use"
            " fake/small-*, fast: ask the gateway's operator for more"
        )
        for path, body in [
            ("/v1/embeddings", {"model": "fake/emb", "input": "x"}),
            ("/v1/rerank", {"model": "fake/rerank-x", "query": "q", "documents": ["d"]}),
            ("/v1/messages/count_tokens", chat("fake/big")),
        ]:
            assert (await http.post(path, json=body, headers=alice)).status_code == 403
        anthropic = {"x-api-key": ALICE, "anthropic-version": "2023-06-01"}
        messages = {**chat("fake/big"), "max_tokens": 5}
        r = await http.post("/v1/messages", json=messages, headers=anthropic)
        assert (r.status_code, r.json()["error"]["type"]) == (403, "permission_error")
        assert fake.calls == [] and fake.reranks == []  # nothing refused reached a provider
        for model in ("fake/small-1", "fast"):
            r = await http.post("/v1/chat/completions", json=chat(model), headers=alice)
            assert r.status_code == 200
        assert (
            await http.post("/v1/chat/completions", json=chat("fake/big"), headers=bob)
        ).is_success
        listed = (await http.get("/v1/models", headers=alice)).json()["data"]
        assert {m["id"] for m in listed} == {"fast"}  # fake/fake-model is not hers
        everything = (await http.get("/v1/models", headers=bob)).json()["data"]
        assert {m["id"] for m in everything} == {"fast", "fake/fake-model"}
