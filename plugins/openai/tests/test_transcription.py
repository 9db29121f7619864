"""What relaykit-openai's speech to text (OpenAI's and the compatible presets') puts on
the wire and reads back, beyond the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import (
    AudioFile,
    InvalidRequestError,
    RelayError,
    TranscriptionRequest,
    Usage,
    multipart,
)
from relaykit.testing import OpenAIMock, Reply, mock_audio
from relaykit.testing.loopback import LoopbackServer, Request, Response
from relaykit_openai import PRESETS, OpenAIProvider
from relaykit_openai.transcription import form, parse, response_format

KEY = "sk-test-0123456789abcdef0123"
SPEECH = mock_audio("the meeting starts at noon", seconds=45)
TRANSCRIBING = {"groq", "together", "mistral", "vllm"}


def config(base_url: str, *providers: str, **sections: Any) -> dict[str, Any]:
    names = providers or ("openai",)
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {name: {"base_url": base_url, "api_key": KEY} for name in names},
        **sections,
    }


def sent_form(request: Request) -> tuple[dict[str, list[str]], multipart.Part]:
    """The text fields (each name's values, in order) and the file of a sent form."""
    parts = multipart.parse(request.body, request.headers["content-type"])
    fields: dict[str, list[str]] = {}
    for part in parts:
        if part.filename is None:
            fields.setdefault(part.name, []).append(part.text)
    (file,) = [p for p in parts if p.filename is not None]
    return fields, file


@pytest.fixture
def canned() -> Iterator[tuple[LoopbackServer, list[Response], list[Request]]]:
    """A server answering each request with the next canned response (a test's own
    bodies, which the mock would never send), keeping what it received."""
    answers: list[Response] = []
    received: list[Request] = []

    async def handler(request: Request) -> Response:
        received.append(request)
        return answers.pop(0)

    with LoopbackServer(handler) as server:
        yield server, answers, received


# -- the form ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_whisper_1_gets_verbose_json_for_the_language_and_length(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.transcribe(
            "openai/whisper-1", SPEECH, language="fr", prompt="Réunion, midi"
        )
    request = mock.last_request
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    fields, file = sent_form(request)
    assert fields == {
        "model": ["whisper-1"],
        "language": ["fr"],
        "prompt": ["Réunion, midi"],
        "response_format": ["verbose_json"],
    }
    assert (file.name, file.filename, file.content_type, file.data) == (
        "file",
        "audio.wav",
        "audio/wav",
        SPEECH,
    )
    assert (r.text, r.language, r.duration) == ("the meeting starts at noon", "french", 45.0)
    assert r.cost == Decimal("0.0045")  # 45 s at USD 0.006 a minute
    assert r.id is not None and r.id.startswith("req_mock")


@pytest.mark.anyio
async def test_gpt_4o_transcribe_gets_json_and_is_priced_by_its_tokens(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        mini = await client.transcribe("openai/gpt-4o-mini-transcribe", SPEECH, prompt="noon")
        full = await client.transcribe(
            "openai/gpt-4o-transcribe", mock_audio("one two", seconds=60)
        )
    fields, _ = sent_form(mock.requests[0])
    assert fields["response_format"] == ["json"]
    # 45 s: 750 audio tokens, 1 prompt token; 5 words out
    assert (mini.usage, mini.audio_tokens, mini.duration) == (Usage(751, 5), 750, None)
    assert mini.language is None  # json says none, and none was asked
    # 750 x 3.00 + 1 x 1.25 + 5 x 5.00, per million
    assert mini.cost == Decimal("0.00227625")
    # a minute: 1,000 audio tokens at 6.00, 2 out at 10.00: OpenAI's USD 0.006 a minute
    assert full.cost == Decimal("0.00602")


@pytest.mark.anyio
async def test_extra_fields_go_in_the_form_a_list_repeated(mock: OpenAIMock) -> None:
    extra = {"temperature": 0.2, "timestamp_granularities": ["word", "segment"], "x": None}
    async with relaykit.Client(config(mock.base_url)) as client:
        await client.transcribe("openai/whisper-1", SPEECH, extra=extra)
    fields, _ = sent_form(mock.last_request)
    assert fields["temperature"] == ["0.2"]
    assert fields["timestamp_granularities[]"] == ["word", "segment"]
    assert "x" not in fields


@pytest.mark.anyio
async def test_a_text_answer_asked_for_in_extra_is_the_transcript(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.transcribe(
            "openai/gpt-4o-mini-transcribe", SPEECH, extra={"response_format": "text"}
        )
    assert sent_form(mock.last_request)[0]["response_format"] == ["text"]  # replaced
    assert (r.text, r.usage, r.cost) == ("the meeting starts at noon", Usage(), None)


def test_the_file_is_named_by_its_format() -> None:
    def named(audio: AudioFile) -> str | None:
        request = TranscriptionRequest(model="whisper-1", audio=audio)
        body, content_type = form(request, "verbose", "openai")
        (file,) = [p for p in multipart.parse(body, content_type) if p.filename]
        return file.filename

    assert named(AudioFile(SPEECH, filename="/home/me/Voice memo.WAV")) == "Voice memo.WAV"
    assert named(AudioFile(b"ID3" + bytes(64), filename="clip.mpga")) == "clip.mpga"
    assert named(AudioFile(b"OggS" + bytes(64), filename="note.opus")) == "note.ogg"
    assert named(AudioFile(bytes(64), media_type="audio/webm")) == "audio.webm"


@pytest.mark.parametrize(
    ("model", "style", "asked"),
    [
        ("whisper-1", "verbose", "verbose_json"),
        ("whisper-large-v3-turbo", "verbose", "verbose_json"),
        ("openai/whisper-large-v3", "verbose", "verbose_json"),
        ("gpt-4o-transcribe", "verbose", "json"),
        ("gpt-4o-transcribe-diarize", "verbose", "json"),
        ("gpt-transcribe", "verbose", "json"),  # not a Whisper: no verbose_json
        ("openai/whisper-large-v3", "json", "json"),
        ("voxtral-mini-latest", "mistral", None),
    ],
)
def test_which_answer_is_asked_for(model: str, style: Any, asked: str | None) -> None:
    assert response_format(model, style) == asked


# -- limits and refusals --------------------------------------------------------------


@pytest.mark.anyio
async def test_audio_over_25_mib_is_refused_unsent_and_a_route_falls_back(
    mock: OpenAIMock,
) -> None:
    big = mock_audio("a long lecture", seconds=3300)  # 26.4 MB at 8 kB a second
    routes = {"ears": {"targets": ["openai/whisper-1", "groq/whisper-large-v3"]}}
    with OpenAIMock(api_key=KEY) as groq:
        groq.max_transcription_body = 100 * 2**20  # Groq's limit depends on the account
        settings = config(mock.base_url, models=routes)
        settings["providers"]["groq"] = {"base_url": groq.base_url, "api_key": KEY}
        async with relaykit.Client(settings) as client:
            with pytest.raises(
                InvalidRequestError, match="openai takes requests of up to 25 MiB"
            ) as e:
                await client.transcribe("openai/whisper-1", big)
            assert e.value.status is None and "ffmpeg" in (e.value.hint or "")
            r = await client.transcribe("ears", big)
        assert len(groq.requests) == 1
    assert not mock.requests
    assert (r.provider, r.text) == ("groq", "a long lecture")


def test_which_presets_transcribe() -> None:
    assert OpenAIProvider.transcribe is not None
    has = {name for name, cls in PRESETS.items() if cls.transcribe is not None}
    assert has == TRANSCRIBING
    assert all(cls.max_transcription_body is None for cls in PRESETS.values())


@pytest.mark.parametrize("preset", sorted(set(PRESETS) - TRANSCRIBING))
@pytest.mark.anyio
async def test_the_other_presets_refuse_unsent(preset: str, mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url, preset)) as client:
        with pytest.raises(InvalidRequestError, match=f"{preset} has no transcription API"):
            await client.transcribe(f"{preset}/whisper", SPEECH)
    assert not mock.requests


@pytest.mark.anyio
async def test_the_services_refusal_is_typed(mock: OpenAIMock) -> None:
    mock.script.push(
        Reply.failure(400, "Audio file is too short. Minimum audio length is 0.1 seconds.")
    )
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match="too short") as e:
            await client.transcribe("openai/whisper-1", mock_audio("", seconds=0.05))
    assert e.value.status == 400


# -- the compatible services' answers --------------------------------------------------


@pytest.mark.anyio
async def test_mistral_takes_no_response_format_and_refuses_a_prompt_unsent(
    canned: tuple[LoopbackServer, list[Response], list[Request]],
) -> None:
    server, answers, received = canned
    answers.append(
        Response.json(
            {
                "model": "voxtral-mini-2507",
                "text": "the meeting starts at noon",
                "language": "en",
                "segments": [],
                "usage": {
                    "prompt_audio_seconds": 45,
                    "prompt_tokens": 4,
                    "total_tokens": 400,
                    "completion_tokens": 6,
                },
            }
        )
    )
    prices = {"prices": {"mistral/voxtral-mini-latest": {"per_minute": "0.001"}}}
    async with relaykit.Client(config(f"{server.url}/v1", "mistral", **prices)) as client:
        with pytest.raises(
            InvalidRequestError, match="mistral's transcription API takes no prompt"
        ):
            await client.transcribe("mistral/voxtral-mini-latest", SPEECH, prompt="noon")
        assert not received
        r = await client.transcribe("mistral/voxtral-mini-latest", SPEECH, language="en")
    fields, _ = sent_form(received[0])
    assert fields == {"model": ["voxtral-mini-latest"], "language": ["en"]}
    assert (r.model, r.language, r.duration, r.usage) == (
        "voxtral-mini-2507",
        "en",
        45.0,
        Usage(4, 6),
    )
    assert r.cost == Decimal("0.00075")  # by the minute: the configured price wins


@pytest.mark.anyio
async def test_groq_verbose_json_and_its_request_id(
    canned: tuple[LoopbackServer, list[Response], list[Request]],
) -> None:
    server, answers, received = canned
    body = {
        "task": "transcribe",
        "language": "English",
        "duration": 12.5,
        "text": " Hello there.",
        "segments": [],
        "x_groq": {"id": "req_01abc"},
    }
    answers.append(Response.json(body))
    async with relaykit.Client(config(f"{server.url}/v1", "groq")) as client:
        r = await client.transcribe("groq/whisper-large-v3-turbo", SPEECH)
    assert sent_form(received[0])[0]["response_format"] == ["verbose_json"]
    assert (r.text, r.language, r.duration, r.id) == (" Hello there.", "English", 12.5, "req_01abc")
    assert r.cost is None  # the preset knows no prices: [prices] per_minute sets one


@pytest.mark.parametrize(
    ("body", "duration"),
    [
        ({"text": "hi", "usage": {"type": "duration", "seconds": 7}}, 7.0),  # vLLM's json
        ({"text": "hi", "duration": "5.0"}, 5.0),  # a server that sends it as text
        ({"text": "hi", "usage": {"type": "duration", "seconds": 7}, "duration": 6.5}, 6.5),
        ({"text": "hi"}, None),
    ],
)
def test_the_length_is_read_wherever_it_is(body: dict[str, Any], duration: float | None) -> None:
    request = TranscriptionRequest(model="m", audio=AudioFile(SPEECH))
    r = parse(json.dumps(body).encode(), {"content-type": "application/json"}, request, "vllm")
    assert (r.text, r.duration, r.usage) == ("hi", duration, Usage())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "a JSON list, not an object"),
        (b'{"transcript": "hi"}', "KeyError"),
        (b'{"text": 3}', "text is a int"),
        (b'{"text": "hi", "duration": -1}', "not a length in seconds"),
        (
            b'{"text": "hi", "usage": {"type": "tokens", "input_tokens": "many"}}',
            "not a token count",
        ),
    ],
)
@pytest.mark.anyio
async def test_an_answer_that_is_no_transcription_is_a_relay_error(
    body: bytes, message: str, canned: tuple[LoopbackServer, list[Response], list[Request]]
) -> None:
    server, answers, _ = canned
    answers.append(Response(200, {"content-type": "application/json"}, body))
    async with relaykit.Client(config(f"{server.url}/v1", "vllm")) as client:
        with pytest.raises(RelayError, match="could not be read") as e:
            await client.transcribe("vllm/openai/whisper-large-v3", SPEECH)
    assert message in str(e.value)


@pytest.mark.anyio
async def test_an_error_reported_with_status_200_is_typed(
    canned: tuple[LoopbackServer, list[Response], list[Request]],
) -> None:
    server, answers, _ = canned
    error = {"error": {"message": "Rate limit reached", "code": 429}}
    answers.append(Response.json(error))
    async with relaykit.Client(config(f"{server.url}/v1", "together")) as client:
        with pytest.raises(relaykit.RateLimitError, match="Rate limit reached"):
            await client.transcribe("together/openai/whisper-large-v3", SPEECH)


# -- timestamps --------------------------------------------------------------------

#: whisper-1's verbose_json with both granularities asked for, in the API reference's shape
VERBOSE_WITH_TIMESTAMPS = {
    "task": "transcribe",
    "language": "english",
    "duration": 2.5,
    "text": "The meeting starts at noon.",
    "words": [
        {"word": "The", "start": 0.0, "end": 0.24},
        {"word": "meeting", "start": 0.24, "end": 0.7},
        {"word": "starts", "start": 0.7, "end": 1.1},
        {"word": "at", "start": 1.1, "end": 1.3},
        {"word": "noon", "start": 1.3, "end": 2.0},
    ],
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 2.0,
            "text": " The meeting starts at noon.",
            "tokens": [50364, 440, 3440, 4190, 412, 24040, 13, 50464],
            "temperature": 0.0,
            "avg_logprob": -0.2,
            "compression_ratio": 0.8,
            "no_speech_prob": 0.01,
        }
    ],
    "usage": {"type": "duration", "seconds": 3},
}


@pytest.mark.anyio
async def test_the_timestamps_asked_for_come_back_with_the_text(
    canned: tuple[LoopbackServer, list[Response], list[Request]],
) -> None:
    # timestamp_granularities were sent (and billed as asked: word timestamps take
    # longer), but the answer's words and segments were dropped, so a caller who
    # asked for them had no way to read them.
    server, answers, received = canned
    answers.append(Response.json(VERBOSE_WITH_TIMESTAMPS))
    async with relaykit.Client(config(server.url + "/v1")) as client:
        r = await client.transcribe(
            "openai/whisper-1",
            SPEECH,
            extra={"timestamp_granularities": ["word", "segment"]},
        )
    fields, _ = sent_form(received[0])
    assert fields["timestamp_granularities[]"] == ["word", "segment"]
    assert [(w.text, w.start, w.end) for w in r.words] == [
        ("The", 0.0, 0.24),
        ("meeting", 0.24, 0.7),
        ("starts", 0.7, 1.1),
        ("at", 1.1, 1.3),
        ("noon", 1.3, 2.0),
    ]
    assert r.segments == (relaykit.TimedText(0.0, 2.0, " The meeting starts at noon."),)
    assert (r.text, r.duration, r.language) == ("The meeting starts at noon.", 2.5, "english")


@pytest.mark.anyio
async def test_the_mock_times_each_word_and_the_segment_as_asked(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        plain = await client.transcribe("openai/whisper-1", SPEECH)
        words = await client.transcribe(
            "openai/whisper-1", SPEECH, extra={"timestamp_granularities": ["word"]}
        )
    assert len(plain.segments) == 1 and plain.words == ()  # segments by default, as OpenAI
    assert [w.text for w in words.words] == ["the", "meeting", "starts", "at", "noon"]
    assert words.segments == ()
    starts = [w.start for w in words.words]
    assert starts == sorted(starts) and words.words[-1].end <= (words.duration or 0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("words", {"word": "x"}, "words is a dict"),
        ("words", [{"word": 7, "start": 0, "end": 1}], "words[].word is a int"),
        ("segments", [{"text": "x", "start": None, "end": 1}], "segments[] has no start"),
        ("segments", [{"text": "x", "start": "soon", "end": 1}], "ValueError"),
    ],
)
async def test_timestamps_of_the_wrong_shape_are_a_malformed_answer(
    canned: tuple[LoopbackServer, list[Response], list[Request]],
    field: str,
    value: Any,
    named: str,
) -> None:
    server, answers, _ = canned
    answers.append(Response.json({**VERBOSE_WITH_TIMESTAMPS, field: value}))
    async with relaykit.Client(config(server.url + "/v1")) as client:
        with pytest.raises(RelayError, match="could not be read") as info:
            await client.transcribe("openai/whisper-1", SPEECH)
    assert named in str(info.value)


@pytest.mark.anyio
async def test_a_streamed_whisper_transcript_keeps_its_timestamps(mock: OpenAIMock) -> None:
    # whisper-1 does not stream: its whole verbose_json answer is the stream's summary
    async with relaykit.Client(config(mock.base_url)) as client:
        extra = {"timestamp_granularities": ["word", "segment"]}
        async with client.stream_transcription("openai/whisper-1", SPEECH, extra=extra) as t:
            text = "".join([delta async for delta in t])
    assert [w.text for w in t.response.words] == text.split()
    assert len(t.response.segments) == 1 and t.response.segments[0].text == text
