"""Streamed speech and transcripts over OpenAI's wire format: the audio's chunked bytes
(and speech.audio.* events), transcript.text.* events, Whisper's whole answer, and what
happens before and after the first chunk reaches the caller."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import InvalidRequestError, RequestTimeoutError, StreamError
from relaykit.testing import (
    OpenAIMock,
    RecordingExporter,
    Reply,
    mock_audio,
    mock_speech,
    mock_speech_text,
)
from relaykit_openai import PRESETS

KEY = "sk-test-0123456789abcdef0123"
HELLO = "Hello there, general Kenobi, you are a bold one"
HEARD = "the quick brown fox jumps over the lazy dog"


def config(base_url: str, *providers: str, **sections: Any) -> dict[str, Any]:
    names = providers or ("openai",)
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0, "max_retry_after": 0},
        "providers": {name: {"base_url": base_url, "api_key": KEY} for name in names},
        **sections,
    }


async def _speech(client: relaykit.Client, model: str = "openai/tts-1", **kw: Any) -> Any:
    async with client.stream_speech(model, HELLO, voice="alloy", format="pcm", **kw) as audio:
        chunks = [chunk async for chunk in audio]
    return chunks, audio.response


# -- speech ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_speech_streams_the_raw_audio_chunk_by_chunk_as_sent() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.speech_chunk = 4000
        mock.script.push(Reply(chunk_delay=0.01))  # so the reads do not coalesce
        async with relaykit.Client(config(mock.base_url)) as c:
            chunks, response = await _speech(c)
        sent = json.loads(mock.last_request.body)
    whole = mock_speech(HELLO, "pcm")
    assert b"".join(chunks) == whole and mock_speech_text(b"".join(chunks)) == HELLO
    # Every chunk handed on as it came, never cut again nor held for the whole:
    # 4000 bytes each, or (a loaded machine's reads may join two) a multiple
    assert len(chunks) > len(whole) // 4000 // 2
    assert all(len(c) % 4000 == 0 for c in chunks[:-1])
    assert len(chunks[-1]) % 4000 == len(whole) % 4000
    # The raw audio streams for every model: no stream_format is asked for.
    assert "stream_format" not in sent and sent["response_format"] == "pcm"
    assert response.audio == b"" and response.streamed_bytes == len(whole)
    assert response.size == len(whole) and response.duration == pytest.approx(len(whole) / 48_000)
    assert (response.format, response.media_type) == ("pcm", "audio/pcm")
    assert response.id is not None and response.id.startswith("req_mock")
    assert response.cost == len(HELLO) * Decimal("0.000015")  # tts-1's price per character
    assert response.time_to_first_chunk is not None and response.time_to_first_chunk > 0


@pytest.mark.anyio
async def test_speech_sse_when_asked_decodes_the_deltas_and_reports_usage() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.speech_chunk = 1000
        async with relaykit.Client(config(mock.base_url)) as c:
            chunks, response = await _speech(
                c, "openai/gpt-4o-mini-tts", extra={"stream_format": "sse"}
            )
        sent = json.loads(mock.last_request.body)
    whole = mock_speech(HELLO, "pcm")
    assert sent["stream_format"] == "sse"
    assert b"".join(chunks) == whole and all(len(c) <= 1000 for c in chunks)
    assert len(chunks) == -(-len(whole) // 1000)
    # speech.audio.done's usage: the input's words in, 20 audio tokens a second out
    seconds = len(HELLO) / 15
    assert response.usage.input_tokens == len(HELLO.split())
    assert response.usage.output_tokens == -(-round(seconds * 20 * 1000) // 1000)
    assert response.media_type == "audio/pcm"  # not the event stream's type


@pytest.mark.anyio
async def test_sse_for_tts_1_is_refused_unsent() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            with pytest.raises(InvalidRequestError, match="does not stream server-sent events"):
                await _speech(c, "openai/tts-1", extra={"stream_format": "sse"})
        assert mock.server.stats.requests == 0


@pytest.mark.anyio
async def test_speak_refuses_sse_and_points_at_stream_speech() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            with pytest.raises(InvalidRequestError, match="stream_speech"):
                await c.speak(
                    "openai/gpt-4o-mini-tts", HELLO, voice="alloy", extra={"stream_format": "sse"}
                )
        assert mock.server.stats.requests == 0


@pytest.mark.anyio
async def test_the_mock_answers_sse_events_in_openais_shape() -> None:
    import httpx

    with OpenAIMock(api_key=KEY) as mock:
        mock.speech_chunk = 10
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{mock.base_url}/audio/speech",
                json={
                    "model": "gpt-4o-mini-tts",
                    "input": "Hi",
                    "voice": "alloy",
                    "stream_format": "sse",
                },
                headers={"authorization": f"Bearer {KEY}"},
            )
            refused = await http.post(
                f"{mock.base_url}/audio/speech",
                json={"model": "tts-1", "input": "Hi", "voice": "alloy", "stream_format": "sse"},
                headers={"authorization": f"Bearer {KEY}"},
            )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.split("\n\n") if line]
    *deltas, done = events
    assert {tuple(sorted(e)) for e in deltas} == {("audio", "type")}
    assert {e["type"] for e in deltas} == {"speech.audio.delta"}
    assert b"".join(base64.b64decode(e["audio"]) for e in deltas) == mock_speech("Hi")
    assert done["type"] == "speech.audio.done"
    assert sorted(done["usage"]) == ["input_tokens", "output_tokens", "total_tokens"]
    assert refused.status_code == 400 and "stream_format" in refused.text


@pytest.mark.anyio
async def test_a_failure_before_the_first_chunk_is_retried() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(Reply.failure(503))
        async with relaykit.Client(config(mock.base_url)) as c:
            chunks, response = await _speech(c)
    assert b"".join(chunks) == mock_speech(HELLO, "pcm") and response.attempts == 2


@pytest.mark.anyio
async def test_a_slow_first_chunk_is_retried_within_the_first_token_timeout() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(Reply(first_token_delay=2))
        settings = config(mock.base_url, timeouts={"first_token": 0.3})
        async with relaykit.Client(settings) as c:
            chunks, response = await _speech(c)
    assert b"".join(chunks) == mock_speech(HELLO, "pcm") and response.attempts == 2


@pytest.mark.parametrize("fault", ["drop", "error"])
@pytest.mark.anyio
async def test_a_break_after_the_first_chunk_is_a_stream_error_not_retried(fault: str) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.speech_chunk = 1000
        mock.script.push(Reply(stream_fault=fault, chunk_delay=0.01))  # type: ignore[arg-type]
        exporter = RecordingExporter()
        extra = {"stream_format": "sse"} if fault == "error" else {}
        async with relaykit.Client(config(mock.base_url), plugins=[exporter]) as c:
            got: list[bytes] = []
            with pytest.raises(StreamError) as caught:
                async with c.stream_speech(
                    "openai/gpt-4o-mini-tts", HELLO, voice="alloy", format="pcm", extra=extra
                ) as audio:
                    async for chunk in audio:
                        got.append(chunk)
        assert mock.server.stats.requests == 1  # never retried once audio had come
    assert got and len(b"".join(got)) < len(mock_speech(HELLO, "pcm"))
    assert caught.value.provider == "openai"
    (record,) = exporter.records
    assert record.error_type == "StreamError" and record.streamed and record.operation == "speak"


@pytest.mark.anyio
async def test_leaving_early_closes_the_connection_and_records_what_came() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.speech_chunk = 1000
        mock.script.push(Reply(chunk_delay=0.05))
        exporter = RecordingExporter()
        async with relaykit.Client(config(mock.base_url), plugins=[exporter]) as c:
            async with c.stream_speech("openai/tts-1", HELLO, voice="alloy", format="pcm") as a:
                async for _ in a:
                    break
            with anyio.fail_after(5):
                while mock.server.stats.streams_abandoned < 1:  # noqa: ASYNC110 - another thread counts
                    await anyio.sleep(0.01)
        assert mock.server.stats.streams_completed == 0
    assert a.response.streamed_bytes == 1000
    (record,) = exporter.records
    assert record.error_type is None and record.params["audio_bytes"] == 1000


@pytest.mark.anyio
async def test_the_idle_timeout_ends_a_stalled_stream() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.speech_chunk = 1000
        mock.script.push(Reply(chunk_delay=2))
        async with relaykit.Client(config(mock.base_url, timeouts={"idle": 0.2})) as c:
            with pytest.raises(RequestTimeoutError) as caught:
                await _speech(c)
    assert caught.value.which == "idle"


@pytest.mark.anyio
async def test_the_idle_timeout_rides_on_the_read_timeout() -> None:
    """With first_token <= idle the connection's read timeout enforces idle, as for
    a chat stream: no cancel scope per chunk."""
    import httpx

    with OpenAIMock(api_key=KEY) as mock:
        mock.speech_chunk = 1000
        # A second reply for a retry: on a loaded machine the first chunk can come
        # later than the first-token timeout. The chunks after it are 5 s apart.
        mock.script.push(*[Reply(chunk_delay=5)] * 2)
        timeouts = {"idle": 1, "first_token": 1}
        async with relaykit.Client(config(mock.base_url, timeouts=timeouts)) as c:
            with pytest.raises(RequestTimeoutError) as caught:
                await _speech(c)
    assert caught.value.which == "idle"
    # httpx's under trio (or transport = "httpx"), relaykit-aiohttp's under asyncio
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout | relaykit.http.ReadTimeout)


@pytest.mark.anyio
async def test_presets_without_speech_refuse_streamed_speech_unsent() -> None:
    assert PRESETS["groq"].stream_speech is not None
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url, "deepseek")) as c:
            with pytest.raises(InvalidRequestError, match="deepseek has no speech API"):
                async with c.stream_speech("deepseek/tts", HELLO, voice="alloy"):
                    pass
        assert mock.server.stats.requests == 0


# -- transcription -----------------------------------------------------------------


async def _transcript(client: relaykit.Client, model: str) -> Any:
    async with client.stream_transcription(model, mock_audio(HEARD, 4.0)) as t:
        deltas = [delta async for delta in t]
    return deltas, t.response


@pytest.mark.anyio
async def test_gpt_4o_transcribe_streams_deltas_then_the_usage() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            deltas, response = await _transcript(c, "openai/gpt-4o-mini-transcribe")
        form = mock.last_request.body
    assert b'name="stream"\r\n\r\ntrue' in form
    assert deltas == ["the", *(f" {w}" for w in HEARD.split()[1:])]
    assert response.text == HEARD
    # 4 s of audio: 67 audio tokens in, the words out, priced per token
    assert (response.usage.input_tokens, response.usage.output_tokens) == (67, 9)
    assert response.audio_tokens == 67 and response.cost is not None
    assert response.id is not None and response.id.startswith("req_mock")


@pytest.mark.anyio
async def test_whisper_answers_whole_as_one_delta() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as c:
            deltas, response = await _transcript(c, "openai/whisper-1")
        form = mock.last_request.body
    # stream is not sent: Whisper ignores it, and verbose_json says how long the audio is
    assert b'name="stream"' not in form and b"verbose_json" in form
    assert deltas == [HEARD] and response.text == HEARD
    assert response.duration == 4.0 and response.cost is not None


@pytest.mark.anyio
async def test_a_transcript_broken_by_an_error_event_is_a_stream_error() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(Reply(stream_fault="error", error="audio decoder failed"))
        async with relaykit.Client(config(mock.base_url)) as c:
            with pytest.raises(StreamError, match="audio decoder failed"):
                async with c.stream_transcription(
                    "openai/gpt-4o-transcribe", mock_audio(HEARD)
                ) as t:
                    async for _ in t:
                        pass
    assert t.text == "the"


@pytest.mark.anyio
async def test_a_transcript_that_fails_before_its_first_delta_is_retried() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(Reply.failure(429, retry_after=0), Reply(first_token_delay=0.01))
        async with relaykit.Client(config(mock.base_url)) as c:
            deltas, response = await _transcript(c, "openai/gpt-4o-transcribe")
    assert "".join(deltas) == HEARD and response.attempts == 2


@pytest.mark.anyio
async def test_presets_stream_transcripts_whole() -> None:
    assert PRESETS["groq"].streams_transcriptions is False
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url, "groq")) as c:
            deltas, response = await _transcript(c, "groq/whisper-large-v3")
        form = mock.last_request.body
    assert b'name="stream"' not in form
    assert deltas == [HEARD] and response.provider == "groq"
