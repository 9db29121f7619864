"""``relaykit demo``: the whole request pipeline, offline, in about a second.

A :class:`relaykit.testing.OpenAIMock` serves OpenAI's wire format on loopback
HTTP from a background thread; a real :class:`relaykit.Client` talks to it. Each
step is a small async function that scripts the mock when it needs a particular
answer, sends real requests, and prints what happened. To show something new,
write a step and add it to :data:`STEPS`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import RelayError

if TYPE_CHECKING:
    from ..client import Client
    from ..response import ChatResponse
    from ..testing import OpenAIMock
    from .context import CliContext

MODEL = "openai/gpt-4o-mini"
DEMO_KEY = "sk-demo-not-a-real-key-0000"
INDENT = "   "


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``demo`` command."""
    parser = commands.add_parser(
        "demo",
        parents=parents,
        help="see relaykit work against a mock OpenAI server (offline, no key)",
        description="Run chats, a stream, a tool call, retried failures, typed errors and "
        "a model listing through a real client against a local mock OpenAI server.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit demo``."""
    from ..testing import OpenAIMock

    context: CliContext = args.context
    with OpenAIMock(api_key=DEMO_KEY) as mock:
        return context.run(run_steps, mock, context.plugins, STEPS)


def demo_config(base_url: str, api_key: str) -> dict[str, Any]:
    """The demo's configuration: no call log, quick retries, OpenAI at the mock."""
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0.05, "max_wait": 0.2},
        # no cool-down: earlier steps' failures would otherwise reorder the route
        "breaker": {"failures": 3, "reset_after": 30, "cool_down": 0},
        "cache": {"enabled": True},
        "providers": {
            "openai": {"base_url": base_url, "api_key": api_key},
            # a second deployment (on the same mock) to fall back to
            "backup": {"type": "openai", "base_url": base_url, "api_key": api_key},
            # a vLLM server's rerank endpoint (the mock serves /v1/rerank too)
            "vllm": {"base_url": base_url, "api_key": api_key},
        },
        "models": {"fast": {"targets": [MODEL, "backup/gpt-4o-mini"], "strategy": "fallback"}},
    }


@attrs.frozen
class Demo:
    """What a step works with: the client, the mock (to script it), and output helpers."""

    client: Client
    mock: OpenAIMock
    plugins: tuple[object, ...]

    def client_with_key(self, api_key: str) -> Client:
        """A second client against the mock that sends ``api_key``."""
        from ..client import Client

        return Client(demo_config(self.mock.base_url, api_key), plugins=self.plugins, env={})

    def say(self, line: str = "") -> None:
        """Print one indented line."""
        print(INDENT + line, flush=True)

    def write(self, text: str) -> None:
        """Print ``text`` as is, at once (for stream deltas)."""
        sys.stdout.write(text)
        sys.stdout.flush()


@attrs.frozen
class Step:
    """One demo step: a title and the async function that shows it."""

    title: str
    run: Callable[[Demo], Awaitable[None]]


async def run_steps(mock: OpenAIMock, plugins: tuple[object, ...], steps: Sequence[Step]) -> int:
    """Run ``steps`` in order against ``mock`` with a fresh client; print a summary."""
    from ..client import Client

    print(
        f"relaykit demo: a mock OpenAI server at {mock.base_url} (loopback, no network, fake key)"
    )
    started = time.monotonic()
    # env={}: the user's RELAYKIT_* and OPENAI_* variables must not reshape the demo.
    async with Client(demo_config(mock.base_url, DEMO_KEY), plugins=plugins, env={}) as client:
        # Build the provider (and import httpx) now, so step 1's latency shows the
        # call itself rather than one-off start-up work.
        client.provider("openai")
        demo = Demo(client, mock, plugins)
        for number, step in enumerate(steps, 1):
            print(f"\n{number}. {step.title}")
            await step.run(demo)
    elapsed = time.monotonic() - started
    print(f"\n{len(steps)} steps, {len(mock.requests)} HTTP requests, {elapsed:.2f} s.")
    print(try_it_for_real(os.environ))
    return 0


def try_it_for_real(env: Mapping[str, str]) -> str:
    """The demo's last line: the command to run next, as the demo itself was run.

    The README's quick start is ``uv run relaykit demo``, whose shell has no
    ``relaykit`` on PATH: ``uv run`` marks the processes it starts with
    ``UV_RUN_RECURSION_DEPTH``, and the hint then begins with ``uv run`` too.
    """
    command = "uv run relaykit" if env.get("UV_RUN_RECURSION_DEPTH") else "relaykit"
    return f"Try it for real: OPENAI_API_KEY=... {command} prompt -m {MODEL} 'Hello'"


def _summary(r: ChatResponse) -> str:
    cost = f"${r.cost:.8f}" if r.cost is not None else "cost unknown"
    latency = f"{r.latency * 1000:.0f} ms" if r.latency is not None else "?"
    attempts = "1 attempt" if r.attempts == 1 else f"{r.attempts} attempts"
    return (
        f"{r.provider}/{r.model}: {r.usage.input_tokens} in + {r.usage.output_tokens} out tokens, "
        f"{cost}, {attempts}, {latency}"
    )


# --- the steps ------------------------------------------------------------------


async def chat(demo: Demo) -> None:
    """A plain chat call; the mock echoes the prompt when nothing is scripted."""
    prompt = "Hello, relaykit!"
    demo.say(f"> {prompt}")
    r = await demo.client.chat(MODEL, prompt)
    demo.say(f"< {r.text}")
    demo.say(_summary(r))


async def stream(demo: Demo) -> None:
    """A streamed reply, printed delta by delta as the chunks arrive."""
    from ..events import TextDelta

    demo.mock.script.reply(
        "Streaming works: each piece is printed the moment it arrives.", chunk_delay=0.02
    )
    prompt = "Stream a sentence, please."
    demo.say(f"> {prompt}")
    deltas = 0
    demo.write(INDENT + "< ")
    async with demo.client.stream(MODEL, prompt) as s:
        async for event in s:
            if isinstance(event, TextDelta):
                deltas += 1
                demo.write(event.text)
    demo.write("\n")
    r = s.response
    first = f"{r.time_to_first_token * 1000:.0f} ms" if r.time_to_first_token is not None else "?"
    demo.say(f"{deltas} text deltas, first after {first}; {_summary(r)}")


async def tool_call(demo: Demo) -> None:
    """The model asks for a tool; we run it and send the result back for the answer."""
    from ..messages import Message
    from ..testing import Reply

    weather = {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    demo.mock.script.push(
        Reply(tool_calls=(("get_weather", {"city": "Paris"}),)),
        Reply(text="It is 18 C and sunny in Paris."),
    )
    question = Message.user("What is the weather in Paris?")
    demo.say(f"> {question.text}")
    first = await demo.client.chat(MODEL, [question], tools=[weather])
    call = first.tool_calls[0]
    demo.say(
        f"< tool call {call.name}({json.dumps(call.arguments)})  [finish: {first.finish_reason}]"
    )
    result = json.dumps({"city": "Paris", "temp_c": 18, "sky": "sunny"})
    demo.say(f"> tool result {result}")
    history = [question, first.to_message(), Message.tool(call.id, result)]
    answer = await demo.client.chat(MODEL, history, tools=[weather])
    demo.say(f"< {answer.text}")


def get_weather(city: str) -> str:
    """Current weather in a city.

    :param city: the city's name, in English
    """
    return f"{city}: 18 C, sunny"


async def tool_runner(demo: Demo) -> None:
    """The same, with a Python function: relaykit writes its schema, runs it and answers."""
    from ..messages import ToolCall, ToolResultPart
    from ..testing import Reply

    demo.mock.script.push(
        Reply(tool_calls=(("get_weather", {"city": "Lyon"}),)),
        Reply(text="Lyon is sunny at 18 C."),
    )
    question = "What is the weather in Lyon?"
    demo.say(f"> {question}  (tools=[get_weather], a plain Python function)")
    run = await demo.client.run_tools(MODEL, question, tools=[get_weather])
    for message in run.messages[1:-1]:
        for part in message.content:
            if isinstance(part, ToolCall):
                args = json.dumps(part.arguments)
                demo.say(f"< tool call {part.name}({args}), run by relaykit")
            elif isinstance(part, ToolResultPart):
                demo.say(f"> tool result {part.content!r}, sent back by relaykit")
    demo.say(f"< {run.text}")
    cost = f"${run.cost:.8f}" if run.cost is not None else "cost unknown"
    demo.say(f"{len(run.steps)} model calls, {run.usage.input_tokens} tokens in, {cost}")


async def web_search(demo: Demo) -> None:
    """The provider searches the web; the answer cites its pages, and the searches are billed."""
    from ..testing import Reply
    from ..web_search import Citation

    answer = "Python 3.14 is the latest stable release."
    page = Citation(url="https://www.python.org/downloads/", title="Python downloads")
    demo.mock.script.push(
        Reply(
            text=answer,
            citations=(attrs.evolve(page, start=0, end=len(answer) - 1),),
            web_searches=1,
        )
    )
    question = "What is the latest Python release?"
    demo.say(f"> {question}  (web_search=WebSearch(allowed_domains=('python.org',)))")
    r = await demo.client.chat(MODEL, question, web_search={"allowed_domains": ["python.org"]})
    demo.say(f"< {r.text}")
    for number, c in enumerate(r.citations, 1):
        demo.say(f"  [{number}] {c.title} - {c.url}")
    demo.say(f"{r.usage.web_searches} web search billed; {_summary(r)}")


async def rate_limited(demo: Demo) -> None:
    """A 429 with Retry-After: the client waits as the server asks, then retries."""
    demo.mock.script.fail(429, "Rate limit reached for gpt-4o-mini", retry_after=0.2)
    demo.say("server: 429 Too Many Requests, Retry-After: 0.2, then 200 OK")
    r = await demo.client.chat(MODEL, "Are you busy?")
    demo.say(f"< {r.text}")
    demo.say(f"retried after the server's Retry-After: {_summary(r)}")


async def server_error(demo: Demo) -> None:
    """A 500: retryable, so the client backs off briefly and tries again."""
    demo.mock.script.fail(500, "The server had an error while processing your request.")
    demo.say("server: 500 Internal Server Error, then 200 OK")
    r = await demo.client.chat(MODEL, "Still there?")
    demo.say(f"< {r.text}")
    demo.say(f"retried with backoff: {_summary(r)}")


async def fallback_and_breaker(demo: Demo) -> None:
    """A deployment that keeps failing: retries, then the route's next target; its circuit opens."""
    from ..errors import CircuitOpenError

    demo.mock.script.push(*[_unavailable()] * 3)
    demo.say("route 'fast' = openai/gpt-4o-mini, then backup/gpt-4o-mini")
    demo.say("server: openai answers 503 three times")
    r = await demo.client.chat("fast", "Anyone there?")
    demo.say(f"< {r.text}")
    demo.say(f"served by the fallback: {_summary(r)}")
    sent = len(demo.mock.requests)
    try:
        await demo.client.chat(MODEL, "And you, openai?")
    except CircuitOpenError as e:
        sent = len(demo.mock.requests) - sent
        demo.say(f"openai/gpt-4o-mini now -> CircuitOpenError, {sent} HTTP requests sent")
        demo.say(f"  {e}")
    else:
        raise AssertionError("the demo expected the circuit to be open")


def _unavailable() -> Any:
    from ..testing import Reply

    return Reply.failure(503, "The engine is currently overloaded, please try again later")


async def cached(demo: Demo) -> None:
    """The same deterministic request twice: the second answer comes from the cache."""
    first = await demo.client.chat("backup/gpt-4o-mini", "What is 2 + 2?", temperature=0)
    again = await demo.client.chat("backup/gpt-4o-mini", "What is 2 + 2?", temperature=0)
    demo.say(f"< {first.text}  (cache hit: {first.cache_hit})")
    demo.say(
        f"< {again.text}  (cache hit: {again.cache_hit}, cost ${again.cost}, {_summary(again)})"
    )


async def embeddings(demo: Demo) -> None:
    """Texts become vectors, one each, in order; the cache keeps each text's vector."""
    texts = ["How do I reset my password?", "Open Settings, then Security."]
    r = await demo.client.embed("openai/text-embedding-3-small", texts)
    demo.say(f"< {len(r.vectors)} vectors of {r.dimensions} numbers, {r.usage.input_tokens} tokens")
    again = await demo.client.embed("openai/text-embedding-3-small", [*texts, "A new text."])
    demo.say(
        f"< again with one new text: {len(again.vectors)} vectors, "
        f"{again.usage.input_tokens} tokens sent (the rest from the cache)"
    )


async def rerank(demo: Demo) -> None:
    """Passages ranked by how well they answer a question, best first."""
    passages = [
        "Invoices are emailed on the first working day of each month.",
        "To reset your password, open Settings, then Security.",
        "Refunds reach your card within five working days.",
    ]
    r = await demo.client.rerank(
        "vllm/BAAI/bge-reranker-v2-m3", "How do I reset my password?", passages, top_n=2
    )
    for result in r.results:
        demo.say(f"< {result.score:.2f} #{result.index}: {result.document}")


async def moderation(demo: Demo) -> None:
    """Texts judged one by one: a verdict each, with the vendor's categories and scores."""
    texts = ["What a lovely day for a walk", "I will kill you"]
    r = await demo.client.moderate("openai/omni-moderation-latest", texts)
    for text, result in zip(texts, r.results, strict=True):
        found = ", ".join(f"{c} {result.scores.get(c, 0):.2f}" for c in result.flagged_categories)
        demo.say(f"< {text!r}: " + (f"flagged ({found})" if result.flagged else "not flagged"))
    demo.say(f"< {len(r.results)} verdicts, ${r.cost} (OpenAI's moderation is free)")


async def thinking(demo: Demo) -> None:
    """How much a model thinks first: one setting for every provider, each sent as its own."""
    demo.mock.script.reply("1001 = 7 x 11 x 13, so no.", reasoning_tokens=96)
    r = await demo.client.chat("openai/o4-mini", "Is 1001 prime?", reasoning="low")
    sent = demo.mock.last_request.json()["reasoning_effort"]
    demo.say(f'> reasoning="low" went to OpenAI as reasoning_effort={sent!r}')
    demo.say(f"< {r.text!r} ({r.usage.reasoning_tokens} of its output tokens were thinking)")
    r = await demo.client.chat("openai/o4-mini", "Say hi", reasoning=3000)
    sent = demo.mock.last_request.json()["reasoning_effort"]
    demo.say(
        f"> a budget of 3,000 tokens went as reasoning_effort={sent!r} (Claude gets the budget)"
    )


async def speech_to_text(demo: Demo) -> None:
    """A voice memo becomes text; whisper-1 bills its minutes."""
    from ..testing import mock_audio

    memo = mock_audio("Meet at noon on Thursday, bring the Acme contract.", seconds=12)
    r = await demo.client.transcribe("openai/whisper-1", memo, language="en")
    demo.say(f"> a {len(memo) // 1000} kB WAV")
    demo.say(f"< {r.text!r}")
    demo.say(f"< {r.duration:.0f} s of {r.language}, ${r.cost} at $0.006 a minute")


async def text_to_speech(demo: Demo) -> None:
    """A text said aloud, then heard back: speech out, speech in."""
    said = await demo.client.speak(
        "openai/tts-1", "Your table is booked for eight.", voice="alloy", format="wav"
    )
    demo.say(f"< {said}, ${said.cost} at $15 a million characters")
    heard = await demo.client.transcribe("openai/whisper-1", said.audio)
    demo.say(f"< heard back: {heard.text!r}")


async def speech_stream(demo: Demo) -> None:
    """Speech handed over as it is made: a player could start at the first chunk."""
    demo.mock.script.reply(chunk_delay=0.02)  # paces the mock's chunks of audio
    text = "See you at eight, table for two."
    chunks = 0
    demo.write(INDENT + "< chunks:")
    async with demo.client.stream_speech("openai/tts-1", text, voice="alloy", format="wav") as s:
        async for chunk in s:
            chunks += 1
            demo.write(f" {len(chunk):,} B")
    demo.write("\n")
    r = s.response
    first = f"{r.time_to_first_chunk * 1000:.0f} ms" if r.time_to_first_chunk is not None else "?"
    whole = f"{r.latency * 1000:.0f} ms" if r.latency is not None else "?"
    demo.say(
        f"< {chunks} chunks, {r.streamed_bytes:,} bytes of {r.format}: the first after"
        f" {first}, the last after {whole}; ${r.cost}, as speak's"
    )


async def image(demo: Demo) -> None:
    """A picture from a prompt: real PNG bytes, their format and size read from them."""
    r = await demo.client.generate_image("openai/gpt-image-2", "a red fox in snow", quality="low")
    # the repr names format, size and length, never the bytes (the mock draws tiny ones)
    demo.say(f"< {r.images[0]}, billed as {r.size}")
    demo.say(f"< {r.usage.output_tokens} image tokens, ${r.cost} (GPT image models bill tokens)")


async def image_edit(demo: Demo) -> None:
    """An image just drawn, edited: the drawn image goes straight back in, as bytes."""
    drawn = await demo.client.generate_image(
        "openai/gpt-image-2", "a red fox in snow", quality="low"
    )
    r = await demo.client.edit_image(
        "openai/gpt-image-2", "give the fox a green scarf", image=drawn.images[0], quality="low"
    )
    demo.say(f"> {drawn.images[0]}, drawn, then: 'give the fox a green scarf'")
    demo.say(f"< {r.images[0]}")
    demo.say(
        f"< {r.usage.input_tokens} tokens in (the image is input too),"
        f" {r.usage.output_tokens} out, ${r.cost}"
    )


async def batch(demo: Demo) -> None:
    """Many chats as one batch: half price, answered later, read back line by line."""
    from ..batches import BatchItem
    from ..testing import Reply

    questions = {"q1": "Name a prime number.", "q2": "Name a colour."}
    demo.mock.script.push(Reply(text="7"), Reply(text="Blue"))
    submitted = await demo.client.submit_batch(
        MODEL, [BatchItem(custom_id, text) for custom_id, text in questions.items()]
    )
    demo.say(f"submitted {submitted.id}: {submitted.status}, {submitted.total} requests")
    done = await demo.client.batch(submitted.id)  # the mock ends a batch once it is looked at
    demo.say(f"status: {done.status}, {done.succeeded} succeeded, {done.errored} errored")
    async for result in demo.client.batch_results(done.id):
        answer = result.response
        if answer is None:
            demo.say(f"< {result.custom_id}: {result.error}")
            continue
        cost = f"${answer.cost:.8f}" if answer.cost is not None else "cost unknown"
        demo.say(f"< {result.custom_id}: {answer.text}  ({cost}, the batch price: half)")


async def typed_errors(demo: Demo) -> None:
    """Failures that retrying cannot fix arrive at once, as typed errors with a fix in them."""
    async with demo.client_with_key("sk-wrong-key-1234567890") as wrong:
        await _show_error(demo, "wrong API key", lambda: wrong.chat(MODEL, "Hi"))
    demo.mock.script.fail(
        400,
        "This model's maximum context length is 128000 tokens.",
        code="context_length_exceeded",
    )
    await _show_error(
        demo, "prompt too long", lambda: demo.client.chat(MODEL, "A very long prompt")
    )


async def _show_error(demo: Demo, what: str, call: Callable[[], Awaitable[Any]]) -> None:
    try:
        await call()
    except RelayError as e:
        demo.say(f"{what} -> {type(e).__name__} (status {e.status}, retryable: {e.retryable})")
        demo.say(f"  {e}")
    else:
        raise AssertionError(f"the demo expected {what} to fail")


async def models(demo: Demo) -> None:
    """The provider's model listing, with context windows and prices the plugin knows."""
    from .models import models_table

    listing = await demo.client.models("openai")
    print(models_table(listing, indent=INDENT))


STEPS: tuple[Step, ...] = (
    Step("chat", chat),
    Step("stream", stream),
    Step("tool call", tool_call),
    Step("tool runner: Python functions as tools", tool_runner),
    Step("web search, with citations", web_search),
    Step("rate limited (429), retried", rate_limited),
    Step("server error (500), retried", server_error),
    Step("typed errors", typed_errors),
    Step("response cache", cached),
    Step("embeddings", embeddings),
    Step("rerank", rerank),
    Step("moderation", moderation),
    Step("thinking: reasoning=", thinking),
    Step("speech to text", speech_to_text),
    Step("text to speech", text_to_speech),
    Step("streamed speech", speech_stream),
    Step("image generation", image),
    Step("image editing", image_edit),
    Step("batch", batch),
    Step("fallback, and an open circuit breaker", fallback_and_breaker),
    Step("models", models),
)
