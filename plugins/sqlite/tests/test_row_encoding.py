"""The writer's rows (orjson) hold the same values as the standard library's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relaykit.messages import ImagePart, Message, ToolCall
from relaykit.protocols import prompt_text
from relaykit.record_rows import COLUMNS, JSON_COLUMNS, RowEncoder, row_to_record
from relaykit.testing.storage_contract import failed_record, make_record
from relaykit_sqlite import SQLiteStorage
from relaykit_sqlite.json_text import dumps

RICH = make_record(
    1,
    messages=(
        Message.system("You are terse."),
        Message.user("what is this?", ImagePart(data=b"\x89PNG", media_type="image/png")),
        Message.assistant("", [ToolCall("call_1", "lookup", {"q": "x", "n": [1, 2]})]),
        Message.tool("call_1", '{"found": true}'),
    ),
    params={"max_tokens": 50, "temperature": 0.2, "stop": ["END"], "extra": {"a": None}},
    text="Zürich, naïve café — 東京 ✓",
    tool_calls=(ToolCall("call_2", "book", {"city": "Zürich"}),),
)


def decoded(row: tuple[object, ...]) -> dict[str, object]:
    return {
        name: json.loads(value) if name in JSON_COLUMNS else value  # type: ignore[arg-type]
        for name, value in zip(COLUMNS, row, strict=True)
    }


@pytest.mark.parametrize("record", [make_record(0), failed_record(2), RICH])
def test_orjson_rows_equal_standard_library_rows(record: object) -> None:
    fast, standard = RowEncoder(dumps), RowEncoder()
    for _ in range(2):  # the second time, messages come from the cache
        assert decoded(fast(record)) == decoded(standard(record))  # type: ignore[arg-type]
        assert row_to_record(fast(record)) == record  # type: ignore[arg-type]


def test_prompt_column_is_the_text_of_the_new_messages_one_per_line() -> None:
    first_call = make_record(0, messages=RICH.messages[:2])
    row = dict(zip(COLUMNS, RowEncoder(dumps)(first_call), strict=True))
    assert row["prompt"] == prompt_text(first_call.messages) == "You are terse.\nwhat is this?"
    # RICH's new message is the tool's result, which has no text
    assert dict(zip(COLUMNS, RowEncoder(dumps)(RICH), strict=True))["prompt"] == ""


def test_values_orjson_refuses_fall_back_to_the_standard_library() -> None:
    assert dumps({"big": 2**70}) == '{"big":1180591620717411303424}'
    assert dumps({"lone": "\ud800"}) == '{"lone":"\ud800"}'
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'


@pytest.mark.anyio
async def test_a_record_with_params_orjson_refuses_is_stored(tmp_path: Path) -> None:
    record = make_record(3, params={"seed": 2**70})
    storage = SQLiteStorage(tmp_path / "logs.db")
    try:
        await storage.write_batch([record])
        assert await storage.query_logs() == [record]
    finally:
        await storage.aclose()
