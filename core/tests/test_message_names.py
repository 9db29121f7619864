"""A message's participant ``name`` (OpenAI's ``{"role": "user", "name": "alice"}``):
read, checked, kept in the cache key, records, JSON and ``relaykit logs``, never
dropped without a word."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Message, TextPart, ToolCall
from relaykit.cli import main
from relaykit.messages import coerce_messages, refuse_names
from relaykit.request import build_request
from relaykit.response_cache import canonical_request
from relaykit.serialization import from_json, to_json
from relaykit.testing import FakePlugin, MemoryStorage

#: a key as users paste them: a name holding one is redacted as text is
SECRET = "sk-proj-" + "Zz9" * 8


def test_a_dicts_name_is_read_and_a_message_keeps_it() -> None:
    (m,) = coerce_messages([{"role": "user", "name": "alice", "content": "hi"}])
    assert (m.role, m.name, m.content) == ("user", "alice", (TextPart("hi"),))
    parts = [{"type": "text", "text": "hi"}]
    (m,) = coerce_messages([{"role": "assistant", "name": "bot-1", "content": parts}])
    assert m.name == "bot-1"
    assert Message.user("hi", name="alice").name == "alice"
    assert Message.system("be brief", name="rules").name == "rules"
    assert Message.assistant("ok", name="helper").name == "helper"
    assert Message.user("hi").name is None
    # a developer message (OpenAI's newer system) keeps it too
    (m,) = coerce_messages([{"role": "developer", "name": "ops", "content": "x"}])
    assert (m.role, m.name) == ("system", "ops")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("alice smith", "1 to 64 characters"),
        ("a<b", "1 to 64 characters"),
        ("a/b", "1 to 64 characters"),
        ("", "1 to 64 characters"),
        ("x" * 65, "65 characters"),
        (5, "must be a str, not int"),
    ],
)
def test_a_name_openai_would_refuse_is_refused_before_sending(name: Any, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words) as caught:
        coerce_messages(
            [{"role": "user", "content": "hi"}, {"role": "user", "name": name, "content": "x"}]
        )
    assert caught.value.param == "messages[1].name"
    assert "leave `name` out" in str(caught.value.hint)
    with pytest.raises(InvalidRequestError):
        coerce_messages([Message("user", "x", name=name)])


def test_a_name_is_not_shown_in_the_error() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        coerce_messages([{"role": "user", "name": "Alice Secretname", "content": "x"}])
    assert "Secretname" not in str(caught.value)


def test_a_tool_messages_name_must_be_its_calls_tool() -> None:
    call = ToolCall("c1", "get_weather", {"city": "Oslo"})
    history: list[Any] = [Message.user("weather?"), Message.assistant(tool_calls=[call])]
    ok = {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "sunny"}
    assert coerce_messages([*history, ok])[-1].name is None  # what the call already says
    wrong = {**ok, "name": "get_time"}
    with pytest.raises(InvalidRequestError, match="'get_weather'") as caught:
        coerce_messages([*history, wrong])
    assert caught.value.param == "messages[2].name"
    # a Message tool turn has no name at all
    with pytest.raises(InvalidRequestError, match="tool message") as caught:
        coerce_messages([*history, Message("tool", Message.tool("c1", "x").content, name="t")])
    assert caught.value.param == "messages[2].name"


def test_an_anthropic_user_turn_keeps_its_name_after_its_tool_results() -> None:
    turn = {
        "role": "user",
        "name": "alice",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "sunny"},
            {"type": "text", "text": "and tomorrow?"},
        ],
    }
    history = [Message.assistant(tool_calls=[ToolCall("c1", "get_weather", {})])]
    *_, rest = coerce_messages([*history, turn])
    assert (rest.role, rest.text, rest.name) == ("user", "and tomorrow?", "alice")
    only_results = {**turn, "content": turn["content"][:1]}
    with pytest.raises(InvalidRequestError, match="name"):
        coerce_messages([*history, only_results])


def test_json_keeps_a_name_and_writes_none_where_there_is_none() -> None:
    named = Message.user("hi", name="alice")
    assert from_json(to_json(named), Message) == named
    assert '"name":"alice"' in to_json(named)
    assert "name" not in to_json(Message.user("hi"))


def test_the_cache_key_tells_names_apart() -> None:
    def key(*messages: Message) -> bytes:
        return canonical_request("p/m", build_request("m", messages, {}))

    plain = key(Message.user("hi"))
    alice = key(Message.user("hi", name="alice"))
    bob = key(Message.user("hi", name="bob"))
    assert len({plain, alice, bob}) == 3
    # nor is a name mistaken for a text part
    assert key(Message.user("hi", name="alice")) != key(Message("user", ("hi", "alice")))


@pytest.mark.anyio
async def test_a_call_record_keeps_the_name_redacted_as_text_is() -> None:
    storage = MemoryStorage()
    config = {"storage": {"backend": "memory"}}
    async with relaykit.Client(config, plugins=[FakePlugin(), storage.plugin()]) as client:
        messages = [
            {"role": "user", "name": "alice", "content": "hi"},
            {"role": "user", "name": SECRET, "content": "a name that is a key"},
        ]
        await client.chat("fake/m", messages)
    (record,) = storage.records.values()
    assert record.messages[0].name == "alice"
    assert record.messages[1].name is not None and SECRET not in record.messages[1].name
    assert SECRET not in to_json(record)


def test_relaykit_logs_shows_who_spoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "calls.db"}"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    with relaykit.SyncClient(plugins=[FakePlugin()]) as client:
        client.chat("fake/m", [{"role": "user", "name": "alice", "content": "hello there"}])
    assert main(["logs", "--full"], plugins=[FakePlugin()]) == 0
    assert "user (alice): hello there" in capsys.readouterr().out
    assert main(["logs", "--json"], plugins=[FakePlugin()]) == 0
    assert '"name": "alice"' in capsys.readouterr().out


def test_refuse_names_names_the_message_and_the_fix() -> None:
    refuse_names((Message.user("hi"),), "Some API")
    with pytest.raises(InvalidRequestError, match="Some API has no field") as caught:
        refuse_names((Message.user("hi"), Message.user("x", name="bob")), "Some API")
    assert caught.value.param == "messages[1].name"
    assert "say who speaks in the text" in str(caught.value.hint)
