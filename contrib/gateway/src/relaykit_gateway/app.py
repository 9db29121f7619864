"""The gateway itself: an ASGI app that serves vendor APIs over one relaykit Client.

Every call goes through the client, so whatever the client is configured
with (routes, fallbacks, retries, limits, budgets, caching, redaction, logs,
traces and metrics) applies to the gateway's callers too. The app does no
I/O of its own beyond its ASGI messages and uses anyio only: any ASGI server
runs it, under asyncio or trio.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
import attrs
from opentelemetry import context as otel_context
from opentelemetry import propagate

from relaykit import (
    Batch,
    BatchItem,
    ChatResponse,
    Client,
    EmbeddingResponse,
    ImageResponse,
    InvalidRequestError,
    ModerationResponse,
    RelayError,
    RerankResponse,
    SpeechResponse,
    TranscriptionResponse,
)
from relaykit.json_encode import dumps
from relaykit.secrets import scrub

from .anthropic_batches import (
    BATCHES,
    batch_body,
    gateway_id,
    parse_batch,
    relaykit_id,
    result_line,
)
from .anthropic_dialect import AnthropicDialect
from .cohere_rerank import parse_rerank, rerank_body
from .cors import CORS_ENV, CorsPolicy
from .dialect import Dialect, GatewayCall, retry_after, status_of
from .keys import GatewayKeys
from .openai_dialect import OpenAIDialect
from .openai_embeddings import embeddings_body, parse_embeddings
from .openai_images import images_body, parse_image_edit, parse_image_generation
from .openai_moderations import moderation_body, parse_moderation
from .openai_speech import delta_event as audio_delta
from .openai_speech import done_event as audio_done
from .openai_speech import parse_speech
from .openai_transcriptions import delta_event as transcript_delta
from .openai_transcriptions import done_event as transcript_done
from .openai_transcriptions import parse_transcription, transcription_body
from .response_store import ResponseStore
from .responses_dialect import ResponsesDialect

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")
#: what a call answers: its cost and served model go out in headers
_Answer = (
    ChatResponse
    | EmbeddingResponse
    | RerankResponse
    | TranscriptionResponse
    | ImageResponse
    | SpeechResponse
    | ModerationResponse
)
A = TypeVar("A", bound=_Answer)

logger = logging.getLogger("relaykit.gateway")

#: the longest caller request id kept as a call's correlation id
_MAX_ID_CHARS = 128
#: the largest request body taken (images arrive as base64 inside it)
MAX_BODY_BYTES = 32 * 1024 * 1024
#: no gateway keys: every caller may call
NO_KEYS = GatewayKeys()
#: no CORS origins: browsers may not call from other pages
NO_CORS = CorsPolicy()
OPENAI = OpenAIDialect()
RESPONSES = ResponsesDialect()
ANTHROPIC = AnthropicDialect()
_ROUTES: dict[str, Dialect] = {
    "/v1/chat/completions": OPENAI,
    "/chat/completions": OPENAI,  # clients configured with a base URL without /v1
    "/v1/responses": RESPONSES,
    "/responses": RESPONSES,
    "/v1/messages": ANTHROPIC,
}
_MODELS = frozenset(("/v1/models", "/models"))
#: the token counters: Anthropic's (Claude Code asks it often, as ``?beta=true``)
#: and the Responses API's
_COUNTERS: dict[str, Dialect] = {
    "/v1/messages/count_tokens": ANTHROPIC,
    "/v1/responses/input_tokens": RESPONSES,
    "/responses/input_tokens": RESPONSES,
}
#: where a kept Responses API response is fetched (GET) or deleted (DELETE)
_KEPT = "/v1/responses/"
_JSON = (b"content-type", b"application/json")
#: how Anthropic serves a batch's results
_JSONL = [
    (b"content-type", b"application/x-jsonl"),
    (b"content-disposition", b'attachment; filename="results.jsonl"'),
]
_EVENT_STREAM = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


class _Problem(Exception):
    """A request the gateway refuses before any call: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _HungUp(Exception):
    """The caller went away before its request had fully arrived."""


class Gateway:
    """An ASGI app serving OpenAI's Chat Completions, Responses, Embeddings, speech to
    text, image generation, text to speech and Moderations APIs, Anthropic's Messages
    API and Cohere's Rerank API.

    ``client`` makes every call; the caller opens and closes it (the gateway
    never does). ``keys``: the gateway keys callers must present; none means
    anyone who can reach the port may call. Routes:

    - ``POST /v1/chat/completions``: OpenAI's Chat Completions, streamed or not;
    - ``POST /v1/responses``: OpenAI's Responses API, streamed or not; a
      response can be continued with ``previous_response_id`` for an hour
      (``responses``, a :class:`~relaykit_gateway.response_store.ResponseStore`,
      keeps them in memory unless the caller says ``store: false``), fetched
      with ``GET /v1/responses/{id}`` and forgotten with ``DELETE``;
    - ``POST /v1/messages``: Anthropic's Messages API, streamed or not;
    - ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
      ``POST .../{id}/cancel`` and ``GET .../{id}/results``: Anthropic's Message
      Batches API, answered by :meth:`relaykit.Client.submit_batch` and its
      siblings with any provider that batches; nothing is kept (see
      :mod:`relaykit_gateway.anthropic_batches`);
    - ``POST /v1/embeddings``: OpenAI's Embeddings API, answered by
      :meth:`relaykit.Client.embed` (see :mod:`relaykit_gateway.openai_embeddings`);
    - ``POST /v1/rerank`` (and ``/v2/rerank``, ``/rerank``): Cohere's Rerank API,
      answered by :meth:`relaykit.Client.rerank` (see :mod:`relaykit_gateway.cohere_rerank`);
    - ``POST /v1/audio/transcriptions``: OpenAI's speech to text (a multipart form
      in; json, verbose_json or text out), answered by :meth:`relaykit.Client.transcribe`
      (see :mod:`relaykit_gateway.openai_transcriptions`);
    - ``POST /v1/images/generations``: OpenAI's image generation (base64 images
      out, with usage where tokens were billed), answered by
      :meth:`relaykit.Client.generate_image` (see :mod:`relaykit_gateway.openai_images`);
    - ``POST /v1/images/edits``: OpenAI's image edits (a multipart form in, the
      same answer out), answered by :meth:`relaykit.Client.edit_image`;
    - ``POST /v1/audio/speech``: OpenAI's text to speech (the audio's bytes out as
      they arrive, or its server-sent events), answered by
      :meth:`relaykit.Client.stream_speech` (see :mod:`relaykit_gateway.openai_speech`);
    - ``POST /v1/moderations``: OpenAI's moderation (text only), answered by
      :meth:`relaykit.Client.moderate` under the judging vendor's category names
      (see :mod:`relaykit_gateway.openai_moderations`);
    - ``POST /v1/messages/count_tokens`` and ``POST /v1/responses/input_tokens``:
      the two APIs' token counters, answered by :meth:`relaykit.Client.count_tokens`
      (an estimate, said by an ``x-relaykit-estimated: true`` header, where the
      provider cannot count);
    - ``GET /v1/models``: the client's models and aliases, in OpenAI's list shape,
      or Anthropic's when the request carries ``anthropic-version``;
    - ``GET /health``: ``{"status": "ok"}``, without a key (503 once :meth:`drain`
      has begun).

    A model without a ``provider/`` prefix goes to ``openai`` on the OpenAI
    routes, ``anthropic`` on the Anthropic one and ``cohere`` on the rerank one,
    unless it names an alias of ``[models]``. Each call's metadata gets
    ``gateway_key``, the name of the key that made it, so call logs tell the
    callers apart, and a caller's ``x-correlation-id`` (or ``x-request-id``)
    header becomes the call's ``correlation_id``. ``cors``: the web page origins
    whose scripts may call from a browser (none by default; see
    :mod:`relaykit_gateway.cors`).
    """

    def __init__(
        self,
        client: Client,
        *,
        keys: GatewayKeys = NO_KEYS,
        max_body_bytes: int = MAX_BODY_BYTES,
        cors: CorsPolicy = NO_CORS,
        responses: ResponseStore | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.max_body_bytes = max_body_bytes
        self.cors = cors
        #: the Responses API answers kept to be continued (``previous_response_id``)
        self.responses = ResponseStore() if responses is None else responses
        # A caller who pastes their key into a prompt does not get it stored.
        for _, key in keys.keys:
            client.mask_secret(key)
        self._in_flight = 0
        self._idle: anyio.Event | None = None
        self._draining = False

    @property
    def in_flight(self) -> int:
        """Requests being answered now."""
        return self._in_flight

    async def drain(self, seconds: float) -> None:
        """Refuse new requests (503) and wait up to ``seconds`` for those in flight.

        Shutting down calls this before the server stops, so that calls in flight
        finish whatever the server does with its connections meanwhile.
        """
        self._draining = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(seconds):
            while self._in_flight:
                self._idle = anyio.Event()
                await self._idle.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not served
        headers = _headers(scope)
        origin = headers.get("origin")
        if origin is not None and self.cors.allows(origin):
            send = _with_headers(send, self.cors.answer(origin))
        if self._draining:  # /health too: a load balancer stops sending here
            body = OPENAI.error_body(503, "the gateway is shutting down; try again elsewhere")
            await _send_json(send, 503, body, [(b"connection", b"close")])
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self._in_flight += 1
        try:
            await self._http(scope, headers, receive, tracked)
        except _HungUp:
            pass  # nobody is left to answer
        except Exception as error:
            # A bug of ours: the operator gets its kind, and its message scrubbed
            # of keys; the caller a 500, if nothing has been sent yet.
            logger.error("gateway error: %s: %s", type(error).__name__, scrub(str(error)))
            if started:
                raise
            body = OPENAI.error_body(500, "the gateway failed; its log says why")
            await _send_json(send, 500, body)
        finally:
            self._in_flight -= 1
            if not self._in_flight and self._idle is not None:
                self._idle.set()

    async def _http(
        self, scope: Scope, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        path = scope["path"]
        dialect = _ROUTES.get(path)
        counter = _COUNTERS.get(path)
        one_call = _ONE_CALLS.get(path)
        batches = path == BATCHES or path.startswith(BATCHES + "/")
        # Anthropic has no embeddings, rerank, audio, image or moderation API: its
        # header does not change their shape; its batches are its own shape always
        anthropic = batches or ("anthropic-version" in headers and one_call is None)
        shape: Dialect = dialect or counter or (ANTHROPIC if anthropic else OPENAI)
        try:
            if path == "/health" and scope["method"] == "GET":
                await _send_json(send, 200, {"status": "ok"})
                return
            if scope["method"] == "OPTIONS" and self.cors:
                await self._preflight(headers, send)
                return
            caller = self._caller(headers)
            if dialect is not None and scope["method"] == "POST":
                body = await self._body(receive, headers)
                await self._call(dialect, body, caller, headers, receive, send)
            elif batches:
                await self._batches(scope, caller, headers, receive, send)
            elif path in _MODELS and scope["method"] == "GET":
                await _send_json(send, 200, await self._models(shape is ANTHROPIC, caller))
            elif path.startswith(_KEPT) and scope["method"] in ("GET", "DELETE"):
                await self._kept_response(scope["method"], path[len(_KEPT) :], caller, send)
            elif counter is not None and scope["method"] == "POST":
                body = await self._body(receive, headers)
                await self._count_tokens(counter, body, caller, send)
            elif one_call is not None and scope["method"] == "POST":
                read = self._bytes if one_call.form else self._body
                await one_call.answer(
                    self, await read(receive, headers), caller, headers, receive, send
                )
            elif dialect or counter or one_call or path in _MODELS or path == "/health":
                raise _Problem(405, f"{scope['method']} is not allowed on {path}")
            else:
                raise _Problem(
                    404,
                    f"no route {path}: the gateway serves POST /v1/chat/completions,"
                    " POST /v1/responses, POST /v1/messages, its Message Batches API"
                    " (/v1/messages/batches), their token counters"
                    " (POST /v1/responses/input_tokens, /v1/messages/count_tokens),"
                    " POST /v1/embeddings, POST /v1/rerank, POST /v1/audio/transcriptions,"
                    " POST /v1/images/generations, POST /v1/images/edits, POST /v1/audio/speech,"
                    " POST /v1/moderations"
                    " and GET /v1/models",
                )
        except _Problem as problem:
            body = shape.error_body(problem.status, problem.message)
            await _send_json(send, problem.status, body)
        except RelayError as error:
            await _send_error(send, shape, error)

    async def _preflight(self, headers: dict[str, str], send: Send) -> None:
        """A browser asking whether its page may call (no key: browsers send none here)."""
        origin = headers.get("origin")
        if origin is None or "access-control-request-method" not in headers:
            raise _Problem(405, "OPTIONS is only a CORS preflight here")
        if not self.cors.allows(origin):
            raise _Problem(403, f"origin {origin} may not call the gateway: add it to {CORS_ENV}")
        # The origin's own headers (CorsPolicy.answer) are added on the way out.
        asked = headers.get("access-control-request-headers", "")
        await send(
            {"type": "http.response.start", "status": 204, "headers": self.cors.preflight(asked)}
        )
        await send({"type": "http.response.body", "body": b""})

    def _caller(self, headers: dict[str, str]) -> str | None:
        """The name of the gateway key the request presents (``None`` without keys)."""
        if not self.keys:
            return None
        presented = headers.get("x-api-key")
        if presented is None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            presented = token.strip() if scheme.lower() == "bearer" else None
        name = self.keys.name_of(presented) if presented else None
        if name is None:
            problem = "is not a gateway key" if presented else "is missing"
            raise _Problem(
                401,
                f"the API key {problem}: send a gateway key as `Authorization: Bearer <key>`"
                " or `x-api-key: <key>`",
            )
        return name

    async def _body(self, receive: Receive, headers: dict[str, str]) -> Any:
        body = await self._bytes(receive, headers)
        try:
            return json.loads(body)
        except ValueError as e:
            raise InvalidRequestError(f"the request body is not JSON: {e}", param="body") from e

    async def _bytes(self, receive: Receive, headers: dict[str, str]) -> bytes:
        """The whole request body, refused (413) past ``max_body_bytes``."""
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            raise _Problem(413, self._too_large())
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _HungUp
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _Problem(413, self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"the request body is larger than the gateway's {self.max_body_bytes} bytes"

    async def _call(
        self,
        dialect: Dialect,
        body: Any,
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        call = self._continued(dialect.parse(body, tuple(self.client.config.models)), caller)
        params = self._params(call, caller, headers)
        await _watched(headers, receive, lambda: self._answer(dialect, call, caller, params, send))

    def _params(self, call: Any, caller: str | None, headers: dict[str, str]) -> dict[str, Any]:
        """A parsed call's params, once its model is checked against the caller's key:
        with the caller's metadata (:func:`_with_caller`)."""
        self._check_model(caller, call.model)
        return _with_caller(call.params, caller, headers)

    # -- the routes answered by one call that is not a chat (see _ONE_CALLS): each
    # -- with the same caller metadata, trace context and hang-up handling as a chat

    async def _embed(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/embeddings``: the texts' vectors, in OpenAI's answer shape."""
        call = parse_embeddings(body, tuple(self.client.config.models))
        params = self._params(call, caller, headers)
        await _answered(
            headers,
            receive,
            send,
            lambda: self.client.embed(call.model, call.inputs, **params),
            _json_reply(send, lambda r: embeddings_body(r, call.model, call.encoding_format)),
        )

    async def _rerank(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/rerank``: the documents ranked best first, in Cohere's answer shape."""
        call = parse_rerank(body, tuple(self.client.config.models))
        params = self._params(call, caller, headers)
        await _answered(
            headers,
            receive,
            send,
            lambda: self.client.rerank(call.model, call.query, call.documents, **params),
            _json_reply(send, lambda r: rerank_body(r, call)),
        )

    async def _transcribe(
        self, body: bytes, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/audio/transcriptions``: the text said in the form's audio, in
        OpenAI's answer shape (its server-sent events when the form asks to stream)."""
        call = parse_transcription(
            body, headers.get("content-type", ""), tuple(self.client.config.models)
        )
        params = self._params(call, caller, headers)
        if call.stream:
            stream = self.client.stream_transcription(call.model, call.audio, **params)
            await _watched(
                headers,
                receive,
                lambda: _streamed(send, stream, _EVENT_STREAM, transcript_delta, transcript_done),
            )
            return

        async def reply(response: TranscriptionResponse) -> None:
            out = transcription_body(response, call.response_format)
            if isinstance(out, str):
                await _send_text(send, out, _answer_headers(response))
            else:
                await _send_json(send, 200, out, _answer_headers(response))

        await _answered(
            headers,
            receive,
            send,
            lambda: self.client.transcribe(call.model, call.audio, **params),
            reply,
        )

    async def _generate_image(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/images/generations``: the images drawn, in OpenAI's answer shape."""
        call = parse_image_generation(body, tuple(self.client.config.models))
        params = self._params(call, caller, headers)
        await _answered(
            headers,
            receive,
            send,
            lambda: self.client.generate_image(call.model, call.prompt, **params),
            _json_reply(send, images_body),
        )

    async def _edit_image(
        self, body: bytes, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/images/edits``: the form's images edited, in OpenAI's answer shape
        (as for generations)."""
        call = parse_image_edit(
            body, headers.get("content-type", ""), tuple(self.client.config.models)
        )
        params = self._params(call, caller, headers)
        await _answered(
            headers,
            receive,
            send,
            lambda: self.client.edit_image(
                call.model, call.prompt, image=list(call.images), mask=call.mask, **params
            ),
            _json_reply(send, images_body),
        )

    async def _speak(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/audio/speech``: the audio's bytes with its content type as they
        arrive, as OpenAI answers (or its server-sent events, when asked for)."""
        call = parse_speech(body, tuple(self.client.config.models))
        params = self._params(call, caller, headers)
        stream = self.client.stream_speech(call.model, call.text, **params)
        if call.sse:
            start, piece, tail = _EVENT_STREAM, audio_delta, audio_done
        else:
            start, piece, tail = [(b"content-type", stream.media_type.encode())], _raw, _no_tail
        await _watched(headers, receive, lambda: _streamed(send, stream, start, piece, tail))

    async def _moderate(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/moderations``: each text's verdict, in OpenAI's answer shape."""
        config = self.client.config
        call = parse_moderation(body, tuple(config.models), config.defaults.moderation_model)
        params = self._params(call, caller, headers)
        await _answered(
            headers,
            receive,
            send,
            lambda: self.client.moderate(call.model, call.inputs, **params),
            _json_reply(send, moderation_body),
        )

    def _continued(self, call: GatewayCall, caller: str | None) -> GatewayCall:
        """``call`` with the conversation of the response it continues, if it names one
        (after its own instructions: a response's instructions are not carried over).
        Only the caller whose response it was may continue it."""
        if call.previous_response_id is None:
            return call
        history = self.responses.get(caller, call.previous_response_id)
        if history is None:
            raise _Problem(
                404,
                f"Previous response with id '{call.previous_response_id}' not found: the"
                " gateway keeps responses in its memory for an hour, so send the whole"
                " conversation in `input` (or reach the gateway process that answered it)",
            )
        k = call.instructions
        return attrs.evolve(call, messages=(*call.messages[:k], *history, *call.messages[k:]))

    def _keep(
        self,
        call: GatewayCall,
        caller: str | None,
        body: dict[str, Any] | None,
        response: ChatResponse,
    ) -> None:
        """Keep an answered Responses API call's conversation and response object, for
        its caller to continue, fetch or delete."""
        if call.store and body is not None:
            conversation = (*call.messages[call.instructions :], response.to_message())
            self.responses.put(caller, body["id"], conversation, body)

    async def _kept_response(
        self, method: str, response_id: str, caller: str | None, send: Send
    ) -> None:
        """``GET`` or ``DELETE /v1/responses/{id}``: a kept response, fetched or forgotten."""
        found = self.responses.response(caller, response_id)
        if found is None:
            raise _Problem(404, f"Response with id '{response_id}' not found.")
        if method == "DELETE":
            self.responses.delete(caller, response_id)
            found = {"id": response_id, "object": "response", "deleted": True}
        await _send_json(send, 200, found)

    # -- Anthropic's Message Batches API, over the client's batch calls (see
    # -- relaykit_gateway.anthropic_batches): nothing kept, each id carries its batch

    async def _batches(
        self,
        scope: Scope,
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """A request below ``/v1/messages/batches``: created, retrieved, cancelled or
        its results read; other methods and paths refused, naming what is served."""
        method, path = scope["method"], scope["path"]
        parts = path[len(BATCHES) :].strip("/").split("/")
        if parts == [""]:
            if method == "POST":
                body = await self._body(receive, headers)
                await self._create_batch(scope, body, caller, headers, receive, send)
                return
            raise _Problem(
                404 if method == "GET" else 405,
                f"{method} {path} is not served: the gateway keeps no list of batches (each"
                f" batch id carries its batch); it serves POST {BATCHES} and, with the id"
                f" that answers, GET {BATCHES}/{{id}}, POST {BATCHES}/{{id}}/cancel and"
                f" GET {BATCHES}/{{id}}/results",
            )
        batch_id = relaykit_id(parts[0])
        if len(parts) > 2:
            raise _Problem(404, f"no route {path}")
        if batch_id is None:
            raise _Problem(404, f"no Message Batch {parts[0]!r}: use an id this gateway gave")
        action = (method, parts[1] if len(parts) > 1 else "")
        if action == ("GET", ""):
            fetch = self.client.batch
        elif action == ("POST", "cancel"):
            fetch = self.client.cancel_batch
        elif action == ("GET", "results"):
            await _watched(headers, receive, lambda: _send_results(send, self.client, batch_id))
            return
        elif action == ("DELETE", ""):
            raise _Problem(
                405,
                "deleting a batch is not served: the gateway keeps none; the batch and"
                " its results are kept (and expired) by the vendor that ran it",
            )
        elif action[1] in ("", "cancel", "results"):
            raise _Problem(405, f"{method} is not allowed on {path}")
        else:
            raise _Problem(404, f"no route {path}")

        await _answered(
            headers,
            receive,
            send,
            lambda: fetch(batch_id),
            _batch_reply(scope, headers, send),
            ANTHROPIC,
        )

    async def _create_batch(
        self,
        scope: Scope,
        body: Any,
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """``POST /v1/messages/batches``: the requests submitted as one relaykit batch to
        the one model they name (the caller's key must be allowed it)."""
        model, calls = parse_batch(body, tuple(self.client.config.models), ANTHROPIC)
        self._check_model(caller, model)
        # each item's metadata as a call's: the caller's key and request id
        items = [
            BatchItem(i, c.messages, _with_caller(c.params, caller, headers)) for i, c in calls
        ]

        await _answered(
            headers,
            receive,
            send,
            lambda: self.client.submit_batch(model, items),
            _batch_reply(scope, headers, send),
            ANTHROPIC,
        )

    async def _answer(
        self,
        dialect: Dialect,
        call: GatewayCall,
        caller: str | None,
        params: dict[str, Any],
        send: Send,
    ) -> None:
        try:
            if not call.stream:
                response = await self.client.chat(call.model, call.messages, **params)
                extra = _answer_headers(response)
                body = dialect.response(response, call.model)
                self._keep(call, caller, body, response)
                await _send_json(send, 200, body, extra)
                return
            # Entering sends the request, retrying and falling back as chat does, so
            # a call that fails before its first event gets a plain error response.
            async with self.client.stream(call.model, call.messages, **params) as stream:
                await send({"type": "http.response.start", "status": 200, "headers": _EVENT_STREAM})
                encoder = dialect.encoder(call)
                try:
                    async for event in stream:
                        frames = encoder.event(event)
                        if frames:
                            await _more(send, frames)
                    tail = encoder.end(stream.response)
                    self._keep(call, caller, getattr(encoder, "final", None), stream.response)
                except RelayError as error:  # broke after it started: the vendor's error event
                    tail = encoder.error(error)
                await send({"type": "http.response.body", "body": tail, "more_body": False})
        except RelayError as error:
            await _send_error(send, dialect, error)

    async def _count_tokens(
        self, dialect: Dialect, body: Any, caller: str | None, send: Send
    ) -> None:
        """The input tokens of a request body: counted by the provider where it can,
        else estimated (and a header says so), in the dialect's answer shape."""
        call = self._continued(dialect.parse(body, tuple(self.client.config.models)), caller)
        self._check_model(caller, call.model)
        count = await self.client.count_tokens(call.model, call.messages, **call.params)
        answer: dict[str, Any] = {"input_tokens": count.input_tokens}
        if dialect is RESPONSES:
            answer = {"object": "response.input_tokens", **answer}
        extra = [] if count.exact else [(b"x-relaykit-estimated", b"true")]
        await _send_json(send, 200, answer, extra)

    def _check_model(self, caller: str | None, model: str) -> None:
        """Refuse (403) a model the caller's key may not use (``RELAYKIT_GATEWAY_KEY_MODELS``)."""
        if not self.keys.allows(caller, model):
            allowed = ", ".join(self.keys.models[caller])  # type: ignore[index]  # a named key
            raise _Problem(
                403,
                f"the gateway key {caller!r} may not use the model {model!r}; it may use"
                f" {allowed}: ask the gateway's operator for more",
            )

    async def _models(self, anthropic: bool, caller: str | None) -> dict[str, Any]:
        models = await self.client.models()
        listed = [(m.qualified_id, m.owned_by or m.provider, m.created or 0) for m in models]
        listed += [(alias, "relaykit", 0) for alias in self.client.config.models]
        listed = [entry for entry in listed if self.keys.allows(caller, entry[0])]
        if not anthropic:
            data = [{"id": i, "object": "model", "created": c, "owned_by": o} for i, o, c in listed]
            return {"object": "list", "data": data}
        entries = [
            {"type": "model", "id": i, "display_name": i, "created_at": _rfc3339(c)}
            for i, _, c in listed
        ]
        return {
            "data": entries,
            "has_more": False,
            "first_id": entries[0]["id"] if entries else None,
            "last_id": entries[-1]["id"] if entries else None,
        }


@attrs.frozen
class _OneCall:
    """A route answered by one call that is not a chat."""

    #: the :class:`Gateway` method that answers it
    answer: Callable[[Gateway, Any, str | None, dict[str, str], Receive, Send], Awaitable[None]]
    #: its body is a multipart form, read as bytes (else JSON)
    form: bool = False


def _at(paths: tuple[str, ...], route: _OneCall) -> dict[str, _OneCall]:
    return dict.fromkeys(paths, route)


#: the routes answered by one call that is not a chat, at the paths the vendors'
#: SDKs call (with and without ``/v1``: clients configured with a base URL
#: without it)
_ONE_CALLS: dict[str, _OneCall] = {
    # OpenAI's embeddings API (Anthropic has none)
    **_at(("/v1/embeddings", "/embeddings"), _OneCall(Gateway._embed)),
    # Cohere's Rerank API, at the paths LiteLLM's proxy serves it on (Cohere's SDK
    # calls /v2/rerank, Jina's and vLLM's clients /v1/rerank)
    **_at(("/v1/rerank", "/v2/rerank", "/rerank"), _OneCall(Gateway._rerank)),
    # OpenAI's speech to text and image edits: multipart forms in
    **_at(
        ("/v1/audio/transcriptions", "/audio/transcriptions"),
        _OneCall(Gateway._transcribe, form=True),
    ),
    **_at(("/v1/images/edits", "/images/edits"), _OneCall(Gateway._edit_image, form=True)),
    **_at(("/v1/images/generations", "/images/generations"), _OneCall(Gateway._generate_image)),
    **_at(("/v1/audio/speech", "/audio/speech"), _OneCall(Gateway._speak)),
    **_at(("/v1/moderations", "/moderations"), _OneCall(Gateway._moderate)),
}


async def _streamed(
    send: Send,
    stream: Any,
    start: list[tuple[bytes, bytes]],
    piece: Callable[[Any], bytes],
    tail: Callable[[Any], bytes],
) -> None:
    """Answer with a streamed speech or transcription as it arrives: each piece as
    ``piece`` frames it, then ``tail(response)``.

    Entering sends the request, retrying and falling back, so a call that fails
    before its first piece gets a plain error response. A failure after it is
    an OpenAI ``error`` event in an event stream; raw audio has no way to say
    so, so its body just ends (the call's record and log line say it broke).
    """
    try:
        async with stream:
            provider = stream.response.provider.encode()
            model = stream.response.model.encode()
            headers = [*start, (b"x-relaykit-provider", provider), (b"x-relaykit-model", model)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            try:
                async for item in stream:
                    await _more(send, piece(item))
                end = tail(stream.response)
            except RelayError as error:  # broke after it started
                logger.warning("gateway stream broke: %s: %s", type(error).__name__, error)
                end = _error_event(error) if start is _EVENT_STREAM else b""
            await send({"type": "http.response.body", "body": end, "more_body": False})
    except RelayError as error:
        await _send_error(send, OPENAI, error)


async def _send_results(send: Send, client: Client, batch_id: str) -> None:
    """The results of the batch ``batch_id`` as Anthropic's JSONL, each line sent as the
    provider's result file yields it (never the whole file in memory).

    A batch without results (not ended, failed, unknown) gets a plain error
    response: the first result is read before the answer starts. A failure after
    that ends the body early (the log says why): JSONL has no way to say so.
    """
    async with aclosing(client.batch_results(batch_id)) as results:
        try:
            first = await anext(results, None)
        except RelayError as error:
            await _send_error(send, ANTHROPIC, error)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _JSONL})
        try:
            if first is not None:
                await _more(send, result_line(first, ANTHROPIC))
                async for result in results:
                    await _more(send, result_line(result, ANTHROPIC))
        except RelayError as error:
            logger.warning("gateway batch results broke: %s: %s", type(error).__name__, error)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _results_url(scope: Scope, headers: dict[str, str], batch_id: str) -> str:
    """Where the caller reads a batch's results: this gateway as the caller reached it
    (the request's scheme and ``Host``, below the app's ``root_path``)."""
    host = headers.get("host")
    if not host:
        server_host, port = scope.get("server") or ("localhost", None)
        host = server_host if port is None else f"{server_host}:{port}"
    base = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
    return f"{base}{BATCHES}/{gateway_id(batch_id)}/results"


def _raw(chunk: bytes) -> bytes:
    return chunk


def _no_tail(response: Any) -> bytes:
    return b""


def _error_event(error: RelayError) -> bytes:
    """OpenAI's ``error`` event, for a stream of server-sent events that broke."""
    body = OPENAI.error_body(status_of(error), str(error), None)
    return b"data: " + dumps({"type": "error", **body}) + b"\n\n"


def _rfc3339(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _headers(scope: Scope) -> dict[str, str]:
    # ASGI servers give header names lower-cased; a repeated header keeps its last value
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


def _with_caller(
    params: Mapping[str, Any], caller: str | None, headers: dict[str, str]
) -> dict[str, Any]:
    """``params`` with the caller in their metadata: the name of its gateway key (over
    any the body claims) and its request id as the call's ``correlation_id``."""
    params = dict(params)
    metadata = dict(params.get("metadata", {}))
    if caller is not None:
        metadata["gateway_key"] = caller
    # The caller's request id ties the call's log line and record to theirs.
    request_id = headers.get("x-correlation-id") or headers.get("x-request-id")
    if request_id and "correlation_id" not in metadata:
        metadata["correlation_id"] = request_id[:_MAX_ID_CHARS]
    if metadata:
        params["metadata"] = metadata
    return params


async def _answered(
    headers: dict[str, str],
    receive: Receive,
    send: Send,
    call: Callable[[], Awaitable[T]],
    reply: Callable[[T], Awaitable[None]],
    errors: Dialect = OPENAI,
) -> None:
    """One call that is not a chat (embeddings, rerank, speech, images, moderation, a
    batch's), watched as :func:`_watched` says: its answer goes out through ``reply``,
    a relaykit error in the ``errors`` dialect's shape (OpenAI's unless said)."""

    async def answer() -> None:
        try:
            response = await call()
        except RelayError as error:  # raised here, not out of the watching task group
            await _send_error(send, errors, error)
            return
        await reply(response)

    await _watched(headers, receive, answer)


def _batch_reply(
    scope: Scope, headers: dict[str, str], send: Send
) -> Callable[[Batch], Awaitable[None]]:
    """What :func:`_answered` sends a batch with: Anthropic's ``message_batch`` object."""

    async def reply(batch: Batch) -> None:
        await _send_json(send, 200, batch_body(batch, _results_url(scope, headers, batch.id)))

    return reply


def _json_reply(send: Send, body_of: Callable[[A], Any]) -> Callable[[A], Awaitable[None]]:
    """What :func:`_answered` sends an answer with: ``body_of(answer)`` as JSON, with
    the answer's cost and served model in :func:`_answer_headers`."""

    async def reply(response: A) -> None:
        await _send_json(send, 200, body_of(response), _answer_headers(response))

    return reply


async def _watched(
    headers: dict[str, str], receive: Receive, answer: Callable[[], Awaitable[None]]
) -> None:
    """Run ``answer`` in the caller's trace context, cancelled if the caller hangs up."""
    # A caller's W3C trace context makes the call's span a child of theirs.
    token = None
    if "traceparent" in headers:
        token = otel_context.attach(propagate.extract(headers))
    try:
        # A caller that hangs up cancels its call: the provider's connection
        # closes, and a stream stops generating what nobody will read.
        async with anyio.create_task_group() as watch:
            watch.start_soon(_cancel_on_disconnect, receive, watch.cancel_scope)
            await answer()
            watch.cancel_scope.cancel()
    finally:
        if token is not None:
            otel_context.detach(token)


def _answer_headers(response: _Answer) -> list[tuple[bytes, bytes]]:
    """Which deployment answered and what it cost, for operators (LiteLLM's proxy
    sends the like as ``x-litellm-*``), and, as the token counters do, whether the
    input tokens reported are relaykit's estimate (the vendor counted none)."""
    out = [
        (b"x-relaykit-provider", response.provider.encode()),
        (b"x-relaykit-model", response.model.encode()),
    ]
    if response.cost is not None:
        out.append((b"x-relaykit-cost", str(response.cost).encode()))
    if getattr(response, "tokens_estimated", False):  # embeddings', rerank's, moderation's
        out.append((b"x-relaykit-estimated", b"true"))
    return out


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """``send`` adding ``extra`` to the response's headers."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending


async def _more(send: Send, frames: bytes) -> None:
    await send({"type": "http.response.body", "body": frames, "more_body": True})


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _send_json(
    send: Send, status: int, body: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = dumps(body)
    start_headers = [_JSON, (b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": payload})


async def _send_text(send: Send, text: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    payload = text.encode()
    start_headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": start_headers})
    await send({"type": "http.response.body", "body": payload})


async def _send_error(send: Send, dialect: Dialect, error: RelayError) -> None:
    status = status_of(error)
    if status >= 500:
        # The caller sees the message; the operator's log gets the kind too (both
        # scrubbed of keys, as every relaykit error's message is).
        logger.warning("gateway call failed: %s: %s", type(error).__name__, error)
    body = dialect.error_body(status, str(error), getattr(error, "param", None))
    wait = retry_after(error)
    headers = [(b"retry-after", wait.encode())] if wait is not None else []
    await _send_json(send, status, body, headers)


async def _lifespan(receive: Receive, send: Send) -> None:
    # The client is the caller's to open and close; the app has nothing to set up.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
