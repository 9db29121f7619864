"""What a Messages request may hold under each ``anthropic-version``, over loopback HTTP
with Anthropic's SDK (2.x sends 2026-10-21). Anthropic's versioning page: 2026-10-21
removed ``temperature``, ``top_p`` and ``top_k`` (a request sending any is a 400) and
refuses a ``text`` block with non-empty ``citations`` in a user message, for the
Messages API, token counting and each request of a Message Batch made under it;
2023-06-01 (and a request without the header, read leniently) takes them."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from relaykit.testing import FakePlugin
from relaykit_gateway.testing import KEY

from .conftest import anthropic_sdk, gateway_over

pytestmark = pytest.mark.anyio

HI: list[Any] = [{"role": "user", "content": "hi"}]
OLD = {"anthropic-version": "2023-06-01"}
SAMPLING = {"temperature": 0.2, "top_p": 0.5, "top_k": 5}
CITED: list[Any] = [
    {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "Paris is the capital.",
                "citations": [
                    {
                        "type": "char_location",
                        "cited_text": "Paris",
                        "document_index": 0,
                        "document_title": None,
                        "start_char_index": 0,
                        "end_char_index": 5,
                    }
                ],
            }
        ],
    }
]


@pytest.mark.parametrize("param", sorted(SAMPLING))
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_2026_10_21_refuses_the_sampling_parameters(
    fake: FakePlugin, param: str, stream: bool
) -> None:
    fake.script.reply("never")
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(
                model="fake/m",
                max_tokens=10,
                messages=HI,
                stream=stream,
                extra_body={param: SAMPLING[param]},
            )
    assert caught.value.status_code == 400
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{param}: Extra inputs are not permitted")
    assert "anthropic-version: 2023-06-01" in error["message"]  # the way to keep it
    assert fake.calls == []


async def test_2023_06_01_and_no_header_take_the_sampling_parameters(fake: FakePlugin) -> None:
    for _ in range(2):
        fake.script.reply("ok")
    ask = {"model": "fake/m", "max_tokens": 10, "messages": HI, **SAMPLING}
    async with gateway_over(fake) as url:
        async with anthropic_sdk(url) as client:
            r = await client.messages.create(
                model="fake/m", max_tokens=10, messages=HI, extra_body=SAMPLING, extra_headers=OLD
            )
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            raw = await http.post("/v1/messages", json=ask, headers={"x-api-key": KEY})
    assert r.content[0].type == "text" and raw.status_code == 200
    for sent in fake.calls:
        assert (sent.temperature, sent.top_p, sent.extra) == (0.2, 0.5, {"top_k": 5})


async def test_2026_10_21_refuses_sampling_in_a_token_count_and_a_batch(
    fake: FakePlugin,
) -> None:
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        with pytest.raises(anthropic.BadRequestError) as counted:
            await client.messages.count_tokens(model="fake/m", messages=HI, extra_body={"top_k": 3})
        with pytest.raises(anthropic.BadRequestError) as batched:
            await client.messages.batches.create(
                requests=[
                    {
                        "custom_id": "a",
                        "params": {"model": "fake/m", "max_tokens": 5, "messages": HI},
                    },
                    {
                        "custom_id": "b",
                        "params": {
                            "model": "fake/m",
                            "max_tokens": 5,
                            "messages": HI,
                            "temperature": 0.1,  # type: ignore[typeddict-unknown-key]
                        },
                    },
                ]
            )
    assert counted.value.body["error"]["message"].startswith(  # type: ignore[index]
        "top_k: Extra inputs are not permitted"
    )
    assert batched.value.body["error"]["message"].startswith(  # type: ignore[index]
        "requests.1.params.temperature: Extra inputs are not permitted"
    )
    assert fake.calls == []


async def test_2026_10_21_refuses_citations_sent_in_a_user_message(fake: FakePlugin) -> None:
    fake.script.reply("ok")
    fake.script.reply("ok")
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(model="fake/m", max_tokens=10, messages=CITED)
        # an empty list cites nothing; under 2023-06-01 the citations are taken
        uncited: list[Any] = [
            {"role": "user", "content": [{**CITED[0]["content"][0], "citations": []}]}
        ]
        await client.messages.create(model="fake/m", max_tokens=10, messages=uncited)
        await client.messages.create(
            model="fake/m", max_tokens=10, messages=CITED, extra_headers=OLD
        )
    message = caught.value.body["error"]["message"]  # type: ignore[index]
    assert message.startswith("messages.0.content.0.citations: ")
    assert "remove the citations" in message
    assert [c.messages[0].text for c in fake.calls] == ["Paris is the capital."] * 2
