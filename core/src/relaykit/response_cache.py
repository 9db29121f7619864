"""The exact response cache: same canonical request, same answer, within a TTL.

A request's canonical form is a JSON text of what determines the answer:
the model or route the caller named, messages and parameters, but not
``metadata`` or ``timeout`` (:func:`canonical_request`). The storage-backed
cache keys an answer by the SHA-256 of that form (:func:`cache_key`), a
fixed-size key every process computes alike. The in-memory LRU keys it by
the form itself when it is short (:func:`lookup_key`): exact without a digest,
and a dict hashes 200 bytes in 0.08 µs where SHA-256 takes 0.4-0.9. By default
only deterministic requests are cached (``temperature == 0`` or a ``seed``),
because replaying a sampled answer changes what the caller asked for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from typing import Any, Protocol, get_args

import attrs

from .events import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from .messages import (
    CachePoint,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
)
from .request import ChatRequest, ResponseFormat
from .response import ChatResponse, FinishReason, Usage, fields_setter

log = logging.getLogger("relaykit.cache")


def canonical_request(provider: str, request: ChatRequest, model: str | None = None) -> bytes:
    """``request`` for ``provider`` in canonical form: what identifies its answer.

    ``model``, when given, is keyed in place of ``request.model``. The client
    passes the model or route name the caller asked for as ``provider``, and
    as ``model`` that name again (a route's: its deployments), not the model
    of the deployment its request was built for: the router plans a balanced
    route's (or a fallback route's, while its first cools down) first
    deployment anew for each call, so keying that would lose hits. A
    parameter rather than an evolved request: this runs on every cached call.

    A JSON array of the request's fields in a fixed order (every field but
    ``metadata`` and ``timeout``), each part tagged with its kind and dicts with
    sorted keys: two requests share it exactly when their sorted-key JSON as a
    whole would be equal, ``temperature`` and ``top_p`` written as floats (``0``
    and ``0.0`` ask the same). A test checks that against cattrs; another that no
    field is left out. Written by hand because it runs on every cached call:
    cattrs plus a sorted dump of the whole request cost about three times as
    much. Dumped by orjson when it is installed (see :func:`_make_canonical`).
    """
    r = request
    # Loops, not comprehensions (each one a function call before Python 3.12),
    # and text parts, nearly all of them, without a call each. Tuples where the
    # length is known (orjson writes them as the same arrays as lists).
    messages: list[Any] = []
    for m in r.messages:
        content = m.content
        name = m.name
        if len(content) == 1 and type(content[0]) is TextPart and name is None:  # most
            messages.append((m.role, content[0].text))
            continue
        row: list[Any] = [m.role]
        if name is not None:  # only then: unnamed messages keep their keys
            row.append(["name", name])  # no part is tagged "name"
        for p in content:
            kind = type(p)
            if kind is TextPart:
                row.append(p.text)  # type: ignore[union-attr]
            elif kind is not CachePoint:  # the answer does not depend on where caching ends
                row.append(_part(p))
        messages.append(row)
    fields: tuple[Any, ...] = (
        _KEY_FORMAT,
        provider,
        r.model if model is None else model,
        messages,
        r.max_tokens,
        # as floats: `temperature=0` and `0.0` ask the same (and send the same number)
        None if r.temperature is None else float(r.temperature),
        None if r.top_p is None else float(r.top_p),
        r.stop,
        r.seed,
        [[t.name, t.description, t.parameters, t.strict] for t in r.tools] if r.tools else (),
        None if r.tool_choice is None else [r.tool_choice.mode, r.tool_choice.name],
        None if r.response_format is None else _response_format(r.response_format),
        r.extra,
    )
    if r.reasoning is not None:  # only then: keys without it stay as they were
        thinking = r.reasoning
        fields += ([thinking.effort, thinking.budget_tokens, thinking.summary],)
    if r.web_search is not None:  # likewise: a searched answer is not an unsearched one
        search = r.web_search
        where = search.location
        fields += (
            [
                "web_search",
                search.max_uses,
                search.allowed_domains,
                search.blocked_domains,
                search.context_size,
                None if where is None else where.fields(),
            ],
        )
    try:  # _canonical, without its frame
        return _fast_canonical(fields)
    except TypeError:  # what orjson refuses (see _make_canonical)
        return _json_canonical(fields)


def cache_key(provider: str, request: ChatRequest, model: str | None = None) -> str:
    """The hex SHA-256 of ``request``'s canonical form (:func:`canonical_request`)
    for ``provider`` (and ``model``): the key the storage-backed cache files an
    answer under."""
    return _sha256(canonical_request(provider, request, model)).hexdigest()


#: canonical forms up to this many bytes are their own key in memory (1024
#: entries of this size hold 4 MiB at most); longer ones are keyed by their SHA-256
MEMORY_KEY_LIMIT = 4096


def lookup_key(canonical: bytes) -> bytes | str:
    """The key a :class:`CacheBackend` takes for a request in ``canonical`` form.

    The form itself when it is at most :data:`MEMORY_KEY_LIMIT` bytes, else its
    hex SHA-256 (:func:`cache_key`'s value). Either way one canonical form has one
    key, and a key of one kind never equals one of the other (bytes against
    str). A short form needs no digest: a dict compares the whole key after its
    hash matches, so the lookup is exact, and hashing the form costs a tenth of
    SHA-256 (see the module docstring).
    """
    if len(canonical) <= MEMORY_KEY_LIMIT:
        return canonical
    return _sha256(canonical).hexdigest()


def storage_key(key: bytes | str) -> str:
    """The storage cache's key for a :func:`lookup_key`: always the hex SHA-256 of
    the canonical form, whichever kind ``key`` is."""
    return key if isinstance(key, str) else _sha256(key).hexdigest()


#: OpenSSL's SHA-256 (hashlib). CPython's own (``_sha256``) is 4-5x slower per
#: byte here (no SHA extensions): 55 µs against 10 for a 20 KB conversation.
#: Short forms, where its lower set-up cost won inside real calls, need no digest
#: at all now (:func:`lookup_key`).
_sha256 = hashlib.sha256

#: names the canonical form, so keys never match those of another layout
_KEY_FORMAT = "relaykit-cache-2"


def _make_dumps() -> Callable[[Any], str]:
    """``json.dumps`` with sorted keys, compact, UTF-8: the C encoder made once, if there is one.

    ``JSONEncoder.encode`` builds that encoder again on every call, a third of
    the key's cost. Without circular-reference checks: a request's values come
    from JSON-like input, and a cycle still fails (with a RecursionError).
    """
    slow = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return slow.encode
    try:
        fast = make(
            None, slow.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
        )
        if "".join(fast([{"b": 1, "a": "é"}], 0)) != '[{"a":"é","b":1}]':  # pragma: no cover
            return slow.encode
    except Exception:  # pragma: no cover - a Python whose C encoder takes other arguments
        return slow.encode
    return lambda value: "".join(fast(value, 0))


_dumps = _make_dumps()


def _json_canonical(value: Any) -> bytes:
    """``value`` as sorted-key compact JSON, UTF-8, by the standard library.

    A lone surrogate (half an emoji, from a text cut at a UTF-16 boundary) is
    written as its three bytes (``surrogatepass``), not refused: the request body
    sends it escaped (:mod:`relaykit.json_encode`), so a call that works uncached
    must work cached. No valid UTF-8 holds those bytes, so the form stays one of
    a kind; orjson refuses such strings, and the others are written as before.
    """
    return _dumps(value).encode("utf-8", "surrogatepass")


def _make_canonical() -> Callable[[Any], bytes]:
    """:func:`_json_canonical`, or orjson's equivalent when it is installed: a sixth of the time.

    orjson's raises ``TypeError`` for what it refuses: :func:`_canonical` then
    asks the standard library.

    The two write the same bytes but for floats in exponent form (``1e-05``
    against ``1e-5``): a cache shared with a process without orjson misses on
    those, never answers wrongly. What orjson refuses (integers beyond 64 bits,
    keys that are not strings, lone surrogates), and the datetimes and
    dataclasses it would write as the standard library will not, go to the
    standard library's encoder. One difference stays: orjson writes NaN and
    infinities as ``null``, as it does in the request body it sends, so a NaN
    deep in ``extra`` (the top-level numbers are checked finite) shares the key
    of ``None`` there.
    """
    try:
        from orjson import OPT_PASSTHROUGH_DATACLASS, OPT_PASSTHROUGH_DATETIME, OPT_SORT_KEYS
        from orjson import dumps as orjson_dumps
    except ImportError:  # optional: relaykit-aiohttp brings it
        return _json_canonical
    option = OPT_SORT_KEYS | OPT_PASSTHROUGH_DATETIME | OPT_PASSTHROUGH_DATACLASS
    return partial(orjson_dumps, option=option)


_fast_canonical = _make_canonical()


def _canonical(value: Any) -> bytes:
    """``value`` in canonical form: orjson's when installed, else (or if it refuses) the
    standard library's."""
    try:
        return _fast_canonical(value)
    except TypeError:  # orjson.JSONEncodeError
        return _json_canonical(value)


def _part(part: Part) -> Any:
    """A part in the canonical form: text as a string, anything else a tagged list."""
    kind = type(part)
    if kind is TextPart:
        return part.text  # type: ignore[union-attr]
    if kind is ToolCall:
        call: ToolCall = part  # type: ignore[assignment]
        return ["tool_call", call.id, call.name, call.arguments, call.raw_arguments]
    if kind is ToolResultPart:
        result: ToolResultPart = part  # type: ignore[assignment]
        key = ["tool_result", result.tool_call_id, result.content, result.is_error]
        if result.attachments:  # only then: the keys of text-only results stay as they were
            key.append([_part(a) for a in result.attachments])
        return key
    if kind is ReasoningPart:
        reasoning: ReasoningPart = part  # type: ignore[assignment]
        return [
            "reasoning",
            reasoning.text,
            reasoning.signature,
            reasoning.redacted,
            reasoning.origin,
        ]
    if kind is ImagePart:
        image: ImagePart = part  # type: ignore[assignment]
        data = None if image.data is None else base64.b64encode(image.data).decode()
        if image.detail is not None:  # only then: other images' keys stay as they were
            return ["image", image.url, data, image.media_type, image.detail]
        return ["image", image.url, data, image.media_type]
    if kind is DocumentPart:
        document: DocumentPart = part  # type: ignore[assignment]
        data = None if document.data is None else base64.b64encode(document.data).decode()
        return ["document", document.url, data, document.media_type, document.name]
    raise TypeError(f"a message part of unknown type {kind.__name__} cannot be cached")


def _response_format(value: ResponseFormat | None) -> Any:
    if value is None:
        return None
    return [value.type, value.schema, value.name, value.strict]


def is_deterministic(request: ChatRequest) -> bool:
    """Whether the same request should give the same answer."""
    return request.temperature == 0 or request.seed is not None


def worth_keeping(request: ChatRequest, response: ChatResponse) -> bool:
    """Whether ``response`` to ``request`` may be cached: a whole answer, or one cut
    where the caller asked.

    Kept: a finish of ``stop`` or ``tool_calls`` (tool calls are the answer; the
    caller runs the tools each time), and ``length`` when the request set
    ``max_tokens`` (the same request is cut at the same place). Not kept: ``length``
    without ``max_tokens`` (a provider's or plugin's default limit, which is not in
    the key), ``content_filter`` (a refusal or filtered output: the vendor's
    filters change on their side, and a filtered text is often partial), and
    ``other`` (an error reported in the body, a paused turn, a reason relaykit
    does not know). LiteLLM keeps every successful answer; replaying a
    non-answer for an hour is worse than asking again.
    """
    reason = response.finish_reason
    if reason == "stop" or reason == "tool_calls":
        return True
    return reason == "length" and request.max_tokens is not None


class CacheBackend(Protocol):
    """Where cached responses live: in memory by default, storage when configured."""

    async def get(self, key: bytes | str) -> ChatResponse | None:
        """The cached response for ``key`` (a :func:`lookup_key`), or ``None`` if
        absent or expired."""
        ...

    async def put(self, key: bytes | str, response: ChatResponse, ttl: float) -> None:
        """Remember ``response`` under ``key`` for ``ttl`` seconds."""
        ...


class MemoryCache:
    """An in-process LRU cache with per-entry expiry.

    An entry is its expiry and the response's values in one tuple of plain
    values (see :func:`_entry`), not the response itself: the garbage collector
    stops traversing such a tuple after its first collection, and a full cache
    holds a thousand entries the collector would otherwise walk again and again.
    A hit builds the response anew, a microsecond against the call it saves,
    marked as one (see :func:`as_cached`). It never holds more than
    ``max_entries``; once full, it drops the least recently used thirty-second
    of them together (one at a time below 32 entries).

    With ``max_chars``, it never holds more than that many characters of
    answers either (text, reasoning, tool-call arguments: :func:`entry_chars`),
    dropping the least recently used until a new one fits; an answer larger
    than ``max_chars`` is not kept. A thousand entries of book-length answers
    would otherwise hold hundreds of megabytes.
    """

    def __init__(
        self,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_chars: int | None = None,
    ) -> None:
        self._max = max_entries
        #: how far below ``max_entries`` a full cache is trimmed (see put_nowait)
        self._batch = max_entries // 32
        self._clock = clock
        self._entries: OrderedDict[bytes | str, tuple[Any, ...]] = OrderedDict()
        self._max_chars = max_chars
        #: each entry's characters (:func:`entry_chars`), kept only with ``max_chars``
        self._chars: dict[bytes | str, int] = {}
        self._total = 0

    async def get(self, key: bytes | str) -> ChatResponse | None:
        """The cached response as a hit (:func:`as_cached`), refreshing its recency;
        ``None`` if absent or expired."""
        return self.get_nowait(key)

    async def put(self, key: bytes | str, response: ChatResponse, ttl: float) -> None:
        """Store ``response``; the least recently used entry goes when full."""
        self.put_nowait(key, response, ttl)

    # Nothing here waits: the client calls these directly when the cache is
    # memory alone, rather than building and awaiting a coroutine for each.

    def get_nowait(self, key: bytes | str) -> ChatResponse | None:
        """:meth:`get`, synchronously."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            if self._max_chars is not None:
                self._total -= self._chars.pop(key)
            return None
        self._entries.move_to_end(key)
        return _response(entry)

    def put_nowait(self, key: bytes | str, response: ChatResponse, ttl: float) -> None:
        """:meth:`put`, synchronously."""
        if self._max_chars is not None:
            self._put_bounded(key, response, ttl)
            return
        entries = self._entries
        if key in entries:  # a new key goes to the end anyway
            entries.move_to_end(key)
        entries[key] = _entry(self._clock() + ttl, response)
        if len(entries) > self._max:
            # Down to a batch below the limit: the oldest entries are out of the
            # CPU's caches, freeing them was half of a put, and freeing 33 at once
            # every 33 puts cost 0.3 µs a put less inside real calls than one a put.
            pop = entries.popitem
            for _ in range(len(entries) - self._max + self._batch):
                pop(False)

    def _put_bounded(self, key: bytes | str, response: ChatResponse, ttl: float) -> None:
        """:meth:`put_nowait` with ``max_chars``: the least recently used entries go
        until the new one fits; one larger than the whole bound is not kept (nor
        is an older answer under its key)."""
        assert self._max_chars is not None
        entries, chars = self._entries, self._chars
        old = chars.pop(key, None)
        if old is not None:
            self._total -= old
            del entries[key]
        size = entry_chars(response)
        if size > self._max_chars:
            return
        entries[key] = _entry(self._clock() + ttl, response)
        chars[key] = size
        self._total += size
        pop = entries.popitem
        if len(entries) > self._max:  # a batch below the count, as put_nowait trims
            for _ in range(len(entries) - self._max + self._batch):
                self._total -= chars.pop(pop(False)[0])
        while self._total > self._max_chars:  # never the new one: it fits alone
            self._total -= chars.pop(pop(False)[0])

    def __len__(self) -> int:
        return len(self._entries)


def entry_chars(response: ChatResponse) -> int:
    """About how many characters an answer holds: its text and reasoning, and each
    tool call's name and arguments (strings by their length, anything
    else a few characters each): what bounds :class:`MemoryCache` by size."""
    size = len(response.text) + len(response.reasoning)
    for call in response.tool_calls:
        size += 32 + len(call.name) + _chars(call.arguments)
        if call.raw_arguments is not None:
            size += len(call.raw_arguments)
    return size


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(len(str(k)) + _chars(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_chars(v) for v in value)
    return 8


def _entry(expires: float, r: ChatResponse) -> tuple[Any, ...]:
    """``r`` as a cache entry: its expiry, then its values, its usage's in place of it.

    Not what a hit replaces (cost, latency, time to first token, attempts,
    ``cache_hit``: see :func:`as_cached`): fewer values to copy in, and fewer
    objects to free when the entry is evicted, nearly always long after, with
    them out of the CPU's caches. Every other field is listed by hand (a test
    fails when one is added to :class:`ChatResponse` or :class:`Usage` and not
    here).
    """
    u = r.usage
    return (
        expires,
        r.text,
        r.reasoning,
        r.tool_calls,
        r.finish_reason,
        u.input_tokens,
        u.output_tokens,
        u.cached_input_tokens,
        u.reasoning_tokens,
        u.cache_write_input_tokens,
        u.cache_write_1h_input_tokens,
        u.web_searches,
        r.model,
        r.provider,
        r.id,
        r.reasoning_signature,
        r.reasoning_parts,
        r.citations,
        r.search_queries,
        r.search_suggestions,
        r.stop_sequence,
        r.logprobs,
    )


def _response(entry: tuple[Any, ...]) -> ChatResponse:
    """The response an entry made by :func:`_entry` holds, as a cache hit."""
    (
        _,
        text,
        reasoning,
        tool_calls,
        finish_reason,
        input_tokens,
        output_tokens,
        cached_input_tokens,
        reasoning_tokens,
        cache_write_input_tokens,
        cache_write_1h_input_tokens,
        web_searches,
        model,
        provider,
        id,
        reasoning_signature,
        reasoning_parts,
        citations,
        search_queries,
        search_suggestions,
        stop_sequence,
        logprobs,
    ) = entry
    return ChatResponse(
        text=text,
        reasoning=reasoning,
        tool_calls=tool_calls,
        finish_reason=finish_reason,
        usage=Usage(
            input_tokens,
            output_tokens,
            cached_input_tokens,
            reasoning_tokens,
            cache_write_input_tokens,
            cache_write_1h_input_tokens,
            web_searches,
        ),
        model=model,
        provider=provider,
        id=id,
        cost=_FREE,
        attempts=0,
        cache_hit=True,
        reasoning_signature=reasoning_signature,
        reasoning_parts=reasoning_parts,
        citations=citations,
        search_queries=search_queries,
        search_suggestions=search_suggestions,
        stop_sequence=stop_sequence,
        logprobs=logprobs,
    )


class StorageCache:
    """Cached responses kept in a store, shared by every process using it.

    The store has ``cached_response(key)`` and ``cache_response(key,
    expires_at, response_json)``: the configured storage when it offers them
    (relaykit-sqlite and relaykit-postgres do), or a plugin's
    :class:`~relaykit.protocols.CacheStore` (``[cache] backend``, see
    :mod:`relaykit.cache_store`). An in-memory LRU sits in front of it.

    With ``scrub`` (the client passes its known keys' masking and
    :func:`relaykit.secrets.scrub`), an answer holding a credential, one the
    stored call records show masked, is kept in memory only: the store would
    hold it in clear, readable by every process and anyone with the file.
    """

    def __init__(
        self,
        storage: object,
        memory: MemoryCache,
        clock: Callable[[], float] = time.time,
        *,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self._storage: Any = storage
        self._memory = memory
        self._clock = clock
        self._scrub = scrub

    @staticmethod
    def supported_by(storage: object) -> bool:
        """Whether ``storage`` can hold cached responses."""
        return hasattr(storage, "cached_response") and hasattr(storage, "cache_response")

    async def get(self, key: bytes | str) -> ChatResponse | None:
        """From memory, else from storage (then remembered in memory)."""
        response = await self._memory.get(key)
        if response is not None:
            return response
        row = await self._storage.cached_response(storage_key(key))
        if row is None:
            return None
        expires_at, data = row
        remaining = expires_at - self._clock()
        if remaining <= 0:
            return None
        from .serialization import converter, from_json
        from .storable_text import ESCAPE, decode_json

        try:
            if ESCAPE in data:  # written by encode_json (see put)
                response = converter.structure(decode_json(data), ChatResponse)
            else:
                response = from_json(data, ChatResponse)
            check_stored(response)
        except Exception as e:  # not an answer this version can read: a miss, not a failed call
            # The error's type alone: its message may quote the answer.
            log.warning(
                "a cached answer could not be read (%s); asking the provider", type(e).__name__
            )
            return None
        await self._memory.put(key, response, remaining)
        return response

    async def put(self, key: bytes | str, response: ChatResponse, ttl: float) -> None:
        """In memory and in storage (in memory only when the answer holds a credential)."""
        from .serialization import to_json
        from .storable_text import encode_json

        await self._memory.put(key, response, ttl)
        if self._scrub is not None and _holds_secret(response, self._scrub):
            # Not the answer, nor what matched: the log would leak it too.
            log.debug("an answer holding a credential is cached in memory only")
            return
        # A lone surrogate (half an emoji a vendor's JSON escaped alone) cannot be
        # encoded as UTF-8, which every store does: its refusal would count as the
        # store failing and rest it. encode_json escapes it losslessly (as JSON's
        # own \u escape would not: two lone surrogates side by side read back as
        # one character); an answer without one is stored as to_json wrote it.
        data = encode_json(to_json(response))
        await self._storage.cache_response(storage_key(key), self._clock() + ttl, data)


class NotAnAnswer(ValueError):
    """A cache entry that decodes, but not into an answer :meth:`StorageCache.put` wrote."""


_FINISH_REASONS = frozenset(get_args(FinishReason))


def check_stored(response: ChatResponse) -> None:
    """Raise :class:`NotAnAnswer` unless ``response``, read from a store, is one
    :meth:`StorageCache.put` could have written.

    JSON that decodes is not yet an answer: the fast decoder takes what it reads
    (a number for the text), and every field has a default, so ``{}``, ``[]`` or a
    vector's entry read as an empty answer from no provider, which was then served
    as a hit, free, and kept in memory. A stored answer names its provider (every
    answer the client keeps does: :meth:`CallOutcomes.finish` sets it).
    """
    u = response.usage
    if not (
        type(response.text) is str
        and type(response.reasoning) is str
        and type(response.provider) is str
        and response.provider
        and type(response.model) is str
        and response.finish_reason in _FINISH_REASONS
        and all(type(n) is int for n in attrs.astuple(u))
        and all(type(q) is str for q in response.search_queries)
        and all(type(c) is ToolCall for c in response.tool_calls)
        and all(type(p) is ReasoningPart for p in response.reasoning_parts)
    ):
        raise NotAnAnswer("the entry is not an answer this version writes")


def _holds_secret(response: ChatResponse, scrub: Callable[[str], str]) -> bool:
    """Whether ``scrub`` masks anything in what a stored call record redacts of
    ``response``: its text, reasoning, tool-call arguments, citations and search
    queries. Not its id, signatures or encrypted reasoning, which records keep as
    the provider sent them (a signature's base64 may look like a key).

    Each string as it is, not the answer's JSON: escaped quotes there hide a
    labelled secret (``{"api_key": "..."}``) from the redactor.
    """
    texts = [response.text, response.reasoning, *response.search_queries]
    texts += [part.text for part in response.reasoning_parts]
    for call in response.tool_calls:
        _strings(call.arguments, texts)
        if call.raw_arguments is not None:
            texts.append(call.raw_arguments)
    for citation in response.citations:
        texts += (citation.url, citation.title, citation.cited_text)
    joined = "\n".join(texts)
    return scrub(joined) != joined


def _strings(value: Any, into: list[str]) -> None:
    """Every string in the JSON-like ``value``, added to ``into``."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, into)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, into)


def replay(response: ChatResponse, chunk: int = 64) -> Iterator[StreamEvent]:
    """The stream events that assemble into ``response``, for a cached answer to a stream."""
    yield StreamStart(response.id, response.model)
    if response.reasoning_parts:
        for part in response.reasoning_parts:
            yield ReasoningDelta(
                part.text,
                part.signature,
                new_block=True,
                redacted=part.redacted,
                origin=part.origin,
            )
    elif response.reasoning or response.reasoning_signature:
        yield ReasoningDelta(response.reasoning, response.reasoning_signature)
    # The searches before the text, as a provider streams them.
    for query in response.search_queries:
        yield SearchQuery(query)
    for i in range(0, len(response.text), chunk):
        yield TextDelta(response.text[i : i + chunk])
    if response.logprobs:  # after the text they score, as a provider streams them
        yield LogprobsDelta(response.logprobs)
    yield from response.citations
    for i, call in enumerate(response.tool_calls):
        arguments = (
            call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)
        )
        yield ToolCallDelta(i, call.id, call.name, arguments)
    yield UsageUpdate(response.usage)
    yield Finish(
        response.finish_reason,
        search_suggestions=response.search_suggestions,
        stop_sequence=response.stop_sequence,
    )


def as_cached(
    response: ChatResponse,
    latency: float | None = None,
    time_to_first_token: float | None = None,
) -> ChatResponse:
    """``response`` marked as served from the cache: it cost nothing (nothing of it
    is an estimate) and took no attempt, and its latency is ``latency`` (the time
    the hit took). ``time_to_first_token`` is the hit's own too: a replayed stream's
    first event, ``None`` for a hit that was not streamed (as for any answer that
    was not), never the time the cached answer's first token once took."""
    return _with_cache_fields(
        response,
        cache_hit=True,
        cost=_FREE,
        attempts=0,
        latency=latency,
        time_to_first_token=time_to_first_token,
        usage_estimated=False,
    )


_FREE = Decimal(0)
#: attrs.evolve compiled for the fields a hit replaces (every hit makes one)
_with_cache_fields = fields_setter(
    "cache_hit", "cost", "attempts", "latency", "time_to_first_token", "usage_estimated"
)
