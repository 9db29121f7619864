"""``relaykit prompt --continue [ID]`` / ``--cid ID`` against a loopback OpenAI server
and a real SQLite call log: the previous turns are sent, and the new call is logged
under the same conversation id ``relaykit chat --continue`` and ``relaykit logs`` use."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def logged(logged_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`logged_config`'s call log and mock, and stdin a terminal (nothing piped)."""
    monkeypatch.setattr("sys.stdin", _Terminal())


def _logs(capsys: pytest.CaptureFixture[str], *options: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["logs", "--json", *options]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.usefixtures("logged")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_continue_sends_the_previous_turns_and_logs_in_the_same_conversation(
    backend: str, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ["--backend", backend, "prompt"]
    assert main([*run, "-m", MODEL, "-s", "Be brief.", "Name a colour"]) == 0
    assert main([*run, "-m", MODEL, "Something else"]) == 0  # a conversation of its own
    other, first = _logs(capsys)
    conversation = first["conversation_id"]
    assert conversation and other["conversation_id"] not in (None, conversation)

    # no -m: the model the conversation used; --cid is llm's spelling of --continue ID
    assert main([*run, "--cid", conversation, "Another one"]) == 0
    assert main([*run, "And one more", "--continue", conversation]) == 0

    assert capsys.readouterr().out.endswith("echo: And one more\n")
    assert openai_mock.requests[-1].json()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": "echo: Name a colour"},
        {"role": "user", "content": "Another one"},
        {"role": "assistant", "content": "echo: Another one"},
        {"role": "user", "content": "And one more"},
    ]
    assert openai_mock.requests[-1].json()["model"] == "gpt-4o-mini"
    turns = _logs(capsys, "--conversation", conversation)
    assert [t["messages"][-1]["content"][0]["text"] for t in turns] == [
        "And one more",
        "Another one",
        "Name a colour",
    ]


@pytest.mark.usefixtures("logged")
def test_continue_without_an_id_goes_on_from_the_newest_prompt(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompt", "-m", MODEL, "First"]) == 0
    assert main(["prompt", "-m", MODEL, "Second"]) == 0

    assert main(["prompt", "Go on", "--continue"]) == 0

    assert [m["content"] for m in openai_mock.requests[-1].json()["messages"]] == [
        "Second",
        "echo: Second",
        "Go on",
    ]
    newest, second, first = _logs(capsys)
    assert newest["conversation_id"] == second["conversation_id"] != first["conversation_id"]


@pytest.mark.usefixtures("logged")
def test_chat_and_prompt_continue_each_others_conversations(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompt", "-m", MODEL, "From a prompt"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("From a chat\n"))
    assert main(["chat", "--continue"]) == 0
    monkeypatch.setattr("sys.stdin", _Terminal())
    assert main(["prompt", "Back in a prompt", "--continue"]) == 0

    assert [m["content"] for m in openai_mock.requests[-1].json()["messages"]] == [
        "From a prompt",
        "echo: From a prompt",
        "From a chat",
        "echo: From a chat",
        "Back in a prompt",
    ]
    assert len({r["conversation_id"] for r in _logs(capsys)}) == 1


@pytest.mark.usefixtures("logged")
def test_a_continued_prompt_keeps_the_attachments_of_earlier_turns(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    from relaykit.testing.image_samples import mock_image

    (tmp_path / "cat.png").write_bytes(mock_image("a cat"))
    assert main(["prompt", "-m", MODEL, "-a", str(tmp_path / "cat.png"), "What is it?"]) == 0
    first = openai_mock.last_request.json()["messages"]

    assert main(["prompt", "Its colour?", "--continue"]) == 0

    assert openai_mock.last_request.json()["messages"] == [
        *first,
        {"role": "assistant", "content": "echo: What is it?"},
        {"role": "user", "content": "Its colour?"},
    ]


@pytest.mark.usefixtures("logged")
@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["Hi", "--cid", "nope"], "no answered call of conversation 'nope' is logged"),
        (["Hi", "--continue"], "no answered call of any conversation is logged"),
        (["Hi", "--continue", "-s", "Be terse."], "--system cannot change a continued"),
        # --continue takes the prompt for an id: the error says how to write it
        (
            ["--continue", "Tell me more"],
            "no prompt given; --continue took 'Tell me more' as a conversation id (to continue"
            " the newest conversation, put the prompt first: relaykit prompt 'Tell me more'"
            " --continue)",
        ),
        # --cid names an id outright: no such hint
        (["--cid", "abc"], "error: no prompt given (pass it as an argument"),
        (["-m", MODEL, "-o", "metadata=[1]", "Hi"], "-o metadata must be a JSON object"),
    ],
)
def test_a_prompt_that_cannot_continue_says_why_in_one_line(
    argv: list[str], error: str, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompt", *argv]) == 1
    err = capsys.readouterr().err
    assert error in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert openai_mock.requests == []


def test_continue_and_cid_are_one_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "Hi", "--continue", "--cid", "abc"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_config")  # [storage] backend = "none"
def test_continuing_without_a_call_log_says_so(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal())

    assert main(["prompt", "Hi", "--continue"]) == 1

    err = capsys.readouterr().err
    assert "storage is off" in err and "set [storage] backend = 'sqlite'" in err
    assert openai_mock.requests == []


@pytest.mark.usefixtures("logged")
@pytest.mark.parametrize("command", ["prompt", "chat"])
@pytest.mark.parametrize("option", ["--cid", "--continue"])
def test_a_blank_conversation_id_is_refused_not_taken_for_the_newest(
    command: str, option: str, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--cid "$CID"`` with CID unset must not go on with another conversation."""
    assert main(["prompt", "-m", MODEL, "Someone else's conversation"]) == 0
    sent = len(openai_mock.requests)
    capsys.readouterr()

    assert main([command, "-m", MODEL, option, "", "Hi"][: 5 if command == "chat" else 6]) == 2

    assert len(openai_mock.requests) == sent
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "blank" in err, err
    assert "--continue without ID" in err
