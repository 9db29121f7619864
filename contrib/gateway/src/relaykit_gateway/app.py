"""The gateway itself: an ASGI app that serves vendor APIs over one relaykit Client.

Every call goes through the client, so whatever the client is configured
with (routes, fallbacks, retries, limits, budgets, caching, redaction, logs,
traces and metrics) applies to the gateway's callers too. The app does no
I/O of its own beyond its ASGI messages and uses anyio only: any ASGI server
runs it, under asyncio or trio.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import attrs

from relaykit import (
    Batch,
    BatchItem,
    BatchResult,
    ChatResponse,
    Client,
    InvalidRequestError,
    NotFoundError,
    RelayError,
    ToolResultPart,
    TranscriptionResponse,
    multipart,
)
from relaykit import Message as RelayMessage
from relaykit.key_vault import MASTER_KEY_ENV
from relaykit.secrets import scrub

from .anthropic_batches import (
    BATCHES,
    batch_body,
    gateway_id,
    parse_batch,
    relaykit_id,
    result_line,
    untagged_relaykit_id,
)
from .anthropic_batches import ID_PREFIX as ANTHROPIC_BATCH_PREFIX
from .anthropic_dialect import ANSWERING, AnthropicDialect, check_version
from .anthropic_lists import ListPage, list_body
from .anthropic_versions import refuse_removed
from .asgi_messages import (
    EVENT_STREAM,
    JSONL,
    OCTETS,
    HungUp,
    Message,
    Problem,
    Receive,
    Scope,
    Send,
    body_chunks,
    lifespan,
    read_body,
    read_json,
    request_headers,
    send_json,
    send_more,
    send_text,
    with_headers,
)
from .cohere_rerank import parse_rerank, rerank_body
from .cors import CORS_ENV, CorsPolicy
from .dialect import (
    SHUTTING_DOWN,
    Dialect,
    GatewayCall,
    require_object,
    string_metadata,
)
from .file_store import FileStore, StoreFullError, Upload
from .kept_responses import KeptResponses, shared_store
from .keys import GatewayKeys
from .openai_batches import ID_PREFIX as OPENAI_BATCH_PREFIX
from .openai_batches import (
    WINDOW,
    BatchRef,
    batch_id,
    check_endpoint,
    is_result_file_id,
    parse_batch_id,
    parse_result_file_id,
    read_requests,
    request_settings,
    result_file_body,
    untagged_batch,
)
from .openai_batches import batch_body as openai_batch_body
from .openai_batches import result_line as openai_result_line
from .openai_dialect import OpenAIDialect
from .openai_embeddings import embeddings_body, openai_named, parse_embeddings
from .openai_files import check_purpose, expires_after, file_body, list_page
from .openai_images import images_body, parse_image_edit, parse_image_generation
from .openai_moderations import moderation_body, parse_moderation
from .openai_speech import delta_event as audio_delta
from .openai_speech import done_event as audio_done
from .openai_speech import parse_speech
from .openai_transcriptions import delta_event as transcript_delta
from .openai_transcriptions import done_event as transcript_done
from .openai_transcriptions import parse_transcription, transcription_body
from .owned_ids import IdOwner, id_owners
from .replies import (
    ENDING_SECONDS,
    answer_headers,
    answered,
    json_reply,
    no_tail,
    raw,
    send_error,
    send_events,
    send_lines,
    streamed,
    watched,
)
from .response_store import ResponseStore
from .responses_dialect import ResponsesDialect
from .sealed_entries import seals
from .stream_pings import HEAD_SECONDS, PING_SECONDS
from .upload_form import FilePart, FormError, Sink, read_form
from .whole_numbers import whole_number

logger = logging.getLogger("relaykit.gateway")

#: the longest caller request id kept as a call's correlation id
_MAX_ID_CHARS = 128  # longer ones are kept as their SHA-256 (see _kept_id)
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
#: where one model is retrieved: ``/v1/models/{id}`` (an id may hold ``/``)
_MODEL_PATHS = ("/v1/models/", "/models/")
#: the token counters: Anthropic's (Claude Code asks it often, as ``?beta=true``)
#: and the Responses API's
_COUNTERS: dict[str, Dialect] = {
    "/v1/messages/count_tokens": ANTHROPIC,
    "/v1/responses/input_tokens": RESPONSES,
    "/responses/input_tokens": RESPONSES,
}
#: where a kept Responses API response is fetched (GET) or deleted (DELETE)
_KEPT = "/v1/responses/"
#: OpenAI's Files and Batch APIs: the roots of their routes (each also without ``/v1``)
_OPENAI_FILES, _OPENAI_BATCHES = "/files", "/batches"
#: the most keys a batch's metadata may have (OpenAI's limit)
_MAX_METADATA_KEYS = 16
#: what an upload's form may add to its file's bytes (its boundaries, headers, fields)
_FORM_OVERHEAD = 64 * 1024
#: how long a body answered before it all arrived is read on, to be dropped
_DISCARD_SECONDS = 10.0


class Gateway:
    """An ASGI app serving OpenAI's Chat Completions, Responses, Embeddings, speech to
    text, image generation, text to speech, Moderations, Files and Batch APIs,
    Anthropic's Messages API and Cohere's Rerank API.

    ``client`` makes every call; the caller opens and closes it (the gateway
    never does). ``keys``: the gateway keys callers must present; none means
    anyone who can reach the port may call. Routes:

    - ``POST /v1/chat/completions``: OpenAI's Chat Completions, streamed or not;
    - ``POST /v1/responses``: OpenAI's Responses API, streamed or not; a
      response can be continued with ``previous_response_id`` for an hour
      (``responses``, a :class:`~relaykit_gateway.response_store.ResponseStore`,
      keeps them in memory unless the caller says ``store: false``, and the
      client's shared cache store too, when it has one: see
      :mod:`relaykit_gateway.kept_responses`), fetched with
      ``GET /v1/responses/{id}`` and forgotten with ``DELETE``;
    - ``POST /v1/messages``: Anthropic's Messages API, streamed or not;
    - ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
      ``POST .../{id}/cancel``, ``GET .../{id}/results`` and ``GET
      /v1/messages/batches``: Anthropic's Message Batches API, answered by
      :meth:`relaykit.Client.submit_batch` and its siblings with any provider that
      batches; no batch is kept, only a note of each for its key's list, in ``files`` (see
      :mod:`relaykit_gateway.anthropic_batches`), and a batch's id works for the
      key that created it only (see :mod:`relaykit_gateway.owned_ids`);
    - ``POST /v1/files`` (``purpose=batch``), ``GET``/``DELETE /v1/files/{id}``,
      ``GET /v1/files/{id}/content`` and ``GET /v1/files``: OpenAI's Files API for
      batch input, the files kept in ``files``, a
      :class:`~relaykit_gateway.file_store.FileStore` (a directory: see its module);
    - ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST .../{id}/cancel`` and
      ``GET /v1/batches``: OpenAI's Batch API over those files, answered by
      :meth:`relaykit.Client.submit_batch` and its siblings; each batch's output and
      error files are read from its provider (see :mod:`relaykit_gateway.openai_batches`),
      the batch and its files for the key that created it only;
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
      or Anthropic's when the request carries ``anthropic-version``; and
      ``GET /v1/models/{id}`` one of them;
    - ``GET /health``: ``{"status": "ok"}``, without a key (503 once :meth:`drain`
      has begun).

    A model without a ``provider/`` prefix goes to ``openai`` on the OpenAI
    routes, ``anthropic`` on the Anthropic one and ``cohere`` on the rerank one,
    unless it names an alias of ``[models]``. Each call's metadata gets
    ``gateway_key``, the name of the key that made it, so call logs tell the
    callers apart, and a caller's ``x-correlation-id`` (or ``x-request-id``)
    header becomes the call's ``correlation_id`` (one over 128 characters, its
    ``sha256:<hex>``; a key sent there is masked); without one, the call takes the
    id every answer names its request with (``x-request-id``, or Anthropic's
    ``request-id``). ``cors``: the web page origins
    whose scripts may call from a browser (none by default; see
    :mod:`relaykit_gateway.cors`). ``stream_ping_seconds``: how long a streamed
    answer may go quiet before a keep-alive goes out (see
    :mod:`relaykit_gateway.stream_pings`; ``float("inf")``: never).
    ``stream_head_seconds``: how long a stream waits for its first content before
    its head (``200``) goes out anyway, followed by keep-alive comments, so that a
    slow first token does not leave the connection without a byte; a failure
    before the content then ends the stream as its error event, where it would
    have been an error status (:class:`~relaykit_gateway.stream_pings.HeldHead`;
    ``float("inf")``: never).
    """

    def __init__(
        self,
        client: Client,
        *,
        keys: GatewayKeys = NO_KEYS,
        max_body_bytes: int = MAX_BODY_BYTES,
        cors: CorsPolicy = NO_CORS,
        responses: ResponseStore | None = None,
        files: FileStore | None = None,
        stream_ping_seconds: float = PING_SECONDS,
        stream_head_seconds: float = HEAD_SECONDS,
    ) -> None:
        if not stream_ping_seconds > 0:  # not 0, which would ping without end, nor nan
            raise ValueError(
                f"stream_ping_seconds must be more than 0 seconds, not {stream_ping_seconds!r}"
                " (float('inf') turns the keep-alives off)"
            )
        if not stream_head_seconds > 0:  # 0 would give up every error status, nan never
            raise ValueError(
                f"stream_head_seconds must be more than 0 seconds, not {stream_head_seconds!r}"
                " (float('inf') holds a stream's head until its first content)"
            )
        self.client = client
        #: seconds a streamed answer may go quiet before a keep-alive goes out (see
        #: relaykit_gateway.stream_pings)
        self.stream_ping_seconds = stream_ping_seconds
        #: seconds a stream waits for its first content before its head goes out
        #: anyway (see relaykit_gateway.stream_pings.HeldHead)
        self.stream_head_seconds = stream_head_seconds
        #: the files uploaded for batches (``$RELAYKIT_GATEWAY_FILES_DIR``, unless given)
        self.files = FileStore.from_env() if files is None else files
        self.keys = keys
        #: whom each key's batch ids are made for (and checked against)
        self._owners = id_owners(keys)
        self.max_body_bytes = max_body_bytes
        self.cors = cors
        #: the Responses API answers kept to be continued (``previous_response_id``)
        self.responses = ResponseStore() if responses is None else responses
        #: ... and in the client's shared cache store too, when it has one, sealed for
        #: their caller (see relaykit_gateway.sealed_entries)
        shared = shared_store(client)
        self.kept = KeptResponses(
            self.responses, shared, seals=seals(keys) if shared is not None else {}
        )
        if shared is not None and not keys and not self.kept.shares(None):
            logger.info(
                "kept responses stay in this process's memory: without gateway keys they are"
                " shared (encrypted) only under the key vault's master key; set %s to share"
                " them through the cache store",
                MASTER_KEY_ENV,
            )
        # A caller who pastes their key into a prompt does not get it stored.
        for _, key in keys.keys:
            client.mask_secret(key)
        self._in_flight = 0
        self._idle: anyio.Event | None = None
        self._draining = False
        #: the scope of each request in flight, which ends it once drain's time is up
        self._ends: set[anyio.CancelScope] = set()
        #: whether drain's time is up: the calls still in flight are being ended
        self._ending = False

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
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(seconds):
                await self._until_idle()
            if not self._in_flight:
                return
            # Time's up: the gateway ends the calls left itself, each answered in its
            # API's shape (a 503, or its stream's error event: raw audio and JSONL,
            # which have none, just end), its record saying it was
            # cancelled. Left to the server, their connections were cut under them: a
            # bare 500 or a stream without its end, and (hypercorn under asyncio) a
            # traceback logged for each.
            self._ending = True
            for end in self._ends:
                end.cancel()
            with anyio.move_on_after(ENDING_SECONDS):
                await self._until_idle()

    async def _until_idle(self) -> None:
        while self._in_flight:
            self._idle = anyio.Event()
            await self._idle.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not served
        headers = request_headers(scope)
        origin = headers.get("origin")
        if origin is not None and self.cors.allows(origin):
            send = with_headers(send, self.cors.answer(origin))
        shape = _error_shape(scope["path"], headers)
        # Every answer names its request, under the header its vendor's SDKs read
        # into ``_request_id`` and an API error's ``request_id``; a call made without
        # a request id of the caller's takes this one, so the id a caller quotes
        # finds the call's record.
        request_id = f"req_{os.urandom(12).hex()}"
        headers[_GATEWAY_REQUEST_ID] = request_id
        name = b"request-id" if shape is ANTHROPIC else b"x-request-id"
        send = with_headers(send, [(name, request_id.encode())])
        # Anthropic's error bodies and events repeat the id (see anthropic_dialect.ANSWERING)
        answering = ANSWERING.set(request_id)
        try:
            await self._taken(scope, headers, shape, receive, send)
        finally:
            ANSWERING.reset(answering)

    async def _taken(
        self, scope: Scope, headers: dict[str, str], shape: Dialect, receive: Receive, send: Send
    ) -> None:
        """One HTTP request, its answer sent (refused while draining; ended by it once
        its time is up), whatever fails in it answered in ``shape``."""
        if self._draining:  # /health too: a load balancer stops sending here
            await _refuse_stopping(send, shape)
            return
        started = answered = False
        # a request without a body has all of it from the start
        body_read = "transfer-encoding" not in headers and headers.get("content-length", "0") == "0"

        async def tracked(message: Message) -> None:
            nonlocal started, answered
            started = started or message["type"] == "http.response.start"
            # Marked before it is sent: the server hands over its http.disconnect
            # while the answer's last piece is being sent.
            last = message["type"] == "http.response.body" and not message.get("more_body")
            answered = answered or last
            if last and not body_read:
                # Answered before the body all arrived (a 413, a refused upload): the
                # rest is read and dropped before the answer ends. The server closes
                # the connection once an answer ends with its request unread, and
                # closed under a caller still sending, it is reset: the reset drops
                # the answer before the caller's client reads it (a ReadError, not
                # the 413).
                await send({**message, "more_body": True})
                await _discard_body(receive)
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        async def heard() -> Message:
            nonlocal body_read
            message = await receive()
            body_read = body_read or (
                message["type"] == "http.request" and not message.get("more_body", False)
            )
            if answered and message["type"] == "http.disconnect":
                # Once the answer is whole, its request's end is no hang-up: taken
                # for one, it would cancel the call's scope mid-send, where
                # hypercorn (under trio) starts the watch that closes the kept-alive
                # connection once idle or stopping; that connection would then
                # hold the server's stop for its whole close timeout. The watcher
                # waits on until the call's end cancels it.
                await anyio.sleep_forever()
            return message

        self._in_flight += 1
        try:
            with anyio.CancelScope() as end:
                self._ends.add(end)
                try:
                    await self._http(scope, headers, heard, tracked)
                finally:
                    self._ends.discard(end)
            # ended by drain (a stream of events ends itself, with its error event)
            if end.cancelled_caught and not answered:
                with anyio.move_on_after(ENDING_SECONDS):
                    if started:  # raw audio or JSONL: no error event to send; its body just ends
                        await send({"type": "http.response.body", "body": b""})
                    else:
                        await _refuse_stopping(send, shape)
        except HungUp:
            pass  # nobody is left to answer
        except Exception as error:
            # A bug of ours: the operator gets its kind, and its message scrubbed
            # of keys; the caller a 500, if nothing has been sent yet.
            logger.error("gateway error: %s", _described(error, self.client.masked))
            if started:
                raise
            body = shape.error_body(500, "the gateway failed; its log says why")
            await send_json(send, 500, body)
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
        openai_batch = _openai_batch_route(path)
        shape = _error_shape(path, headers)
        try:
            if path == "/health" and scope["method"] == "GET":
                await send_json(send, 200, {"status": "ok"})
                return
            if scope["method"] == "OPTIONS":
                await self._preflight(path, headers, send)
                return
            if shape is ANTHROPIC:
                check_version(headers.get("anthropic-version"))
            caller = self._caller(headers)
            if dialect is not None and scope["method"] == "POST":
                body = await self._body(receive, headers)
                if dialect is ANTHROPIC:
                    refuse_removed(headers.get("anthropic-version"), body)
                await self._call(dialect, body, caller, headers, receive, send)
            elif batches:
                await self._batches(scope, caller, headers, receive, send)
            elif openai_batch is not None:
                root, parts = openai_batch
                if root == _OPENAI_FILES:
                    await self._files(scope, parts, caller, headers, receive, send)
                else:
                    await self._openai_batches(scope, parts, caller, headers, receive, send)
            elif path in _MODELS and scope["method"] == "GET":
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                await send_json(send, 200, await self._models(shape is ANTHROPIC, caller, query))
            elif path.startswith(_MODEL_PATHS) and scope["method"] == "GET":
                model = path.partition("/models/")[2]
                await self._model(model, shape is ANTHROPIC, caller, send)
            elif path.startswith(_KEPT) and not counter and scope["method"] in ("GET", "DELETE"):
                await self._kept_response(scope["method"], path[len(_KEPT) :], caller, send)
            elif counter is not None and scope["method"] == "POST":
                body = await self._body(receive, headers)
                if counter is ANTHROPIC:
                    refuse_removed(headers.get("anthropic-version"), body)
                await self._count_tokens(counter, body, caller, send)
            elif one_call is not None and scope["method"] == "POST":
                read = self._bytes if one_call.form else self._body
                await one_call.answer(
                    self, await read(receive, headers), caller, headers, receive, send
                )
            elif _served_methods(path):
                raise Problem(405, f"{scope['method']} is not allowed on {path}")
            else:
                raise Problem(
                    404,
                    f"no route {path}: the gateway serves POST /v1/chat/completions,"
                    " POST /v1/responses, POST /v1/messages, its Message Batches API"
                    " (/v1/messages/batches), OpenAI's Batch API (/v1/files, /v1/batches),"
                    " their token counters"
                    " (POST /v1/responses/input_tokens, /v1/messages/count_tokens),"
                    " POST /v1/embeddings, POST /v1/rerank, POST /v1/audio/transcriptions,"
                    " POST /v1/images/generations, POST /v1/images/edits, POST /v1/audio/speech,"
                    " POST /v1/moderations"
                    " and GET /v1/models (and /v1/models/{id})",
                )
        except Problem as problem:
            body = shape.error_body(problem.status, problem.message)
            # RFC 9110 (15.5.6): a 405 names the methods its resource serves
            allow = [(b"allow", ", ".join(_served_methods(path)).encode())]
            await send_json(send, problem.status, body, allow if problem.status == 405 else [])
        except RelayError as error:
            await send_error(send, shape, error)

    async def _body(self, receive: Receive, headers: dict[str, str]) -> Any:
        return await read_json(receive, headers, self.max_body_bytes)

    async def _bytes(self, receive: Receive, headers: dict[str, str]) -> bytes:
        """The whole request body, refused (413) past ``max_body_bytes``."""
        return await read_body(receive, headers, self.max_body_bytes)

    async def _preflight(self, path: str, headers: dict[str, str], send: Send) -> None:
        """A browser asking whether its page may call (no key: browsers send none here).

        Without CORS origins it is answered as a server that serves no CORS answers
        any ``OPTIONS``: a 405 without a CORS header, which stops the browser, and
        without asking for a key (a 401 would say one could help).
        """
        if not self.cors:
            raise Problem(
                405,
                f"OPTIONS is not allowed on {path}: the gateway answers CORS preflights only"
                f" for the web page origins {CORS_ENV} allows, and it allows none",
            )
        origin = headers.get("origin")
        if origin is None or "access-control-request-method" not in headers:
            raise Problem(405, "OPTIONS is only a CORS preflight here")
        if not self.cors.allows(origin):
            raise Problem(403, f"origin {origin} may not call the gateway: add it to {CORS_ENV}")
        # The origin's own headers (CorsPolicy.answer) are added on the way out.
        asked = headers.get("access-control-request-headers", "")
        await send(
            {"type": "http.response.start", "status": 204, "headers": self.cors.preflight(asked)}
        )
        await send({"type": "http.response.body", "body": b""})

    def _caller(self, headers: dict[str, str]) -> str | None:
        """The name of the gateway key the request presents (``None`` without keys)."""
        if not self.keys:
            # Without keys a browser's origin is the only check left: a page from
            # anywhere can POST JSON as text/plain with no preflight, and every page
            # can reach a loopback gateway; it could not read the answer, but the call
            # would be made on the providers' keys.
            origin = headers.get("origin")
            if origin is not None and not self.cors.allows(origin):
                raise Problem(
                    403,
                    f"origin {origin} may not call the gateway: a gateway without keys"
                    f" answers only the web pages {CORS_ENV} allows (or set gateway keys)",
                )
            return None
        # Anthropic's SDKs send x-api-key, Azure OpenAI's clients api-key, OpenAI's a
        # bearer token; the first of them present is the one compared
        presented = headers.get("x-api-key")
        if presented is None:
            presented = headers.get("api-key")
        if presented is None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            presented = token.strip() if scheme.lower() == "bearer" else None
        name = self.keys.name_of(presented) if presented else None
        if name is None:
            problem = "is not a gateway key" if presented else "is missing"
            raise Problem(
                401,
                f"the API key {problem}: send a gateway key as `Authorization: Bearer <key>`,"
                " `x-api-key: <key>` or `api-key: <key>`",
            )
        return name

    async def _call(
        self,
        dialect: Dialect,
        body: Any,
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        call = await self._continued(dialect.parse(body, tuple(self.client.config.models)), caller)
        params = self._params(call, caller, headers)
        await watched(headers, receive, lambda: self._answer(dialect, call, caller, params, send))

    def _params(self, call: Any, caller: str | None, headers: dict[str, str]) -> dict[str, Any]:
        """A parsed call's params, once its model is checked against the caller's key:
        with the caller's metadata (:func:`_with_caller`)."""
        self._check_model(caller, call.model)
        return _with_caller(call.params, caller, headers)

    def _batch_items(
        self,
        model: str,
        calls: list[tuple[str, GatewayCall]],
        caller: str | None,
        headers: dict[str, str],
    ) -> list[BatchItem]:
        """A batch's parsed ``(custom_id, call)`` pairs as relaykit's items, once the one
        ``model`` they name is checked against the caller's key: each item's metadata
        as a call's (:func:`_with_caller`), the caller's key and request id."""
        self._check_model(caller, model)
        return [BatchItem(i, c.messages, _with_caller(c.params, caller, headers)) for i, c in calls]

    # -- the routes answered by one call that is not a chat (see _ONE_CALLS): each
    # -- with the same caller metadata, trace context and hang-up handling as a chat

    async def _embed(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/embeddings``: the texts' vectors, in OpenAI's answer shape."""
        call = parse_embeddings(body, tuple(self.client.config.models))
        params = self._params(call, caller, headers)
        await answered(
            headers,
            receive,
            send,
            lambda: openai_named(self.client.embed(call.model, call.inputs, **params)),
            json_reply(send, lambda r: embeddings_body(r, call.model, call.encoding_format)),
            OPENAI,
        )

    async def _rerank(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/rerank``: the documents ranked best first, in Cohere's answer shape."""
        call = parse_rerank(body, tuple(self.client.config.models))
        params = self._params(call, caller, headers)
        await answered(
            headers,
            receive,
            send,
            lambda: self.client.rerank(call.model, call.query, call.documents, **params),
            json_reply(send, lambda r: rerank_body(r, call)),
            OPENAI,
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
            await watched(
                headers,
                receive,
                lambda: streamed(
                    send,
                    stream,
                    EVENT_STREAM,
                    transcript_delta,
                    transcript_done,
                    OPENAI,
                    ending=lambda: self._ending,
                    head_seconds=self.stream_head_seconds,
                    ping_seconds=self.stream_ping_seconds,
                ),
            )
            return

        async def reply(response: TranscriptionResponse) -> None:
            out = transcription_body(response, call.response_format)
            if isinstance(out, str):
                await send_text(send, out, answer_headers(response))
            else:
                await send_json(send, 200, out, answer_headers(response))

        await answered(
            headers,
            receive,
            send,
            lambda: self.client.transcribe(call.model, call.audio, **params),
            reply,
            OPENAI,
        )

    async def _generate_image(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/images/generations``: the images drawn, in OpenAI's answer shape."""
        call = parse_image_generation(body, tuple(self.client.config.models))
        params = self._params(call, caller, headers)
        await answered(
            headers,
            receive,
            send,
            lambda: self.client.generate_image(call.model, call.prompt, **params),
            json_reply(send, images_body),
            OPENAI,
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
        await answered(
            headers,
            receive,
            send,
            lambda: self.client.edit_image(
                call.model, call.prompt, image=list(call.images), mask=call.mask, **params
            ),
            json_reply(send, images_body),
            OPENAI,
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
            start, piece, tail = EVENT_STREAM, audio_delta, audio_done
        else:
            start, piece, tail = [(b"content-type", stream.media_type.encode())], raw, no_tail
        await watched(
            headers,
            receive,
            lambda: streamed(
                send,
                stream,
                start,
                piece,
                tail,
                OPENAI,
                ending=lambda: self._ending,
                head_seconds=self.stream_head_seconds,
                ping_seconds=self.stream_ping_seconds,
            ),
        )

    async def _moderate(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/moderations``: each text's verdict, in OpenAI's answer shape."""
        config = self.client.config
        call = parse_moderation(body, tuple(config.models), config.defaults.moderation_model)
        params = self._params(call, caller, headers)
        await answered(
            headers,
            receive,
            send,
            lambda: self.client.moderate(call.model, call.inputs, **params),
            json_reply(send, moderation_body),
            OPENAI,
        )

    async def _continued(self, call: GatewayCall, caller: str | None) -> GatewayCall:
        """``call`` with the conversation of the response it continues, if it names one
        (after its own instructions: a response's instructions are not carried over).
        Only the caller whose response it was may continue it."""
        if call.previous_response_id is None:
            return call
        history = await self.kept.get(caller, call.previous_response_id)
        if history is None:
            where = (
                ""
                if self.kept.shares(caller)
                else " (or reach the gateway process that answered it: each keeps its own)"
            )
            raise Problem(
                404,
                f"Previous response with id '{call.previous_response_id}' not found: the"
                " gateway keeps responses for an hour, for the key that made them, so send"
                f" the whole conversation in `input`{where}",
            )
        k = call.instructions
        _require_tool_outputs(history, call.messages[k:])
        return attrs.evolve(call, messages=(*call.messages[:k], *history, *call.messages[k:]))

    async def _keep(
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
            await self.kept.put(caller, body["id"], conversation, body)

    async def _kept_response(
        self, method: str, response_id: str, caller: str | None, send: Send
    ) -> None:
        """``GET`` or ``DELETE /v1/responses/{id}``: a kept response, fetched or forgotten."""
        response_id, _, below = response_id.partition("/")
        if below:
            # OpenAI's GET /v1/responses/{id}/input_items: not "no such response"
            raise Problem(
                404,
                f"{method} /v1/responses/{{id}}/{below} is not served: a response's input"
                " items are not served by the gateway, which keeps a response's"
                " conversation to continue it (previous_response_id) and the response"
                " itself (GET /v1/responses/{id})",
            )
        found = await self.kept.response(caller, response_id)
        if found is None:
            raise Problem(404, f"Response with id '{response_id}' not found.")
        if method == "DELETE":
            await self.kept.delete(caller, response_id)
            found = {"id": response_id, "object": "response", "deleted": True}
        await send_json(send, 200, found)

    # -- Anthropic's Message Batches API, over the client's batch calls (see
    # -- relaykit_gateway.anthropic_batches): nothing kept, each id carries its batch
    # -- and is its creator's (relaykit_gateway.owned_ids)

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
            if method == "GET":
                await self._list_batches(scope, caller, headers, receive, send)
                return
            raise Problem(405, f"{method} is not allowed on {path}")
        # The route decides a 405 (and its Allow), whether or not the batch exists.
        action = (method, parts[1] if len(parts) > 1 else "")
        if len(parts) > 2 or action[1] not in ("", "cancel", "results"):
            raise Problem(404, f"no route {path}")
        if action == ("DELETE", ""):
            raise Problem(
                405,
                "deleting a batch is not served: the gateway keeps none; the batch and"
                " its results are kept (and expired) by the vendor that ran it",
            )
        if action not in (("GET", ""), ("POST", "cancel"), ("GET", "results")):
            raise Problem(405, f"{method} is not allowed on {path}")
        owner = self._owners[caller]
        batch_id = relaykit_id(parts[0], owner)
        if batch_id is None:
            raise _not_found(
                f"no Message Batch {parts[0]!r}: use an id this gateway gave your key",
                parts[0],
                untagged_relaykit_id(parts[0]),
            )
        if action == ("GET", "results"):
            await watched(headers, receive, lambda: _send_results(send, self.client, batch_id))
            return
        fetch = self.client.batch if action == ("GET", "") else self.client.cancel_batch

        await answered(
            headers,
            receive,
            send,
            lambda: fetch(batch_id),
            _batch_reply(scope, headers, send, owner),
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
        model, calls = parse_batch(
            body, tuple(self.client.config.models), ANTHROPIC, headers.get("anthropic-version")
        )
        items = self._batch_items(model, calls, caller, headers)
        owner = self._owners[caller]

        async def submit() -> Batch:
            batch = await self.client.submit_batch(model, items)
            made = gateway_id(batch.id, owner)
            try:  # noted for the caller's batch list only: the id carries the batch
                await self.files.keep_batch(caller, made, None)
            except OSError as error:
                # The batch runs (and is billed) whatever the list says: its id must
                # reach the caller.
                logger.warning(
                    "Message Batch %s is left out of its key's list: its note could not"
                    " be written to %s: %s",
                    made,
                    self.files.directory,
                    error,
                )
            return batch

        await answered(
            headers, receive, send, submit, _batch_reply(scope, headers, send, owner), ANTHROPIC
        )

    async def _list_batches(
        self,
        scope: Scope,
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """``GET /v1/messages/batches``: the caller's batches this gateway's file store
        recorded, newest first, each as its provider describes it now (``limit``,
        ``after_id`` and ``before_id`` page through them)."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        records = await self.files.batches(caller, prefix=ANTHROPIC_BATCH_PREFIX)
        page = ListPage.of([r["id"] for r in records], query)
        owner = self._owners[caller]

        async def described() -> list[dict[str, Any]]:
            found: dict[int, dict[str, Any]] = {}
            failures: list[RelayError] = []

            async def one(i: int, gateway_batch_id: str) -> None:
                batch_id = relaykit_id(gateway_batch_id, owner)
                if batch_id is None:
                    return  # made for the key's old value
                try:
                    batch = await self.client.batch(batch_id)
                except NotFoundError:  # its provider forgot it: so does the list
                    await self.files.forget_batch(gateway_batch_id)
                    return
                except RelayError as error:
                    failures.append(error)
                    return
                url = _results_url(scope, headers, gateway_batch_id)
                found[i] = batch_body(batch, url, owner)

            async with anyio.create_task_group() as tg:
                for i, record in enumerate(records[page.start : page.end]):
                    tg.start_soon(one, i, record["id"])
            if failures:
                raise failures[0]
            return [found[i] for i in sorted(found)]

        async def reply(data: list[dict[str, Any]]) -> None:
            await send_json(send, 200, list_body(data, page))

        await answered(headers, receive, send, described, reply, ANTHROPIC)

    # -- OpenAI's Files and Batch APIs (see relaykit_gateway.openai_batches): uploads
    # -- kept in the file store, each batch's status and results from its provider

    async def _files(
        self,
        scope: Scope,
        parts: list[str],
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """A request below ``/v1/files``: an upload, the caller's files listed, one
        described, read or deleted, or a batch's output or error file."""
        method, path = scope["method"], scope["path"]
        if parts == [""]:
            if method == "POST":
                await self._upload(caller, headers, receive, send)
            elif method == "GET":
                files = [file_body(f) for f in await self.files.files(caller)]
                await send_json(send, 200, list_page(files, has_more=False))
            else:
                raise Problem(405, f"{method} is not allowed on {path}")
            return
        content = parts[1:] == ["content"]
        if len(parts) > 2 or (len(parts) == 2 and not content):
            raise Problem(404, f"no route {path}")
        file_id = parts[0]
        if method == "DELETE" and is_result_file_id(file_id) and not content:
            raise Problem(
                405,
                "deleting a batch's output or error file is not served: the gateway reads it"
                " from the results its provider keeps (and expires)",
            )
        if method not in (("GET",) if content else ("GET", "DELETE")):
            raise Problem(405, f"{method} is not allowed on {path}")
        if is_result_file_id(file_id):
            await self._result_file(file_id, content, caller, headers, receive, send)
            return
        stored = await self.files.get(caller, file_id)
        if stored is None:
            raise Problem(404, f"No such File object: {file_id}")
        if method == "DELETE":
            await self.files.delete(caller, file_id)
            await send_json(send, 200, {"id": file_id, "object": "file", "deleted": True})
        elif content:
            length = (b"content-length", str(stored.bytes).encode())
            await send({"type": "http.response.start", "status": 200, "headers": [*OCTETS, length]})
            async with aclosing(self.files.chunks(stored)) as chunks:
                async for chunk in chunks:
                    await send_more(send, chunk)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send_json(send, 200, file_body(stored))

    async def _upload(
        self, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/files``: a ``purpose=batch`` file streamed into the file store."""
        boundary = multipart.boundary_of(headers.get("content-type", ""))
        if boundary is None:
            raise InvalidRequestError(
                "the request body must be a multipart/form-data form with `purpose` and"
                " `file`, as OpenAI's SDKs send it",
                param="file",
            )
        length = whole_number(headers.get("content-length", ""))
        if length is not None and length > self.files.max_file_bytes + _FORM_OVERHEAD:
            raise Problem(
                413,
                f"the file is larger than {self.files.max_file_bytes:,} bytes, the most a batch"
                " input file may hold: split its requests over several files and batches",
            )
        uploads: list[Upload] = []
        async with AsyncExitStack() as stack:

            async def open_file(part: FilePart, fields: dict[str, str]) -> Sink:
                # refused before a byte of it is stored, where the form says enough
                if part.name != "file" or uploads:
                    raise InvalidRequestError(
                        "the form must hold one file, in its `file` field", param="file"
                    )
                if "purpose" in fields:
                    check_purpose(fields["purpose"])
                upload = await stack.enter_async_context(self.files.upload(caller, part.filename))
                uploads.append(upload)
                return upload

            try:
                async with aclosing(body_chunks(receive)) as chunks:
                    fields = await read_form(chunks, boundary, open_file)
            except FormError as e:
                raise InvalidRequestError(f"the form is malformed: {e}", param="file") from None
            except StoreFullError as e:
                raise Problem(413, str(e)) from None
            check_purpose(fields.get("purpose"))
            if not uploads:
                raise InvalidRequestError("Missing required parameter: 'file'.", param="file")
            uploads[0].ttl = expires_after(fields)
        stored = uploads[0].stored
        assert stored is not None  # the upload ended cleanly
        await send_json(send, 200, file_body(stored))

    async def _result_file(
        self,
        file_id: str,
        content: bool,
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """A batch's output or error file (of the caller's batch): its ``file`` object,
        or its lines rendered from the provider's results as they arrive."""
        parsed = parse_result_file_id(file_id, self._owners[caller])
        if parsed is None:
            raise _not_found(f"No such File object: {file_id}", file_id, untagged_batch(file_id))
        kind, endpoint, relaykit_batch = parsed
        if content:
            dialect = _ROUTES[endpoint]
            settings = await self.files.settings(caller, relaykit_batch) if kind == "output" else {}

            def line(result: BatchResult) -> bytes | None:
                return openai_result_line(result, kind, relaykit_batch, dialect, settings)

            await watched(
                headers,
                receive,
                lambda: send_lines(send, self.client, relaykit_batch, line, OPENAI, OCTETS),
            )
            return

        async def reply(batch: Batch) -> None:
            if not batch.done:
                body = OPENAI.error_body(404, f"No such File object: {file_id} (not yet)")
                await send_json(send, 404, body)
            else:
                await send_json(send, 200, result_file_body(kind, file_id, batch))

        await answered(
            headers, receive, send, lambda: self.client.batch(relaykit_batch), reply, OPENAI
        )

    async def _openai_batches(
        self,
        scope: Scope,
        parts: list[str],
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """A request below ``/v1/batches``: a batch created, listed, retrieved or
        cancelled; other methods and paths refused."""
        method, path = scope["method"], scope["path"]
        if parts == [""]:
            if method == "POST":
                body = await self._body(receive, headers)
                await self._create_openai_batch(body, caller, headers, receive, send)
            elif method == "GET":
                await self._list_openai_batches(scope, caller, headers, receive, send)
            else:
                raise Problem(405, f"{method} is not allowed on {path}")
            return
        # The route decides a 405 (and its Allow), whether or not the batch exists.
        action = (method, parts[1] if len(parts) > 1 else "")
        if len(parts) > 2 or action[1] not in ("", "cancel"):
            raise Problem(404, f"no route {path}")
        if action not in (("GET", ""), ("POST", "cancel")):
            raise Problem(405, f"{method} is not allowed on {path}")
        owner = self._owners[caller]
        ref = parse_batch_id(parts[0], owner)
        if ref is None:
            raise _not_found(
                f"No batch found with id '{parts[0]}': use an id this gateway gave your key",
                parts[0],
                untagged_batch(parts[0]),
            )
        fetch = self.client.batch if action == ("GET", "") else self.client.cancel_batch
        record = await self.files.batch(caller, parts[0])
        metadata = record["metadata"] if record is not None else None

        async def reply(batch: Batch) -> None:
            await send_json(send, 200, openai_batch_body(batch, ref, owner, metadata))

        await answered(headers, receive, send, lambda: fetch(ref.batch_id), reply, OPENAI)

    async def _create_openai_batch(
        self, body: Any, caller: str | None, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """``POST /v1/batches``: the input file's requests, checked whole, submitted as
        one relaykit batch to the one model they name (the caller's key must be
        allowed it)."""
        body = require_object(body)
        endpoint = check_endpoint(body.get("endpoint"))
        if body.get("completion_window") != WINDOW:
            raise InvalidRequestError(
                f"`completion_window` must be {WINDOW!r}, not {body.get('completion_window')!r}",
                param="completion_window",
            )
        metadata = body.get("metadata")
        if metadata is not None:
            metadata = string_metadata(metadata, "metadata")
            if len(metadata) > _MAX_METADATA_KEYS:
                raise InvalidRequestError(
                    f"`metadata` has {len(metadata)} keys: at most {_MAX_METADATA_KEYS}",
                    param="metadata",
                )
        file_id = body.get("input_file_id")
        stored = await self.files.get(caller, file_id) if isinstance(file_id, str) else None
        if stored is None:
            raise Problem(
                404,
                f"No such File object: {file_id}: upload the requests with POST /v1/files"
                " (purpose batch) and give the id it answers",
            )
        dialect = _ROUTES[endpoint]
        async with aclosing(self.files.lines(stored)) as lines:
            model, calls = await read_requests(
                lines, endpoint, dialect, tuple(self.client.config.models)
            )
        items = self._batch_items(model, calls, caller, headers)
        owner = self._owners[caller]

        settings = request_settings(calls)

        async def reply(batch: Batch) -> None:
            ref = BatchRef(endpoint, stored.id, batch.id)
            if settings:
                await self.files.keep_settings(caller, batch.id, settings)
            await self.files.keep_batch(caller, batch_id(ref, owner), metadata)
            await send_json(send, 200, openai_batch_body(batch, ref, owner, metadata))

        await answered(
            headers,
            receive,
            send,
            lambda: self.client.submit_batch(model, items),
            reply,
            OPENAI,
        )

    async def _list_openai_batches(
        self,
        scope: Scope,
        caller: str | None,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        """``GET /v1/batches``: the caller's batches this gateway's file store recorded,
        newest first, each as its provider describes it now (``after`` and ``limit``
        page through them)."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        limit_text = query.get("limit", ["20"])[-1]
        limit = whole_number(limit_text)
        if limit is None or not 1 <= limit <= 100:
            raise InvalidRequestError("`limit` must be a whole number from 1 to 100", param="limit")
        records = await self.files.batches(caller, prefix=OPENAI_BATCH_PREFIX)
        start = 0
        after = query.get("after", [""])[-1]
        if after:
            ids = [r["id"] for r in records]
            start = ids.index(after) + 1 if after in ids else len(records)
        page = records[start : start + limit]
        owner = self._owners[caller]

        async def described() -> list[dict[str, Any]]:
            found: dict[int, dict[str, Any]] = {}
            failures: list[RelayError] = []

            async def one(i: int, record: dict[str, Any]) -> None:
                ref = parse_batch_id(record["id"], owner)
                if ref is None:
                    return  # made without a tag (an earlier gateway), or for the key's old value
                try:
                    batch = await self.client.batch(ref.batch_id)
                    found[i] = openai_batch_body(batch, ref, owner, record["metadata"])
                except NotFoundError:  # its provider forgot it: so does the list
                    await self.files.forget_batch(record["id"])
                    await self.files.forget_settings(ref.batch_id)
                except RelayError as error:
                    failures.append(error)

            async with anyio.create_task_group() as tg:
                for i, record in enumerate(page):
                    tg.start_soon(one, i, record)
            if failures:
                raise failures[0]
            return [found[i] for i in sorted(found)]

        async def reply(data: list[dict[str, Any]]) -> None:
            await send_json(send, 200, list_page(data, has_more=start + limit < len(records)))

        await answered(headers, receive, send, described, reply, OPENAI)

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
                extra = answer_headers(response)
                body = dialect.response(response, call.model, call)
                await self._keep(call, caller, body, response)
                await send_json(send, 200, body, extra)
                return
            await self._stream(dialect, call, caller, params, send)
        except RelayError as error:
            await send_error(send, dialect, error)

    async def _stream(
        self,
        dialect: Dialect,
        call: GatewayCall,
        caller: str | None,
        params: dict[str, Any],
        send: Send,
    ) -> None:
        """A streamed answer in ``dialect``'s events (:func:`send_events`), kept when
        it finished (for a Responses API continuation)."""
        encoder = dialect.encoder(call)

        async def keep(response: ChatResponse) -> None:
            await self._keep(call, caller, getattr(encoder, "final", None), response)

        await send_events(
            send,
            self.client.stream(call.model, call.messages, **params),
            encoder,
            ending=lambda: self._ending,
            head_seconds=self.stream_head_seconds,
            ping_seconds=self.stream_ping_seconds,
            done=keep,
        )

    async def _count_tokens(
        self, dialect: Dialect, body: Any, caller: str | None, send: Send
    ) -> None:
        """The input tokens of a request body: counted by the provider where it can,
        else estimated (and a header says so), in the dialect's answer shape."""
        parse = dialect.parse_counted if isinstance(dialect, AnthropicDialect) else dialect.parse
        call = await self._continued(parse(body, tuple(self.client.config.models)), caller)
        self._check_model(caller, call.model)
        count = await self.client.count_tokens(call.model, call.messages, **call.params)
        answer: dict[str, Any] = {"input_tokens": count.input_tokens}
        if dialect is RESPONSES:
            answer = {"object": "response.input_tokens", **answer}
        extra = [] if count.exact else [(b"x-relaykit-estimated", b"true")]
        await send_json(send, 200, answer, extra)

    def _check_model(self, caller: str | None, model: str) -> None:
        """Refuse (403) a model the caller's key may not use (``RELAYKIT_GATEWAY_KEY_MODELS``)."""
        if not self.keys.allows(caller, model):
            allowed = ", ".join(self.keys.models[caller])  # type: ignore[index]  # a named key
            raise Problem(
                403,
                f"the gateway key {caller!r} may not use the model {model!r}; it may use"
                f" {allowed}: ask the gateway's operator for more",
            )

    async def _listed(self, caller: str | None) -> list[tuple[str, str, int]]:
        """The ``(id, owner, created)`` of each model and alias ``caller`` may use."""
        models = await self.client.models()
        listed = [(m.qualified_id, m.owned_by or m.provider, m.created or 0) for m in models]
        listed += [(alias, "relaykit", 0) for alias in self.client.config.models]
        return [entry for entry in listed if self.keys.allows(caller, entry[0])]

    async def _model(self, model: str, anthropic: bool, caller: str | None, send: Send) -> None:
        """``GET /v1/models/{id}``: the one model object both vendors' SDKs retrieve,
        or the vendor's 404 (OpenAI's with code ``model_not_found``)."""
        for entry in await self._listed(caller):
            if entry[0] == model:
                await send_json(send, 200, _model_entry(entry, anthropic))
                return
        shape = ANTHROPIC if anthropic else OPENAI
        body = shape.error_body(
            404,
            f"The model '{model}' does not exist or you do not have access to it:"
            " GET /v1/models lists the models this gateway key may use",
            None if anthropic else "model",
        )
        if not anthropic:
            body["error"]["code"] = "model_not_found"
        await send_json(send, 404, body)

    async def _models(
        self, anthropic: bool, caller: str | None, query: Mapping[str, list[str]]
    ) -> dict[str, Any]:
        """The caller's models: OpenAI's list (all of them, as OpenAI lists), or a page
        of Anthropic's (``limit``, ``after_id``, ``before_id``)."""
        listed = await self._listed(caller)
        if not anthropic:
            return {"object": "list", "data": [_model_entry(e, False) for e in listed]}
        page = ListPage.of([model for model, _, _ in listed], query)
        return list_body([_model_entry(e, True) for e in listed[page.start : page.end]], page)


def _require_tool_outputs(history: Sequence[RelayMessage], given: Sequence[RelayMessage]) -> None:
    """Refuse, as OpenAI does, a continuation of a response that ended on function calls
    without an output for each: not every provider would refuse the gap, and the model
    would go on without the result it asked for."""
    if not history or history[-1].role != "assistant" or not history[-1].tool_calls:
        return
    answered = {
        part.tool_call_id
        for message in given
        for part in message.content
        if isinstance(part, ToolResultPart)
    }
    for made in history[-1].tool_calls:
        if made.id not in answered:
            raise InvalidRequestError(
                f"No tool output found for function call {made.id}: send a"
                " `function_call_output` item with its `call_id` in `input`",
                param="input",
            )


def _model_entry(entry: tuple[str, str, int], anthropic: bool) -> dict[str, Any]:
    """One listed model, as OpenAI's or Anthropic's model object."""
    model, owner, created = entry
    if anthropic:
        return {
            "type": "model",
            "id": model,
            "display_name": model,
            "created_at": _rfc3339(created),
        }
    return {"id": model, "object": "model", "created": created, "owned_by": owner}


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


async def _send_results(send: Send, client: Client, batch_id: str) -> None:
    """The results of the batch ``batch_id`` as Anthropic's JSONL."""

    def line(result: BatchResult) -> bytes:
        return result_line(result, ANTHROPIC)

    await send_lines(send, client, batch_id, line, ANTHROPIC, JSONL)


async def _discard_body(receive: Receive) -> None:
    """Read what is left of a request's body and drop it, for up to
    :data:`_DISCARD_SECONDS` (as nginx reads on before it closes)."""
    with anyio.move_on_after(_DISCARD_SECONDS):
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return


async def _refuse_stopping(send: Send, shape: Dialect) -> None:
    """The 503 of a gateway shutting down, in ``shape``, closing the connection."""
    body = shape.error_body(503, SHUTTING_DOWN)
    await send_json(send, 503, body, [(b"connection", b"close")])


def _error_shape(path: str, headers: Mapping[str, str]) -> Dialect:
    """The dialect whose error body answers a request to ``path``: its route's; else
    Anthropic's for its batches, or for a request carrying ``anthropic-version``; else
    OpenAI's. Anthropic has no embeddings, rerank, audio, image, moderation, files or
    OpenAI batch API: its header does not change their shape."""
    own = _ROUTES.get(path) or _COUNTERS.get(path)
    if own is not None:
        return own
    if path == BATCHES or path.startswith(BATCHES + "/"):
        return ANTHROPIC
    if "anthropic-version" in headers and path not in _ONE_CALLS:
        return OPENAI if _openai_batch_route(path) is not None else ANTHROPIC
    return OPENAI


def _described(error: BaseException, masked: Callable[[str], str]) -> str:
    """A bug of the gateway's for the operator's log: each exception's kind and message
    (scrubbed of keys of known formats, and ``masked`` of the client's known secrets:
    upstream keys of any shape, the callers' gateway keys) and the line that raised
    it; those inside a task group's exception group one by one (the group's own
    message names none of them)."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_described(e, masked) for e in error.exceptions)
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" (at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno})" if tb else ""
    return f"{type(error).__name__}: {scrub(masked(str(error)))}{where}"


def _served_methods(path: str) -> tuple[str, ...]:
    """The methods the gateway serves at ``path``, as :meth:`Gateway._http` routes them:
    a 405's ``Allow`` (RFC 9110 requires one), and whether a method it does not serve
    there is a 405 (not a 404). Empty for a path it does not serve (``OPTIONS`` is a
    CORS preflight, not a method of a route)."""
    if path == "/health" or path in _MODELS or path.startswith(_MODEL_PATHS):
        return ("GET",)
    if path in _ROUTES or path in _COUNTERS or path in _ONE_CALLS:
        return ("POST",)
    openai_batch = _openai_batch_route(path)
    if path == BATCHES or path.startswith(BATCHES + "/"):
        root, parts = "", path[len(BATCHES) :].strip("/").split("/")
    elif openai_batch is not None:
        root, parts = openai_batch
    elif path.startswith(_KEPT):
        return ("DELETE", "GET")
    else:
        return ()
    if parts == [""]:
        return ("GET", "POST")
    if len(parts) > 2:
        return ()
    below = parts[1] if len(parts) == 2 else ""
    if root == _OPENAI_FILES:
        if below == "content" or (not below and is_result_file_id(parts[0])):
            return ("GET",)
        return () if below else ("DELETE", "GET")
    if root == _OPENAI_BATCHES and below == "results":
        return ()  # Anthropic's batches have results of their own; OpenAI's, a file
    return _BATCH_ITEM_METHODS.get(below, ())


#: what a batch's own routes serve, by the segment after its id
_BATCH_ITEM_METHODS = {"": ("GET",), "cancel": ("POST",), "results": ("GET",)}


def _openai_batch_route(path: str) -> tuple[str, list[str]] | None:
    """For a path of OpenAI's Files or Batch API (with or without ``/v1``), its root
    and the segments below it (``[""]`` for the root itself)."""
    rest = path.removeprefix("/v1")
    for root in (_OPENAI_FILES, _OPENAI_BATCHES):
        if rest == root or rest.startswith(root + "/"):
            return root, rest[len(root) :].strip("/").split("/")
    return None


def _not_found(message: str, given: str, untagged_batch_id: str | None) -> Problem:
    """A 404 (``message``) for the id ``given``, which the caller may not use; for an id
    of an earlier gateway's (made before ids carried their key: ``untagged_batch_id``
    is the batch it names), one that says where its batch can still be read."""
    if untagged_batch_id is None:
        return Problem(404, message)
    return Problem(
        404,
        f"the id {given!r} was made before the gateway's batch ids carried the key that"
        " created them, and is no longer served: read its batch on the gateway's host with"
        f" `relaykit batch status {untagged_batch_id}` and"
        f" `relaykit batch results {untagged_batch_id}`",
    )


def _results_url(scope: Scope, headers: dict[str, str], gateway_batch_id: str) -> str:
    """Where the caller reads a batch's results: this gateway as the caller reached it
    (the request's scheme and ``Host``, below the app's ``root_path``)."""
    host = headers.get("host")
    if not host:
        server_host, port = scope.get("server") or ("localhost", None)
        host = server_host if port is None else f"{server_host}:{port}"
    base = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
    return f"{base}{BATCHES}/{gateway_batch_id}/results"


def _rfc3339(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kept_id(request_id: str) -> str:
    """``request_id`` as a call keeps it: itself, or past :data:`_MAX_ID_CHARS` its
    SHA-256 (``sha256:<hex>``), which the caller can work out to find the call. Not
    cut short: the first part of a long key sent there (an STS session token) is
    not the key the client masks, and would be kept in clear."""
    if len(request_id) <= _MAX_ID_CHARS:
        return request_id
    return "sha256:" + hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).hexdigest()


#: where a request's headers hold the id the gateway gave it (a name no HTTP/1.1
#: header can have, and HTTP/2's pseudo-headers never reach the app)
_GATEWAY_REQUEST_ID = ":gateway-request-id"


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
    request_id = (
        headers.get("x-correlation-id")
        or headers.get("x-request-id")
        or headers.get(_GATEWAY_REQUEST_ID)
    )
    if request_id and "correlation_id" not in metadata:
        metadata["correlation_id"] = _kept_id(request_id)
    if metadata:
        params["metadata"] = metadata
    return params


def _batch_reply(
    scope: Scope, headers: dict[str, str], send: Send, owner: IdOwner
) -> Callable[[Batch], Awaitable[None]]:
    """What :func:`answered` sends a batch with: Anthropic's ``message_batch`` object,
    with ``owner``'s id for it."""

    async def reply(batch: Batch) -> None:
        url = _results_url(scope, headers, gateway_id(batch.id, owner))
        await send_json(send, 200, batch_body(batch, url, owner))

    return reply
