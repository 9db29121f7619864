"""OpenAI's own SDK generating images through the gateway, over loopback HTTP, as its
users would: to the fake provider, and on through relaykit-openai to the OpenAI mock."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest

import relaykit
from relaykit.testing import (
    FakePlugin,
    OpenAIMock,
    RecordingExporter,
    mock_image,
    mock_image_prompt,
)
from relaykit_gateway.testing import KEY, running, running_over

from .conftest import gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

FOX = "a red fox in snow"


async def test_the_sdk_gets_base64_images_and_token_usage(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        r = await client.images.generate(
            model="fake/gpt-image-1",
            prompt=FOX,
            n=2,
            size="1024x1024",
            quality="low",
            output_format="png",
            background="transparent",
            user="u-7",
        )
    assert [base64.b64decode(i.b64_json or "") for i in r.data or []] == [
        mock_image(FOX, 0),
        mock_image(FOX, 1),
    ]
    assert (r.size, r.quality, r.output_format) == ("1024x1024", "low", "png")
    assert isinstance(r.created, int) and r.created > 0
    usage: Any = r.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (5, 200, 205)
    assert usage.input_tokens_details.text_tokens == 5
    (sent,) = fake.images
    assert (sent.model, sent.prompt, sent.n, sent.size, sent.quality, sent.output_format) == (
        "gpt-image-1",
        FOX,
        2,
        "1024x1024",
        "low",
        "png",
    )
    assert sent.extra == {"background": "transparent"}
    # the call's correlation id is the request id the gateway answered with
    assert sent.metadata.pop("correlation_id").startswith("req_")
    assert sent.metadata == {"user": "u-7", "gateway_key": "alice"}
    (record,) = records.records
    assert (record.operation, record.params["images"]) == ("generate_image", 2)


async def test_a_model_billed_per_image_has_no_usage_and_keeps_its_revised_prompt(
    fake: FakePlugin,
) -> None:
    fake.script.reply("A red fox, in deep snow")
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/images/generations",
            headers={"authorization": f"Bearer {KEY}"},
            json={"model": "fake/dall-e-3", "prompt": FOX, "quality": "hd", "style": "natural"},
        )
    assert r.status_code == 200
    body = r.json()
    assert "usage" not in body
    (item,) = body["data"]
    assert item["revised_prompt"] == "A red fox, in deep snow"
    assert mock_image_prompt(base64.b64decode(item["b64_json"])) == FOX
    assert (body["quality"], body["size"]) == ("hd", "1024x1024")
    assert (r.headers["x-relaykit-provider"], r.headers["x-relaykit-cost"]) == ("fake", "0.08")
    assert fake.images[0].extra == {"style": "natural"}


async def test_on_through_the_openai_plugin_to_the_vendor(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        r = await client.images.generate(model="gpt-image-1", prompt=FOX, quality="low")
        linked = await client.images.generate(model="dall-e-3", prompt=FOX, response_format="url")
        raw = await client.images.with_raw_response.generate(model="gpt-image-1-mini", prompt=FOX)
    (image,) = r.data or []
    assert base64.b64decode(image.b64_json or "") == mock_image(FOX)
    usage: Any = r.usage
    assert (usage.input_tokens, usage.output_tokens) == (5, 272)
    (link,) = linked.data or []
    # the vendor's own URL, asked for by the caller, relayed as it came
    assert link.url and link.url.startswith(openai_mock.base_url) and link.b64_json is None
    assert link.revised_prompt == f"{FOX}, digital art"
    assert raw.headers["x-relaykit-model"] == "gpt-image-1-mini"
    assert raw.headers["x-relaykit-cost"] == "0.008458"
    sent = openai_mock.requests[0]
    assert sent.path == "/v1/images/generations"
    assert sent.json() == {"model": "gpt-image-1", "prompt": FOX, "n": 1, "quality": "low"}


async def test_openais_refusal_reaches_the_sdk_as_its_own_error(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="Unknown parameter: 'steps'"):
            await client.images.generate(model="gpt-image-1", prompt=FOX, extra_body={"steps": 4})
        # refused before sending, in relaykit's words, with the parameter named
        with pytest.raises(openai.BadRequestError, match="gpt-image-1 draws 1024x1024") as e:
            await client.images.generate(model="gpt-image-1", prompt=FOX, size="512x512")
        assert e.value.param == "size"
        with pytest.raises(openai.BadRequestError, match="draws at most 1 image"):
            await client.images.generate(model="dall-e-3", prompt=FOX, n=2)
    assert len(openai_mock.requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "fake/gpt-image-1"}, "`prompt` must be a non-empty string"),
        ({"prompt": FOX}, "`model` must be a non-empty string"),
        ({"model": "fake/gpt-image-1", "prompt": FOX, "stream": True}, "`stream` is not served"),
        ({"model": "fake/gpt-image-1", "prompt": FOX, "n": 0}, "`n` must be a positive integer"),
        ({"model": "fake/gpt-image-1", "prompt": FOX, "size": "big"}, "`size` must be"),
        (["a list"], "the request body must be a JSON object"),
    ],
)
async def test_what_cannot_be_served_is_a_400_in_openais_shape(
    fake: FakePlugin, body: Any, message: str
) -> None:
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/images/generations", headers={"authorization": f"Bearer {KEY}"}, json=body
        )
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]
    assert fake.images == []


async def test_a_key_limited_to_other_models_is_refused(fake: FakePlugin) -> None:
    from relaykit_gateway.keys import GatewayKeys

    keys = GatewayKeys.parse(f"alice={KEY}", models="alice=fake/gpt-4o*")
    client = relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake])
    async with client, running(client, keys) as url, openai_sdk(url) as sdk_client:
        with pytest.raises(openai.PermissionDeniedError):
            await sdk_client.images.generate(model="fake/gpt-image-1", prompt=FOX)
    assert fake.images == []


async def test_a_provider_without_images_is_a_400_naming_who_has_them(fake: FakePlugin) -> None:
    async with running_over(anthropic="http://127.0.0.1:9/") as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="anthropic has no image generation API"):
            await client.images.generate(model="anthropic/claude-haiku-4-5", prompt=FOX)
