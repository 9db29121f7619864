"""What each vendor API the gateway speaks must provide, and what they share.

A dialect turns a request body into a :class:`GatewayCall` (the arguments of
one ``client.chat`` or ``client.stream``), a :class:`relaykit.ChatResponse`
back into its vendor's JSON, stream events into its vendor's server-sent
events, and a :class:`relaykit.RelayError` into its vendor's error body.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from relaykit import (
    AuthenticationError,
    ChatResponse,
    CircuitOpenError,
    ClientClosedError,
    ConfigError,
    ContextLengthError,
    InvalidRequestError,
    Message,
    NotFoundError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    ReasoningPart,
    RelayError,
    RequestTimeoutError,
    StreamError,
    StreamEvent,
    Tool,
    ToolChoice,
)


@attrs.frozen
class GatewayCall:
    """One call to make: ``client.chat(model, messages, **params)``, or a stream."""

    model: str
    messages: tuple[Message, ...]
    params: Mapping[str, Any] = attrs.field(factory=dict)
    stream: bool = False
    #: OpenAI's ``stream_options.include_usage``: a last chunk with the usage
    include_usage: bool = False
    #: the Responses API's: how many leading ``messages`` are the request's
    #: ``instructions`` (not carried into a continued response), the response this
    #: one continues, and whether to keep this one so that it can be continued
    instructions: int = 0
    previous_response_id: str | None = None
    store: bool = False
    #: the Responses API's: the request's settings its response object repeats
    #: (``tool_choice``, ``tools``, ``temperature``, ...), as the request gave them
    echo: Mapping[str, Any] = attrs.field(factory=dict)


class StreamEncoder(Protocol):
    """Renders one streamed answer as its vendor's server-sent events."""

    def event(self, event: StreamEvent) -> bytes:
        """The frames ``event`` becomes (``b""`` when it adds nothing yet)."""
        ...

    def end(self, response: ChatResponse) -> bytes:
        """The frames that end a stream that finished, with ``response`` assembled."""
        ...

    def error(self, error: RelayError) -> bytes:
        """The frames that end a stream that broke after it had started."""
        ...

    def keepalive(self) -> bytes:
        """The frames that keep a quiet stream's connection open, which the vendor's
        SDK skips (``b""``: none can go out yet)."""
        ...


#: a server-sent events comment, which every SSE client skips: OpenAI's formats have
#: no keep-alive event of their own
SSE_COMMENT = b": keep-alive\n\n"


class Dialect(Protocol):
    """One vendor API: its request parsing, response rendering and errors."""

    #: the provider a model name without ``provider/`` goes to, unless it is an alias
    default_provider: str
    #: the status a provider's own 529 (overloaded) is answered with: see :func:`status_of`
    overloaded_status: int

    def parse(self, body: Any, aliases: Sequence[str]) -> GatewayCall:
        """The call a request body asks for; :class:`InvalidRequestError` names what is wrong."""
        ...

    def response(
        self, response: ChatResponse, model: str, call: GatewayCall | None = None
    ) -> dict[str, Any]:
        """A finished answer as the vendor's response body; ``call`` is the call it
        answers, when known (the Responses API repeats its settings)."""
        ...

    def encoder(self, call: GatewayCall) -> StreamEncoder:
        """An encoder for one streamed answer to ``call``."""
        ...

    def error_body(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        """The vendor's error body for ``status``; ``code`` (:func:`error_code`) where
        the vendor's bodies have one."""
        ...


def model_id(model: Any, aliases: Sequence[str], default_provider: str) -> str:
    """The relaykit model id for what a caller sent: aliases and ``provider/model`` ids as
    they are, a bare name (``gpt-4o``, ``claude-sonnet-4-5``) at ``default_provider``."""
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("`model` must be a non-empty string", param="model")
    if model in aliases or "/" in model:
        return model
    return f"{default_provider}/{model}"


def require_object(body: Any) -> Mapping[str, Any]:
    """``body`` if it is a JSON object, else the error a caller can act on."""
    if not isinstance(body, Mapping):
        raise InvalidRequestError("the request body must be a JSON object", param="body")
    return body


def string_field(item: Mapping[str, Any], key: str, where: str) -> str:
    """``item[key]`` if it is a string, else the error naming ``where.key``."""
    value = item.get(key)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{where}.{key} must be a string", param=f"{where}.{key}")
    return value


#: OpenAI's tool_choice words (Chat Completions' and the Responses API's)
OPENAI_CHOICE_WORDS = ("auto", "none", "required")


def checked_tool_choice(
    choice: Any, tools: Any, *, words: Sequence[str] | None = None
) -> ToolChoice:
    """A request's ``tool_choice`` read, and refused where the dialect's API refuses
    it: a string that is none of ``words`` (relaykit's own reading of a bare string
    as a tool's name would make a typo such as ``"requried"`` a forced call to a tool
    of that name), or a tool named that ``tools`` (the request's function tools, as
    parsed) does not define."""
    if words is not None and isinstance(choice, str) and choice not in words:
        shown = ", ".join(repr(w) for w in words)
        raise InvalidRequestError(
            f"tool_choice {choice[:60]!r} is not one of {shown}: to make the model call "
            "one tool, name it in an object",
            param="tool_choice",
        )
    read = ToolChoice.coerce(choice)
    if read.mode == "tool":
        names = [_tool_name(t) for t in tools or ()]
        if read.name not in names:
            defined = ", ".join(repr(n) for n in names) or "none"
            raise InvalidRequestError(
                f"tool_choice names the tool {read.name!r}, which the request's tools do "
                f"not define (they define {defined})",
                param="tool_choice",
            )
    return read


def _tool_name(tool: Any) -> Any:
    """A parsed tool's name: a :class:`Tool`, or a dict in Chat Completions' shape
    (``function.name``) or flat (``name``)."""
    if isinstance(tool, Tool):
        return tool.name
    if isinstance(tool, Mapping):
        function = tool.get("function")
        return function.get("name") if isinstance(function, Mapping) else tool.get("name")
    return None


def stream_flag(body: Mapping[str, Any]) -> bool:
    """Whether the request asks for a stream: ``stream`` is ``true``, ``false`` or left out
    (``null``). Anything else (``"true"``, ``1``) is a 400 naming it, as at OpenAI and
    Anthropic, rather than an answer in the shape the caller did not ask for."""
    value = body.get("stream")
    if value is None or isinstance(value, bool):
        return value is True
    raise InvalidRequestError(f"`stream` must be true or false, not {value!r}", param="stream")


def openai_stream_flag(body: Mapping[str, Any]) -> bool:
    """:func:`stream_flag` for OpenAI's two APIs, which refuse ``stream_options`` on a
    request not streamed with their own 400 (in its words, naming the parameter):
    taken silently, a client's mistake would show only once it met OpenAI itself."""
    stream = stream_flag(body)
    if body.get("stream_options") is not None and not stream:
        raise InvalidRequestError(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    return stream


def unclaimed(body: Mapping[str, Any], own: frozenset[str]) -> dict[str, Any]:
    """The fields of ``body`` a dialect does not read (``own``), set: the provider's ``extra``."""
    return {k: v for k, v in body.items() if k not in own and v is not None}


def openai_extra(body: Mapping[str, Any], own: frozenset[str]) -> dict[str, Any]:
    """:func:`unclaimed` for OpenAI's two dialects, but ``parallel_tool_calls: true``:
    every vendor's default, it asks for nothing, and sent on it reached vendors that
    have no such field (Gemini refuses it). ``false`` still goes, to the APIs that
    honour it (the others refuse it in their words: not dropped without a word)."""
    extra = unclaimed(body, own)
    if extra.get("parallel_tool_calls") is True:
        del extra["parallel_tool_calls"]
    return extra


def reasoning_blocks(response: ChatResponse) -> tuple[ReasoningPart, ...]:
    """``response``'s reasoning as blocks: its parts, or its text (and signature) as one."""
    if response.reasoning_parts:
        return response.reasoning_parts
    if response.reasoning:
        return (ReasoningPart(response.reasoning, response.reasoning_signature),)
    return ()


def string_metadata(value: Any, param: str) -> dict[str, str]:
    """A caller's metadata object as relaykit's ``dict[str, str]``; other values are errors."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidRequestError(f"`{param}` must be an object of strings", param=param)
    return dict(value)


#: what a caller is told when the gateway stops: refused, or ended mid-call
SHUTTING_DOWN = "the gateway is shutting down; try again elsewhere"


class ShuttingDown(RelayError):
    """The gateway stopped before a call in flight ended: its time to finish (``relaykit
    gateway --graceful-timeout``) ran out. Answered 503, as a request the stopping
    gateway refuses is, or as its stream's error event."""

    retryable_default = True

    def __init__(self) -> None:
        super().__init__(SHUTTING_DOWN)


# The status a caller of the gateway gets for each relaykit error, most specific
# first. A provider rejecting *our* key is the gateway's fault (502), not the
# caller's: a 401 would tell them their gateway key is wrong.
_STATUSES: tuple[tuple[type[RelayError], int], ...] = (
    (InvalidRequestError, 400),
    (ConfigError, 400),
    (NotFoundError, 404),
    (RateLimitError, 429),
    (QuotaExceededError, 429),
    (AuthenticationError, 502),
    (CircuitOpenError, 503),
    (ClientClosedError, 503),
    (ShuttingDown, 503),
    (ProviderUnavailableError, 503),
    (RequestTimeoutError, 504),
)


#: the status of a provider overloaded (Anthropic's, and Claude's elsewhere)
OVERLOADED = 529
#: the status of a rate limit met
_RATE_LIMITED = 429


#: OpenAI's code (and type) for a quota or billing limit reached, a 429 as a rate limit
#: is: its clients tell the two apart by it, and do not wait this one out
INSUFFICIENT_QUOTA = "insufficient_quota"


def error_code(error: RelayError) -> str | None:
    """OpenAI's ``code`` for ``error``, where it has one of its own beside its status's:
    a prompt too long for the model is ``context_length_exceeded`` (clients tell it
    from other 400s by that code, to trim the history and ask again), and one of
    relaykit's budgets spent is :data:`INSUFFICIENT_QUOTA` (not the status's
    ``rate_limit_exceeded``: a new period or a bigger budget cures it, not a wait)."""
    if isinstance(error, ContextLengthError):
        return "context_length_exceeded"
    if spent_budget(error):
        return INSUFFICIENT_QUOTA
    return None


def upstream_quota_used_up(error: RelayError) -> bool:
    """Whether ``error`` is the provider saying the gateway's own account with it is out
    of quota or credit (OpenAI's 429 ``insufficient_quota``). Passed on as a 429 it read
    as the caller's rate limit, which their SDK waits out and retries; only the
    operator's billing cures it, so it is the gateway's failure: 502, as the provider
    refusing the gateway's key is, never retried, with no wait."""
    return isinstance(error, RateLimitError) and error.quota_used_up


def spent_budget(error: RelayError) -> bool:
    """Whether ``error`` is one of relaykit's budgets refusing a call (not a rate)."""
    return isinstance(error, QuotaExceededError) and error.budget


def status_of(error: RelayError, overloaded: int = 503) -> int:
    """The HTTP status the gateway answers ``error`` with (502 for any other failure).

    ``overloaded`` is what a provider's own 529 (overloaded, retry later) becomes: the
    dialect's ``overloaded_status``. Anthropic's SDKs raise ``OverloadedError`` for a
    529 and ``ServiceUnavailableError`` for a 503; OpenAI's take any 5xx alike. A stream
    the provider broke off overloaded (Anthropic's ``overloaded_error`` event) ends with
    the dialect's error event of that status."""
    if error.status == OVERLOADED:
        return overloaded
    if upstream_quota_used_up(error):
        return 502
    if isinstance(error, StreamError) and error.status == _RATE_LIMITED:
        # A vendor's in-stream rate limit (Anthropic's ``rate_limit_error`` event) after
        # the answer began: its error event says "wait", as the same limit before the
        # stream does, not a fault of the provider's (502), which callers retry
        # differently.
        return _RATE_LIMITED
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 502


#: what marks a hint as relaykit's own: a call or a keyword argument of its Python API
#: (``Message.tool(...)``, ``response_format=``), a section of its configuration, or
#: a command of its CLI (```relaykit models```)
_RELAYKIT_HINT = re.compile(r"\w\(|\w=|\[[a-z_]+[].]|`relaykit ")


#: what a caller is told of the gateway's own upstream account out of quota or credit
_UPSTREAM_QUOTA = (
    "the gateway's own account with this provider is out of quota or credit: the"
    " gateway's operator must fix its plan or billing; retrying does not help"
)


def caller_message(error: RelayError) -> str:
    """What a gateway caller is told of ``error``: ``str(error)``, without its hint when
    the error comes from behind the gateway (it names a provider) and the hint speaks
    relaykit's API (``Message.tool(...)``, ``response_format=``) or the operator's
    configuration (``[providers.NAME]``), which a caller on the OpenAI or Anthropic
    SDK can do nothing with. The message still names the problem, and the operator's
    log keeps the hint. Other hints ("drop temperature ...") are the caller's fix too,
    and the gateway's own refusals of a request (no provider) speak its dialect: kept."""
    if upstream_quota_used_up(error):
        clone = copy.copy(error)  # the hint ("check its plan and billing") is the operator's
        clone.hint = _UPSTREAM_QUOTA
        return str(clone)
    if error.hint and error.provider and _RELAYKIT_HINT.search(error.hint):
        clone = copy.copy(error)  # the original keeps its hint, for the log
        clone.hint = None
        return str(clone)
    return str(error)


def retry_after(error: RelayError) -> str | None:
    """A ``Retry-After`` header value (whole seconds, rounded up) when ``error`` has a wait."""
    wait = getattr(error, "retry_after", None)
    if upstream_quota_used_up(error):
        return None  # no wait cures the operator's billing
    if not isinstance(wait, int | float) or wait < 0 or not math.isfinite(wait):
        return None
    return str(math.ceil(wait))
