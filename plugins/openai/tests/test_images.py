"""What relaykit-openai's image generation (OpenAI's and the compatible presets') puts
on the wire and reads back, beyond the contract."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import (
    ContentFilterError,
    ImageRequest,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    RelayError,
    Usage,
)
from relaykit.testing import OpenAIMock, RecordingExporter, mock_image, mock_image_prompt
from relaykit.testing.loopback import LoopbackServer, Request, Response
from relaykit_openai import PRESETS
from relaykit_openai.images import parse, request_body

KEY = "sk-test-0123456789abcdef0123"
FOX = "a red fox in snow"
DRAWING = {"xai", "together"}


def config(base_url: str, *providers: str, **sections: Any) -> dict[str, Any]:
    names = providers or ("openai",)
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {name: {"base_url": base_url, "api_key": KEY} for name in names},
        **sections,
    }


@pytest.fixture
def canned() -> Iterator[tuple[LoopbackServer, list[Response]]]:
    """A server answering each request with the next canned response (bodies the mock
    would never send)."""
    answers: list[Response] = []

    async def handler(request: Request) -> Response:
        return answers.pop(0)

    with LoopbackServer(handler) as server:
        yield server, answers


# -- OpenAI's GPT image models ------------------------------------------------------


@pytest.mark.anyio
async def test_gpt_image_1_is_asked_for_what_the_caller_asked_and_priced_by_its_tokens(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.generate_image(
            "openai/gpt-image-1", FOX, n=2, size="1536x1024", quality="low", output_format="webp"
        )
    request = mock.last_request
    assert request.path == "/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json() == {
        "model": "gpt-image-1",
        "prompt": FOX,
        "n": 2,
        "size": "1536x1024",
        "quality": "low",
        "output_format": "webp",
    }
    assert [i.data for i in r.images] == [mock_image(FOX, 0), mock_image(FOX, 1)]
    assert all(i.media_type == "image/png" for i in r.images)  # what the bytes are
    assert (r.size, r.quality, r.id) == ("1536x1024", "low", "req_mock000001")
    assert isinstance(r.created, int)
    # five words in at USD 5 a million, 2 x 400 image tokens out at 40
    assert (r.usage, r.cost) == (Usage(5, 800), Decimal("0.032025"))


@pytest.mark.parametrize(
    ("model", "cost"),
    [
        ("gpt-image-1-mini", "0.008458"),  # 5 in at 2.00, 1,056 out at 8.00
        ("gpt-image-1-mini-2025-10-06", "0.008458"),  # a snapshot, priced as its family
        ("gpt-image-1.5", "0.033817"),  # 5 in at 5.00, 1,056 out at 32.00
    ],
)
@pytest.mark.anyio
async def test_the_other_gpt_image_models_have_their_own_prices(
    mock: OpenAIMock, model: str, cost: str
) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.generate_image(f"openai/{model}", FOX)
    assert (r.quality, r.usage.output_tokens, r.cost) == ("medium", 1056, Decimal(cost))


@pytest.mark.anyio
async def test_extra_fields_join_the_body_and_replace_relaykits_own(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        await client.generate_image(
            "openai/gpt-image-1",
            FOX,
            quality="low",
            extra={"background": "transparent", "moderation": "low", "quality": "high"},
        )
    sent = mock.last_request.json()
    assert (sent["background"], sent["moderation"], sent["quality"]) == (
        "transparent",
        "low",
        "high",
    )


@pytest.mark.anyio
async def test_openais_refusals_are_typed_with_its_message(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        # (a size the model has not is refused before sending: test_image_rules.py)
        with pytest.raises(InvalidRequestError, match=r"Unknown parameter: 'steps'") as info:
            await client.generate_image("openai/gpt-image-1", FOX, extra={"steps": 4})
        assert (info.value.status, info.value.param) == (400, "steps")
        mock.script.fail(
            400,
            "Your request was rejected as a result of our safety system.",
            code="moderation_blocked",
        )
        with pytest.raises(ContentFilterError, match="safety system"):
            await client.generate_image("openai/gpt-image-1", FOX)
        mock.script.fail(429, "Rate limit reached for gpt-image-1 in images per minute")
        with pytest.raises(RateLimitError):
            await client.generate_image("openai/gpt-image-1", FOX)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "message"),
    [
        # DALL-E 3's refusal as OpenAI words it (LibreChat#4508): neither "safety" nor
        # "content policy" is in it, and the code spells the policy with an underscore
        ("content_policy_violation", "This request has been blocked by our content filters."),
        ("moderation_blocked", "Your request was rejected."),
    ],
)
async def test_a_refusal_by_the_content_filter_is_typed_by_its_code_or_words(
    mock: OpenAIMock, code: str, message: str
) -> None:
    mock.script.fail(400, message, code=code)
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(ContentFilterError) as info:
            await client.generate_image("openai/dall-e-3", FOX)
    assert (info.value.status, info.value.provider_message) == (400, message)


# -- DALL-E -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_dall_e_3_is_asked_for_base64_and_priced_per_image_by_quality_and_size(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        wide = await client.generate_image("openai/dall-e-3", FOX, size="1792x1024", quality="hd")
        plain = await client.generate_image("openai/dall-e-3", FOX)
    first = json.loads(mock.requests[0].body)
    assert first == {
        "model": "dall-e-3",
        "prompt": FOX,
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "response_format": "b64_json",
    }
    (image,) = wide.images
    assert image.data == mock_image(FOX) and image.revised_prompt == f"{FOX}, digital art"
    assert (wide.usage, wide.cost) == (Usage(), Decimal("0.12"))
    # nothing asked: OpenAI's defaults, standard and 1024x1024, are what it billed
    assert (plain.size, plain.quality, plain.cost) == ("1024x1024", "standard", Decimal("0.04"))


@pytest.mark.anyio
async def test_dall_e_2_sizes_have_their_prices(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        small = await client.generate_image("openai/dall-e-2", FOX, n=3, size="256x256")
    assert (len(small.images), small.cost) == (3, Decimal("0.048"))


@pytest.mark.anyio
async def test_what_dall_e_cannot_draw_is_refused_unsent_and_a_route_falls_back(
    mock: OpenAIMock,
) -> None:
    routes = {"models": {"draw": {"targets": ["openai/dall-e-3", "openai/gpt-image-1"]}}}
    async with relaykit.Client(config(mock.base_url, **routes)) as client:
        with pytest.raises(InvalidRequestError, match="draws at most 1 image a request") as info:
            await client.generate_image("openai/dall-e-3", FOX, n=2)
        assert info.value.status is None and info.value.param == "n"
        with pytest.raises(InvalidRequestError, match="takes no output_format: it draws PNG"):
            await client.generate_image("openai/dall-e-3", FOX, output_format="jpeg")
        with pytest.raises(InvalidRequestError, match="draws at most 10 images"):
            await client.generate_image("openai/gpt-image-1", FOX, n=11)
        assert not mock.requests
        r = await client.generate_image("draw", FOX, n=2)
    assert (r.model, len(r.images)) == ("gpt-image-1", 2)


@pytest.mark.anyio
async def test_png_asked_of_dall_e_is_what_it_draws_and_goes_unsaid(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        await client.generate_image("openai/dall-e-2", FOX, output_format="png")
    assert "output_format" not in mock.last_request.json()


@pytest.mark.anyio
async def test_a_url_asked_for_is_kept_unfetched_and_never_recorded(mock: OpenAIMock) -> None:
    exporter = RecordingExporter()
    async with relaykit.Client(config(mock.base_url), plugins=[exporter]) as client:
        r = await client.generate_image("openai/dall-e-3", FOX, extra={"response_format": "url"})
    (image,) = r.images
    assert image.data is None and image.url is not None
    assert mock.last_request.json()["response_format"] == "url"
    assert len(mock.requests) == 1, "the URL is not fetched"
    assert "sig=" in image.url and "sig=" not in repr(image)
    async with httpx.AsyncClient() as http:  # the caller fetches it, and may
        fetched = await http.get(image.url, timeout=10)
    assert mock_image_prompt(fetched.content) == FOX
    (record,) = exporter.records
    assert "mock-images" not in repr(record) and record.params["images"] == 1


# -- compatible services ------------------------------------------------------------


@pytest.mark.anyio
async def test_xai_is_asked_for_base64_without_fields_it_refuses(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url, "xai")) as client:
        r = await client.generate_image(
            "xai/grok-2-image", FOX, n=2, extra={"aspect_ratio": "16:9"}
        )
        assert mock.last_request.json() == {
            "model": "grok-2-image",
            "prompt": FOX,
            "n": 2,
            "response_format": "b64_json",
            "aspect_ratio": "16:9",
        }
        assert [mock_image_prompt(i.data or b"") for i in r.images] == [FOX, FOX]
        for field in ("size", "quality", "output_format"):
            value = {"size": "1024x1024", "quality": "hd", "output_format": "png"}[field]
            with pytest.raises(InvalidRequestError, match=f"takes no {field}") as info:
                await client.generate_image("xai/grok-2-image", FOX, **{field: value})
            assert "aspect_ratio" in str(info.value) and info.value.status is None
    assert len(mock.requests) == 1


@pytest.mark.anyio
async def test_together_gets_width_and_height_and_steps_from_extra(mock: OpenAIMock) -> None:
    model = "together/black-forest-labs/FLUX.1-schnell"
    async with relaykit.Client(config(mock.base_url, "together")) as client:
        r = await client.generate_image(
            model, FOX, size="768x512", output_format="jpeg", extra={"steps": 4}
        )
        assert mock.last_request.json() == {
            "model": "black-forest-labs/FLUX.1-schnell",
            "prompt": FOX,
            "n": 1,
            "width": 768,
            "height": 512,
            "output_format": "jpeg",
            "response_format": "b64_json",
            "steps": 4,
        }
        assert r.size == "768x512" and mock_image_prompt(r.images[0].data or b"") == FOX
        with pytest.raises(InvalidRequestError, match="takes no quality"):
            await client.generate_image(model, FOX, quality="high")
        with pytest.raises(InvalidRequestError, match="draws at most 4 images"):
            await client.generate_image(model, FOX, n=5)
    assert len(mock.requests) == 1


@pytest.mark.parametrize("name", sorted(set(PRESETS) - DRAWING))
@pytest.mark.anyio
async def test_presets_without_an_image_api_refuse_unsent(mock: OpenAIMock, name: str) -> None:
    async with relaykit.Client(config(mock.base_url, name)) as client:
        with pytest.raises(InvalidRequestError, match=f"{name} has no image generation API"):
            await client.generate_image(f"{name}/some-model", FOX)
    assert not mock.requests
    assert PRESETS[name].generate_image is None


@pytest.mark.parametrize("name", sorted(DRAWING))
def test_presets_with_an_image_api_say_which(name: str) -> None:
    assert PRESETS[name].generate_image is not None and PRESETS[name].image_style == name


# -- reading answers ------------------------------------------------------------------


def test_an_answer_is_read_from_base64_a_data_uri_or_a_url() -> None:
    png = mock_image("x")
    request = ImageRequest(model="grok-2-image", prompt="x")
    data = {
        "data": [
            {"b64_json": "data:image/png;base64," + base64.b64encode(png).decode()},
            {"url": "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-1.jpeg", "revised_prompt": "y"},
            {"url": "https://cdn.example/a", "mime_type": "image/webp"},
        ],
        "usage": {"input_tokens": 3, "output_tokens": 9},
    }
    r = parse(data, {"x-request-id": "req_1"}, request, "xai")
    uri, jpeg, webp = r.images
    assert (uri.data, uri.media_type) == (png, "image/png")
    assert (jpeg.data, jpeg.media_type, jpeg.revised_prompt) == (None, "image/jpeg", "y")
    assert webp.media_type == "image/webp"
    assert (r.id, r.usage, r.size, r.quality) == ("req_1", Usage(3, 9), None, None)


@pytest.mark.parametrize(
    "body",
    [
        b'{"created": 1, "data": [{"revised_prompt": "no image"}]}',
        b'{"created": 1, "data": "nope"}',
        b'{"created": 1, "data": [{"b64_json": "***"}]}',
        b"<html>502</html>",
    ],
)
@pytest.mark.anyio
async def test_an_answer_that_is_not_one_is_a_typed_error(
    canned: tuple[LoopbackServer, list[Response]], body: bytes
) -> None:
    server, answers = canned
    answers.append(Response(200, {"content-type": "application/json"}, body))
    async with relaykit.Client(config(f"{server.url}/v1")) as client:
        with pytest.raises(RelayError, match="image generation response could not be read"):
            await client.generate_image("openai/gpt-image-1", FOX)


@pytest.mark.anyio
async def test_a_failure_reported_with_status_200_is_an_error(
    canned: tuple[LoopbackServer, list[Response]],
) -> None:
    server, answers = canned
    body = {"error": {"message": "upstream overloaded", "code": 503}}
    answers.append(Response.json(body))
    async with relaykit.Client(config(f"{server.url}/v1")) as client:
        with pytest.raises(relaykit.ProviderUnavailableError, match="upstream overloaded"):
            await client.generate_image("openai/gpt-image-1", FOX)


@pytest.mark.anyio
async def test_a_budget_holds_dall_e_3s_list_price_before_sending(mock: OpenAIMock) -> None:
    limits = {"limits": {"openai/*": {"budget_usd": "0.1"}}}
    async with relaykit.Client(config(mock.base_url, **limits)) as client:
        with pytest.raises(QuotaExceededError, match="budget"):
            await client.generate_image("openai/dall-e-3", FOX, size="1024x1792", quality="hd")
        with pytest.raises(QuotaExceededError, match="budget"):
            # high quality: 4,160 image tokens a picture held at USD 40 a million
            await client.generate_image("openai/gpt-image-1", FOX, quality="high")
        r = await client.generate_image("openai/gpt-image-1", FOX, quality="low")
    assert r.cost == Decimal("0.010905") and len(mock.requests) == 1


def test_request_bodies_by_style() -> None:
    request = ImageRequest(model="dall-e-2", prompt="x", size="512x512", extra={"user": "u1"})
    assert request_body(request, "openai", "openai") == {
        "model": "dall-e-2",
        "prompt": "x",
        "n": 1,
        "size": "512x512",
        "response_format": "b64_json",
        "user": "u1",
    }
    auto = ImageRequest(model="flux", prompt="x", size="auto")
    assert "width" not in request_body(auto, "together", "together")


@pytest.mark.anyio
async def test_gpt_image_2_draws_any_size_in_its_bounds_and_bills_tokens() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        async with relaykit.Client(config(mock.base_url)) as client:
            r = await client.generate_image(
                "openai/gpt-image-2", "a lighthouse at dawn", size="2048x1152", quality="low"
            )
            assert r.size == "2048x1152" and r.usage.output_tokens == 612  # 272 by area
            # text in 5.00, image out 30.00 a million
            assert r.cost == (r.usage.input_tokens * Decimal(5) + 612 * Decimal(30)) / 10**6
            with pytest.raises(relaykit.InvalidRequestError, match="up to 3840 pixels a side") as e:
                await client.generate_image("openai/gpt-image-2", "too wide", size="4096x1024")
            assert e.value.status is None and len(mock.requests) == 1
