"""``relaykit chat``: turns read from stdin, history kept across turns."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.cli import main
from relaykit.cli.chat import read_messages
from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


def _feed(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def _lines(*lines: str) -> Iterator[str]:
    """``read_messages`` over ``lines``, then end of input."""
    queue = list(lines)
    return read_messages(lambda prompt: queue.pop(0) if queue else None)


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_two_turns_keep_the_history(
    backend: str,
    openai_mock: OpenAIMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    openai_mock.script.reply("Hi! I am the mock.")
    _feed(monkeypatch, "Hello\nWhat did you just say?\nexit\n")

    assert main(["--backend", backend, "chat", "-m", MODEL, "--system", "Be nice."]) == 0

    assert capsys.readouterr().out == "Hi! I am the mock.\necho: What did you just say?\n"
    assert len(openai_mock.requests) == 2
    assert openai_mock.requests[-1].json()["messages"] == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! I am the mock."},
        {"role": "user", "content": "What did you just say?"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_end_of_input_ends_the_session(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _feed(monkeypatch, "only turn")  # no newline, no exit: EOF ends it

    assert main(["chat", "-m", MODEL]) == 0

    assert capsys.readouterr().out == "echo: only turn\n"
    assert len(openai_mock.requests) == 1


@pytest.mark.usefixtures("cli_config")
def test_multi_line_block_is_one_message(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _feed(monkeypatch, '"""\nfirst line\n\nthird line\n"""\nquit\n')

    assert main(["chat", "-m", MODEL]) == 0

    messages = openai_mock.last_request.json()["messages"]
    assert messages == [{"role": "user", "content": "first line\n\nthird line"}]


@pytest.mark.usefixtures("cli_config")
def test_an_error_ends_the_session_with_one_line(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_mock.script.fail(400, "Invalid 'messages': bad")
    _feed(monkeypatch, "Hello\nnever sent\n")

    assert main(["chat", "-m", MODEL]) == 1

    err = capsys.readouterr().err
    assert err == "error: openai/gpt-4o-mini: HTTP 400: Invalid 'messages': bad\n"
    assert len(openai_mock.requests) == 1


def test_one_line_is_one_message() -> None:
    assert list(_lines("a", "b")) == ["a", "b"]


def test_backslash_continues_the_line() -> None:
    assert list(_lines("one \\", "two\\", "three", "four")) == ["one \ntwo\nthree", "four"]


def test_fence_toggles_multi_line_mode() -> None:
    assert list(_lines('"""', "a", "", "b", ' """ ', "c")) == ["a\n\nb", "c"]


def test_unclosed_fence_ends_at_end_of_input() -> None:
    assert list(_lines('"""', "a", "b")) == ["a\nb"]


@pytest.mark.parametrize("word", ["exit", "quit", " QUIT "])
def test_exit_words_end_the_session(word: str) -> None:
    assert list(_lines("a", word, "never read")) == ["a"]


def test_blank_messages_are_skipped() -> None:
    assert list(_lines("", "   ", '"""', '"""', "a")) == ["a"]


def _logged(capsys: pytest.CaptureFixture[str], *options: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["logs", "--json", *options]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.usefixtures("logged_config")
def test_a_chat_continues_from_the_call_log(
    backend: str,
    openai_mock: OpenAIMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    openai_mock.script.reply("Hi! I am the mock.")
    _feed(monkeypatch, "Hello\nHow are you?\n")
    assert main(["--backend", backend, "chat", "-m", MODEL, "--system", "Be nice."]) == 0
    _feed(monkeypatch, "Something else\n")
    assert main(["--backend", backend, "chat", "-m", MODEL]) == 0  # another conversation
    other, *first = _logged(capsys)  # newest first
    [conversation] = {r["conversation_id"] for r in first}
    other_chat = other["conversation_id"]
    assert conversation != other_chat

    _feed(monkeypatch, "And now?\n")
    # no -m: the model the conversation used
    assert main(["--backend", backend, "chat", "--continue", conversation]) == 0

    assert openai_mock.requests[-1].json()["messages"] == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! I am the mock."},
        {"role": "user", "content": "How are you?"},
        {"role": "assistant", "content": "echo: How are you?"},
        {"role": "user", "content": "And now?"},
    ]
    turns = _logged(capsys, "--conversation", conversation)
    assert [t["messages"][-1]["content"][0]["text"] for t in turns] == [
        "And now?",
        "How are you?",
        "Hello",
    ]
    assert len(_logged(capsys, "--conversation", other_chat)) == 1


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--continue", "nope"], "no answered call of conversation 'nope' is logged"),
        (["--continue"], "no answered call of any conversation is logged"),
        (["--continue", "nope", "--system", "Be terse."], "--system cannot change"),
        (["-m", MODEL, "-o", "metadata=[1]"], "-o metadata must be a JSON object"),
    ],
)
@pytest.mark.usefixtures("logged_config")
def test_a_chat_that_cannot_start_says_why_in_one_line(
    argv: list[str],
    error: str,
    openai_mock: OpenAIMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _feed(monkeypatch, "Hello\n")
    assert main(["chat", *argv]) != 0
    err = capsys.readouterr().err
    assert error in err and "Traceback" not in err
    assert openai_mock.requests == []


@pytest.mark.usefixtures("cli_config")  # [storage] backend = "none"
def test_continuing_without_a_call_log_says_so(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _feed(monkeypatch, "Hello\n")
    assert main(["chat", "--continue", "abc"]) != 0
    err = capsys.readouterr().err
    assert "storage is off" in err and "Traceback" not in err
    assert openai_mock.requests == []


@pytest.mark.usefixtures("logged_config")
def test_continue_without_an_id_picks_the_newest_conversation(
    openai_mock: OpenAIMock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for text in ("First chat", "Second chat"):
        _feed(monkeypatch, f"{text}\n")
        assert main(["chat", "-m", MODEL]) == 0
    with relaykit.SyncClient() as client:  # newer, in no conversation
        client.chat(MODEL, "no conversation")
    _feed(monkeypatch, "Go on\n")
    assert main(["chat", "--continue"]) == 0
    assert [m["content"] for m in openai_mock.requests[-1].json()["messages"]] == [
        "Second chat",
        "echo: Second chat",
        "Go on",
    ]
    newest, prompt, second, first = _logged(capsys)
    assert prompt["conversation_id"] is None
    assert newest["conversation_id"] == second["conversation_id"] != first["conversation_id"]
