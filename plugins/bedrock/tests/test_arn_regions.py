"""A model ARN's region (``arn:aws:bedrock:REGION:...``) picks the regional endpoint
and the SigV4 scope: an ARN of another region than the configured one goes to
that region's Bedrock Runtime, signed for it, as AWS serves a model ARN only in
its own region (elsewhere: "The provided model identifier is invalid"). A fixed
endpoint (no ``{region}`` in it: a VPC endpoint, a gateway) is the one the user
chose, and keeps the configured region.

Over loopback: the mock serves only ``us-west-2`` (its path prefix, and the only
credential scope it takes), the endpoint template puts the region in the path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

import relaykit
from relaykit import NotFoundError
from relaykit_bedrock.endpoints import model_region
from relaykit_bedrock.testing import BedrockMock

pytestmark = pytest.mark.anyio

WEST = "us-west-2"
NOVA_ARN = f"arn:aws:bedrock:{WEST}:123456789012:inference-profile/us.amazon.nova-lite-v1:0"
CLAUDE_ARN = f"arn:aws:bedrock:{WEST}::foundation-model/anthropic.claude-opus-4-7"
EMBED_ARN = f"arn:aws:bedrock:{WEST}::foundation-model/amazon.titan-embed-text-v2:0"


@pytest.fixture
def west() -> Iterator[BedrockMock]:
    with BedrockMock(region=WEST) as mock:
        mock.path_prefix = f"/{WEST}"
        yield mock


def _client(mock: BedrockMock, **provider: Any) -> relaykit.Client:
    template = mock.server.url + "/{region}"
    settings = {"base_url": template, "region": "us-east-1", **provider}
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"bedrock": settings},
        }
    )


async def test_an_arn_of_another_region_goes_to_that_region_signed_for_it(
    west: BedrockMock,
) -> None:
    async with _client(west) as client:
        answer = await client.chat(f"bedrock/{NOVA_ARN}", "hi")
        async with client.stream(f"bedrock/{NOVA_ARN}", "hi") as s:
            streamed = [e async for e in s]
        claude = await client.chat(f"bedrock/{CLAUDE_ARN}", "hi", max_tokens=20)
        vectors = await client.embed(f"bedrock/{EMBED_ARN}", ["a text"])
    assert answer.text and streamed and claude.text and vectors.vectors
    # each reached us-west-2's endpoint, and the mock took each us-west-2 signature
    arn = quote(NOVA_ARN, safe="")
    assert [r.path for r in west.requests] == [
        f"/{WEST}/model/{arn}/converse",
        f"/{WEST}/model/{arn}/converse-stream",
        f"/{WEST}/anthropic/v1/messages",
        f"/{WEST}/model/{quote(EMBED_ARN, safe='')}/invoke",
    ]
    assert all(f"/{WEST}/bedrock/aws4_request" in r.headers["authorization"] for r in west.requests)


async def test_a_model_id_keeps_the_configured_region(west: BedrockMock) -> None:
    async with _client(west) as client:
        with pytest.raises(NotFoundError):
            await client.chat("bedrock/us.amazon.nova-lite-v1:0", "hi")
    assert [r.path for r in west.requests] == [
        "/us-east-1/model/us.amazon.nova-lite-v1%3A0/converse"
    ]


async def test_a_fixed_endpoint_keeps_the_configured_region() -> None:
    # the endpoint names no region: the user chose it, and its region is the configured one
    with BedrockMock() as mock:
        settings = {"base_url": mock.base_url, "region": mock.region}
        async with relaykit.Client(
            {"storage": {"backend": "none"}, "providers": {"bedrock": settings}}
        ) as client:
            assert (await client.chat(f"bedrock/{NOVA_ARN}", "hi")).text
    (request,) = mock.requests
    assert f"/{mock.region}/bedrock/aws4_request" in request.headers["authorization"]


@pytest.mark.parametrize(
    ("model", "region"),
    [
        (NOVA_ARN, WEST),
        (
            "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.nova-pro-v1:0",
            "us-gov-west-1",
        ),
        (
            "arn:aws:bedrock:eu-central-1:123456789012:application-inference-profile/a1b2",
            "eu-central-1",
        ),
        ("us.amazon.nova-lite-v1:0", None),
        ("arn:aws:bedrock:::foundation-model/x", None),  # no region in it
        ("arn:aws:s3:us-west-2::bucket", None),
    ],
)
def test_the_region_of_a_model_arn(model: str, region: str | None) -> None:
    assert model_region(model) == region
