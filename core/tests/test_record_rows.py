"""Rows for SQL backends: what a call added to its chat, and long messages stored once."""

from __future__ import annotations

import json

import pytest

from relaykit.errors import RelayError
from relaykit.messages import Message, ToolCall
from relaykit.protocols import LogQuery, new_messages
from relaykit.record_rows import (
    COLUMNS,
    MESSAGES,
    SHARED_MESSAGE_CHARS,
    RowEncoder,
    message_key,
    message_keys,
    row_to_record,
)
from relaykit.testing.storage_contract import make_record

SYSTEM = Message.system("You are a support assistant. " * 20)  # long: shared
LONG_QUESTION = Message.user("My export to CSV times out with ten thousand rows. " * 8)


def chat(turns: int) -> tuple[Message, ...]:
    """A chat's messages on its turn ``turns`` (from 1): history, then the new question."""
    messages = [SYSTEM]
    for n in range(1, turns):
        messages.append(Message.user(f"question q{n}x " * 30))
        messages.append(Message.assistant(f"answer a{n}x " * 30))
    messages.append(Message.user(f"question q{turns}x " * 30))
    return tuple(messages)


@pytest.mark.parametrize(
    ("roles", "new"),
    [
        ("u", "u"),
        ("su", "su"),  # a first call is new as a whole, system prompt included
        ("suau", "u"),  # a chat's later turn: the new question
        ("suauau", "u"),
        ("suat", "t"),  # a tool loop: the tool's results
        ("suatt", "tt"),
        ("sua", "sua"),  # a prefill: nothing answered yet
        ("suaua", "ua"),  # a later turn with a prefill
        ("", ""),
    ],
)
def test_new_messages_are_those_after_the_last_answered_turn(roles: str, new: str) -> None:
    make = {
        "s": lambda: Message.system("s"),
        "u": lambda: Message.user("u"),
        "a": lambda: Message.assistant("a"),
        "t": lambda: Message.tool("call_1", "t"),
    }
    messages = [make[r]() for r in roles]
    assert "".join(m.role[0] for m in new_messages(messages)) == new


def test_the_prompt_column_holds_only_what_the_call_added() -> None:
    first = dict(zip(COLUMNS, RowEncoder()(make_record(0, messages=chat(1))), strict=True))
    third = dict(zip(COLUMNS, RowEncoder()(make_record(1, messages=chat(3))), strict=True))
    assert first["prompt"] == f"{SYSTEM.text}\n{chat(1)[-1].text}"
    assert third["prompt"] == chat(3)[-1].text


def test_search_matches_a_word_in_the_call_that_said_it() -> None:
    query = LogQuery(text="q1x")
    said, later = make_record(0, messages=chat(1)), make_record(1, messages=chat(2))
    assert query.matches(said)
    assert not query.matches(later)  # history, resent
    assert LogQuery(text="a1x").matches(make_record(2, messages=chat(1), text="answer a1x"))


def test_shared_rows_refer_to_long_repeated_messages_by_key_and_read_back_whole() -> None:
    short = Message.user("hi")
    tools = Message.assistant("", [ToolCall("call_1", "lookup", {"q": "x" * 300})])
    result = Message.tool("call_1", "y" * 300)
    record = make_record(0, messages=(SYSTEM, LONG_QUESTION, short, tools, result, LONG_QUESTION))
    row, shared = RowEncoder().shared(record)
    stored = json.loads(row[MESSAGES])
    assert stored[2] == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    # the system prompt and the long history, tool calls with dict arguments too;
    # not what this call added (the tool's result and the question after it)
    keys = [*stored[:2], stored[3]]
    assert message_keys(row[MESSAGES]) == keys
    assert set(shared) == set(keys)
    assert stored[4]["role"] == "tool" and stored[5]["role"] == "user"
    assert all(len(body) >= SHARED_MESSAGE_CHARS for body in shared.values())
    assert all(message_key(body) == key for key, body in shared.items())
    assert row_to_record(row, shared) == record
    # The whole row, messages inline, is the same record; only the messages column differs.
    whole = RowEncoder()(record)
    assert [a == b for a, b in zip(whole, row, strict=True)].count(False) == 1
    assert row_to_record(whole) == record


def test_a_chat_shares_its_history_between_turns() -> None:
    encoder = RowEncoder()
    shared: dict[str, str] = {}
    sizes = []
    for turn in range(1, 21):
        row, more = encoder.shared(make_record(turn, messages=chat(turn)))
        shared.update(more)
        sizes.append(len(row[MESSAGES]))
        assert row_to_record(row, shared).messages == chat(turn)
    # each message stored once (the last question is new on the last turn),
    # and a row holds a key and a comma for each of the others (34 + 1 characters)
    assert len(shared) == 1 + 2 * 19
    last_question = RowEncoder()(make_record(0, messages=chat(20)[-1:]))[MESSAGES]
    assert sizes[-1] == 35 * (len(chat(20)) - 1) + len(last_question)


def test_a_missing_shared_message_is_a_typed_error_naming_the_key() -> None:
    row, shared = RowEncoder().shared(make_record(0, messages=(SYSTEM,)))
    (key,) = shared
    with pytest.raises(RelayError, match=f"stored message {key} is missing") as info:
        row_to_record(row)
    assert info.value.hint is not None and "backup" in info.value.hint


def test_each_message_is_encoded_once_while_it_keeps_coming_back() -> None:
    encoded: list[object] = []

    def dumps(value: object) -> str:
        encoded.append(value)
        return json.dumps(value)

    encoder = RowEncoder(dumps)
    for turn in range(1, 31):  # 59 messages at the end: more than a count of 256 would hold
        encoder.shared(make_record(turn, messages=chat(turn)))
    messages = [v for v in encoded if isinstance(v, dict) and "role" in v]
    assert len(messages) == len(chat(30))


def test_the_encodings_kept_stay_within_their_characters() -> None:
    encoder = RowEncoder(cache_chars=5_000)
    for turn in range(1, 31):
        row, shared = encoder.shared(make_record(turn, messages=chat(turn)))
        assert row_to_record(row, shared).messages == chat(turn)
        kept = encoder._encodings._entries.values()
        assert sum(len(e.json) for e in kept) <= 5_000
    assert len(kept) >= 5_000 // 500  # the newest, not none
    huge = Message.user("x" * 10_000)  # bigger than the cache: encoded, not kept
    row = RowEncoder(cache_chars=5_000)(make_record(0, messages=(huge,)))
    assert huge.text in row[MESSAGES]
