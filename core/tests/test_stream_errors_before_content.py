"""A plugin's ``StreamError`` before anything reached the caller, with the status the
vendor's in-stream error named, is the typed error of that status: in chat streams and
audio streams alike (stream_lifecycle.unstarted_stream_error). Without a status, or with
one no typed error stands for, it stays a ``StreamError``, retried.
tests/every_provider/test_stream_errors_before_content.py checks every vendor's mock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import relaykit
from relaykit import ChatRequest, SpeechRequest, StreamError
from relaykit.events import StreamEvent, StreamStart
from relaykit.testing import FakePlugin, FakeProvider

from .conftest import client


class FailingAtTheStart(FakeProvider):
    """Its streams fail before their first piece, with the status :attr:`status`."""

    status: int | None = 429
    failures = 0

    def _failure(self, model: str) -> StreamError:
        type(self).failures += 1
        return StreamError(
            "the vendor said no", provider=self.settings.name, model=model, status=self.status
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        yield StreamStart("id-1", request.model)  # not content: nothing reached the caller
        raise self._failure(request.model)

    async def stream_speech(self, request: SpeechRequest) -> AsyncIterator[Any]:
        raise self._failure(request.model)
        yield b""  # an async generator


def failing(status: int | None) -> FakePlugin:
    FailingAtTheStart.failures = 0
    FailingAtTheStart.status = status
    return FakePlugin(provider=FailingAtTheStart)


async def chat_stream(c: relaykit.Client) -> None:
    async with c.stream("fake/m", "hi") as s:
        async for _ in s:
            pass


async def speech_stream(c: relaykit.Client) -> None:
    async with c.stream_speech("fake/tts-1", "hi", voice="alloy") as audio:
        async for _ in audio:
            pass


@pytest.mark.anyio
@pytest.mark.parametrize("opened", [chat_stream, speech_stream], ids=["chat", "speech"])
@pytest.mark.parametrize(
    ("status", "kind", "attempts"),
    [
        (429, relaykit.RateLimitError, 3),
        (503, relaykit.ProviderUnavailableError, 3),
        (400, relaykit.InvalidRequestError, 1),  # a refused request is not sent again
        (None, StreamError, 3),
        (424, StreamError, 3),  # no typed error stands for it: retried as before
    ],
)
async def test_the_typed_error_of_the_status_it_names(
    opened: Any, status: int | None, kind: type[relaykit.RelayError], attempts: int
) -> None:
    async with client(failing(status), retry={"attempts": 3, "initial_wait": 0}) as c:
        with pytest.raises(relaykit.RelayError) as caught:
            await opened(c)
    assert type(caught.value) is kind, repr(caught.value)
    assert caught.value.status == status
    assert caught.value.message == "the vendor said no"
    assert FailingAtTheStart.failures == attempts
