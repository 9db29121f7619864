"""What relaykit-openai's image edits (``POST /images/edits``, a multipart form) put on
the wire and read back; the mock parses the form and checks it as OpenAI does."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Usage, multipart
from relaykit.testing import OpenAIMock, mock_image, mock_image_prompt, mock_mask
from relaykit_openai import PRESETS
from relaykit_openai.images import has_alpha

KEY = "sk-test-0123456789abcdef0123"
HAT = "put a red hat on the fox"
PHOTO = mock_image("a fox", side=16)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20


def config(base_url: str, *providers: str) -> dict[str, Any]:
    names = providers or ("openai",)
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {name: {"base_url": base_url, "api_key": KEY} for name in names},
    }


def form(mock: OpenAIMock) -> tuple[dict[str, list[str]], list[multipart.Part]]:
    """The last request's text fields (each name's values, in order) and its files."""
    request = mock.last_request
    parts = multipart.parse(request.body, request.headers["content-type"])
    fields: dict[str, list[str]] = {}
    for part in parts:
        if part.filename is None:
            fields.setdefault(part.name, []).append(part.text)
    return fields, [p for p in parts if p.filename is not None]


@pytest.mark.anyio
async def test_one_image_and_a_mask_go_as_a_form_and_the_edit_is_priced_by_its_tokens(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    photo = tmp_path / "fox.png"
    photo.write_bytes(PHOTO)
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.edit_image(
            "openai/gpt-image-1",
            HAT,
            image=photo,
            mask=mock_mask(16),
            size="1024x1024",
            quality="low",
            output_format="webp",
        )
    request = mock.last_request
    assert request.path == "/v1/images/edits"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    fields, files = form(mock)
    assert fields == {
        "model": ["gpt-image-1"],
        "prompt": [HAT],
        "n": ["1"],
        "size": ["1024x1024"],
        "quality": ["low"],
        "output_format": ["webp"],
    }
    image, mask = files
    assert (image.name, image.filename, image.content_type, image.data) == (
        "image",
        "fox.png",
        "image/png",
        PHOTO,
    )
    assert (mask.name, mask.filename, mask.content_type) == ("mask", "mask.png", "image/png")
    assert mask.data == mock_mask(16)
    (edited,) = r.images
    assert edited.data == mock_image(HAT) and mock_image_prompt(edited.data) == HAT
    assert (r.size, r.quality, r.id) == ("1024x1024", "low", "req_mock000001")
    # 7 prompt tokens in at USD 5 a million, 323 image tokens at 10, 272 out at 40
    assert (r.usage, r.image_tokens) == (Usage(330, 272), 323)
    assert r.cost == Decimal("0.014145")


@pytest.mark.anyio
async def test_several_images_go_as_repeated_image_brackets_with_extra_fields(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.edit_image(
            "openai/gpt-image-2",
            "the fox wearing the hat",
            image=[PHOTO, JPEG, relaykit.ImageFile(mock_image("hat"), filename="hat.png")],
            n=2,
            extra={"input_fidelity": "high", "background": "opaque", "quality": "high"},
        )
    fields, files = form(mock)
    assert fields["quality"] == ["high"]  # extra replaces relaykit's own
    assert (fields["input_fidelity"], fields["background"], fields["n"]) == (
        ["high"],
        ["opaque"],
        ["2"],
    )
    assert [(f.name, f.filename, f.content_type) for f in files] == [
        ("image[]", "image.png", "image/png"),
        ("image[]", "image.jpg", "image/jpeg"),
        ("image[]", "hat.png", "image/png"),
    ]
    assert len(r.images) == 2 and r.usage.input_tokens == 5 + 3 * 323
    # gpt-image-2: the prompt at USD 5 a million, the images at 8, 1056 x 2 out at 30
    assert r.image_tokens == 3 * 323
    assert r.cost == (5 * 5 + 3 * 323 * 8 + 2 * 4160 * 30) / Decimal(1_000_000)


@pytest.mark.anyio
async def test_dall_e_2_edits_one_square_png_and_is_asked_for_base64(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        # without a mask dall-e-2 edits where the image is transparent: PHOTO has no alpha
        r = await client.edit_image(
            "openai/dall-e-2", HAT, image=PHOTO, mask=mock_mask(16), size="512x512"
        )
    fields, _ = form(mock)
    assert fields["response_format"] == ["b64_json"] and "output_format" not in fields
    assert r.images[0].data == mock_image(HAT)
    assert (r.size, r.quality) == ("512x512", "standard")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "params", "problem"),
    [
        ("dall-e-3", {}, "dall-e-3 edits no images"),
        ("dall-e-2", {"image": [PHOTO, PHOTO]}, "dall-e-2 edits at most 1 image"),
        ("dall-e-2", {"image": JPEG}, "dall-e-2 edits PNG images, not JPEG"),
        ("dall-e-2", {"output_format": "webp"}, "takes no output_format"),
        ("gpt-image-1", {"image": [PHOTO] * 17}, "at most 16 images"),
        ("gpt-image-1", {"image": b"GIF89a" + b"\x10\x00\x10\x00" + b"\x00" * 8}, "not GIF"),
        ("gpt-image-1", {"mask": PHOTO}, "this mask has none"),
        ("gpt-image-1", {"mask": JPEG}, "this mask has none"),
        ("gpt-image-1", {"n": 11}, "at most 10 images"),
    ],
)
async def test_what_openai_would_refuse_is_refused_unsent(
    mock: OpenAIMock, model: str, params: dict[str, Any], problem: str
) -> None:
    params = {"image": PHOTO, **params}
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match=problem) as e:
            await client.edit_image(f"openai/{model}", HAT, **params)
    assert e.value.status is None and e.value.provider == "openai"
    assert not mock.requests


@pytest.mark.anyio
async def test_the_mocks_refusal_comes_back_typed(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        # (an input_fidelity gpt-image-1 has not is refused before sending)
        with pytest.raises(InvalidRequestError, match="Unknown parameter: 'steps'") as e:
            await client.edit_image("openai/gpt-image-1", HAT, image=PHOTO, extra={"steps": 4})
    assert e.value.status == 400


def test_a_mask_has_alpha_when_its_colour_type_or_a_trns_chunk_says() -> None:
    assert has_alpha(mock_mask(8)) and not has_alpha(mock_image("x"))
    assert not has_alpha(JPEG) and not has_alpha(b"")


@pytest.mark.anyio
@pytest.mark.parametrize("preset", sorted(set(PRESETS) - {"xai"}))
async def test_no_other_preset_edits_and_each_is_refused_unsent(
    mock: OpenAIMock, preset: str
) -> None:
    async with relaykit.Client(config(mock.base_url, preset)) as client:
        with pytest.raises(InvalidRequestError, match=f"{preset} has no image editing API"):
            await client.edit_image(f"{preset}/some-model", HAT, image=PHOTO)
    assert not mock.requests


# -- xAI: JSON, each image a data URI ----------------------------------------------------


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


@pytest.mark.anyio
async def test_xai_takes_one_image_as_a_data_uri_in_json_and_answers_base64(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock.base_url, "xai")) as client:
        r = await client.edit_image(
            "xai/grok-imagine-image", HAT, image=PHOTO, extra={"aspect_ratio": "1:1"}
        )
    request = mock.last_request
    assert request.path == "/v1/images/edits"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "model": "grok-imagine-image",
        "prompt": HAT,
        "n": 1,
        "response_format": "b64_json",
        "image": {"url": data_uri(PHOTO, "image/png"), "type": "image_url"},
        "aspect_ratio": "1:1",
    }
    (edited,) = r.images
    assert edited.data == mock_image(HAT) and mock_image_prompt(edited.data) == HAT
    # xAI bills per image; the preset knows no price: unknown, not a wrong zero
    assert (r.provider, r.image_tokens, r.cost) == ("xai", 0, None)


@pytest.mark.anyio
async def test_xai_takes_several_images_as_a_list_and_n(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url, "xai")) as client:
        r = await client.edit_image("xai/grok-imagine-image", HAT, image=[PHOTO, JPEG], n=2)
    body = mock.last_request.json()
    assert "image" not in body and body["n"] == 2
    assert body["images"] == [
        {"url": data_uri(PHOTO, "image/png"), "type": "image_url"},
        {"url": data_uri(JPEG, "image/jpeg"), "type": "image_url"},
    ]
    assert len(r.images) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"size": "1024x1024"}, "takes no size"),
        ({"quality": "high"}, "takes no quality"),
        ({"output_format": "jpeg"}, "takes no output_format"),
        ({"mask": mock_mask(16)}, "take no mask"),
        ({"image": [PHOTO] * 4}, "at most 3 images"),
        ({"n": 11}, "at most 10 images"),
    ],
)
async def test_what_xai_would_refuse_is_refused_unsent(
    mock: OpenAIMock, params: dict[str, Any], problem: str
) -> None:
    params = {"image": PHOTO, **params}
    async with relaykit.Client(config(mock.base_url, "xai")) as client:
        with pytest.raises(InvalidRequestError, match=problem) as e:
            await client.edit_image("xai/grok-imagine-image", HAT, **params)
    assert e.value.status is None and e.value.provider == "xai"
    assert not mock.requests
