"""Every answer names its request, as OpenAI's (``x-request-id``) and Anthropic's
(``request-id``) do: the vendors' SDKs read it into ``_request_id`` and into an API
error's ``request_id``, which a caller quotes to find the call."""

from __future__ import annotations

from typing import Any

import anthropic
import anyio
import httpx
import openai
import pytest
from anthropic.types import ErrorResponse

from relaykit.testing import FakePlugin, RecordingExporter, Reply
from relaykit_gateway.testing import KEY

from .conftest import anthropic_sdk, gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

HI: list[Any] = [{"role": "user", "content": "hi"}]


async def records_of(records: RecordingExporter, count: int) -> list[str | None]:
    with anyio.fail_after(3):
        while len(records.records) < count:  # noqa: ASYNC110 (the client's task records them)
            await anyio.sleep(0.01)
    return [r.correlation_id for r in records.records]


async def test_openai_answers_and_errors_carry_a_request_id_that_names_the_call(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    fake.script.reply("hello")
    fake.script.fail(400, "no such thing")
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        answer = await client.chat.completions.create(model="fake/m", messages=HI)
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(model="fake/m", messages=HI)
        with pytest.raises(openai.BadRequestError) as malformed:
            await client.chat.completions.create(model="fake/m", messages=HI, n=3)
    ids = [answer._request_id, refused.value.request_id, malformed.value.request_id]
    assert all(i and i.startswith("req_") for i in ids), ids
    assert len(set(ids)) == 3
    # the id the caller's SDK shows is the call's correlation id, in its record
    assert await records_of(records, 2) == ids[:2]


async def test_anthropic_answers_and_errors_carry_a_request_id_that_names_the_call(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    fake.script.reply("hello")
    fake.script.fail(400, "no such thing")
    async with gateway_over(fake, records) as url, anthropic_sdk(url) as client:
        answer = await client.messages.create(model="fake/m", max_tokens=20, messages=HI)
        with pytest.raises(anthropic.BadRequestError) as refused:
            await client.messages.create(model="fake/m", max_tokens=20, messages=HI)
        with pytest.raises(anthropic.BadRequestError) as malformed:
            await client.messages.create(model="fake/m", max_tokens=20, messages=[])
    ids = [answer._request_id, refused.value.request_id, malformed.value.request_id]
    assert all(i and i.startswith("req_") for i in ids), ids
    assert len(set(ids)) == 3
    assert await records_of(records, 2) == ids[:2]


async def test_a_callers_own_request_id_stays_the_calls_and_the_gateway_names_its_answer(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    fake.script.reply("hello")
    body = {"model": "fake/m", "messages": HI}
    headers = {"authorization": "Bearer gw-alice-0123456789abcdef", "x-request-id": "mine-7"}
    async with gateway_over(fake, records) as url, httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/v1/chat/completions", headers=headers, json=body)
    assert r.status_code == 200
    # the gateway's own id, never the caller's header sent back
    assert r.headers["x-request-id"].startswith("req_")
    assert await records_of(records, 1) == ["mine-7"]


async def test_an_anthropic_error_body_names_its_request_as_its_header_does(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    # Anthropic's error bodies carry the request's id beside the error (its SDKs read
    # it into ErrorResponse.request_id): the gateway's, wherever the error came from
    fake.script.fail(429, "slow down")
    fake.script.push(Reply(text="partial", stream_fault="error", error="upstream broke"))
    async with gateway_over(fake, records) as url, anthropic_sdk(url) as client:
        with pytest.raises(anthropic.RateLimitError) as limited:  # the provider's refusal
            await client.messages.create(model="fake/m", max_tokens=20, messages=HI)
        with pytest.raises(anthropic.BadRequestError) as malformed:  # the gateway's own
            await client.messages.create(model="fake/m", max_tokens=20, messages=[])
        with pytest.raises(anthropic.APIStatusError) as broken:  # the stream's error event
            async with client.messages.stream(model="fake/m", max_tokens=20, messages=HI) as stream:
                await stream.get_final_message()
        async with httpx.AsyncClient(base_url=url) as http:
            unknown = await http.get(
                "/v1/messages/nowhere",
                headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            )
    for raised in (limited, malformed):
        body = raised.value.body
        assert isinstance(body, dict) and body["type"] == "error", body
        assert body["request_id"] == raised.value.request_id, body
        assert ErrorResponse.model_validate(body).request_id == raised.value.request_id
    assert unknown.status_code == 404
    assert unknown.json()["request_id"] == unknown.headers["request-id"]
    # mid-stream, the error event names the request its stream answers
    assert isinstance(broken.value.body, dict)
    assert broken.value.body["request_id"] == broken.value.response.headers["request-id"]
    assert broken.value.body["request_id"].startswith("req_")


async def test_an_openai_error_body_keeps_openais_shape_without_a_request_id(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    fake.script.fail(400, "no such thing")
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(model="fake/m", messages=HI)
    body = refused.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}, body


async def test_an_error_retrying_cannot_cure_tells_the_sdks_not_to_retry(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    # The provider refusing the gateway's own key is a 502: a 5xx both SDKs retry (twice
    # by default), each retry another call the provider refuses alike. The gateway says
    # x-should-retry: false, which both SDKs obey before their status rules.
    for _ in range(6):
        fake.script.fail(401, "invalid x-api-key")
    async with gateway_over(fake, records) as url:
        claude = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=2)
        gpt = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=2)
        async with claude, gpt:
            with pytest.raises(anthropic.InternalServerError) as refused:
                await claude.messages.create(model="fake/m", max_tokens=20, messages=HI)
            with pytest.raises(openai.InternalServerError):
                await gpt.chat.completions.create(model="fake/m", messages=HI)
    assert refused.value.status_code == 502
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert len(fake.calls) == 2  # one each: no SDK retried


BOB = "gw-bob-0123456789abcdef"


async def test_a_spent_budget_is_each_apis_quota_error_and_a_rate_stays_a_rate_limit(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    """A budget spent is not a rate met: OpenAI's APIs answer it 429
    ``insufficient_quota`` (type and code, as OpenAI does for a quota or billing limit),
    which its clients do not wait out; Anthropic's API has no quota error, and answers
    its own spend cap 429 ``rate_limit_error``, so ``/v1/messages`` does too. Retrying
    in seconds cures neither: ``x-should-retry: false`` on each. A rate limit met keeps
    ``rate_limit_exceeded``."""
    limits = {"gateway_key=alice": {"budget_usd": "0.001"}, "gateway_key=bob": {"rpm": 1}}
    # the first call spends the whole budget: 1000 input tokens at USD 1 per million
    fake.script.push(Reply(text="ok", input_tokens=1000, output_tokens=0))
    async with (
        gateway_over(fake, records, limits=limits) as url,
        openai_sdk(url) as gpt,
        anthropic_sdk(url) as claude,
        openai_sdk(url, BOB) as bobs,
    ):
        await gpt.chat.completions.create(model="fake/m", messages=HI, max_tokens=1)
        with pytest.raises(openai.RateLimitError) as chat:
            await gpt.chat.completions.create(model="fake/m", messages=HI, max_tokens=1)
        with pytest.raises(openai.RateLimitError) as responses:
            await gpt.responses.create(model="fake/m", input="hi", max_output_tokens=1)
        with pytest.raises(anthropic.RateLimitError) as messages:
            await claude.messages.create(model="fake/m", max_tokens=1, messages=HI)
        fake.script.reply("ok")
        await bobs.chat.completions.create(model="fake/m", messages=HI, max_tokens=1)
        with pytest.raises(openai.RateLimitError) as rate:
            await bobs.chat.completions.create(model="fake/m", messages=HI, max_tokens=1)
    for quota in (chat, responses):
        body: Any = quota.value.body
        assert (body["type"], body["code"]) == ("insufficient_quota", "insufficient_quota")
        assert "budget" in body["message"]
        assert quota.value.response.headers["x-should-retry"] == "false"
        assert int(quota.value.response.headers["retry-after"]) > 0  # the next period
    claude_body: Any = messages.value.body
    assert claude_body["error"]["type"] == "rate_limit_error"
    assert messages.value.response.headers["x-should-retry"] == "false"
    rate_body: Any = rate.value.body
    assert (rate_body["type"], rate_body["code"]) == ("requests", "rate_limit_exceeded")
    assert "x-should-retry" not in rate.value.response.headers  # waiting cures it
    assert len(fake.calls) == 2  # the refused ones reached no provider
