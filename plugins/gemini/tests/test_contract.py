"""relaykit-gemini passes the provider contract, with and without Gemini call ids.

Images: the first harness draws with 2.5 Flash Image, the second with 3.1 Flash
Image, the model Imagen's refusal sends callers to (Google shut Imagen down, and
its ``:predict`` with it): both on ``generateContent``, the image suite proving
that the replacement a refusal names works end to end.
Speech to text and text to speech (both on ``generateContent``): the first
harness runs the transcription and speech suites (2.5 Flash hears, 2.5 Flash
Preview TTS speaks, in the voice Kore, as WAV or raw PCM); the second
transcribes and speaks once each, with 2.5 Pro and 2.5 Pro Preview TTS. Gemini
streams neither: each harness also streams speech and a transcript once, each
answer whole, as one chunk. Batches (Batch Mode, inline): the first harness
runs the batch suite; the second submits and reads one. Image edits: the first
harness runs the edit suite with 2.5 Flash Image (no mask: refused unsent); the
second edits once with 3 Pro Image.
"""

from collections.abc import Iterator

import pytest

from relaykit.testing import (
    BatchContract,
    EmbeddingContract,
    Harness,
    ImageContract,
    ImageEditContract,
    ProviderContract,
    SpeechContract,
    TranscriptionContract,
)
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"


class TestGemini(
    ProviderContract,
    EmbeddingContract,
    ImageContract,
    ImageEditContract,
    TranscriptionContract,
    SpeechContract,
    BatchContract,
):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with GeminiMock(api_key=KEY) as mock:
            yield Harness(
                mock=mock,
                model="gemini/gemini-2.5-flash",
                providers={"gemini": {"base_url": mock.base_url, "api_key": KEY}},
                embedding_model="gemini/gemini-embedding-001",
                embedding_dimensions=256,  # Google documents 128 to 3072
                image_model="gemini/gemini-2.5-flash-image",
                # edits as the prompt says: a mask is refused unsent
                image_edit_model="gemini/gemini-2.5-flash-image",
                transcription_model="gemini/gemini-2.5-flash",
                speech_model="gemini/gemini-2.5-flash-preview-tts",
                speech_voice="Kore",
                speech_format="pcm",
                batch_model="gemini/gemini-2.5-flash",
            )


class TestGeminiWithCallIds(ProviderContract, EmbeddingContract, ImageContract):
    """Newer models send an id with each function call; it must round-trip.

    Its embeddings answers carry no token count, as older models' do: the
    plugin estimates them. It draws with 3.1 Flash Image.
    """

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with GeminiMock(api_key=KEY, call_ids=True, embedding_usage=False) as mock:
            yield Harness(
                mock=mock,
                model="gemini/gemini-2.5-pro",
                providers={"gemini": {"base_url": mock.base_url, "api_key": KEY}},
                embedding_model="gemini/gemini-embedding-001",
                embedding_dimensions=256,  # Google documents 128 to 3072
                # 2.5 Pro cannot turn thinking off (reasoning="none"); Flash can.
                reasoning_model="gemini/gemini-2.5-flash",
                image_model="gemini/gemini-3.1-flash-image",
                image_edit_model="gemini/gemini-3-pro-image",
                transcription_model="gemini/gemini-2.5-pro",
                speech_model="gemini/gemini-2.5-pro-preview-tts",
                speech_voice="Puck",
                batch_model="gemini/gemini-2.5-pro",
            )
