"""Client.speak: text to speech through the chat pipeline's routing, limits, budgets,
retries, cost, metrics and call log."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import (
    InvalidRequestError,
    ModelPrice,
    QuotaExceededError,
    RelayError,
    SpeechRequest,
    SpeechResponse,
    Usage,
)
from relaykit.speech import speech_cost
from relaykit.testing import (
    FakePlugin,
    FakeProvider,
    RecordingExporter,
    call_log_lines,
    capture_call_log,
    mock_audio,
    mock_speech,
    mock_speech_text,
)
from relaykit.testing.speech_samples import mock_speech_seconds

from .conftest import SETTINGS, Tickets, client

HELLO = "Hello there, general"


# -- the answer ----------------------------------------------------------------


@pytest.mark.anyio
async def test_the_audio_comes_back_as_bytes_priced_per_character() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.speak("fake/tts-1", HELLO, voice="alloy")
    assert (r.provider, r.model, r.id, r.attempts) == ("fake", "tts-1", "speech-fake", 1)
    assert (r.format, r.media_type) == ("mp3", "audio/mpeg")
    assert r.audio.startswith(b"ID3") and mock_speech_text(r.audio) == HELLO
    # 20 characters at USD 15 a million
    assert r.cost == Decimal("0.0003") and r.usage == Usage()
    assert r.latency is not None and r.latency > 0
    (sent,) = fake.speeches
    assert sent == SpeechRequest(model="tts-1", text=HELLO, voice="alloy")


@pytest.mark.parametrize(
    ("fmt", "media_type", "head"),
    [
        ("mp3", "audio/mpeg", b"ID3"),
        ("opus", "audio/ogg", b"OggS"),
        ("aac", "audio/aac", b"\xff\xf1"),
        ("flac", "audio/flac", b"fLaC"),
        ("wav", "audio/wav", b"RIFF"),
        ("pcm", "audio/pcm", b""),
    ],
)
@pytest.mark.anyio
async def test_each_format_comes_with_its_media_type(
    fmt: str, media_type: str, head: bytes
) -> None:
    async with client(FakePlugin()) as c:
        r = await c.speak("fake/tts-1", HELLO, voice="nova", format=fmt.upper())
    assert (r.format, r.media_type) == (fmt, media_type)
    assert r.audio.startswith(head) and mock_speech_text(r.audio) == HELLO


@pytest.mark.anyio
async def test_a_wav_says_how_long_it_lasts_and_transcribes_back() -> None:
    async with client(FakePlugin()) as c:
        spoken = await c.speak("fake/tts-1", "round trip", voice="alloy", format="wav", speed=2)
        heard = await c.transcribe("fake/whisper-1", spoken.audio)
    assert heard.text == "round trip"
    assert spoken.duration == pytest.approx(10 / 15 / 2, abs=0.01)
    assert heard.duration == pytest.approx(spoken.duration, abs=0.01)


@pytest.mark.anyio
async def test_the_repr_shows_the_size_and_format_never_the_bytes() -> None:
    async with client(FakePlugin()) as c:
        r = await c.speak("fake/tts-1", HELLO, voice="alloy", format="flac")
    text = repr(r)
    assert f"{len(r.audio):,} bytes flac" in text and "fLaC" not in text
    assert "relaykit-mock-speech" not in text and HELLO not in text


@pytest.mark.parametrize(
    ("text", "params", "message"),
    [
        ("  ", {"voice": "alloy"}, "text must be a non-blank string"),
        (None, {"voice": "alloy"}, "text must be a non-blank string"),
        (HELLO, {}, "`voice` must name one of the vendor's voices"),
        (HELLO, {"voice": ""}, "`voice` must name one of the vendor's voices"),
        (HELLO, {"voice": "alloy", "format": "ogg"}, "`format` must be one of mp3, opus"),
        (HELLO, {"voice": "alloy", "speed": 4.5}, "`speed` must be a number from 0.25"),
        (HELLO, {"voice": "alloy", "speed": 0.2}, "`speed` must be a number from 0.25"),
        (HELLO, {"voice": "alloy", "speed": True}, "`speed` must be a number from 0.25"),
        (HELLO, {"voice": "alloy", "instructions": 3}, "`instructions` must be a string"),
        (HELLO, {"voice": "alloy", "voise": "x"}, "did you mean 'voice'"),
        (HELLO, {"voice": "alloy", "response_format": "wav"}, "pass others in extra"),
        (HELLO, {"voice": "alloy", "timeout": 0}, "`timeout` must be a positive number"),
    ],
)
@pytest.mark.anyio
async def test_bad_input_is_a_typed_error_naming_it(
    text: Any, params: dict[str, Any], message: str
) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match=re.escape(message)):
            await c.speak("fake/tts-1", text, **params)
    assert fake.speeches == []


@pytest.mark.anyio
async def test_speed_instructions_and_extra_reach_the_provider() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        await c.speak(
            "fake/gpt-4o-mini-tts",
            HELLO,
            voice="coral",
            speed=1.5,
            instructions="cheerful",
            extra={"stream_format": "audio"},
        )
        await c.speak("fake/gpt-4o-mini-tts", HELLO, voice="coral", instructions="")
    first, second = fake.speeches
    assert (first.speed, first.instructions, first.extra) == (
        1.5,
        "cheerful",
        {"stream_format": "audio"},
    )
    assert second.instructions is None


@pytest.mark.anyio
async def test_a_text_over_the_size_limit_is_refused_unsent() -> None:
    fake = FakePlugin()
    async with client(fake, validation={"max_chars": 10}) as c:
        with pytest.raises(InvalidRequestError, match="over the limit of 10"):
            await c.speak("fake/tts-1", HELLO, voice="alloy")
    assert fake.speeches == []


class _Mute(FakeProvider):
    speak = None  # type: ignore[assignment]  # as a plugin without speech


@pytest.mark.anyio
async def test_a_provider_without_speech_is_refused_and_a_route_falls_back() -> None:
    fake = FakePlugin()
    routes = {"voice": {"targets": ["chatonly/m", "fake/tts-1"]}}
    async with client(FakePlugin("chatonly", provider=_Mute), fake, models=routes) as c:
        with pytest.raises(InvalidRequestError, match="chatonly has no speech API") as e:
            await c.speak("chatonly/m", HELLO, voice="alloy")
        assert e.value.status is None
        assert "provider that has a speech API: openai" in str(e.value)
        r = await c.speak("voice", HELLO, voice="alloy")
    assert r.provider == "fake"


class _Silent(FakeProvider):
    async def speak(self, request: SpeechRequest) -> SpeechResponse:
        return SpeechResponse(audio=b"", model=request.model)


@pytest.mark.anyio
async def test_an_answer_without_audio_is_an_error_not_an_empty_success() -> None:
    exporter = RecordingExporter()
    async with client(FakePlugin(provider=_Silent), exporter) as c:
        with pytest.raises(RelayError, match="answered without audio"):
            await c.speak("fake/tts-1", HELLO, voice="alloy")
    assert exporter.records[0].error_type == "RelayError"


# -- resilience, limits, budgets --------------------------------------------------


@pytest.mark.anyio
async def test_a_server_error_is_retried_and_a_fallback_is_recorded() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.fail(503, "busy")
    async with client(first) as c:
        r = await c.speak("fake/tts-1", HELLO, voice="alloy")
    assert r.attempts == 2
    first.script.fail(503, "down", retry_after=0)
    exporter = RecordingExporter()
    routes = {"voice": {"targets": ["fake/tts-1", "other/tts-1-hd"]}}
    async with client(first, second, exporter, models=routes, retry={"attempts": 1}) as c:
        r = await c.speak("voice", HELLO, voice="alloy")
    assert (r.provider, r.model) == ("other", "tts-1-hd")
    (record,) = exporter.records
    assert (record.operation, record.fallbacks) == ("speak", 1)


@pytest.mark.anyio
async def test_a_budget_holds_the_characters_at_their_price_before_sending() -> None:
    fake = FakePlugin()
    budget = {"limits": {"fake/*": {"budget_usd": "0.001"}}}
    async with client(fake, **budget) as c:
        with pytest.raises(QuotaExceededError, match="budget"):
            # 100 characters at USD 15 a million: 0.0015, more than the budget
            await c.speak("fake/tts-1", "x" * 100, voice="alloy")
        r = await c.speak("fake/tts-1", "x" * 60, voice="alloy")  # 0.0009 held and spent
        assert r.cost == Decimal("0.0009")
        with pytest.raises(QuotaExceededError, match="budget"):
            await c.speak("fake/tts-1", "x" * 10, voice="alloy")  # 0.00015 more passes it
    assert len(fake.speeches) == 1, "refused before sending: their price was held"


def test_a_price_per_character_is_configured_and_overrides_the_plugins() -> None:
    config = relaykit.load_config({"prices": {"fake/tts-1": {"per_character": "0.00003"}}})
    assert config.prices["fake/tts-1"] == ModelPrice(
        Decimal(0), Decimal(0), per_character=Decimal("0.00003")
    )
    with pytest.raises(relaykit.ConfigError, match="per_character"):
        relaykit.load_config({"prices": {"fake/tts-1": {"per_charakter": "1"}}})


@pytest.mark.anyio
async def test_a_configured_price_per_character_prices_the_speech() -> None:
    prices = {"prices": {"fake/tts-1": {"per_character": "0.00003"}}}
    async with client(FakePlugin(), **prices) as c:
        r = await c.speak("fake/tts-1", "x" * 1000, voice="alloy")
    assert r.cost == Decimal("0.03")


def test_what_a_speech_costs() -> None:
    request = SpeechRequest(model="m", text="x" * 1000, voice="alloy")
    response = SpeechResponse(audio=b"a")
    per_char = ModelPrice(Decimal(0), Decimal(0), per_character=Decimal("0.000015"))
    assert speech_cost(per_char, request, response) == Decimal("0.015")
    tokens = ModelPrice(Decimal("0.6"), Decimal("12"))
    counted = SpeechResponse(audio=b"a", usage=Usage(100, 1000))
    assert speech_cost(tokens, request, counted) == Decimal("0.01206")
    assert speech_cost(tokens, request, response) is None  # no tokens told: unknown
    assert speech_cost(None, request, response) is None


# -- what is recorded ---------------------------------------------------------


@pytest.mark.anyio
async def test_the_record_keeps_the_text_and_the_audios_size_never_its_bytes() -> None:
    secret = "sk-proj-" + "Ab3" * 10
    exporter = RecordingExporter()
    async with client(FakePlugin(), exporter) as c:
        r = await c.speak(
            "fake/tts-1",
            f"read this key aloud: {secret}",
            voice="alloy",
            format="wav",
            speed=1.25,
            instructions="slowly",
            extra={"sample": 1},
            metadata={"correlation_id": "c-1", "team": "voice"},
        )
    (record,) = exporter.records
    assert record.ok and record.operation == "speak"
    assert record.params == {
        "voice": "alloy",
        "format": "wav",
        "characters": 59,
        "speed": 1.25,
        "instructions": "slowly",
        "audio_bytes": len(r.audio),
        "media_type": "audio/wav",
        "audio_seconds": pytest.approx(59 / 15 / 1.25, abs=0.01),
        "extra": {"sample": 1},
        "metadata": {"team": "voice"},
    }
    assert [m.role for m in record.messages] == ["user"]
    assert record.messages[0].text.startswith("read this key aloud: ")
    assert secret not in repr(record) and "RIFF" not in repr(record)
    assert record.text == "" and (record.correlation_id, record.cost) == ("c-1", r.cost)


@pytest.mark.anyio
async def test_without_a_content_reader_the_record_keeps_no_text() -> None:
    class Counter(RecordingExporter):
        needs_content = False

    exporter = Counter()
    async with client(FakePlugin(), exporter) as c:
        await c.speak("fake/tts-1", "private words", voice="alloy", instructions="whisper")
    (record,) = exporter.records
    assert (record.messages, record.params["characters"]) == ((), 13)
    assert "instructions" not in record.params


@pytest.mark.anyio
async def test_a_failed_call_is_recorded_with_what_was_asked() -> None:
    fake = FakePlugin()
    fake.script.fail(400, "Invalid value for 'voice'")
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        with pytest.raises(InvalidRequestError, match="voice"):
            await c.speak("fake/tts-1", HELLO, voice="robot")
    (record,) = exporter.records
    assert (record.ok, record.operation, record.error_type) == (
        False,
        "speak",
        "InvalidRequestError",
    )
    assert record.params == {"voice": "robot", "format": "mp3", "characters": 20}


@pytest.mark.anyio
async def test_the_log_line_says_the_audios_size() -> None:
    with capture_call_log() as out:
        async with client(FakePlugin()) as c:
            r = await c.speak("fake/tts-1", HELLO, voice="alloy")
    (line,) = call_log_lines(out)
    assert (line["operation"], line["audio_bytes"], line["cost_usd"]) == (
        "speak",
        len(r.audio),
        0.0003,
    )
    assert "ID3" not in out.getvalue() and "relaykit-mock-speech" not in out.getvalue()


@pytest.mark.anyio
async def test_outbound_redaction_keeps_pii_from_the_provider() -> None:
    fake = FakePlugin()
    async with client(fake, Tickets("<T1>", restored="TICKET-9")) as c:
        await c.speak("fake/tts-1", "your ticket is TICKET-9", voice="alloy")
    assert fake.speeches[0].text == "your ticket is <T1>"


def test_the_mock_speech_carries_its_text() -> None:
    assert mock_speech("hi", "wav") == mock_audio("hi", mock_speech_seconds("hi"))
    assert mock_speech_text(b"no speech here") is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_speaks(backend: str) -> None:
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()], backend=backend) as c:
        r = c.speak("fake/tts-1", HELLO, voice="alloy", format="opus")
    assert r.audio.startswith(b"OggS") and mock_speech_text(r.audio) == HELLO


@pytest.mark.anyio
async def test_a_closed_client_refuses() -> None:
    c = client(FakePlugin())
    async with c:
        pass
    with pytest.raises(relaykit.ClientClosedError):
        await c.speak("fake/tts-1", HELLO, voice="alloy")
