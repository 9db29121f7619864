"""The relaykit error hierarchy.

Every error relaykit raises is a :class:`RelayError`. Each carries the provider
and model involved, the HTTP status if there was one, whether retrying could
help, the provider's own message, and a hint that says how to fix it. Messages
pass through :func:`relaykit.secrets.scrub` on the way in, so a key a provider
echoes back never reaches a log or a traceback.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .secrets import scrub

if TYPE_CHECKING:
    from .response import ChatResponse
    from .tool_runs import ToolRun

__all__ = [
    "AuthenticationError",
    "BatchItemNotRunError",
    "CircuitOpenError",
    "ClientClosedError",
    "ConfigError",
    "ContentFilterError",
    "ContextLengthError",
    "InvalidRequestError",
    "NotFoundError",
    "OutputValidationError",
    "PartFieldError",
    "ProviderUnavailableError",
    "QuotaExceededError",
    "RateLimitError",
    "RelayError",
    "RequestTimeoutError",
    "StorageUnavailableError",
    "StreamError",
    "ToolLoopError",
    "UntrustedCertificateError",
    "did_you_mean",
    "error_for_status",
]


class RelayError(Exception):
    """Base class of every relaykit error."""

    retryable_default: ClassVar[bool] = False
    hint_default: ClassVar[str | None] = None
    #: The provider's own answer to "retry this request?" (its ``x-should-retry``
    #: header), or ``None`` when it gave none. It decides only whether the same
    #: deployment is tried again; ``retryable`` still decides fallbacks and what
    #: a circuit breaker counts as a failure.
    should_retry: bool | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        provider_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = scrub(message)
        self.provider = provider
        self.model = model
        self.status = status
        self.retryable = self.retryable_default if retryable is None else retryable
        self.provider_message = scrub(provider_message) if provider_message else None
        # A hint may be made from a user's value (a DSN written where a name goes)
        self.hint = scrub(hint) if hint is not None else self.hint_default
        super().__init__(self.message)

    def __str__(self) -> str:
        where = "/".join(x for x in (self.provider, self.model) if x)
        head = f"{where}: " if where else ""
        status = f"HTTP {self.status}: " if self.status else ""
        text = f"{head}{status}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not pickle by default; worker threads and
        # processes (storage, CLI) need to move errors around.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[RelayError], state: dict[str, Any]) -> RelayError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class OutputValidationError(RelayError):
    """The model's answer is not an instance of the ``response_format`` class asked for.

    ``response`` is the answer as it came (its text, usage and cost: the call
    was made and billed, and is logged as such). Not retryable as such: asking
    again may give a valid answer, but that is the caller's decision.
    """

    def __init__(self, message: str, *, response: ChatResponse, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.response = response


class ToolLoopError(RelayError):
    """:meth:`relaykit.Client.run_tools` (or ``stream_tools``) reached ``max_steps``
    with the model still calling tools.

    ``run`` is the run so far: every step (each logged and billed), and the
    conversation, which ends with the calls not yet run. Hand ``error.run`` to
    ``run_tools`` (or ``stream_tools``) as its messages to run them and go on in
    the same conversation.
    """

    hint_default = "raise max_steps, or go on by handing error.run to run_tools"

    def __init__(self, message: str, *, run: ToolRun, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.run = run


class BatchItemNotRunError(RelayError):
    """A batch item that never ran: its batch was cancelled, or its completion
    window ran out, first (``reason``: ``"cancelled"`` or ``"expired"``). The same
    words whichever vendor ran the batch."""

    hint_default = "submit it again in a new batch"

    def __init__(self, message: str, *, reason: Literal["cancelled", "expired"], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reason = reason


class ConfigError(RelayError):
    """The configuration is invalid: unknown key, wrong type, missing plugin."""


class InvalidRequestError(RelayError):
    """The request was rejected as malformed (HTTP 400/422, or our own validation)."""

    def __init__(self, message: str, *, param: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.param = param


class PartFieldError(InvalidRequestError):
    """A message part was built with a field it cannot take: ``TextPart(5)``,
    ``ToolCall(None, "f")``, an :class:`~relaykit.ImagePart` with neither ``url``
    nor ``data``. ``param`` names the field (``content.tool_call.id``).

    Raised where the part is made. A part the caller built is the caller's
    mistake, and this error reaches them as it is (an ``except
    InvalidRequestError`` catches it). One a provider plugin built while it
    decoded an answer is the vendor's: raised from inside a provider call, the
    core turns it into the :class:`ProviderUnavailableError` of a malformed
    response (retryable, counted as sent), with this error as its cause.
    """


class ContextLengthError(InvalidRequestError):
    """The prompt plus ``max_tokens`` does not fit the model's context window."""

    hint_default = (
        "shorten the messages, lower max_tokens, or route to a model with a larger window"
    )


class ContentFilterError(InvalidRequestError):
    """The provider refused the request or response on content-policy grounds."""


class AuthenticationError(RelayError):
    """The provider rejected the credentials (HTTP 401/403)."""

    hint_default = "check the provider's API key in the environment or [providers.NAME] api_key"


class NotFoundError(RelayError):
    """The model or endpoint does not exist (HTTP 404)."""

    hint_default = "check the model id; `relaykit models` lists what the provider serves"


class RateLimitError(RelayError):
    """The provider is rate limiting us (HTTP 429); ``retry_after`` is in seconds.

    ``quota_used_up`` is true when the provider said the account's quota or credit
    is used up (OpenAI's ``insufficient_quota``), which no wait ends: the same
    deployment is not tried again, and a gateway does not pass it on as its
    caller's rate limit.
    """

    retryable_default = True
    #: whether the provider said the account is out of quota or credit, not rate limited
    quota_used_up: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderUnavailableError(RelayError):
    """The provider failed or is overloaded (HTTP 5xx, 529) or could not be reached,
    or it answered 409: a conflict with another request in flight (a lock timeout),
    which passes as the 5xx do (the OpenAI and Anthropic SDKs retry it too).

    ``retry_after`` is the wait in seconds the provider asked for, if it did
    (a 503's Retry-After); retries honour it as they do a 429's.
    """

    retryable_default = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UntrustedCertificateError(ProviderUnavailableError):
    """The provider's TLS certificate failed verification; no request was sent.

    Its issuer is not a trusted CA (a private gateway's, a TLS-inspecting
    proxy's), it names another host, or it expired: the message says which.
    Not retryable, and no fallback is tried: another attempt meets the same
    certificate, and a certificate that does not verify may be an attack.
    """

    retryable_default = False
    hint_default = (
        "if the server's CA is private, set [http] ca_file = 'path/to/ca.pem' (its PEM"
        " certificate); a wrong host name or an expired certificate is fixed on the server"
    )


class RequestTimeoutError(RelayError):
    """A timeout fired; ``which`` names the ``[timeouts]`` setting that did
    (``connect``, ``first_token``, ``idle``, ``attempt``, ``total``), or ``server``:
    the provider's own HTTP 408.

    ``connect`` also bounds waiting for a pooled connection and, on httpx's
    client, writing the request (a server that stops reading an upload);
    ``idle`` is also the HTTP client's read timeout, the one it applies (to a
    stream's request).

    ``retry_after``: the wait in seconds a 408 asked for, if it did; retries
    honour it as they do a 429's.
    """

    retryable_default = True

    def __init__(
        self, message: str, *, which: str = "total", retry_after: float | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.which = which
        self.retry_after = retry_after


class StreamError(RelayError):
    """The stream failed after it had started; ``partial`` holds what had arrived.

    ``retry_after``: the wait in seconds the vendor's in-stream error asked for, if
    it did (Gemini's ``google.rpc.RetryInfo``), for a caller that tries again; the
    core retries no stream that has started.
    """

    def __init__(
        self,
        message: str,
        *,
        partial: ChatResponse | None = None,
        retry_after: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.partial = partial
        self.retry_after = retry_after


class CircuitOpenError(RelayError):
    """The circuit breaker for this deployment is open; no request was sent.

    ``retry_after``: seconds until the circuit lets a trial call through, or
    ``None`` while a trial is in flight (its outcome decides). When every
    deployment of a route is open, the error names them all and ``retry_after``
    is the soonest of their waits.
    """

    retryable_default = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class StorageUnavailableError(RelayError):
    """The storage backend cannot be reached or is busy: a failure of the
    connection, the server or the file, not of the records written.

    Storage plugins raise it for failures that waiting can cure (a dropped or
    refused connection, a server restarting or failing over, a pool with no
    free connection, a database file locked by another process or failing
    I/O). The call log retries a batch that failed this way for ``[storage]
    retry_for`` seconds, keeping it, before it spills the batch to a file; any
    other exception from ``write_batch`` it takes for a record the storage
    cannot accept, and isolates that record.
    """

    retryable_default = True
    hint_default = "check that the storage is up and reachable; writes are retried meanwhile"


class ClientClosedError(RelayError):
    """The client (or :class:`relaykit.SyncClient`) was closed; it makes no more calls."""

    hint_default = "create a new relaykit.Client, or make the call inside its `async with` block"


class QuotaExceededError(RelayError):
    """One of our own rate limits or budgets would be exceeded.

    ``budget`` says which: true when a spending budget (``budget_usd``) refused the
    call, which only a new budget period or a bigger budget cures; false for a rate
    (``rpm``, ``tpm``). A gateway answers them apart, as OpenAI's API does
    (``insufficient_quota``, not ``rate_limit_exceeded``).
    """

    #: whether a budget refused the call (a rate limiter that does not say: a rate)
    budget: bool = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        budget: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.budget = budget


_CONTEXT_MARKERS = (
    "context length",
    "context_length",
    "context window",
    "context limit",  # Anthropic: "input length and `max_tokens` exceed context limit"
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "input is too long",
    # OpenAI's embeddings: "Invalid 'input[0]': maximum input length is 8192 tokens."
    "maximum input length",
    # Gemini, on any route: "The input token count (N) exceeds the maximum number of
    # tokens allowed (M)."
    "input token count",
    # Amazon Nova on Bedrock: "Input Tokens Exceeded: Number of input tokens exceeds
    # maximum length"
    "input tokens exceed",
    # xAI: "This model's maximum prompt length is 131072 but the request contains N
    # tokens." (in its own shape: {"code": ..., "error": "..."})
    "maximum prompt length",
)
_FILTER_MARKERS = (
    "content_filter",
    "content filter",  # DALL-E 3: "This request has been blocked by our content filters."
    "content management policy",
    "content policy",
    "safety",
    # the codes of an image refused (OpenAI's DALL-E and GPT image models', Azure's
    # contentFilter), whatever the message says
    "content_policy_violation",
    "moderation_blocked",
    "contentfilter",
)


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    model: str | None,
    retry_after: float | None = None,
    code: str | None = None,
    param: str | None = None,
) -> RelayError:
    """Map an HTTP error status (and the provider's message) to a typed error.

    ``param`` is the request field the provider blamed; invalid-request errors keep it.
    """
    kw: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "status": status,
        "provider_message": message,
    }
    lowered = f"{code or ''} {message}".lower()
    if status in (400, 413, 422):
        if any(m in lowered for m in _CONTEXT_MARKERS):
            return ContextLengthError(message, param=param, **kw)
        if any(m in lowered for m in _FILTER_MARKERS):
            return ContentFilterError(message, param=param, **kw)
        return InvalidRequestError(message, param=param, **kw)
    if status in (401, 403):
        return AuthenticationError(message, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status == 408:
        return RequestTimeoutError(message, which="server", retry_after=retry_after, **kw)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **kw)
    if status >= 500 or status == 409:
        return ProviderUnavailableError(message, retry_after=retry_after, **kw)
    return RelayError(message, **kw)


def did_you_mean(word: str, choices: Iterable[str], otherwise: str | None = None) -> str | None:
    """The hint for an unknown ``word``: the nearest of ``choices``, else ``otherwise``.

    For errors' ``hint``: ``ConfigError(..., hint=did_you_mean(key, valid, "valid keys: ..."))``.
    """
    import difflib  # only on the way to an error: not an import every process pays

    near = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {near[0]!r}?" if near else otherwise
