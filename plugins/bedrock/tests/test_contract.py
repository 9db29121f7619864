"""relaykit-bedrock passes the provider contract, signed with SigV4 and with a Bedrock API key,
the embeddings contract with Titan Text Embeddings V2 and Cohere Embed v4, the rerank
contract with Cohere Rerank 3.5 and Amazon Rerank 1.0, and the image and image edit
contracts with Amazon Nova Canvas and Titan Image Generator v2."""

from collections.abc import Iterator

import pytest

from relaykit import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
)
from relaykit.testing import (
    EmbeddingContract,
    Harness,
    ImageContract,
    ImageEditContract,
    ProviderContract,
    RerankContract,
)
from relaykit_bedrock.testing import BedrockMock

# Claude Haiku 4.5 takes reasoning= as a thinking budget (and "none" as disabled).
MODEL = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"
# Nova 2 takes it as reasoningConfig: the API-key class checks that family.
NOVA_2 = "bedrock/us.amazon.nova-2-lite-v1:0"
# AWS's default embedding model; it shortens vectors to 256, 512 or 1024 only.
EMBEDDING_MODEL = "bedrock/amazon.titan-embed-text-v2:0"
# Cohere's reranker takes top_n; Amazon's is sent none (its results are cut by the plugin).
RERANK_MODEL = "bedrock/cohere.rerank-v3-5:0"
AMAZON_RERANK_MODEL = "bedrock/amazon.rerank-v1:0"
# Both draw up to 5 images a request (the contract asks for 2), 1024x1024 among their sizes.
IMAGE_MODEL = "bedrock/amazon.nova-canvas-v1:0"
TITAN_IMAGE_MODEL = "bedrock/amazon.titan-image-generator-v2:0"
# Bedrock never answers 401: bad credentials are 403. 424 is ModelErrorException.
STATUSES = {
    400: InvalidRequestError,
    403: AuthenticationError,
    404: NotFoundError,
    424: ProviderUnavailableError,
    429: RateLimitError,
    500: ProviderUnavailableError,
    503: ProviderUnavailableError,
}


def harness(
    mock: BedrockMock,
    embedding_model: str = EMBEDDING_MODEL,
    embedding_dimensions: int = 256,
    rerank_model: str = RERANK_MODEL,
    reasoning_model: str | None = None,
    image_model: str = IMAGE_MODEL,
    image_edit_model: str | None = None,
    **provider: str,
) -> Harness:
    return Harness(
        mock=mock,
        model=MODEL,
        # Claude Sonnet 4 takes temperature and top_p together (Haiku 4.5 one only).
        sampling_model="bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
        reasoning_model=reasoning_model,
        embedding_model=embedding_model,
        embedding_dimensions=embedding_dimensions,
        rerank_model=rerank_model,
        image_model=image_model,
        # each edits the model it draws with: inpainting with a mask, a variation without
        image_edit_model=image_edit_model or image_model,
        image_edit_mask=True,
        supports_seed=False,
        providers={
            "bedrock": {"base_url": mock.base_url, "control_plane_url": mock.base_url, **provider}
        },
        supports_retry_after=False,  # Bedrock sends no Retry-After
        supports_reasoning_tokens=False,  # reasoning is inside outputTokens
        statuses=STATUSES,
    )


class TestBedrockSigV4(
    ProviderContract, EmbeddingContract, RerankContract, ImageContract, ImageEditContract
):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with BedrockMock() as mock:
            yield harness(mock, region=mock.region)


class TestBedrockApiKey(
    ProviderContract, EmbeddingContract, RerankContract, ImageContract, ImageEditContract
):
    """A Bedrock API key (bearer token) instead of SigV4; the region comes from AWS_REGION.
    It ranks with Amazon Rerank 1.0, thinks with Nova 2 and draws with Titan."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with BedrockMock(bearer_token="ABSKQmVkcm9ja0FQSUtleS1tb2NrLXRva2Vu") as mock:
            yield harness(
                mock,
                rerank_model=AMAZON_RERANK_MODEL,
                reasoning_model=NOVA_2,
                image_model=TITAN_IMAGE_MODEL,
                api_key="ABSKQmVkcm9ja0FQSUtleS1tb2NrLXRva2Vu",
            )


class TestBedrockCohereEmbeddings(EmbeddingContract):
    """Cohere Embed v4 through a cross-region inference profile: 96 texts a request."""

    # EmbeddingContract copies ProviderContract.client without its staticmethod,
    # which works only after ProviderContract in the bases: say it again here.
    client = staticmethod(ProviderContract.client)

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with BedrockMock() as mock:
            yield harness(mock, "bedrock/us.cohere.embed-v4:0", region=mock.region)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model",
    [
        "bedrock/anthropic.claude-opus-5",  # "none" is thinking disabled
        "bedrock/us.anthropic.claude-sonnet-5",
        "bedrock/us.anthropic.claude-haiku-5-5",
        "bedrock/global.anthropic.claude-sonnet-5-5",  # "none" is between_tools
    ],
)
async def test_claude_5_models_that_can_stop_thinking_keep_the_thinking_contract(
    model: str,
) -> None:
    # Claude 5 thinks by default: "none" must be sent, and nothing without reasoning=.
    with BedrockMock() as mock:
        await TestBedrockSigV4().test_reasoning_setting_reaches_the_model(
            harness(mock, reasoning_model=model, region=mock.region)
        )
