"""The Ollama provider: native ``/api/chat`` (NDJSON streaming), ``/api/embed``, ``/api/tags``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from relaykit import (
    ChatRequest,
    ChatResponse,
    ConfigError,
    EmbeddingRequest,
    EmbeddingResponse,
    InvalidRequestError,
    ModelInfo,
    ModelPrice,
    ProviderSettings,
    ProviderUnavailableError,
    Usage,
    json_decode,
    json_encode,
)
from relaykit.errors import RelayError
from relaykit.events import StreamEvent
from relaykit.http import api_url, base_url_credentials
from relaykit.http_errors import (
    error_from_http,
    error_in_answer,
    refuse_document_stream,
)
from relaykit.request import estimate_prompt_tokens
from relaykit.secrets import scrub

from . import embeddings, thinking, wire
from .host import base_url_from_host
from .stream_decoder import OllamaStreamDecoder

if TYPE_CHECKING:
    from relaykit.http import HttpClient


#: What a local model costs per token. Zero rather than unknown, so ``cost`` says
#: "free" (``Decimal(0)``) instead of "no idea" (``None``); the electricity is on you.
LOCAL_PRICE = ModelPrice(Decimal(0), Decimal(0), Decimal(0))

#: How Ollama's answers to a caller's mistake begin when it gives them with 500, as
#: it does for what it reads only where it loads or runs the model: an option of
#: the wrong type (api.Options.FromMap, answered by handleScheduleError's default)
#: and a ``format`` that is neither "json" nor a schema (llm/server.go).
#: what Ollama Cloud's 429 says when an account's hourly, session or weekly window is spent
_USAGE_LIMIT = "usage limit"
_REFUSED_WITH_500 = ("option ", "invalid format: ", "invalid JSON schema in format")


def http_error(
    status: int, headers: Mapping[str, str], body: bytes, *, provider: str, model: str | None
) -> RelayError:
    """The typed error for an Ollama error response: :func:`error_from_http`'s,
    except that a 500 refusing the caller's option or ``format`` is an
    :class:`~relaykit.InvalidRequestError`, not a retryable outage (the same
    request would be refused again)."""
    error = error_from_http(status, headers, body, provider=provider, model=model)
    if status == 429 and _USAGE_LIMIT in error.message:
        # Ollama Cloud's account window ("hourly", "session", "weekly usage limit"):
        # it sends no Retry-After and resets in hours or days, so backing off seconds
        # and retrying only fails again; a fallback may serve the call.
        error.should_retry = False
        error.hint = (
            "the Ollama Cloud account's usage limit is reached: wait for its window to"
            " reset (ollama.com/settings shows when), upgrade the plan, or route the"
            " call elsewhere (fallbacks, a local model)"
        )
        return error
    if status == 500 and error.message.startswith(_REFUSED_WITH_500):
        return InvalidRequestError(
            error.message,
            provider=provider,
            model=model,
            status=status,
            provider_message=error.provider_message,
            hint="fix the option or format in `extra` (Ollama reads options as "
            'api.Options types, and format as "json" or a JSON schema object)',
        )
    return error


class OllamaProvider:
    """Speaks Ollama's native API at ``base_url`` (``OLLAMA_HOST``; ``host:port`` is fine).

    No key is needed; one given (``OLLAMA_API_KEY`` or ``api_key``) is sent as a
    bearer token, for Ollama behind an authenticating proxy or on ollama.com.
    Options (``[providers.ollama]``): ``num_ctx`` (context window to load the
    model with; Ollama's default is small), ``think`` (``true``/``false`` or
    ``"low"``/``"medium"``/``"high"`` for gpt-oss models) and
    ``keep_alive`` (how long the model stays loaded, e.g. ``"10m"``).

    A call's ``reasoning=`` replaces ``think`` for that call: off is ``false``;
    a gpt-oss model gets the effort as its level (``minimal`` as ``low``,
    ``xhigh`` as ``high``; a budget as the effort it stands for); every other
    model gets ``true``, since Ollama has no amount control for them: an effort
    or a budget only turns thinking on. See :mod:`relaykit_ollama.thinking`.

    Every model is priced at zero (:data:`LOCAL_PRICE`): local inference has no
    per-token bill, so ``response.cost`` is ``Decimal(0)``. :meth:`embed`
    embeds with ``/api/embed`` (an embedding model such as ``nomic-embed-text``).
    """

    type: ClassVar[str] = "ollama"
    #: ``gen_ai.provider.name`` (OpenTelemetry GenAI conventions): none well-known, the type
    genai_provider_name: ClassVar[str] = "ollama"
    default_base_url: ClassVar[str] = "http://localhost:11434"
    api_key_env: ClassVar[str | None] = "OLLAMA_API_KEY"
    base_url_env: ClassVar[str | None] = "OLLAMA_HOST"
    requires_api_key: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ("num_ctx", "think", "keep_alive")

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        self.settings = settings
        self._http = http
        self._name = settings.name
        headers = {"content-type": "application/json", **settings.headers}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key.reveal()}"
        # user:password@ in base_url goes as basic auth (when nothing else claims it)
        self.base_url, self._headers = base_url_credentials(
            base_url_from_host(settings.base_url),
            headers,
            where=f"providers.{settings.name}.base_url",
            known_secrets=settings.known_secrets,
        )
        self._options, self._think, self._keep_alive = _parse_options(
            settings.options, settings.name
        )

    def __repr__(self) -> str:
        # the base URL may hold credentials (user:password@, ?key=)
        return scrub(f"{type(self).__name__}(name={self._name!r}, base_url={self.base_url!r})")

    def _body(self, request: ChatRequest, stream: bool) -> bytes:
        body = wire.request_body(
            request,
            stream=stream,
            options=self._options,
            think=self._think,
            keep_alive=self._keep_alive,
        )
        return json_encode.dumps(body)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One non-streamed ``/api/chat`` call."""
        url = api_url(self.base_url, "api/chat")
        r = await self._http.post(url, content=self._body(request, False), headers=self._headers)
        if r.status_code >= 400:
            raise http_error(
                r.status_code, r.headers, r.content, provider=self._name, model=request.model
            )
        data = json_decode.loads(r.content)
        # an error object sent with status 200 (a proxy's) is the error it describes
        error = error_in_answer(
            data,
            r.headers,
            r.content,
            answer=("message",),
            provider=self._name,
            model=request.model,
        )
        if error is not None:
            raise error
        # the prompt estimated only for a server that left its count out (before
        # ollama#5371), not on every call: it walks every message
        unreported = isinstance(data, dict) and wire.prompt_unreported(data)
        return wire.response(data, estimate_prompt_tokens(request) if unreported else 0)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One streamed ``/api/chat`` call: NDJSON objects until ``done: true``."""
        url = api_url(self.base_url, "api/chat")
        body = self._body(request, True)
        async with self._http.stream("POST", url, content=body, headers=self._headers) as r:
            if r.status_code >= 400:
                await r.aread()
                raise http_error(
                    r.status_code, r.headers, r.content, provider=self._name, model=request.model
                )
            await refuse_document_stream(  # a page, an error object
                r, expected="an NDJSON stream", provider=self._name, model=request.model
            )
            decoder = OllamaStreamDecoder(
                provider=self._name,
                model=request.model,
                prompt_tokens=partial(estimate_prompt_tokens, request),
            )
            # aclosing: the client's byte iterator is an async generator too; leaving it
            # unexhausted would leave its cleanup to the garbage collector. (The
            # protocol types it as a plain AsyncIterator, which has no aclose.)
            async with aclosing(r.aiter_bytes()) as chunks:  # type: ignore[type-var]
                async for raw in chunks:
                    for event in decoder.feed(raw):
                        yield event
            # Raises StreamError when the connection closed before the done object.
            for event in decoder.close():
                yield event

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """One ``/api/embed`` call for every text: vectors in order, ``prompt_eval_count`` tokens.

        ``dimensions`` is sent as Ollama's ``dimensions``; ``input_type`` is not
        (see :mod:`relaykit_ollama.embeddings`); ``num_ctx`` and ``keep_alive``
        apply as for chat, and ``extra`` is merged into the body.
        """
        body = embeddings.request_body(request, options=self._options, keep_alive=self._keep_alive)
        url = api_url(self.base_url, "api/embed")
        r = await self._http.post(url, content=json_encode.dumps(body), headers=self._headers)
        if r.status_code >= 400:
            raise http_error(
                r.status_code, r.headers, r.content, provider=self._name, model=request.model
            )
        try:
            data = json_decode.loads(r.content)
            vectors = embeddings.vectors(data)
            tokens = embeddings.input_tokens(data, request.inputs)
        except json_decode.ErrorInAnswer:
            raise  # an error object in place of the answer: the error it describes
        except (ValueError, TypeError, AttributeError) as e:
            raise ProviderUnavailableError(
                "/api/embed answered with something other than embeddings",
                provider=self._name,
                model=request.model,
            ) from e
        return EmbeddingResponse(
            vectors=tuple(vectors),
            model=str(data.get("model") or request.model),
            usage=Usage(tokens),
            tokens_estimated=data.get("prompt_eval_count") is None,
        )

    async def list_models(self) -> list[ModelInfo]:
        """``GET /api/tags``: the models pulled onto this Ollama server."""
        r = await self._http.get(api_url(self.base_url, "api/tags"), headers=self._headers)
        if r.status_code >= 400:
            raise http_error(r.status_code, r.headers, r.content, provider=self._name, model=None)
        data = json_decode.loads(r.content)
        # {} is no empty listing (it would be cached as one): none pulled is "models": []
        json_decode.require_answer(data, "an /api/tags answer", "models")
        try:
            return [
                ModelInfo(id=_pulled_name(m), provider=self._name, price=LOCAL_PRICE)
                for m in data.get("models") or ()
            ]
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a model list", e, data, _TAGS_SHAPE) from e

    def price(self, model: str) -> ModelPrice | None:
        """Zero for every model: see :data:`LOCAL_PRICE`."""
        return LOCAL_PRICE


#: what ``GET /api/tags`` answers, for naming the place an answer does not fit it
_TAGS_SHAPE = {"models": [{"model": str, "name": str}]}


def _pulled_name(m: dict[str, Any]) -> str:
    """A pulled model's name (``llama3.2:latest``): its ``model``, else its ``name``."""
    name = m.get("model") or m["name"]
    if type(name) is not str:
        raise TypeError(f"a model's name is {type(name).__name__}, not text")
    return name


def _parse_options(
    opts: Mapping[str, Any], name: str
) -> tuple[dict[str, Any], bool | str | None, str | int | None]:
    model_options: dict[str, Any] = {}
    num_ctx = opts.get("num_ctx")
    if num_ctx is not None:
        if not isinstance(num_ctx, int) or isinstance(num_ctx, bool) or num_ctx < 1:
            raise ConfigError(f"providers.{name}.num_ctx must be a positive integer (tokens)")
        model_options["num_ctx"] = num_ctx
    think = opts.get("think")
    if think is not None and not isinstance(think, bool) and think not in thinking.LEVELS:
        raise ConfigError(
            f"providers.{name}.think must be true, false, or one of {', '.join(thinking.LEVELS)}"
        )
    keep_alive = opts.get("keep_alive")
    if keep_alive is not None and (
        not isinstance(keep_alive, str | int) or isinstance(keep_alive, bool)
    ):
        raise ConfigError(f"providers.{name}.keep_alive must be a duration like '10m' or seconds")
    return model_options, think, keep_alive
