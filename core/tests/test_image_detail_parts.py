"""``ImagePart.detail`` (OpenAI's image resolution) read from pasted messages, kept in
call records only when given, and part of the response-cache key: an answer read from a
low-resolution image is not the answer to the full one."""

from __future__ import annotations

import pytest

from relaykit import ChatRequest, ImagePart, InvalidRequestError, Message
from relaykit.messages import coerce_messages
from relaykit.response_cache import cache_key
from relaykit.serialization import converter

URL = "https://example.com/cat.png"


def test_a_pasted_detail_is_kept_in_each_shape() -> None:
    pasted = [
        {"type": "image_url", "image_url": {"url": URL, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO", "detail": "high"}},
        {"type": "image", "url": URL, "detail": "auto"},
        {"type": "image_url", "image_url": URL},
    ]
    (message,) = coerce_messages([{"role": "user", "content": pasted}])
    assert [p.detail for p in message.content if isinstance(p, ImagePart)] == [
        "low",
        "high",
        "auto",
        None,
    ]


def test_a_record_names_a_detail_only_when_given() -> None:
    plain = converter.unstructure(Message.user("x", ImagePart(url=URL)))
    assert "detail" not in plain["content"][1]
    low = Message.user("x", ImagePart(url=URL, detail="low"))
    assert converter.structure(converter.unstructure(low), Message) == low


def test_the_detail_is_part_of_the_cache_key() -> None:
    def key(image: ImagePart) -> str:
        return cache_key("openai", ChatRequest(model="m", messages=(Message.user("x", image),)))

    assert len({key(ImagePart(url=URL)), key(ImagePart(url=URL, detail="low"))}) == 2


@pytest.mark.parametrize("detail", ["medium", "LOW", 1])
def test_a_detail_no_api_knows_is_refused(detail: object) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ImagePart(url=URL, detail=detail)  # type: ignore[arg-type]
    assert caught.value.param == "content.image.detail"
