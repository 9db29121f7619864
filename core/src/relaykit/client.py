"""The async :class:`Client`: one typed call, with everything production needs around it.

A call runs: validate -> route -> rate-limit reserve -> retry(provider call with
timeouts) -> normalise (cost, latency) -> reconcile limits -> export and log the
record (redacted) -> return. Each step lives in its own module; this one only
puts them in order.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import attrs

from .attempts import filtered_answer, run_attempts
from .billed_usage import so_far
from .breaker import BreakerBoard, CircuitBreaker
from .cache_store import GuardedCacheStore, open_cache_store
from .call_limits import OUTPUT_ESTIMATE, CallLimits, prompt_tokens, unit_hold
from .call_log import CallLog
from .call_outcomes import CallOutcomes, cut_off_usage
from .cancellation import is_cancellation
from .closing_gate import blocks_here, closed_under_call, part_of_work_in_flight
from .config import Config, LimitConfig, load_config
from .config_tables import check_plugin_tables
from .deadline_scope import DeadlineScopes
from .embeddings import EmbeddingResponse
from .errors import (
    ClientClosedError,
    InvalidRequestError,
    OutputValidationError,
    PartFieldError,
    ProviderUnavailableError,
    RelayError,
    RequestTimeoutError,
)
from .fork_safety import after_fork_in_child, leave_to_parent
from .gauge_events import BreakerState, CacheStoreError, StorageEvent
from .half_built import HalfBuilt, close_all
from .hedge_timer import HedgeTimer
from .hedging import HedgeLost, hedge_delay, hedged
from .messages import Message, coerce_messages
from .outbound_redaction import BatchSessions, OutboundRedaction
from .plugin_faults import exporter_problem, list_results, redactor_problem, wrong_answer
from .plugins import build_plugin_manager
from .pricing import PriceBook
from .protocols import (
    Exporter,
    Provider,
    RateLimiter,
    Reservation,
    Storage,
)
from .provider_registry import ProviderRegistry
from .record_spill import default_spill_path, spill_target, storage_target
from .redaction import RedactionChain
from .request import ChatRequest, build_request
from .response import NO_USAGE, ChatResponse, ModelInfo, TokenCount, Usage, tokens_unreported
from .response_cache import (
    CacheBackend,
    MemoryCache,
    StorageCache,
    canonical_request,
    is_deterministic,
    lookup_key,
    worth_keeping,
)
from .retention import RetentionPolicy
from .routing import FORGET_FROM, Router, Target
from .secrets import scrub as scrub_secrets
from .storage_open import open_storage
from .tracing import CallTracer, current
from .transport_errors import (
    malformed_response,
    map_transport_error,
    never_sent,
    typed_and_masked,
)
from .validation import cache_choice, check_size
from .web_search import WebSearch, refuse_unsearched

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from .audio import AudioFile
    from .batches import Batch, BatchItem, BatchResult
    from .embedding_cache import EmbeddingCache
    from .function_tools import FunctionTool
    from .hedging import _Race
    from .image_generation import ImageResponse
    from .image_inputs import EditableImage
    from .messages import CachePoint
    from .moderation import ModerationResponse
    from .rerank import RerankResponse
    from .secrets import Secret
    from .single_calls import Operation
    from .speech import SpeechResponse
    from .speech_stream import SpeechStream
    from .stream import ChatStream
    from .stream_lifecycle import StreamLifecycle
    from .tool_loop import ToolRunStream
    from .tool_runs import ToolRun
    from .transcription import TranscriptionResponse
    from .transcription_stream import TranscriptionStream

_ZERO = Decimal(0)
_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")
#: the event for a failed lookup or write of the cache's store (the same two every time)
_CACHE_STORE_ERRORS = {"get": CacheStoreError("get"), "put": CacheStoreError("put")}

log = logging.getLogger("relaykit")

Messages = str | Sequence[Message | Mapping[str, Any]]


@attrs.define
class _Call:
    """What the pipeline knows about one call while it runs."""

    id: str
    model_requested: str
    #: an EmbeddingRequest when ``operation`` is ``"embeddings"``, a RerankRequest
    #: when it is ``"rerank"``, a TranscriptionRequest when it is ``"transcribe"``,
    #: an ImageRequest when it is ``"generate_image"``, an ImageEditRequest when it is
    #: ``"edit_image"``, a SpeechRequest when it is ``"speak"``, a ModerationRequest
    #: when it is ``"moderate"``; only the code every operation shares (routing,
    #: limits, attempts) and embedding_call.py, rerank_call.py, transcription_call.py,
    #: image_generation_call.py, speech_call.py or moderation_call.py read it then, so
    #: the chat path keeps its one type
    request: ChatRequest
    targets: tuple[Target, ...]
    started: float
    started_wall: float
    deadline: float
    streamed: bool
    #: characters of text the caller sent (request.request_size), for estimates
    size: int = 0
    attempts: int = 0
    #: targets given up on before the one that served (or the last that failed)
    fallbacks: int = 0
    #: each attempt's target, in the order started (CallRecord.route)
    tried: tuple[Target, ...] = ()
    #: what the attempts that failed failed with, by their index in ``tried``
    #: (CallRecord.route_errors); ``None`` until one fails
    tried_errors: dict[int, str] | None = None
    #: the response-cache key, when this call may be answered from or stored in the cache
    cache_key: bytes | str | None = None
    cache_hit: bool = False
    #: with outbound redaction, the answer as the provider wrote it (placeholders
    #: unrestored): what the cache keeps (see Client._start)
    unrestored: ChatResponse | None = None
    # observability: the call's span (None when untraced), the target it last
    # went to, and the error that made the client try again
    span: Any = None
    span_target: Target | None = None
    #: this call's redaction chain, when its span captures content: the record
    #: then redacts the same texts from what the span's redaction remembers
    redaction: RedactionChain | None = None
    #: this call's outbound redaction (its own placeholders: see
    #: OutboundRedaction.for_call), when the client redacts outbound
    outbound: OutboundRedaction | None = None
    #: the target of the last attempt that succeeded
    served: Target | None = None
    #: a stream that ended whole or was left early: its time per output chunk
    #: (CallRecord.chunk_gaps)
    chunk_gaps: tuple[float, ...] = ()
    #: a stream's: the period of ``served``'s breaker its end is booked in
    #: (``Guard.period``: the one it was admitted in, not the breaker's by then)
    served_period: int = 0
    last_error: RelayError | None = None
    #: (usage, target, cost) of the answer a budget was settled with: the cost is
    #: worked out once per call, and CallOutcomes.finish reuses it for the same answer
    priced: tuple[Usage, Target, Decimal | None] | None = None
    #: the ``[limits."NAME=GLOB"]`` this call's metadata falls under, as (bucket, limit)
    scoped: tuple[tuple[str, LimitConfig], ...] = ()
    #: (usage, cost, targets) that the attempts cut off mid-call charged the budget: their
    #: prompts' estimate (see Client._cut_off). A failed or cancelled call's record
    #: carries it, so the records add up to what the budget charged.
    cut: tuple[Usage, Decimal | None, tuple[Target, ...]] | None = None
    #: (usage, cost) the vendor reported for attempts that ended before their first
    #: piece (a stream's, cut off or broken: CallOutcomes.record_reported_attempt),
    #: each charged on a record of its own: a failed or cancelled call's span and log
    #: line show it with what its own record carries, not the record a second time
    reported: tuple[Usage, Decimal | None] | None = None
    #: (monotonic) when the call's first request went out, once a limiter made it
    #: wait (None: no limiter, the same as ``started``); time to first chunk counts
    #: from here, as the conventions do ("from when the client issues the
    #: generation request"), while the duration keeps the wait
    issued: float | None = None

    #: whether the call has been traced, logged and recorded as done (or failed)
    ended: bool = False
    #: ``"chat"``, ``"embeddings"`` for :meth:`Client.embed` (see embedding_call.py),
    #: ``"rerank"`` for :meth:`Client.rerank` (see rerank_call.py),
    #: ``"transcribe"`` for :meth:`Client.transcribe` (see transcription_call.py),
    #: ``"generate_image"`` for :meth:`Client.generate_image` and ``"edit_image"``
    #: for :meth:`Client.edit_image` (see image_generation_call.py), ``"speak"`` for
    #: :meth:`Client.speak` (see speech_call.py) or ``"moderate"`` for
    #: :meth:`Client.moderate` (see moderation_call.py)
    operation: str = "chat"
    #: how a call that is not a chat is sent, priced and recorded (its module's
    #: :class:`~relaykit.single_calls.Operation`); ``None`` for a chat
    kind: Operation | None = None
    #: the output tokens a rate limit holds for the call before its answer says
    output_hold: int = 256
    #: the search units a rerank call will likely be billed, the minutes of audio
    #: a transcription will, the images an image generation asks for and the
    #: characters a speech speaks (0 for other calls, and for audio whose length
    #: its header does not say)
    searches: int = 0
    minutes: float = 0.0
    images: int = 0
    characters: int = 0
    #: what a budget holds for those at the deployment's price per search, minute,
    #: image or character
    unit_hold: Decimal = Decimal(0)

    @property
    def first_request_at(self) -> float:
        """(monotonic) when the first request went out: ``issued``, else ``started``."""
        return self.started if self.issued is None else self.issued


class Client:
    """The relaykit client. Use it as ``async with relaykit.Client() as client:``.

    :param config: a dict, a path to a TOML file, or a :class:`relaykit.config.Config`;
        by default ``$RELAYKIT_CONFIG``, ``./relaykit.toml`` or the user config dir.
    :param plugins: extra plugin objects to register after entry points (tests, apps).
    :param env: the environment to read keys and overrides from (default ``os.environ``).
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        plugins: Iterable[object] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self._env = env
        self.config = load_config(config, env=env)
        self.plugin_manager = build_plugin_manager(plugins, env)
        pm = self.plugin_manager
        # before the exporters are built: a table no plugin reads would do nothing
        check_plugin_tables(self.config, self.plugin_manager)
        self._registry = ProviderRegistry(self.config, self.plugin_manager, env)
        #: the keys this client holds, masked first in everything it redacts and raises
        self._known = self._registry.known_secrets
        self._redaction = RedactionChain(
            [
                self._known,
                *list_results(pm, "relaykit_redactors", redactor_problem, config=self.config),
            ],
            memo_chars=self.config.redaction.memo_chars,
        )
        # What plugins make below may hold sockets and threads: closed if a later
        # step raises, as no caller can close a client it never got (half_built.py).
        made = HalfBuilt()
        try:
            #: reserves and settles ``[limits]`` around each attempt (``None`` without any)
            self._limits = CallLimits.create(self.config, self.plugin_manager, self._price)
            made.add(self._limits.limiter if self._limits is not None else None)
            storage = open_storage(self.config, self.plugin_manager)
            made.add(storage)
            store = open_cache_store(self.config, self.plugin_manager, storage)
            in_storage = self.config.cache.backend == "storage"
            made.add(None if in_storage else store)
            # Last of what plugins make, as they open sockets and start server threads:
            # the config errors met most (a backend misspelt or not installed) above
            # come before any of that.
            self._exporters: list[Exporter] = list_results(
                pm, "relaykit_exporters", exporter_problem, made=made, config=self.config
            )
            provider_names = self._registry.telemetry_names()
            for exporter in self._exporters:
                use = getattr(exporter, "use_provider_names", None)
                if use is not None:
                    use(provider_names)
            self._call_log: CallLog | None = None
            if storage is not None:
                self._call_log = self._make_call_log(storage)
            # -- observability and outbound redaction (see tracing.py, outbound_redaction.py)
            self._prices = PriceBook(self.config.prices)
            self._outbound = OutboundRedaction.create(self._redaction.redactors)
            #: each submitted batch's placeholders, to restore its results
            self._batch_sessions = (
                BatchSessions(self._outbound) if self._outbound is not None else None
            )
            self._tracer = CallTracer.create(
                self.config, self._exporters, self._redaction, self._registry
            )
            if self._tracer is not None:
                self._registry.header_hooks.append(self._tracer.inject_headers)
            #: traces, logs and records how each call ended (see call_outcomes.py)
            self._outcomes = CallOutcomes(
                redaction=self._redaction,
                known=self._known,
                exporters=self._exporters,
                call_log=self._call_log,
                tracer=self._tracer,
                outbound=self._outbound,
                price=self._price,
                log_metadata=self.config.telemetry.log_metadata,
                ca_file=self.config.http.ca_file,
            )
            from .model_catalog import ModelCatalog

            self._catalog = ModelCatalog(
                self._registry, ttl=self.config.registry.ttl, storage=storage
            )
            # -- resilience (see attempts.py, routing.py, breaker.py, response_cache.py)
            self._router = Router(
                self.config, cool_down=self.config.breaker.cool_down, known=self._known
            )
            self._breakers = BreakerBoard(
                failures=self.config.breaker.failures, reset_after=self.config.breaker.reset_after
            )
            self._breaker_states: dict[str, str] = {}
            #: each target's breaker, once its provider (and so its base URL) is built
            self._target_breakers: dict[Target, CircuitBreaker] = {}
            #: past this many breakers, a new one first forgets the idle ones: model ids
            #: come from callers (see _forget_breakers)
            self._breakers_cap = FORGET_FROM
            #: providers whose failed listing a context-window check has logged
            #: (once a client: a provider with no listing fails every check)
            self._window_listings_told: set[str] = set()
            # [cache] backend: the storage's cache, a plugin's store, or memory alone
            # (see cache_store.py); a store's failures are misses, never failed calls
            #: a store the client opened for the cache alone (not the storage): closed with it
            self._own_cache_store = None if in_storage else store
            cache = self.config.cache
            memory = MemoryCache(cache.max_entries, max_chars=cache.memory_chars)
            self._cache: CacheBackend = memory
            #: where the chat and embeddings caches keep entries besides memory
            self._cache_storage: GuardedCacheStore | None = None
            if store is not None:
                name = self.config.storage.backend if in_storage else self.config.cache.backend
                self._cache_storage = GuardedCacheStore(
                    store,
                    name,
                    retry_after=self.config.cache.retry_after,
                    on_error=self._note_cache_error,
                    # every store, a plugin's too: one that hangs must not hang calls (the
                    # storage's own cache would otherwise wait as long as the storage does)
                    timeout=self.config.cache.timeout,
                )
                known = self._known
                self._cache = StorageCache(
                    self._cache_storage,
                    memory,
                    # what stored records mask always: the client's keys, and credentials by shape
                    scrub=lambda text: scrub_secrets(known.redact(text)),
                )
        except BaseException:
            made.close()
            raise
        #: the cache when it is memory alone: used without a coroutine (nothing waits)
        self._memory_cache = self._cache if isinstance(self._cache, MemoryCache) else None
        #: what a cache key names as the model of each [models.NAME] route: its
        #: deployments, in order, whichever the router plans first for a call; a
        #: route whose deployments change (here, or in another process sharing
        #: the store) asks again rather than replay the old ones' answers
        self._route_keys = {
            name: ",".join(route.targets) for name, route in self.config.models.items()
        }
        self._vectors: EmbeddingCache | None = None  # built by the first cached embed
        self._tg: TaskGroup | None = None
        #: makes the calls' timeout scopes once the client is entered (see deadline_scope.py)
        self._scopes: DeadlineScopes | None = None
        #: ``[timeouts] attempt``, or None when off (inf, the default): read once per
        #: attempt, its deadline then shares the total timeout's scope
        attempt_timeout = self.config.timeouts.attempt
        self._attempt_timeout = attempt_timeout if attempt_timeout != math.inf else None
        #: starts hedges on time; runs in _tg when a route hedges (see hedging.py)
        self._hedge_timer: HedgeTimer | None = None
        #: aclose has begun: new calls are refused (those of work in flight go ahead
        #: until _shut: see closing_gate.py)
        self._closed = False
        #: report this client if it is collected unclosed (not in a forked child: see __del__)
        self._warn_unclosed = True
        #: aclose has stopped waiting and closes (or has closed) the connections
        self._shut = False
        #: set once aclose has finished closing: a second aclose waits for it
        self._closing: anyio.Event | None = None
        #: until the first call: the HTTP stack is not imported yet (see _warm_up)
        self._cold = True
        #: calls (and entered streams) not finished yet: aclose waits for them
        self._in_flight = 0
        #: set by the last call in flight to finish, once aclose waits for it
        self._idle: anyio.Event | None = None
        #: the timeout scopes of the attempts waiting on a provider now: aclose
        #: cancels them once its wait is over, before it closes the connections
        self._running: set[anyio.CancelScope] = set()
        #: the streams open now (past their first event): aclose ends those still
        #: open once its wait is over (see StreamLifecycle._end_for_close)
        self._streams: set[StreamLifecycle] = set()
        #: the tool runs in flight (their blocks entered and not left)
        self._runs: set[ToolRunStream] = set()
        #: the tool runs aclose does not wait for: the code closing is inside them
        #: (a tool of theirs, their block), and they go on only once aclose returns.
        #: _idle waits for the calls in flight down to these.
        self._excused: set[ToolRunStream] = set()
        after_fork_in_child(self, Client._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: forget the parent's event loop, as if never entered.

        The task group, deadline scopes and hedge timer belong to an event loop
        that does not run here, and the calls in flight are the parent's. The
        child's calls work at once (their records written inline), and ``async
        with client`` in the child's own event loop starts it afresh. The call
        log, the providers' HTTP connections and the storage reset themselves.
        """
        leave_to_parent(self._tg, self._hedge_timer)
        self._warn_unclosed = False  # the parent's to close, not this process's
        self._tg = None
        self._scopes = None
        self._hedge_timer = None
        self._in_flight = 0
        self._idle = None
        self._excused = set()
        self._running = set()
        self._streams = set()
        self._runs = set()

    def _make_call_log(self, storage: Storage) -> CallLog:
        cfg = self.config.storage
        retention = RetentionPolicy(cfg.retention_days) if cfg.retention_days is not None else None
        return CallLog(
            storage,
            max_queue=cfg.queue_size,
            max_batch=cfg.batch_size,
            retention=retention,
            retry_for=cfg.retry_for,
            close_timeout=cfg.close_timeout,
            spill_path=(
                Path(cfg.spill_path).expanduser()
                if cfg.spill_path
                # a file per storage: a replay must not store records in another one
                # (named by the storage itself if it can: [storage] may not say which)
                else default_spill_path(
                    spill_target(storage) or storage_target(cfg.backend, cfg.path, cfg.dsn)
                )
            ),
            on_event=self._note_storage_event if self._exporters else None,
        )

    @property
    def storage(self) -> Storage | None:
        """The storage backend call records go to, or ``None`` when logging is off."""
        return self._call_log.storage if self._call_log is not None else None

    @property
    def _limiter(self) -> RateLimiter | None:
        """The rate limiter of ``[limits]`` (``None`` without any): for tests and
        chaos checks that look at what it holds; calls go through ``_limits``."""
        return self._limits.limiter if self._limits is not None else None

    # -- lifecycle -----------------------------------------------------------

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # Reported as aiohttp reports an unclosed session: its HTTP connections,
        # call log and exporters were never closed, and records may be lost.
        # Only a flag read and a warning: a finalizer may run on any thread, during
        # any event loop's turn or after the client's own loop is gone. (A failed
        # __init__ closed what it made and never set _closed: not reported.)
        if not getattr(self, "_closed", True) and self._warn_unclosed:
            _warn(
                "a relaykit.Client was garbage collected without being closed: use"
                " `async with relaykit.Client(...) as client:`, or `await client.aclose()`"
                " when done",
                ResourceWarning,
                source=self,
            )

    async def __aenter__(self) -> Client:
        try:
            await self._load_vault_keys()
        except BaseException:
            await self.aclose()
            raise
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._scopes = DeadlineScopes()  # entered: this client stays in this event loop
        if self._call_log is not None:
            self._call_log.start(self._tg)
        if any(route.hedge_after is not None for route in self.config.models.values()):
            self._hedge_timer = HedgeTimer()
            self._tg.start_soon(self._hedge_timer.run, name="relaykit hedge timer")
        return self

    async def _load_vault_keys(self) -> None:
        # Key resolution is synchronous (providers are built on first use), so the
        # vault is read once here, before any call, rather than on the request path.
        storage = self.storage
        if storage is None or not hasattr(storage, "vault_items"):
            return
        from .key_vault import load_vault_keys

        keys = await load_vault_keys(storage, self._env)
        for key in keys.values():
            self._known.add(key)
        self._registry.vault_keys.update(keys)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            await self.aclose()
        finally:
            if self._tg is not None:
                tg, self._tg = self._tg, None
                # The background tasks have finished (aclose drained them), so the
                # caller's exception is not the task group's business: handing it
                # over would wrap it in an ExceptionGroup, and `except RateLimitError`
                # around `async with Client()` would stop matching.
                await tg.__aexit__(None, None, None)
        return None

    async def warm_up(self) -> None:
        """Import now what the first call would (the HTTP stack), in a worker thread.

        The first call does it anyway, its clock stopped meanwhile; a server
        awaits this before it takes requests, so that its first caller does not
        wait for the import (a third of a second cold, seconds on a loaded
        machine). Idempotent; cheap once done.
        """
        if self._closed and self._refuses_calls():
            raise ClientClosedError("this client is closed")
        if self._cold:
            await self._warm_up()

    async def aclose(self) -> None:
        """Refuse new calls, let those in flight finish, drain the call log, flush
        exporters, close every connection. Idempotent.

        Calls in flight (a stream until its block is left, a tool run until its
        last step, tools between steps included) get up to ``[timeouts] total``
        to finish, so their records are written too (a call waiting for room in
        the call log's full queue hands its record to the log's close at once:
        ``[storage] close_timeout`` bounds that, not ``retry_for``); a call starting meanwhile
        gets :class:`ClientClosedError`, but a tool run's next step goes ahead.
        Cancelling the task that closes stops that wait, not the closing. Once
        the wait is over, a call still waiting on a provider (or on a retry's
        backoff, the response cache's store, the HTTP stack's import, a
        fallback's model listing) is cancelled and a stream still open is ended,
        with what had arrived: its caller gets :class:`ClientClosedError` (a
        stream's on its next read, or at once if it is waiting for one), and its
        record (error type ``ClientClosedError``) is written before the call log
        closes; after it, a tool run's next step gets :class:`ClientClosedError`
        too. A wait that is never cut short (a rate limiter's answer, a tool's
        worker thread) gets a second more; a call that ends later still gets
        :class:`ClientClosedError`, and its record goes to the spill file, which
        the next client on this storage replays. Called inside a stream's block
        (or a task started in it), it ends that stream at once rather than wait
        for a block that cannot be left meanwhile; called inside a
        ``stream_tools`` block or from a tool of a run in flight, it waits for
        the other calls, not that run (whose next step then gets
        :class:`ClientClosedError`). Called again (from any task) while
        closing, returns once the client is closed.
        """
        if self._closed:
            closing = self._closing
            if closing is not None and not closing.is_set():
                # Closing in another task: done once it is. That close must not
                # wait for the blocks this code is in, or neither could end.
                await self._excuse_own_blocks()
                await closing.wait()
            return
        self._closed = True
        self._closing = closing = anyio.Event()
        if self._call_log is not None:
            # The calls waited for below no longer wait for room in a full queue
            # (storage failing: up to retry_for); the call log's close takes their
            # records, within close_timeout.
            self._call_log.closing()
        try:
            await self._excuse_own_blocks()
            if self._in_flight > len(self._excused):
                self._idle = anyio.Event()
                with anyio.move_on_after(self.config.timeouts.total):
                    await self._idle.wait()
        finally:
            try:
                await self._shut_down()
            finally:
                closing.set()

    async def _excuse_own_blocks(self) -> None:
        """Keep aclose from waiting for the blocks the closing code is in
        (:func:`~relaykit.closing_gate.blocks_here`): they are left only once it
        returns, so it waited all of ``[timeouts] total`` (600 s unless set).

        An open stream's block: the stream is ended at once, recorded with what
        had arrived; its next read raises :class:`ClientClosedError`. A tool
        run's (its ``stream_tools`` block, or a tool of it, whose task started
        inside the run): the wait is for the other calls; the run's next step
        gets :class:`ClientClosedError`.
        """
        if self._streams or self._runs:
            here = blocks_here()
            own = [stream for stream in self._streams if stream in here]
            if own:
                with anyio.CancelScope(shield=True):
                    for stream in own:
                        await stream._end_for_close()
            self._excused.update(run for run in self._runs if run in here)
        if self._idle is not None and self._in_flight <= len(self._excused):
            self._idle.set()  # (a second aclose: the first waited for these alone)

    def _refuses_calls(self) -> bool:
        """Whether a call starting here gets :class:`ClientClosedError`: the client
        has shut down, or is closing and the call is not part of work in flight
        (a tool run's step: closing_gate.py)."""
        return self._closed and (self._shut or not part_of_work_in_flight(self))

    async def _shut_down(self) -> None:
        self._shut = True  # what is still in flight must not start more calls now
        if self._hedge_timer is not None:
            self._hedge_timer.close()
        if self._running or self._streams:
            # Calls still waiting on a provider (or on a retry's backoff, or on a
            # stream's first event) would otherwise go on over closed connections
            # (aiohttp's session then leaks), and their records arrive after the
            # call log closed. Cancelled, each raises ClientClosedError (see
            # _attempt) and records itself: a moment, waited for shielded (the
            # closer may be cancelled) and bounded (tool runs in flight are not
            # cancelled here, and may not end soon).
            for scope in self._running:
                scope.cancel()
            with anyio.CancelScope(shield=True):
                # An open stream is recorded here, with what had arrived: its
                # reader may be waiting inside it for the next event, which no
                # scope of ours holds (see stream_read_timeout.py); closing the
                # connections below wakes that reader, with ClientClosedError.
                for stream in list(self._streams):
                    await stream._end_for_close()
        if self._in_flight > len(self._excused):
            # Waited for even when nothing was cancelled: a call may be waiting on
            # something no scope of ours holds (a cache store's look-up, a worker
            # thread, a limiter over the network). Once that is over, it meets
            # _shut, raises ClientClosedError and records itself: here, before the
            # call log closes, not after it (its record would be lost).
            if self._idle is None:
                self._idle = anyio.Event()
            with anyio.move_on_after(_WIND_DOWN, shield=True):
                await self._idle.wait()
        closers = [exporter.aclose for exporter in self._exporters]
        if self._call_log is not None:
            closers.insert(0, self._call_log.aclose)
        if self._limits is not None:
            closers.append(self._limits.aclose)
        store_close = getattr(self._own_cache_store, "aclose", None)  # a socket, too
        if store_close is not None:
            closers.append(store_close)
        closers.append(self._registry.aclose)
        with anyio.CancelScope(shield=True):
            # each, even after one failed: the first error stopped the closing, the
            # rest (a limiter's socket, the HTTP connections) left open
            await close_all(closers)

    # -- the public calls ----------------------------------------------------

    async def chat(self, model: str, messages: Messages, **params: Any) -> ChatResponse:
        """Send ``messages`` to ``model`` (``provider/model`` or an alias); return the response.

        Parameters: ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``,
        ``tools``, ``tool_choice``, ``response_format``, ``reasoning`` (an effort
        such as ``"low"``, a budget in tokens, ``True``/``False``, or a
        :class:`~relaykit.Reasoning`), ``timeout`` (seconds, total),
        ``metadata`` and ``extra`` (merged into the provider's request body).
        With ``response_format=SomeClass``, ``output_retries=N`` asks again up to
        N times when the answer is not a valid instance, telling the model why
        (each try is a call of its own, logged and billed). ``cache=True`` answers
        this call from the response cache and keeps its answer there, even when
        ``[cache]`` is off or the request is sampled (``deterministic_only`` picks
        only what calls that do not say are cached); ``cache=False`` bypasses it.
        """
        if "output_retries" in params:
            return await self._chat_until_parsed(model, messages, params)
        call = self._start(model, messages, params, streamed=False)
        # Counted for aclose, which waits for calls in flight. In this frame, not a
        # coroutine's under it: every time the call waits on the network, the
        # event loop resumes each frame of the chain.
        self._in_flight += 1
        try:
            with current(self._tracer, call):
                try:
                    if call.cache_key is not None:
                        memory = self._memory_cache
                        cached = (
                            memory.get_nowait(call.cache_key)
                            if memory is not None
                            else await self._look_up(call)
                        )
                        if cached is not None:
                            call.cache_hit = True
                            return await self._outcomes.finish(
                                call, Target(cached.provider, cached.model), cached
                            )
                    if self._cold:
                        await self._warm_up(call)
                    route = self.config.models.get(call.model_requested)
                    try:
                        if (
                            route is not None
                            and route.hedge_after is not None
                            and len(call.targets) > 1
                        ):
                            after = route.hedge_after  # a fixed delay is a float already
                            delay = (
                                after if type(after) is float else hedge_delay(self, call, after)
                            )
                            target, response = await hedged(self, call, delay)
                        else:
                            # _attempt itself, not a wrapper: the attempt that served
                            # says its target
                            response = await run_attempts(
                                self, call, partial(self._attempt, call=call)
                            )
                            assert call.served is not None
                            target = call.served
                    except RelayError as error:
                        await self._outcomes.fail(call, error)
                        raise
                    response = await self._outcomes.finish(call, target, response)
                    if call.cache_key is not None and worth_keeping(call.request, response):
                        kept = response if call.unrestored is None else call.unrestored
                        if self._memory_cache is not None:
                            self._memory_cache.put_nowait(
                                call.cache_key, kept, self.config.cache.ttl
                            )
                        else:
                            # Shielded: the call has ended and is recorded a success, so a
                            # cancellation now would show the caller a failure its record
                            # denies. It comes at the caller's next checkpoint instead.
                            with anyio.CancelScope(shield=True):
                                await self._cache.put(call.cache_key, kept, self.config.cache.ttl)
                    return response
                except BaseException as exc:
                    # Cancelled by the caller (a timeout of theirs, a client that hung
                    # up): a failed call, recorded as a cancelled stream is. Not when
                    # the call had ended and was being recorded already.
                    if not call.ended and is_cancellation(exc):
                        with anyio.CancelScope(shield=True):
                            await self._outcomes.cancelled(call)
                    raise
        finally:
            self._call_ended()

    async def run_tools(
        self,
        model: str,
        messages: Messages | ToolRun,
        tools: Iterable[Callable[..., Any] | FunctionTool | CachePoint | WebSearch],
        *,
        max_steps: int = 10,
        tool_errors: Literal["send", "raise"] = "send",
        **params: Any,
    ) -> ToolRun:
        """Chat with ``tools`` until the model answers: call it, run the tools it
        asks for, send their results, and again; return the :class:`~relaykit.ToolRun`.

        ``tools`` are Python functions (their schema written from their type
        hints and docstrings: :meth:`~relaykit.FunctionTool.from_function`) or
        :class:`~relaykit.FunctionTool` values (a :class:`~relaykit.CachePoint`
        among them caches the definitions before it, a :class:`~relaykit.WebSearch`
        lets the provider search the web in each step). The calls of one step run
        concurrently; an async function is awaited, a sync one runs in a worker
        thread. Each step is a :meth:`chat` call taking ``params`` (``max_tokens``,
        ``reasoning``, ``response_format``, ...), and carries the run's
        ``conversation_id`` in its metadata (the caller's, or a new one).
        ``tool_choice="required"`` (or a tool's name) holds for the first step only.

        What goes back to the model as an error result, and the run goes on: an
        unknown tool name, arguments that do not fit the function's signature,
        and, with ``tool_errors="send"`` (the default), an exception a tool
        raises (its type and message, secrets scrubbed). ``tool_errors="raise"``
        propagates the exception instead, the step's other tools cancelled (a
        tool's ``SystemExit`` always propagates, as itself).

        ``messages`` may be a :class:`~relaykit.ToolRun` (a
        :class:`~relaykit.ToolLoopError`'s ``run``, a streamed run left early):
        the run goes on from its conversation, in the same ``conversation_id``.

        More than ``max_steps`` model calls raises :class:`~relaykit.ToolLoopError`
        with the run so far. Cancelled, the run cancels its running tools; a sync
        tool's thread cannot be interrupted, so the run waits for it to return.
        ``timeout`` (as every parameter) is each step's: a tool has no time limit
        of its own. Bound a slow one inside it (``with anyio.fail_after(5):``;
        the TimeoutError goes back to the model as an error result), or cancel
        the run.
        """
        from .tool_loop import run_tools

        return await run_tools(
            self,
            model,
            messages,
            tools,
            max_steps=max_steps,
            tool_errors=tool_errors,
            params=params,
            scrub_known=self._known.redact,
        )

    def stream_tools(
        self,
        model: str,
        messages: Messages | ToolRun,
        tools: Iterable[Callable[..., Any] | FunctionTool | CachePoint | WebSearch],
        *,
        max_steps: int = 10,
        tool_errors: Literal["send", "raise"] = "send",
        **params: Any,
    ) -> ToolRunStream:
        """:meth:`run_tools`, streamed: ``async with client.stream_tools(...) as run:
        async for event in run``, then ``run.run`` is the :class:`~relaykit.ToolRun`.

        Takes what :meth:`run_tools` takes. Each step is a :meth:`stream` call;
        the iteration yields a :class:`~relaykit.StepStart`, the step's stream
        events (:class:`~relaykit.TextDelta`, :class:`~relaykit.ToolCallDelta`,
        ...), a :class:`~relaykit.StepEnd` with its response, then a
        :class:`~relaykit.ToolResultEvent` as each of its tools finishes (they
        run concurrently; the results go back in the calls' order). Each step
        retries and falls back before its first event, as :meth:`stream` does.
        Errors (a step's, :class:`~relaykit.ToolLoopError`, a tool's with
        ``tool_errors="raise"``) are raised by the iteration. Leaving the block
        early closes the step's stream and cancels the running tools.
        """
        from .tool_loop import ToolRunStream
        from .tool_runs import plan_tool_run

        plan = plan_tool_run(
            messages,
            tools,
            max_steps=max_steps,
            tool_errors=tool_errors,
            params=params,
            method="stream_tools",
        )
        return ToolRunStream(self, model, plan, self._known.redact, streamed=True)

    async def _chat_until_parsed(
        self, model: str, messages: Messages, params: Mapping[str, Any]
    ) -> ChatResponse:
        """:meth:`chat` with ``output_retries``: a new call for each answer that
        does not parse, the conversation carrying the answer and what was wrong."""
        params = dict(params)
        retries = params.pop("output_retries")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidRequestError(
                f"`output_retries` must be a whole number of retries, not {retries!r}",
                param="output_retries",
            )
        output = params.get("response_format")
        if not isinstance(output, type):
            raise InvalidRequestError(
                "output_retries needs response_format=SomeClass: only a class's "
                "answers are parsed, and so can be found invalid",
                param="output_retries",
            )
        conversation = list(coerce_messages(messages))
        for attempt in range(retries + 1):
            try:
                return await self.chat(model, conversation, **params)
            except OutputValidationError as error:
                # An answer cut off at max_tokens would be cut off again.
                if attempt == retries or error.response.finish_reason == "length":
                    raise
                conversation += [
                    error.response.to_message(),
                    Message.user(
                        f"That answer is not valid: {error.message}. Answer again, "
                        f"with only a {output.__name__} as the JSON schema describes it."
                    ),
                ]
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _warm_up(self, call: _Call | None = None) -> None:
        """Before the first call: import the HTTP stack off the event loop.

        Built lazily, providers would import it on the event loop the first
        time one is used, stalling every other task (a third of a second for
        httpx or aiohttp, cold). Here it happens in a worker thread, once, and
        only for a client that makes a call.

        ``call``'s clock stops meanwhile: importing is not the provider's
        latency. Counted in, it made every one-shot CLI call look 0.2 s slower
        in the logs and metrics, and skewed latency routing's first sample.
        """
        began = time.monotonic()
        if call is None:  # not a call in flight (a listing, a count): nothing to record
            await self._registry.warm_up()
        else:
            try:
                with self._cut_by_close():
                    await self._registry.warm_up()
            except ClientClosedError as error:
                await self._outcomes.fail(call, error)
                raise
        self._cold = False
        if call is not None:
            waited = time.monotonic() - began
            call.started += waited
            call.deadline += waited

    async def _look_up(self, call: _Call) -> ChatResponse | None:
        """``call``'s answer in the response cache's store, if it holds one (cut short
        by aclose: see :meth:`_cut_short`)."""
        assert call.cache_key is not None
        return await self._cut_short(call, self._cache.get, call.cache_key)

    async def _cut_short(
        self, call: _Call, wait: Callable[[_Arg], Awaitable[_Result]], arg: _Arg
    ) -> _Result:
        """``await wait(arg)`` for ``call``, before its request goes out (a cache
        store's look-up, which can take seconds); aclose cuts it short once its
        wait is over: the call is recorded as failed, :class:`ClientClosedError`."""
        try:
            with self._cut_by_close():
                return await wait(arg)
        except ClientClosedError as error:
            await self._outcomes.fail(call, error)
            raise

    @contextmanager
    def _cut_by_close(self) -> Iterator[None]:
        """Around a wait of a call in flight that no attempt's scope holds (a cache
        store's look-up, the HTTP stack's import): aclose cancels it once its wait
        is over, and the call gets :class:`ClientClosedError`.

        Without it the wait outlasted aclose's wind-down, and the call's record
        reached a call log that had closed: lost.
        """
        if self._shut:
            raise closed_under_call()
        scope = anyio.CancelScope()
        self._running.add(scope)
        try:
            with scope:
                yield
        finally:
            self._running.discard(scope)
        if scope.cancelled_caught:  # (only aclose cancels it)
            raise closed_under_call()

    def _call_ended(self) -> None:
        """A call (or an entered stream) has finished: wake aclose after the last."""
        self._in_flight -= 1
        if self._idle is not None and self._in_flight <= len(self._excused):
            self._idle.set()

    def stream(self, model: str, messages: Messages, **params: Any) -> ChatStream:
        """Stream the response: ``async with client.stream(...) as s: async for event in s``.

        Takes the same parameters as :meth:`chat`. Retries and fallbacks happen only
        before the first event reaches you; ``s.response`` is the assembled response.
        """
        from .stream import ChatStream

        if "output_retries" in params:
            raise InvalidRequestError(
                "output_retries works with chat, not stream: a streamed answer has "
                "been shown by the time it is found invalid",
                param="output_retries",
            )

        return ChatStream(self, self._start(model, messages, params, streamed=True))

    async def count_tokens(self, model: str, messages: Messages, **params: Any) -> TokenCount:
        """The input tokens ``messages`` would use with ``model``, tools and all.

        Takes the arguments :meth:`chat` takes and sends what it would send
        (outbound redaction included) to the provider's token-counting endpoint,
        when it has one (OpenAI, Anthropic, Gemini, Bedrock): the count is then exact,
        and costs nothing. Otherwise it is estimated from characters
        (:class:`TokenCount` says which). An alias counts with its route's first
        target. Not a call: no retries, limits, log record or span; the
        ``timeout`` (or ``[timeouts] total``) still bounds it.
        """
        if self._closed and self._refuses_calls():
            raise ClientClosedError("this client is closed")
        params = {k: v for k, v in params.items() if k != "cache"}
        target = self._router.plan(model)[0]
        request = build_request(target.model, coerce_messages(messages), params)
        size = check_size(request, self.config.validation.max_chars)
        counter = getattr(self._registry.get(target.provider), "count_tokens", None)
        if counter is None:
            return TokenCount(size // 4, exact=False)  # as limits estimate a prompt
        if self._outbound is not None:
            request = self._outbound.request(request)
        if self._cold:
            await self._warm_up()
        total = request.timeout if request.timeout is not None else self.config.timeouts.total
        counted: int | None = None
        self._in_flight += 1  # aclose waits for it, as for a call
        scope = anyio.move_on_after(total)
        try:
            if self._shut:  # shut down while the HTTP stack was imported
                raise closed_under_call()
            self._running.add(scope)  # cancelled by aclose once its wait is over
            with typed_and_masked(target, self._known), scope:
                counted = await counter(request)
        finally:
            self._running.discard(scope)
            self._call_ended()
        if counted is None and self._shut:
            raise closed_under_call()
        if counted is None:
            raise RequestTimeoutError(
                f"no token count within the total timeout of {total:g}s",
                which="total",
                provider=target.provider,
                model=target.model,
                hint="raise [timeouts] total or pass timeout=...",
            )
        return TokenCount(counted)

    async def embed(
        self, model: str, inputs: str | Sequence[str], **params: Any
    ) -> EmbeddingResponse:
        """Embed ``inputs`` (a text or a list of texts) with ``model``: one vector per text.

        Parameters: ``dimensions`` (shorter vectors, for the models that can),
        ``input_type`` (``"query"`` or ``"document"``, for the models that embed
        them apart), ``timeout``, ``metadata``, ``extra`` (merged into the
        provider's request body) and ``cache`` (this call's use of the cache,
        which keeps each text's vector apart: a batch that repeats texts pays
        for the new ones only). Retries, breakers, routes (without hedging),
        rate limits, budgets, cost, traces, metrics and the call log work as
        for :meth:`chat`; the record's messages are the inputs.
        """
        from .embedding_call import embed

        return await embed(self, model, inputs, dict(params))

    async def rerank(
        self, model: str, query: str, documents: Sequence[str], **params: Any
    ) -> RerankResponse:
        """Rank ``documents`` (a list of texts) by their relevance to ``query`` with ``model``.

        The response's ``results`` are the best first, each with its index in
        ``documents``, its score and its text. Parameters: ``top_n`` (how many
        results; all without), ``max_tokens_per_doc`` (longer documents are cut,
        where the vendor takes it), ``timeout``, ``metadata`` and ``extra``
        (merged into the provider's request body). Retries, breakers, routes
        (without hedging), rate limits, budgets, cost (per search, or per token),
        traces, metrics and the call log work as for :meth:`chat`; the record's
        messages are the query and the documents.
        """
        from .rerank_call import rerank

        return await rerank(self, model, query, documents, dict(params))

    async def transcribe(
        self, model: str, audio: bytes | str | os.PathLike[str] | AudioFile, **params: Any
    ) -> TranscriptionResponse:
        """Transcribe ``audio`` with ``model``: the text said in it.

        ``audio`` is bytes, a path to a file (read without blocking the event
        loop), or a :class:`relaykit.AudioFile`; its format (flac, m4a, mp3,
        mp4, ogg, wav, webm) is read from its bytes, else its name. Parameters:
        ``language`` (the audio's, ``"en"``: faster and more accurate),
        ``prompt`` (a text to guide spelling and style), ``timeout``,
        ``metadata`` and ``extra`` (merged into the form sent: ``temperature``,
        say). Retries, breakers, routes (without hedging), rate limits,
        budgets, cost (per minute of audio, or per token), traces, metrics and
        the call log work as for :meth:`chat`; the record keeps the audio's
        size, format and length, never its bytes, and the transcript as its
        answer (redacted as content is).
        """
        from .transcription_call import transcribe

        return await transcribe(self, model, audio, dict(params))

    async def generate_image(self, model: str, prompt: str, **params: Any) -> ImageResponse:
        """Generate images of ``prompt`` with ``model``: the response's ``images``.

        Parameters: ``n`` (how many images; 1 by default), ``size``
        (``"1024x1024"``, or ``"auto"``), ``quality`` (the vendor's word:
        ``low``, ``medium``, ``high``, ``auto``; ``standard`` or ``hd`` for
        DALL-E 3), ``output_format`` (``png``, ``jpeg``, ``webp``), ``timeout``,
        ``metadata`` and ``extra`` (merged into the provider's request body:
        OpenAI's ``background``, ``moderation``, ``style``). Each image is a
        :class:`relaykit.GeneratedImage`: its bytes (``data``, ``save(path)``,
        ``base64()``), or the URL a vendor asked for one serves it at. Retries,
        breakers, routes (without hedging), rate limits, budgets (holding ``n``
        images at the price per image, or the output tokens of a model billed
        by the token), cost, traces, metrics and the call log work as for
        :meth:`chat`; the record keeps the prompt (redacted as content is) and
        the images' count, sizes and formats, never their bytes.
        """
        from .image_generation_call import generate_image

        return await generate_image(self, model, prompt, dict(params))

    async def edit_image(
        self,
        model: str,
        prompt: str,
        image: EditableImage | Sequence[EditableImage] | None = None,
        mask: EditableImage | None = None,
        **params: Any,
    ) -> ImageResponse:
        """Edit ``image`` with ``model`` as ``prompt`` says: the response's ``images``.

        ``image`` is one image or a list of them (models that combine several:
        OpenAI's GPT image models, up to 16; Gemini's image models), each bytes,
        a path (read without blocking the event loop), a
        :class:`relaykit.ImageFile`, an :class:`relaykit.ImagePart` with bytes,
        or a :class:`relaykit.GeneratedImage` (so a drawn image edits at once);
        its format is read from its bytes (PNG, JPEG, WebP). ``mask``, one image
        of the first image's size, marks where to edit it (OpenAI: a PNG whose
        transparent pixels mark it; Bedrock: black where to paint, white to
        keep); a provider that takes none refuses it before sending. The other
        parameters are :meth:`generate_image`'s (``n``, ``size``, ``quality``,
        ``output_format``, ``timeout``, ``metadata``, ``extra``: OpenAI's
        ``background``, ``input_fidelity``). Routes, limits, budgets, retries,
        cost, traces (``edit_image {model}``), metrics and the call log work as
        for :meth:`generate_image`; the record keeps the prompt and the input
        images' count, sizes and bytes counted, never the images. A provider
        without an image editing API is refused with an
        :class:`relaykit.InvalidRequestError` before anything is sent.
        """
        from .image_generation_call import edit_image

        return await edit_image(self, model, prompt, image, mask, dict(params))

    async def speak(self, model: str, text: str, **params: Any) -> SpeechResponse:
        """Speak ``text`` with ``model``: the response's ``audio``, whole, as bytes.

        Parameters: ``voice`` (required, the vendor's name for it: OpenAI's
        ``alloy``, ``coral``...), ``format`` (``mp3`` by default, ``opus``,
        ``aac``, ``flac``, ``wav``, ``pcm``), ``speed`` (0.25 to 4.0),
        ``instructions`` (how to say it, for models that take them: OpenAI's
        gpt-4o-mini-tts), ``timeout``, ``metadata`` and ``extra`` (merged into
        the provider's request body). Retries, breakers, routes (without
        hedging), rate limits, budgets (holding the text's characters at the
        price per character), cost, traces, metrics and the call log work as
        for :meth:`chat`; the record keeps the text (redacted as content is)
        and the audio's format and size, never its bytes. To play the audio as it
        is generated, use :meth:`stream_speech`.
        """
        from .speech_call import speak

        return await speak(self, model, text, dict(params))

    async def moderate(
        self, model: str, input: str | Sequence[str], **params: Any
    ) -> ModerationResponse:
        """Classify ``input`` (a text or a list of texts) with ``model``: is each harmful,
        and how.

        The response's ``results`` hold one :class:`relaykit.ModerationResult` per
        text, in order: ``flagged``, each category's verdict (``categories``) and
        score (``scores``) under the vendor's own category names (OpenAI's
        ``harassment/threatening``, Mistral's ``hate_and_discrimination``), and
        ``flagged_categories``; ``response.flagged`` says whether any text was.
        Parameters: ``timeout``, ``metadata`` and ``extra`` (merged into the
        provider's request body). Retries, breakers, routes (without hedging),
        rate limits, budgets, cost, traces, metrics and the call log work as for
        :meth:`chat`; the record's messages are the texts, and it keeps what was
        flagged. Text only: images are refused before sending.
        """
        from .moderation_call import moderate

        return await moderate(self, model, input, dict(params))

    async def submit_batch(
        self, model: str, items: Iterable[BatchItem | Mapping[str, Any]], **params: Any
    ) -> Batch:
        """Submit ``items`` (each a :class:`relaykit.BatchItem`: a ``custom_id``, the
        messages and parameters a chat takes) to ``model`` as one batch: answered
        within 24 hours, at the vendor's batch price (half, at OpenAI, Anthropic and
        Gemini). Returns the :class:`relaykit.Batch`, whose ``id``
        (``"openai/batch_abc"``) finds it again, from any process.

        ``params`` are every item's defaults (an item's own win); ``timeout``
        bounds the submission. Each item is validated as :meth:`chat` validates a
        call (the same typed errors, naming the item), the custom ids unique; the
        provider refuses unsent what its vendor would (an id it does not take,
        too many items, too many bytes). ``model`` is one deployment, or an alias
        of one: a route that falls back or balances is refused, since a batch
        cannot fall back. Not rate limited or held against a budget (the vendors
        count batches apart; the spend is recorded when the results are read). A
        failure that certainly did nothing (no connection made, a 429, a 503) is
        retried as ``[retry]`` says, Retry-After honoured; one after which the batch
        may exist (a timeout, a lost answer, a 500) is not: its error says so, and to
        look for the batch in :meth:`batches` first. A provider without a batch API
        is refused unsent.
        """
        from .batch_calls import submit_batch

        return await submit_batch(self, model, items, dict(params))

    async def batch(self, batch_id: str) -> Batch:
        """The batch ``batch_id`` (a :attr:`relaykit.Batch.id`) as its vendor describes
        it now: its status, counts and times. Poll it until ``batch.done``."""
        from .batch_calls import get_batch

        return await get_batch(self, batch_id)

    async def cancel_batch(self, batch_id: str) -> Batch:
        """Ask the vendor to cancel the batch ``batch_id``; the batch as it then stands
        (``cancelling``, until the vendor says ``cancelled``). Items answered before
        the cancel keep their answers (and are billed)."""
        from .batch_calls import cancel_batch

        return await cancel_batch(self, batch_id)

    async def batches(self, provider: str, *, limit: int = 20) -> list[Batch]:
        """The ``limit`` most recent batches of ``provider`` (``"openai"``, or a model
        such as ``"openai/gpt-4o-mini"`` or an alias of one deployment, for its
        provider), newest first, as its vendor describes them now: every batch of the
        account (or project, workspace), whoever submitted it, not only relaykit's.

        The vendor's pages (OpenAI's ``limit``/``after``, Anthropic's
        ``limit``/``after_id``, Gemini's ``pageSize``/``pageToken``) are read until
        ``limit`` batches came or none are left. Each :attr:`relaykit.Batch.id` is
        one :meth:`batch` and :meth:`batch_results` take; OpenAI's batches say their
        model, Anthropic's do not (``model`` is ``None``). A provider whose plugin
        cannot list batches is refused with an :class:`relaykit.InvalidRequestError`.
        Bounded by ``[timeouts] total``; not retried, as :meth:`batch` is not.
        """
        from .batch_calls import list_batches

        return await list_batches(self, provider, limit)

    def batch_results(self, batch_id: str) -> AsyncGenerator[BatchResult, None]:
        """The results of the batch ``batch_id`` once it is done: ``async for result in
        client.batch_results(id)``, one :class:`relaykit.BatchResult` per item, read
        line by line as the vendor serves them (in no set order: match them by
        ``custom_id``). Each answer is priced at the batch rate
        (:attr:`relaykit.ModelPrice.batch_share`) and recorded as a call of operation
        ``"batch"`` (reading twice records each item once); each failed item
        carries its typed error. A batch not done yet is refused with an
        :class:`relaykit.InvalidRequestError` naming its status. Closing the
        client ends a loop still reading with :class:`ClientClosedError` (the
        results read so far are recorded): read them again with an open client.
        """
        from .batch_calls import batch_results

        return batch_results(self, batch_id)

    def stream_speech(self, model: str, text: str, **params: Any) -> SpeechStream:
        """Stream the speech of ``text``: ``async with client.stream_speech(...) as audio:
        async for chunk in audio`` (bytes, as the vendor sends them).

        Takes :meth:`speak`'s parameters. Retries and fallbacks happen only before
        the first chunk reaches you; a failure after it is a
        :class:`~relaykit.StreamError`. ``audio.response`` is then the
        :class:`~relaykit.SpeechResponse`, priced and recorded as ``speak``'s,
        without the audio (``streamed_bytes`` says how much came): keep the chunks
        you need. A provider that only speaks whole (``speak`` without
        ``stream_speech``) hands its audio over as one chunk; one without either is
        refused unsent.
        """
        from .speech_call import _start
        from .speech_stream import SpeechStream

        return SpeechStream(self, _start(self, model, text, dict(params), streamed=True))

    def stream_transcription(
        self, model: str, audio: bytes | str | os.PathLike[str] | AudioFile, **params: Any
    ) -> TranscriptionStream:
        """Stream the transcript of ``audio``: ``async with client.stream_transcription(...)
        as t: async for delta in t`` (text, as the vendor hears it).

        Takes :meth:`transcribe`'s arguments; the audio is read when the block is
        entered. Retries and fallbacks happen only before the first text reaches
        you; a failure after it is a :class:`~relaykit.StreamError`.
        ``t.response`` is then the :class:`~relaykit.TranscriptionResponse`, priced
        and recorded as ``transcribe``'s. A model that cannot stream (OpenAI's
        whisper-1) answers with the whole transcript as one delta, as does a provider
        that only transcribes whole (``transcribe`` without ``stream_transcription``);
        one without either is refused unsent.
        """
        from .transcription_stream import TranscriptionStream

        if self._closed and self._refuses_calls():
            raise ClientClosedError("this client is closed")
        return TranscriptionStream(self, model, audio, dict(params))

    @property
    def _embedding_cache(self) -> EmbeddingCache:
        if self._vectors is None:
            from .embedding_cache import EmbeddingCache

            self._vectors = EmbeddingCache(self._cache_storage)
        return self._vectors

    async def models(
        self, provider: str | None = None, *, refresh: bool = False
    ) -> list[ModelInfo]:
        """Models of ``provider`` (or of every usable provider), cached for ``[registry] ttl``."""
        if self._cold:
            await self._warm_up()
        # In flight, as a call is: aclose waits for a listing that waits on a provider,
        # then cancels it (it would go on over connections closed under it). After
        # the close nothing cancels the scope: a cached listing is still served.
        self._in_flight += 1
        scope = anyio.CancelScope()
        self._running.add(scope)
        try:
            with scope:
                return await self._catalog.models(provider, refresh=refresh)
        finally:
            self._running.discard(scope)
            self._call_ended()
        raise closed_under_call()  # (only aclose cancels the scope)

    def mask_secret(self, value: Secret | str) -> None:
        """Mask ``value`` as ``[REDACTED]`` wherever it appears from now on: in call
        records, logs, traces and error messages, as the providers' own keys are.

        For credentials relaykit cannot know of, such as the keys callers present to
        an app built on it; values under 8 characters are ignored.
        """
        self._known.add(value)

    def masked(self, text: str) -> str:
        """``text`` with every secret this client knows as ``[REDACTED]``: the
        providers' keys and credentials of any shape, and those given to
        :meth:`mask_secret`. For an app's own log lines (an exception's message)
        that the client's errors, records and logs do not already pass through;
        add :func:`relaykit.secrets.scrub` for keys of known formats it does not hold.
        """
        return self._known.redact(text)

    def provider(self, name: str) -> Provider:
        """The built provider called ``name`` (built on first use)."""
        return self._registry.get(name)

    @property
    def cache_store(self) -> GuardedCacheStore | None:
        """The store behind the response cache (``[cache] backend``), for an app that
        keeps entries of its own where the client keeps cached answers, on the same
        connection (relaykit-gateway keeps Responses API conversations there).

        Its failures are misses and skipped writes, never raised, as they are for the
        client's own entries; ``None`` when the cache lives in memory alone. Keys are
        hex SHA-256s: hash a namespace of your own into yours.
        """
        return self._cache_storage

    @property
    def exporters(self) -> tuple[Exporter, ...]:
        """The exporters plugins contributed (e.g. to mount a Prometheus app)."""
        return tuple(self._exporters)

    @property
    def cache_errors(self) -> int:
        """Lookups and writes of the response cache's store that failed or were skipped.

        Each was a miss or an unsaved answer, never a failed call (see
        :mod:`relaykit.cache_store`); 0 when the cache lives in memory alone.
        """
        return self._cache_storage.errors if self._cache_storage is not None else 0

    @property
    def queue_depth(self) -> int:
        """Call records waiting to be written to storage."""
        return self._call_log.depth if self._call_log else 0

    # -- pipeline steps (shared with ChatStream) -----------------------------

    def _start(
        self, model: str, messages: Messages, params: Mapping[str, Any], *, streamed: bool
    ) -> _Call:
        if self._closed and self._refuses_calls():
            raise ClientClosedError("this client is closed")
        use_cache = None
        if "cache" in params:  # relaykit's own: not a request parameter
            params = dict(params)
            use_cache = cache_choice(params)
        targets = self._router.plan(model, streamed)
        request = build_request(targets[0].model, coerce_messages(messages), params)
        size = check_size(request, self.config.validation.max_chars)
        if use_cache is None:
            settings = self.config.cache
            cache_on = settings.enabled and (
                not settings.deterministic_only or is_deterministic(request)
            )
        else:
            # The call's own choice: cache=True asks for this answer to be kept and
            # replayed, sampled or not (deterministic_only picks the default only).
            cache_on = use_cache
        outbound = None
        if self._outbound is not None:
            outbound = self._outbound.for_call()
            request = outbound.request(request)
        cache_key = None
        if cache_on:
            # The request as the provider sees it, after outbound redaction: the
            # cache keeps the answer as the provider wrote it, placeholders and all
            # (a hit is restored with this call's values, as an answer is), so no
            # personal data rests in a shared store, as none rests in the records.
            # A prompt with placeholders is then its own entry in each process (each
            # keys them with a key of its own); one without any is shared as before.
            # Keyed by the name asked for (and a route's deployments), not the planned
            # deployment's model (the request's): a balanced route plans another
            # one first on the next call.
            keyed = self._route_keys.get(model, model)
            try:
                cache_key = lookup_key(canonical_request(model, request, keyed))
            except (TypeError, ValueError, RecursionError):
                # What JSON cannot hold (a set in extra, a loop) has no key: the call
                # goes on uncached, and the request body's encoder refuses it as bad
                # input, typed and recorded, as it does without the cache.
                cache_key = None
        now = time.monotonic()
        total = request.timeout if request.timeout is not None else self.config.timeouts.total
        call = _Call(
            # 32 random hex digits, as uuid4().hex but without building a UUID object
            id=os.urandom(16).hex(),
            model_requested=model,
            request=request,
            targets=targets,
            started=now,
            started_wall=time.time(),
            deadline=now + total,
            streamed=streamed,
            size=size,
            output_hold=request.max_tokens or OUTPUT_ESTIMATE,
        )
        limits = self._limits
        if limits is not None and limits.scoped and request.metadata:
            call.scoped = limits.scoped_limits(request.metadata)
        call.cache_key = cache_key
        call.outbound = outbound
        if self._tracer is not None:
            call.span = self._tracer.start(call)
        return call

    @staticmethod
    def _request_for(call: _Call, target: Target) -> ChatRequest:
        if target.model == call.request.model:
            return call.request
        return attrs.evolve(call.request, model=target.model)

    async def _attempt(
        self,
        provider: Provider,
        request: ChatRequest,
        target: Target,
        call: _Call,
        hedge: _Race | None = None,
    ) -> ChatResponse:
        reservation = None  # the usual one, taken inline
        reservations = None  # any other
        limits = self._limits
        if limits is not None:
            if call.operation != "chat" and (
                call.searches or call.minutes or call.images or call.characters
            ):
                # A rerank billed per search, audio per minute, images per image,
                # speech per character: a budget holds those too.
                call.unit_hold = unit_hold(call, self._price(target))
            one = limits.one_limit.get(target)
            if one is None and target not in limits.matches:
                # A deployment's first call: match it here, so that it too takes
                # the inline path below if one limit matches (as every later one will).
                limits.limits_for(target)
                one = limits.one_limit.get(target)
            if one is not None and not call.scoped:
                # One limit and a limiter that decides at once: the usual case, taken
                # here rather than in reserve_now (a frame and a list less).
                reservation = limits.take_one(one, call)
            else:
                reservations = limits.reserve_now(target, call)
                if reservations is None:
                    reservations = await self._reserve(limits, target, call)
        response: ChatResponse | None = None
        #: whether the request may have reached the provider: if not, the limits
        #: get all of it back, the request included (see transport_errors.never_sent)
        sent = False
        scope = None
        try:
            if call.span is not None:
                self._tracer.attempt(call, target)  # type: ignore[union-attr]
            # The attempt's own deadline, when [timeouts] attempt is on, is the total
            # timeout's scope's, moved in: no scope of its own.
            deadline = call.deadline
            per_attempt = self._attempt_timeout
            if per_attempt is not None:
                deadline = min(deadline, time.monotonic() + per_attempt)
            scopes = self._scopes
            with (
                scopes.until(deadline)
                if scopes is not None
                else anyio.move_on_after(deadline - time.monotonic())
            ) as scope:
                if self._shut:  # shut down while it waited (a limiter, a retry's backoff)
                    raise closed_under_call()
                if call.deadline <= time.monotonic():
                    # The deadline passed while it waited on a limiter (over the
                    # network, under load): nothing went out, so its limits get all
                    # of it back (sent stays False), rather than a prompt never sent.
                    raise _total_timeout(call, target)
                # The timeout scope doubles as the one aclose cancels (no scope of
                # its own: the call path is hot).
                self._running.add(scope)
                if hedge is not None:
                    # A hedged call's first attempt: a backup that wins cancels this
                    # scope. It may have won already, while a limiter that decides
                    # over the network made this attempt wait: then no call to make.
                    if hedge.winner is not None:
                        raise HedgeLost
                    hedge.primary = scope
                if limits is not None and call.issued is None:
                    call.issued = time.monotonic()  # the limiter's wait is behind it
                sent = True
                try:
                    kind = call.kind
                    if kind is None:
                        if request.web_search is not None and not getattr(
                            provider, "searches_web", False
                        ):
                            raise refuse_unsearched(target)
                        response = await provider.chat(request)
                        if not isinstance(response, ChatResponse):
                            raise wrong_answer(target.provider, "chat", response)
                        usage = response.usage
                        if usage is NO_USAGE or (
                            usage.web_searches and tokens_unreported(usage)
                        ):  # the vendor reported no tokens (a search's fees, at most)
                            response = self._unreported(call, response)
                        if response.finish_reason == "content_filter":
                            refused = filtered_answer(self, call, target)
                            if refused is not None:
                                # Billed: a record of its own carries it, as a timed-out
                                # attempt's does, and the hold settles with it (finally).
                                with anyio.CancelScope(shield=True):
                                    response = await self._outcomes.record_reported_attempt(
                                        call,
                                        target,
                                        response,
                                        type(refused).__name__,
                                        str(refused),
                                        refused.status,
                                    )
                                raise refused
                    else:
                        response = await kind.send(provider, request, target)
                except PartFieldError as e:  # a part the plugin built from the answer
                    raise malformed_response(e, target) from e
                except RelayError as e:
                    sent = not never_sent(e)
                    raise
                except Exception as e:
                    mapped = map_transport_error(e, target)
                    if mapped is None:
                        raise
                    sent = not never_sent(e)
                    raise mapped from e
            if response is None or scope.cancelled_caught:
                if hedge is not None and hedge.winner is not None:
                    raise HedgeLost  # the backup won and cancelled this attempt: no timeout
                timed_out = deadline < call.deadline and not self._shut  # the attempt's
                if response is None and sent and call.kind is None:
                    if timed_out:  # tried again: a record of its own, as a stream's
                        with anyio.CancelScope(shield=True):
                            response = await self._outcomes.record_timed_out_attempt(
                                call, target, "attempt"
                            )
                    else:  # the call ends here: its record carries it (call.cut)
                        response = self._cut_off(call, target)  # settled below as billed
                if self._shut:  # aclose cancelled it (see _shut_down)
                    raise closed_under_call()
                if timed_out:
                    assert per_attempt is not None
                    raise _attempt_timeout(per_attempt, target)
                raise _total_timeout(call, target)
            return response
        except BaseException as e:
            # Cut off mid-call by this side (the caller cancelled, or a hedge won):
            # the provider had the prompt and bills it, so the hold settles with the
            # prompt's estimate, not with nothing. (Free for calls that end well.)
            if response is None and sent and call.kind is None and not isinstance(e, Exception):
                response = self._cut_off(call, target)
            elif response is None and call.kind is not None and call.kind.partly_billed:
                # A call split into several requests, some answered (and billed)
                # before one failed or the caller cancelled: the hold settles with
                # what they billed (its record carries it). Nothing answered: its
                # hold goes back, as every cancelled call's that is not a chat.
                response = call.kind.partly_billed(self, call, target, e)
                sent = sent or response is not None
            raise
        finally:
            self._running.discard(scope)
            if reservation is not None:
                assert limits is not None  # it reserved
                if not sent:
                    await limits.release([reservation], call, target)
                else:  # settled as CallLimits.reconcile_now does
                    used = 0
                    if response is not None:
                        usage = response.usage
                        used = usage.input_tokens + usage.output_tokens
                    if reservation.cost is None:
                        limits.reconcile_nowait(reservation, used)
                    else:
                        cost = limits.cost_of(call, response, target)
                        limits.reconcile_nowait(reservation, used, cost=cost)
            elif reservations:
                assert limits is not None  # it reserved
                if not sent:
                    await limits.release(reservations, call, target)
                elif not limits.reconcile_now(reservations, call, response, target):
                    # Shielded: a limiter that waits (over the network, say) would
                    # otherwise never hear back from a cancelled call, and keep its hold.
                    with anyio.CancelScope(shield=True):
                        await limits.reconcile(reservations, call, response, target)

    async def _reserve(self, limits: CallLimits, target: Target, call: _Call) -> list[Reservation]:
        """``call``'s reservations on ``target`` from a limiter that decides over the
        network (:meth:`CallLimits.reserve`).

        Its answer is shielded (a hold taken must be settled), so aclose does not
        cut the wait short; once the wait is over it closes the limiter's
        connection. A refusal then is the close's doing: :class:`ClientClosedError`,
        not the limiter's "check that Redis is running".
        """
        try:
            return await limits.reserve(target, call)
        except RelayError as error:
            if self._shut:
                raise closed_under_call() from error
            raise

    def _cut_off(self, call: _Call, target: Target) -> ChatResponse:
        """What an attempt on ``target`` cut off mid-call is settled with: its prompt's
        estimated tokens and no output (:func:`cut_off_usage`).

        Vendors bill the prompt of a request they received, however it ended (a
        cancelled hedge, a caller that gave up, the total timeout), so the
        budget keeps that much. It is added to ``call.cut`` for the record of a
        call that then fails or is cancelled; a hedge's loser is recorded with
        the same estimate (:meth:`CallOutcomes.record_hedge_loser`).
        """
        usage = cut_off_usage(call)
        price = self._price(target)
        cost = price.cost(usage) if price is not None else None
        cut = call.cut
        if cut is None:
            call.cut = (usage, cost, (target,))
        else:
            before = cut[1]
            call.cut = (
                cut[0] + usage,
                cost if before is None else before + (cost or _ZERO),
                (*cut[2], target),
            )
        return ChatResponse(usage=usage)

    def _unreported(self, call: _Call, response: ChatResponse) -> ChatResponse:
        """``response``, whose vendor reported no usage at all
        (:data:`~relaykit.response.NO_USAGE`), with what it was most likely billed:
        the prompt as limits estimate it, and a token per four characters of the
        answer, marked ``usage_estimated``, as a stream that ends without usage is
        (:func:`relaykit.billed_usage.so_far`). The vendor billed the prompt and
        the answer all the same: its budget, token rates and record must not
        count the call as free.

        The mark is the answer's own, never the call's: a hedge's loser answering
        late without usage must not mark the winner's answer estimated."""
        return so_far(response, prompt_tokens(call), finished=True)

    def _price(self, target: Target, model: str = "") -> Any:
        """The price of ``target`` (as ``model`` if the provider named one): config first."""
        return self._prices.price(
            target.provider, self._registry.get(target.provider), model, target.model
        )

    async def _context_window(self, target: Target) -> int | None:
        """``target``'s context window from the provider's (cached) listing, if it says.

        When the listing fails (a provider with no listing endpoint, one down), the
        plugin's own table says it, if the plugin has one (an optional
        ``context_window(model)``): the failure alone made a window it knows
        unknown, and the route's larger target was never asked. The failure is
        logged as a listing of every provider logs it (the caller asked for none),
        the first time for each provider; later ones at DEBUG.
        """
        try:
            models = await self._catalog.models(target.provider)
        except RelayError as e:
            known = getattr(self._registry.get(target.provider), "context_window", None)
            window = known(target.model) if known is not None else None
            if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
                window = None
            unreachable = isinstance(e, ProviderUnavailableError) and e.status is None
            told = target.provider in self._window_listings_told
            self._window_listings_told.add(target.provider)
            log.log(
                logging.DEBUG if told else logging.INFO if unreachable else logging.WARNING,
                "listing models of %s failed (%s); the context window of %s is %s",
                target.provider,
                e,
                target,
                "unknown" if window is None else f"{window} (its plugin's own table)",
            )
            return window
        return next((m.context_window for m in models if m.id == target.model), None)

    def _breaker_of(self, target: Target) -> CircuitBreaker:
        """The breaker of ``target``'s deployment (its provider is built already)."""
        breaker = self._target_breakers.get(target)
        if breaker is None:
            if len(self._target_breakers) >= self._breakers_cap:
                self._forget_breakers()
            base_url = self._registry.base_urls.get(target.provider, "")
            breaker = self._target_breakers[target] = self._breakers.get(f"{target}@{base_url}")
        return breaker

    def _forget_breakers(self) -> None:
        """Drop the breakers that are closed with no failure counted and whose target
        has no call in flight (a guard of a breaker dropped mid-call would count its
        failure where no call looks), with the states told of them: a new one for the
        same deployment decides the same. Without this, each model id a caller made up
        would keep its breaker for the life of the client."""
        router = self._router
        kept = {t: b for t, b in self._target_breakers.items() if not b.idle or router.busy(t)}
        self._target_breakers = kept
        names = {b.name for b in kept.values()}
        self._breakers.keep(names)
        self._breaker_states = {n: s for n, s in self._breaker_states.items() if n in names}
        # Next time, past twice what is left: forgetting stays a small share of the work.
        self._breakers_cap = max(FORGET_FROM, 2 * len(kept))

    def _note_breaker(self, breaker: CircuitBreaker) -> None:
        """Tell exporters when a deployment's circuit changes state."""
        state = breaker.state
        if self._breaker_states.get(breaker.name) == state:
            return
        self._breaker_states[breaker.name] = state
        if self._exporters:
            target = Target.parse(breaker.name.split("@", 1)[0])
            event = BreakerState(
                target.provider, target.model, "half_open" if state == "half-open" else state
            )
            for exporter in self._exporters:
                exporter.record(event)

    def _note_cache_error(self, operation: Literal["get", "put"]) -> None:
        """Tell exporters a lookup or write of the cache's store failed (or was skipped)."""
        if self._exporters:
            event = _CACHE_STORE_ERRORS[operation]
            for exporter in self._exporters:
                exporter.record(event)

    def _note_storage_event(self, event: StorageEvent) -> None:
        """Tell exporters the call log's storage failed, recovered, or a batch spilled or
        was lost (sent only then, and the state once at start: a healthy write sends
        nothing)."""
        for exporter in self._exporters:
            exporter.record(event)


def _total_timeout(call: _Call, target: Target) -> RequestTimeoutError:
    """The error of an attempt on ``target`` that ``call``'s total timeout ended."""
    return RequestTimeoutError(
        f"no response within the total timeout of {call.deadline - call.started:g}s",
        which="total",
        provider=target.provider,
        model=target.model,
        retryable=False,
        hint="raise [timeouts] total or pass timeout=...",
    )


def _attempt_timeout(seconds: float, target: Target) -> RequestTimeoutError:
    """The error of an attempt on ``target`` that ``[timeouts] attempt`` ended: retried,
    and fallen back from, as a connect timeout is."""
    return RequestTimeoutError(
        f"no response within the attempt timeout of {seconds:g}s",
        which="attempt",
        provider=target.provider,
        model=target.model,
        retryable=True,
        hint="the deployment may be overloaded; if its answers rightly take longer"
        " (a reasoning model's), raise [timeouts] attempt, or stream the call",
    )


#: how long aclose waits, once its wait is over, for the calls still in flight to
#: record themselves (those it cancelled take milliseconds; the bound is for the
#: work it does not cancel: a tool running, a limiter's shielded answer, a worker
#: thread). A record that comes later is spilled (CallLog.put), not lost.
_WIND_DOWN = 1.0
