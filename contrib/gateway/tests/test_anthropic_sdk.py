"""Anthropic's own SDK against the gateway, over loopback HTTP: what its users would write."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import TextBlock, ToolParam
from anthropic.types.shared import ErrorResponse

from relaykit import ImagePart, ReasoningPart, TextPart, ToolCall, ToolResultPart
from relaykit.testing import PNG, FakePlugin, Reply
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.anthropic_dialect import AnthropicDialect
from relaykit_gateway.testing import KEY, running_over

from .conftest import anthropic_sdk, gateway_over

pytestmark = pytest.mark.anyio

HI: list[Any] = [{"role": "user", "content": "hi"}]


async def test_a_message_answers_with_text_and_anthropics_usage(fake: FakePlugin) -> None:
    fake.script.reply(
        "Bonjour !",
        input_tokens=100,
        output_tokens=3,
        cached_input_tokens=60,
        cache_write_input_tokens=30,
    )
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        r = await client.messages.create(
            model="fake/m-1",
            max_tokens=50,
            system="Answer in French.",
            messages=[{"role": "user", "content": "Say hello"}],
            stop_sequences=["END"],
            # 2023-06-01's field, which 2026-10-21 (this SDK's) removed
            extra_body={"temperature": 0.2},
            extra_headers={"anthropic-version": "2023-06-01"},
        )
    assert [b.type for b in r.content] == ["text"]
    assert isinstance(r.content[0], TextBlock) and r.content[0].text == "Bonjour !"
    assert r.stop_reason == "end_turn"
    assert r.model == "m-1"
    assert r.id.startswith("msg_")
    # Anthropic counts cache reads and writes apart from input_tokens; relaykit includes them
    assert r.usage.input_tokens == 10
    assert r.usage.cache_read_input_tokens == 60
    assert r.usage.cache_creation_input_tokens == 30
    assert r.usage.output_tokens == 3
    (request,) = fake.calls
    assert [(m.role, m.text) for m in request.messages] == [
        ("system", "Answer in French."),
        ("user", "Say hello"),
    ]
    assert (request.max_tokens, request.stop, request.temperature) == (50, ("END",), 0.2)


async def test_a_bare_model_name_goes_to_anthropic(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            # no ANTHROPIC_API_KEY here: the provider refuses before any request
            await client.messages.create(
                model="claude-made-up-1",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
            )
    assert "anthropic" in str(caught.value)


async def test_tool_use_goes_out_and_tool_results_come_back(fake: FakePlugin) -> None:
    weather: ToolParam = {
        "name": "get_weather",
        "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    fake.script.reply("Let me look.", tool_calls=(("get_weather", {"city": "Paris"}),))
    fake.script.reply("Sunny.")
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        first = await client.messages.create(
            model="fake/m",
            max_tokens=100,
            tools=[weather],
            tool_choice={"type": "any"},
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        )
        assert first.stop_reason == "tool_use"
        text, use = first.content
        assert text.type == "text" and use.type == "tool_use"
        assert (use.name, use.input) == ("get_weather", {"city": "Paris"})
        second = await client.messages.create(
            model="fake/m",
            max_tokens=100,
            tools=[weather],
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": first.content},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": use.id, "content": "clear sky"},
                        {"type": "text", "text": "And tomorrow?"},
                    ],
                },
            ],
        )
    assert isinstance(second.content[0], TextBlock) and second.content[0].text == "Sunny."
    first_request, sent = fake.calls
    assert first_request.tool_choice is not None and first_request.tool_choice.mode == "required"
    assert sent.tools[0].parameters == weather["input_schema"]
    assert [m.role for m in sent.messages] == ["user", "assistant", "tool", "user"]
    assert sent.messages[1].content == (
        TextPart("Let me look."),
        ToolCall(use.id, "get_weather", {"city": "Paris"}),
    )
    assert sent.messages[2].content == (ToolResultPart(use.id, "clear sky"),)
    assert sent.messages[3].text == "And tomorrow?"


async def test_a_stream_gives_the_sdk_thinking_text_and_tool_use(fake: FakePlugin) -> None:
    fake.script.reply(
        "Streaming, a few characters at a time.",
        reasoning="First, think.",
        tool_calls=(("lookup", {"q": "relaykit"}),),
        input_tokens=20,
        output_tokens=11,
    )
    async with (
        gateway_over(fake) as url,
        anthropic_sdk(url) as client,
        client.messages.stream(
            model="fake/m", max_tokens=100, messages=[{"role": "user", "content": "go"}]
        ) as stream,
    ):
        texts = [t async for t in stream.text_stream]
        message = await stream.get_final_message()
    assert "".join(texts) == "Streaming, a few characters at a time."
    assert len(texts) > 1
    thinking, text, use = message.content
    assert thinking.type == "thinking" and thinking.thinking == "First, think."
    assert text.type == "text" and text.text == "Streaming, a few characters at a time."
    assert use.type == "tool_use" and (use.name, use.input) == ("lookup", {"q": "relaykit"})
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 11)


async def test_thinking_blocks_and_images_reach_the_provider(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        await client.messages.create(
            model="fake/m",
            max_tokens=10,
            messages=[
                {"role": "user", "content": "Look."},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig-1"},
                        {"type": "redacted_thinking", "data": "opaque"},
                        {"type": "text", "text": "Show me."},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": base64.b64encode(PNG).decode(),
                            },
                        },
                        {"type": "text", "text": "Here."},
                    ],
                },
            ],
        )
    (request,) = fake.calls
    assert request.messages[1].content == (
        ReasoningPart("hmm", "sig-1", origin="anthropic"),
        ReasoningPart(redacted="opaque", origin="anthropic"),
        TextPart("Show me."),
    )
    image = ImagePart(data=PNG, media_type="image/png")
    assert request.messages[2].content == (image, TextPart("Here."))


async def test_another_vendors_signature_never_reaches_an_anthropic_client(
    fake: FakePlugin,
) -> None:
    # The fake signs its reasoning as provider type "fake": meaningless to Anthropic.
    fake.script.reply("ok", reasoning_blocks=(ReasoningPart("why", "fake-signature"),))
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        r = await client.messages.create(
            model="fake/m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    thinking = r.content[0]
    assert thinking.type == "thinking"
    assert (thinking.thinking, thinking.signature) == ("why", "")


async def test_errors_come_back_as_anthropics_error_types(fake: FakePlugin) -> None:
    fake.script.fail(429, "slow down", retry_after=1)
    fake.script.fail(503, "overloaded")
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        with pytest.raises(anthropic.RateLimitError) as limited:
            await client.messages.create(
                model="fake/m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        assert limited.value.response.headers["retry-after"] == "1"
        assert isinstance(limited.value.body, dict)
        assert limited.value.body["error"]["type"] == "rate_limit_error"
        with pytest.raises(anthropic.InternalServerError) as unavailable:
            await client.messages.create(
                model="fake/m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        assert unavailable.value.status_code == 503
        with pytest.raises(anthropic.BadRequestError, match="the gateway cannot read"):
            await client.messages.create(
                model="fake/m",
                max_tokens=10,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "document", "source": {"type": "file", "file_id": "file_1"}}
                        ],
                    }
                ],
            )
        with pytest.raises(anthropic.BadRequestError, match="server tool"):
            await client.messages.create(
                model="fake/m",
                max_tokens=10,
                tools=[{"type": "code_execution_20250825", "name": "code_execution"}],
                messages=[{"role": "user", "content": "hi"}],
            )
    assert len(fake.calls) == 2


async def test_an_error_inside_a_started_stream_reaches_the_sdk(fake: FakePlugin) -> None:
    fake.script.push(Reply(text="partial answer", stream_fault="error", error="upstream broke"))
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        texts: list[str] = []
        with pytest.raises(anthropic.APIStatusError, match="upstream broke"):
            async with client.messages.stream(
                model="fake/m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                async for text in stream.text_stream:
                    texts.append(text)
    assert "".join(texts) == "partial answer"


#: a request whose answer stops on ", three" where the script says so
COUNT_TO_THREE: dict[str, Any] = {
    "model": "fake/m",
    "max_tokens": 50,
    "stop_sequences": [", three"],
    "messages": [{"role": "user", "content": "Count"}],
}


async def test_models_are_listed_in_anthropics_shape(fake: FakePlugin) -> None:
    config = {
        "providers": {"local": {"type": "fake"}},
        "models": {"fast": {"targets": ["local/x"]}},
    }
    async with gateway_over(fake, **config) as url, anthropic_sdk(url) as client:
        page = await client.models.list()
    ids = [m.id for m in page.data]
    assert ids == ["local/fake-model", "fast"]
    assert page.data[0].type == "model"


async def test_models_are_listed_a_page_at_a_time_as_anthropic_pages_them(
    fake: FakePlugin,
) -> None:
    # Anthropic's GET /v1/models takes limit, after_id and before_id, as its SDK pages
    config = {
        "providers": {"local": {"type": "fake"}},
        "models": {name: {"targets": ["local/x"]} for name in ("a", "b", "c")},
    }
    async with gateway_over(fake, **config) as url, anthropic_sdk(url) as client:
        whole = await client.models.list()
        first = await client.models.list(limit=2)
        paged = [m.id async for m in await client.models.list(limit=1)]
        back = await client.models.list(limit=1, before_id=first.data[1].id)
        with pytest.raises(anthropic.BadRequestError) as refused:
            await client.models.list(limit=0)
    ids = [m.id for m in whole.data]
    assert ids == ["local/fake-model", "a", "b", "c"] and not whole.has_more
    assert [m.id for m in first.data] == ids[:2] and first.has_more
    assert (first.first_id, first.last_id) == (ids[0], ids[1])
    assert paged == ids
    assert [m.id for m in back.data] == ids[:1] and not back.has_more
    assert "limit" in refused.value.message


async def test_a_model_is_retrieved_by_its_id_in_anthropics_shape(fake: FakePlugin) -> None:
    # Anthropic's GET /v1/models/{model_id}: the one model object, or its 404
    config = {
        "providers": {"local": {"type": "fake"}},
        "models": {"fast": {"targets": ["local/x"]}},
    }
    async with gateway_over(fake, **config) as url, anthropic_sdk(url) as client:
        qualified = await client.models.retrieve("local/fake-model")
        alias = await client.models.retrieve("fast")
        with pytest.raises(anthropic.NotFoundError) as missing:
            await client.models.retrieve("local/no-such-model")
    assert (qualified.type, qualified.id) == ("model", "local/fake-model")
    assert alias.id == "fast"
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_an_answer_stopped_by_a_stop_sequence_names_it(fake: FakePlugin) -> None:
    """As Anthropic answers: ``stop_reason: "stop_sequence"`` and the sequence met,
    streamed (``message_delta``) and not; an answer that met none says ``end_turn``."""
    fake.script.reply("One, two", stop_sequence=", three")
    fake.script.reply("One, two", stop_sequence=", three")
    fake.script.reply("Done.")
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        whole = await client.messages.create(**COUNT_TO_THREE)
        async with client.messages.stream(**COUNT_TO_THREE) as stream:
            deltas = [e async for e in stream if e.type == "message_delta"]
            streamed = await stream.get_final_message()
        plain = await client.messages.create(**COUNT_TO_THREE)
    assert (whole.stop_reason, whole.stop_sequence) == ("stop_sequence", ", three")
    assert [(d.delta.stop_reason, d.delta.stop_sequence) for d in deltas] == [
        ("stop_sequence", ", three")
    ]
    assert (streamed.stop_reason, streamed.stop_sequence) == ("stop_sequence", ", three")
    assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)


async def test_claudes_stop_sequence_comes_through_the_gateway(
    anthropic_mock: AnthropicMock,
) -> None:
    """From the Anthropic API (its mock) through relaykit-anthropic and the gateway."""
    anthropic_mock.script.push(*[Reply(text="One two", stop_sequence=" three")] * 2)
    async with (
        running_over(anthropic=anthropic_mock.base_url) as url,
        anthropic_sdk(url) as client,
    ):
        ask = {
            **COUNT_TO_THREE,
            "model": "anthropic/claude-sonnet-4-5",
            "stop_sequences": [" three"],
        }
        whole = await client.messages.create(**ask)
        async with client.messages.stream(**ask) as stream:
            streamed = await stream.get_final_message()
    assert (whole.stop_reason, whole.stop_sequence) == ("stop_sequence", " three")
    assert (streamed.stop_reason, streamed.stop_sequence) == ("stop_sequence", " three")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (402, "billing_error"),
        # Anthropic: "invalid_request_error ... may also be used for other 4XX status
        # codes not listed" (a 405 of the gateway's, a 409, a 422)
        (405, "invalid_request_error"),
        (409, "invalid_request_error"),
        (422, "invalid_request_error"),
        (500, "api_error"),
        (502, "api_error"),
        (504, "timeout_error"),  # a provider that took too long: Anthropic's own 504
        (529, "overloaded_error"),
    ],
)
def test_an_error_bodys_type_is_anthropics_for_its_status(status: int, kind: str) -> None:
    body = AnthropicDialect().error_body(status, "what went wrong")
    assert ErrorResponse.model_validate(body).error.type == kind


@pytest.mark.parametrize("version", ["2024-10-22", "2023-06-01, 2023-06-01", "latest"])
async def test_an_unknown_anthropic_version_is_refused_naming_the_header(
    fake: FakePlugin, version: str
) -> None:
    # Anthropic answers a version it does not know with a 400 naming the header (a
    # date made up, or the header sent twice by a proxy); so does the gateway
    async with gateway_over(fake) as url:
        client = anthropic.AsyncAnthropic(
            base_url=url,
            api_key=KEY,
            max_retries=0,
            default_headers={"anthropic-version": version},
        )
        async with client:
            with pytest.raises(anthropic.BadRequestError) as refused:
                await client.messages.create(model="fake/m", max_tokens=20, messages=HI)
            with pytest.raises(anthropic.BadRequestError) as counted:
                await client.messages.count_tokens(model="fake/m", messages=HI)
            with pytest.raises(anthropic.BadRequestError) as listed:
                await client.models.list()
    for raised in (refused, counted, listed):
        body = ErrorResponse.model_validate(raised.value.body)
        assert body.error.type == "invalid_request_error"
        assert body.error.message.startswith(f'anthropic-version: "{version}"')
        assert "2023-06-01" in body.error.message  # the fix: the versions taken
    assert fake.calls == []


@pytest.mark.parametrize("version", ["2026-10-21", "2023-06-01", "2023-01-01", None])
async def test_the_anthropic_versions_anthropic_knows_and_none_are_taken(
    fake: FakePlugin, version: str | None
) -> None:
    # the current SDK's, the older SDKs' and the first; no header is taken too, for
    # curl users (Anthropic itself requires one)
    fake.script.reply("hello")
    headers = {"x-api-key": KEY}
    if version is not None:
        headers["anthropic-version"] = version
    async with gateway_over(fake) as url, httpx.AsyncClient(base_url=url) as http:
        body = {"model": "fake/m", "max_tokens": 20, "messages": HI}
        r = await http.post("/v1/messages", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"] == "hello"
