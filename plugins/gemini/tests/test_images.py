"""Gemini images on the wire: the Gemini image models' generateContent, sizes and
resolutions, refusals, filtered images, usage and cost, and the mock."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import (
    ContentFilterError,
    InvalidRequestError,
    RelayError,
    Usage,
)
from relaykit.testing import Reply, mock_image, mock_image_prompt, one_try_config
from relaykit_gemini.image_shapes import SHAPES_10, nearest_shape
from relaykit_gemini.prices import known_model
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
FOX = "a red fox in snow"
FLASH_IMAGE = "gemini/gemini-2.5-flash-image"
PRO_IMAGE = "gemini/gemini-3-pro-image"


@asynccontextmanager
async def client(mock: GeminiMock, **sections: Any) -> AsyncIterator[relaykit.Client]:
    cfg = one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY}}, **sections)
    async with relaykit.Client(cfg, env={}) as c:
        yield c


def sent(mock: GeminiMock) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in mock.requests if r.method == "POST"]


# -- Gemini image models: generateContent ------------------------------------------


@pytest.mark.anyio
async def test_a_gemini_image_model_draws_on_generate_content_billed_per_image(
    mock: GeminiMock,
) -> None:
    async with client(mock) as c:
        r = await c.generate_image(FLASH_IMAGE, FOX)
    request = mock.last_request
    # not streamed: one generateContent, no alt=sse
    assert request.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert not request.query
    assert json.loads(request.body) == {
        "contents": [{"role": "user", "parts": [{"text": FOX}]}],
        "generationConfig": {"responseModalities": ["IMAGE"]},
    }
    (image,) = r.images
    assert image.data == mock_image(FOX, 0) and image.revised_prompt is None
    assert (r.model, r.size, r.quality) == ("gemini-2.5-flash-image", None, "1K")
    assert r.usage == Usage(input_tokens=5, output_tokens=1290)  # Google's image tokens
    assert r.cost == Decimal("0.039")  # Google's price of an image, not the tokens'


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "size", "quality", "image_config", "cost"),
    [
        (PRO_IMAGE, "1920x1080", "2K", {"aspectRatio": "16:9", "imageSize": "2K"}, "0.134"),
        (PRO_IMAGE, "1792x1024", None, {"aspectRatio": "16:9"}, "0.134"),  # within 5%
        (PRO_IMAGE, "1024x1024", "4k", {"aspectRatio": "1:1", "imageSize": "4K"}, "0.24"),
        (PRO_IMAGE, "832x1248", None, {"aspectRatio": "2:3"}, "0.134"),
        (
            "gemini/gemini-3.1-flash-image",
            "512x2048",
            "512",
            {"aspectRatio": "1:4", "imageSize": "512"},
            "0.045",
        ),
        ("gemini/gemini-3.1-flash-image", None, "2K", {"imageSize": "2K"}, "0.101"),
        # 2.5 Flash Image draws 1K only: it has no imageSize to send
        (FLASH_IMAGE, "1536x672", "1K", {"aspectRatio": "21:9"}, "0.039"),
    ],
)
async def test_a_size_is_a_shape_and_quality_the_resolution(
    mock: GeminiMock,
    model: str,
    size: str | None,
    quality: str | None,
    image_config: dict[str, str],
    cost: str,
) -> None:
    async with client(mock) as c:
        r = await c.generate_image(model, FOX, size=size, quality=quality)
    assert sent(mock)[0]["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": image_config,
    }
    assert r.quality == image_config.get("imageSize", "1K")
    assert r.cost == Decimal(cost)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "params", "param", "message"),
    [
        (PRO_IMAGE, {"size": "1000x600"}, "size", "draws the aspect ratios 1:1, 2:3"),
        (FLASH_IMAGE, {"size": "512x2048"}, "size", "512x2048 is none of them"),
        (FLASH_IMAGE, {"quality": "2K"}, "quality", "this one draws at 1K"),
        (PRO_IMAGE, {"quality": "high"}, "quality", "draws at 1K, 2K, 4K"),
        (PRO_IMAGE, {"output_format": "png"}, "output_format", "no output format"),
        (FLASH_IMAGE, {"n": 5}, "n", "at most 4 images"),
    ],
)
async def test_a_gemini_image_model_refuses_what_it_cannot_draw_before_sending(
    mock: GeminiMock, model: str, params: dict[str, Any], param: str, message: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.generate_image(model, FOX, **params)
    assert not mock.requests, "a refused generation must not be sent"
    assert message in str(caught.value)
    assert (caught.value.param, caught.value.status) == (param, None)


@pytest.mark.anyio
async def test_n_images_are_n_requests_one_after_another_usage_summed(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.generate_image(FLASH_IMAGE, FOX, n=3)
    assert len(sent(mock)) == 3
    assert [i.data for i in r.images] == [mock_image(FOX, k) for k in range(3)]
    assert r.usage == Usage(input_tokens=15, output_tokens=3 * 1290)
    assert r.cost == Decimal("0.117")


@pytest.mark.anyio
async def test_thought_sketches_are_not_the_answer(mock: GeminiMock) -> None:
    mock.script.push(Reply(reasoning="a fox, then snow around it"))
    async with client(mock) as c:
        r = await c.generate_image(PRO_IMAGE, FOX)
    (image,) = r.images
    assert image.data is not None and mock_image_prompt(image.data) == FOX
    assert r.usage.reasoning_tokens == 6
    assert r.usage.output_tokens == 1120 + 6  # thinking is billed as output


@pytest.mark.anyio
async def test_text_the_model_adds_is_no_revised_prompt(mock: GeminiMock) -> None:
    mock.script.push(Reply(text="Here is your fox!"))
    async with client(mock) as c:
        r = await c.generate_image(
            FLASH_IMAGE, FOX, extra={"generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}
        )
    assert sent(mock)[0]["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    (image,) = r.images
    assert image.revised_prompt is None
    assert r.usage.output_tokens == 1290 + 4


@pytest.mark.anyio
async def test_a_filtered_image_is_a_content_filter_error(mock: GeminiMock) -> None:
    mock.script.push(Reply(finish="content_filter"))
    async with client(mock) as c:
        with pytest.raises(ContentFilterError, match="IMAGE_SAFETY"):
            await c.generate_image(PRO_IMAGE, FOX)


@pytest.mark.anyio
async def test_one_filtered_image_of_two_is_left_out_and_logged(
    mock: GeminiMock, caplog: pytest.LogCaptureFixture
) -> None:
    mock.script.push(Reply(finish="content_filter"))
    async with client(mock) as c:
        with caplog.at_level(logging.WARNING, logger="relaykit.gemini"):
            r = await c.generate_image(PRO_IMAGE, FOX, n=2)
    assert [i.data for i in r.images] == [mock_image(FOX, 0)]
    assert r.cost == Decimal("0.134")
    assert "drew 1 of 2 images: IMAGE_SAFETY" in caplog.text


@pytest.mark.anyio
async def test_an_answer_in_words_only_is_an_error_that_keeps_them(mock: GeminiMock) -> None:
    mock.script.push(Reply(refusal="I can only draw cats."))
    async with client(mock) as c:
        with pytest.raises(RelayError) as caught:
            await c.generate_image(FLASH_IMAGE, FOX)
    error = caught.value
    assert type(error) is RelayError
    assert "answered without an image" in str(error)
    assert error.provider_message == "I can only draw cats."


@pytest.mark.anyio
async def test_a_chat_model_asked_for_an_image_gets_googles_refusal(mock: GeminiMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.generate_image("gemini/gemini-2.5-flash", FOX)
    assert caught.value.status == 400
    assert "Model does not support the requested response modalities: image" in str(caught.value)


@pytest.mark.anyio
async def test_a_server_error_on_the_second_image_is_retried_as_a_whole(
    mock: GeminiMock,
) -> None:
    mock.script.push(Reply())
    mock.script.fail(503, "try again")
    async with client(mock, retry={"attempts": 2, "initial_wait": 0}) as c:
        r = await c.generate_image(FLASH_IMAGE, FOX, n=2)
    assert len(sent(mock)) == 4 and r.attempts == 2
    assert [i.data for i in r.images] == [mock_image(FOX, k) for k in (1, 2)]


# -- shapes and prices -------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "shape"),
    [
        ((1024, 1024), "1:1"),
        ((1920, 1080), "16:9"),
        ((1408, 768), "16:9"),  # Google's own 16:9 pixels are near it, not exactly it
        ((1536, 672), "21:9"),
        ((1000, 600), None),  # 5:3: 6% from 16:9, 11% from 3:2
        ((4096, 1024), None),  # 4:1 is 3.1 Flash Image's alone
    ],
)
def test_a_size_is_taken_as_the_aspect_ratio_within_five_percent(
    size: tuple[int, int], shape: str | None
) -> None:
    assert nearest_shape(size, SHAPES_10) == shape


def test_image_models_are_priced_per_image_by_resolution() -> None:
    pro = known_model("gemini-3-pro-image-preview")[1]
    assert pro is not None and pro == known_model("gemini-3-pro-image")[1]
    assert (pro.image_price(), pro.image_price("2K"), pro.image_price("4K")) == (
        Decimal("0.134"),
        Decimal("0.134"),
        Decimal("0.24"),
    )
    assert (pro.input, pro.output) == (Decimal(2), Decimal(12))  # chat: the text rates
    assert known_model("imagen-4.0-generate-001") == (None, None)  # shut down: unpriced
    flash = known_model("gemini-2.5-flash-image")[1]
    assert flash is not None and flash.per_image == Decimal("0.039")
    assert known_model("gemini-2.5-flash")[1] != flash


# -- the mock ----------------------------------------------------------------------


async def post(mock: GeminiMock, model: str, method: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{mock.base_url}/v1beta/models/{model}:{method}",
            json=body,
            headers={"x-goog-api-key": KEY},
        )


def draw(**config: Any) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": FOX}]}],
        "generationConfig": {"responseModalities": ["IMAGE"], **config},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        ("gemini-2.5-flash-image", draw(imageConfig={"aspectRatio": "7:4"}), "'7:4'"),
        ("gemini-2.5-flash-image", draw(imageConfig={"imageSize": "4K"}), "image_size: '4K'"),
        (
            "gemini-2.5-flash-image",
            draw(imageConfig={"outputMimeType": "image/png"}),
            "Unknown name \"outputMimeType\" at 'generation_config.image_config'",
        ),
        ("gemini-2.5-flash-image", draw(responseModalities=["IMAGE", "VIDEO"]), "Modality"),
        (
            "gemini-2.5-flash",
            draw(responseModalities=["TEXT", "IMAGE"]),
            "Model does not support the requested response modalities: image,text",
        ),
    ],
)
async def test_mock_refuses_what_google_refuses(
    mock: GeminiMock, model: str, body: dict[str, Any], message: str
) -> None:
    r = await post(mock, model, "generateContent", body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


@pytest.mark.anyio
async def test_mock_answers_imagens_predict_not_found_as_google_does_now(
    mock: GeminiMock,
) -> None:
    body = {"instances": [{"prompt": FOX}], "parameters": {"sampleCount": 1}}
    r = await post(mock, "imagen-4.0-generate-001", "predict", body)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"
