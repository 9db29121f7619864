"""OpenAI's own SDK editing images through the gateway (``POST /v1/images/edits``, a
multipart form in), over loopback HTTP: to the fake provider, and on through
relaykit-openai's form to the OpenAI mock."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest

from relaykit import multipart
from relaykit.testing import (
    FakePlugin,
    OpenAIMock,
    RecordingExporter,
    mock_image,
    mock_image_prompt,
    mock_mask,
)
from relaykit_gateway.testing import KEY, running_over

from .conftest import gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

HAT = "put a red hat on the fox"
PHOTO = mock_image("a fox", side=16)


async def test_the_sdk_edits_several_images_with_a_mask(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        r = await client.images.edit(
            model="fake/gpt-image-1",
            prompt=HAT,
            image=[("fox.png", PHOTO, "image/png"), ("hat.png", mock_image("hat"), "image/png")],
            mask=("mask.png", mock_mask(16), "image/png"),
            n=2,
            size="1024x1024",
            quality="low",
            input_fidelity="high",
            user="u-7",
        )
    assert [base64.b64decode(i.b64_json or "") for i in r.data or []] == [
        mock_image(HAT, 0),
        mock_image(HAT, 1),
    ]
    assert (r.size, r.quality) == ("1024x1024", "low")
    (sent,) = fake.image_edits
    assert [(i.filename, i.data) for i in sent.images] == [
        ("fox.png", PHOTO),
        ("hat.png", mock_image("hat")),
    ]
    assert sent.mask is not None and sent.mask.data == mock_mask(16)
    assert (sent.prompt, sent.n, sent.size, sent.quality) == (HAT, 2, "1024x1024", "low")
    assert sent.extra == {"input_fidelity": "high"}
    # the call's correlation id is the request id the gateway answered with
    assert sent.metadata.pop("correlation_id").startswith("req_")
    assert sent.metadata == {"user": "u-7", "gateway_key": "alice"}
    (record,) = records.records
    assert (record.operation, record.params["input_images"]) == ("edit_image", 2)


async def test_on_through_the_openai_plugin_to_the_vendor(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        r = await client.images.edit(
            model="gpt-image-1", prompt=HAT, image=("fox.png", PHOTO, "image/png")
        )
    (image,) = r.data or []
    assert mock_image_prompt(base64.b64decode(image.b64_json or "")) == HAT
    request = openai_mock.last_request
    assert request.path == "/v1/images/edits"
    parts = multipart.parse(request.body, request.headers["content-type"])
    files = [(p.name, p.filename, p.data) for p in parts if p.filename is not None]
    assert files == [("image", "fox.png", PHOTO)]
    usage: Any = r.usage
    assert usage.input_tokens == 7 + 323


async def test_what_cannot_be_served_is_a_400_in_openais_shape(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        auth = {"authorization": f"Bearer {KEY}"}
        body, kind = multipart.encode([("model", "fake/gpt-image-1"), ("prompt", HAT)])
        no_image = await http.post(
            f"{url}/v1/images/edits", headers={**auth, "content-type": kind}, content=body
        )
        not_a_form = await http.post(f"{url}/v1/images/edits", headers=auth, json={"prompt": HAT})
        body, kind = multipart.encode(
            [("model", "fake/gpt-image-1"), ("prompt", HAT)],
            [multipart.Part("image", b"plain text", "notes.txt", "text/plain")],
        )
        unreadable = await http.post(
            f"{url}/v1/images/edits", headers={**auth, "content-type": kind}, content=body
        )
    assert no_image.status_code == 400 and "`image` is required" in no_image.text
    assert not_a_form.status_code == 400 and "multipart/form-data" in not_a_form.text
    assert unreadable.status_code == 400 and "no image relaykit reads" in unreadable.text
    assert no_image.json()["error"]["type"] == "invalid_request_error"
    assert not fake.image_edits


async def test_a_provider_without_edits_is_a_400_naming_who_has_them() -> None:
    async with running_over(anthropic="http://127.0.0.1:9/") as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="has no image editing API"):
            await client.images.edit(
                model="anthropic/claude-x", prompt=HAT, image=("fox.png", PHOTO, "image/png")
            )
