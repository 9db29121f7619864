"""OpenAI's SDK calling the gateway's Responses API (``client.responses``), over loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputItemParam

import relaykit
from relaykit import Reasoning, ReasoningPart, TextPart, ToolCall, ToolResultPart
from relaykit.testing import FakePlugin, Reply
from relaykit_gateway.testing import KEY, running

pytestmark = pytest.mark.anyio

WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": None,  # required by the SDK's type; null, as left out, is strict if it can be
}


@asynccontextmanager
async def responses(fake: FakePlugin) -> AsyncIterator[openai.AsyncOpenAI]:
    """An SDK client pointed at a gateway over ``fake``."""
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    client = relaykit.Client(config, plugins=[fake])
    async with (
        client,
        running(client) as url,
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as sdk,
    ):
        yield sdk


async def test_a_response_has_its_text_usage_and_status(fake: FakePlugin) -> None:
    fake.script.reply("Bonjour !", input_tokens=12, output_tokens=3, cached_input_tokens=4)
    async with responses(fake) as sdk:
        r = await sdk.responses.create(
            model="fake/m",
            instructions="Answer in French.",
            input="Say hello",
            max_output_tokens=20,
            temperature=0.3,
            store=False,
        )
    assert r.output_text == "Bonjour !"
    assert r.status == "completed"
    assert r.id.startswith("resp_")
    assert r.usage is not None
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (12, 3, 15)
    assert r.usage.input_tokens_details.cached_tokens == 4
    (request,) = fake.calls
    assert [(m.role, m.text) for m in request.messages] == [
        ("system", "Answer in French."),
        ("user", "Say hello"),
    ]
    assert (request.max_tokens, request.temperature) == (20, 0.3)
    assert request.extra == {}  # store is the gateway's to ignore: nothing is kept to fetch


async def test_function_calls_go_out_and_their_outputs_come_back(fake: FakePlugin) -> None:
    fake.script.reply(tool_calls=(("get_weather", {"city": "Paris"}),), reasoning="Look it up.")
    fake.script.reply("Sunny.")
    async with responses(fake) as sdk:
        first = await sdk.responses.create(
            model="fake/m", input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
        )
        reasoning, call = first.output
        assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Look it up."
        assert call.type == "function_call"
        assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
        history: list[Any] = [
            {"role": "user", "content": "Weather in Paris?"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "clear sky"},
        ]
        second = await sdk.responses.create(model="fake/m", input=history, tools=[WEATHER])
    assert second.output_text == "Sunny."
    first_request, sent = fake.calls
    assert first_request.tool_choice is not None and first_request.tool_choice.mode == "required"
    assert sent.tools[0].parameters == WEATHER["parameters"]
    assert [m.role for m in sent.messages] == ["user", "assistant", "tool"]
    # the reasoning item and the call are one assistant turn, in order
    assert sent.messages[1].content == (
        ReasoningPart("Look it up.", origin="openai-responses"),
        ToolCall(call.call_id, "get_weather", {"city": "Paris"}),
    )
    assert sent.messages[2].content == (ToolResultPart(call.call_id, "clear sky"),)


async def test_a_stream_gives_the_sdk_text_calls_and_the_final_response(
    fake: FakePlugin,
) -> None:
    fake.script.reply(
        "Streaming, a few characters at a time.",
        reasoning="Think first.",
        tool_calls=(("lookup", {"q": "relaykit"}),),
        input_tokens=7,
        output_tokens=9,
    )
    async with (
        responses(fake) as sdk,
        sdk.responses.stream(model="fake/m", input="go", tools=[WEATHER]) as stream,
    ):
        kinds = []
        texts = []
        thoughts = []
        async for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                texts.append(event.delta)
            if event.type == "response.reasoning_summary_text.delta":
                thoughts.append((event.output_index, event.summary_index, event.delta))
        final = await stream.get_final_response()
    assert "".join(texts) == "Streaming, a few characters at a time." and len(texts) > 1
    # the reasoning streams as the summary of the first item, as it comes
    assert "".join(delta for _, _, delta in thoughts) == "Think first."
    assert {(index, summary) for index, summary, _ in thoughts} == {(0, 0)}
    summary = [k for k in kinds if k.startswith("response.reasoning_summary")]
    assert summary[0] == "response.reasoning_summary_part.added"
    assert summary[-2:] == [
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert final.output_text == "Streaming, a few characters at a time."
    reasoning, message, call = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Think first."
    assert message.type == "message"
    assert call.type == "function_call" and json.loads(call.arguments) == {"q": "relaykit"}
    assert final.usage is not None and final.usage.output_tokens == 9


async def test_a_length_stop_is_an_incomplete_response(fake: FakePlugin) -> None:
    fake.script.reply("cut sh", finish="length")
    async with responses(fake) as sdk:
        r = await sdk.responses.create(model="fake/m", input="go", max_output_tokens=2)
    assert r.status == "incomplete"
    assert r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"


async def test_a_stream_that_breaks_ends_with_response_failed(fake: FakePlugin) -> None:
    fake.script.push(Reply(text="partial", stream_fault="error", error="upstream broke"))
    async with responses(fake) as sdk:
        stream = await sdk.responses.create(model="fake/m", input="go", stream=True)
        events = [event async for event in stream]
    assert events[-1].type == "response.failed"
    assert events[-1].response.error is not None
    assert "upstream broke" in events[-1].response.error.message
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "partial"


async def test_conversations_and_hosted_tools_are_refused_by_name(fake: FakePlugin) -> None:
    async with responses(fake) as sdk:
        with pytest.raises(openai.BadRequestError) as stateful:
            await sdk.responses.create(model="fake/m", input="hi", conversation="conv_1")
        assert stateful.value.param == "conversation"
        assert "previous_response_id" in stateful.value.message
        with pytest.raises(openai.BadRequestError, match="'file_search' tool"):
            await sdk.responses.create(
                model="fake/m",
                input="hi",
                tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}],
            )
    assert fake.calls == []


async def test_images_and_structured_output_reach_the_provider(fake: FakePlugin) -> None:
    import base64

    from relaykit.testing import PNG

    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    schema: dict[str, object] = {"type": "object", "properties": {"n": {"type": "integer"}}}
    async with responses(fake) as sdk:
        await sdk.responses.create(
            model="fake/m",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Count the dots."},
                        {"type": "input_image", "image_url": data_url, "detail": "auto"},
                    ],
                }
            ],
            text={"format": {"type": "json_schema", "name": "count", "schema": schema}},
            reasoning={"effort": "low"},
        )
    (request,) = fake.calls
    text, image = request.messages[0].content
    assert text == TextPart("Count the dots.")
    assert image.data == PNG and image.media_type == "image/png"  # type: ignore[union-attr]
    assert request.response_format is not None
    assert (request.response_format.name, request.response_format.schema) == ("count", schema)
    assert request.reasoning == Reasoning("low")
    assert request.extra == {}


# -- continuing a response (previous_response_id) ---------------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_a_response_is_continued_by_its_id(fake: FakePlugin, streamed: bool) -> None:
    fake.script.reply("Hello Ann.", tool_calls=(("get_weather", {"city": "Oslo"}),))
    async with responses(fake) as sdk:
        first: Any
        if streamed:
            async with sdk.responses.stream(
                model="fake/m", instructions="Be terse.", input="I am Ann.", tools=[WEATHER]
            ) as stream:
                async for _ in stream:
                    pass
                first = await stream.get_final_response()
        else:
            first = await sdk.responses.create(
                model="fake/m", instructions="Be terse.", input="I am Ann.", tools=[WEATHER]
            )
        call = first.output[-1]
        second = await sdk.responses.create(
            model="fake/m",
            previous_response_id=first.id,
            instructions="Be kind.",
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "-3C"}],
        )
        third = await sdk.responses.create(
            model="fake/m", previous_response_id=second.id, input="And my name?"
        )
    assert third.output_text == "echo: And my name?"
    # Each call got the whole conversation; a response's instructions are not carried
    # over, the new ones come first.
    sent = fake.calls[1].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "tool"]
    assert sent[0].text == "Be kind." and sent[1].text == "I am Ann."
    assert sent[2].tool_calls[0].id == call.call_id
    assert sent[3].content == (ToolResultPart(call.call_id, "-3C"),)
    last = fake.calls[2].messages
    assert [m.role for m in last] == ["user", "assistant", "tool", "assistant", "user"]


async def test_an_unknown_or_unstored_response_is_a_404_that_says_what_to_do(
    fake: FakePlugin,
) -> None:
    async with responses(fake) as sdk:
        with pytest.raises(openai.NotFoundError) as unknown:
            await sdk.responses.create(model="fake/m", input="hi", previous_response_id="resp_x")
        assert "Previous response with id 'resp_x' not found" in unknown.value.message
        assert "whole conversation" in unknown.value.message
        unkept = await sdk.responses.create(model="fake/m", input="hi", store=False)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.create(model="fake/m", input="hi", previous_response_id=unkept.id)
    assert len(fake.calls) == 1


async def test_a_continued_response_is_counted_with_its_history(fake: FakePlugin) -> None:
    async with responses(fake) as sdk:
        first = await sdk.responses.create(model="fake/m", input="x" * 400)
        alone = await sdk.responses.input_tokens.count(model="fake/m", input="y" * 40)
        after = await sdk.responses.input_tokens.count(
            model="fake/m", input="y" * 40, previous_response_id=first.id
        )
    # estimated (the fake cannot count): a quarter of the characters, history included
    assert (alone.input_tokens, after.input_tokens) == (
        10,
        10 + 100 + len("echo: " + "x" * 400) // 4,
    )


async def test_only_the_caller_who_made_a_response_may_continue_it(fake: FakePlugin) -> None:
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    client = relaykit.Client(config, plugins=[fake])
    async with client, running(client) as url:
        alice = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        bob = openai.AsyncOpenAI(
            base_url=f"{url}/v1", api_key="gw-bob-0123456789abcdef", max_retries=0
        )
        async with alice, bob:
            secret = await alice.responses.create(model="fake/m", input="my PIN is 1234")
            with pytest.raises(openai.NotFoundError):
                await bob.responses.create(
                    model="fake/m", input="what was it?", previous_response_id=secret.id
                )
            mine = await alice.responses.create(
                model="fake/m", input="what was it?", previous_response_id=secret.id
            )
    assert mine.output_text == "echo: what was it?"
    assert len(fake.calls) == 2  # bob's call never reached the provider


async def test_a_kept_response_is_fetched_again_and_deleted(fake: FakePlugin) -> None:
    async with responses(fake) as sdk:
        made = await sdk.responses.create(model="fake/m", input="remember me")
        again = await sdk.responses.retrieve(made.id)
        assert (again.id, again.output_text) == (made.id, "echo: remember me")
        async with sdk.responses.stream(model="fake/m", input="streamed") as stream:
            async for _ in stream:
                pass
            streamed = await stream.get_final_response()
        assert (await sdk.responses.retrieve(streamed.id)).output_text == "echo: streamed"
        await sdk.responses.delete(made.id)
        with pytest.raises(openai.NotFoundError, match=f"Response with id '{made.id}'"):
            await sdk.responses.retrieve(made.id)
        with pytest.raises(openai.NotFoundError):  # and it can no longer be continued
            await sdk.responses.create(model="fake/m", input="hi", previous_response_id=made.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.delete(made.id)
        # a kept response's input items are not served: said so, not that the
        # response (whose id the path holds) is missing
        with pytest.raises(openai.NotFoundError, match="input items are not served"):
            await sdk.responses.input_items.list(streamed.id)


CLOSED_WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": None,
}


@pytest.mark.parametrize(
    ("tool", "strict"),
    [
        # OpenAI's Responses API makes a tool without `strict` strict when its schema
        # keeps strict mode's rules (the Chat Completions API would not)
        (CLOSED_WEATHER, True),
        ({**CLOSED_WEATHER, "strict": False}, False),
        ({**CLOSED_WEATHER, "strict": True}, True),
        # an optional property, an open object: best-effort function calling, as at
        # OpenAI when its normalizing fails (the gateway does not make `city` required)
        (WEATHER, None),
        ({**WEATHER, "strict": False}, False),
    ],
)
async def test_a_function_tool_without_strict_is_strict_when_its_schema_allows(
    fake: FakePlugin, tool: FunctionToolParam, strict: bool | None
) -> None:
    fake.script.reply("ok")
    async with responses(fake) as sdk:
        await sdk.responses.create(model="fake/m", input="Weather?", tools=[tool])
    (sent,) = fake.calls
    assert sent.tools[0].strict is strict


#: what a request may set that OpenAI's response object repeats
SETTINGS: dict[str, Any] = {
    "instructions": "Answer briefly.",
    "max_output_tokens": 50,
    "metadata": {"team": "search"},
    "parallel_tool_calls": False,
    "temperature": 0.2,
    "top_p": 0.9,
    "tool_choice": {"type": "function", "name": "get_weather"},
    "tools": [WEATHER],
    "text": {"format": {"type": "json_object"}},
    "reasoning": {"effort": "low", "summary": None},
    "user": "user-42",
}


def settings_of(response: Any) -> dict[str, Any]:
    """The settings fields of a response object, as the gateway's JSON gave them."""
    data = response.model_dump(mode="json", exclude_unset=True)
    return {key: data[key] for key in SETTINGS}


def echoed() -> dict[str, Any]:
    return dict(SETTINGS)


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_response_repeats_the_settings_its_request_gave(
    fake: FakePlugin, streamed: bool
) -> None:
    # The response object said tool_choice "auto", no tools, parallel calls on and
    # no temperature, whatever the request had set; OpenAI repeats the request's.
    fake.script.reply('{"ok": true}')
    async with responses(fake) as sdk:
        if streamed:
            async with sdk.responses.stream(model="fake/m", input="go", **SETTINGS) as stream:
                started = None
                async for event in stream:
                    if event.type == "response.created":
                        started = event.response
                made = await stream.get_final_response()
            assert started is not None and settings_of(started) == echoed()
        else:
            made = await sdk.responses.create(model="fake/m", input="go", **SETTINGS)
        again = await sdk.responses.retrieve(made.id)
    assert settings_of(made) == echoed()
    assert settings_of(again) == echoed()
    data = made.model_dump(mode="json")
    assert (data["store"], data["previous_response_id"]) == (True, None)


async def test_a_response_without_settings_reports_the_defaults(fake: FakePlugin) -> None:
    async with responses(fake) as sdk:
        made = await sdk.responses.create(model="fake/m", input="go")
    assert settings_of(made) == {
        "instructions": None,
        "max_output_tokens": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": None,
        "top_p": None,
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
        "reasoning": {"effort": None, "summary": None},
        "user": None,
    }


@pytest.mark.parametrize(
    "asked",
    [{"include": ["message.output_text.logprobs"]}, {"top_logprobs": 2}],
)
async def test_log_probabilities_asked_for_are_refused_not_answered_empty(
    fake: FakePlugin, asked: dict[str, Any]
) -> None:
    # OpenAI answers these with each output_text's logprobs; the gateway has none,
    # and an empty list passed for "no tokens had any"
    fake.script.reply("x")
    async with responses(fake) as client:
        with pytest.raises(openai.BadRequestError, match="log probabilities"):
            await client.responses.create(model="fake/m", input="hi", **asked)
        # other include entries, and 0 alternatives, are no request for them
        answer = await client.responses.create(
            model="fake/m", input="hi", include=["reasoning.encrypted_content"], top_logprobs=0
        )
    assert answer.output_text == "x"
    assert len(fake.calls) == 1


async def test_a_failed_streams_response_keeps_what_was_written(fake: FakePlugin) -> None:
    """``response.failed`` carries the output streamed before the break, each item as
    far as it got (``incomplete``), not an empty message: a client that reads the
    failed response (or shows it) keeps the partial answer and the call begun."""
    fake.script.push(Reply(text="partial", stream_fault="error", error="upstream broke"))
    async with responses(fake) as sdk:
        stream = await sdk.responses.create(model="fake/m", input="go", stream=True)
        events = [event async for event in stream]
    failed = events[-1]
    assert failed.type == "response.failed"
    assert failed.response.status == "failed"
    (message,) = failed.response.output
    assert message.type == "message" and message.status == "incomplete"
    assert [c.text for c in message.content if c.type == "output_text"] == ["partial"]
    # the message was never done: no done events for it, as OpenAI sends none
    assert not [e for e in events if e.type == "response.output_text.done"]


@pytest.mark.parametrize("truncation", ["disabled", "auto"])
async def test_truncation_is_repeated_and_its_default_asks_the_provider_nothing(
    fake: FakePlugin, truncation: Any
) -> None:
    """``truncation: "disabled"`` is OpenAI's default: it asks for nothing, so it does not
    reach the provider (whose API may refuse a field it lacks); ``"auto"`` does, for the
    provider to apply or refuse. The response repeats either, as OpenAI's does."""
    async with responses(fake) as sdk:
        given = await sdk.responses.create(model="fake/m", input="hi", truncation=truncation)
        left_out = await sdk.responses.create(model="fake/m", input="hi")
    assert (given.truncation, left_out.truncation) == (truncation, "disabled")
    sent = fake.calls[0].extra or {}
    assert sent.get("truncation") == (None if truncation == "disabled" else "auto")


@pytest.mark.parametrize("streamed", [False, True])
async def test_continuing_a_function_call_without_its_output_is_openais_400(
    fake: FakePlugin, streamed: bool
) -> None:
    """A response that ended on function calls is continued with their outputs: OpenAI
    refuses a continuation missing one (``No tool output found for function call``),
    and so does the gateway, before any provider is asked (not every one would refuse,
    and the model would answer a question it never saw the result of)."""
    fake.script.reply(
        "", tool_calls=(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"}))
    )
    async with responses(fake) as sdk:
        first = await sdk.responses.create(model="fake/m", input="Weather?", tools=[WEATHER])
        oslo, rome = (item for item in first.output if item.type == "function_call")
        answered: ResponseInputItemParam = {
            "type": "function_call_output",
            "call_id": oslo.call_id,
            "output": "-3C",
        }
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.responses.create(
                model="fake/m",
                previous_response_id=first.id,
                input=[answered],
                stream=streamed,
            )
        # with every output, the call goes on
        both: list[ResponseInputItemParam] = [
            answered,
            {"type": "function_call_output", "call_id": rome.call_id, "output": "9C"},
        ]
        await sdk.responses.create(model="fake/m", previous_response_id=first.id, input=both)
    assert f"No tool output found for function call {rome.call_id}" in caught.value.message
    assert caught.value.param == "input"
    assert len(fake.calls) == 2


async def test_stream_options_without_stream_is_openais_400(fake: FakePlugin) -> None:
    """OpenAI's Responses API refuses ``stream_options`` on a response not streamed, in
    the words and shape its Chat Completions uses; a streamed one takes them."""
    async with responses(fake) as client:
        for streamed in (None, False):  # left out, and false
            with pytest.raises(openai.BadRequestError) as caught:
                await client.responses.create(
                    model="fake/m",
                    input="hi",
                    stream_options={"include_obfuscation": False},
                    extra_body={} if streamed is None else {"stream": streamed},
                )
            error: Any = caught.value.body
            assert error["message"] == (
                "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            )
            assert (caught.value.param, caught.value.type, caught.value.code) == (
                "stream_options",
                "invalid_request_error",
                None,
            )
        assert not fake.calls  # the refused ones reached no provider
        fake.script.reply("ok")
        async with client.responses.stream(
            model="fake/m", input="hi", stream_options={"include_obfuscation": False}
        ) as stream:
            final = await stream.get_final_response()
    assert final.output_text == "ok"
