"""The small protocols plugins implement, and the values that cross them.

Hooks (:mod:`relaykit.hookspecs`) hand the core objects that satisfy these
protocols. They are structural: a plugin does not subclass anything.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, Protocol, runtime_checkable

import attrs

from .config import LimitConfig, TimeoutConfig
from .errors import InvalidRequestError
from .events import StreamEvent
from .known_secrets import KnownSecrets
from .log_cursor import cursor_position, log_cursor
from .messages import Message, ReasoningPart, TextPart, ToolCall
from .request import ChatRequest
from .response import ChatResponse, FinishReason, ModelInfo, ModelPrice, Usage
from .secrets import Secret, headers_repr, scrub
from .web_search import Citation

if TYPE_CHECKING:
    from .gauge_events import GaugeEvent
    from .http import HttpClient

__all__ = [
    "NO_ANSWER_CONTENT",
    "CacheStore",
    "CachedModels",
    "CallRecord",
    "Exporter",
    "LogQuery",
    "Provider",
    "ProviderFactory",
    "ProviderSettings",
    "RateLimiter",
    "Redactor",
    "Reservation",
    "Storage",
    "UsageTotal",
    "citations_text",
    "metadata_text",
    "new_messages",
    "search_words",
]

# -------------------------------------------------------------------------
# providers
# -------------------------------------------------------------------------


@attrs.frozen
class ProviderSettings:
    """Everything a provider needs to know, resolved from config and environment.

    ``name`` is what the user calls it (``groq``); the factory's ``type`` is what
    implements it (``groq`` too, or ``openai`` for a custom compatible server).
    """

    name: str
    # a base URL may hold credentials (user:password@, ?key=); headers often do
    base_url: str = attrs.field(repr=lambda v: scrub(repr(v)))
    api_key: Secret | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=headers_repr)
    options: Mapping[str, Any] = attrs.field(factory=dict, repr=lambda v: scrub(repr(v)))
    timeouts: TimeoutConfig = TimeoutConfig()
    #: the environment the client reads (``Client(env=...)``, else ``os.environ``),
    #: for a vendor's variables beyond the key and base URL (Azure OpenAI's
    #: ``OPENAI_API_VERSION`` and ``AZURE_OPENAI_AD_TOKEN``); never in reprs
    env: Mapping[str, str] = attrs.field(factory=dict, repr=False, eq=False)
    #: the client's secrets to mask (its keys, as configured): a provider adds the
    #: credentials it reads or mints itself (an Entra ID token, a Google access
    #: token) with ``known_secrets.add(value)``, so errors, logs and records mask
    #: them whatever their shape; outside a client, a set of its own
    known_secrets: KnownSecrets = attrs.field(factory=KnownSecrets, repr=False, eq=False)
    #: the config file's directory (``Config.base_dir``): a relative path among
    #: ``options`` is taken from it (:func:`relaykit.plugin_options.config_path`)
    base_dir: Path | None = attrs.field(default=None, eq=False)


@runtime_checkable
class Provider(Protocol):
    """One configured LLM service. Built once per client by its :class:`ProviderFactory`.

    Raise :class:`relaykit.RelayError` subclasses for HTTP errors (see
    :func:`relaykit.errors.error_for_status`); the core maps transport errors
    and timeouts of the HTTP client itself.

    Optional capabilities, found with ``hasattr``:

    - ``async count_tokens(request) -> int``, the input tokens the vendor would
      bill ``request`` for (:meth:`relaykit.Client.count_tokens` estimates
      without it);
    - ``context_window(model) -> int | None``, ``model``'s context window as the
      plugin's own table knows it, without a request: what a route's fallback
      from a prompt too long compares when :meth:`list_models` fails (a service
      with no listing endpoint); without it, the window is then unknown;
    - ``async embed(request: EmbeddingRequest) -> EmbeddingResponse``, one
      vector per ``request.inputs``, in order, with the billed input tokens in
      ``usage`` (:meth:`relaykit.Client.embed` refuses a provider without it).
      It gets every input of the caller's call: batching them into the
      vendor's own limits per request is the plugin's job;
    - ``async rerank(request: RerankRequest) -> RerankResponse``, the
      documents ranked best first (:func:`relaykit.rerank.ranked` builds the
      results from the vendor's ``(index, score)`` pairs), with the search
      units or input tokens the vendor billed (:meth:`relaykit.Client.rerank`
      refuses a provider without it, and estimates tokens it does not report);
    - ``async transcribe(request: TranscriptionRequest) -> TranscriptionResponse``,
      the text said in ``request.audio``, with the audio's ``duration`` when the
      vendor says it (a price per minute needs it) or the tokens it billed
      (:meth:`relaykit.Client.transcribe` refuses a provider without it). A
      plugin refuses audio its service cannot take (too large, say) with an
      :class:`~relaykit.InvalidRequestError` without a status, before sending;
    - ``async generate_image(request: ImageRequest) -> ImageResponse``, the
      images drawn from ``request.prompt``, each a :class:`~relaykit.GeneratedImage`
      with its bytes (:func:`relaykit.image_generation.image_from_base64` reads
      a vendor's base64) or the vendor's URL, and the tokens the vendor billed
      where it bills tokens (:meth:`relaykit.Client.generate_image` refuses a
      provider without it). A plugin refuses unsent, with an
      :class:`~relaykit.InvalidRequestError` without a status, what its service
      cannot do (more images than it draws at once, a size it has no word for);
    - ``async edit_image(request: ImageEditRequest) -> ImageResponse``, the
      images made from ``request.images`` (each an :class:`~relaykit.ImageFile`
      whose format is known) as ``request.prompt`` says, with ``request.mask``
      marking where to edit the first image when given; answered as
      ``generate_image`` answers (:meth:`relaykit.Client.edit_image` refuses a
      provider without it). A plugin refuses unsent, with an
      :class:`~relaykit.InvalidRequestError` without a status, what its service
      cannot take (a mask for a model without masks, more images than it reads,
      a model that cannot edit);
    - ``async speak(request: SpeechRequest) -> SpeechResponse``, the audio of
      ``request.text`` spoken in ``request.voice``, whole, as bytes in
      ``request.format`` (:meth:`relaykit.Client.speak` refuses a provider
      without it). A plugin refuses unsent, with an
      :class:`~relaykit.InvalidRequestError` without a status, what its service
      cannot take (a text over its length limit, instructions for a model
      without them);
    - ``async moderate(request: ModerationRequest) -> ModerationResponse``, one
      :class:`~relaykit.ModerationResult` per ``request.inputs``, in order
      (:func:`relaykit.moderation.moderation_result` builds one from a vendor's
      category maps), the categories under the vendor's own names, with the
      input tokens the vendor billed where it says (:meth:`relaykit.Client.moderate`
      refuses a provider without it, refuses an answer with a result too many or
      too few, and estimates tokens the vendor does not report);
    - ``stream_speech(request: SpeechRequest) -> AsyncIterator[bytes |
      SpeechResponse]``, the same audio as it arrives: its bytes chunk by chunk,
      then optionally a :class:`~relaykit.SpeechResponse` with ``audio=b""``
      saying what the vendor said of the whole (media type, id, usage)
      (:meth:`relaykit.Client.stream_speech` calls ``speak`` instead for a
      provider without it, and hands the whole audio over as one chunk);
    - ``stream_transcription(request: TranscriptionRequest) ->
      AsyncIterator[str | TranscriptionResponse]``, the transcript as it is
      heard: text deltas, then optionally the whole
      :class:`~relaykit.TranscriptionResponse` (its text, usage and duration
      stand over the deltas'). A model that cannot stream may yield its whole
      transcript as one delta (:meth:`relaykit.Client.stream_transcription`
      calls ``transcribe`` instead for a provider without it, its transcript one
      delta).

    - batches, four methods together: ``async submit_batch(requests:
      Sequence[tuple[str, ChatRequest]]) -> Batch`` (custom ids and requests, all
      to one model; refuse unsent what the vendor would), ``async
      get_batch(vendor_id) -> Batch``, ``async cancel_batch(vendor_id) -> Batch``
      (each :class:`~relaykit.Batch` with the vendor's own id, which the client
      qualifies), and ``batch_results(batch: Batch) -> AsyncIterator[BatchResult]``,
      an ended batch's results read line by line
      (:func:`relaykit.batches.jsonl_lines`, or :func:`~relaykit.batches.jsonl_results`
      for files whose lines name their ``custom_id``), answers unpriced, errors typed
      (:meth:`relaykit.Client.submit_batch` and its siblings refuse a provider
      without them); and, optionally with them, ``list_batches(limit: int) ->
      AsyncIterator[Batch]``, the vendor's batches newest first, its pages read
      as the iterator is (``limit`` is how many the caller wants: a page size to
      ask for, at most; the client stops there and ``aclose()``\\ s it)
      (:meth:`relaykit.Client.batches` refuses a provider without it, and a
      submit whose batch may exist then points to the vendor's console instead).

    Both streaming capabilities are async generators holding the HTTP response
    open with ``async with``, as :meth:`stream` is: the core ``aclose()``\\ s
    them, and retries or falls back only before the first chunk or delta.
    """

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Send one request and return the whole response."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Send one request and yield events as they arrive.

        Write it as an async generator holding the HTTP response open with
        ``async with``: the core always ``aclose()``\\ s it, so leaving a stream
        early closes the connection.
        """
        ...

    async def list_models(self) -> list[ModelInfo]:
        """The models this service offers, with prices where known."""
        ...

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or ``None`` when unknown (cost stays ``None``).

        A budget's hold (see ``[limits] budget_usd``) keeps the first known price
        of a deployment while the client runs; each answer's cost asks again.
        """
        ...


class ProviderFactory(Protocol):
    """What ``relaykit_providers`` returns: usually a :class:`Provider` class.

    ``type`` is the name a model id or ``[providers.NAME] type`` selects.
    ``default_base_url`` and ``api_key_env`` say where to connect and which
    environment variable holds the key; ``base_url_env`` optionally names an
    environment variable that overrides the base URL; ``options`` lists the
    extra ``[providers.NAME]`` keys the provider understands.

    Three optional class attributes, read with ``getattr``: ``base_url_option``
    names an option that is the vendor's own word for ``base_url`` (Azure
    OpenAI's ``endpoint``), used when ``base_url`` is not set;
    ``base_url_example`` is the URL the error for a missing base URL shows
    (``http://host:port/v1`` when absent); and ``secret_envs`` names environment
    variables besides ``api_key_env`` that hold credentials (Azure OpenAI's
    ``AZURE_OPENAI_AD_TOKEN``), masked from the client's start as keys are.

    A fourth, ``genai_provider_name``, is the vendor's ``gen_ai.provider.name``
    in the OpenTelemetry GenAI semantic conventions (``aws.bedrock``,
    ``gcp.gemini``, ``x_ai``): spans and metrics name the provider so, whatever
    the ``[providers.NAME]`` table is called (which they carry as
    ``relaykit.provider`` when it is not the type). Without it, relaykit's list
    of well-known names (:func:`relaykit.metrics.genai_provider_name`) maps the
    ``type``, or the ``type`` itself is used.
    """

    type: ClassVar[str]
    default_base_url: ClassVar[str]
    api_key_env: ClassVar[str | None]
    base_url_env: ClassVar[str | None]
    requires_api_key: ClassVar[bool]
    options: ClassVar[tuple[str, ...]]

    def __call__(self, settings: ProviderSettings, http: HttpClient) -> Provider:
        """Build the provider; ``http`` is the pooled client it must use."""
        ...


# -------------------------------------------------------------------------
# what the core records about each call
# -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CallRecord:
    """One call, streamed or not, successful or failed: what storage and exporters see.

    Messages, text, reasoning, tool calls and the content of ``params`` are
    already redacted when a record leaves the client.
    ``params`` holds the request's parameters as plain JSON values: the numbers
    (``max_tokens``, ``temperature``, ``top_p``, ``seed``, ``timeout``), ``stop``,
    ``tool_choice`` (``"auto"``, ``"none"``, ``"required"`` or ``{"name": ...}``),
    ``reasoning`` (``{"effort": ..., "budget_tokens": ...}``, the fields given),
    and, when something reads the content, ``tools`` (each ``name``,
    ``description``, ``parameters``, ``strict``), ``response_format`` (``type``,
    and ``name``, ``schema``, ``strict`` for a JSON schema), ``extra`` and the
    ``metadata`` other than ``correlation_id`` and ``conversation_id``.
    ``reasoning`` is the model's reasoning text, apart from ``text``;
    ``reasoning_parts`` its blocks as the response had them (text redacted,
    signatures and redacted data kept: they are opaque provider data).
    ``citations`` are the web pages the answer cites (``web_search=``; the
    searches billed are ``usage.web_searches``): content like the text, so kept
    only when something reads the content, their title, quoted text and URL
    redacted. ``search_queries`` are what the model searched for
    (``ChatResponse.search_queries``): content too, kept and redacted alike.
    Gemini's Search Suggestions (``ChatResponse.search_suggestions``) are not
    kept: a display artefact of ~5 KB of HTML, made from those queries.
    ``id`` is relaykit's own request id; ``response_id`` is the provider's.
    Times are wall-clock seconds since the epoch (``started_at``, ``finished_at``)
    or durations in seconds (``latency``, ``time_to_first_token``).
    ``model_requested`` is what the caller wrote (``openai/gpt-4o-mini`` or an
    alias), ``provider``/``model`` the deployment that answered (or failed),
    ``model_served`` the model name the provider reported, ``route`` the path
    the call took: each attempt's deployment (``provider/model``), in the order
    asked (retries, fallbacks, the route's context-window and content-policy
    fallbacks), or, for a call that asked none (answered from the cache, refused
    before its first attempt), the deployments planned for it, in order;
    ``route_errors`` what each of those attempts failed with (the error's type
    and HTTP status: ``"RateLimitError 429"``), ``""`` for one that did not
    fail: empty when none did.
    ``usage_estimated`` says ``usage`` and ``cost`` are partly relaykit's estimate
    of what the vendor billed, not all the vendor's own counts: a call cut off
    mid-call (cancelled, the total timeout, a hedge's loser) or a stream that
    ended before the vendor's usage came, or whole without any (see
    :mod:`relaykit.billed_usage`).
    ``stop_sequence`` is the stop sequence the answer stopped on
    (``ChatResponse.stop_sequence``, where the vendor names it): one of the
    caller's ``stop=``, so text like the prompt: kept redacted, and only when
    something reads the content. ``params["stop"]`` is redacted too.
    """

    id: str
    started_at: float
    operation: str
    provider: str
    model_requested: str
    model: str
    streamed: bool
    messages: tuple[Message, ...] = ()
    params: dict[str, Any] = attrs.field(factory=dict)
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    cost: Decimal | None = None
    latency: float | None = None
    time_to_first_token: float | None = None
    finish_reason: FinishReason | None = None
    attempts: int = 1
    #: targets given up on before this one (0 when the first target answered)
    fallbacks: int = 0
    error_type: str | None = None
    error_message: str | None = None
    status: int | None = None
    cache_hit: bool = False
    correlation_id: str | None = None
    conversation_id: str | None = None
    finished_at: float | None = None
    model_served: str | None = None
    route: tuple[str, ...] = ()
    #: empty, or one entry per ``route`` entry: what its attempt failed with
    route_errors: tuple[str, ...] = ()
    response_id: str | None = None
    reasoning: str = ""
    reasoning_parts: tuple[ReasoningPart, ...] = ()
    citations: tuple[Citation, ...] = ()
    search_queries: tuple[str, ...] = ()
    usage_estimated: bool = False
    stop_sequence: str | None = None
    #: a stream's time per output chunk, in seconds: for each content event the
    #: caller received after the first, the time from the end of the one before it
    #: (when the caller asked for the next event) to its own end (the same, or
    #: when the caller left the stream: see docs/observability.md, Metrics); empty
    #: for calls that were not streamed, replays from the cache and broken streams
    chunk_gaps: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error_type is None

    def conversation(self) -> tuple[Message, ...]:
        """The conversation as this call left it: its messages, then its answer.

        Send it with the next user message to continue the conversation
        (``relaykit chat --continue`` does). It is what was stored: redacted.
        """
        parts: list[ReasoningPart | TextPart | ToolCall] = [*self.reasoning_parts]
        if self.text:
            parts.append(TextPart(self.text))
        parts.extend(self.tool_calls)
        return (*self.messages, Message("assistant", tuple(parts)))

    @classmethod
    def from_response(cls, response: ChatResponse, **kw: Any) -> CallRecord:
        """A record of a successful call: ``kw`` gives the call's fields, and may
        replace the response's (the client passes its text and tool calls redacted)."""
        fields: dict[str, Any] = {
            "text": response.text,
            "reasoning": response.reasoning,
            "reasoning_parts": response.reasoning_parts,
            "tool_calls": response.tool_calls,
            "usage": response.usage,
            "cost": response.cost,
            "latency": response.latency,
            "time_to_first_token": response.time_to_first_token,
            "finish_reason": response.finish_reason,
            "attempts": response.attempts,
            "cache_hit": response.cache_hit,
            "model_served": response.model or None,
            "response_id": response.id,
            "citations": response.citations,
            "search_queries": response.search_queries,
            "usage_estimated": response.usage_estimated,
            "stop_sequence": response.stop_sequence,
        }
        fields.update(kw)
        return cls(**fields)


#: the answer's content fields of a :class:`CallRecord`, empty: what
#: ``CallRecord.from_response(response, **fields, **NO_ANSWER_CONTENT)`` keeps
#: of an answer when nothing reads the content (its counts, not its words)
NO_ANSWER_CONTENT: Mapping[str, Any] = MappingProxyType(
    {
        "text": "",
        "reasoning": "",
        "reasoning_parts": (),
        "tool_calls": (),
        "citations": (),
        "search_queries": (),
        "stop_sequence": None,
    }
)


# -------------------------------------------------------------------------
# storage, telemetry, redaction, limits
# -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LogQuery:
    """Which call records :meth:`Storage.query_logs` returns (every filter is optional).

    - ``model``: the model as the caller wrote it (``openai/gpt-4o-mini``, an
      alias) or as routed (``provider/model``, or the bare model name).
    - ``status``: ``"ok"`` or ``"error"``.
    - ``since`` (inclusive) and ``until`` (exclusive) compare with ``started_at``;
      naive datetimes are local time, as :meth:`datetime.datetime.timestamp` reads them.
    - ``conversation_id``: only the calls of this conversation (the
      ``conversation_id`` their ``metadata`` gave).
    - ``text``: every word must appear, whole and case-insensitively, in the
      prompt (the text of the messages the call added to its conversation,
      :func:`new_messages`), the response text, a query the model searched the
      web for, or the title or URL of a web page the answer cites
      (:func:`citations_text`). A text with no word in it (``*``, ``"``, an
      emoji) is an :class:`~relaykit.InvalidRequestError`; a blank one no search.
    - ``metadata``: ``(name, value)`` pairs the call's ``metadata`` must all
      hold (``("gateway_key", "alice")``, ``("user", "u-7")``).

    Results are newest first, and records started in the same instant by their
    id, larger first (as stored: :mod:`relaykit.log_cursor`). ``limit`` and
    ``offset`` page through them (whole numbers >= 0; another is an
    :class:`~relaykit.InvalidRequestError`), or ``limit`` and ``before``: a
    cursor, :func:`~relaykit.log_cursor.log_cursor` of the last record of the
    page before (:meth:`next_page` gives that query). An offset counts rows, so
    a call logged between two pages repeats a record; a cursor is a place in
    the order, which neither writes nor prunes move. Giving both is an
    :class:`~relaykit.InvalidRequestError`, as is a text that is not a cursor.
    :meth:`Storage.usage_totals` applies the same filters and ignores the paging;
    ``group_by``, a metadata name, splits its totals by that name's value too
    (calls without it make a group of their own, first).
    """

    model: str | None = None
    provider: str | None = None
    status: Literal["ok", "error"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0
    conversation_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    group_by: str | None = None
    before: str | None = None

    def __attrs_post_init__(self) -> None:
        # SQLite reads a negative LIMIT as no limit, PostgreSQL refuses one in
        # its own words: said here, the same for every backend.
        for name in ("limit", "offset"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidRequestError(
                    f"LogQuery {name} must be a whole number >= 0, not {value!r}",
                    param=name,
                    hint="page with limit=N, offset=N*page (0 for none)",
                )
        if self.before is not None:
            cursor_position(self.before)  # refused here, before any backend sees it
            if self.offset:
                raise InvalidRequestError(
                    "LogQuery takes either a cursor (before) or an offset, not both:"
                    " the cursor already says where the page starts",
                    param="offset",
                    hint="drop offset, or drop before to page by offset",
                )
        # Searches match words and nothing else is syntax: a search with no word
        # in it would filter nothing, and list every record as a match.
        if self.text is not None and self.text.strip() and not self.words():
            raise InvalidRequestError(
                f"the search {self.text!r} has no word to look for: a search matches whole"
                " words (letters and digits), and quotes, operators and wildcards such as *"
                " are not search syntax",
                param="text",
                hint="search for a word the call said, or leave the search out",
            )

    def position(self) -> tuple[float, str] | None:
        """The ``(started_at, id)`` of the record ``before`` names, or ``None``: a
        backend lists only the records after it (older, or as old with a smaller
        stored id)."""
        return None if self.before is None else cursor_position(self.before)

    def next_page(self, page: Sequence[CallRecord]) -> LogQuery:
        """This query, for the page after ``page`` (a page it returned): its
        cursor is ``page``'s last record, and any offset is dropped."""
        if not page:
            raise InvalidRequestError(
                "an empty page has no next page: the records after it are none",
                param="before",
                hint="stop paging at the first empty page",
            )
        return attrs.evolve(self, before=log_cursor(page[-1]), offset=0)

    def words(self) -> list[str]:
        """The search words of ``text``, lower-cased (what a backend must match)."""
        return search_words(self.text or "")

    def matches(self, record: CallRecord) -> bool:
        """Whether ``record`` passes the filters: the reference every backend agrees with."""
        if self.provider is not None and record.provider != self.provider:
            return False
        if self.model is not None and self.model not in (
            record.model_requested,
            record.model,
            f"{record.provider}/{record.model}",
        ):
            return False
        if self.status is not None and record.ok != (self.status == "ok"):
            return False
        if self.since is not None and record.started_at < self.since.timestamp():
            return False
        if self.until is not None and record.started_at >= self.until.timestamp():
            return False
        if self.conversation_id is not None and record.conversation_id != self.conversation_id:
            return False
        if self.metadata:
            held = call_metadata(record)
            if any(metadata_text(held.get(name)) != value for name, value in self.metadata):
                return False
        words = self.words()
        if words:
            found = set(search_words(prompt_text(new_messages(record.messages))))
            found |= set(search_words(record.text))
            for query in record.search_queries:
                found |= set(search_words(query))
            if record.citations:
                found |= set(search_words(citations_text(record.citations)))
            if not found.issuperset(words):
                return False
        return True


def call_metadata(record: CallRecord) -> Mapping[str, Any]:
    """The ``metadata`` a call was made with (in its ``params``)."""
    metadata = record.params.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def metadata_text(value: Any) -> str | None:
    """A metadata value as filters and groups compare it: a string as it is, any
    other value as its JSON text (``5``, ``2.5``, ``true``), JSON null as no value.

    PostgreSQL's ``->>`` reads a value so (its ``jsonb`` text); every backend
    agrees with it. So a number is written out without an exponent (``1e-07``
    is ``0.0000001``, ``1e20`` is ``100000000000000000000``), negative zero is
    ``0.0``, and an object's keys go shortest first, then in byte order.
    """
    if isinstance(value, str) or value is None:
        return value
    return _jsonb_text(value)


def _jsonb_key(item: tuple[str, Any]) -> tuple[int, bytes]:
    key = item[0].encode("utf-8", "surrogatepass")
    return len(key), key


def _jsonb_text(value: Any) -> str:
    """``value`` as PostgreSQL writes it out of a ``jsonb`` column."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            return json.dumps(value)  # (not JSON: no backend stores it as a number)
        # jsonb keeps a number as numeric: the digits the JSON text had, plain
        number = Decimal(repr(value))
        return format(number if number else abs(number), "f")
    if isinstance(value, Mapping):
        items = sorted(((str(k), v) for k, v in value.items()), key=_jsonb_key)
        inner = (f"{json.dumps(k, ensure_ascii=False)}: {_jsonb_text(v)}" for k, v in items)
        return "{" + ", ".join(inner) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_jsonb_text(v) for v in value) + "]"
    return json.dumps(value)


def search_words(text: str) -> list[str]:
    """``text`` split into lower-cased words, as full-text search sees them.

    A word is a run of letters and digits (``foo_bar`` and ``foo-bar`` are two
    words each), which is what SQLite's FTS5 tokenizer does too.
    """
    return _WORD.findall(text.lower())


_WORD = re.compile(r"[^\W_]+")


def prompt_text(messages: Sequence[Message]) -> str:
    """The searchable text of a prompt: every message's text, one per line."""
    return "\n".join(text for m in messages if (text := m.text))


def citations_text(citations: Sequence[Citation]) -> str:
    """The searchable text of an answer's citations: each one's title and URL, and
    the URL's words apart, one citation a line.

    Storage backends index it beside the prompt, so ``relaykit logs -q`` finds a
    call by a source it cited. The URL goes in whole and as words: PostgreSQL's
    parser keeps a URL whole where SQLite's FTS5 splits it, and with both, a
    host (``en.wikipedia.org``) and a word of it (``wikipedia``) are found in
    either. Not the quoted passages: they are long, and the answer says them.
    """
    lines = []
    for c in citations:
        words = " ".join(search_words(c.url))
        lines.append(f"{c.title} {c.url} {words}" if c.title else f"{c.url} {words}")
    return "\n".join(lines)


def new_messages(messages: Sequence[Message]) -> Sequence[Message]:
    """The messages a call added to its conversation: those after its last answered turn.

    A chat resends its whole history every turn; what is new is everything after
    the last assistant message that something else follows (the user's new
    message, tool results). Trailing assistant messages (a prefill) are new too.
    A call with no earlier answer is new as a whole, system prompt included. The
    search index covers these only, so a word is found in the call that said
    it, not in every later turn of that chat.
    """
    last = len(messages) - 1
    while last >= 0 and messages[last].role == "assistant":
        last -= 1  # a prefill: part of this call, not history
    for i in range(last - 1, -1, -1):
        if messages[i].role == "assistant":
            return messages[i + 1 :]
    return messages


@attrs.frozen(kw_only=True)
class UsageTotal:
    """Tokens and cost of the calls to one deployment on one UTC day (and, with
    ``LogQuery.group_by``, one value of that metadata name: ``group``).

    ``usage`` is what the provider processed: the sum of every call's usage
    but the cache hits', whose records keep the cached answer's usage."""

    day: date
    provider: str
    model: str
    calls: int
    errors: int
    usage: Usage
    #: USD; ``None`` when no call of the group had a known cost
    cost: Decimal | None
    #: the ``group_by`` metadata value these calls share (``None``: they had none)
    group: str | None = None
    #: of ``calls``, those whose usage is relaykit's estimate (``CallRecord.usage_estimated``)
    estimated: int = 0
    #: the part of ``cost`` that is those calls' (USD); ``None`` when none of them
    #: had a known cost
    estimated_cost: Decimal | None = None
    #: of ``calls``, those answered from the response cache (``CallRecord.cache_hit``):
    #: ``usage`` leaves their tokens out, since the provider processed none for them
    cache_hits: int = 0


@attrs.frozen
class CachedModels:
    """A provider's model listing and when it was fetched (seconds since the epoch)."""

    provider: str
    fetched_at: float
    models: tuple[ModelInfo, ...]


@runtime_checkable
class Storage(Protocol):
    """Where call records, encrypted provider keys and model listings persist.

    Every method is async and must not block the event loop (run blocking
    drivers in worker threads, e.g. with ``anyio.to_thread.run_sync``); every
    method must work under asyncio and trio. Records arrive in batches from the
    client's call log, off the request path, already redacted.
    ``relaykit.testing.storage_contract.StorageContract`` checks all of this.

    Optional capabilities, found with ``hasattr``: ``cached_response`` and
    ``cache_response`` hold the shared response cache
    (:mod:`relaykit.response_cache`), and ``cached_responses(keys)`` (a dict of
    those stored) and ``cache_responses(entries)`` read and write many of its
    entries at once, for the embeddings cache (one entry a text);
    ``vault_update(change)`` reads every vault blob and stores the blobs
    ``change(blobs)`` returns (replacing those names) in one transaction no
    other vault write comes between (it waits for them, or they for it);
    ``change`` is synchronous, may run in a worker thread, and raises to store
    nothing (the error propagates). The key vault writes through it, so a
    ``keys set`` racing a ``keys rotate`` cannot store its key under the old
    master key; without it, the vault reads and then writes.
    ``peek_cached_models(provider)``, a
    synchronous look at the listing the backend already holds in memory, lets
    ``client.models()`` skip a storage read (:mod:`relaykit.model_catalog`).
    A ``spill_target`` attribute (a ``str`` naming the store, without secrets)
    names the call log's spill file (:func:`relaykit.record_spill.spill_target`).
    """

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        """Persist ``records``; return only when they are durable.

        Writing a record whose ``id`` is already stored keeps the stored one, so
        a batch retried after an error is not stored twice. While the backend
        is busy, callers wait (backpressure); records are never dropped.
        """
        ...

    async def query_logs(self, query: LogQuery = LogQuery()) -> list[CallRecord]:
        """The records ``query`` selects, newest first (ties by stored id, larger
        first); with ``query.before``, only those after :meth:`LogQuery.position`."""
        ...

    async def usage_totals(self, query: LogQuery = LogQuery()) -> list[UsageTotal]:
        """Tokens and cost per UTC day and deployment of the records ``query`` selects.

        Ordered by day, provider and model; ``limit``, ``offset`` and ``before`` are ignored.
        """
        ...

    async def prune(self, older_than: datetime) -> int:
        """Delete the records started before ``older_than``; return how many went."""
        ...

    async def vault_put(self, blobs: Mapping[str, bytes]) -> None:
        """Store encrypted blobs by name, replacing existing ones, all or none."""
        ...

    async def vault_items(self) -> dict[str, bytes]:
        """Every stored blob by name."""
        ...

    async def vault_delete(self, name: str) -> bool:
        """Delete one blob; return whether it existed."""
        ...

    async def cached_models(self, provider: str) -> CachedModels | None:
        """The last model listing stored for ``provider``, however old, or ``None``."""
        ...

    async def cache_models(self, entry: CachedModels) -> None:
        """Store a provider's model listing, replacing the previous one."""
        ...

    async def aclose(self) -> None:
        """Write what is pending, then release connections and threads. Idempotent."""
        ...


@runtime_checkable
class CacheStore(Protocol):
    """Where the response and embeddings caches keep entries, shared by every process using it.

    What ``relaykit_response_cache`` returns for ``[cache] backend = NAME``
    (and what a storage backend's optional cache methods are). A key is a hex
    SHA-256; an entry is a JSON text and its expiry, in seconds since the
    epoch. The client keeps an in-memory LRU in front, so the store sees
    only what that LRU misses. Every method is async and safe under asyncio
    and trio. A failing or slow store must never fail or stall a call: bound
    your own waits (raise once the bound passes) and leave a cancelled wait at
    once; the client also bounds each operation itself (``[cache] timeout``,
    see :class:`relaykit.cache_store.GuardedCacheStore`), and turns any
    exception or overrun into a miss or a skipped write, logs it once and
    counts it (``Client.cache_errors``). ``relaykit.testing.CacheStoreContract``
    checks the semantics. ``cached_responses`` and ``cache_responses`` are
    optional: without them, the client calls the single-entry methods once per key.
    """

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        """``(expires_at, json)`` stored under ``key``, or ``None``; it may be expired."""
        ...

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        """Store (replace) ``response`` under ``key`` until ``expires_at``."""
        ...

    async def cached_responses(self, keys: Sequence[str]) -> dict[str, tuple[float, str]]:
        """``{key: (expires_at, json)}`` for those of ``keys`` stored, in one round trip."""
        ...

    async def cache_responses(self, entries: Sequence[tuple[str, float, str]]) -> None:
        """Store each ``(key, expires_at, json)``, in one round trip where it can."""
        ...


@runtime_checkable
class Exporter(Protocol):
    """Receives one :class:`CallRecord` per call, and gauge events, for metrics.

    ``record`` is synchronous and must not block (it runs on the request path);
    buffer and send from ``flush``. Events are a :class:`CallRecord` or one of
    :mod:`relaykit.gauge_events`; ignore types you do not know.
    :func:`relaykit.metrics.observe` turns any of them into metric observations.

    An exporter may also have a ``tracer_provider`` attribute (an OpenTelemetry
    API ``TracerProvider``: the SDK's, or another implementation such as
    relaykit-otlp's lean one): the client then traces calls with it. One that
    reads only metrics sets ``needs_content = False``: when no exporter needs
    it and nothing is stored, records come without messages, answer text or
    tool calls, and the client spends no time redacting them. One that takes
    no call records at all (only gauge events, or a tracer provider alone) sets
    ``needs_records = False``: when no exporter takes them and nothing is
    stored, the client builds no record per call.

    An exporter may also have ``use_provider_names(names)``: the client calls it
    once, as it is built, with its :data:`relaykit.metrics.ProviderNames` (how
    each provider name reads in telemetry: ``[providers.work] type =
    "anthropic"`` is ``gen_ai.provider.name`` ``anthropic`` with
    ``relaykit.provider`` ``work``), to pass to
    :func:`relaykit.metrics.observe` and :class:`relaykit.metrics.CallFold`.
    Without it a record's ``provider`` (the table's name) is taken for a type.
    """

    def record(self, event: CallRecord | GaugeEvent) -> None:
        """Take note of one call or gauge value."""
        ...

    async def flush(self) -> None:
        """Send whatever is buffered."""
        ...

    async def aclose(self) -> None:
        """Flush and release resources."""
        ...


@runtime_checkable
class Redactor(Protocol):
    """Masks sensitive text.

    A redactor that also has ``restore(text) -> str`` is *reversible*: its
    ``redact`` writes placeholders that ``restore`` turns back into the
    original. The client then redacts outbound prompts with it and restores
    the provider's answer (see :mod:`relaykit.outbound_redaction`). For
    streams it may also have ``holdback(text) -> int``: how many trailing
    characters of ``text`` could be the start of a placeholder split across
    chunks, so they are held back until the next chunk. And ``session()``:
    an object with the same methods (and optionally ``redact_name(text)``, for
    a participant name) for one call, which restores only its own placeholders.

    A redactor whose result depends on the text alone (the same text, the same
    result, and nothing kept or counted) may say so with ``pure = True``: the
    client's redaction chain then remembers its result for a text that comes
    again (a system prompt on every turn) instead of calling it. A reversible
    redactor is never treated as pure. One whose values may change (a word list
    loaded again) is pure too if it offers ``on_change(forget)`` and calls each
    ``forget()`` after its values changed: the chain then forgets its results.
    """

    def redact(self, text: str) -> str:
        """``text`` with what this redactor recognises masked."""
        ...


class Reservation(NamedTuple):
    """Capacity held by a limiter between ``acquire`` and ``reconcile``.

    ``cost`` is the USD held against a budget (``None`` when no budget applies).
    An immutable named tuple rather than a frozen attrs class: a limiter makes
    one per call, and a frozen attrs instance costs three times as much to
    build (each field goes through ``object.__setattr__``).
    """

    key: str
    tokens: int
    cost: Decimal | None = None


@runtime_checkable
class RateLimiter(Protocol):
    """Reserve-then-reconcile rate limiting, so concurrent calls cannot overshoot.

    Limiters that enforce ``budget_usd`` set ``supports_budgets = True`` and
    accept a keyword ``cost`` (a USD ``Decimal``) in both methods: the
    estimate on ``acquire``, the actual cost on ``reconcile``. The client only
    passes it for limits with a budget.

    A limiter may also offer ``acquire_many(requests)``, taking a list of
    ``(key, limit, tokens, cost)`` and returning their reservations, admitted
    by all the limits or by none (raising the refusal). The client uses it when
    a call matches several ``[limits]`` patterns, so a shared limiter decides
    them in one round trip (relaykit-redis does, in one Lua script).

    A limiter that decides without waiting (one in process) may also offer
    ``acquire_nowait`` and ``reconcile_nowait``: the same as ``acquire`` and
    ``reconcile`` (with ``cost`` too, if it supports budgets), but plain
    functions. The client then calls them instead of building and awaiting a
    coroutine, for a call that one limit matches, with a budget or without (the
    usual case). Offer both or neither; the coroutines are still required.

    A limiter may also offer ``release(reservation)``, a coroutine that gives
    back everything a reservation holds, its request included, as if it had
    never been acquired. The client calls it instead of ``reconcile`` when the
    call never reached the provider: a later limit refused it, the attempt
    failed to connect, the provider plugin refused to encode the request, or a
    hedge had already won. A limiter without it gets ``reconcile`` with zero
    tokens (and zero cost), and keeps counting that request.

    The client awaits ``acquire`` (and ``acquire_many``) of a limiter without
    ``acquire_nowait`` shielded from cancellation, so a grant is never lost on
    the way back: answer promptly, refusing rather than queueing for room.
    """

    async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
        """Reserve one request and ``tokens`` tokens under ``limit``.

        Raise :class:`relaykit.QuotaExceededError` (with ``retry_after``) when the
        reservation does not fit.
        """
        ...

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        """Settle a reservation with the tokens the call really used.

        ``reservation`` is the very object ``acquire`` returned, settled once (as
        by ``release``): a limiter may know it by identity, e.g. relaykit's to tell
        which budget period holds it (a refund of a period that is over stays there).
        """
        ...
