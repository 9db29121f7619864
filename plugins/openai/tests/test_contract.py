"""relaykit-openai passes the provider contract: OpenAI (Chat Completions and the
Responses API) and compatible presets.

Embeddings do not depend on the chat API: the embeddings suite runs once, with
OpenAI on Chat Completions; the Groq-style preset has none and checks the refusal.
Rerank likewise: OpenAI and Groq have none (the contract checks the refusal);
the vLLM preset runs the rerank suite. Speech to text: the transcription suite
runs with OpenAI (gpt-4o-mini-transcribe, billed by the token) and the vLLM
preset (Whisper, json); the others transcribe once each (Groq and OpenAI on the
Responses API with Whisper, billed by the minute). Image generation: the image
suite runs with OpenAI (gpt-image-1) and the Together preset (FLUX, width and
height); OpenAI on the Responses API draws once with gpt-image-1-mini; Groq and
vLLM have none (the contract checks the refusal). Image edits: the edit suite runs
with OpenAI (gpt-image-1, an image and a mask in a form); OpenAI on the Responses API
edits once with gpt-image-1-mini; no preset edits (the contract checks the refusal).
Text to speech: the speech suite runs with OpenAI (gpt-4o-mini-tts, whose wav
transcribes back); Groq and OpenAI on the Responses API speak once each (playai-tts,
tts-1); vLLM and Together have none (the contract checks the refusal). Every harness
with a speech or transcription model also streams it once, its chunks (or deltas)
joined to the whole answer. Moderation: the moderation suite runs with OpenAI
(omni-moderation-latest); OpenAI on the Responses API moderates once
(text-moderation-latest); the presets have none (the contract checks the refusal).
Azure OpenAI runs the provider contract once, on the v1 API, each capability it
serves once, and the batch suite on a Global Batch deployment of its own (its own
tests, test_azure.py and test_azure_batches.py, cover the rest of its wire format).
Bedrock Mantle runs it once, Chat Completions with a Bedrock API key as the bearer
token (test_mantle.py covers its region, credentials and refusals).
Batches: the batch suite runs with OpenAI (Chat Completions lines); OpenAI on the
Responses API and the Groq-style preset run one batch each; vLLM and Together have
none (the contract checks the refusal).
"""

from collections.abc import Iterator

import pytest

from relaykit.testing import (
    BatchContract,
    EmbeddingContract,
    Harness,
    ImageContract,
    ImageEditContract,
    ModerationContract,
    OpenAIMock,
    ProviderContract,
    RerankContract,
    SpeechContract,
    TranscriptionContract,
)
from relaykit_openai.testing import AzureOpenAIMock

KEY = "sk-test-0123456789abcdef0123"
#: an Azure key's shape: 32 hex digits, no prefix a scrubber could know it by
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
EMBEDDING_MODEL = "openai/text-embedding-3-small"


class TestOpenAI(
    ProviderContract,
    EmbeddingContract,
    TranscriptionContract,
    ImageContract,
    ImageEditContract,
    SpeechContract,
    ModerationContract,
    BatchContract,
):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                supports_message_names=True,  # Chat Completions takes a name
                mock=mock,
                model="openai/gpt-4o-mini",
                providers={"openai": {"base_url": mock.base_url, "api_key": KEY}},
                embedding_model=EMBEDDING_MODEL,
                reasoning_model="openai/o4-mini",
                transcription_model="openai/gpt-4o-mini-transcribe",
                image_model="openai/gpt-image-1",
                image_edit_model="openai/gpt-image-1",
                image_edit_mask=True,
                speech_model="openai/gpt-4o-mini-tts",
                moderation_model="openai/omni-moderation-latest",
                batch_model="openai/gpt-4o-mini",
            )


class TestCompatiblePreset(ProviderContract):
    """A preset chosen by `type`: a second name for a Groq-style deployment.

    Groq's Chat Completions reads no documents: the preset refuses them unsent.
    """

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                supports_message_names=True,  # Chat Completions takes a name
                mock=mock,
                model="mygroq/llama-3.3-70b-versatile",
                providers={"mygroq": {"type": "groq", "base_url": mock.base_url, "api_key": KEY}},
                supports_documents=False,
                reasoning_model="mygroq/openai/gpt-oss-20b",
                transcription_model="mygroq/whisper-large-v3-turbo",
                speech_model="mygroq/playai-tts",
                batch_model="mygroq/llama-3.3-70b-versatile",
            )


class TestVllmPreset(ProviderContract, RerankContract, TranscriptionContract):
    """The vLLM preset by its own name: Chat Completions, rerank at /v1/rerank, and
    speech to text at /v1/audio/transcriptions (json only).

    vLLM's Chat Completions reads no documents: the preset refuses them unsent.
    """

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                supports_message_names=True,  # Chat Completions takes a name
                mock=mock,
                model="vllm/meta-llama/Llama-3.1-8B-Instruct",
                providers={"vllm": {"base_url": mock.base_url, "api_key": KEY}},
                supports_documents=False,
                embedding_model="vllm/BAAI/bge-m3",
                rerank_model="vllm/BAAI/bge-reranker-v2-m3",
                reasoning_model="vllm/openai/gpt-oss-20b",
                transcription_model="vllm/openai/whisper-large-v3",
            )


class TestOpenAIResponses(ProviderContract):
    """The same provider speaking the Responses API (`api = "responses"`)."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                mock=mock,
                model="openai/o4-mini",
                providers={
                    "openai": {"base_url": mock.base_url, "api_key": KEY, "api": "responses"}
                },
                # o4-mini takes no temperature but 1: refused unsent
                sampling_model="openai/gpt-4.1-mini",
                supports_seed=False,  # no Responses field: refused unsent
                supports_stop=False,
                embedding_model=EMBEDDING_MODEL,
                transcription_model="openai/whisper-1",
                image_model="openai/gpt-image-1-mini",
                image_edit_model="openai/gpt-image-1-mini",
                image_edit_mask=True,
                speech_model="openai/tts-1",
                moderation_model="openai/text-moderation-latest",
                batch_model="openai/o4-mini",  # a batch to /v1/responses
            )


class TestTogetherPreset(ProviderContract, ImageContract):
    """The Together preset: Chat Completions, and images at /v1/images/generations
    (FLUX, its size as width and height, base64 asked for).

    Together's Chat Completions reads no documents: the preset refuses them unsent.
    """

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                supports_message_names=True,  # Chat Completions takes a name
                mock=mock,
                model="together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
                providers={"together": {"base_url": mock.base_url, "api_key": KEY}},
                supports_documents=False,
                reasoning_model="together/openai/gpt-oss-20b",
                embedding_model="together/BAAI/bge-base-en-v1.5",
                rerank_model="together/Salesforce/Llama-Rank-V1",
                transcription_model="together/openai/whisper-large-v3",
                image_model="together/black-forest-labs/FLUX.1-schnell",
            )


class TestAzure(ProviderContract, BatchContract):
    """Azure OpenAI on the v1 API: chat through a deployment whose name is not its
    model's (``gpt4o-prod`` runs gpt-4o-2024-11-20), the other capabilities through
    deployments named as their models (Azure's default), batches through a Global
    Batch deployment (``gpt4o-batch``). Azure has no moderation or rerank, and its
    Chat Completions API reads no documents: refused unsent.
    """

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        deployments = {
            "gpt4o-prod": "gpt-4o-2024-11-20",
            "gpt4o-batch": "gpt-4o-2024-11-20",
            "o4-mini": "o4-mini-2025-04-16",
            "text-embedding-3-small": "text-embedding-3-small",
            "gpt-4o-mini-transcribe": "gpt-4o-mini-transcribe",
            "gpt-image-1": "gpt-image-1",
            "gpt-4o-mini-tts": "gpt-4o-mini-tts",
        }
        with AzureOpenAIMock(api_key=AZURE_KEY, deployments=deployments) as mock:
            yield Harness(
                supports_message_names=True,  # Chat Completions takes a name
                mock=mock,
                model="azure/gpt4o-prod",
                providers={"azure": {"base_url": mock.base_url, "api_key": AZURE_KEY}},
                supports_documents=False,
                reasoning_model="azure/o4-mini",
                embedding_model="azure/text-embedding-3-small",
                transcription_model="azure/gpt-4o-mini-transcribe",
                image_model="azure/gpt-image-1",
                image_edit_model="azure/gpt-image-1",
                image_edit_mask=True,
                speech_model="azure/gpt-4o-mini-tts",
                batch_model="azure/gpt4o-batch",
            )


class TestBedrockMantle(ProviderContract):
    """Bedrock Mantle: gpt-oss through Chat Completions, a Bedrock API key as the bearer
    token. Mantle serves no embeddings, and its Chat Completions reads no documents:
    refused unsent."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with OpenAIMock(api_key=KEY) as mock:
            yield Harness(
                supports_message_names=True,  # Chat Completions takes a name
                mock=mock,
                model="bedrock-mantle/openai.gpt-oss-120b",
                providers={"bedrock-mantle": {"base_url": mock.base_url, "api_key": KEY}},
                supports_documents=False,
            )
