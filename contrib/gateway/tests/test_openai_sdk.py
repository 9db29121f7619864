"""OpenAI's own SDK against the gateway, over loopback HTTP: what its users would write."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionStreamOptionsParam,
)

from relaykit import ImagePart, TextPart, ToolCall, ToolResultPart
from relaykit.testing import FakePlugin, RecordingExporter, Reply
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.testing import KEY, running_over

from .conftest import gateway_over, openai_sdk

pytestmark = pytest.mark.anyio


async def test_a_chat_answers_with_text_usage_and_finish_reason(fake: FakePlugin) -> None:
    fake.script.reply("Bonjour !", input_tokens=12, output_tokens=3, cached_input_tokens=4)
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        r = await client.chat.completions.create(
            model="fake/m-1",
            messages=[
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Say hello"},
            ],
            max_tokens=20,
            temperature=0.3,
        )
    assert r.choices[0].message.content == "Bonjour !"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "m-1"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 3, 15)
    assert r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens == 4
    (request,) = fake.calls
    assert [(m.role, m.text) for m in request.messages] == [
        ("system", "Answer in French."),
        ("user", "Say hello"),
    ]
    assert (request.max_tokens, request.temperature) == (20, 0.3)


async def test_a_bare_model_name_goes_to_openai_and_an_alias_to_its_route(
    fake: FakePlugin,
) -> None:
    routes = {"models": {"fast": {"targets": ["fake/m-fast"]}}}
    async with gateway_over(fake, **routes) as url, openai_sdk(url) as client:
        await client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]
        )
        assert fake.calls[-1].model == "m-fast"
        with pytest.raises(openai.BadRequestError) as caught:
            # no OPENAI_API_KEY here: the openai provider refuses before any request
            await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
    assert "openai" in caught.value.message


async def test_tool_calls_go_out_and_their_results_come_back(fake: FakePlugin) -> None:
    weather: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    fake.script.reply(tool_calls=(("get_weather", {"city": "Paris"}),))
    fake.script.reply("It is sunny in Paris.")
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        first = await client.chat.completions.create(
            model="fake/m", messages=messages, tools=[weather], tool_choice="auto"
        )
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        (call,) = choice.message.tool_calls or []
        assert call.type == "function"
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        messages += [
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
        ]
        second = await client.chat.completions.create(
            model="fake/m", messages=messages, tools=[weather]
        )
    assert second.choices[0].message.content == "It is sunny in Paris."
    sent = fake.calls[-1]
    assert sent.tools[0].name == "get_weather"
    assert sent.tools[0].parameters["properties"] == {"city": {"type": "string"}}
    assert [m.role for m in sent.messages] == ["user", "assistant", "tool"]
    assert sent.messages[1].content == (ToolCall(call.id, "get_weather", {"city": "Paris"}),)
    assert sent.messages[2].content == (ToolResultPart(call.id, '{"sky": "clear"}'),)


async def test_a_stream_arrives_as_chunks_with_tool_calls_and_usage(fake: FakePlugin) -> None:
    fake.script.reply(
        "Streaming, a few characters at a time.",
        tool_calls=(("lookup", {"q": "relaykit"}),),
        input_tokens=7,
        output_tokens=9,
    )
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        stream = await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "go"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streaming, a few characters at a time."
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[0].choices[0].delta.role == "assistant"
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert calls[0].function is not None
    assert (calls[0].id, calls[0].function.name) == ("call_0", "lookup")
    arguments = "".join(t.function.arguments or "" for t in calls if t.function)
    assert json.loads(arguments) == {"q": "relaykit"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (7, 9)
    # OpenAI: with include_usage, "all other chunks will also include a usage field,
    # but with a null value"
    assert all("usage" in c.model_fields_set and c.usage is None for c in chunks[:-1])


async def test_a_rate_limit_is_a_429_with_retry_after(fake: FakePlugin) -> None:
    fake.script.fail(429, "slow down", retry_after=2.5)
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="fake/m", messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "3"
    assert "slow down" in caught.value.message


async def test_an_error_inside_a_started_stream_reaches_the_sdk(fake: FakePlugin) -> None:
    fake.script.push(Reply(text="partial answer", stream_fault="error", error="upstream broke"))
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        stream = await client.chat.completions.create(
            model="fake/m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        seen = []
        with pytest.raises(openai.APIError, match="upstream broke"):
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "partial answer"


async def test_bad_input_is_a_400_that_names_the_field(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="fake/m", messages=[{"role": "user", "content": "hi"}], n=2
            )
        assert "`n`" in caught.value.message
        assert caught.value.param == "n"
        with pytest.raises(openai.BadRequestError, match=r"messages\[0\]\.role"):
            await client.chat.completions.create(
                model="fake/m",
                messages=[{"role": "wizard", "content": "hi"}],  # type: ignore[misc, list-item]  # on purpose
            )
    assert fake.calls == []


async def test_a_wrong_or_missing_key_is_a_401(fake: FakePlugin) -> None:
    async with gateway_over(fake) as url:
        async with openai_sdk(url, key="gw-mallory-0123456789abcdef") as client:
            with pytest.raises(openai.AuthenticationError, match="not a gateway key"):
                await client.chat.completions.create(
                    model="fake/m", messages=[{"role": "user", "content": "hi"}]
                )
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{url}/v1/models")
    assert r.status_code == 401
    # OpenAI's 401: an invalid_request_error of code invalid_api_key
    assert (r.json()["error"]["type"], r.json()["error"]["code"]) == (
        "invalid_request_error",
        "invalid_api_key",
    )
    assert "is missing" in r.json()["error"]["message"]
    assert fake.calls == []


async def test_each_call_is_logged_under_its_key_name_with_the_callers_metadata(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "hi"}],
            metadata={"gateway_key": "forged", "ticket": "T-1"},
            user="end-user-7",
            frequency_penalty=0.5,
        )
    (request,) = fake.calls
    # the call's correlation id is the request id the gateway answered with
    assert request.metadata.pop("correlation_id").startswith("req_")
    assert request.metadata == {"gateway_key": "alice", "ticket": "T-1", "user": "end-user-7"}
    assert request.extra == {"frequency_penalty": 0.5}  # for the provider, untouched
    (record,) = records.records
    assert record.params["metadata"]["gateway_key"] == "alice"
    assert record.messages[0].content == (TextPart("hi"),)


async def test_a_callers_request_id_becomes_the_calls_correlation_id(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": "req-42"},
        )
        await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": "req-43"},
            metadata={"correlation_id": "mine"},  # the caller's own says more
        )
    assert [r.correlation_id for r in records.records] == ["req-42", "mine"]


async def test_each_gateway_key_can_have_a_limit_of_its_own(fake: FakePlugin) -> None:
    from relaykit.testing import LimiterPlugin, frozen_limiter
    from relaykit_gateway.testing import KEYS

    limits = {"limiter": {"backend": "frozen"}, "limits": {"gateway_key=*": {"rpm": 1}}}
    limiter = LimiterPlugin(frozen_limiter())  # no minute passes while the test runs
    hello: list[Any] = [{"role": "user", "content": "hi"}]
    async with gateway_over(fake, limiter, **limits) as url:
        bob_key = KEYS.keys[1][1].reveal()
        async with openai_sdk(url) as alice, openai_sdk(url, key=bob_key) as bob:
            await alice.chat.completions.create(model="fake/m", messages=hello)
            with pytest.raises(openai.RateLimitError, match="gateway_key=alice") as caught:
                await alice.chat.completions.create(model="fake/m", messages=hello)
            await bob.chat.completions.create(model="fake/m", messages=hello)
    assert int(caught.value.response.headers["retry-after"]) > 0
    assert len(fake.calls) == 2


async def test_a_gateway_key_pasted_into_a_prompt_is_not_logged(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        await client.chat.completions.create(
            model="fake/m", messages=[{"role": "user", "content": f"my key is {KEY}"}]
        )
    assert fake.calls[0].messages[0].text == f"my key is {KEY}"  # the provider gets the prompt
    (record,) = records.records
    assert record.messages[0].content == (TextPart("my key is [REDACTED]"),)


async def test_models_lists_the_clients_models_and_aliases(fake: FakePlugin) -> None:
    providers = {"providers": {"local": {"type": "fake"}}}
    aliases = {"models": {"fast": {"targets": ["local/fake-model"]}}}
    async with gateway_over(fake, **providers, **aliases) as url, openai_sdk(url) as client:
        ids = [m.id async for m in client.models.list()]
    assert "local/fake-model" in ids
    assert "fast" in ids


async def test_a_model_is_retrieved_by_its_id_as_openai_answers_one(fake: FakePlugin) -> None:
    # OpenAI's GET /v1/models/{model}: the one model object, or a 404 the SDK raises
    # as NotFoundError; a provider-qualified id keeps its slash in the path
    providers = {"providers": {"local": {"type": "fake"}}}
    aliases = {"models": {"fast": {"targets": ["local/fake-model"]}}}
    async with gateway_over(fake, **providers, **aliases) as url, openai_sdk(url) as client:
        qualified = await client.models.retrieve("local/fake-model")
        alias = await client.models.retrieve("fast")
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve("local/no-such-model")
    assert (qualified.id, qualified.object) == ("local/fake-model", "model")
    assert (alias.id, alias.owned_by) == ("fast", "relaykit")
    assert "local/no-such-model" in missing.value.message
    assert missing.value.code == "model_not_found"


async def test_an_answer_stopped_by_a_stop_sequence_finishes_stop_and_is_recorded(
    fake: FakePlugin, records: RecordingExporter
) -> None:
    """OpenAI's format has no field for the sequence met: ``finish_reason`` is ``stop``,
    whole and streamed, as OpenAI answers one; the call's record keeps the sequence."""
    fake.script.push(*[Reply(text="One, two", stop_sequence=", three")] * 2)
    async with gateway_over(fake, records) as url, openai_sdk(url) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="fake/m", messages=[{"role": "user", "content": "Count"}], stop=[", three"]
        )
        stream = await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "Count"}],
            stop=[", three"],
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    whole = raw.parse()
    assert (whole.choices[0].message.content, whole.choices[0].finish_reason) == (
        "One, two",
        "stop",
    )
    assert "stop_sequence" not in raw.http_response.text  # nothing OpenAI does not send
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert [(r.streamed, r.stop_sequence) for r in records.records] == [
        (False, ", three"),
        (True, ", three"),
    ]


async def test_a_history_tool_call_without_arguments_is_a_400_naming_the_field(
    fake: FakePlugin,
) -> None:
    # OpenAI requires function.arguments on each tool call of the history; the
    # gateway took a call without it as one with no arguments, and sent it on.
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="fake/m",
                messages=[
                    {"role": "user", "content": "time?"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": "call_1", "type": "function", "function": {"name": "now"}}  # type: ignore[typeddict-item]  # on purpose
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
                ],
            )
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"
    assert "arguments" in caught.value.message and '"{}"' in caught.value.message
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    assert fake.calls == []


async def test_an_image_in_a_tool_message_reaches_the_provider_as_the_results_attachment(
    fake: FakePlugin,
) -> None:
    # OpenAI's API takes text parts only in a tool message; relaykit takes images
    # in a tool result on every provider (OpenAI's chat models get them in a user
    # message after the results), so the gateway passes them on, as documented.
    png = "data:image/png;base64,iVBORw0KGgo="
    # the SDK's types allow text only here: this is the point
    shot: Any = {"type": "image_url", "image_url": {"url": png}}
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        await client.chat.completions.create(
            model="fake/m",
            messages=[
                {"role": "user", "content": "look"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "shot", "arguments": "{}"},
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_1",
                    "content": [
                        {"type": "text", "text": "the screen:"},
                        shot,
                    ],
                },
            ],
        )
    (request,) = fake.calls
    (result,) = request.messages[2].content
    assert isinstance(result, ToolResultPart)
    assert result.content == "the screen:"
    (image,) = result.attachments
    assert isinstance(image, ImagePart) and image.data_url() == png


@pytest.mark.parametrize(
    "asked",
    [{"logprobs": True}, {"logprobs": True, "top_logprobs": 3}, {"top_logprobs": 2}],
)
async def test_log_probabilities_asked_for_are_refused_not_answered_with_none(
    fake: FakePlugin, asked: dict[str, Any]
) -> None:
    # OpenAI answers logprobs: true with each token's log probability in
    # choices[].logprobs.content; the gateway has none to give, and answering
    # "logprobs": null left a caller reading choice.logprobs.content on None
    fake.script.reply("x")
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError, match="log probabilities") as refused:
            await client.chat.completions.create(
                model="fake/m", messages=[{"role": "user", "content": "hi"}], **asked
            )
        # not asking (false, or 0 alternatives) is no request for them
        answer = await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "hi"}],
            logprobs=False,
            top_logprobs=0,
        )
    assert refused.value.param in ("logprobs", "top_logprobs")
    assert answer.choices[0].message.content == "x"
    assert len(fake.calls) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_prompt_too_long_is_openais_context_length_exceeded(
    anthropic_mock: AnthropicMock, stream: bool
) -> None:
    """A prompt a model's window cannot hold, from any provider, reaches an OpenAI SDK
    caller with OpenAI's code for it: clients tell it from other 400s by
    ``code == "context_length_exceeded"`` (to trim the history and ask again)."""
    too_long = "prompt is too long: 250000 tokens > 200000 maximum"
    anthropic_mock.script.push(Reply.failure(400, too_long))
    async with (
        running_over(anthropic=anthropic_mock.base_url) as url,
        openai_sdk(url) as client,
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="anthropic/claude-sonnet-4-5",
                messages=[{"role": "user", "content": "a long prompt"}],
                stream=stream,
            )
        with pytest.raises(openai.BadRequestError) as responses:
            anthropic_mock.script.push(Reply.failure(400, too_long))
            await client.responses.create(
                model="anthropic/claude-sonnet-4-5", input="a long prompt", stream=stream
            )
    for raised in (caught, responses):
        assert (raised.value.code, raised.value.type) == (
            "context_length_exceeded",
            "invalid_request_error",
        )
        assert "prompt is too long" in raised.value.message


async def test_fields_asking_for_nothing_stay_at_the_gateway(anthropic_mock: AnthropicMock) -> None:
    """``logprobs: false`` and ``top_logprobs: 0`` (which some clients always send), and
    the Responses API's ``stream_options`` (its ``include_obfuscation`` pads OpenAI's
    own stream; the gateway's has no padding): each asks for nothing, and sent on to
    a vendor without such a field it would be that vendor's 400."""
    for _ in range(2):
        anthropic_mock.script.push(Reply(text="ok"))
    async with (
        running_over(anthropic=anthropic_mock.base_url) as url,
        openai_sdk(url) as client,
    ):
        await client.chat.completions.create(
            model="anthropic/claude-sonnet-4-5",
            messages=[{"role": "user", "content": "hi"}],
            logprobs=False,
            top_logprobs=0,
        )
        chat_body = anthropic_mock.last_request.json()
        async with client.responses.stream(
            model="anthropic/claude-sonnet-4-5",
            input="hi",
            top_logprobs=0,
            stream_options={"include_obfuscation": False},
        ) as stream:
            final = await stream.get_final_response()
        responses_body = anthropic_mock.last_request.json()
    assert final.output_text == "ok"
    for body in (chat_body, responses_body):
        assert not {"logprobs", "top_logprobs", "stream_options"} & set(body)


async def test_stream_options_without_stream_is_openais_400(fake: FakePlugin) -> None:
    """OpenAI refuses ``stream_options`` on a chat that is not streamed, naming the
    parameter; taken silently, a client's mistake showed only once it met OpenAI."""
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        hi: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
        usage_asked: ChatCompletionStreamOptionsParam = {"include_usage": True}
        with pytest.raises(openai.BadRequestError) as left_out:
            await client.chat.completions.create(
                model="fake/m", messages=hi, stream_options=usage_asked
            )
        with pytest.raises(openai.BadRequestError) as not_streamed:
            await client.chat.completions.create(
                model="fake/m", messages=hi, stream_options=usage_asked, stream=False
            )
        for caught in (left_out, not_streamed):
            error: Any = caught.value.body  # the error object of OpenAI's body
            assert error["message"] == (
                "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            )
            assert (caught.value.param, caught.value.type, caught.value.code) == (
                "stream_options",
                "invalid_request_error",
                None,
            )
        fake.script.reply("ok")
        chunks = await client.chat.completions.create(
            model="fake/m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = [chunk.usage async for chunk in chunks if chunk.usage is not None]
    assert len(usage) == 1
    assert len(fake.calls) == 1  # the refused ones reached no provider
