"""What a kept response's entry in a shared store holds, read back by another process's
:class:`KeptResponses` (``relaykit.testing.MemoryStorage`` as the store; the real Redis is
in test_kept_responses_redis.py)."""

from __future__ import annotations

import json

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
from relaykit.testing import MemoryStorage
from relaykit_gateway.kept_responses import KeptResponses, _key
from relaykit_gateway.response_store import ResponseStore

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


def processes(store: MemoryStorage, **options: int) -> tuple[KeptResponses, KeptResponses]:
    """Two processes' kept responses: each its own memory, one store."""
    return (
        KeptResponses(ResponseStore(), store, **options),
        KeptResponses(ResponseStore(), store, **options),
    )


async def test_every_kind_of_part_comes_back_from_the_store_as_it_went_in() -> None:
    store = MemoryStorage()
    first, second = processes(store)
    body = {"id": "resp_1", "object": "response", "output": [{"type": "message"}]}
    await first.put("alice", "resp_1", CONVERSATION, body)
    assert await second.get("alice", "resp_1") == CONVERSATION
    assert await second.response("alice", "resp_1") == body
    assert first.memory_only == 0


async def test_a_conversation_past_the_stores_limit_is_kept_in_memory_only() -> None:
    store = MemoryStorage()
    first, second = processes(store, max_shared_bytes=1024)
    small, big = (Message.user("hi"),), (Message.user("x" * 1024),)
    await first.put(None, "small", small, None)
    await first.put(None, "big", big, None)
    assert first.memory_only == 1 and len(store.responses) == 1
    assert await second.get(None, "small") == small and await second.get(None, "big") is None
    assert await first.get(None, "big") == big


async def test_another_owners_another_formats_and_a_deleted_entry_are_misses() -> None:
    store = MemoryStorage()
    first, second = processes(store)
    await first.put("alice", "r", CONVERSATION, None)
    assert await second.get("bob", "r") is None and await second.get(None, "r") is None
    # an entry under alice's key that names someone else, or another format
    expires, text = store.responses[_key("kept", "alice", "r")]
    for changed in ({"owner": "bob"}, {"format": 2}, {"id": "other"}):
        store.responses[_key("kept", "alice", "r")] = (
            expires,
            json.dumps(json.loads(text) | changed),
        )
        assert await KeptResponses(ResponseStore(), store).get("alice", "r") is None
    store.responses[_key("kept", "alice", "r")] = (expires, "not json")
    assert await KeptResponses(ResponseStore(), store).get("alice", "r") is None
    store.responses[_key("kept", "alice", "r")] = (expires, text)
    assert await second.get("alice", "r") == CONVERSATION  # now in second's memory too
    await first.delete("alice", "r")
    assert await second.get("alice", "r") is None and await first.get("alice", "r") is None
    assert "Be brief" not in store.responses[_key("kept", "alice", "r")][1]
