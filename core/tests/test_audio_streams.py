"""Client.stream_speech and Client.stream_transcription: pieces handed over as they
arrive, through the chat pipeline's routing, limits, budgets, retries (before the
first piece only), cost, records and the SyncClient facade."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import (
    InvalidRequestError,
    QuotaExceededError,
    RelayError,
    RequestTimeoutError,
    SpeechResponse,
    StreamError,
)
from relaykit.testing import (
    FakePlugin,
    FakeProvider,
    RecordingExporter,
    Reply,
    mock_audio,
    mock_speech,
    mock_speech_text,
)

from .conftest import SETTINGS, client

TEXT = "Hello there, general Kenobi. " * 40  # 1,160 characters: two 1,024-byte chunks
HEARD = "the quick brown fox jumps over the lazy dog"


async def _speech(c: relaykit.Client, model: str = "fake/tts-1", **kw: Any) -> Any:
    async with c.stream_speech(model, TEXT, voice="alloy", **kw) as audio:
        chunks = [chunk async for chunk in audio]
    return chunks, audio.response


# -- speech ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_speech_arrives_in_chunks_and_ends_priced_without_the_audio() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    async with client(fake, exporter) as c:
        chunks, response = await _speech(c)
    whole = mock_speech(TEXT)
    assert len(chunks) == 2 and b"".join(chunks) == whole
    assert mock_speech_text(b"".join(chunks)) == TEXT
    assert isinstance(response, SpeechResponse) and response.audio == b""
    assert response.streamed_bytes == len(whole) and f"{len(whole):,} bytes mp3 streamed" in repr(
        response
    )
    assert (response.provider, response.model, response.id) == ("fake", "tts-1", "speech-fake")
    assert response.cost == len(TEXT) * Decimal("0.000015")  # as speak() prices it
    assert response.time_to_first_chunk is not None and response.latency is not None
    (record,) = exporter.records
    assert record.operation == "speak" and record.streamed and record.error_type is None
    assert record.params["audio_bytes"] == len(whole) and record.cost == response.cost


@pytest.mark.anyio
async def test_a_failure_before_the_first_chunk_retries_then_falls_back() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.push(Reply.failure(503), Reply.failure(503))
    routes = {"voice": {"targets": ["fake/tts-1", "other/tts-1-hd"]}}
    exporter = RecordingExporter()
    async with client(first, second, exporter, models=routes, retry={"attempts": 2}) as c:
        chunks, response = await _speech(c, "voice")
    assert b"".join(chunks) == mock_speech(TEXT)
    assert (response.provider, response.attempts) == ("other", 3)
    (record,) = exporter.records
    assert record.fallbacks == 1


@pytest.mark.anyio
async def test_a_slow_first_chunk_is_a_first_token_timeout_then_a_retry() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(first_token_delay=5))
    async with client(fake, timeouts={"first_token": 0.2}) as c:
        chunks, response = await _speech(c)
    assert b"".join(chunks) == mock_speech(TEXT) and response.attempts == 2
    fake.script.push(Reply(first_token_delay=5), Reply(first_token_delay=5))
    async with client(fake, timeouts={"first_token": 0.2}, retry={"attempts": 2}) as c:
        with pytest.raises(RequestTimeoutError) as caught:
            await _speech(c)
    assert caught.value.which == "first_token"


@pytest.mark.anyio
async def test_a_break_after_the_first_chunk_is_a_stream_error_never_retried() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(Reply(stream_fault="error", error="synthesis failed"))
    got: list[bytes] = []
    async with client(fake, exporter) as c:
        with pytest.raises(StreamError, match="synthesis failed"):
            async with c.stream_speech("fake/tts-1", TEXT, voice="alloy") as audio:
                async for chunk in audio:
                    got.append(chunk)
    assert len(got) == 1 and len(fake.speeches) == 1
    assert audio.response.streamed_bytes == 1024
    (record,) = exporter.records
    assert record.error_type == "StreamError" and record.streamed


@pytest.mark.parametrize(
    ("raised", "error_type"), [(ValueError, "CallerError"), (None, "Cancelled")]
)
@pytest.mark.anyio
async def test_leaving_by_an_exception_or_a_cancellation_is_a_failed_call(
    raised: type[Exception] | None, error_type: str
) -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(Reply(chunk_delay=5))
    async with client(fake, exporter) as c:
        if raised is not None:
            with pytest.raises(raised):
                async with c.stream_speech("fake/tts-1", TEXT, voice="alloy") as audio:
                    async for _ in audio:
                        raise raised("the player broke")
        else:
            with anyio.move_on_after(0.2):
                async with c.stream_speech("fake/tts-1", TEXT, voice="alloy") as audio:
                    async for _ in audio:
                        pass
    (record,) = exporter.records
    assert record.error_type == error_type and record.streamed


@pytest.mark.anyio
async def test_a_break_is_a_success_with_what_came() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    async with client(fake, exporter) as c:
        async with c.stream_speech("fake/tts-1", TEXT, voice="alloy") as audio:
            async for _ in audio:
                break
        assert audio.bytes_received == 1024
    (record,) = exporter.records
    assert record.error_type is None and record.params["audio_bytes"] == 1024


class _NoStreams(FakeProvider):
    stream_speech = None  # type: ignore[assignment]
    stream_transcription = None  # type: ignore[assignment]


class _NoAudio(FakeProvider):
    stream_speech = None  # type: ignore[assignment]
    stream_transcription = None  # type: ignore[assignment]
    speak = None  # type: ignore[assignment]
    transcribe = None  # type: ignore[assignment]


@pytest.mark.anyio
async def test_a_provider_that_answers_only_whole_streams_its_answer_as_one_piece() -> None:
    whole = FakePlugin(provider=_NoStreams)
    async with client(whole) as c:
        chunks, response = await _speech(c)
        async with c.stream_transcription("fake/whisper-1", mock_audio(HEARD)) as t:
            deltas = [delta async for delta in t]
    assert len(chunks) == 1 and mock_speech_text(chunks[0]) == TEXT
    assert response.streamed_bytes == len(chunks[0]) and response.audio == b""
    assert deltas == [HEARD] and t.response.text == HEARD
    assert len(whole.speeches) == 1 and len(whole.transcriptions) == 1


@pytest.mark.anyio
async def test_a_provider_without_audio_is_refused_unsent_and_a_route_falls_back() -> None:
    plain = FakePlugin(provider=_NoAudio)
    async with client(plain) as c:
        with pytest.raises(InvalidRequestError, match="fake has no speech API"):
            await _speech(c)
        with pytest.raises(InvalidRequestError, match="fake has no transcription API"):
            async with c.stream_transcription("fake/whisper-1", mock_audio(HEARD)):
                pass
    assert plain.speeches == [] and plain.transcriptions == []
    routes = {"voice": {"targets": ["fake/tts-1", "other/tts-1"]}}
    async with client(plain, FakePlugin("other"), models=routes) as c:
        _, response = await _speech(c, "voice")
    assert response.provider == "other"


@pytest.mark.anyio
async def test_a_budget_holds_the_characters_before_sending() -> None:
    fake = FakePlugin()
    async with client(fake, limits={"fake/*": {"budget_usd": "0.01"}}) as c:
        with pytest.raises(QuotaExceededError, match="budget"):
            await _speech(c)  # 1,160 characters at USD 15 a million: 0.0174
    assert fake.speeches == []


@pytest.mark.anyio
async def test_bad_arguments_are_refused_before_the_stream_is_made() -> None:
    async with client(FakePlugin()) as c:
        with pytest.raises(InvalidRequestError, match="voice"):
            c.stream_speech("fake/tts-1", TEXT)
        stream = c.stream_speech("fake/tts-1", TEXT, voice="alloy")
        with pytest.raises(RelayError, match="async with"):
            await stream.__anext__()


# -- transcription -----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_transcript_arrives_word_by_word_then_the_whole_response() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    async with (
        client(fake, exporter) as c,
        c.stream_transcription("fake/gpt-4o-transcribe", mock_audio(HEARD)) as t,
    ):
        deltas = [delta async for delta in t]
    assert deltas == ["the", *(f" {w}" for w in HEARD.split()[1:])]
    assert t.text == t.response.text == HEARD
    assert t.response.usage.output_tokens == 9 and t.response.cost is not None
    (record,) = exporter.records
    assert (record.operation, record.streamed, record.text) == ("transcribe", True, HEARD)


@pytest.mark.anyio
async def test_a_transcript_reads_its_file_when_entered(tmp_path: Any) -> None:
    path = tmp_path / "memo.wav"
    path.write_bytes(mock_audio(HEARD))
    async with client(FakePlugin()) as c:
        stream = c.stream_transcription("fake/whisper-1", path)
        path.write_bytes(mock_audio("read late"))
        async with stream as t:
            text = "".join([delta async for delta in t])
    assert text == "read late" and t.response.duration is not None


@pytest.mark.anyio
async def test_a_transcript_broken_after_its_first_word_keeps_what_came() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(stream_fault="error"))
    async with client(fake) as c:
        with pytest.raises(StreamError):
            async with c.stream_transcription("fake/gpt-4o-transcribe", mock_audio(HEARD)) as t:
                async for _ in t:
                    pass
    assert t.response.text == "the" and len(fake.transcriptions) == 1


# -- the blocking facade -------------------------------------------------------------


def test_sync_client_iterates_both_streams() -> None:
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()]) as c:
        with c.stream_speech("fake/tts-1", TEXT, voice="alloy") as audio:
            chunks = list(audio)
        with c.stream_transcription("fake/gpt-4o-transcribe", mock_audio(HEARD)) as t:
            deltas = list(t)
    assert b"".join(chunks) == mock_speech(TEXT) and audio.response.streamed_bytes
    assert "".join(deltas) == HEARD == t.response.text
