"""What a kept response's entry in a shared store holds, read back by another process's
:class:`KeptResponses` (``relaykit.testing.MemoryStorage`` as the store; the real Redis is
in test_kept_responses_redis.py): sealed for its caller's key, a miss for anyone else."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from relaykit import (
    CachePoint,
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
)
from relaykit.key_vault import MASTER_KEY_ENV
from relaykit.secrets import Secret
from relaykit.testing import MemoryStorage
from relaykit_gateway.kept_responses import KeptResponses
from relaykit_gateway.keys import GatewayKeys
from relaykit_gateway.response_store import ResponseStore
from relaykit_gateway.sealed_entries import Seal, seals
from relaykit_gateway.testing import KEY, KEYS

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n fake"
PDF = b"%PDF-1.4 fake"
#: a conversation with a part of every kind relaykit has
CONVERSATION = (
    Message.system("Be brief."),
    Message("user", (TextPart("look"), ImagePart(data=PNG, media_type="image/png"), CachePoint())),
    Message("user", (DocumentPart(data=PDF, name="a.pdf"), DocumentPart(url="https://x/b.txt"))),
    Message(
        "assistant",
        (
            ReasoningPart("thinking", signature="sig", origin="anthropic"),
            ReasoningPart(redacted="enc", origin="openai-responses"),
            ToolCall("t1", "chart", {"n": 1}),
        ),
    ),
    Message("tool", (ToolResultPart("t1", "done", attachments=(ImagePart(url="https://x/c"),)),)),
    Message.assistant("All done."),
)
#: what must never be readable in the store
MARKER, FAKE_SECRET = "marker-7f3a9c", "sk-proj-FAKEsecret0123456789abcdef"
#: alice's and bob's seals (:data:`KEYS`), and a keyless gateway's under a master key
SEALS = seals(KEYS) | {None: Seal.of(Secret("master-0123456789abcdef0123456789"))}


def kept_key(owner: str | None, response_id: str, kind: str = "kept") -> str:
    return SEALS[owner].store_key(kind, owner, response_id)


def processes(
    store: MemoryStorage, max_shared_bytes: int | None = None
) -> tuple[KeptResponses, KeptResponses]:
    """Two processes' kept responses: each its own memory, one store, the same keys."""
    return (
        KeptResponses(ResponseStore(), store, seals=SEALS, max_shared_bytes=max_shared_bytes),
        KeptResponses(ResponseStore(), store, seals=SEALS, max_shared_bytes=max_shared_bytes),
    )


def another_process(store: MemoryStorage) -> KeptResponses:
    return KeptResponses(ResponseStore(), store, seals=SEALS)


async def test_every_kind_of_part_comes_back_from_the_store_as_it_went_in() -> None:
    store = MemoryStorage()
    first, second = processes(store)
    body = {"id": "resp_1", "object": "response", "output": [{"type": "message"}]}
    await first.put("alice", "resp_1", CONVERSATION, body)
    assert await second.get("alice", "resp_1") == CONVERSATION
    assert await second.response("alice", "resp_1") == body
    assert first.memory_only == 0


async def test_the_store_holds_ciphertext_named_by_nothing_it_kept() -> None:
    store = MemoryStorage()
    first, _ = processes(store)
    said = Message.user(f"{MARKER}: my key is {FAKE_SECRET}")
    await first.put("alice", "resp_secret", (said,), {"id": "resp_secret", "note": MARKER})
    ((name, (_, text)),) = store.responses.items()
    for plain in (MARKER, FAKE_SECRET, "alice", "resp_secret", "user"):
        assert plain not in name and plain not in text
    assert text.startswith("2:")  # the format, and base64 alone after it


async def test_a_conversation_past_the_stores_limit_is_kept_in_memory_only() -> None:
    store = MemoryStorage()
    first, second = processes(store, max_shared_bytes=1024)
    small, big = (Message.user("hi"),), (Message.user("x" * 700),)  # sealed: past 1024
    await first.put(None, "small", small, None)
    await first.put(None, "big", big, None)
    assert first.memory_only == 1 and len(store.responses) == 1
    assert await second.get(None, "small") == small and await second.get(None, "big") is None
    assert await first.get(None, "big") == big


async def test_another_owners_another_ids_and_another_formats_entries_are_misses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStorage()
    first, second = processes(store)
    await first.put("alice", "r", CONVERSATION, None)
    assert await second.get("bob", "r") is None and await second.get(None, "r") is None
    kept = store.responses[kept_key("alice", "r")]
    # alice's entry copied to where bob's, or alice's other id's, would be: it does not open
    store.responses[kept_key("bob", "r")] = kept
    store.responses[kept_key("alice", "other")] = kept
    with caplog.at_level(logging.WARNING, "relaykit.gateway"):
        assert await another_process(store).get("bob", "r") is None
        assert await another_process(store).get("alice", "other") is None
    assert [r.getMessage() for r in caplog.records] == [
        "a kept response in the shared store did not open (InvalidTag): a miss"
    ] * 2
    # the plain entry of an older gateway, and one sealed by a gateway of another format
    plain = json.dumps({"format": 1, "owner": "alice", "id": "r", "conversation": []})
    older = json.dumps({"format": 3, "owner": "alice", "id": "r", "conversation": []})
    sealed_older = SEALS["alice"].seal(older.encode(), "kept", "alice", "r")
    for text in (plain, sealed_older, "not an entry"):
        store.responses[kept_key("alice", "r")] = (kept[0], text)
        assert await another_process(store).get("alice", "r") is None
    store.responses[kept_key("alice", "r")] = kept
    assert await second.get("alice", "r") == CONVERSATION  # now in second's memory too
    await first.delete("alice", "r")
    assert await second.get("alice", "r") is None and await first.get("alice", "r") is None
    assert await another_process(store).get("alice", "r") is None


async def test_a_flipped_byte_is_a_miss_logged_by_its_type_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStorage()
    first, _ = processes(store)
    await first.put("alice", "r", (Message.user(MARKER),), None)
    expires, text = store.responses[kept_key("alice", "r")]
    middle = len(text) // 2
    flipped = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    store.responses[kept_key("alice", "r")] = (expires, flipped)
    with caplog.at_level(logging.DEBUG, "relaykit"):
        assert await another_process(store).get("alice", "r") is None
    assert "InvalidTag" in caplog.text and flipped not in caplog.text
    assert await first.get("alice", "r") == (Message.user(MARKER),)  # its memory copy stands


async def test_a_key_given_a_new_value_misses_what_the_old_value_kept() -> None:
    store = MemoryStorage()
    first, _ = processes(store)
    await first.put("alice", "r", CONVERSATION, None)
    rotated = seals(GatewayKeys.parse("alice=gw-alice-a-brand-new-value-0123"))
    after = KeptResponses(ResponseStore(), store, seals=rotated)
    assert await after.get("alice", "r") is None  # a miss: nothing found under its names
    await after.delete("alice", "r")  # nor does its delete reach the old value's entry
    assert await another_process(store).get("alice", "r") == CONVERSATION


async def test_an_owner_without_a_seal_keeps_its_responses_in_memory_alone() -> None:
    store = MemoryStorage()
    unsealed = KeptResponses(ResponseStore(), store, seals={})
    await unsealed.put(None, "r", CONVERSATION, None)
    await unsealed.delete(None, "r")
    await unsealed.put(None, "s", CONVERSATION, None)
    assert store.responses == {} and not unsealed.shares(None)
    assert await unsealed.get(None, "s") == CONVERSATION and unsealed.memory_only == 0


def test_without_gateway_keys_only_the_vaults_master_key_seals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_keys = GatewayKeys()
    config_home = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert seals(no_keys, config_home) == {}  # and no master.key is created
    assert not (tmp_path / "relaykit").exists()
    assert set(seals(no_keys, config_home | {MASTER_KEY_ENV: "m" * 44})) == {None}
    (tmp_path / "relaykit").mkdir()
    (tmp_path / "relaykit" / "master.key").write_text("f" * 44 + "\n")
    (tmp_path / "relaykit" / "master.key").chmod(0o600)
    assert set(seals(no_keys, config_home)) == {None}
    # with keys, each key seals its own, and the master key plays no part
    assert set(seals(KEYS, config_home)) == {"alice", "bob"}


def test_a_seal_shows_no_secret() -> None:
    shown = repr(SEALS["alice"]) + str(SEALS["alice"])
    assert KEY not in shown and "aead" not in shown and "naming" not in shown
