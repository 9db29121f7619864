"""Image generation over InvokeModel: each family's body, sizes, qualities and formats as each
draws them, refusals before sending, filtered images, prices and cost, the mock's own refusals."""

from __future__ import annotations

import base64
import logging
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import attrs
import pytest

import relaykit
from relaykit import (
    ContentFilterError,
    ImageRequest,
    InvalidRequestError,
    ProviderUnavailableError,
    RelayError,
)
from relaykit.testing import Reply, mock_image, mock_image_prompt
from relaykit_bedrock.image_prices import NOVA_CANVAS, TITAN_IMAGE_V2
from relaykit_bedrock.images import FAMILIES, family_of, parse_answer
from relaykit_bedrock.prices import lookup
from relaykit_bedrock.testing import BedrockMock, validate_invoke

from .conftest import MakeClient, bodies, invocations

NOVA = "amazon.nova-canvas-v1:0"
TITAN = "amazon.titan-image-generator-v2:0"
SD35 = "stability.sd3-5-large-v1:0"
ULTRA = "stability.stable-image-ultra-v1:1"
CORE = "stability.stable-image-core-v1:1"
STABILITY = (SD35, ULTRA, CORE)
PROMPT = "a red fox in snow"


# -- Nova Canvas and Titan ----------------------------------------------------------


@pytest.mark.anyio
async def test_nova_body_path_signature_images_and_cost(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.push(Reply(headers={"x-amzn-requestid": "req-nova-1"}))
    async with make_client() as client:
        r = await client.generate_image(
            f"bedrock/{NOVA}", PROMPT, n=2, size="1280x720", quality="premium"
        )
    (request,) = invocations(mock)
    assert request.path == f"/model/{quote(NOVA, safe='')}/invoke"
    # SigV4-signed over this path and body: the mock recomputed the signature.
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert request.json() == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": PROMPT},
        "imageGenerationConfig": {
            "numberOfImages": 2,
            "width": 1280,
            "height": 720,
            "quality": "premium",
        },
    }
    assert [i.data for i in r.images] == [mock_image(PROMPT, 0), mock_image(PROMPT, 1)]
    assert all(i.media_type == "image/png" for i in r.images)
    assert (r.model, r.provider, r.id) == (NOVA, "bedrock", "req-nova-1")
    assert (r.size, r.quality) == ("1280x720", "premium")
    # 921,600 pixels: the band up to 1024x1024, at premium USD 0.06 an image.
    assert r.cost == Decimal("0.12")
    assert r.usage == relaykit.Usage()


@pytest.mark.anyio
async def test_nova_sends_its_defaults_and_says_so(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        r = await client.generate_image(f"bedrock/{NOVA}", PROMPT, output_format="png")
        auto = await client.generate_image(f"bedrock/{NOVA}", PROMPT, size="auto")
    # Sent always, so that what comes back is what was drawn, and priced; png is
    # what Nova answers anyway, so it is not sent (the API has no field for it).
    config = {"numberOfImages": 1, "width": 1024, "height": 1024, "quality": "standard"}
    assert [b["imageGenerationConfig"] for b in bodies(mock)] == [config, config]
    assert (r.size, r.quality, r.cost) == ("1024x1024", "standard", Decimal("0.04"))
    assert (auto.size, auto.cost) == ("1024x1024", Decimal("0.04"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "quality", "each"),
    [
        ("1024x1024", "standard", "0.04"),
        ("320x1280", "premium", "0.06"),
        ("1024x1040", "standard", "0.06"),  # one row over 1024x1024
        ("2048x2048", "standard", "0.06"),
        ("2816x1488", "premium", "0.08"),
        ("4096x1024", "premium", "0.08"),  # 4:1, and exactly 2048x2048's pixels
    ],
)
async def test_nova_is_priced_by_quality_and_pixel_band(
    mock: BedrockMock, make_client: MakeClient, size: str, quality: str, each: str
) -> None:
    async with make_client() as client:
        r = await client.generate_image(f"bedrock/{NOVA}", PROMPT, size=size, quality=quality)
    assert (r.size, r.quality, r.cost) == (size, quality, Decimal(each))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("1000x1000", "a width of 1,000 is no multiple of 16"),
        ("1024x256", "a height of 256 is outside 320 to 4,096 pixels"),
        ("4112x1040", "a width of 4,112 is outside 320 to 4,096 pixels"),
        ("4096x960", "4096x960 is longer than 4:1"),
        ("2064x2048", "2064x2048 is 4,227,072 pixels, over 4,194,304"),
    ],
)
async def test_nova_refuses_a_size_it_cannot_draw_before_sending(
    mock: BedrockMock, make_client: MakeClient, size: str, problem: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.generate_image(f"bedrock/{NOVA}", PROMPT, size=size)
    assert type(info.value) is InvalidRequestError  # so that a route falls back
    assert f"cannot draw {size}: {problem}" in str(info.value)
    assert "multiples of 16 from 320 to 4,096" in str(info.value)  # the hint says what it takes
    assert (info.value.param, info.value.status, info.value.provider) == ("size", None, "bedrock")
    assert invocations(mock) == []


@pytest.mark.anyio
@pytest.mark.parametrize("model", [NOVA, TITAN])
@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"n": 6}, "n", "draws at most 5 images a request, not 6"),
        ({"quality": "hd"}, "quality", "takes a quality of standard or premium, not 'hd'"),
        ({"quality": "high"}, "quality", "not 'high'"),
        ({"output_format": "jpeg"}, "output_format", "answers png images, not jpeg"),
        ({"output_format": "webp"}, "output_format", "answers png images, not webp"),
    ],
)
async def test_amazon_models_refuse_what_they_cannot_draw_before_sending(
    mock: BedrockMock,
    make_client: MakeClient,
    model: str,
    params: dict[str, Any],
    param: str,
    message: str,
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=message) as info:
            await client.generate_image(f"bedrock/{model}", PROMPT, **params)
        five = await client.generate_image(f"bedrock/{model}", PROMPT, n=5)
    assert type(info.value) is InvalidRequestError
    assert (info.value.param, info.value.status) == (param, None)
    assert len(five.images) == 5
    assert len(invocations(mock)) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "longest"), [(NOVA, 1_024), (TITAN, 512), (CORE, 10_000)])
async def test_a_prompt_longer_than_the_model_reads_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient, model: str, longest: int
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=f"at most {longest:,} characters") as info:
            await client.generate_image(f"bedrock/{model}", "x" * (longest + 1))
        await client.generate_image(f"bedrock/{model}", "x" * longest)
    assert info.value.param == "prompt"
    assert [len(b.get("prompt") or b["textToImageParams"]["text"]) for b in bodies(mock)] == [
        longest
    ]


@pytest.mark.anyio
async def test_extra_merges_into_the_nova_body_one_level_deep(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    extra = {
        "textToImageParams": {"negativeText": "people", "style": "PHOTOREALISM"},
        "imageGenerationConfig": {"seed": 7, "cfgScale": 6.5},
    }
    async with make_client() as client:
        await client.generate_image(f"bedrock/{NOVA}", PROMPT, extra=extra)
        # A field the model does not know is sent all the same; its refusal comes back typed.
        with pytest.raises(InvalidRequestError, match=r"extraneous key \[nope\]") as info:
            await client.generate_image(
                f"bedrock/{NOVA}", PROMPT, extra={"imageGenerationConfig": {"nope": 1}}
            )
    sent, refused = bodies(mock)
    assert sent["textToImageParams"] == {
        "text": PROMPT,
        "negativeText": "people",
        "style": "PHOTOREALISM",
    }
    assert sent["imageGenerationConfig"] == {
        "numberOfImages": 1,
        "width": 1024,
        "height": 1024,
        "quality": "standard",
        "seed": 7,
        "cfgScale": 6.5,
    }
    assert refused["imageGenerationConfig"]["nope"] == 1
    assert info.value.status == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "quality", "each"),
    [
        ("1024x1024", None, "0.01"),
        ("512x512", "standard", "0.008"),
        ("768x768", "standard", "0.008"),  # billed as 512x512
        ("768x1152", "premium", "0.012"),
        ("1173x640", "premium", "0.012"),
        ("320x704", "premium", "0.01"),
    ],
)
async def test_titan_draws_its_sizes_priced_as_512_or_1024(
    mock: BedrockMock, make_client: MakeClient, size: str, quality: str | None, each: str
) -> None:
    async with make_client() as client:
        r = await client.generate_image(f"bedrock/{TITAN}", PROMPT, n=2, size=size, quality=quality)
    (body,) = bodies(mock)
    width, height = map(int, size.split("x"))
    assert body["imageGenerationConfig"] == {
        "numberOfImages": 2,
        "width": width,
        "height": height,
        "quality": quality or "standard",
    }
    assert (r.size, r.quality) == (size, quality or "standard")
    assert r.cost == 2 * Decimal(each)
    assert [mock_image_prompt(i.data or b"") for i in r.images] == [PROMPT, PROMPT]


@pytest.mark.anyio
@pytest.mark.parametrize("size", ["1280x720", "1024x768", "2048x2048", "1024x1040"])
async def test_titan_refuses_a_size_off_its_table_naming_them(
    mock: BedrockMock, make_client: MakeClient, size: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=f"cannot draw {size}: it draws") as info:
            await client.generate_image(f"bedrock/{TITAN}", PROMPT, size=size)
    assert "1024x1024, 768x768, 512x512" in str(info.value) and "1173x640" in str(info.value)
    assert info.value.param == "size"
    assert invocations(mock) == []


# -- Stability AI --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "each"), [(SD35, "0.08"), (ULTRA, "0.14"), (CORE, "0.04")])
async def test_stability_body_images_size_drawn_and_cost(
    mock: BedrockMock, make_client: MakeClient, model: str, each: str
) -> None:
    async with make_client() as client:
        r = await client.generate_image(
            f"bedrock/{model}", PROMPT, size="1920x1080", output_format="jpeg"
        )
        plain = await client.generate_image(f"bedrock/{model}", PROMPT)
    first, second = invocations(mock)
    assert first.path == f"/model/{quote(model, safe='')}/invoke"
    # No mode: text-to-image is each model's default.
    assert first.json() == {"prompt": PROMPT, "aspect_ratio": "16:9", "output_format": "jpeg"}
    assert second.json() == {"prompt": PROMPT}
    (image,) = r.images
    assert image.data == mock_image(PROMPT, 0)
    # The size is the one the image has (the model picks its pixels at the ratio);
    # the mock's images are 8x8, and PNG whatever was asked.
    assert (r.size, r.quality) == ("8x8", None)
    assert (r.cost, plain.cost) == (Decimal(each), Decimal(each))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("1344x768", "16:9"),
        ("1600x900", "16:9"),
        ("1536x640", "21:9"),
        ("832x1216", "2:3"),
        ("1216x832", "3:2"),
        ("896x1088", "4:5"),
        ("1000x800", "5:4"),
        ("768x1344", "9:16"),
        ("640x1536", "9:21"),
    ],
)
async def test_stability_takes_a_size_as_its_aspect_ratio(
    mock: BedrockMock, make_client: MakeClient, size: str, ratio: str
) -> None:
    async with make_client() as client:
        await client.generate_image(f"bedrock/{CORE}", PROMPT, size=size)
    assert bodies(mock)[0]["aspect_ratio"] == ratio


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"size": "1024x768"}, "size", "the shape of 1024x768 is none of 1:1, 16:9"),  # 4:3
        ({"size": "2048x1024"}, "size", "draws an aspect ratio, not a size"),  # 2:1
        ({"n": 2}, "n", "draws at most 1 image a request, not 2"),
        ({"quality": "standard"}, "quality", "takes no quality"),
        ({"output_format": "webp"}, "output_format", "answers png or jpeg images, not webp"),
    ],
)
async def test_stability_refuses_what_it_cannot_draw_before_sending(
    mock: BedrockMock,
    make_client: MakeClient,
    params: dict[str, Any],
    param: str,
    message: str,
) -> None:
    async with make_client() as client:
        for model in STABILITY:
            with pytest.raises(InvalidRequestError, match=message) as info:
                await client.generate_image(f"bedrock/{model}", PROMPT, **params)
            assert type(info.value) is InvalidRequestError
            assert (info.value.param, info.value.status) == (param, None)
    assert invocations(mock) == []


@pytest.mark.anyio
async def test_stability_n_refusal_says_how_to_get_more(make_client: MakeClient) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.generate_image(f"bedrock/{ULTRA}", PROMPT, n=3)
    assert "one image a call" in str(info.value) and NOVA in str(info.value)


@pytest.mark.anyio
async def test_extra_merges_into_the_stability_body(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    extra = {"negative_prompt": "people", "seed": 7, "aspect_ratio": "9:21"}
    async with make_client() as client:
        await client.generate_image(f"bedrock/{SD35}", PROMPT, size="1024x1024", extra=extra)
    assert bodies(mock) == [{"prompt": PROMPT, **extra}]


# -- filtered images ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("model", [NOVA, TITAN, SD35])
async def test_an_answer_whose_every_image_was_blocked_is_a_content_filter_error(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    mock.script.push(Reply(finish="content_filter"))
    async with make_client(retry=3) as client:
        with pytest.raises(ContentFilterError) as info:
            await client.generate_image(f"bedrock/{model}", PROMPT)
    error = info.value
    assert (error.provider, error.model, error.retryable) == ("bedrock", model, False)
    expected = "Filter reason: output image" if model == SD35 else "blocked by our content filters"
    assert expected in str(error) and expected in (error.provider_message or "")
    assert "rephrase the prompt" in str(error)
    assert len(invocations(mock)) == 1  # not retried: the same prompt is blocked again


@pytest.mark.anyio
@pytest.mark.parametrize("model", [NOVA, TITAN])
async def test_images_left_by_the_filter_come_back_and_the_rest_are_named(
    mock: BedrockMock, make_client: MakeClient, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    mock.blocked_images = {1}
    with caplog.at_level(logging.WARNING, logger="relaykit.bedrock"):
        async with make_client() as client:
            r = await client.generate_image(f"bedrock/{model}", PROMPT, n=3)
    assert [i.data for i in r.images] == [mock_image(PROMPT, 0), mock_image(PROMPT, 2)]
    # Billed as drawn: two images at the standard 1024x1024 price.
    assert r.cost == 2 * (Decimal("0.04") if model == NOVA else Decimal("0.01"))
    (record,) = [r for r in caplog.records if r.name == "relaykit.bedrock"]
    assert record.levelno == logging.WARNING
    assert "2 of 3 images came back" in record.getMessage()
    assert "Some of the generated images have been blocked" in record.getMessage()


@pytest.mark.anyio
async def test_a_prompt_the_filters_refuse_is_a_content_filter_error(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    refusal = (
        "This request has been blocked by our content filters. "
        "Please adjust your text prompt to submit a new request."
    )
    mock.script.fail(400, refusal)
    async with make_client(retry=3) as client:
        with pytest.raises(ContentFilterError, match="ValidationException: This request") as info:
            await client.generate_image(f"bedrock/{NOVA}", PROMPT)
    assert (info.value.status, info.value.retryable) == (400, False)
    assert len(invocations(mock)) == 1


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (
            {"finish_reasons": ["Filter reason: prompt"]},
            ContentFilterError,
            "Filter reason: prompt",
        ),
        ({"finish_reasons": ["Inference error"]}, ProviderUnavailableError, "Inference error"),
        ({"finish_reasons": [None], "images": []}, ProviderUnavailableError, "without images"),
        ({"finish_reasons": [None], "images": ["%%%"]}, ProviderUnavailableError, "not base64"),
        ({}, ProviderUnavailableError, "without images"),
        ("oops", ProviderUnavailableError, "without images"),
    ],
)
def test_stability_answers_that_hold_no_image(
    data: Any, error: type[Exception], message: str
) -> None:
    request = ImageRequest(model=ULTRA, prompt=PROMPT)
    with pytest.raises(error, match=message) as info:
        parse_answer(family_of(ULTRA), data, {}, request, provider="bedrock")
    assert isinstance(info.value, RelayError)
    assert info.value.retryable is (error is ProviderUnavailableError)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ({"images": [], "error": "All of the generated images"}, ContentFilterError, "All of"),
        ({"images": []}, ProviderUnavailableError, "without images"),
        ({"images": None, "error": None}, ProviderUnavailableError, "without images"),
        ({"images": ["not base64!"]}, ProviderUnavailableError, "not base64"),
    ],
)
def test_nova_answers_that_hold_no_image(data: Any, error: type[Exception], message: str) -> None:
    request = ImageRequest(model=NOVA, prompt=PROMPT)
    with pytest.raises(error, match=message):
        parse_answer(family_of(NOVA), data, {}, request, provider="bedrock")


def test_nova_answers_without_an_error_field_are_read() -> None:
    request = ImageRequest(model=NOVA, prompt=PROMPT, size="512x512")
    data = {"images": [base64.b64encode(mock_image(PROMPT)).decode()]}
    r = parse_answer(family_of(NOVA), data, {"x-amzn-requestid": "req-9"}, request, provider="b")
    assert (len(r.images), r.size, r.quality, r.id) == (1, "512x512", "standard", "req-9")


# -- model ids ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model",
    [
        "us.stability.stable-image-core-v1:1",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-canvas-v1:0",
        "stability.stable-image-ultra-v1:0",
    ],
)
async def test_profile_ids_arns_and_versions_find_their_family(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        r = await client.generate_image(f"bedrock/{model}", PROMPT)
    (request,) = invocations(mock)
    assert request.path == f"/model/{quote(model, safe='')}/invoke"
    assert len(r.images) == 1 and r.cost is not None


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model",
    [
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "amazon.titan-image-generator-v1",
        "amazon.nova-reel-v1:1",
        "stability.stable-diffusion-xl-v1",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
    ],
)
async def test_a_model_that_draws_no_images_relaykit_knows_is_refused_naming_them(
    mock: BedrockMock, make_client: MakeClient, model: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="not a Bedrock image model") as info:
            await client.generate_image(f"bedrock/{model}", PROMPT)
    assert type(info.value) is InvalidRequestError
    assert all(family.prefix in str(info.value) for family in FAMILIES)
    assert "amazon.nova-canvas-v1:0" in (info.value.hint or "")
    assert (info.value.param, info.value.status, info.value.provider) == ("model", None, "bedrock")
    assert invocations(mock) == []


@pytest.mark.anyio
async def test_a_route_falls_back_from_a_model_that_draws_nothing(mock: BedrockMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {"bedrock": {"base_url": mock.base_url}},
        "models": {
            "draw": {
                "targets": [
                    "bedrock/anthropic.claude-haiku-4-5-20251001-v1:0",
                    f"bedrock/{NOVA}",
                ],
                "strategy": "fallback",
            }
        },
    }
    async with relaykit.Client(config) as client:
        r = await client.generate_image("draw", PROMPT)
    assert r.model == NOVA and len(r.images) == 1
    assert len(invocations(mock)) == 1


# -- prices ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "quality", "size", "each"),
    [
        (NOVA, None, None, "0.04"),
        (NOVA, "premium", None, "0.06"),
        (NOVA, None, "auto", "0.04"),
        (NOVA, "standard", "2048x2048", "0.06"),
        (NOVA, "hd", None, None),  # not Nova's word: no price, not a wrong one
        (NOVA, "standard", "4096x4096", None),
        (TITAN, None, None, "0.01"),
        (TITAN, "premium", None, "0.012"),
        (TITAN, None, "384x576", "0.008"),
        (f"us.{SD35}", "whatever", "1x1", "0.08"),
        (ULTRA, None, None, "0.14"),
        (CORE, None, None, "0.04"),
    ],
)
def test_image_models_are_priced_per_image(
    model: str, quality: str | None, size: str | None, each: str | None
) -> None:
    window, price = lookup(model)
    assert window is None and price is not None
    assert (price.input, price.output) == (Decimal(0), Decimal(0))
    assert price.image_price(quality, size) == (Decimal(each) if each else None)


def test_the_amazon_prices_name_every_size_they_draw() -> None:
    assert NOVA_CANVAS.per_image == Decimal("0.04")
    assert {attrs.evolve(NOVA_CANVAS): 1}[NOVA_CANVAS] == 1  # usable as a key, as any price
    # Every Titan size at both qualities, each alone at standard, premium alone.
    assert len(TITAN_IMAGE_V2.image_prices) == 25 * 3 + 1


# -- the mock, as Bedrock -------------------------------------------------------------

NOVA_OK: dict[str, Any] = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a cat"}}
STABILITY_OK: dict[str, Any] = {"prompt": "a cat"}


def _config(**config: Any) -> dict[str, Any]:
    return {**NOVA_OK, "imageGenerationConfig": config}


@pytest.mark.parametrize(
    ("model", "body", "problem"),
    [
        (NOVA, ["x"], "#: expected type: JSONObject"),
        (NOVA, {"textToImageParams": {"text": "a"}}, "#: required key [taskType] not found"),
        (NOVA, {"taskType": "TEXT_IMAGE"}, "required key [textToImageParams] not found"),
        (NOVA, {**NOVA_OK, "taskType": "OUTPAINTING"}, "#/taskType: OUTPAINTING is not a valid"),
        # the mock edits (INPAINTING, IMAGE_VARIATION): each takes its own parameters
        (NOVA, {**NOVA_OK, "taskType": "INPAINTING"}, "required key [inPaintingParams] not"),
        (NOVA, {**NOVA_OK, "textToImageParams": {}}, "#/textToImageParams: required key [text]"),
        (NOVA, {**NOVA_OK, "textToImageParams": {"text": ""}}, "expected minLength: 1"),
        (NOVA, {**NOVA_OK, "textToImageParams": {"text": "x" * 1025}}, "maxLength: 1024"),
        (TITAN, {**NOVA_OK, "textToImageParams": {"text": "x" * 513}}, "maxLength: 512"),
        (TITAN, {**NOVA_OK, "textToImageParams": {"text": "a", "style": "MAXIMALISM"}}, "[style]"),
        (NOVA, _config(numberOfImages=0), "#/imageGenerationConfig/numberOfImages: 0 is not"),
        (NOVA, _config(numberOfImages=6), "6 is not less or equal to 5"),
        (NOVA, _config(quality="hd"), "#/imageGenerationConfig/quality: hd is not a valid enum"),
        (NOVA, _config(cfgScale=11), "#/imageGenerationConfig/cfgScale: 11 is not less"),
        (NOVA, _config(seed=-1), "#/imageGenerationConfig/seed: -1 is not greater"),
        (NOVA, _config(steps=50), "#/imageGenerationConfig: extraneous key [steps]"),
        (NOVA, _config(width=1000, height=1024), "each side must be a multiple of 16"),
        (NOVA, _config(width=4096, height=960), "aspect ratio must be from 1:4 to 4:1"),
        (NOVA, _config(width=2064, height=2048), "exceeds 4194304 pixels"),
        (NOVA, _config(width=256), "each side must be a multiple of 16 from 320"),
        (TITAN, _config(width=1280, height=720), "1280x720 is not supported by this model"),
        (SD35, {}, "#: required key [prompt] not found"),
        (SD35, {"prompt": ""}, "#/prompt: expected minLength: 1"),
        (ULTRA, {**STABILITY_OK, "aspect_ratio": "4:3"}, "#/aspect_ratio: 4:3 is not a valid"),
        (CORE, {**STABILITY_OK, "output_format": "webp"}, "#/output_format: webp is not a valid"),
        (CORE, {**STABILITY_OK, "mode": "image-to-image"}, "#/mode: image-to-image is not"),
        (SD35, {**STABILITY_OK, "seed": 4_294_967_295}, "#/seed: 4294967295 is not less"),
        (SD35, {**STABILITY_OK, "n": 2}, "#: extraneous key [n] is not permitted"),
    ],
)
def test_the_mock_refuses_what_bedrock_refuses(model: str, body: Any, problem: str) -> None:
    message = validate_invoke(model, body)
    assert message is not None and problem in message, message


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (NOVA, NOVA_OK),
        (NOVA, _config(width=4096, height=1024, quality="premium", cfgScale=1.1, seed=0)),
        (NOVA, _config(width=2048, height=2048, numberOfImages=5)),
        (f"us.{NOVA}", {**NOVA_OK, "textToImageParams": {"text": "a", "style": "MAXIMALISM"}}),
        (TITAN, _config(width=1173, height=640)),
        (SD35, {**STABILITY_OK, "aspect_ratio": "21:9", "output_format": "jpeg", "seed": 9}),
        (ULTRA, {**STABILITY_OK, "negative_prompt": "dogs", "mode": "text-to-image"}),
    ],
)
def test_the_mock_takes_each_image_models_own_body(model: str, body: Any) -> None:
    assert validate_invoke(model, body) is None


def test_the_mock_names_the_image_models_it_serves() -> None:
    message = validate_invoke("stability.stable-diffusion-xl-v1", STABILITY_OK)
    assert message is not None and message.startswith("The provided model identifier is invalid")
    assert "amazon.nova-canvas-v1" in message and "stability.stable-image-core-v1" in message
