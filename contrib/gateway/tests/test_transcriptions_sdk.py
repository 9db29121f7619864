"""OpenAI's own SDK transcribing through the gateway, over loopback HTTP, as its users
would: to the fake provider, and on through relaykit-openai to the OpenAI mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai.types.audio import TranscriptionTextDeltaEvent

import relaykit
from relaykit.testing import FakePlugin, OpenAIMock, RecordingExporter, mock_audio
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running, running_over
from relaykit_gemini.testing import GeminiMock

from .conftest import gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

SPEECH = mock_audio("the gateway heard this", seconds=30)


async def test_a_file_from_the_sdk_comes_back_as_its_text(
    fake: FakePlugin, records: RecordingExporter, tmp_path: Path
) -> None:
    path = tmp_path / "memo.wav"
    path.write_bytes(SPEECH)
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        with path.open("rb") as file:
            r = await client.audio.transcriptions.create(
                model="fake/whisper-1",
                file=file,
                language="en",
                prompt="gateway",
                temperature=0.2,
                extra_body={"user": "u-7"},
            )
    assert r.text == "the gateway heard this"
    (sent,) = fake.transcriptions
    assert (sent.model, sent.language, sent.prompt) == ("whisper-1", "en", "gateway")
    assert (sent.audio.data, sent.audio.upload_name) == (SPEECH, "memo.wav")
    assert sent.extra == {"temperature": "0.2"}
    # the call's correlation id is the request id the gateway answered with
    assert sent.metadata.pop("correlation_id").startswith("req_")
    assert sent.metadata == {"user": "u-7", "gateway_key": "alice"}
    (record,) = records.records
    assert (record.operation, record.params["audio_seconds"]) == ("transcribe", 30.0)


async def test_verbose_json_and_text_as_the_sdk_reads_them(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        verbose = await client.audio.transcriptions.create(
            model="fake/whisper-1", file=("a.wav", SPEECH), response_format="verbose_json"
        )
        text = await client.audio.transcriptions.create(
            model="fake/whisper-1", file=("a.wav", SPEECH), response_format="text"
        )
        tokens = await client.audio.transcriptions.create(
            model="fake/gpt-transcribe", file=("a.wav", SPEECH)
        )
    assert (verbose.text, verbose.language, verbose.duration) == (
        "the gateway heard this",
        "english",
        30.0,
    )
    assert text == "the gateway heard this"
    usage: Any = tokens.usage
    assert (usage.type, usage.input_tokens, usage.output_tokens) == ("tokens", 500, 4)


async def test_on_through_the_openai_plugin_to_the_vendor(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/audio/transcriptions",
            headers={"authorization": f"Bearer {KEY}"},
            data={"model": "whisper-1"},
            files={"file": ("memo.wav", SPEECH, "audio/wav")},
        )
    assert r.status_code == 200
    assert r.json() == {
        "text": "the gateway heard this",
        "usage": {"type": "duration", "seconds": 30},
    }
    assert (r.headers["x-relaykit-provider"], r.headers["x-relaykit-cost"]) == ("openai", "0.003")
    sent = openai_mock.last_request
    assert sent.path == "/v1/audio/transcriptions" and SPEECH in sent.body


async def test_on_through_the_gemini_plugin_to_the_vendor() -> None:
    with GeminiMock(api_key=UPSTREAM_KEY) as gemini:
        async with running_over(gemini=gemini.base_url) as url, openai_sdk(url) as client:
            r = await client.audio.transcriptions.create(
                model="gemini/gemini-2.5-flash",
                file=("memo.wav", SPEECH, "audio/wav"),
                language="en",
            )
        sent = gemini.last_request
    assert r.text == "the gateway heard this"
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    (content,) = sent.json()["contents"]
    assert content["parts"][0]["inlineData"]["mimeType"] == "audio/wav"


@pytest.mark.parametrize(
    ("data", "files", "message"),
    [
        ({"model": "fake/whisper-1"}, None, "`file` is required"),
        ({}, {"file": ("a.wav", SPEECH)}, "`model` must be a non-empty string"),
        (
            {"model": "fake/whisper-1", "response_format": "srt"},
            {"file": ("a.wav", SPEECH)},
            "srt and vtt need segment times",
        ),
        (
            {"model": "fake/whisper-1", "timestamp_granularities[]": "word"},
            {"file": ("a.wav", SPEECH)},
            "`timestamp_granularities` is not served",
        ),
        ({"model": "fake/whisper-1"}, {"file": ("a.txt", b"not audio")}, "format is unknown"),
        # OpenAI answers include[]=logprobs with each token's log probability; the
        # gateway has none to give (passed on, they were dropped from the answer)
        (
            {"model": "fake/whisper-1", "include[]": "logprobs"},
            {"file": ("a.wav", SPEECH)},
            "does not return log probabilities",
        ),
    ],
)
async def test_what_cannot_be_served_is_a_400_in_openais_shape(
    fake: FakePlugin, data: dict[str, str], files: Any, message: str
) -> None:
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/audio/transcriptions",
            headers={"authorization": f"Bearer {KEY}"},
            data=data,
            files=files or {"other": ("x.txt", b"x", "text/plain")},
        )
        json_body = await http.post(
            f"{url}/v1/audio/transcriptions",
            headers={"authorization": f"Bearer {KEY}"},
            json={"model": "fake/whisper-1"},
        )
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]
    assert json_body.status_code == 400
    assert "must be a multipart/form-data form" in json_body.json()["error"]["message"]
    assert fake.transcriptions == []


async def test_a_key_limited_to_other_models_is_refused(fake: FakePlugin) -> None:
    from relaykit_gateway.keys import GatewayKeys

    keys = GatewayKeys.parse(f"alice={KEY}", models="alice=fake/gpt-*")
    client = relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake])
    async with client, running(client, keys) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/audio/transcriptions",
            headers={"authorization": f"Bearer {KEY}"},
            data={"model": "fake/whisper-1"},
            files={"file": ("a.wav", SPEECH)},
        )
    assert r.status_code == 403
    assert fake.transcriptions == []


async def test_the_sdk_streams_a_transcript_as_openais_events(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        stream = await client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=("memo.wav", SPEECH), stream=True
        )
        events = [event async for event in stream]
    *deltas, done = events
    assert {e.type for e in deltas} == {"transcript.text.delta"}
    texts = [e.delta for e in deltas if isinstance(e, TranscriptionTextDeltaEvent)]
    assert len(texts) == len(deltas) and "".join(texts) == "the gateway heard this"
    assert done.type == "transcript.text.done" and done.text == "the gateway heard this"
    assert done.usage is not None and done.usage.input_tokens == 500  # 30 s of audio
    assert b'name="stream"\r\n\r\ntrue' in openai_mock.last_request.body


async def test_a_streamed_transcript_ends_with_its_whole_text_and_usage(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/audio/transcriptions",
            headers={"authorization": f"Bearer {KEY}"},
            data={"model": "fake/whisper-1", "stream": "true"},
            files={"file": ("memo.wav", SPEECH, "audio/wav")},
        )
        refused = await http.post(
            f"{url}/v1/audio/transcriptions",
            headers={"authorization": f"Bearer {KEY}"},
            data={"model": "fake/whisper-1", "stream": "true", "response_format": "verbose_json"},
            files={"file": ("memo.wav", SPEECH, "audio/wav")},
        )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(f.removeprefix("data: ")) for f in r.text.split("\n\n") if f]
    assert events[:-1] == [
        {"type": "transcript.text.delta", "delta": "the"},
        {"type": "transcript.text.delta", "delta": " gateway"},
        {"type": "transcript.text.delta", "delta": " heard"},
        {"type": "transcript.text.delta", "delta": " this"},
    ]
    assert events[-1] == {
        "type": "transcript.text.done",
        "text": "the gateway heard this",
        "usage": {"type": "duration", "seconds": 30},
    }
    assert refused.status_code == 400 and "verbose_json" in refused.text
    (record,) = records.records
    assert record.streamed and record.text == "the gateway heard this"
