"""A loopback server speaking OpenAI's Chat Completions and Responses wire formats.

Follows the public API reference: ``chat.completion`` objects, SSE streams of
``chat.completion.chunk`` objects ending in ``data: [DONE]``, a refusal in
``message.refusal`` / ``delta.refusal`` (content null, finish ``stop``), the usage chunk
with empty ``choices`` when ``stream_options.include_usage`` is set, tool-call
argument fragments, ``{"error": {...}}`` bodies, and ``GET /v1/models``. The
Responses API (``POST /v1/responses``) is rendered by :mod:`.openai_responses`;
models OpenAI serves only there are refused on ``/v1/chat/completions``, with
OpenAI's message. ``file`` content parts are checked as Chat Completions does
(PDF data only, in user messages; see :mod:`.openai_responses` for files) and
count input tokens. The echo repeats the user's words, not the files they
attached: a text part that is one ``<document name="...">`` element (how a
client quotes a text file, which Chat Completions takes only as text) counts
as input but is not echoed. Embeddings (``POST /v1/embeddings``) are checked
and rendered by :mod:`.openai_embeddings`; the compatible services' rerank
(``POST /v1/rerank``, which OpenAI itself does not serve) by :mod:`.openai_rerank`;
speech to text (``POST /v1/audio/transcriptions``, a multipart form, its
transcript streamed as server-sent events for ``stream=true``) by
:mod:`.openai_transcriptions`; image generation (``POST /v1/images/generations``;
edits, ``POST /v1/images/edits``, a multipart form, or xAI's JSON for a ``grok-*``
model; and the images it answers
as URLs, ``GET /v1/mock-images/ID.png``) by :mod:`.openai_images`; text to
speech (``POST /v1/audio/speech``, answered with the audio's bytes, chunked, or
as server-sent events) by :mod:`.openai_speech`; moderation (``POST
/v1/moderations``, in Mistral's shape for a ``mistral-moderation-*`` model) by
:mod:`.openai_moderations`; the Batch API (``/v1/files``, ``/v1/batches``) by
:mod:`.openai_batches`; web search in both APIs (the Responses tool, Chat
Completions' ``web_search_options`` for the search models, OpenRouter's server
tool; citations as ``url_citation`` annotations) by :mod:`.openai_web_search`.

A chat request of the wrong shape (a message that is no object, a tool without its
function, a ``max_tokens`` that is text, a field OpenAI does not know) is refused
first, with a 400 in OpenAI's words, by :mod:`.openai_chat_shapes`; a Responses
API request of the wrong shape (an assistant message with ``input_text``, a tool
nested as Chat Completions nests it, a ``max_output_tokens`` below 16) by
:mod:`.openai_responses_shapes`. OpenAI's reasoning models refuse sampling other
than their own (a ``temperature`` or ``top_p`` but 1, penalties, log
probabilities, Chat Completions' ``max_tokens``) in both APIs, in OpenAI's words:
:mod:`.openai_sampling`.

Tool messages must answer the calls of the assistant message they follow, each
call answered: OpenAI refuses them otherwise, and so does the mock, in its words.
For Mistral's models the last message must be a user or tool message, or an
assistant message with ``"prefix": true`` (a prefill, which the answer starts
with, as Mistral's answers do): the mock refuses any other in Mistral's words.
So are a response format's or function's name outside ``^[a-zA-Z0-9_-]{1,64}$``
and a strict schema that breaks the strict rules (both APIs).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from . import (
    openai_batches,
    openai_chat_shapes,
    openai_embeddings,
    openai_images,
    openai_moderations,
    openai_rerank,
    openai_responses,
    openai_sampling,
    openai_speech,
    openai_transcriptions,
    openai_web_search,
)
from .loopback import Drop, Pause, Request, Reset, Response
from .script import Reply
from .vendor_mock import VendorMock, scripted_fault

if TYPE_CHECKING:
    import ssl

    from ..request import Reasoning

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini")


class OpenAIMock(VendorMock):
    """OpenAI at ``base_url`` (``http://127.0.0.1:PORT/v1``; ``https://`` with ``tls``).

    ``responses_failure`` is the event a Responses stream with
    ``stream_fault="error"`` fails with: ``"error"`` or ``"response.failed"``; a
    non-streamed Responses call with it answers a ``failed`` response. Either
    carries ``Reply.error_code`` as the error's ``code`` (``"server_error"`` by
    default; the API's others: ``"rate_limit_exceeded"``, ``"invalid_prompt"``, ...).
    A Chat Completions stream's ``{"error"}`` chunk is a ``server_error`` without
    one, and with one carries it as its ``code`` (a ``rate_limit_exceeded`` of type
    ``tokens``, any other of type ``invalid_request_error``).
    """

    base_path = "/v1"
    responses_failure: Literal["error", "response.failed"] = "error"
    #: the largest body ``/v1/audio/transcriptions`` takes (OpenAI's: 25 MiB); a
    #: test standing in for another service sets its own
    max_transcription_body: int = openai_transcriptions.MAX_BODY
    #: the bytes of audio in each chunk (or ``speech.audio.delta`` event) of
    #: ``/v1/audio/speech``'s answer
    speech_chunk: int = 4096
    #: Chat Completions usage as xAI reports it: ``completion_tokens`` without the
    #: reasoning tokens, which ``total_tokens`` counts beside them (OpenAI's
    #: ``completion_tokens`` includes them)
    reasoning_apart: bool = False

    def __init__(
        self,
        api_key: str | None = None,
        models: tuple[str, ...] = MODELS,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(api_key, tls=tls)
        self.models = models
        self._n = 0
        #: images answered as URLs, by id, until the mock stops
        self.images: dict[str, bytes] = {}
        #: the Batch API's files and batches (:mod:`.openai_batches`)
        self.batches = openai_batches.OpenAIBatches()

    async def route(self, request: Request) -> Response:
        """Dispatch by path; check the bearer key first, as OpenAI does (but not for an
        image's URL, which is signed instead, as OpenAI's blob URLs are)."""
        if request.method == "GET" and request.path.startswith("/v1/mock-images/"):
            return self._image_file(request.path)
        if (
            self.api_key is not None
            and request.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if request.method == "GET" and request.path == "/v1/models":
            return Response.json(
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
                        for m in self.models
                    ],
                }
            )
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return await self._chat(_json_or_none(request))
        if request.method == "POST" and request.path == "/v1/responses":
            return await self._responses(_json_or_none(request))
        if request.method == "POST" and request.path == "/v1/responses/input_tokens":
            return self._input_tokens(_json_or_none(request))
        if request.method == "POST" and request.path == "/v1/embeddings":
            return await self._embeddings(_json_or_none(request))
        if request.method == "POST" and request.path == "/v1/rerank":
            return await self._rerank(_json_or_none(request))
        if request.method == "POST" and request.path == "/v1/audio/transcriptions":
            return await self._transcriptions(request)
        if request.method == "POST" and request.path == "/v1/images/generations":
            return await self._images(request)
        if request.method == "POST" and request.path == "/v1/images/edits":
            return await self._image_edits(request)
        if request.method == "POST" and request.path == "/v1/audio/speech":
            return await self._speech(request)
        if request.method == "POST" and request.path == "/v1/moderations":
            return await self._moderations(request)
        if request.path.startswith(("/v1/files", "/v1/batches")):
            return await self._batch_endpoint(request)
        return _error(
            404,
            f"Unknown request URL: {request.method} {request.path}.",
            "invalid_request_error",
            "unknown_url",
        )

    async def _chat(self, body: Any) -> Response:
        try:
            # first: the checks after it read the body with plain lookups
            openai_chat_shapes.check_chat_shape(body)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, e.kind, e.code, param=e.param)
        if openai_responses.responses_only(str(body.get("model"))):
            return _error(
                404,
                openai_responses.ONLY_IN_RESPONSES,
                "invalid_request_error",
                None,
                param="model",
            )
        prefix = ""  # a Mistral prefill, which the answer starts with
        try:
            files = _file_tokens(body.get("messages"))
            mistral = _MISTRAL.match(str(body.get("model"))) is not None
            _check_tool_messages(body.get("messages"), mistral)
            if mistral:
                _check_mistral_ids(body.get("messages"))
                _check_mistral_order(body.get("messages"))
                prefix = _mistral_prefix(body.get("messages"))
            _check_reasoning(body)
            openai_sampling.check_sampling(body, "chat")
            _check_schemas(body)
            openai_web_search.validate_chat(body)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, e.kind, e.code, param=e.param)
        prompt = " ".join(_text(m.get("content")) for m in body.get("messages", []))
        last_user = next(
            (
                _text(m.get("content"), said=True)
                for m in reversed(body.get("messages", []))
                if m.get("role") == "user"
            ),
            "",
        )
        reply, failed = await self._next_reply(self.default_reply(last_user))
        if failed is not None:
            return failed
        if prefix:
            # Mistral's answer repeats the prefix it continues (its prefix guide).
            reply = attrs.evolve(reply, text=prefix + reply.text)
        self._n += 1
        rid = f"chatcmpl-mock{self._n:06d}"
        model = body.get("model", "gpt-4o-mini")
        inp, out = self.usage_of(reply, prompt)
        if reply.input_tokens is None:
            inp += files
        if self.reasoning_apart:
            out -= reply.reasoning_tokens
        usage = {
            "prompt_tokens": inp,
            "completion_tokens": out,
            "total_tokens": inp + out + (reply.reasoning_tokens if self.reasoning_apart else 0),
            "prompt_tokens_details": {
                "cached_tokens": reply.cached_input_tokens,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": reply.reasoning_tokens,
                "audio_tokens": 0,
            },
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return Response(
                200,
                {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
                self._chunks(
                    reply, rid, model, usage if include_usage and reply.usage else None, body
                ),
            )
        calls = [
            {
                "id": f"call_{i}_{self._n}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text or None,
            "refusal": reply.refusal or None,
        }
        if reply.reasoning:  # DeepSeek, vLLM and other compatibles send reasoning here
            message["reasoning_content"] = reply.reasoning
        if reply.citations:
            message["annotations"] = openai_web_search.chat_annotations(reply)
        if reply.future_events:
            message.update(FUTURE_FIELD)
        if calls:
            message["tool_calls"] = calls
        return Response.json(
            {
                "id": rid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": _logprobs(body, reply.text) if body.get("logprobs") else None,
                        "finish_reason": reply.vendor_finish or reply.finish_reason,
                    }
                ],
                **({"usage": usage} if reply.usage else {}),
                "system_fingerprint": "fp_mock",
            },
            headers=dict(reply.headers),
        )

    def _input_tokens(self, body: Any) -> Response:
        """``{"object": "response.input_tokens", "input_tokens": N}``: the prompt's words."""
        try:
            count = openai_responses.count_input_tokens(body)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, "invalid_request_error", e.code, param=e.param)
        return Response.json({"object": "response.input_tokens", "input_tokens": count})

    async def _embeddings(self, body: Any) -> Response:
        """One vector per text (:mod:`.openai_embeddings`); the script's next reply
        may fail the request, delay it, or set its ``input_tokens``."""
        try:
            texts = openai_embeddings.validate(body)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, e.kind, e.code, param=e.param)
        reply, failed = await self._next_reply(Reply())
        if failed is not None:
            return failed
        return Response.json(
            openai_embeddings.render(body, texts, reply), headers=dict(reply.headers)
        )

    async def _rerank(self, body: Any) -> Response:
        """The documents ranked best first (:mod:`.openai_rerank`); the script's next
        reply may fail the request, delay it, or set its ``input_tokens``."""
        try:
            query, documents = openai_rerank.validate(body)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, "invalid_request_error", None, param=e.param)
        reply, failed = await self._next_reply(Reply())
        if failed is not None:
            return failed
        self._n += 1
        return Response.json(
            openai_rerank.render(body, query, documents, self._n, reply),
            headers=dict(reply.headers),
        )

    async def _transcriptions(self, request: Request) -> Response:
        """The text heard in the uploaded audio (:mod:`.openai_transcriptions`); the
        script's next reply may fail the request, delay it, set its text or its
        token counts."""
        try:
            fields, file = openai_transcriptions.validate(request, self.max_transcription_body)
        except openai_responses.Refusal as e:
            kind = "server_error" if e.status >= 500 or e.status == 413 else "invalid_request_error"
            return _error(e.status, e.message, kind, None, param=e.param)
        reply, failed = await self._next_reply(Reply())
        if failed is not None:
            return failed
        headers = self._numbered(reply)
        if openai_transcriptions.streams(fields):
            events = openai_transcriptions.sse_events(fields, file, reply)
            return Response(200, {**_SSE, **headers}, events)
        kind, body = openai_transcriptions.render(fields, file, reply)
        if kind == "text":
            headers["content-type"] = "text/plain; charset=utf-8"
            return Response(200, headers, body.encode())
        return Response.json(body, headers=headers)

    async def _images(self, request: Request) -> Response:
        """The images drawn from the prompt (:mod:`.openai_images`); the script's next
        reply may fail the request, delay it, set the revised prompt or the token
        counts."""
        body = _json_or_none(request)
        try:
            model = openai_images.validate(body)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, "invalid_request_error", e.code, param=e.param)
        reply, failed = await self._next_reply(Reply())
        if failed is not None:
            return failed
        headers = self._numbered(reply)
        answer = openai_images.render(body, model, reply, self.images, self.base_url)
        return Response.json(answer, headers=headers)

    async def _image_edits(self, request: Request) -> Response:
        """The images edited (:mod:`.openai_images`: the form is parsed and checked);
        the script's next reply may fail the request, delay it, set the revised prompt
        or the token counts."""
        images: Sequence[object]
        try:
            if openai_images.edit_model(request).startswith("grok"):
                body, images, model = openai_images.validate_xai_edit(request)
            else:
                body, images, model = openai_images.validate_edit(request)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, "invalid_request_error", e.code, param=e.param)
        reply, failed = await self._next_reply(Reply())
        if failed is not None:
            return failed
        headers = self._numbered(reply)
        answer = openai_images.render_edit(body, images, model, reply, self.images, self.base_url)
        return Response.json(answer, headers=headers)

    async def _speech(self, request: Request) -> Response:
        """The text spoken (:mod:`.openai_speech`): the audio's bytes, not JSON; the
        script's next reply may fail the request or delay it."""
        sent = _json_or_none(request)
        try:
            body = openai_speech.validate(sent)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, "invalid_request_error", e.code, param=e.param)
        reply, failed = await self._next_reply(Reply())
        if failed is not None:
            return failed
        headers = self._numbered(reply)
        media_type, audio = openai_speech.render(body)
        size = self.speech_chunk
        if body.get("stream_format") == "sse":
            events = openai_speech.sse_events(body, audio, reply, size)
            return Response(200, {**_SSE, **headers}, events)
        # OpenAI sends the audio as it is generated, chunked, whatever the model.
        chunks = openai_speech.audio_chunks(audio, reply, size)
        return Response(200, {"content-type": media_type, **headers}, chunks)

    async def _moderations(self, request: Request) -> Response:
        """Each text judged (:mod:`.openai_moderations`); the script's next reply may fail
        the request or delay it."""
        sent = _json_or_none(request)
        try:
            model, texts = openai_moderations.validate(sent)
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, "invalid_request_error", e.code, param=e.param)
        reply, failed = await self._next_reply(Reply())
        if failed is not None:
            return failed
        headers = self._numbered(reply)
        return Response.json(openai_moderations.render(model, texts, self._n), headers=headers)

    async def _batch_endpoint(self, request: Request) -> Response:
        """The Batch API and the files it reads and writes (:mod:`.openai_batches`);
        ``batch_script``'s next reply may fail the request, delay it, or lose its
        answer after acting on it (``answer_lost``)."""
        return await self.batch_answer(lambda: self._batch_answer(request), _scripted_error)

    async def _batch_answer(self, request: Request) -> Response:
        batches = self.batches
        batches.hold = self.hold_batches
        method, parts = request.method, request.path.strip("/").split("/")[1:]
        if method == "GET" and parts == ["batches"]:
            return batches.list(request.query)
        if method == "POST" and parts == ["files"]:
            return batches.upload(request)
        if method == "DELETE" and len(parts) == 2 and parts[0] == "files":
            return batches.delete(parts[1])
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            return batches.content(parts[1])
        if method == "POST" and parts == ["batches"]:
            body = _json_or_none(request)
            return batches.create(body)
        if method == "GET" and len(parts) == 2 and parts[0] == "batches":
            return await batches.get(parts[1], self._batch_item)
        if method == "POST" and len(parts) == 3 and parts[::2] == ["batches", "cancel"]:
            return batches.cancel(parts[1])
        return _error(
            404,
            f"Unknown request URL: {request.method} {request.path}.",
            "invalid_request_error",
            "unknown_url",
        )

    async def _next_reply(self, default: Reply) -> tuple[Reply, Response | None]:
        """The script's next reply (``default`` when it has none left), and what its
        fault answers instead, after its delay (``None``: answer it)."""
        reply = self.script.next(default)
        return reply, await scripted_fault(reply, _scripted_error)

    def _numbered(self, reply: Reply) -> dict[str, str]:
        """The headers of the next answer: ``reply``'s, after an ``x-request-id``
        numbered as the mock's answers are."""
        self._n += 1
        return {"x-request-id": f"req_mock{self._n:06d}", **reply.headers}

    async def _batch_item(self, endpoint: str, body: dict[str, Any]) -> Response:
        """One item of a batch, answered as its endpoint answers a single call."""
        if endpoint == "/v1/responses":
            return await self._responses(body)
        return await self._chat(body)

    def _image_file(self, path: str) -> Response:
        """An image the mock answered as a URL (its query, the signature, is not checked)."""
        ident = path.removeprefix("/v1/mock-images/").removesuffix(".png")
        data = self.images.get(ident)
        if data is None:
            return Response(404, {"content-type": "text/plain"}, b"no such image")
        return Response(200, {"content-type": "image/png"}, data)

    def sent_reasoning(self, request: Request) -> Reasoning | None:
        """``reasoning_effort``, or the ``reasoning`` object of the Responses API or
        OpenRouter; ``None`` without either (the models' default effort)."""
        return openai_responses.sent_reasoning(request.json())

    async def _responses(self, body: Any) -> Response:
        try:
            openai_responses.validate(body)
            for i, tool in enumerate(body.get("tools") or ()):
                if tool["type"] in openai_web_search.TOOL_TYPES:
                    openai_web_search.validate_tool(tool, f"tools[{i}]")
        except openai_responses.Refusal as e:
            return _error(e.status, e.message, "invalid_request_error", e.code, param=e.param)
        prompt, last_user = openai_responses.prompt_text(body["input"])
        reply, failed = await self._next_reply(self.default_reply(last_user))
        if failed is not None:
            return failed
        self._n += 1
        inp, out = self.usage_of(reply, prompt)
        if reply.input_tokens is None:
            inp += openai_responses.input_file_tokens(body["input"])
        # a search runs only where the request gave the model the tool
        searched = openai_web_search.searches(body)
        rendering = openai_responses.Rendering(
            reply,
            self._n,
            body,
            (inp, out),
            search_calls=openai_web_search.search_calls(reply, self._n, last_user)
            if searched
            else None,
            annotations=openai_web_search.responses_annotations(reply),
        )
        if body.get("stream"):
            return Response(
                200,
                {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
                rendering.events(self.responses_failure),
            )
        if reply.stream_fault == "error":  # the model failed: a failed response
            return Response.json(rendering.failed([]), headers=dict(reply.headers))
        return Response.json(rendering.response(), headers=dict(reply.headers))

    def _chunks(
        self,
        reply: Reply,
        rid: str,
        model: str,
        usage: dict[str, Any] | None,
        body: Any = None,
    ) -> Iterator[bytes | Pause | Drop | Reset]:
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
            data: dict[str, Any] = {
                "id": rid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
                ],
            }
            if usage is not None:
                data["usage"] = None
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        yield chunk({"role": "assistant", "content": "", "refusal": None})
        if reply.future_events:
            yield chunk(dict(FUTURE_FIELD))
        if reply.first_token_delay:
            yield Pause(reply.first_token_delay)
        if reply.reasoning:
            yield chunk({"reasoning_content": reply.reasoning})
        scored = 0  # the tokens scored so far (each token's logprob follows its place)
        for i, piece in enumerate(reply.chunks()):
            if reply.chunk_delay and i:
                yield Pause(reply.chunk_delay)
            if body is not None and body.get("logprobs"):
                # a content chunk carries its own tokens' logprobs, as OpenAI's do
                logprobs = _logprobs(body, piece, scored)
                scored += len(logprobs["content"])
                yield chunk({"content": piece}, logprobs=logprobs)
                continue
            yield chunk({"content": piece})
        if reply.citations:  # after the text they index, in one chunk
            yield chunk({"annotations": openai_web_search.chat_annotations(reply)})
        for i in range(0, len(reply.refusal), 8):  # a refusal streams in its own field
            yield chunk({"refusal": reply.refusal[i : i + 8]})
        for i, (name, args) in enumerate(reply.tool_calls):
            text = json.dumps(args)
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{i}_{self._n}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
            for j in range(0, len(text), 5):
                yield chunk(
                    {"tool_calls": [{"index": i, "function": {"arguments": text[j : j + 5]}}]}
                )
        if reply.stream_fault == "error":
            code = reply.error_code  # a rate limit's type is "tokens" (or "requests")
            kind = "tokens" if code == "rate_limit_exceeded" else "invalid_request_error"
            err = {
                "error": {
                    "message": reply.error
                    or "The server had an error while processing your request.",
                    "type": kind if code else "server_error",
                    "param": None,
                    "code": code,
                }
            }
            yield b"data: " + json.dumps(err).encode() + b"\n\n"
            return
        if reply.stream_fault == "drop":
            yield Drop()
            return
        if reply.stream_fault == "reset":
            yield Reset()
            return
        if reply.stream_fault == "truncate":
            return
        if reply.stream_fault == "garbage":
            yield b"data: {this is not json\n\n"
            return
        yield chunk({}, reply.vendor_finish or reply.finish_reason)
        if usage is not None:
            final = {
                "id": rid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [],
                "usage": usage,
            }
            yield b"data: " + json.dumps(final).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"


#: a message (and delta) field of a kind the API may add (``Reply.future_events``)
FUTURE_FIELD = {"future_field": {"detail": "a field of a kind added later"}}
_SSE = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
#: a text part that quotes a whole text file (see the module's docstring)
_QUOTED_FILE = re.compile(r'<document name="[^"]*">\n.*\n</document>', re.DOTALL)


def _text(content: Any, *, said: bool = False) -> str:
    """The text of a message's content; ``said``: without quoted files."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"]
            for p in content
            if isinstance(p, dict)
            and p.get("type") == "text"
            and not (said and _QUOTED_FILE.fullmatch(str(p.get("text"))))
        )
    return ""


def _file_tokens(messages: Any) -> int:
    """Input tokens of the ``file`` parts in ``messages``, checked as Chat
    Completions checks them (:class:`~.openai_responses.Refusal` otherwise)."""
    tokens = 0
    for i, m in enumerate(messages if isinstance(messages, list) else ()):
        content = m.get("content") if isinstance(m, dict) else None
        for j, part in enumerate(content if isinstance(content, list) else ()):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "image_url" and m.get("role") != "user":
                # OpenAI's words (openai-node#1030, OpenHands#7700)
                raise openai_responses.Refusal(
                    f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with "
                    f"role 'user', but this message with role '{m.get('role')}' contains an "
                    "image URL.",
                    f"messages[{i}]",
                )
            if kind == "file":
                tokens += _file_part_tokens(part, m.get("role"), f"messages[{i}].content[{j}]")
    return tokens


def _check_tool_messages(messages: Any, mistral: bool = False) -> None:
    """Refuse tool messages that answer no call, and calls left unanswered, in OpenAI's
    words (as reported: litellm#10083, agno#3105): the tool messages right after an
    assistant message with ``tool_calls`` answer each of its calls. ``mistral``: calls
    left unanswered are refused in Mistral's words."""
    asked: set[Any] = set()  # the calls of the assistant message the tool messages follow
    pending: list[Any] = []  # those not answered yet
    answered: dict[Any, int] = {}  # a call answered -> the index of its tool message
    for i, m in enumerate(messages if isinstance(messages, list) else ()):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "tool":
            call_id = m.get("tool_call_id")
            if call_id not in asked:
                raise openai_responses.Refusal(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            if call_id in answered:
                # OpenAI's words for a call answered twice (agno#5116; search2ai#30, Azure)
                raise openai_responses.Refusal(
                    f"Invalid parameter: Duplicate value for 'tool_call_id' of '{call_id}' in"
                    f" messages[{answered[call_id]}] and messages[{i}].",
                    f"messages.[{i}].tool_call_id",
                )
            answered[call_id] = i
            if call_id in pending:
                pending.remove(call_id)
            continue
        _unanswered(pending, i, mistral)
        calls = m.get("tool_calls") if role == "assistant" else None
        pending = [c.get("id") for c in calls if isinstance(c, dict)] if calls else []
        _one_id_each(pending, i)
        asked = set(pending)
        answered = {}
    _unanswered(pending, len(messages), mistral)


def _one_id_each(ids: list[Any], at: int) -> None:
    """Refuse two calls of one assistant message sharing an id, in DeepSeek's words
    (pi#6796 and agent-native#2312 quote them): its results could not be told apart.
    A later message using an id again is taken: Kimi K2 on Fireworks and vLLM number
    ids per answer (fireconnect#16, open-webui#28570) and their own APIs take that."""
    seen: set[Any] = set()
    for call_id in ids:
        if call_id in seen:
            raise openai_responses.Refusal(
                f"Duplicate value for 'tool_call_id' of {call_id} in message[{at}]",
                f"messages.[{at}].tool_calls",
            )
        seen.add(call_id)


#: Mistral's chat models, which take tool call ids of nine letters or digits only
_MISTRAL = re.compile(r"(mistral|magistral|devstral|codestral|ministral|pixtral)-")
_MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")


def _check_mistral_ids(messages: Any) -> None:
    """Refuse a tool call id Mistral refuses, in its words (langchain#24668)."""
    for m in messages if isinstance(messages, list) else ():
        ids = [c.get("id") for c in m.get("tool_calls") or () if isinstance(c, dict)]
        if m.get("role") == "tool":
            ids.append(m.get("tool_call_id"))
        for call_id in ids:
            if not _MISTRAL_ID.fullmatch(str(call_id)):
                raise openai_responses.Refusal(
                    f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9."
                )


def _check_mistral_order(messages: Any) -> None:
    """Refuse a user message right after a tool result, as Mistral does (its 400,
    type ``invalid_request_message_order``: litellm#17761, zed#37021): it wants an
    assistant turn between them, which OpenAI does not."""
    if not isinstance(messages, list):
        return
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    for before, role in itertools.pairwise(roles):
        if before == "tool" and role == "user":
            raise openai_responses.Refusal(
                "Unexpected role 'user' after role 'tool'",
                code="3230",
                kind="invalid_request_message_order",
            )


def _mistral_prefix(messages: Any) -> str:
    """The prefix a Mistral request's last message gives its answer ("" for none);
    a last message Mistral does not serve is refused in its words (rig#708)."""
    last = messages[-1] if isinstance(messages, list) and messages else {}
    role = last.get("role") if isinstance(last, dict) else None
    if role in ("user", "tool"):
        return ""
    if role == "assistant" and last.get("prefix") is True:
        content = last.get("content")
        return content if isinstance(content, str) else _text(content)
    raise openai_responses.Refusal(
        "Expected last role User or Tool (or Assistant with prefix True) for serving "
        f"but got {role}"
    )


def _unanswered(pending: list[Any], at: int, mistral: bool = False) -> None:
    if pending and mistral:
        # Mistral's words for it (mistralai/client-ts#106, camel#1467).
        raise openai_responses.Refusal("Not the same number of function calls and responses")
    if pending:
        raise openai_responses.Refusal(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(map(str, pending))}",
            f"messages.[{at}].role",
        )


def _not_for(role: Any, kind: str, at: str) -> None:
    """Refuse a part ``role``'s messages do not take: system, assistant and tool
    messages hold text (and an assistant's a refusal), not images or files."""
    supported = ("text", "refusal") if role == "assistant" else ("text",)
    raise openai_responses._invalid(kind, f"{at}.type", supported)


def _file_part_tokens(part: dict[str, Any], role: Any, at: str) -> int:
    if role != "user":
        _not_for(role, "file", at)
    file = part.get("file")
    if not isinstance(file, dict) or not (file.get("file_data") or file.get("file_id")):
        raise openai_responses.Refusal(f"Missing required parameter: '{at}.file'.", f"{at}.file")
    if file.get("file_id"):
        raise openai_responses.no_such_file(file["file_id"], f"{at}.file.file_id")
    media_type, raw = openai_responses.file_data(
        file["file_data"], f"{at}.file.file_data", pdf_only=True
    )
    return openai_responses.document_tokens(media_type, raw)


def _check_schemas(body: dict[str, Any]) -> None:
    """Refuse names and strict schemas as Chat Completions does (see
    :func:`.openai_responses.check_format_schema`); a function is strict only when
    it says so here."""
    for i, tool in enumerate(body.get("tools") or ()):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict):
            openai_responses.check_function_schema(fn, f"tools[{i}].function", strict_default=False)
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        js = rf.get("json_schema")
        if isinstance(js, dict):
            openai_responses.check_format_schema(js, "response_format.json_schema")


def _check_reasoning(body: dict[str, Any]) -> None:
    """Refuse ``reasoning_effort``, or OpenRouter's ``reasoning`` object, as the
    services do: an unknown effort, or one sent to a model that does not reason."""
    model = str(body.get("model"))
    openai_responses.check_effort(body.get("reasoning_effort"), "reasoning_effort", model)
    obj = body.get("reasoning")
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise openai_responses.Refusal("'reasoning' must be an object.", "reasoning")
    if "effort" in obj and "max_tokens" in obj:
        raise openai_responses.Refusal(
            "Only one of 'reasoning.effort' and 'reasoning.max_tokens' may be set.", "reasoning"
        )
    openai_responses.check_effort(obj.get("effort"), "reasoning.effort", model)
    budget = obj.get("max_tokens")
    if budget is not None and (not isinstance(budget, int) or budget < 1):
        raise openai_responses.Refusal(
            "'reasoning.max_tokens' must be a positive integer.", "reasoning.max_tokens"
        )


def _error_type(status: int) -> str:
    return {401: "invalid_request_error", 429: "requests", 404: "invalid_request_error"}.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )


def _error(
    status: int,
    message: str,
    type_: str,
    code: str | None,
    headers: dict[str, str] | None = None,
    *,
    param: str | None = None,
) -> Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response.json(body, status, headers)


def _json_or_none(request: Request) -> Any:
    """The request's body parsed as JSON; ``None`` when it is not JSON (the endpoint's
    check then refuses it as OpenAI does)."""
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _scripted_error(reply: Reply) -> Response:
    """A scripted failure's status and message as OpenAI's error, with its retry-after."""
    headers = dict(reply.headers)
    if reply.retry_after is not None:
        headers["retry-after"] = f"{reply.retry_after:g}"
    return _error(reply.status, reply.error, _error_type(reply.status), reply.error_code, headers)


def _logprobs(body: Any, text: str, start: int = 0) -> dict[str, Any]:
    """Chat Completions' ``choice.logprobs`` for ``text``: a token a word (its space
    after it kept, as OpenAI's tokens keep theirs; a streamed chunk's text split the
    same way), the i-th at ``-0.25 * i`` (counted from ``start``), each with
    ``top_logprobs`` alternatives (itself first, then ``alt1``, ...)."""
    top = body.get("top_logprobs") or 0
    words = re.findall(r"\s*\S+\s*|\s+", text)

    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    content = []
    for i, word in enumerate(words, start):
        alternatives = [entry(word, -0.25 * i)]
        alternatives += [entry(f"alt{k}", -0.25 * i - k) for k in range(1, top)]
        content.append({**entry(word, -0.25 * i), "top_logprobs": alternatives[:top]})
    return {"content": content, "refusal": None}
