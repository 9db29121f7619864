"""Model listing with ListInferenceProfiles beside ListFoundationModels: the
cross-region profile ids (``us.``, ``global.``) of text models are listed, every
page of them, over real loopback HTTP against the mock's control plane."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from relaykit import ProviderUnavailableError
from relaykit.testing import Request, Response
from relaykit_bedrock.testing import BedrockMock, error

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


def profile_requests(mock: BedrockMock) -> list[Request]:
    return [r for r in mock.requests if r.path == "/inference-profiles"]


async def test_system_defined_profiles_of_text_models_are_listed(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        models = {m.id: m for m in await client.models("bedrock")}
    # the foundation models as before
    assert "amazon.nova-pro-v1:0" in models and HAIKU in models
    # and the profile ids calls name, owned by their model's provider, priced as it is
    for profile in (f"us.{HAIKU}", f"global.{HAIKU}", "us.amazon.nova-pro-v1:0"):
        assert profile in models
    assert models[f"us.{HAIKU}"].owned_by == "Anthropic"
    nova = models["us.amazon.nova-pro-v1:0"]
    assert (nova.owned_by, nova.context_window) == ("Amazon", 300_000)
    assert nova.price is not None and nova.price.output == Decimal("3.20")
    # an embedding model's profile is no text model; an application profile is not asked for
    assert "us.cohere.embed-v4:0" not in models
    assert "a1b2c3d4e5f6" not in models
    (asked,) = profile_requests(mock)
    assert asked.query == {"maxResults": "1000", "type": "SYSTEM_DEFINED"}


async def test_every_page_is_read_with_its_next_token(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.profile_page_size = 2
    async with make_client() as client:
        ids = {m.id for m in await client.models("bedrock")}
    pages = profile_requests(mock)
    assert len(pages) == 3  # five system-defined profiles, two a page
    assert "nextToken" not in pages[0].query
    assert all(p.query["nextToken"] for p in pages[1:])
    assert pages[1].query["nextToken"] != pages[2].query["nextToken"]
    wanted = {f"us.{HAIKU}", f"global.{HAIKU}", "us.amazon.nova-pro-v1:0"}
    assert wanted | {"us.anthropic.claude-sonnet-4-5-20250929-v1:0"} <= ids


async def test_a_next_token_given_twice_is_an_error_not_an_endless_listing(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async def same_token(request: Request, response: Response) -> Response:
        if request.path != "/inference-profiles":
            return response
        return Response.json({"inferenceProfileSummaries": [], "nextToken": "again"})

    mock.rewrite = same_token
    async with make_client() as client:
        with pytest.raises(ProviderUnavailableError, match="nextToken it had already given"):
            await client.models("bedrock")
    assert len(profile_requests(mock)) == 2


async def test_credentials_that_may_not_list_profiles_list_the_foundation_models(
    mock: BedrockMock, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    denied = "User is not authorized to perform: bedrock:ListInferenceProfiles"

    async def deny(request: Request, response: Response) -> Response:
        if request.path != "/inference-profiles":
            return response
        return error(403, denied, "AccessDeniedException")

    mock.rewrite = deny
    with caplog.at_level(logging.WARNING, logger="relaykit.bedrock"):
        async with make_client() as client:
            ids = {m.id for m in await client.models("bedrock")}
    assert "amazon.nova-pro-v1:0" in ids
    assert not any(i.startswith(("us.", "global.")) for i in ids)
    assert "bedrock:ListInferenceProfiles" in caplog.text


async def test_a_profile_listing_without_its_summaries_is_no_empty_listing(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async def empty(request: Request, response: Response) -> Response:
        return Response.json({}) if request.path == "/inference-profiles" else response

    mock.rewrite = empty
    async with make_client() as client:
        with pytest.raises(ProviderUnavailableError, match="inference profile list"):
            await client.models("bedrock")
