"""OpenAI's own SDK moderating texts through the gateway, over loopback HTTP, as its users
would: to the fake provider, and on through relaykit-openai to the OpenAI mock."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from relaykit.testing import FakePlugin, OpenAIMock, RecordingExporter, mock_moderation
from relaykit_gateway.testing import KEY, running_over

from .conftest import gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

SAFE = "What a lovely day for a walk"
THREAT = "I will kill you"


async def test_the_sdk_gets_one_result_per_text_in_openais_shape(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        raw = await client.moderations.with_raw_response.create(
            model="fake/omni-moderation-latest",
            input=[SAFE, THREAT],
            extra_body={"user": "u-7", "note": 3},
        )
        r = raw.parse()
    assert raw.headers["x-relaykit-cost"] == "0"
    assert raw.headers["x-relaykit-estimated"] == "true"  # the vendor counted no tokens
    assert r.model == "omni-moderation-latest" and r.id == "modr-fake"
    safe, threat = r.results
    assert not safe.flagged and threat.flagged
    assert threat.categories.harassment_threatening and threat.categories.violence
    assert not threat.categories.self_harm_intent
    assert threat.category_scores.violence == mock_moderation(THREAT)["violence"]
    assert threat.category_applied_input_types.violence == ["text"]
    (sent,) = fake.moderations
    assert (sent.model, sent.inputs) == ("omni-moderation-latest", (SAFE, THREAT))
    assert sent.extra == {"note": 3} and sent.metadata["user"] == "u-7"
    (record,) = records.records
    assert record.operation == "moderate" and record.params["flagged"] == 1


async def test_on_through_the_openai_plugin_to_the_vendor(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        r = await client.moderations.create(model="omni-moderation-latest", input=THREAT)
    (sent,) = openai_mock.requests
    assert sent.path == "/v1/moderations"
    assert sent.json() == {"model": "omni-moderation-latest", "input": [THREAT]}
    (result,) = r.results
    assert result.flagged and result.categories.harassment
    assert r.id.startswith("modr-mock")


async def test_without_a_model_openais_default_is_used(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/moderations",
            headers={"authorization": f"Bearer {KEY}"},
            json={"input": "hello"},
        )
    assert r.status_code == 200 and r.json()["model"] == "omni-moderation-latest"
    assert openai_mock.requests[0].json()["model"] == "omni-moderation-latest"


async def test_without_a_model_the_configured_default_is_used(fake: FakePlugin) -> None:
    defaults = {"moderation_model": "fake/omni-moderation-2024-09-26"}
    async with gateway_over(fake, defaults=defaults) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/moderations", headers={"authorization": f"Bearer {KEY}"}, json={"input": SAFE}
        )
    assert r.status_code == 200
    assert fake.moderations[0].model == "omni-moderation-2024-09-26"


async def test_mistral_answers_under_its_own_categories(openai_mock: OpenAIMock) -> None:
    async with running_over(mistral=openai_mock.base_url) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/moderations",
            headers={"authorization": f"Bearer {KEY}"},
            json={"model": "mistral/mistral-moderation-latest", "input": ["I hate you"]},
        )
    body = r.json()
    assert (r.status_code, body["model"]) == (200, "mistral-moderation-latest")
    (result,) = body["results"]
    # flagged is relaykit's verdict (Mistral sends none); no input kinds from Mistral
    assert result["flagged"] is True and result["category_applied_input_types"] == {}
    assert result["categories"]["hate_and_discrimination"] is True
    assert set(result["category_scores"]) == set(result["categories"])
    assert "harassment" not in result["categories"]  # Mistral's names, not OpenAI's


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "fake/omni-moderation-latest"}, "`input` is required"),
        ({"model": "fake/omni-moderation-latest", "input": []}, "input is empty"),
        (
            {
                "model": "fake/omni-moderation-latest",
                "input": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x.invalid/a.png"}},
                ],
            },
            "`input` holds multimodal parts",
        ),
        ({"model": 7, "input": "x"}, "`model` must be a non-empty string"),
        (["a list"], "the request body must be a JSON object"),
    ],
)
async def test_what_cannot_be_served_is_a_400_in_openais_shape(
    fake: FakePlugin, body: Any, message: str
) -> None:
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        r = await http.post(
            f"{url}/v1/moderations", headers={"authorization": f"Bearer {KEY}"}, json=body
        )
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]
    assert fake.moderations == []


async def test_a_get_is_a_405(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, httpx.AsyncClient() as http:
        r = await http.get(f"{url}/v1/moderations", headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 405


async def test_a_provider_without_moderation_is_a_400_naming_who_has_it() -> None:
    async with running_over(anthropic="http://127.0.0.1:9/") as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="anthropic has no moderation API"):
            await client.moderations.create(model="anthropic/claude-haiku-4-5", input=THREAT)


async def test_the_vendors_error_reaches_the_sdk_as_its_own(openai_mock: OpenAIMock) -> None:
    async with running_over(openai=openai_mock.base_url) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="not a moderation model"):
            await client.moderations.create(model="gpt-4o-mini", input=THREAT)
