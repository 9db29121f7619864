"""An image's ``detail`` (OpenAI's ``"low"``, ``"high"``, ``"auto"``) reaches the wire:
code written for the OpenAI SDK pastes ``{"image_url": {"url": ..., "detail": "low"}}``
to pay 85 tokens an image, and relaykit kept only the URL."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import ImagePart, InvalidRequestError, Message
from relaykit.testing import OpenAIMock
from relaykit.testing.sample_files import PNG

KEY = "sk-test-0123456789abcdef0123"
URL = "https://example.com/cat.png"


def config(mock: OpenAIMock, api: str) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY, "api": api}},
    }


def pasted(detail: str) -> list[dict[str, Any]]:
    """A user turn as the OpenAI SDK takes it."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": {"url": URL, "detail": detail}},
            ],
        }
    ]


def images_sent(mock: OpenAIMock) -> list[dict[str, Any]]:
    body = mock.last_request.json()
    if "messages" in body:
        return [
            p["image_url"]
            for m in body["messages"]
            if isinstance(m["content"], list)
            for p in m["content"]
            if p["type"] == "image_url"
        ]
    return [p for item in body["input"] for p in item["content"] if p["type"] == "input_image"]


@pytest.mark.anyio
@pytest.mark.parametrize("detail", ["low", "high", "auto"])
async def test_a_pasted_detail_reaches_chat_completions(mock: OpenAIMock, detail: str) -> None:
    async with relaykit.Client(config(mock, "chat")) as client:
        await client.chat("openai/gpt-4o-mini", pasted(detail))
    assert images_sent(mock) == [{"url": URL, "detail": detail}]


@pytest.mark.anyio
async def test_a_detail_reaches_the_responses_api(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, "responses")) as client:
        await client.chat("openai/gpt-4o-mini", pasted("low"))
        (image,) = images_sent(mock)
        assert (image["image_url"], image["detail"]) == (URL, "low")
        await client.chat("openai/gpt-4o-mini", [Message.user("what?", ImagePart(url=URL))])
        (image,) = images_sent(mock)
        assert image["detail"] == "auto"  # the API's default, as before


@pytest.mark.anyio
async def test_an_image_part_of_bytes_carries_its_detail(mock: OpenAIMock) -> None:
    image = ImagePart(data=PNG, media_type="image/png", detail="low")
    async with relaykit.Client(config(mock, "chat")) as client:
        await client.chat("openai/gpt-4o-mini", [Message.user("what?", image)])
        (sent,) = images_sent(mock)
        assert sent["detail"] == "low" and sent["url"].startswith("data:image/png;base64,")
        await client.chat("openai/gpt-4o-mini", [Message.user("what?", ImagePart(url=URL))])
    assert images_sent(mock) == [{"url": URL}]  # none given, none sent


@pytest.mark.anyio
async def test_a_detail_openai_does_not_know_is_refused_before_sending(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock, "chat")) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat("openai/gpt-4o-mini", pasted("medium"))
    assert caught.value.param is not None and caught.value.param.endswith("detail")
    assert "'low', 'high' or 'auto'" in caught.value.message
    assert mock.requests == []
