"""Image edits over InvokeModel: Nova Canvas and Titan v2 inpaint with a mask and vary
without one; Stability, and what a task cannot take, refused before sending; the mock
checks each edit body as Bedrock's schema would."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest

from relaykit import InvalidRequestError
from relaykit.testing import mock_image, mock_image_prompt
from relaykit_bedrock.testing import BedrockMock, validate_invoke

from .conftest import MakeClient, bodies

NOVA = "amazon.nova-canvas-v1:0"
TITAN = "amazon.titan-image-generator-v2:0"
HAT = "a red hat"
PHOTO = mock_image("a fox", side=16)
MASK = mock_image("black where the hat goes", side=16)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.anyio
async def test_a_mask_inpaints_the_image_at_its_own_size(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        r = await client.edit_image(f"bedrock/{NOVA}", HAT, image=PHOTO, mask=MASK, n=2)
    assert bodies(mock) == [
        {
            "taskType": "INPAINTING",
            "inPaintingParams": {"image": b64(PHOTO), "text": HAT, "maskImage": b64(MASK)},
            "imageGenerationConfig": {"numberOfImages": 2, "quality": "standard"},
        }
    ]
    assert [mock_image_prompt(i.data or b"") for i in r.images] == [HAT, HAT]
    assert (r.size, r.quality) == ("8x8", "standard")  # the mock's images are 8x8
    assert r.cost == Decimal("0.08")  # two standard images at Nova's smallest price


@pytest.mark.anyio
async def test_a_mask_prompt_in_extra_inpaints_without_a_mask_image(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.edit_image(
            f"bedrock/{TITAN}",
            HAT,
            image=PHOTO,
            extra={"inPaintingParams": {"maskPrompt": "the fox's head"}},
        )
    (body,) = bodies(mock)
    assert body["taskType"] == "INPAINTING"
    assert body["inPaintingParams"] == {
        "image": b64(PHOTO),
        "text": HAT,
        "maskPrompt": "the fox's head",
    }


@pytest.mark.anyio
async def test_without_a_mask_the_images_are_varied_as_the_prompt_says(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        r = await client.edit_image(
            f"bedrock/{NOVA}",
            "the same fox, in watercolour",
            image=[PHOTO, mock_image("another fox")],
            size="1280x720",
            quality="premium",
            extra={"imageVariationParams": {"similarityStrength": 0.8}},
        )
    assert bodies(mock) == [
        {
            "taskType": "IMAGE_VARIATION",
            "imageVariationParams": {
                "images": [b64(PHOTO), b64(mock_image("another fox"))],
                "text": "the same fox, in watercolour",
                "similarityStrength": 0.8,
            },
            "imageGenerationConfig": {
                "numberOfImages": 1,
                "quality": "premium",
                "width": 1280,
                "height": 720,
            },
        }
    ]
    assert (r.size, r.quality, len(r.images)) == ("1280x720", "premium", 1)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "params", "problem"),
    [
        ("stability.sd3-5-large-v1:0", {}, "relaykit edits no images with Stable Diffusion"),
        (NOVA, {"image": [PHOTO, PHOTO], "mask": MASK}, "inpaints one image, not 2"),
        (NOVA, {"mask": MASK, "size": "1024x1024"}, "inpaints at the image's own size"),
        (NOVA, {"image": [PHOTO] * 6}, "varies at most 5 images, not 6"),
        (NOVA, {"n": 6}, "at most 5 images"),
        (TITAN, {"size": "1000x1000"}, "cannot draw 1000x1000"),
    ],
)
async def test_what_bedrock_would_refuse_is_refused_unsent(
    mock: BedrockMock, make_client: MakeClient, model: str, params: dict[str, Any], problem: str
) -> None:
    params = {"image": PHOTO, **params}
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=problem) as e:
            await client.edit_image(f"bedrock/{model}", HAT, **params)
    assert e.value.status is None and not bodies(mock)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {"taskType": "INPAINTING", "inPaintingParams": {"image": b64(PHOTO), "text": HAT}},
            "Exactly one of maskImage or maskPrompt",
        ),
        (
            {
                "taskType": "INPAINTING",
                "inPaintingParams": {
                    "image": b64(PHOTO),
                    "text": HAT,
                    "maskImage": b64(mock_image("m", side=8)),
                },
            },
            "same size as the input image",
        ),
        (
            {
                "taskType": "INPAINTING",
                "inPaintingParams": {"image": b64(PHOTO), "maskPrompt": "x"},
                "imageGenerationConfig": {"width": 1024},
            },
            "extraneous key [width]",
        ),
        (
            {"taskType": "IMAGE_VARIATION", "imageVariationParams": {"images": []}},
            "1 to 5 images",
        ),
        (
            {"taskType": "IMAGE_VARIATION", "imageVariationParams": {"images": ["bm90"]}},
            "PNG or JPEG",
        ),
    ],
)
def test_the_mock_refuses_edit_bodies_as_bedrock_would(body: dict[str, Any], problem: str) -> None:
    found = validate_invoke(NOVA, body)
    assert found is not None and problem in found
