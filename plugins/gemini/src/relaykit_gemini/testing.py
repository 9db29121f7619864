"""A loopback server speaking the Gemini API's wire format, for tests and demos.

Built from Google's public API reference (ai.google.dev/api): ``POST
/v1beta/models/{model}:generateContent`` returning a
``GenerateContentResponse``; ``:streamGenerateContent?alt=sse`` returning
``data: {GenerateContentResponse}\\r\\n\\r\\n`` chunks (CRLF, as Google sends
them) with ``finishReason`` and the full ``usageMetadata`` on the last one;
``:countTokens`` taking ``contents`` or a whole ``generateContentRequest`` and
returning ``{"totalTokens": N}`` (one token per word of the system instruction
and the text parts, 258 per page of a PDF as Google counts them and one per word
of a text document; a zero left out, as Google's JSON leaves out defaults);
``:batchEmbedContents`` taking up to 100 ``EmbedContentRequest`` entries and
answering ``{"embeddings": [{"values": [...]}], "usageMetadata": {...}}``, each
text's vector being :func:`~relaykit.testing.mock_vector` of it (of
``outputDimensionality`` floats, else 8) and its tokens one per word, as
:func:`~relaykit.testing.mock_embedding_tokens` counts them;
``GET /v1beta/models`` paginated with ``pageSize``/``pageToken``; the key in
``x-goog-api-key`` (or ``?key=``); and ``{"error": {"code", "message",
"status", "details"}}`` bodies with ``google.rpc.RetryInfo`` on 429.

A body of the wrong shape (a field a message lacks, a list where one value
goes, a value of the wrong type) is refused first, in Google's words, by
:mod:`relaykit_gemini.mock_shapes`.

It also checks requests the way Gemini does where a provider is easy to get
wrong: roles, empty parts, named function responses, a function call turn
right after a user turn, as many function responses as the turn before made
calls, JSON output settings, inline data
(base64, of a MIME type Gemini reads: images, audio, video and the document
types; a PDF that is one, else "The document has no pages.") and file URIs
(``https://`` only: a ``gs://`` object is registered with the Files API
first); and an embeddings batch's size, fields, task types, texts and models
(each entry's must be the URL's).

Images: ``generateContent`` with ``responseModalities`` holding ``IMAGE`` for
the Gemini image models, each image :func:`~relaykit.testing.mock_image` of the
prompt; see :mod:`relaykit_gemini.mock_images` for what is checked and how a
reply is scripted. There is no ``:predict``: Google shut Imagen down, and the
mock answers it 404, as Google does.

``generationConfig.thinkingConfig`` is checked as Gemini checks it for the
model (:data:`THINKING`): a ``thinkingLevel`` and a ``thinkingBudget``
together ("You can only set only one of thinking budget and thinking level."),
a level before Gemini 3 ("Thinking level is not supported for this model."),
a level the model lacks ("Thinking level MEDIUM is not supported for this
model. ..."), a budget of 0 for a model that always thinks ("Budget 0 is
invalid. This model only works in thinking mode."), a budget out of the
model's range ("The thinking budget (N) is invalid.") and thinking asked of a
model without it are refused with a 400 in the words Gemini users have
reported; a model the mock has no entry for gets the type checks only.
:meth:`GeminiMock.sent_reasoning` reads the setting back.

Speech and transcripts: ``generateContent`` with ``responseModalities:
["AUDIO"]`` to a TTS model answers raw PCM of
:func:`~relaykit.testing.mock_speech` of the text, and audio sent inline to
another model is answered with what the mock hears in it, the audio's tokens
counted apart; see :mod:`relaykit_gemini.mock_audio` for what is checked. A
``generateContent`` body over :data:`MAX_REQUEST_BYTES` (the 100 MB Google's
Files API guide states for inline data) is refused with Google's message.

Batch Mode (``:batchGenerateContent``, ``batches/{id}``, ``:cancel``) and the
File API's resumable uploads and downloads: see :mod:`relaykit_gemini.mock_batches`.
A batch's items take their replies from ``script``; the batch and file
endpoints take faults from ``batch_script``; ``hold_batches`` keeps batches pending.

Scripted replies (:class:`relaykit.testing.Reply`) map onto Gemini's own
conventions: ``input_tokens`` (cached included) is ``promptTokenCount`` with
``cachedContentTokenCount`` beside it; ``output_tokens`` (reasoning included)
is split into ``candidatesTokenCount`` and ``thoughtsTokenCount``; reasoning
text becomes a ``thought: true`` part, followed by a ``thoughtSignature``;
``citations`` and ``web_searches`` become ``groundingMetadata`` (UTF-8 byte
offsets, in the last chunk of a stream; see :mod:`relaykit_gemini.mock_grounding`,
which also checks the ``googleSearch`` tool). Every request is kept in
``requests``, to read the body sent. An embeddings call takes one reply per
HTTP request (per batch): a failure (an error status or a connection fault), a
``delay``, or ``input_tokens`` for the batch's ``promptTokenCount``. Every route
that takes a reply (chat, embeddings, speech, images) fails it as
:func:`relaykit.testing.scripted_fault` says, the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from relaykit import Reasoning
from relaykit.testing.embedding_vectors import MOCK_DIMENSIONS, mock_embedding_tokens, mock_vector
from relaykit.testing.loopback import Drop, Pause, Request, Reset, Response
from relaykit.testing.script import Reply, count_tokens
from relaykit.testing.vendor_mock import VendorMock, scripted_fault

from . import mock_audio, mock_grounding, mock_images, mock_partial_args, mock_shapes
from .mock_batches import MockBatches
from .mock_shapes import unparsed_problem

#: (name, input token limit, output token limit, generation methods)
MODELS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    (
        "gemini-2.5-flash",
        1_048_576,
        65_536,
        ("generateContent", "countTokens", "createCachedContent"),
    ),
    (
        "gemini-2.5-pro",
        1_048_576,
        65_536,
        ("generateContent", "countTokens", "createCachedContent"),
    ),
    (
        "gemini-2.5-flash-lite",
        1_048_576,
        65_536,
        ("generateContent", "countTokens", "createCachedContent"),
    ),
    ("gemini-2.0-flash", 1_048_576, 8_192, ("generateContent", "countTokens")),
    (
        "gemini-3-pro-preview",
        1_048_576,
        65_536,
        ("generateContent", "countTokens", "createCachedContent"),
    ),
    (
        "gemini-3-flash-preview",
        1_048_576,
        65_536,
        ("generateContent", "countTokens", "createCachedContent"),
    ),
    ("text-embedding-004", 2_048, 1, ("embedContent",)),
    (
        "gemini-embedding-001",
        2_048,
        1,
        ("embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"),
    ),
    ("gemini-2.5-flash-image", 32_768, 32_768, ("generateContent", "countTokens")),
    ("gemini-3-pro-image", 65_536, 32_768, ("generateContent", "countTokens")),
    ("gemini-3.1-flash-image", 131_072, 32_768, ("generateContent", "countTokens")),
    ("gemini-2.5-flash-preview-tts", 8_192, 16_384, ("countTokens", "generateContent")),
    ("gemini-2.5-pro-preview-tts", 8_192, 16_384, ("countTokens", "generateContent")),
    ("gemini-3.1-flash-tts-preview", 8_192, 16_384, ("countTokens", "generateContent")),
)


class ThinkingSpec(NamedTuple):
    """How a model thinks, as the mock checks a ``thinkingConfig`` sent to it."""

    #: the least and most ``thinkingBudget`` (besides 0 and -1); ``None``: no thinking
    budgets: tuple[int, int] | None
    #: whether it takes a budget of 0 (thinking off)
    can_stop: bool
    #: the ``thinkingLevel`` values it takes, lower case; none before Gemini 3
    levels: tuple[str, ...] = ()


#: the thinking of the models the mock lists: 2.5's budget ranges from Google's
#: thinking guide, Gemini 3's levels from its Gemini 3 guide (its budget range,
#: which Google takes "for backwards compatibility", is the mock's own)
THINKING: Mapping[str, ThinkingSpec] = {
    "gemini-2.5-flash": ThinkingSpec((1, 24_576), can_stop=True),
    "gemini-2.5-pro": ThinkingSpec((128, 32_768), can_stop=False),
    "gemini-2.5-flash-lite": ThinkingSpec((512, 24_576), can_stop=True),
    "gemini-2.0-flash": ThinkingSpec(None, can_stop=True),
    "gemini-3-pro-preview": ThinkingSpec((1, 32_768), can_stop=False, levels=("low", "high")),
    "gemini-3-flash-preview": ThinkingSpec(
        (1, 32_768), can_stop=False, levels=("minimal", "low", "medium", "high")
    ),
}
#: every ``thinkingLevel`` Gemini's API knows (its enum, lower case)
THINKING_LEVELS = ("minimal", "low", "medium", "high")
_THINKING_FIELDS = ("includeThoughts", "thinkingBudget", "thinkingLevel")
_UNSPECIFIED_LEVEL = "thinking_level_unspecified"

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
_PART_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_REQUEST_FIELDS = (
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
)
#: the document types Gemini reads (its "Document understanding" guide); images,
#: audio and video are taken by their top-level type
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/x-javascript",
        "application/x-python",
        "text/css",
        "text/csv",
        "text/html",
        "text/javascript",
        "text/markdown",
        "text/plain",
        "text/rtf",
        "text/x-python",
        "text/xml",
    }
)
_MEDIA = ("image/", "audio/", "video/")
#: the largest ``generateContent`` body Gemini takes: 100 MB, for inline data
#: (the Files API guide; 20 MB until January 2026)
MAX_REQUEST_BYTES = 100 * 1024 * 1024
#: tokens Gemini counts for each page of a PDF
PDF_PAGE_TOKENS = 258
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
#: the paths of Batch Mode and the File API (:mod:`relaykit_gemini.mock_batches`)
_BATCH_PATHS = re.compile(
    r"/v1beta/models/[^/:]+:batchGenerateContent|/v1beta/batches(/.*)?|/(upload|download)/.*"
)
_METHOD = re.compile(
    r"/v1beta/models/([^/:]+)"
    r":(generateContent|streamGenerateContent|countTokens|batchEmbedContents)"
)


class GeminiMock(VendorMock):
    """The Gemini API at ``base_url`` (``http://127.0.0.1:PORT``, no version).

    ``call_ids=True`` makes function calls carry an ``id``, as newer Gemini
    models do; by default they have none, as most responses today.
    ``page_size`` caps the model listing's pages, to exercise pagination.
    ``embedding_usage=False`` leaves ``usageMetadata`` out of embeddings
    answers, as older embedding models' answers have none.
    :attr:`block_prompts` refuses prompts as Gemini's filters do.
    """

    base_path = ""
    #: the fields the ``googleSearch`` tool takes (:mod:`.mock_grounding`)
    search_fields: tuple[str, ...] = mock_grounding.GEMINI_SEARCH_FIELDS
    #: the audio MIME types read inline (:mod:`.mock_audio`)
    audio_types: tuple[str, ...] = mock_audio.AUDIO_TYPES
    #: Vertex AI's fields are taken (:class:`~relaykit_gemini.mock_vertex.VertexMock`)
    vertex = False

    def __init__(
        self,
        api_key: str | None = None,
        models: Sequence[tuple[str, int, int, tuple[str, ...]]] = MODELS,
        *,
        call_ids: bool = False,
        page_size: int = 1000,
        embedding_usage: bool = True,
    ) -> None:
        super().__init__(api_key)
        self.models = tuple(models)
        self.call_ids = call_ids
        self.page_size = page_size
        self.embedding_usage = embedding_usage
        self._n = 0
        #: the ``promptFeedback.blockReason`` of each of the next chat requests, in
        #: order (``SAFETY``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``OTHER``...):
        #: the answer has no candidates (a stream is one such chunk), as Gemini
        #: answers a prompt its filters block, and takes no scripted reply
        self.block_prompts: list[str] = []
        self._drawn: dict[str, int] = {}  # prompt -> images drawn of it on generateContent
        #: Batch Mode's batches and the File API's files (:mod:`.mock_batches`)
        self.batches = MockBatches(lambda status, message: _error(status, message))

    async def route(self, request: Request) -> Response:
        """Check the key as Google does, then dispatch by path."""
        if self.api_key is not None:
            key = request.headers.get("x-goog-api-key") or request.query.get("key")
            if not key:
                return _error(
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity to call "
                    "this API.",
                )
            if key != self.api_key:
                return _invalid_key("generativelanguage.googleapis.com")
        if request.method == "GET" and request.path == "/v1beta/models":
            return self._list(request.query)
        if _BATCH_PATHS.fullmatch(request.path):
            return await self._batch_endpoint(request)
        method = _METHOD.fullmatch(request.path)
        if request.method == "POST" and method and method.group(2) == "countTokens":
            return self._count_tokens(method.group(1), request)
        if request.method == "POST" and method and method.group(2) == "batchEmbedContents":
            return await self._batch_embed(method.group(1), request)
        if request.method == "POST" and method:
            return await self._generate(method.group(1), method.group(2), request)
        return _error(404, f"Requested entity was not found: {request.method} {request.path}")

    async def _batch_endpoint(self, request: Request) -> Response:
        """Batch Mode and the File API (:mod:`.mock_batches`); ``batch_script``'s next
        reply may fail the request, delay it, or lose its answer after acting on it
        (``answer_lost``)."""

        async def act() -> Response | None:
            self.batches.hold = self.hold_batches
            return await self.batches.route(request, self.base_url, self._batch_item)

        answer = await self.batch_answer(act, _scripted_error)
        if answer is None:
            return _error(404, f"Requested entity was not found: {request.method} {request.path}")
        return answer

    async def _batch_item(self, model: str, body: bytes) -> Response:
        """One request of a batch, answered as ``generateContent`` answers it."""
        path = f"/v1beta/models/{model}:generateContent"
        return await self._generate(model, "generateContent", Request("POST", path, {}, {}, body))

    def sent_reasoning(self, request: Request) -> Reasoning | None:
        """The ``thinkingConfig`` of a ``generateContent`` (or ``countTokens``) request:
        a level as that effort, a budget of 0 as thinking off, -1 as thinking on
        (dynamic), another budget as that many tokens; ``None`` without either
        (Gemini 2.5 and 3 think by default)."""
        return sent_reasoning(request.json())

    # -- models ----------------------------------------------------------------

    def _list(self, query: Mapping[str, str]) -> Response:
        return self._models_page(query, 50, "models", lambda m: _model(*m))

    def _models_page(
        self,
        query: Mapping[str, str],
        default_size: int,
        field: str,
        entry: Callable[[tuple[str, int, int, tuple[str, ...]]], dict[str, Any]],
    ) -> Response:
        """A page of the mock's models as Google lists them (here and on Vertex): each as
        ``entry`` renders it, under ``field``; ``pageSize`` of them (``default_size``
        when left out, at most :attr:`page_size`) from where ``pageToken`` says, and
        the next page's token while more are left."""
        try:
            size = min(int(query.get("pageSize") or default_size), self.page_size)
            start = (
                int(base64.urlsafe_b64decode(query["pageToken"]).decode())
                if query.get("pageToken")
                else 0
            )
        except (ValueError, binascii.Error):
            return _error(400, "Invalid page token or page size.")
        page = self.models[start : start + size]
        data: dict[str, Any] = {field: [entry(m) for m in page]}
        if start + size < len(self.models):
            data["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return Response.json(data)

    def _unsupported(self, model: str, method: str, needs: str | None = None) -> Response | None:
        # ``needs``: the generation method the model must list (models list
        # ``embedContent``, and answer ``batchEmbedContents`` too)
        if any(m[0] == model and (needs or method) in m[3] for m in self.models):
            return None
        return _error(
            404,
            f"models/{model} is not found for API version v1beta, or is not supported for "
            f"{method}. Call ListModels to see the list of available models and their "
            "supported methods.",
        )

    def _unanswerable(
        self,
        model: str,
        method: str,
        request: Request,
        check: Callable[[Any, str], str | None],
        needs: str | None = None,
    ) -> Response | None:
        """The answer to a request the mock does not serve, else ``None``: a model that
        does not serve ``method`` (:meth:`_unsupported`, with ``needs``), a body that is
        not JSON, or one in which ``check(body, model)`` finds a problem (Google's 400)."""
        unsupported = self._unsupported(model, method, needs)
        if unsupported is not None:
            return unsupported
        problem = unparsed_problem(request.body) or check(request.json(), model)
        return _error(400, problem) if problem else None

    # -- token counting ----------------------------------------------------------

    def _count_tokens(self, model: str, request: Request) -> Response:
        refused = self._unanswerable(model, "countTokens", request, validate_count_tokens)
        if refused is not None:
            return refused
        body = request.json()
        counted = body.get("generateContentRequest") or body
        text = count_tokens(_prompt(counted))
        docs = document_tokens(counted)
        total = text + docs
        # Google's JSON leaves out fields at their default value, a count of 0 too.
        details = _modalities(text, docs)
        return Response.json(
            {"totalTokens": total, "promptTokensDetails": details} if total else {}
        )

    # -- embeddings --------------------------------------------------------------

    async def _batch_embed(self, model: str, request: Request) -> Response:
        refused = self._unanswerable(
            model, "batchEmbedContents", request, validate_batch_embed, needs="embedContent"
        )
        if refused is not None:
            return refused
        body = request.json()
        reply = self.script.next(Reply())
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        entries = body["requests"]
        texts = [_texts(entry["content"]) for entry in entries]
        sizes = [entry.get("outputDimensionality") or MOCK_DIMENSIONS for entry in entries]
        data: dict[str, Any] = {
            "embeddings": [
                {"values": list(mock_vector(text, size))}
                for text, size in zip(texts, sizes, strict=True)
            ]
        }
        if self.embedding_usage:
            tokens = reply.input_tokens
            if tokens is None:
                tokens = sum(map(mock_embedding_tokens, texts))
            details = [{"modality": "TEXT", "tokenCount": tokens}]
            data["usageMetadata"] = {"promptTokenCount": tokens, "promptTokenDetails": details}
        return Response.json(data, headers=dict(reply.headers))

    # -- speech and images -----------------------------------------------------

    async def _speak(self, model: str, body: dict[str, Any]) -> Response:
        reply = self.script.next(Reply())
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        self._n += 1
        answer = mock_audio.speech_turn(_prompt(body), model, reply, f"mockResp{self._n:06d}")
        return Response.json(answer, headers=dict(reply.headers))

    async def _draw(self, model: str, body: dict[str, Any]) -> Response:
        prompt = _prompt(body)
        reply = self.script.next(Reply())
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        self._n += 1
        index = self._drawn.get(prompt, 0)
        if reply.finish != "content_filter" and not reply.refusal:
            self._drawn[prompt] = index + 1
        answer = mock_images.image_turn(body, model, reply, prompt, index, f"mockResp{self._n:06d}")
        return Response.json(answer, headers=dict(reply.headers))

    # -- generation ------------------------------------------------------------

    async def _generate(self, model: str, method: str, request: Request) -> Response:
        unsupported = self._unsupported(model, "generateContent")
        if unsupported is not None:
            return unsupported
        if len(request.body) > MAX_REQUEST_BYTES:
            return _error(
                400, f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
            )
        problem = unparsed_problem(request.body)
        if problem:
            return _error(400, problem)
        body = request.json()
        problem = validate(body, model, vertex=self.vertex) or mock_grounding.tools_problem(
            body, model, self.search_fields
        )
        if problem:
            return _error(400, problem)
        config = body.get("generationConfig") or {}
        if "IMAGE" in [str(m).upper() for m in config.get("responseModalities") or ()]:
            problem = mock_images.image_problem(config, model) or mock_images.inputs_problem(body)
            if problem:
                return _error(400, problem)
            if method != "generateContent":
                return _error(400, "The mock draws images on generateContent only.")
            return await self._draw(model, body)
        if mock_audio.wants_audio(body) or mock_audio.is_tts(model):
            problem = mock_audio.speech_problem(body, model)
            if problem:
                return _error(400, problem)
            if method != "generateContent":
                return _error(400, "The mock speaks on generateContent only.")
            return await self._speak(model, body)
        problem = mock_audio.audio_problem(body, self.audio_types)
        if problem:
            return _error(400, problem)
        clips = mock_audio.audio_parts(body)
        contents = body.get("contents") or []
        prompt = _prompt(body)
        if self.block_prompts:
            self._n += 1
            blocked = self._blocked(self.block_prompts.pop(0), model, prompt)
            return _answer(blocked, method, request, {})
        last_user = next(
            (_texts(c) for c in reversed(contents) if c.get("role") == "user" and _texts(c)), ""
        )
        # Audio sent inline is there to be heard: unscripted, the mock says what it heard.
        default = (
            Reply(text=" ".join(mock_audio.heard(clip) for clip in clips))
            if clips
            else self.default_reply(last_user)
        )
        reply = self.script.next(default)
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        self._n += 1
        turn = _Turn(
            self, reply, model, prompt, document_tokens(body), mock_audio.audio_tokens(clips)
        )
        turn.stream_arguments = self.vertex and mock_partial_args.asked(body)
        if method == "generateContent":
            return Response.json(turn.whole(), headers=dict(reply.headers))
        return _answer(turn.chunks(), method, request, reply.headers)

    def _blocked(self, reason: str, model: str, prompt: str) -> dict[str, Any]:
        """The answer to a prompt Gemini's filters block for ``reason``: no candidates,
        the prompt's feedback (with the ratings that blocked it, for ``SAFETY``)."""
        feedback: dict[str, Any] = {"blockReason": reason}
        if reason == "SAFETY":
            feedback["safetyRatings"] = [
                {"category": category, "probability": probability, **blocked}
                for category, probability, blocked in _PROMPT_RATINGS
            ]
        tokens = self.usage_of(Reply(), prompt)[0]
        return {
            "promptFeedback": feedback,
            "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens},
            "modelVersion": model,
            "responseId": f"mockResp{self._n:06d}",
        }


#: the ratings of a prompt blocked for SAFETY: the category that blocked it, and the rest
_PROMPT_RATINGS: tuple[tuple[str, str, dict[str, bool]], ...] = (
    ("HARM_CATEGORY_SEXUALLY_EXPLICIT", "NEGLIGIBLE", {}),
    ("HARM_CATEGORY_HATE_SPEECH", "NEGLIGIBLE", {}),
    ("HARM_CATEGORY_HARASSMENT", "NEGLIGIBLE", {}),
    ("HARM_CATEGORY_DANGEROUS_CONTENT", "HIGH", {"blocked": True}),
)


def _answer(
    chunks: dict[str, Any] | Iterator[dict[str, Any] | bytes | Pause | Drop | Reset],
    method: str,
    request: Request,
    headers: Mapping[str, str],
) -> Response:
    """A ``generateContent`` answer (one response), or a stream of ``chunks``: SSE with
    ``alt=sse``, else one JSON array of responses, as Google streams without it."""
    if isinstance(chunks, dict):
        if method == "generateContent":
            return Response.json(chunks, headers=dict(headers))
        chunks = iter([chunks])
    if request.query.get("alt") != "sse":
        return Response.json([c for c in chunks if isinstance(c, dict)])
    return Response(200, {"content-type": "text/event-stream", **headers}, _sse(chunks))


def document_tokens(request: dict[str, Any]) -> int:
    """Tokens of a (validated) request's documents: ``PDF_PAGE_TOKENS`` a PDF page,
    a token a word of a text document; one page for a document by URL, which the
    mock does not fetch. Images count none, as before documents came."""
    tokens = 0
    for content in request.get("contents") or ():
        for part in content.get("parts") or ():
            if "inlineData" in part:
                blob = part["inlineData"]
                tokens += _blob_tokens(blob["mimeType"], base64.b64decode(blob["data"]))
            elif "fileData" in part and part["fileData"].get("mimeType") in DOCUMENT_TYPES:
                tokens += PDF_PAGE_TOKENS
    return tokens


def _blob_tokens(mime: str, raw: bytes) -> int:
    if mime == "application/pdf":
        return PDF_PAGE_TOKENS * max(1, len(_PDF_PAGE.findall(raw)))
    if mime in DOCUMENT_TYPES:
        return count_tokens(raw.decode("utf-8", "replace"))
    return 0


def _modalities(text: int, documents: int, audio: int = 0) -> list[dict[str, Any]]:
    """``promptTokensDetails``: tokens by modality, documents and audio apart as Google
    reports them."""
    details = [{"modality": "TEXT", "tokenCount": text}]
    if documents:
        details.append({"modality": "DOCUMENT", "tokenCount": documents})
    if audio:
        details.append({"modality": "AUDIO", "tokenCount": audio})
    return details


def _prompt(request: dict[str, Any]) -> str:
    """A generateContent request's text, its system instruction's included: what
    Gemini counts as the prompt (for ``countTokens`` and ``promptTokenCount`` alike)."""
    texts = [_texts(c) for c in request.get("contents") or ()]
    system = request.get("systemInstruction")
    if isinstance(system, dict):
        texts.insert(0, _texts(system))
    return " ".join(texts)


class _Turn:
    """One scripted reply rendered as Gemini parts, usage and finish reason."""

    def __init__(
        self,
        mock: GeminiMock,
        reply: Reply,
        model: str,
        prompt: str,
        documents: int = 0,
        audio: int = 0,
    ) -> None:
        self.reply = reply
        self.model = model
        self.rid = f"mockResp{mock._n:06d}"
        inp, out = mock.usage_of(reply, prompt)
        if reply.input_tokens is not None:
            documents = audio = 0  # a scripted count is the whole prompt's
        inp += documents + audio
        thoughts = reply.reasoning_tokens
        if not thoughts and reply.output_tokens is None:
            thoughts = count_tokens(reply.reasoning)
        thoughts = min(thoughts, out)
        self.prompt_tokens = inp
        self.usage: dict[str, Any] = {
            "promptTokenCount": inp,
            "candidatesTokenCount": out - thoughts,
            "totalTokenCount": inp + out,
            "promptTokensDetails": _modalities(inp - documents - audio, documents, audio),
        }
        if thoughts:
            self.usage["thoughtsTokenCount"] = thoughts
        if reply.cached_input_tokens:
            self.usage["cachedContentTokenCount"] = reply.cached_input_tokens
            self.usage["cacheTokensDetails"] = [
                {"modality": "TEXT", "tokenCount": reply.cached_input_tokens}
            ]
        self.calls = [
            {"functionCall": {"name": name, "args": dict(args)}} for name, args in reply.tool_calls
        ]
        if mock.call_ids:
            for i, call in enumerate(self.calls):
                call["functionCall"]["id"] = f"fc-{mock._n}-{i}"
        self.signature = (
            base64.b64encode(f"mock-thought-signature-{mock._n}".encode()).decode()
            if reply.reasoning
            else None
        )
        mock_grounding.check_citations(reply.citations, reply.text)
        # The answer's text is the part after the thought, when there is one.
        self.text_part = 1 if reply.reasoning else 0
        #: stream each call's arguments in pieces (Vertex's streamFunctionCallArguments)
        self.stream_arguments = False

    def _response(
        self, parts: list[dict[str, Any]], *, last: bool, first: bool = False
    ) -> dict[str, Any]:
        if self.reply.future_events:  # a part and a field of kinds Google may add
            parts = [{"futurePart": {"detail": "a part of a kind added later"}}, *parts]
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if self.reply.future_events:
            candidate["futureField"] = {"detail": "more"}
        if last:
            candidate["finishReason"] = self.reply.finish_word(_FINISH)
        if first or last:
            # A stream's first chunk holds the queries, its last all of it.
            grounded = mock_grounding.metadata(self.reply, self.text_part, sources=last)
            if grounded is not None:
                candidate["groundingMetadata"] = grounded
        usage = (
            self.usage
            if last
            else {"promptTokenCount": self.prompt_tokens, "totalTokenCount": self.prompt_tokens}
        )
        return {
            "candidates": [candidate],
            # ``Reply(usage=False)``: none at all, as a proxy that drops it may send
            **({"usageMetadata": usage} if self.reply.usage else {}),
            "modelVersion": self.model,
            "responseId": self.rid,
        }

    def _sign(self, parts: list[dict[str, Any]]) -> None:
        # Where Gemini puts it: the first function call, else the turn's last part.
        if self.signature is None:
            return
        target = next((p for p in parts if "functionCall" in p), None)
        if target is None:
            parts.append({"text": "", "thoughtSignature": self.signature})
        else:
            target["thoughtSignature"] = self.signature

    def whole(self) -> dict[str, Any]:
        """The non-streamed response."""
        parts: list[dict[str, Any]] = []
        if self.reply.reasoning:
            parts.append({"text": self.reply.reasoning, "thought": True})
        if self.reply.text:
            parts.append({"text": self.reply.text})
        parts.extend(self.calls)
        self._sign(parts)
        return self._response(parts or [{"text": ""}], last=True)

    def chunks(self) -> Iterator[dict[str, Any] | bytes | Pause | Drop | Reset]:
        """The streamed responses, with pauses and faults as scripted (bytes: ones
        that are not a response, sent as they are)."""
        reply = self.reply
        pending: list[dict[str, Any]] | None = None  # held back: the last one carries the finish
        first = True
        if reply.reasoning:
            pending = [{"text": reply.reasoning, "thought": True}]
        for piece in reply.chunks():
            if pending is not None:
                yield self._response(pending, last=False, first=first)
                first = False
            if reply.chunk_delay:
                yield Pause(reply.chunk_delay)
            pending = [{"text": piece}]
        if reply.stream_fault:
            if pending is not None:
                yield self._response(pending, last=False, first=first)
            if reply.stream_fault == "drop":
                yield Drop()
                return
            if reply.stream_fault == "reset":
                yield Reset()
                return
            if reply.stream_fault == "garbage":
                yield b"data: {this is not json\r\n\r\n"
                return
            if reply.stream_fault == "truncate":  # the body ends before the finish chunk
                return
            # ``error_code`` names Google's status (``UNAVAILABLE``); INTERNAL by default.
            status = reply.error_code or "INTERNAL"
            code = next((c for c, name in _STATUS.items() if name == status), 500)
            error: dict[str, Any] = {
                "code": code,
                "message": reply.error or "An internal error has occurred.",
                "status": status,
            }
            if reply.retry_after is not None:  # as the same error over HTTP says it
                error["details"] = [_retry_info(reply.retry_after)]
            yield {"error": error}
            return
        if self.calls and self.stream_arguments:
            if pending is not None:
                yield self._response(pending, last=False, first=first)
            self._sign(self.calls)  # the signature goes on the first call's first part
            pieces = mock_partial_args.call_chunks(self.calls)
            for parts in pieces[:-1]:
                yield self._response(parts, last=False)
            yield self._response(pieces[-1], last=True)  # the last call's end, and the finish
            return
        if self.calls:
            if pending is not None:
                yield self._response(pending, last=False, first=first)
            pending = [dict(c) for c in self.calls]
        final = pending if pending is not None else [{"text": ""}]
        self._sign(final)
        yield self._response(final, last=True)


def _sse(
    chunks: Iterator[dict[str, Any] | bytes | Pause | Drop | Reset],
) -> Iterator[bytes | Pause | Drop | Reset]:
    for chunk in chunks:
        if isinstance(chunk, bytes | Pause | Drop | Reset):
            yield chunk
        else:
            yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\r\n\r\n"


def _model(name: str, inp: int, out: int, methods: tuple[str, ...]) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name.replace("-", " ").title(),
        "description": f"Mock of {name}",
        "inputTokenLimit": inp,
        "outputTokenLimit": out,
        "supportedGenerationMethods": list(methods),
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
    }


def _texts(content: Mapping[str, Any]) -> str:
    return " ".join(
        p["text"]
        for p in content.get("parts") or ()
        if isinstance(p, dict) and p.get("text") and not p.get("thought")
    )


def validate(body: Any, model: str | None = None, *, vertex: bool = False) -> str | None:
    """Gemini's message for what is wrong with a ``generateContent`` body, or ``None``.

    With ``model``, its ``thinkingConfig`` is checked against what that model
    takes (:data:`THINKING`); ``vertex`` takes the fields only Vertex AI has
    (:data:`~relaykit_gemini.mock_shapes.VERTEX_REQUEST`).
    """
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for key in body:
        if key not in _REQUEST_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
    # first: the checks below read the body with plain lookups
    problem = mock_shapes.request_shape_problem(body, vertex=vertex)
    if problem:
        return problem
    contents = body.get("contents")
    if not contents or not isinstance(contents, list):
        return "* GenerateContentRequest.contents: contents is not specified"
    expected_responses = 0
    for i, content in enumerate(contents):
        where = f"GenerateContentRequest.contents[{i}]"
        if content.get("role") not in ("user", "model"):
            return "Please use a valid role: user, model."
        parts = content.get("parts")
        if not parts:
            return f"* {where}.parts: contents.parts must not be empty."
        responses = 0
        for j, part in enumerate(parts):
            problem = _part_problem(part, f"{where}.parts[{j}]")
            if problem:
                return problem
            responses += "functionResponse" in part
        calls = sum("functionCall" in p for p in parts) if content["role"] == "model" else 0
        if calls and (i == 0 or contents[i - 1].get("role") != "user"):
            # The API's words (pi#471, earendil-works): a call answers a user turn.
            return (
                "Please ensure that function call turn comes immediately after a user turn "
                "or after a function response turn."
            )
        if expected_responses and responses != expected_responses:
            return (
                "Please ensure that the number of function response parts is equal to the number "
                "of function call parts of the function call turn."
            )
        expected_responses = calls
    if model is not None and (problem := _unsigned_call(contents, model)):
        return problem
    config = body.get("generationConfig") or {}
    if "responseJsonSchema" in config and config.get("responseMimeType") != "application/json":
        return (
            "* GenerateContentRequest.generation_config.response_mime_type: "
            "response_mime_type must be application/json when a response schema is set."
        )
    if "thinkingConfig" in config:
        return validate_thinking(config["thinkingConfig"], model)
    return None


def validate_thinking(settings: Any, model: str | None = None) -> str | None:
    """Gemini's message for what is wrong with a ``thinkingConfig``, or ``None``:
    its shape, then (for a ``model`` in :data:`THINKING`) what that model takes."""
    problem = _thinking_shape_problem(settings)
    if problem or model is None or model not in THINKING:
        return problem
    spec = THINKING[model]
    level = _level(settings)
    budget = settings.get("thinkingBudget")
    if spec.budgets is None and (level is not None or budget not in (None, 0)):
        return "Unable to submit request because thinking is not supported by this model."
    if level is not None:
        return _level_problem(level, spec)
    return None if budget is None else _budget_problem(budget, spec)


def _thinking_shape_problem(settings: Any) -> str | None:
    """What Gemini's JSON parsing (and its one-of rule) refuses in a ``thinkingConfig``."""
    where = "generation_config.thinking_config"
    if not isinstance(settings, dict):
        return (
            f"Invalid value at '{where}' "
            "(type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig)"
        )
    for key in settings:
        if key not in _THINKING_FIELDS:
            return (
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )
    include = settings.get("includeThoughts")
    if include is not None and not isinstance(include, bool):
        return f"Invalid value at '{where}.include_thoughts' (TYPE_BOOL), {include!r}"
    budget = settings.get("thinkingBudget")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)):
        return f"Invalid value at '{where}.thinking_budget' (TYPE_INT32), {budget!r}"
    level = settings.get("thinkingLevel")
    known = (*THINKING_LEVELS, _UNSPECIFIED_LEVEL)
    if level is not None and (not isinstance(level, str) or level.lower() not in known):
        return (
            f"Invalid value at '{where}.thinking_level' (type.googleapis.com/"
            f'google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), "{level}"'
        )
    if _level(settings) is not None and budget is not None:
        return "You can only set only one of thinking budget and thinking level."
    return None


def _budget_problem(budget: int, spec: ThinkingSpec) -> str | None:
    if budget == -1 or spec.budgets is None:  # dynamic; or 0 to a model that never thinks
        return None
    if budget == 0:
        return (
            None
            if spec.can_stop
            else "Budget 0 is invalid. This model only works in thinking mode."
        )
    least, most = spec.budgets
    return None if least <= budget <= most else f"The thinking budget ({budget}) is invalid."


def _level_problem(level: str, spec: ThinkingSpec) -> str | None:
    if not spec.levels:
        return "Thinking level is not supported for this model."
    if level not in spec.levels:
        return (
            f"Thinking level {level.upper()} is not supported for this model. "
            "Please retry with other thinking level."
        )
    return None


def _level(settings: Mapping[str, Any]) -> str | None:
    """A well-formed ``thinkingConfig``'s level, lower case; ``None`` if unset."""
    level = settings.get("thinkingLevel")
    if level is None or level.lower() == _UNSPECIFIED_LEVEL:
        return None
    return str(level).lower()


def sent_reasoning(body: Any) -> Reasoning | None:
    """The thinking setting in a ``generateContent`` body, or a ``countTokens`` one
    holding a ``generateContentRequest``: see :meth:`GeminiMock.sent_reasoning`."""
    inner = body.get("generateContentRequest") or body
    settings = (inner.get("generationConfig") or {}).get("thinkingConfig") or {}
    level = _level(settings)
    if level is not None:
        return Reasoning(level)  # type: ignore[arg-type]  # one of THINKING_LEVELS
    budget = settings.get("thinkingBudget")
    if budget is None:
        return None
    if budget == -1:
        return Reasoning()
    return Reasoning("none") if budget == 0 else Reasoning(budget_tokens=budget)


_COUNT_FIELDS = ("contents", "generateContentRequest")
_MODEL_NAME = re.compile(r"(models|tunedModels)/[^/]+")


def validate_count_tokens(body: Any, model: str) -> str | None:
    """Gemini's message for what is wrong with a ``countTokens`` body for ``model``, or ``None``.

    The body holds ``contents`` or a ``generateContentRequest`` (a whole
    ``generateContent`` body plus its ``model``), never both: the reference
    calls them mutually exclusive. The mock also wants that ``model`` to be the
    one in the path. Messages Google does not publish are worded by the mock.
    """
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for key in body:
        if key not in _COUNT_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
    if "generateContentRequest" not in body:
        return validate({"contents": body.get("contents")})
    if "contents" in body:
        return (
            "* CountTokensRequest: contents and generate_content_request are mutually "
            "exclusive; send one of them."
        )
    inner = body["generateContentRequest"]
    if not isinstance(inner, dict):
        return (
            "Invalid value at 'generate_content_request' "
            "(type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentRequest)"
        )
    name = inner.get("model")
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        return "* GenerateContentRequest.model: unexpected model name format"
    if name != f"models/{model}":
        return (
            f"* GenerateContentRequest.model: {name} is not the model the request is for "
            f"(models/{model})."
        )
    return validate({k: v for k, v in inner.items() if k != "model"}, model)


#: the most entries a ``batchEmbedContents`` body may hold
EMBED_BATCH_LIMIT = 100
_EMBED_FIELDS = ("model", "content", "taskType", "title", "outputDimensionality")
_TASK_TYPES = (
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
)


def validate_batch_embed(body: Any, model: str) -> str | None:
    """Gemini's message for what is wrong with a ``batchEmbedContents`` body for ``model``.

    ``None`` when nothing is. The batch limit's message is Google's own;
    messages Google does not publish (a model that is not the URL's, an
    empty text) are worded by the mock.
    """
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for key in body:
        if key != "requests":
            return f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
    entries = body.get("requests")
    if not entries or not isinstance(entries, list):
        return "* BatchEmbedContentsRequest.requests: requests is not specified"
    if len(entries) > EMBED_BATCH_LIMIT:
        return (
            "* BatchEmbedContentsRequest.requests: at most "
            f"{EMBED_BATCH_LIMIT} requests can be in one batch"
        )
    for i, entry in enumerate(entries):
        problem = _embed_entry_problem(entry, f"requests[{i}]", model)
        if problem:
            return problem
    return None


def _embed_entry_problem(entry: Any, where: str, model: str) -> str | None:
    if not isinstance(entry, dict):
        return (
            f"Invalid value at '{where}' "
            "(type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentRequest)"
        )
    for key in entry:
        if key not in _EMBED_FIELDS:
            return (
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )
    field = f"* BatchEmbedContentsRequest.{where}"
    if entry.get("model") != f"models/{model}":
        return (
            f"{field}.model: {entry.get('model')} is not the model the batch is for "
            f"(models/{model}); every request of a batch must name it."
        )
    content = entry.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(content, dict) or not parts or not isinstance(parts, list):
        return f"{field}.content.parts: contents.parts must not be empty."
    if not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts):
        return f"{field}.content.parts: an embedding model embeds text parts only."
    if not _texts(content).strip():
        return f"{field}.content: the text to embed is empty."
    task = entry.get("taskType")
    if task is not None and task not in _TASK_TYPES:
        return (
            f"Invalid value at '{where}.task_type' "
            f'(type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), "{task}"'
        )
    size = entry.get("outputDimensionality")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        return f"Invalid value at '{where}.output_dimensionality' (TYPE_INT32), {size!r}"
    if size is not None and size < 1:
        return f"{field}.output_dimensionality: outputDimensionality must be positive."
    if (
        size is not None
        and model in _EMBED_SIZES
        and not (_EMBED_SIZES[model][0] <= size <= _EMBED_SIZES[model][1])
    ):
        # Google documents the range (gemini-embedding-001: 128 to 3072), not
        # its error's wording: this one is the mock's.
        low, high = _EMBED_SIZES[model]
        return (
            f"{field}.output_dimensionality: {size} is outside the range {model} "
            f"supports ({low} to {high})."
        )
    return None


#: the output sizes Google documents per embedding model (smallest, largest)
_EMBED_SIZES = {"gemini-embedding-001": (128, 3072)}


_MOCK_SIGNATURE = re.compile(r"mock-thought-signature-\d+\Z")


#: the signatures Gemini's docs give for function calls it did not make (another
#: model's, or written by hand), which pass its check
DUMMY_SIGNATURES = ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go")


def _unsigned_call(contents: list[dict[str, Any]], model: str) -> str | None:
    """Gemini 3's rule (but its image models'), in its words: in the current turn
    (since the user last wrote), each step's first function call carries the
    signature its answer came with, or one of :data:`DUMMY_SIGNATURES`."""
    if not model.startswith("gemini-3") or "image" in model:
        return None
    for content in reversed(contents):
        parts = content["parts"]
        if content["role"] == "user":
            if not any("functionResponse" in p for p in parts) or any("text" in p for p in parts):
                return None  # the user's own words: the current turn starts after them
            continue
        for j, part in enumerate(parts):
            if "functionCall" in part:
                if "thoughtSignature" in part:
                    break
                name = part["functionCall"].get("name")
                return (
                    "Function call is missing a thought_signature in functionCall parts. This "
                    "is required for tools to work correctly, and missing thought_signature may "
                    f"lead to degraded model performance. Additional data, function call "
                    f"`default_api:{name}` , position {j + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
    return None


def _decoded(signature: Any) -> str:
    try:
        return base64.b64decode(str(signature), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _part_problem(part: Any, where: str) -> str | None:
    if not isinstance(part, dict):
        return f"* {where}: a part must be an object"
    present = [f for f in _PART_FIELDS if f in part]
    if len(present) != 1:
        return f"* {where}.data: required oneof field 'data' must have one initialized field"
    if "inlineData" in part:
        problem = _blob_problem(part["inlineData"], where)
        if problem:
            return problem
    if "fileData" in part:
        uri = str(part["fileData"].get("fileUri") or "")
        if not uri:
            return f"* {where}.file_data.file_uri: file_uri is required"
        if not uri.startswith("https://"):
            return f"* {where}.file_data.file_uri: Unsupported file uri: {uri}"
    signature = part.get("thoughtSignature")
    if (
        signature is not None
        and signature not in DUMMY_SIGNATURES
        and not _MOCK_SIGNATURE.match(_decoded(signature))
    ):
        # Gemini reads its signatures; one it did not make is refused.
        return f"Unable to submit request because {where} has an invalid thought signature."
    if "functionCall" in part and not part["functionCall"].get("name"):
        return f"* {where}.function_call.name: Name cannot be empty."
    if "functionResponse" in part:
        fr = part["functionResponse"]
        if not fr.get("name"):
            return f"* {where}.function_response.name: Name cannot be empty."
        if not isinstance(fr.get("response"), dict):
            return (
                f"Invalid value at '{where}.function_response.response' "
                "(type.googleapis.com/google.protobuf.Struct)"
            )
    return None


def _blob_problem(blob: dict[str, Any], where: str) -> str | None:
    mime = blob.get("mimeType")
    if not mime:
        return f"* {where}.inline_data.mime_type: mime_type is required"
    if not blob.get("data"):  # the mock's words: Google publishes none for it
        return f"* {where}.inline_data.data: data is required"
    try:
        raw = base64.b64decode(blob.get("data") or "", validate=True)
    except binascii.Error:
        return f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
    if mime not in DOCUMENT_TYPES and not mime.startswith(_MEDIA):
        return f"Unsupported MIME type: {mime}"
    if mime == "application/pdf" and not raw.startswith(b"%PDF-"):
        return "The document has no pages."
    return None


def _scripted_error(reply: Reply) -> Response:
    details: list[dict[str, Any]] = []
    if reply.status == 429:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": _QUOTA_METRIC,
                        # ``code`` names the quota used up (a per-day one: retrying is vain)
                        "quotaId": reply.error_code
                        or "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    }
                ],
            }
        )
        if reply.retry_after is not None:
            details.append(_retry_info(reply.retry_after))
    return _error(reply.status, reply.error, details=details, headers=dict(reply.headers))


def _retry_info(seconds: float) -> dict[str, Any]:
    """Google's ``google.rpc.RetryInfo`` detail asking for a wait of ``seconds``."""
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"}


def _invalid_key(service: str) -> Response:
    """Google's 400 for an API key it does not know, from ``service``."""
    return _error(
        400,
        "API key not valid. Please pass a valid API key.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": service},
            }
        ],
    )


def _error(
    status: int,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    err: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS.get(status, "UNKNOWN"),
    }
    if details:
        err["details"] = details
    return Response.json({"error": err}, status, headers)


__all__ = [
    "DOCUMENT_TYPES",
    "EMBED_BATCH_LIMIT",
    "MAX_REQUEST_BYTES",
    "MODELS",
    "PDF_PAGE_TOKENS",
    "THINKING",
    "THINKING_LEVELS",
    "GeminiMock",
    "ThinkingSpec",
    "document_tokens",
    "sent_reasoning",
    "validate",
    "validate_batch_embed",
    "validate_count_tokens",
    "validate_thinking",
]
