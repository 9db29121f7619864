"""Gemini image edits on the wire: a Gemini image model's generateContent with the images
as inlineData parts before the prompt; masks (and Imagen, shut down) refused unsent."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from relaykit import InvalidRequestError
from relaykit.testing import mock_image, mock_image_prompt, mock_mask
from relaykit_gemini.testing import GeminiMock

from .conftest import client

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
HAT = "put a red hat on the fox"
PHOTO = mock_image("a fox", side=16)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.anyio
async def test_the_images_go_as_inline_data_before_the_prompt(mock: GeminiMock) -> None:
    async with client(mock) as c:
        r = await c.edit_image(
            "gemini/gemini-2.5-flash-image", HAT, image=[PHOTO, JPEG], n=2, size="1024x1024"
        )
    posts = [r for r in mock.requests if r.method == "POST"]
    assert len(posts) == 2  # one request an image, as for a generation
    request = posts[0]
    assert request.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    body = json.loads(request.body)
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"inlineData": {"mimeType": "image/png", "data": b64(PHOTO)}},
                {"inlineData": {"mimeType": "image/jpeg", "data": b64(JPEG)}},
                {"text": HAT},
            ],
        }
    ]
    assert body["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "1:1"},
    }
    assert [mock_image_prompt(i.data or b"") for i in r.images] == [HAT, HAT]
    assert r.images[0].data == mock_image(HAT, 0) and r.images[1].data == mock_image(HAT, 1)
    # each request: 7 prompt tokens and 2 x 258 image tokens in, 1290 out
    assert (r.usage.input_tokens, r.usage.output_tokens) == (2 * (7 + 516), 2 * 1290)
    assert r.image_tokens == 2 * 516  # promptTokensDetails' IMAGE modality
    # priced per image, as Google states it; input images bill at the text rate
    assert r.cost == 2 * Decimal("0.039")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "params", "problem"),
    [
        ("imagen-4.0-generate-001", {}, "Google shut Imagen down in the Gemini API"),
        ("gemini-2.5-flash-image", {"mask": mock_mask(16)}, "takes no mask"),
        ("gemini-2.5-flash-image", {"n": 5}, "at most 4 images"),
    ],
)
async def test_imagen_a_mask_and_too_many_images_are_refused_unsent(
    mock: GeminiMock, model: str, params: dict[str, Any], problem: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match=problem) as e:
            await c.edit_image(f"gemini/{model}", HAT, image=PHOTO, **params)
    assert e.value.status is None and e.value.provider == "gemini"
    assert not [r for r in mock.requests if r.method == "POST"]


@pytest.mark.anyio
async def test_the_mock_refuses_an_image_whose_bytes_belie_its_type(mock: GeminiMock) -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": "image/jpeg", "data": b64(PHOTO)}},
                    {"text": HAT},
                ],
            }
        ],
        "generationConfig": {"responseModalities": ["IMAGE"]},
    }
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{mock.base_url}/v1beta/models/gemini-2.5-flash-image:generateContent",
            json=body,
            headers={"x-goog-api-key": KEY},
        )
    assert r.status_code == 400 and "Unable to process input image" in r.text
