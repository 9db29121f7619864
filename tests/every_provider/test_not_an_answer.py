"""A status-200 body that is no answer is an error, never a successful empty answer.

Every chat API's mock answers as the vendor would, then the body is replaced
over loopback HTTP: by ``{}``, by the vendor's answer with the field that holds
the answer taken out (``choices``, ``content``, ``candidates``, ``message``,
``output``), or by an error object sent with status 200, as some
OpenAI-compatible servers and proxies do. On main each of these but OpenAI's
Chat Completions error object came back as a successful chat with text ``''``
(found: relaykit-openai read ``{}`` as an empty answer). The rule
(docs/writing-plugins.md, "An answer that is no answer"): a body without the
fields that carry the answer is the retryable "malformed response"
:class:`relaykit.ProviderUnavailableError`, naming what is missing; an error
object in their place is the typed error it describes. A real empty answer (no
text, finish ``stop`` or ``content_filter``) is still an answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import relaykit
from relaykit.testing import MemoryStorage, Reply
from relaykit.testing.configs import one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit.testing.vendor_mock import VendorMock
from relaykit_bedrock.testing.frames import encode_message

# ``vendor`` (conftest.py): each chat API's mock in turn

#: the field of each API's non-streamed answer that holds the answer itself
ANSWER_FIELD = {
    "anthropic": "content",
    "bedrock": "output",
    "bedrock-messages": "content",
    "cohere": "message",
    "gemini": "candidates",
    "ollama": "message",
    "openai": "choices",
    "openai-responses": "output",
}

#: an error reported with status 200, as OpenAI-compatible servers word it
RATE_LIMITED_200 = {
    "error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": 429}
}


#: what makes a request cacheable: the call's own cache=True (Claude Opus 4.7 refuses
#: a temperature, Anthropic's and Bedrock's APIs a seed)
CACHEABLE = {"cache": True}


SSE = "text/event-stream"


def _frame(kind: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream frame of a ConverseStream event."""
    headers = {":event-type": kind, ":message-type": "event", ":content-type": "application/json"}
    return encode_message(headers, json.dumps(payload).encode())


#: each API's stream that ends as the vendor ends one (its terminal event, whole)
#: with nothing before it: not the start event every answer opens with
LONE_ENDINGS: dict[str, tuple[str, bytes]] = {
    "anthropic": (SSE, b'event: message_stop\ndata: {"type":"message_stop"}\n\n'),
    "bedrock": (
        "application/vnd.amazon.eventstream",
        _frame("messageStop", {"stopReason": "end_turn"}),
    ),
    "bedrock-messages": (SSE, b'event: message_stop\ndata: {"type":"message_stop"}\n\n'),
    "cohere": (
        SSE,
        b"event: message-end\n"
        b'data: {"type":"message-end","delta":{"finish_reason":"COMPLETE"}}\n\n',
    ),
    "gemini": (SSE, b'data: {"usageMetadata": {"promptTokenCount": 3}}\n\n'),
    "ollama": ("application/x-ndjson", b'{"model": "llama3.2", "done": true}\n'),
    "openai": (SSE, b"data: {}\n\ndata: [DONE]\n\n"),
    "openai-responses": (
        SSE,
        b'event: response.completed\ndata: {"type":"response.completed","response":{}}\n\n',
    ),
}


def api(request: pytest.FixtureRequest) -> str:
    name: str = request.node.callspec.params["vendor"]
    return name


def replace_answer(mock: VendorMock, change: Any) -> None:
    """Serve each of ``mock``'s JSON answers changed by ``change(doc)``, with status 200."""

    async def rewrite(request: Request, response: Response) -> Response:
        assert isinstance(response.body, bytes), "a non-streamed answer"
        doc = change(json.loads(response.body))
        return Response(200, {"content-type": "application/json"}, json.dumps(doc).encode())

    mock.rewrite = rewrite


def without(field: str) -> Any:
    def change(doc: dict[str, Any]) -> dict[str, Any]:
        assert field in doc, f"the answer has {field!r}: {doc}"
        return {k: v for k, v in doc.items() if k != field}

    return change


def client(providers: dict[str, Any], **sections: Any) -> relaykit.Client:
    return relaykit.Client(one_try_config(providers, **sections))


@pytest.mark.anyio
@pytest.mark.parametrize("body", ["empty object", "answer field removed"])
async def test_a_200_without_the_answer_is_a_malformed_response(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest, body: str
) -> None:
    mock, providers, model = vendor
    field = ANSWER_FIELD[api(request)]
    replace_answer(mock, (lambda _doc: {}) if body == "empty object" else without(field))
    async with client(providers) as c:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            r = await c.chat(model, "hi", max_tokens=20)
            pytest.fail(f"accepted as an answer: text={r.text!r}, finish={r.finish_reason!r}")
    assert caught.value.retryable
    assert "malformed response" in str(caught.value)
    assert repr(field) in str(caught.value), caught.value  # names what is missing


@pytest.mark.anyio
async def test_an_error_object_sent_with_status_200_is_the_error_it_describes(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    replace_answer(mock, lambda _doc: RATE_LIMITED_200)
    async with client(providers) as c:
        with pytest.raises(relaykit.RateLimitError) as caught:
            await c.chat(model, "hi", max_tokens=20)
    assert "Rate limit reached" in str(caught.value)


#: the APIs with a finish reason of their own for a content filter's refusal
FILTERING = sorted(set(ANSWER_FIELD) - {"cohere", "ollama"})


@pytest.mark.anyio
async def test_a_real_empty_answer_is_still_an_answer(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    await empty_answer(vendor, "stop")


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", FILTERING, indirect=True)
async def test_an_empty_answer_a_content_filter_ended_is_still_an_answer(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    await empty_answer(vendor, "content_filter")


async def empty_answer(vendor: tuple[VendorMock, dict[str, Any], str], finish: Any) -> None:
    """A chat and a stream answered with no text and ``finish`` read as such."""
    mock, providers, model = vendor
    mock.script.push(Reply(text="", finish=finish), Reply(text="", finish=finish))
    async with client(providers) as c:
        r = await c.chat(model, "hi", max_tokens=20)
        async with c.stream(model, "hi", max_tokens=20) as s:
            async for _ in s:
                pass
    assert (r.text, r.finish_reason) == ("", finish)
    assert (s.response.text, s.response.finish_reason) == ("", finish)


@pytest.mark.anyio
async def test_a_malformed_answer_is_retried(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    served = serve_first(mock, b"{}")
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    async with client(providers, retry=retry) as c:
        r = await c.chat(model, "hi there", max_tokens=20)
    assert (r.text, len(served)) == ("echo: hi there", 2)


@pytest.mark.anyio
async def test_a_malformed_answer_is_logged_as_an_error_and_never_cached(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    served = serve_first(mock, b"{}")
    storage = MemoryStorage()
    config = one_try_config(
        providers, cache={"enabled": True}, storage={"backend": "malformed-memory"}
    )
    async with relaykit.Client(config, plugins=(storage.plugin("malformed-memory"),)) as c:
        with pytest.raises(relaykit.ProviderUnavailableError):
            await c.chat(model, "hi there", max_tokens=20, **CACHEABLE)  # cacheable
        # asked again: nothing was cached; the third is the answer, from the cache
        r = await c.chat(model, "hi there", max_tokens=20, **CACHEABLE)
        again = await c.chat(model, "hi there", max_tokens=20, **CACHEABLE)
    assert (r.text, again.text, len(served)) == ("echo: hi there", "echo: hi there", 2)
    failed = [rec for rec in storage.records.values() if not rec.ok]
    assert [rec.error_type for rec in failed] == ["ProviderUnavailableError"], failed
    assert "malformed response" in (failed[0].error_message or "")


@pytest.mark.anyio
async def test_a_stream_of_its_terminal_event_alone_is_a_malformed_response(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest
) -> None:
    mock, providers, model = vendor
    content_type, body = LONE_ENDINGS[api(request)]
    served = serve_first(mock, body, content_type)
    async with client(providers) as c:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            async with c.stream(model, "hi", max_tokens=20) as s:
                async for _ in s:
                    pass
            pytest.fail(f"accepted: text={s.response.text!r}, finish={s.response.finish_reason!r}")
        assert "malformed response" in str(caught.value)
    # retried as a non-streamed call's is: nothing had reached the caller
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    served.clear()  # the next request is served the lone ending again
    async with client(providers, retry=retry) as c, c.stream(model, "hi there", max_tokens=20) as s:
        async for _ in s:
            pass
    assert (s.response.text, len(served)) == ("echo: hi there", 2)


# -- the other operations: listings, token counts, speech ----------------------------


def serve_first(
    mock: VendorMock, body: bytes, content_type: str = "application/json"
) -> list[Request]:
    """Answer ``mock``'s next request with ``body`` (status 200), the later ones as it
    would; the requests served, as they come."""
    served: list[Request] = []

    async def rewrite(request: Request, response: Response) -> Response:
        served.append(request)
        if len(served) == 1:
            return Response(200, {"content-type": content_type}, body)
        return response

    mock.rewrite = rewrite
    return served


@pytest.mark.anyio
async def test_a_model_listing_without_its_list_is_an_error_and_not_cached(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    provider = model.split("/", 1)[0]
    serve_first(mock, b"{}")
    async with client(providers) as c:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            listed = await c.models(provider)
            pytest.fail(f"{{}} listed as {len(listed)} models")
        assert "malformed response" in str(caught.value)
        assert await c.models(provider)  # asked again: no empty list was cached


@pytest.mark.anyio
async def test_a_model_listing_that_is_an_error_object_is_that_error(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    serve_first(mock, json.dumps(RATE_LIMITED_200).encode())
    async with client(providers) as c:
        with pytest.raises(relaykit.RateLimitError):
            await c.models(model.split("/", 1)[0])


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["anthropic", "openai"], indirect=True)  # {"data": [...]}
@pytest.mark.parametrize("body", ["{}", "error object"])
async def test_a_batch_listing_without_its_list_is_an_error(
    vendor: tuple[VendorMock, dict[str, Any], str], body: str
) -> None:
    mock, providers, model = vendor
    serve_first(mock, b"{}" if body == "{}" else json.dumps(RATE_LIMITED_200).encode())
    expected = relaykit.ProviderUnavailableError if body == "{}" else relaykit.RateLimitError
    async with client(providers) as c:
        with pytest.raises(expected):
            listed = await c.batches(model.split("/", 1)[0])
            pytest.fail(f"listed as {listed}")


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["anthropic", "gemini", "openai"], indirect=True)
async def test_a_token_count_that_is_an_error_object_is_that_error(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    # Gemini's {} is a count of 0 (Google's JSON leaves a zero out); its error is no count
    mock, providers, model = vendor
    serve_first(mock, json.dumps(RATE_LIMITED_200).encode())
    async with client(providers) as c:
        with pytest.raises(relaykit.RateLimitError):
            counted = await c.count_tokens(model, "hi")
            pytest.fail(f"counted as {counted}")


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["anthropic", "openai"], indirect=True)
async def test_a_token_count_without_its_count_is_a_malformed_response(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    serve_first(mock, b"{}")
    async with client(providers) as c:
        with pytest.raises(relaykit.ProviderUnavailableError, match="input_tokens"):
            await c.count_tokens(model, "hi")


#: a page a captive portal or a proxy's sign-in answers with, status 200
SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>"


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["openai"], indirect=True)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{}", "application/json"), (SIGN_IN_PAGE, "text/html"), (b"", "audio/mpeg")],
    ids=["json", "html", "empty"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["speak", "stream_speech"])
async def test_speech_that_is_no_audio_is_a_malformed_response(
    vendor: tuple[VendorMock, dict[str, Any], str],
    body: bytes,
    content_type: str,
    streamed: bool,
) -> None:
    # On main the page's (or the JSON's) bytes came back as the audio, and an empty
    # body as a successful answer of no audio.
    mock, providers, _ = vendor
    serve_first(mock, body, content_type)
    async with client(providers) as c:
        with pytest.raises(relaykit.ProviderUnavailableError, match="malformed response"):
            if streamed:
                async with c.stream_speech("openai/gpt-4o-mini-tts", "hi", voice="alloy") as s:
                    chunks = [chunk async for chunk in s]
                pytest.fail(f"{len(b''.join(chunks))} bytes streamed as audio")
            else:
                spoken = await c.speak("openai/gpt-4o-mini-tts", "hi", voice="alloy")
                pytest.fail(f"{len(spoken.audio)} bytes of {spoken.media_type} taken as audio")


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["openai"], indirect=True)
async def test_speech_that_is_an_error_object_is_that_error(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, _ = vendor
    serve_first(mock, json.dumps(RATE_LIMITED_200).encode())
    async with client(providers) as c:
        with pytest.raises(relaykit.RateLimitError):
            await c.speak("openai/gpt-4o-mini-tts", "hi", voice="alloy")


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["openai"], indirect=True)
async def test_moderation_that_is_an_error_object_is_that_error(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    # On main: a RelayError "the moderation response could not be read (KeyError)"
    mock, providers, _ = vendor
    serve_first(mock, json.dumps(RATE_LIMITED_200).encode())
    async with client(providers) as c:
        with pytest.raises(relaykit.RateLimitError, match="Rate limit reached"):
            await c.moderate("openai/omni-moderation-latest", ["hi", "there"])
