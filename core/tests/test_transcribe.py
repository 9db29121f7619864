"""Client.transcribe: the text said in audio, through the chat pipeline's routing,
limits, retries, cost, metrics and call log."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import (
    AudioFile,
    ConfigError,
    InvalidRequestError,
    ModelPrice,
    QuotaExceededError,
    TranscriptionResponse,
    Usage,
)
from relaykit.testing import FakePlugin, FakeProvider, RecordingExporter, mock_audio
from relaykit.transcription import transcription_cost

from .conftest import SETTINGS, Tickets, client, token_metrics

SPEECH = mock_audio("the quick brown fox", seconds=90)


# -- the answer ----------------------------------------------------------------


@pytest.mark.anyio
async def test_the_text_comes_back_with_its_length_and_a_cost_per_minute() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.transcribe("fake/whisper-1", SPEECH, language="en", prompt="Fox, Inc.")
    assert r.text == "the quick brown fox"
    assert (r.provider, r.model, r.language, r.duration, r.attempts) == (
        "fake",
        "whisper-1",
        "english",  # what the vendor said, not what was asked
        90.0,
        1,
    )
    assert r.cost == Decimal("0.009")  # a minute and a half at USD 0.006
    assert r.usage == Usage() and r.latency is not None
    (sent,) = fake.transcriptions
    assert (sent.model, sent.language, sent.prompt, sent.audio.data) == (
        "whisper-1",
        "en",
        "Fox, Inc.",
        SPEECH,
    )
    assert (sent.audio.format, sent.audio_seconds) == ("wav", 90.0)


@pytest.mark.anyio
async def test_a_model_billed_by_the_token_is_priced_by_its_tokens() -> None:
    async with client(FakePlugin()) as c:
        r = await c.transcribe("fake/gpt-transcribe", mock_audio("one two three", seconds=60))
    # a thousand audio tokens a minute, and three words out, at USD 1 and 2 a million
    assert (r.usage, r.audio_tokens, r.duration) == (Usage(1000, 3), 1000, None)
    assert r.cost == Decimal("0.001006")
    assert r.language is None and r.id == "transcribe-fake"


@pytest.mark.anyio
async def test_audio_from_a_path_or_an_audio_file(tmp_path: Path) -> None:
    path = tmp_path / "memo.wav"
    path.write_bytes(SPEECH)
    fake = FakePlugin()
    mp3 = b"ID3\x04" + bytes(1000)
    async with client(fake) as c:
        by_path = await c.transcribe("fake/whisper-1", path)
        by_name = await c.transcribe("fake/whisper-1", str(path))
        given = await c.transcribe("fake/whisper-1", AudioFile(mp3, filename="/tmp/x/memo"))
    assert by_path.text == by_name.text == "the quick brown fox"
    assert given.text.startswith("audio ")
    assert fake.transcriptions[2].audio.upload_name == "memo.mp3"
    assert fake.transcriptions[2].audio_seconds is None  # no header to read


@pytest.mark.parametrize(
    ("audio", "params", "message"),
    [
        (b"not audio", {}, "format is unknown"),
        ("no/such/file.wav", {}, "cannot read audio file 'no/such/file.wav'"),
        # was ValueError: embedded null byte
        ("memo\x00.wav", {}, "the path holds a NUL character"),
        (SPEECH, {"language": "English please"}, "`language` must be a language code"),
        (SPEECH, {"language": 7}, "`language` must be a language code"),
        (SPEECH, {"prompt": ["a"]}, "`prompt` must be a string"),
        (SPEECH, {"temperature": 0}, "pass others in extra"),
        (SPEECH, {"langauge": "en"}, "did you mean 'language'"),
        (SPEECH, {"timeout": 0}, "`timeout` must be a positive number"),
    ],
)
@pytest.mark.anyio
async def test_bad_input_is_a_typed_error_naming_it(
    audio: Any, params: dict[str, Any], message: str
) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match=message):
            await c.transcribe("fake/whisper-1", audio, **params)
    assert fake.transcriptions == []


@pytest.mark.anyio
async def test_a_blank_prompt_is_no_prompt_and_extra_goes_through() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        await c.transcribe("fake/whisper-1", SPEECH, prompt="", extra={"temperature": 0.2})
    assert fake.transcriptions[0].prompt is None
    assert fake.transcriptions[0].extra == {"temperature": 0.2}


class _NoSpeech(FakeProvider):
    transcribe = None  # type: ignore[assignment]  # as a plugin without speech to text


@pytest.mark.anyio
async def test_a_provider_without_speech_to_text_is_refused_and_a_route_falls_back() -> None:
    fake = FakePlugin()
    routes = {"ears": {"targets": ["chatonly/m", "fake/whisper-1"]}}
    async with client(FakePlugin("chatonly", provider=_NoSpeech), fake, models=routes) as c:
        with pytest.raises(InvalidRequestError, match="chatonly has no transcription API") as info:
            await c.transcribe("chatonly/m", SPEECH)
        assert info.value.status is None
        assert "transcribe with a provider that has one: openai" in str(info.value)
        r = await c.transcribe("ears", SPEECH)
    assert (r.provider, r.text) == ("fake", "the quick brown fox")


# -- resilience, limits, budgets --------------------------------------------------


@pytest.mark.anyio
async def test_a_server_error_is_retried_and_a_fallback_is_recorded() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.fail(503, "busy")
    async with client(first) as c:
        r = await c.transcribe("fake/whisper-1", SPEECH)
    assert (r.attempts, r.text) == (2, "the quick brown fox")
    first.script.fail(503, "down", retry_after=0)
    exporter = RecordingExporter()
    routes = {"ears": {"targets": ["fake/whisper-a", "other/whisper-b"]}}
    async with client(first, second, exporter, models=routes, retry={"attempts": 1}) as c:
        r = await c.transcribe("ears", SPEECH)
    assert (r.provider, r.model) == ("other", "whisper-b")
    (record,) = exporter.records
    assert (record.operation, record.fallbacks) == ("transcribe", 1)


@pytest.mark.anyio
async def test_a_budget_holds_a_wav_files_minutes_before_it_is_sent() -> None:
    fake = FakePlugin()
    # 0.01 USD: a 90-second WAV costs 0.009, so a second one cannot be held
    budget = {"limits": {"fake/*": {"budget_usd": "0.01"}}}
    async with client(fake, **budget) as c:
        await c.transcribe("fake/whisper-1", SPEECH)
        with pytest.raises(QuotaExceededError, match="budget"):
            await c.transcribe("fake/whisper-1", SPEECH)
    assert len(fake.transcriptions) == 1, "refused before sending: its minutes were held"


@pytest.mark.anyio
async def test_audio_of_unknown_length_is_settled_when_the_answer_says() -> None:
    fake = FakePlugin()
    mp3 = b"ID3\x04" + bytes(16_000 * 90 - 4)  # 90 s at the mocks' 16,000 bytes a second
    async with client(fake, limits={"fake/*": {"budget_usd": "0.01"}}) as c:
        first = await c.transcribe("fake/whisper-1", mp3)  # nothing held: sent
        assert first.cost == Decimal("0.009")  # settled at what it cost
        await c.transcribe("fake/whisper-1", mp3)  # still under, as far as anyone knew
        with pytest.raises(QuotaExceededError, match="budget"):
            await c.transcribe("fake/whisper-1", mp3)
    assert len(fake.transcriptions) == 2


def test_a_price_per_minute_is_configured_and_overrides_the_plugins(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    settings = {
        "prices": {
            "fake/whisper-1": {"per_minute": "0.004"},
            "fake/gpt-transcribe": {"input": "2.5", "output": "10", "audio_input": "6"},
        }
    }
    prices = closed_after(relaykit.Client({**SETTINGS, **settings})).config.prices
    assert prices["fake/whisper-1"] == ModelPrice(
        Decimal(0), Decimal(0), per_minute=Decimal("0.004")
    )
    assert prices["fake/whisper-1"].cost(Usage(), minutes=1.5) == Decimal("0.006")
    tokens = prices["fake/gpt-transcribe"]
    # 1,000 audio tokens at 6, 20 prompt tokens at 2.5, 50 out at 10, per million
    assert tokens.cost(Usage(1020, 50), audio_tokens=1000) == Decimal("0.00655")
    with pytest.raises(ConfigError, match="or per_minute"):
        closed_after(relaykit.Client({**SETTINGS, "prices": {"fake/m": {"input": 1}}}))
    with pytest.raises(ConfigError, match="did you mean 'per_minute'"):
        closed_after(relaykit.Client({**SETTINGS, "prices": {"fake/m": {"per_minutes": 1}}}))


@pytest.mark.anyio
async def test_a_configured_price_per_minute_prices_the_call() -> None:
    prices = {"prices": {"fake/whisper-1": {"per_minute": "0.001"}}}
    async with client(FakePlugin(), **prices) as c:
        r = await c.transcribe("fake/whisper-1", SPEECH)
    assert r.cost == Decimal("0.0015")


@pytest.mark.parametrize(
    ("price", "response", "cost"),
    [
        # by the minute when the vendor said how long
        (
            ModelPrice(Decimal(0), Decimal(0), per_minute=Decimal("0.006")),
            {"duration": 30.0},
            "0.003",
        ),
        # by the minute, but nobody said how long, and no token prices: unknown
        (ModelPrice(Decimal(0), Decimal(0), per_minute=Decimal("0.006")), {}, None),
        # by the minute, no length, but token prices and tokens: by the token
        (
            ModelPrice(Decimal(1), Decimal(2), per_minute=Decimal("0.006")),
            {"usage": Usage(100, 10)},
            "0.00012",
        ),
        # by the token, none counted: unknown, not a wrong zero
        (ModelPrice(Decimal(1), Decimal(2)), {"duration": 30.0}, None),
        (None, {"duration": 30.0}, None),
    ],
)
def test_what_a_transcription_costs(
    price: ModelPrice | None, response: dict[str, Any], cost: str | None
) -> None:
    found = transcription_cost(price, TranscriptionResponse(text="x", **response))
    assert found == (None if cost is None else Decimal(cost))


# -- what is recorded ---------------------------------------------------------


@pytest.mark.anyio
async def test_the_record_keeps_the_audios_size_not_its_bytes_and_the_transcript_redacted() -> None:
    secret = "sk-proj-" + "Ab3" * 10
    exporter = RecordingExporter()
    audio = mock_audio(f"my key is {secret}", seconds=12.25)
    async with client(FakePlugin(), exporter) as c:
        await c.transcribe(
            "fake/whisper-1",
            audio,
            language="en",
            prompt="Acme words",
            metadata={"correlation_id": "c-1", "team": "voice"},
        )
    (record,) = exporter.records
    assert record.ok and record.operation == "transcribe"
    assert record.params == {
        "audio_bytes": len(audio),
        "media_type": "audio/wav",
        "audio_seconds": 12.25,
        "language": "en",
        "metadata": {"team": "voice"},
    }
    assert [(m.role, m.text) for m in record.messages] == [("user", "Acme words")]
    assert record.text.startswith("my key is ") and secret not in repr(record)
    assert "RIFF" not in repr(record) and "\\x80" not in repr(record)
    assert (record.correlation_id, record.cost) == ("c-1", Decimal("0.001225"))


@pytest.mark.anyio
async def test_the_record_has_the_length_the_vendor_measured() -> None:
    exporter = RecordingExporter()
    mp3 = b"ID3\x04" + bytes(32_000 - 4)  # no header length; the vendor says 2 s
    async with client(FakePlugin(), exporter) as c:
        await c.transcribe("fake/whisper-1", mp3)
    assert exporter.records[0].params == {
        "audio_bytes": 32_000,
        "media_type": "audio/mpeg",
        "audio_seconds": 2.0,
    }


@pytest.mark.anyio
async def test_without_a_content_reader_the_record_keeps_no_transcript() -> None:
    class Counter(RecordingExporter):
        needs_content = False

    exporter = Counter()
    async with client(FakePlugin(), exporter) as c:
        await c.transcribe("fake/whisper-1", SPEECH, prompt="private words")
    (record,) = exporter.records
    assert (record.text, record.messages) == ("", ())


@pytest.mark.anyio
async def test_a_failed_call_is_recorded() -> None:
    fake = FakePlugin()
    fake.script.fail(400, "audio too short")
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        with pytest.raises(InvalidRequestError, match="audio too short"):
            await c.transcribe("fake/whisper-1", SPEECH)
    (record,) = exporter.records
    assert (record.ok, record.operation, record.error_type, record.text) == (
        False,
        "transcribe",
        "InvalidRequestError",
        "",
    )
    assert record.params["audio_seconds"] == 90.0  # the header's


def test_metrics_count_a_transcripts_tokens_only_when_the_vendor_does() -> None:
    def tokens(usage: Usage) -> list[tuple[float, str]]:
        return token_metrics("transcribe", "openai/gpt-4o-transcribe", usage)

    assert tokens(Usage(1000, 12)) == [(1000.0, "input"), (12.0, "output")]
    assert tokens(Usage()) == []  # whisper-1: billed by the minute, no tokens


@pytest.mark.anyio
async def test_outbound_redaction_keeps_pii_in_the_prompt_from_the_provider() -> None:
    fake = FakePlugin()
    async with client(fake, Tickets()) as c:
        await c.transcribe("fake/whisper-1", SPEECH, prompt="about TICKET-9")
    assert fake.transcriptions[0].prompt == "about <T>"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_transcribes(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "memo.wav"
    path.write_bytes(SPEECH)
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()], backend=backend) as c:
        r = c.transcribe("fake/whisper-1", path, language="en")
    assert (r.text, r.duration) == ("the quick brown fox", 90.0)


@pytest.mark.anyio
async def test_a_closed_client_refuses() -> None:
    c = client(FakePlugin())
    async with c:
        pass
    with pytest.raises(relaykit.ClientClosedError):
        await c.transcribe("fake/whisper-1", SPEECH)
