"""The small protocols plugins implement, and the values that cross them.

Hooks (:mod:`relaykit.hookspecs`) hand the core objects that satisfy these
protocols. They are structural: a plugin does not subclass anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs

from .config import LimitConfig, TimeoutConfig
from .events import StreamEvent
from .messages import Message, ToolCall
from .request import ChatRequest
from .response import ChatResponse, FinishReason, ModelInfo, ModelPrice, Usage
from .secrets import Secret

if TYPE_CHECKING:
    import httpx

    from .gauge_events import GaugeEvent

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
    base_url: str
    api_key: Secret | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    options: Mapping[str, Any] = attrs.field(factory=dict)
    timeouts: TimeoutConfig = TimeoutConfig()


@runtime_checkable
class Provider(Protocol):
    """One configured LLM service. Built once per client by its :class:`ProviderFactory`.

    Raise :class:`relaykit.RelayError` subclasses for HTTP errors (see
    :func:`relaykit.errors.error_for_status`); the core maps httpx transport
    errors and timeouts itself.
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
        """The price of ``model``, or ``None`` when unknown (cost stays ``None``)."""
        ...


class ProviderFactory(Protocol):
    """What ``relaykit_providers`` returns: usually a :class:`Provider` class.

    ``type`` is the name a model id or ``[providers.NAME] type`` selects.
    ``default_base_url`` and ``api_key_env`` say where to connect and which
    environment variable holds the key; ``base_url_env`` optionally names an
    environment variable that overrides the base URL; ``options`` lists the
    extra ``[providers.NAME]`` keys the provider understands.
    """

    type: ClassVar[str]
    default_base_url: ClassVar[str]
    api_key_env: ClassVar[str | None]
    base_url_env: ClassVar[str | None]
    requires_api_key: ClassVar[bool]
    options: ClassVar[tuple[str, ...]]

    def __call__(self, settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
        """Build the provider; ``http`` is the pooled client it must use."""
        ...


# -------------------------------------------------------------------------
# what the core records about each call
# -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CallRecord:
    """One call, streamed or not, successful or failed: what storage and exporters see.

    Messages and text are already redacted when a record leaves the client.
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

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error_type is None

    @classmethod
    def from_response(cls, response: ChatResponse, **kw: Any) -> CallRecord:
        """A record of a successful call."""
        return cls(
            text=response.text,
            tool_calls=response.tool_calls,
            usage=response.usage,
            cost=response.cost,
            latency=response.latency,
            time_to_first_token=response.time_to_first_token,
            finish_reason=response.finish_reason,
            attempts=response.attempts,
            cache_hit=response.cache_hit,
            **kw,
        )


# -------------------------------------------------------------------------
# storage, telemetry, redaction, limits
# -------------------------------------------------------------------------


@runtime_checkable
class Storage(Protocol):
    """Where call records go. Writes arrive in batches, off the request path."""

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        """Persist ``records``; return only when they are durable."""
        ...

    async def query_logs(self, *, limit: int = 50) -> list[CallRecord]:
        """The most recent records, newest first."""
        ...

    async def aclose(self) -> None:
        """Flush and release resources."""
        ...


@runtime_checkable
class Exporter(Protocol):
    """Receives one :class:`CallRecord` per call, and gauge events, for metrics.

    ``record`` is synchronous and must not block (it runs on the request path);
    buffer and send from ``flush``. Events are a :class:`CallRecord` or one of
    :mod:`relaykit.gauge_events`; ignore types you do not know.
    :func:`relaykit.metrics.observe` turns any of them into metric observations.

    An exporter may also have a ``tracer_provider`` attribute (an OpenTelemetry
    SDK ``TracerProvider``): the client then traces calls with it.
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
    chunks, so they are held back until the next chunk.
    """

    def redact(self, text: str) -> str:
        """``text`` with what this redactor recognises masked."""
        ...


@attrs.frozen
class Reservation:
    """Capacity held by a limiter between ``acquire`` and ``reconcile``.

    ``cost`` is the USD held against a budget (``None`` when no budget applies).
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
    """

    async def acquire(self, key: str, limit: LimitConfig, tokens: int) -> Reservation:
        """Reserve one request and ``tokens`` tokens under ``limit``.

        Raise :class:`relaykit.QuotaExceededError` (with ``retry_after``) when the
        reservation does not fit.
        """
        ...

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        """Settle a reservation with the tokens the call really used."""
        ...
