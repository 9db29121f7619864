"""Turn what exporters receive into metric observations, once, for every exporter.

An exporter's ``record(event)`` gets a :class:`~relaykit.protocols.CallRecord`
per call and :mod:`gauge events <relaykit.gauge_events>` now and then.
:func:`observe` maps either to :class:`Observation` values of the instruments
below, so a Prometheus, StatsD or OTLP exporter only translates observations
into its own wire format and never re-derives a metric::

    def record(self, event):
        for obs in relaykit.metrics.observe(event):
            self.send(obs.instrument.name, obs.value, dict(obs.attributes))

Names, units and histogram buckets follow the OpenTelemetry GenAI semantic
conventions where they define a metric; relaykit's own counters are named
``relaykit.*``.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol

import attrs

from .gauge_events import (
    BreakerState,
    CacheStoreError,
    QueueDepth,
    RecordsLost,
    RecordsReplayed,
    RecordsSpilled,
    StorageFailing,
    StorageWriteFailed,
)
from .protocols import CallRecord
from .response import Usage

__all__ = [
    "BREAKER_STATE",
    "CACHE_ERRORS",
    "CACHE_HITS",
    "COST",
    "DURATION_BUCKETS",
    "ERRORS",
    "ESTIMATED_TOKENS",
    "EVENT_INSTRUMENTS",
    "FALLBACKS",
    "INSTRUMENTS",
    "MAX_VALUE_LENGTH",
    "OPERATION_DURATION",
    "PROMPT_CACHE_READS",
    "PROMPT_CACHE_WRITES",
    "QUEUE_DEPTH",
    "RECORDS_LOST",
    "RECORDS_REPLAYED",
    "RECORDS_SPILLED",
    "REQUESTS",
    "RETRIES",
    "SERVER_ATTRIBUTES",
    "STORAGE_FAILING",
    "STORAGE_WRITE_FAILURES",
    "TIME_PER_OUTPUT_CHUNK",
    "TIME_TO_FIRST_CHUNK",
    "TOKEN_BUCKETS",
    "TOKEN_USAGE",
    "WEB_SEARCHES",
    "Attributes",
    "CallFold",
    "Instrument",
    "Observation",
    "ProviderNames",
    "Series",
    "genai_provider_name",
    "observe",
    "provider_attributes",
    "provider_names_entry",
    "provider_part",
    "server_part",
]

# Bucket boundaries the GenAI semantic conventions ask for (ExplicitBucketBoundaries).
DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864


@attrs.frozen
class Instrument:
    """A metric: its name, kind, unit, what it means, and histogram buckets."""

    name: str
    kind: Literal["histogram", "counter", "gauge"]
    unit: str
    description: str
    buckets: tuple[float, ...] = ()


# Both durations are the caller's, from the call's start: limiter waits, every
# attempt and the backoff between them included (the conventions' operation
# covers "the logical operation with all retries"; docs/observability.md, Metrics).
OPERATION_DURATION = Instrument(
    "gen_ai.client.operation.duration",
    "histogram",
    "s",
    "GenAI operation duration.",
    DURATION_BUCKETS,
)
TOKEN_USAGE = Instrument(
    "gen_ai.client.token.usage",
    "histogram",
    "{token}",
    "Number of input and output tokens used.",
    TOKEN_BUCKETS,
)
ESTIMATED_TOKENS = Instrument(
    "relaykit.usage.estimated_tokens",
    "counter",
    "{token}",
    "Input and output tokens relaykit estimated because the vendor reported none (a"
    " call cut off before its usage came, an answer without any): kept out of"
    " gen_ai.client.token.usage.",
)
TIME_TO_FIRST_CHUNK = Instrument(
    "gen_ai.client.operation.time_to_first_chunk",
    "histogram",
    "s",
    "Time from the request to the first content chunk of a streamed response.",
    DURATION_BUCKETS,
)
# The conventions give it the duration's buckets (gen-ai-metrics, v1.41 and the
# genai repository since); one value per content event after a stream's first.
TIME_PER_OUTPUT_CHUNK = Instrument(
    "gen_ai.client.operation.time_per_output_chunk",
    "histogram",
    "s",
    "Time per output chunk, recorded for each chunk received after the first one,"
    " measured as the time elapsed from the end of the previous chunk to the end of"
    " the current chunk.",
    DURATION_BUCKETS,
)
REQUESTS = Instrument("relaykit.requests", "counter", "{request}", "Calls made, successful or not.")
ERRORS = Instrument("relaykit.errors", "counter", "{error}", "Calls that failed, by error.type.")
RETRIES = Instrument(
    "relaykit.retries", "counter", "{retry}", "Attempts beyond the first (retries and fallbacks)."
)
FALLBACKS = Instrument(
    "relaykit.fallbacks",
    "counter",
    "{fallback}",
    "Calls answered (or failed) by a fallback target.",
)
CACHE_HITS = Instrument(
    "relaykit.cache.hits", "counter", "{hit}", "Calls answered from the response cache."
)
CACHE_ERRORS = Instrument(
    "relaykit.cache.errors",
    "counter",
    "{error}",
    "Response-cache store lookups and writes that failed or were skipped (each a miss"
    " or an unsaved answer, never a failed call), by relaykit.cache.operation.",
)
COST = Instrument("relaykit.cost", "counter", "USD", "Spend in US dollars.")
PROMPT_CACHE_READS = Instrument(
    "relaykit.prompt_cache.read_tokens",
    "counter",
    "{token}",
    "Input tokens read from the provider's prompt cache (part of the input tokens).",
)
PROMPT_CACHE_WRITES = Instrument(
    "relaykit.prompt_cache.write_tokens",
    "counter",
    "{token}",
    "Input tokens written to the provider's prompt cache (part of the input tokens).",
)
WEB_SEARCHES = Instrument(
    "relaykit.web_searches",
    "counter",
    "{search}",
    "Web searches the provider billed (web_search=; not counted for cache hits).",
)
QUEUE_DEPTH = Instrument(
    "relaykit.storage.queue_depth", "gauge", "{record}", "Call records waiting for storage."
)
BREAKER_STATE = Instrument(
    "relaykit.breaker.state", "gauge", "1", "Circuit breaker state: 0 closed, 1 half-open, 2 open."
)
STORAGE_WRITE_FAILURES = Instrument(
    "relaykit.storage.write_failures",
    "counter",
    "{failure}",
    "Failed writes of call records to storage (each retried, taken apart or spilled),"
    " by error.type.",
)
STORAGE_FAILING = Instrument(
    "relaykit.storage.failing",
    "gauge",
    "1",
    "1 from a failed write of call records to storage until one succeeds, else 0.",
)
RECORDS_SPILLED = Instrument(
    "relaykit.storage.records_spilled",
    "counter",
    "{record}",
    "Call records written to the spill file instead of storage (load them with"
    " `relaykit logs import`), by relaykit.storage.reason: unavailable or refused.",
)
RECORDS_LOST = Instrument(
    "relaykit.storage.records_lost",
    "counter",
    "{record}",
    "Call records neither stored nor spilled (the spill file failed too).",
)
RECORDS_REPLAYED = Instrument(
    "relaykit.storage.records_replayed",
    "counter",
    "{record}",
    "Spilled call records stored once storage worked again (replayed from the spill file).",
)

#: the instruments :mod:`gauge events <relaykit.gauge_events>` feed; call records
#: feed the others (through :func:`observe` or :class:`CallFold`)
EVENT_INSTRUMENTS = (
    QUEUE_DEPTH,
    BREAKER_STATE,
    CACHE_ERRORS,
    STORAGE_WRITE_FAILURES,
    STORAGE_FAILING,
    RECORDS_SPILLED,
    RECORDS_LOST,
    RECORDS_REPLAYED,
)

INSTRUMENTS = (
    OPERATION_DURATION,
    TOKEN_USAGE,
    ESTIMATED_TOKENS,
    TIME_TO_FIRST_CHUNK,
    TIME_PER_OUTPUT_CHUNK,
    REQUESTS,
    ERRORS,
    RETRIES,
    FALLBACKS,
    CACHE_HITS,
    COST,
    PROMPT_CACHE_READS,
    PROMPT_CACHE_WRITES,
    WEB_SEARCHES,
    *EVENT_INSTRUMENTS,
)

Attributes = tuple[tuple[str, str], ...]


@attrs.frozen
class Observation:
    """One value for one instrument, with its attributes (sorted ``(key, value)`` pairs)."""

    instrument: Instrument
    value: float
    attributes: Attributes = ()


# relaykit provider names whose GenAI semantic-convention name differs.
_GENAI_PROVIDER_NAMES = {
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "xai": "x_ai",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
}


def genai_provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` value for a relaykit provider type, where the
    provider factory does not say its own (``genai_provider_name``): the
    conventions' well-known name for the types relaykit knows, else the type."""
    return _GENAI_PROVIDER_NAMES.get(provider, provider)


#: how a client's providers are named in telemetry: each name a model id may start
#: with (a ``[providers.NAME]`` table or a provider type) -> its attributes (see
#: :func:`provider_attributes`); built once per client, by its provider registry
ProviderNames = Mapping[str, Attributes]

#: provider names no :data:`ProviderNames` holds -> their attributes (names
#: come from callers: bounded)
_DEFAULT_PROVIDERS: dict[str, Attributes] = {}


def provider_names_entry(
    genai_name: str, table: str | None = None, server: tuple[str, int] | None = None
) -> Attributes:
    """A :data:`ProviderNames` value: ``gen_ai.provider.name`` is ``genai_name``;
    ``table``, a ``[providers.NAME]`` table not named after its type, goes in
    ``relaykit.provider`` (so two tables of one type stay apart); ``server``, the
    host and port of the provider's base URL, in ``server.address`` and
    ``server.port`` (its decimal digits), last: only the ``gen_ai.client.*``
    histograms carry them (see :func:`provider_part`)."""
    entry: Attributes = (("gen_ai.provider.name", _label(genai_name)),)
    if table is not None:
        entry += (("relaykit.provider", _label(table)),)
    if server is not None:
        entry += (("server.address", _label(server[0])), ("server.port", str(server[1])))
    return entry


#: the attributes of a :data:`ProviderNames` entry that name the server, not the provider
SERVER_ATTRIBUTES = frozenset({"server.address", "server.port"})


def provider_part(entry: Attributes) -> Attributes:
    """``entry`` (a :data:`ProviderNames` value) without its server: what names the
    provider on spans, on relaykit's own metrics and on the breaker gauge."""
    if all(key not in SERVER_ATTRIBUTES for key, _ in entry):
        return entry
    return tuple(pair for pair in entry if pair[0] not in SERVER_ATTRIBUTES)


def server_part(entry: Attributes) -> Attributes:
    """``entry``'s (a :data:`ProviderNames` value's) ``server.address`` and
    ``server.port``, or ``()``: the one server both a call's span and its
    ``gen_ai.client.*`` metrics name (the span takes the port as an int)."""
    if all(key not in SERVER_ATTRIBUTES for key, _ in entry):
        return ()
    return tuple(pair for pair in entry if pair[0] in SERVER_ATTRIBUTES)


def provider_attributes(provider: str, names: ProviderNames | None = None) -> Attributes:
    """The attributes that name ``provider`` (a model id's provider part):
    ``names``' entry for it, else ``provider`` taken for a provider type
    (:func:`genai_provider_name`)."""
    if names:
        found = names.get(provider)
        if found is not None:
            return found
    found = _DEFAULT_PROVIDERS.get(provider)
    if found is None:
        found = provider_names_entry(genai_provider_name(provider))
        if len(_DEFAULT_PROVIDERS) >= 4096:
            _DEFAULT_PROVIDERS.clear()
        _DEFAULT_PROVIDERS[provider] = found
    return found


#: the longest attribute value (a model name) a metric gets; longer ones are cut
#: to this many characters, the last one "…"
MAX_VALUE_LENGTH = 256


def _label(value: str) -> str:
    """``value`` as a metric attribute: cut to :data:`MAX_VALUE_LENGTH` characters,
    its lone surrogates (which UTF-8 cannot encode) written as their ``\\udxxx``
    escapes.

    Model names come from callers (a gateway passes on what its clients send).
    Every series holds its attributes, on every scrape: a 1 MB name made
    Prometheus pages of gigabytes and StatsD lines longer than a datagram (each
    refused, the call's metrics lost). A str may hold half an emoji (text cut at
    a UTF-16 boundary, bytes decoded with surrogateescape), and every exporter's
    wire format is UTF-8: such a value failed every Prometheus scrape, raised
    out of StatsD's ``record`` (and so out of the call), and made the OTLP
    encoder drop the attribute. Only new attribute sets get here (see
    :func:`_call_attributes`).
    """
    if len(value) > MAX_VALUE_LENGTH:
        value = value[: MAX_VALUE_LENGTH - 1] + "…"
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode()
    return value


_BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


def observe(event: Any, provider_names: ProviderNames | None = None) -> list[Observation]:
    """The observations an exporter should record for ``event``; ``[]`` for unknown events.

    ``provider_names``: the client's (an exporter gets them through its
    ``use_provider_names``, see :class:`relaykit.protocols.Exporter`); without
    them each provider name is taken for a provider type.
    """
    if isinstance(event, CallRecord):
        return _call(event, provider_names)
    if isinstance(event, QueueDepth):
        return [Observation(QUEUE_DEPTH, float(event.depth))]
    if isinstance(event, BreakerState):
        named = provider_part(provider_attributes(event.provider, provider_names))
        attrs_ = (named[0], ("gen_ai.request.model", _label(event.model)), *named[1:])
        return [Observation(BREAKER_STATE, _BREAKER_VALUES.get(event.state, 0.0), attrs_)]
    if isinstance(event, CacheStoreError):
        found = _CACHE_ERRORS.get(event.operation)
        return [found] if found is not None else []
    if isinstance(event, StorageWriteFailed):
        return [Observation(STORAGE_WRITE_FAILURES, 1.0, (("error.type", event.error_type),))]
    if isinstance(event, StorageFailing):
        return [Observation(STORAGE_FAILING, 1.0 if event.failing else 0.0)]
    if isinstance(event, RecordsSpilled):
        reason = (("relaykit.storage.reason", event.reason),)
        return [Observation(RECORDS_SPILLED, float(event.count), reason)]
    if isinstance(event, RecordsLost):
        return [Observation(RECORDS_LOST, float(event.count))]
    if isinstance(event, RecordsReplayed):
        return [Observation(RECORDS_REPLAYED, float(event.count))]
    return []


#: a store failure's observation, by operation (the same two every time)
_CACHE_ERRORS = {
    operation: Observation(CACHE_ERRORS, 1.0, (("relaykit.cache.operation", operation),))
    for operation in ("get", "put")
}


# (operation, provider, model, error type, response model) -> the attribute sets
# of a call's observations and the observations whose value never changes (a
# request, an error, a cache hit). Calls repeat the same few keys, so these are
# built once (and the tuples hash faster for exporters that look them up).
# Bounded: cleared when it grows past what any real deployment list reaches.
@attrs.frozen
class _CallAttributes:
    #: relaykit's own counters: operation, provider, model (and error.type)
    base: Attributes
    failed: Attributes
    #: relaykit.usage.estimated_tokens: base and gen_ai.token.type
    input_tokens: Attributes
    output_tokens: Attributes
    #: the gen_ai.client.* histograms: base, gen_ai.response.model (when the
    #: provider named one) and the server (when its base URL names one), as the
    #: conventions recommend on them
    genai: Attributes
    genai_failed: Attributes
    genai_input_tokens: Attributes
    genai_output_tokens: Attributes
    request: Observation
    error: Observation
    cache_hit: Observation
    #: the ProviderNames entry these were built from
    named: Attributes


_CallKey = tuple[str, str, str, str | None, str | None]
_ATTRIBUTES: dict[_CallKey, _CallAttributes] = {}
#: the operations besides chat whose answers may count output tokens
_OUTPUT_TOKENS = frozenset({"transcribe", "generate_image", "edit_image"})


def _call_key(record: CallRecord) -> _CallKey:
    return (
        record.operation,
        record.provider,
        record.model,
        record.error_type,
        record.model_served,
    )


def _call_attributes(record: CallRecord, names: ProviderNames | None) -> _CallAttributes:
    named = provider_attributes(record.provider, names)
    key = _call_key(record)
    found = _ATTRIBUTES.get(key)
    # the same provider name may stand for other providers in another client
    if found is not None and found.named is named:
        return found
    provider = provider_part(named)
    # sorted by key, as every attribute set (relaykit.provider, when there, last)
    base: Attributes = (
        ("gen_ai.operation.name", record.operation),
        provider[0],
        ("gen_ai.request.model", _label(record.model)),
        *provider[1:],
    )
    genai = base
    if record.model_served:
        genai += (("gen_ai.response.model", _label(record.model_served)),)
    genai += server_part(named)
    error_type = record.error_type
    failed = (*base, ("error.type", error_type)) if error_type is not None else base
    genai_failed = (*genai, ("error.type", error_type)) if error_type is not None else genai
    found = _CallAttributes(
        base=base,
        failed=failed,
        input_tokens=(*base, ("gen_ai.token.type", "input")),
        output_tokens=(*base, ("gen_ai.token.type", "output")),
        genai=genai,
        genai_failed=genai_failed,
        genai_input_tokens=(*genai, ("gen_ai.token.type", "input")),
        genai_output_tokens=(*genai, ("gen_ai.token.type", "output")),
        request=Observation(REQUESTS, 1.0, base),
        error=Observation(ERRORS, 1.0, failed),
        cache_hit=Observation(CACHE_HITS, 1.0, base),
        named=named,
    )
    if len(_ATTRIBUTES) >= 4096:
        _ATTRIBUTES.clear()
    _ATTRIBUTES[key] = found
    return found


def _call(record: CallRecord, names: ProviderNames | None) -> list[Observation]:
    found = _call_attributes(record, names)
    base = found.base
    out = [found.request]
    if record.error_type is not None:
        out.append(found.error)
    if record.latency is not None:
        out.append(Observation(OPERATION_DURATION, record.latency, found.genai_failed))
    # A cache hit's usage is its answer's, processed (and billed) when first asked:
    # none of it is counted again, as a hit's cost is $0 (it counts as a hit).
    usage = _NOTHING_PROCESSED if record.cache_hit else record.usage
    if usage.input_tokens or usage.output_tokens:
        # The conventions: without the vendor's counts an instrumentation MUST NOT
        # report gen_ai.client.token.usage (bar opted-in offline counting), so
        # relaykit's estimates are counted apart.
        if record.usage_estimated:
            tokens, input_tokens, output_tokens = (
                ESTIMATED_TOKENS,
                found.input_tokens,
                found.output_tokens,
            )
        else:
            tokens, input_tokens, output_tokens = (
                TOKEN_USAGE,
                found.genai_input_tokens,
                found.genai_output_tokens,
            )
        out.append(Observation(tokens, float(usage.input_tokens), input_tokens))
        operation = record.operation
        # Embeddings and rankings have no output tokens; a transcript and an image
        # have, where the vendor counts tokens (and none at all where it bills
        # minutes or images).
        if operation == "chat" or operation in _OUTPUT_TOKENS:
            out.append(Observation(tokens, float(usage.output_tokens), output_tokens))
    if record.streamed and record.time_to_first_token is not None:
        out.append(Observation(TIME_TO_FIRST_CHUNK, record.time_to_first_token, found.genai))
    for gap in record.chunk_gaps:
        out.append(Observation(TIME_PER_OUTPUT_CHUNK, gap, found.genai))
    if record.attempts > 1:
        out.append(Observation(RETRIES, float(record.attempts - 1), base))
    if record.fallbacks:
        # One call answered (or failed) by a fallback, however many targets it gave
        # up on: the description's unit, so fallbacks / requests is a share of calls
        # (relaykit.retries counts the extra attempts).
        out.append(Observation(FALLBACKS, 1.0, base))
    if record.cache_hit:
        out.append(found.cache_hit)
    if record.cost:
        out.append(Observation(COST, float(record.cost), base))
    if usage.cached_input_tokens:
        out.append(Observation(PROMPT_CACHE_READS, float(usage.cached_input_tokens), base))
    if usage.cache_write_input_tokens:
        out.append(Observation(PROMPT_CACHE_WRITES, float(usage.cache_write_input_tokens), base))
    if usage.web_searches:
        out.append(Observation(WEB_SEARCHES, float(usage.web_searches), base))
    return out


#: what the provider processed for a cache hit (see _call)
_NOTHING_PROCESSED = Usage()


class Series(Protocol):
    """What :class:`CallFold` adds a value to: an exporter's sum, histogram or total."""

    def add(self, value: float) -> None:
        """Take one observed value."""
        ...


class _Unbound:
    """A series not created yet: the first value creates it, and takes its place.

    An exporter creates a series when its first value comes (a call that never
    failed has no error series), so the sinks of a key start with these.
    """

    __slots__ = ("_attributes", "_field", "_instrument", "_make", "_sinks")

    def __init__(
        self,
        sinks: _CallSinks,
        field: str,
        instrument: Instrument,
        attributes: Attributes,
        make: Callable[[Instrument, Attributes], Series],
    ) -> None:
        self._sinks = sinks
        self._field = field
        self._instrument = instrument
        self._attributes = attributes
        self._make = make

    def add(self, value: float) -> None:
        series = self._make(self._instrument, self._attributes)
        setattr(self._sinks, self._field, series)
        series.add(value)


class _CallSinks:
    """The series one (operation, provider, model, error type, response model)'s calls feed."""

    __slots__ = (
        "cache_hits",
        "cost",
        "duration",
        "errors",
        "estimated_input_tokens",
        "estimated_output_tokens",
        "fallbacks",
        "input_tokens",
        "output_tokens",
        "prompt_cache_reads",
        "prompt_cache_writes",
        "requests",
        "retries",
        "time_per_output_chunk",
        "time_to_first_chunk",
        "web_searches",
    )

    requests: Series
    errors: Series
    duration: Series
    input_tokens: Series
    output_tokens: Series
    estimated_input_tokens: Series
    estimated_output_tokens: Series
    time_to_first_chunk: Series
    time_per_output_chunk: Series
    retries: Series
    fallbacks: Series
    cache_hits: Series
    cost: Series
    prompt_cache_reads: Series
    prompt_cache_writes: Series
    web_searches: Series

    def __init__(
        self,
        record: CallRecord,
        make: Callable[[Instrument, Attributes], Series],
        names: ProviderNames | None,
    ) -> None:
        found = _call_attributes(record, names)
        base = found.base
        # The attribute sets _call gives each instrument's observations.
        for field, instrument, attributes in (
            ("requests", REQUESTS, base),
            ("errors", ERRORS, found.failed),
            ("duration", OPERATION_DURATION, found.genai_failed),
            ("input_tokens", TOKEN_USAGE, found.genai_input_tokens),
            ("output_tokens", TOKEN_USAGE, found.genai_output_tokens),
            ("estimated_input_tokens", ESTIMATED_TOKENS, found.input_tokens),
            ("estimated_output_tokens", ESTIMATED_TOKENS, found.output_tokens),
            ("time_to_first_chunk", TIME_TO_FIRST_CHUNK, found.genai),
            ("time_per_output_chunk", TIME_PER_OUTPUT_CHUNK, found.genai),
            ("retries", RETRIES, base),
            ("fallbacks", FALLBACKS, base),
            ("cache_hits", CACHE_HITS, base),
            ("cost", COST, base),
            ("prompt_cache_reads", PROMPT_CACHE_READS, base),
            ("prompt_cache_writes", PROMPT_CACHE_WRITES, base),
            ("web_searches", WEB_SEARCHES, base),
        ):
            setattr(self, field, _Unbound(self, field, instrument, attributes, make))


class CallFold:
    """Adds call records' observations straight to an exporter's series.

    For an exporter that sums what it observes (Prometheus does): the values
    and attributes are exactly :func:`observe`'s for each record, without
    building an :class:`Observation` per value or looking a series up per
    value. ``make(instrument, attributes)`` returns the series (anything with
    ``add(value)``) for an instrument and attribute set; it is called the first
    time that pair gets a value, and again after the fold forgets its keys (it
    remembers at most ``max_keys`` of them), so it must return the same series
    for the same pair. ``provider_names``: as :func:`observe`'s.
    """

    def __init__(
        self,
        make: Callable[[Instrument, Attributes], Series],
        *,
        max_keys: int = 4096,
        provider_names: ProviderNames | None = None,
    ) -> None:
        self._make = make
        self._max_keys = max_keys
        self._names = provider_names
        self._sinks: dict[_CallKey, _CallSinks] = {}

    def add(self, records: Iterable[CallRecord]) -> None:
        """Add the observations of each of ``records``, in order."""
        found = self._sinks.get
        for record in records:
            error_type = record.error_type
            sinks = found(
                (record.operation, record.provider, record.model, error_type, record.model_served)
            )
            if sinks is None:
                sinks = self._sinks_of(record)
            # The same observations, in the same order, as _call.
            sinks.requests.add(1.0)
            if error_type is not None:
                sinks.errors.add(1.0)
            if record.latency is not None:
                sinks.duration.add(record.latency)
            usage = _NOTHING_PROCESSED if record.cache_hit else record.usage
            if usage.input_tokens or usage.output_tokens:
                if record.usage_estimated:  # kept out of gen_ai.client.token.usage (see _call)
                    sinks.estimated_input_tokens.add(float(usage.input_tokens))
                    if record.operation == "chat" or record.operation in _OUTPUT_TOKENS:
                        sinks.estimated_output_tokens.add(float(usage.output_tokens))
                else:
                    sinks.input_tokens.add(float(usage.input_tokens))
                    if record.operation == "chat" or record.operation in _OUTPUT_TOKENS:
                        sinks.output_tokens.add(float(usage.output_tokens))
            if record.streamed and record.time_to_first_token is not None:
                sinks.time_to_first_chunk.add(record.time_to_first_token)
            gaps = record.chunk_gaps
            if gaps:
                sinks.time_per_output_chunk.add(gaps[0])
                add = sinks.time_per_output_chunk.add  # the series the first value made
                for gap in gaps[1:]:
                    add(gap)
            if record.attempts > 1:
                sinks.retries.add(float(record.attempts - 1))
            if record.fallbacks:
                sinks.fallbacks.add(1.0)  # a call, however many targets it passed (see _call)
            if record.cache_hit:
                sinks.cache_hits.add(1.0)
            if record.cost:
                sinks.cost.add(float(record.cost))
            if usage.cached_input_tokens:
                sinks.prompt_cache_reads.add(float(usage.cached_input_tokens))
            if usage.cache_write_input_tokens:
                sinks.prompt_cache_writes.add(float(usage.cache_write_input_tokens))
            if usage.web_searches:
                sinks.web_searches.add(float(usage.web_searches))

    def _sinks_of(self, record: CallRecord) -> _CallSinks:
        if len(self._sinks) >= self._max_keys:
            self._sinks.clear()  # model names come from callers: stay bounded
        sinks = _CallSinks(record, self._make, self._names)
        self._sinks[_call_key(record)] = sinks
        return sinks
