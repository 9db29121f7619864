"""Claude on Google Cloud's Vertex AI: the ``vertex-anthropic`` provider type.

Vertex AI serves Claude through Anthropic's own Messages API, so the body
builder, the answer's parser and the SSE decoder are
:class:`~relaykit_anthropic.AnthropicProvider`'s. What differs (Anthropic's
"Claude on Vertex AI" page and Google's "Use Claude models"; Anthropic's
``AnthropicVertex`` client does the same):

- the URL: ``POST {host}/v1/projects/{project}/locations/{location}/publishers/
  anthropic/models/{model}:rawPredict``, ``:streamRawPredict`` for a stream
  (the same SSE events), and ``.../models/count-tokens:rawPredict`` to count
  tokens; the host is the location's (``global``: ``aiplatform.googleapis.com``,
  see :mod:`relaykit_google_auth.vertex_settings`);
- the body: no ``model`` (it is in the URL) and ``"anthropic_version":
  "vertex-2023-10-16"`` in place of the ``anthropic-version`` header; the
  token-counting body keeps ``model``;
- the credentials: an OAuth2 access token in ``Authorization: Bearer`` from a
  key file, a gcloud login, the metadata server or a static token
  (relaykit-google-auth's :class:`~relaykit_google_auth.AccessTokens`), never
  an Anthropic key; a 401 refreshes it once and retries;
- model ids are Vertex's: ``claude-sonnet-4-5@20250929``, ``claude-opus-4-7``;
- the model listing is Vertex's publisher listing (``GET v1beta1/publishers/
  anthropic/models``), not Anthropic's ``/v1/models``.

Web search (``web_search=``) is Claude's own tool, as on Anthropic's API,
in its basic version only (``web_search_20250305``: Anthropic's web search
page says Vertex AI has no dynamic filtering, so ``dynamic_web_search`` is
not an option here), sent with ``anthropic-beta: web-search-2025-03-05`` as
Google's "Web search with Anthropic Claude models" page asks (a preview there;
a project behind VPC Service Controls cannot search).

Refused before sending: batches (Anthropic's Message Batches API is not on
Vertex AI, whose batch prediction jobs read from and write to Cloud Storage or
BigQuery; Anthropic's client refuses them too) and the Files API beta
(``files-api-*`` in ``anthropic_beta``: Vertex has no Files API). Other betas
are sent as ``anthropic-beta``, as Anthropic's client sends them to Vertex.
Prices: :mod:`relaykit_anthropic.vertex_prices`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from relaykit import (
    AuthenticationError,
    ChatRequest,
    ConfigError,
    InvalidRequestError,
    ModelInfo,
    ModelPrice,
    NotFoundError,
    ProviderSettings,
    RelayError,
)
from relaykit.http import api_url, transport_error
from relaykit.secrets import SecretHeaders, scrub
from relaykit_google_auth import AccessTokens, vertex_errors, vertex_settings
from relaykit_google_auth.vertex_http import model_pages, send_authorized, stream_authorized
from relaykit_google_auth.vertex_settings import option

from . import web_search
from .provider import AnthropicProvider, beta_names
from .vertex_prices import vertex_model, vertex_price

if TYPE_CHECKING:
    from relaykit.http import HttpClient, HttpResponse, HttpStreamResponse

#: the ``anthropic_version`` Vertex AI takes in the body (Anthropic's Vertex page)
VERTEX_VERSION = "vertex-2023-10-16"
#: the beta Google's "Web search with Anthropic Claude models" page sends with the tool
WEB_SEARCH_BETA = "web-search-2025-03-05"
#: Anthropic's publisher path on Vertex AI
PUBLISHER = "publishers/anthropic/models"
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


class VertexAnthropicProvider(AnthropicProvider):
    """Claude through Vertex AI (``vertex-anthropic/claude-sonnet-4-5@20250929``).

    Options (``[providers.vertex-anthropic]``), named as the Gemini ``vertex``
    type names them: ``project`` (else ``GOOGLE_CLOUD_PROJECT``, else the
    credentials' project), ``location`` (else ``GOOGLE_CLOUD_LOCATION``, else
    ``global``), ``credentials_file`` (else ``GOOGLE_APPLICATION_CREDENTIALS``,
    else gcloud's application default credentials, else the metadata server's);
    ``api_key`` (or ``VERTEX_ACCESS_TOKEN``) is a static access token, used as
    it is; ``base_url`` (or ``GOOGLE_VERTEX_BASE_URL``) replaces the location's
    host (a proxy, a Private Service Connect endpoint). ``anthropic_version``
    is the body's (default ``vertex-2023-10-16``); ``anthropic_beta``,
    ``default_max_tokens``, ``structured_output`` and ``auto_cache`` are the
    Anthropic provider's.
    """

    type: ClassVar[str] = "vertex-anthropic"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions (Claude on Vertex AI)
    genai_provider_name: ClassVar[str] = "gcp.vertex_ai"
    #: the host of ``global``; left as it is, the location picks the host
    default_base_url: ClassVar[str] = vertex_settings.GLOBAL_HOST
    api_key_env: ClassVar[str | None] = "VERTEX_ACCESS_TOKEN"
    base_url_env: ClassVar[str | None] = "GOOGLE_VERTEX_BASE_URL"
    requires_api_key: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = (
        "project",
        "location",
        "credentials_file",
        "anthropic_version",
        "anthropic_beta",
        "default_max_tokens",
        "structured_output",
        "auto_cache",
    )

    # Anthropic's Message Batches API is not served on Vertex AI: the core refuses
    # batches before sending anything.
    submit_batch = None  # type: ignore[assignment]
    get_batch = None  # type: ignore[assignment]
    cancel_batch = None  # type: ignore[assignment]
    batch_results = None  # type: ignore[assignment]
    list_batches = None  # type: ignore[assignment]

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        # api_key is an access token here: the Anthropic provider must not send it as
        # x-api-key, nor anthropic_version as a header.
        opts = {k: v for k, v in settings.options.items() if k != "anthropic_version"}
        super().__init__(attrs.evolve(settings, api_key=None, options=opts), http)
        name = settings.name
        env = settings.env
        self._version = option(settings.options, "anthropic_version", str, name) or VERTEX_VERSION
        self._location = vertex_settings.location_setting(settings.options, env, name)
        self._project = vertex_settings.project_setting(settings.options, env, name)
        #: the scheme and host, or a configured base URL (its path prefix and query
        #: kept: every URL is built under it with relaykit.http.api_url)
        configured = vertex_settings.base_host(settings.base_url, name)
        self._host = (
            configured
            if configured != self.default_base_url
            else vertex_settings.host(self._location)
        )
        self._headers = SecretHeaders(
            {
                "content-type": "application/json",
                **_beta_header(settings.options.get("anthropic_beta"), name),
                **settings.headers,
            }
        )
        self._tokens = AccessTokens(
            http,
            name=name,
            static=settings.api_key,
            credentials_file=vertex_settings.credentials_file(settings),
            env=env,
            known_secrets=settings.known_secrets,
        )

    def __repr__(self) -> str:
        # a configured base URL's query may hold a credential (?key=)
        return scrub(
            f"{type(self).__name__}(name={self._name!r}, project={self._project!r}, "
            f"location={self._location!r}, host={self._host!r})"
        )

    # -- where, and with what ---------------------------------------------------

    async def project(self) -> str:
        """The project calls go to, read from the credentials when neither config nor
        environment names one."""
        if self._project is None:
            credentials = await self._tokens.credentials()
            found = credentials.project if credentials is not None else None
            self._project = vertex_settings.credentials_project(found, self._name)
        return self._project

    async def _model_url(self, model: str, method: str) -> str:
        if not _MODEL.fullmatch(model):
            raise InvalidRequestError(
                f"{model!r} is not a Vertex AI model id",
                provider=self._name,
                model=model,
                param="model",
                hint="use Vertex's id of a Claude model, such as claude-sonnet-4-5@20250929",
            )
        return api_url(
            self._host,
            f"v1/projects/{await self.project()}/locations/{self._location}"
            f"/{PUBLISHER}/{model}:{method}",
        )

    async def _messages_url_for(self, request: ChatRequest, *, stream: bool) -> str:
        return await self._model_url(request.model, "streamRawPredict" if stream else "rawPredict")

    async def _count_url_for(self, request: ChatRequest) -> str:
        return await self._model_url("count-tokens", "rawPredict")

    def _call_headers(self, body: Mapping[str, Any]) -> dict[str, str]:
        """Google's page on Claude's web search asks for its beta with the tool."""
        if not any(web_search.is_search_tool(t) for t in body.get("tools") or ()):
            return {}
        configured = self._headers.get("anthropic-beta")
        betas = f"{configured},{WEB_SEARCH_BETA}" if configured else WEB_SEARCH_BETA
        return {"anthropic-beta": betas}

    async def _post(
        self, url: str, body: bytes, extra: Mapping[str, str] | None = None
    ) -> HttpResponse:
        return await send_authorized(
            self._tokens,
            {**self._headers, **(extra or {})},
            lambda headers: self._http.post(url, content=body, headers=headers),
        )

    def _open_stream(
        self, url: str, body: bytes, extra: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[HttpStreamResponse]:
        return stream_authorized(
            self._tokens,
            {**self._headers, **(extra or {})},
            lambda headers: self._http.stream("POST", url, content=body, headers=headers),
        )

    # -- what differs in the bodies ---------------------------------------------

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The Messages body without ``model`` (the URL names it), with ``anthropic_version``."""
        body = super()._body(request, stream=stream)
        body.pop("model", None)
        return {"anthropic_version": self._version, **body}

    def _count_body(self, request: ChatRequest) -> dict[str, Any]:
        """count-tokens names the model in its body (its URL is every model's)."""
        return {
            "anthropic_version": self._version,
            "model": request.model,
            **super()._count_body(request),
        }

    # -- models and prices ----------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        """Anthropic's models on Vertex (``GET v1beta1/publishers/anthropic/models``,
        every page), with context windows and prices where known; a page naming a token
        already asked for ends the list (following it would read the same pages for
        ever)."""
        return await model_pages(
            self._get,
            api_url(self._host, f"v1beta1/{PUBLISHER}"),
            "publisherModels",
            self._listed,
            self._error,
        )

    def _listed(self, page: Iterable[dict[str, Any]]) -> Iterator[ModelInfo]:
        """The Claude models of a page of ``publisherModels``."""
        for m in page:
            name = m.get("name")  # a model without one, or with another kind, is no Claude
            model_id = name.rsplit("/", 1)[-1] if type(name) is str else ""
            if model_id.startswith("claude"):
                known = vertex_model(model_id)
                yield ModelInfo(
                    id=model_id,
                    provider=self._name,
                    context_window=known.context_window if known else None,
                    max_output_tokens=known.max_output_tokens if known else None,
                    price=vertex_price(model_id, self._location),
                    owned_by="anthropic",
                )

    async def _get(self, url: str) -> HttpResponse:
        try:
            r = await send_authorized(
                self._tokens, self._headers, lambda headers: self._http.get(url, headers=headers)
            )
        except Exception as e:
            mapped = transport_error(e, provider=self._name, model=None)
            if mapped is None:
                raise
            raise mapped from e
        return r

    def price(self, model: str) -> ModelPrice | None:
        """Anthropic's list price of ``model``, with Vertex's regional premium where
        it applies (:mod:`relaykit_anthropic.vertex_prices`)."""
        return vertex_price(model, self._location)

    def context_window(self, model: str) -> int | None:
        """``model``'s context window on Vertex AI if this plugin knows it."""
        known = vertex_model(model)
        return known.context_window if known else None

    # -- errors -------------------------------------------------------------------

    def _error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: str | None
    ) -> RelayError:
        """The Anthropic provider's mapping (Vertex passes Claude's own errors on),
        with the fixes for Vertex's own refusals (Google's ``{"error": {"code",
        "message", "status"}}``)."""
        err = super()._error(status, headers, body, model)
        text = body.decode("utf-8", "replace")
        if isinstance(err, AuthenticationError):
            err.hint = vertex_errors.auth_hint(status, text, self._tokens, self._project)
        elif isinstance(err, NotFoundError) and model:
            err.hint = (
                f"check the model id ({model}: Vertex names Claude models like "
                f"claude-sonnet-4-5@20250929), that location {self._location!r} serves it "
                "('global' serves Claude Sonnet 4.5 and later; older models need a region "
                "such as us-east5), and that the model is enabled in the project's Model "
                "Garden"
            )
        return err


def _beta_header(beta: Any, name: str) -> dict[str, str]:
    """``anthropic-beta`` for the configured betas; the Files API's is refused."""
    names = beta_names(beta, name)
    if not names:
        return {}
    for b in names:
        if b.startswith("files-api"):
            raise ConfigError(
                f"providers.{name}.anthropic_beta names {b!r}: Vertex AI has no Files API",
                hint="send documents and images in the request itself, or use the "
                "anthropic provider type for the Files API",
            )
    return {"anthropic-beta": ",".join(names)}
