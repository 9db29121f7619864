"""The trio example against a mock of OpenAI over loopback HTTP.

The example is trio code (a nursery), so these tests run it with ``trio.run``
rather than under both anyio backends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import trio

import relaykit
from relaykit.testing import OpenAIMock, Reply
from relaykit_examples import trio_fanout
from relaykit_examples.trio_fanout import CONFIG, LANGUAGES, print_streamed, translate_all

#: the at_mock fixture: an example's CONFIG aimed at the mock
AtMock = Callable[[Mapping[str, Any]], dict[str, Any]]


def test_main_prints_the_translations_then_streams_a_story(
    mock: OpenAIMock, at_mock: AtMock, capsys: pytest.CaptureFixture[str]
) -> None:
    trio.run(trio_fanout.main, at_mock(CONFIG))

    lines = capsys.readouterr().out.splitlines()
    assert lines[: len(LANGUAGES)] == [
        f"{language}: echo: Translate into {language}: Where is the station?"
        for language in LANGUAGES
    ]
    assert lines[len(LANGUAGES)] == "echo: Tell a four-line story about a lighthouse keeper."
    assert lines[-1].startswith("[stop: 9 tokens, the first after ")
    system = mock.requests[0].json()["messages"][0]
    assert system == {"role": "system", "content": "Reply with the translation only."}


def test_the_translations_are_asked_for_all_at_once(
    mock: OpenAIMock, at_mock: AtMock, most_at_once: Callable[[], int]
) -> None:
    mock.script.push(*[Reply(text="hola", delay=0.1)] * len(LANGUAGES))

    async def run() -> dict[str, str]:
        async with relaykit.Client(at_mock(CONFIG)) as client:
            return await translate_all(client, "hello", LANGUAGES)

    assert trio.run(run) == dict.fromkeys(LANGUAGES, "hola")
    assert most_at_once() == len(LANGUAGES)


def test_one_failed_translation_fails_them_all(mock: OpenAIMock, at_mock: AtMock) -> None:
    # The failure comes first; the others are still waiting when the nursery cancels them.
    mock.script.push(Reply.failure(400, "Unsupported language"))
    mock.script.push(*[Reply(text="late", delay=5)] * (len(LANGUAGES) - 1))

    async def run() -> dict[str, str]:
        async with relaykit.Client(at_mock(CONFIG)) as client:
            with trio.fail_after(3):  # not the 5 s the other answers would take
                return await translate_all(client, "hello", LANGUAGES)

    with pytest.raises(ExceptionGroup) as info:
        trio.run(run)

    assert info.group_contains(relaykit.InvalidRequestError, match="Unsupported language")


def test_the_streamed_answer_is_printed_piece_by_piece(mock: OpenAIMock, at_mock: AtMock) -> None:
    mock.script.reply("Once upon a time, a keeper kept a light.", chunk_delay=0.05)
    printed: list[tuple[str, int]] = []  # each print's text, and streams the mock had finished

    def record(*args: object, **kwargs: object) -> None:
        printed.append(("".join(map(str, args)), mock.server.stats.streams_completed))

    async def run() -> relaykit.ChatResponse:
        async with relaykit.Client(at_mock(CONFIG)) as client:
            return await print_streamed(client, "a story")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.print", record)
        r = trio.run(run)

    texts = [text for text, _ in printed]
    assert texts == ["Once upo", "n a time", ", a keep", "er kept ", "a light.", ""]
    assert printed[0][1] == 0, "the first piece was printed while the answer was still coming"
    assert (r.text, r.finish_reason) == ("Once upon a time, a keeper kept a light.", "stop")
    assert mock.last_request.json()["max_completion_tokens"] == 300
