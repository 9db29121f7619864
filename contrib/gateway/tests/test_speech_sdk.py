"""OpenAI's own SDK speaking text through the gateway, over loopback HTTP, as its users
would: to the fake provider, and on through relaykit-openai to the OpenAI mock."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import anyio
import httpx
import openai
import pytest

import relaykit
from relaykit.testing import (
    FakePlugin,
    OpenAIMock,
    RecordingExporter,
    Reply,
    mock_speech,
    mock_speech_text,
)
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running, running_over
from relaykit_gemini.testing import GeminiMock

from .conftest import gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

HELLO = "Hello there, general"


async def test_the_sdk_gets_the_audio_bytes_with_their_content_type(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        r = await client.audio.speech.create(
            model="fake/tts-1",
            input=HELLO,
            voice="nova",
            response_format="flac",
            speed=1.5,
            extra_body={"user": "u-7", "seed": 3},
        )
        audio = r.read()
    assert r.response.headers["content-type"] == "audio/flac"
    # streamed as it arrives, so the cost (known at its end) is in the record, not a header
    assert r.response.headers["transfer-encoding"] == "chunked"
    assert r.response.headers["x-relaykit-provider"] == "fake"
    assert audio.startswith(b"fLaC") and mock_speech_text(audio) == HELLO
    (sent,) = fake.speeches
    assert (sent.model, sent.text, sent.voice, sent.format, sent.speed) == (
        "tts-1",
        HELLO,
        "nova",
        "flac",
        1.5,
    )
    assert sent.extra == {"seed": 3} and sent.metadata["user"] == "u-7"
    (record,) = records.records
    assert record.operation == "speak" and record.params["audio_bytes"] == len(audio)
    assert record.streamed and record.cost == Decimal("0.0003")


async def test_on_through_the_openai_plugin_to_the_vendor(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        r = await client.audio.speech.create(
            model="gpt-4o-mini-tts", input=HELLO, voice="coral", instructions="cheerful"
        )
        audio = r.read()
    assert r.response.headers["content-type"] == "audio/mpeg"
    assert audio.startswith(b"ID3") and mock_speech_text(audio) == HELLO
    sent = openai_mock.requests[0]
    assert sent.path == "/v1/audio/speech"
    assert sent.json() == {
        "model": "gpt-4o-mini-tts",
        "input": HELLO,
        "voice": "coral",
        "response_format": "mp3",
        "instructions": "cheerful",
    }


async def test_on_through_the_gemini_plugin_to_the_vendor() -> None:
    with GeminiMock(api_key=UPSTREAM_KEY) as gemini:
        async with running_over(gemini=gemini.base_url) as url, openai_sdk(url) as client:
            r = await client.audio.speech.create(
                model="gemini/gemini-2.5-flash-preview-tts",
                input=HELLO,
                voice="Kore",
                response_format="wav",
            )
            audio = r.read()
        sent = gemini.last_request
    assert r.response.headers["content-type"] == "audio/wav"
    assert audio.startswith(b"RIFF") and mock_speech_text(audio) == HELLO
    assert sent.path == "/v1beta/models/gemini-2.5-flash-preview-tts:generateContent"
    voice = sent.json()["generationConfig"]["speechConfig"]["voiceConfig"]
    assert voice == {"prebuiltVoiceConfig": {"voiceName": "Kore"}}


async def test_openais_refusal_reaches_the_sdk_as_its_own_error(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="Invalid value: 'robot'"):
            await client.audio.speech.create(model="tts-1", input=HELLO, voice="robot")
        with pytest.raises(openai.BadRequestError, match="at most 4,096 characters"):
            await client.audio.speech.create(model="tts-1", input="x" * 5000, voice="alloy")
    assert len(openai_mock.requests) == 1  # the long input was refused unsent


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "fake/tts-1", "voice": "alloy"}, "`input` must be a non-empty string"),
        ({"model": "fake/tts-1", "input": HELLO}, "`voice` must name one of the vendor's"),
        ({"input": HELLO, "voice": "alloy"}, "`model` must be a non-empty string"),
        (
            {"model": "fake/tts-1", "input": HELLO, "voice": "alloy", "stream_format": "ws"},
            "`stream_format` must be 'audio' or 'sse'",
        ),
        (
            {"model": "fake/tts-1", "input": HELLO, "voice": "alloy", "response_format": "ogg"},
            "`format` must be one of mp3",
        ),
        (["a list"], "the request body must be a JSON object"),
    ],
)
async def test_what_cannot_be_served_is_a_400_in_openais_shape(
    fake: FakePlugin, body: Any, message: str
) -> None:
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/audio/speech", headers={"authorization": f"Bearer {KEY}"}, json=body
        )
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]
    assert fake.speeches == []


async def test_a_key_limited_to_other_models_is_refused(fake: FakePlugin) -> None:
    from relaykit_gateway.keys import GatewayKeys

    keys = GatewayKeys.parse(f"alice={KEY}", models="alice=fake/gpt-4o*")
    client = relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake])
    async with client, running(client, keys) as url, openai_sdk(url) as sdk_client:
        with pytest.raises(openai.PermissionDeniedError):
            await sdk_client.audio.speech.create(model="fake/tts-1", input=HELLO, voice="alloy")
    assert fake.speeches == []


async def test_a_provider_without_speech_is_a_400_naming_who_has_it() -> None:
    async with running_over(anthropic="http://127.0.0.1:9/") as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="anthropic has no speech API"):
            await client.audio.speech.create(
                model="anthropic/claude-haiku-4-5", input=HELLO, voice="alloy"
            )


async def test_the_audio_streams_through_as_it_arrives(fake: FakePlugin) -> None:
    long = HELLO * 200  # several of the fake's 1,024-byte chunks
    fake.script.push(Reply(chunk_delay=0.05))
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        body = {"model": "fake/tts-1", "input": long, "voice": "alloy"}
        async with http.stream(
            "POST", f"{url}/v1/audio/speech", json=body, headers={"authorization": f"Bearer {KEY}"}
        ) as r:
            assert r.headers["content-type"] == "audio/mpeg"
            started = anyio.current_time()
            chunks: list[bytes] = []
            waited = 0.0
            async for chunk in r.aiter_bytes():
                if not chunks:
                    waited = anyio.current_time() - started
                chunks.append(chunk)
    first, rest = chunks[0], b"".join(chunks[1:])
    whole = mock_speech(long)
    assert len(whole) > 3 * 1024
    assert first and first + rest == whole
    # the first chunk came before the rest was spoken (each is 0.05 s apart)
    assert waited < 0.05 * (len(whole) // 1024 - 1)


async def test_sse_sends_openais_speech_events_with_the_usage(openai_mock: OpenAIMock) -> None:
    openai_mock.speech_chunk = 1000
    async with running_over(openai=openai_mock.base_url) as url, httpx.AsyncClient() as http:
        body = {
            "model": "gpt-4o-mini-tts",
            "input": HELLO,
            "voice": "coral",
            "response_format": "pcm",
            "stream_format": "sse",
        }
        r = await http.post(
            f"{url}/v1/audio/speech", json=body, headers={"authorization": f"Bearer {KEY}"}
        )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(frame.removeprefix("data: ")) for frame in r.text.split("\n\n") if frame]
    *deltas, done = events
    assert {e["type"] for e in deltas} == {"speech.audio.delta"}
    assert b"".join(base64.b64decode(e["audio"]) for e in deltas) == mock_speech(HELLO, "pcm")
    assert done == {
        "type": "speech.audio.done",
        "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
    }
    # the vendor was asked for raw audio, which every model streams
    assert "stream_format" not in openai_mock.requests[0].json()


async def test_a_stream_broken_after_it_started_ends_in_an_error_event(fake: FakePlugin) -> None:
    fake.script.push(Reply(stream_fault="error", error="synthesis failed"))
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        body = {"model": "fake/tts-1", "input": HELLO * 100, "voice": "alloy"}
        r = await http.post(
            f"{url}/v1/audio/speech",
            json={**body, "stream_format": "sse"},
            headers={"authorization": f"Bearer {KEY}"},
        )
    events = [json.loads(frame.removeprefix("data: ")) for frame in r.text.split("\n\n") if frame]
    assert [e["type"] for e in events] == ["speech.audio.delta", "error"]
    assert "synthesis failed" in events[-1]["error"]["message"]
