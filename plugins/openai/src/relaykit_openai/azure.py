"""Azure OpenAI: ``azure/<deployment>``, OpenAI's models served from an Azure resource.

Configured as the OpenAI SDK's ``AzureOpenAI`` reads it: the resource's endpoint
(``AZURE_OPENAI_ENDPOINT``, ``https://RESOURCE.openai.azure.com``), a key
(``AZURE_OPENAI_API_KEY``, sent as ``api-key``) or a Microsoft Entra ID token
(``AZURE_OPENAI_AD_TOKEN``, sent as ``Authorization: Bearer``), and an API
version (``OPENAI_API_VERSION``). In config::

    [providers.azure]
    type = "azure"                                 # the default for the name "azure"
    base_url = "https://my-resource.openai.azure.com"   # or endpoint = ...
    api_key_env = "AZURE_OPENAI_API_KEY"
    api_version = "2024-10-21"                     # leave out for the v1 API
    models = { "gpt4o-prod" = "gpt-4o" }           # deployment -> model, for prices

Two URL styles (learn.microsoft.com, "Azure OpenAI API version lifecycle"):

- the v1 API, the default: ``{endpoint}/openai/v1/chat/completions`` (and
  ``/responses``, ``/embeddings``, ``/images/...``, ``/audio/...``, ``/models``),
  the deployment's name as the body's ``model``, no ``api-version``
  (``api_version = "preview"`` or ``"latest"`` adds that query for preview features);
- the classic deployments API, when ``api_version`` is a date
  (``2024-10-21``, ``2025-04-01-preview``):
  ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``;
  the Responses API and the model list sit beside the deployments
  (``{endpoint}/openai/responses?api-version=...``).

The endpoint may carry a gateway's path prefix, ``user:password@`` (sent as basic
auth, beside the key) and a query string, which every URL keeps before its own
``api-version`` (:func:`relaykit.http.api_url`). An ``api-version`` in that query
(a URL copied whole) is the API version when ``api_version`` is not set (over
``OPENAI_API_VERSION``), sent once; ``api_version`` naming another is a ConfigError.

The id after ``azure/`` is a deployment's name, which may differ from its model's:
Azure's answers name the model (``gpt-4o-2024-11-20``), which prices the call with
OpenAI's list prices (Azure's global standard deployments charge the same). The
``models`` option maps deployments to models for what happens before an answer
(budgets' estimates, :meth:`AzureOpenAIProvider.list_models`, ``api = "auto"``).
Rules OpenAI keys on a model's name (images, speech to text) see the deployment's
name: a deployment named as its model (Azure's default) gets them exactly. The
sampling a reasoning model refuses (:mod:`relaykit_openai.sampling_rules`) is
judged by the model the ``models`` option maps a deployment to, else its name.

Batches run on a Global Batch or Data Zone Batch deployment (a deployment of its
own, with its own quota of enqueued tokens), through OpenAI's Batch API
(:mod:`relaykit_openai.batches`) at the resource's URLs (learn.microsoft.com,
"Getting started with Azure OpenAI batch deployments"): ``{endpoint}/openai/v1/files``
and ``/openai/v1/batches`` (the v1 API; each line's ``url`` and the batch's
``endpoint`` ``/v1/chat/completions``, or ``/v1/responses``), or
``{endpoint}/openai/files?api-version=...`` and ``/openai/batches?api-version=...``
(a dated version; ``/chat/completions``, and no Responses API batches, which Azure
documents for the v1 API only: refused unsent). Each line's ``model`` is the
deployment's name, which every line must share; a file takes 100,000 requests
and 200 MB. ``batch_expires_after`` (seconds) sets when the input and result files
expire (``expires_after`` and ``output_expires_after``, anchored at their creation):
a resource keeps 500 batch files without one, 10,000 with. The answers name the
model, which prices them as single calls, at the batch share of the price.
A file Azure refuses as a whole (``model_not_found``: no such deployment;
``model_mismatch``; ``token_limit_exceeded``: the deployment's enqueued-token
quota is full) makes a failed :class:`~relaykit.Batch` whose ``error`` is Azure's
message; where Azure checks the quota at once, ``submit_batch`` raises the 400 as
:class:`~relaykit.InvalidRequestError` (submit again once running batches end).

Azure has no moderation, rerank or token counting API: those are refused
unsent (counting is estimated). Its Chat Completions API reads no documents
(``"Invalid Value: 'file'. This model does not support file content types."``):
they are refused unsent; the Responses API (``api = "responses"``) reads PDFs.
Web search (``web_search=``) is refused unsent too: Azure's docs now describe a
``web_search`` tool for its Responses API, but relaykit has not checked its
wire format, regions or billing against Azure's, so it is not sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote, unquote

from relaykit import ConfigError, InvalidRequestError, ModelInfo, ModelPrice, ProviderSettings
from relaykit.http import api_url

from .api_choice import Api
from .provider import OpenAIProvider

if TYPE_CHECKING:
    from relaykit.http import HttpClient

    from .batches import BatchApi
    from .documents import ChatDocuments
    from .web_search import SearchStyle

#: the variable holding a Microsoft Entra ID token (the OpenAI SDK's name)
AD_TOKEN_ENV = "AZURE_OPENAI_AD_TOKEN"
#: the variable holding the API version (the OpenAI SDK's name)
API_VERSION_ENV = "OPENAI_API_VERSION"
#: APIs that the classic style serves per deployment, the deployment in the path;
#: the others (responses, models) sit at ``{endpoint}/openai/...``
_DEPLOYMENT_APIS = frozenset(
    {
        "chat/completions",
        "embeddings",
        "audio/transcriptions",
        "audio/speech",
        "images/generations",
        "images/edits",
    }
)
#: a dated API version: ``2024-10-21``, ``2025-04-01-preview``
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
#: API versions of the v1 API: none, or a channel for preview features
_V1_CHANNELS = ("preview", "latest")
#: the most requests one batch file takes (Azure's "Batch limits")
BATCH_MAX_REQUESTS = 100_000
#: the seconds ``batch_expires_after`` may be: an hour (the v1 API's least) to
#: 30 days (the dated versions' guide says from 14 days, 1,209,600 seconds)
_EXPIRY_RANGE = (3_600, 2_592_000)


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI (``azure/<deployment>``): OpenAI's APIs at an Azure resource.

    Options in ``[providers.NAME]`` besides ``base_url`` (the resource's endpoint;
    ``endpoint`` is the same), ``api_key`` and ``api_key_env``:

    - ``api_version``: leave out (or ``"v1"``) for the v1 API; ``"preview"`` or
      ``"latest"`` for the v1 API's preview channel; a date (``"2024-10-21"``,
      ``"2025-04-01-preview"``) for the classic deployments API. For the provider
      named ``azure``, ``OPENAI_API_VERSION`` sets it too.
    - ``ad_token_env``: the variable holding a Microsoft Entra ID token (default
      ``AZURE_OPENAI_AD_TOKEN``), used when no key is set. Tokens expire (an hour
      or so): a long-running process needs a key, or a fresh token at each start.
    - ``models``: ``{deployment = "model"}``, the model each deployment serves, for
      prices before an answer names the model, ``list_models`` and ``api = "auto"``.
    - ``batch_expires_after``: seconds after which a batch's input and result files
      expire (3,600 to 2,592,000; 14 days and up for the dated API versions); Azure
      keeps them 30 days or until deleted without it, and 500 files a resource.
    - ``api``, ``stream_usage``, ``max_tokens_param``, ``embedding_encoding``: as
      for OpenAI (``api`` defaults to ``"auto"``; ``stream_usage`` needs API version
      2024-09-01-preview or later, or the v1 API).
    """

    type: ClassVar[str] = "azure"
    #: ``gen_ai.provider.name`` in the OpenTelemetry GenAI conventions
    genai_provider_name: ClassVar[str] = "azure.ai.openai"
    default_base_url: ClassVar[str] = ""
    api_key_env: ClassVar[str | None] = "AZURE_OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "AZURE_OPENAI_ENDPOINT"
    #: Azure's (and the SDK's) word for the base URL, read when base_url is not set
    base_url_option: ClassVar[str] = "endpoint"
    base_url_example: ClassVar[str] = "https://RESOURCE.openai.azure.com"
    #: a Microsoft Entra ID token may stand in for the key (checked when built)
    requires_api_key: ClassVar[bool] = False
    #: the token is a credential as the key is: masked from the client's start
    secret_envs: ClassVar[tuple[str, ...]] = (AD_TOKEN_ENV,)
    options: ClassVar[tuple[str, ...]] = (
        "endpoint",
        "api_version",
        "ad_token_env",
        "models",
        "batch_expires_after",
        "api",
        "stream_usage",
        "max_tokens_param",
        "embedding_encoding",
    )
    api: ClassVar[Api] = "auto"
    chat_documents: ClassVar[ChatDocuments] = "none"
    #: a deployment's name says nothing sure about its model: speech is not refused
    #: by OpenAI's model rules (instructions for gpt-4o-mini-tts only), and
    #: transcripts come whole, one delta (a Whisper deployment streams none)
    speech_limits: ClassVar[bool] = False
    #: nor are images and transcriptions (sizes, qualities, response formats by model)
    media_rules: ClassVar[bool] = False
    embedding_rules: ClassVar[bool] = False
    streams_transcriptions: ClassVar[bool] = False
    #: no web search (see the module docstring): the core refuses it unsent
    searches_web: ClassVar[bool] = False
    web_search_style: ClassVar[SearchStyle] = "none"

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        opts = settings.options
        # credentials taken out; its own query (a gateway's) kept, but an api-version
        endpoint, in_url = _endpoint(self._base_url, settings.name)
        version = opts.get("api_version")
        if in_url is not None:
            version = _url_version(in_url, version, settings.name)
        if version is None and settings.name == self.type:
            version = settings.env.get(API_VERSION_ENV) or None
        version = _api_version(version, settings.name)
        #: whether the classic deployments API is spoken (else the v1 API)
        self.classic = version is not None and _DATED.fullmatch(version) is not None
        self._root = "openai" if self.classic else "openai/v1"
        #: the resource's endpoint: a scheme and host, maybe a path prefix and a query
        self._endpoint = endpoint
        self._query = f"?api-version={quote(version, safe='')}" if version else ""
        self._deployments = _deployments(opts.get("models"), settings.name)
        self._batch_expiry = _batch_expiry(opts.get("batch_expires_after"), settings.name)

    def _auth_headers(self, settings: ProviderSettings) -> dict[str, str]:
        """``api-key: KEY``, else ``Authorization: Bearer TOKEN`` (Entra ID)."""
        if settings.api_key:
            return {"api-key": settings.api_key.reveal()}
        if any(h.lower() in ("api-key", "authorization") for h in settings.headers):
            return {}  # a gateway's own credentials, configured as headers
        var = str(settings.options.get("ad_token_env") or AD_TOKEN_ENV)
        token = settings.env.get(var)
        if token:
            # masked wherever it shows, as a key is, whatever its shape (and from a
            # variable of the user's choosing, which the client cannot know of)
            settings.known_secrets.add(token)
            return {"authorization": f"Bearer {token}"}
        name = settings.name
        raise ConfigError(
            f"no API key or Entra ID token for provider {name!r}",
            hint=f"set AZURE_OPENAI_API_KEY (or [providers.{name}] api_key / api_key_env),"
            f" `relaykit keys set {name}`, or {var} to a Microsoft Entra ID token",
        )

    def _url(self, path: str, model: str | None = None) -> str:
        if self.classic and model and path in _DEPLOYMENT_APIS:
            deployment = quote(model, safe="")
            path = f"openai/deployments/{deployment}/{path}"
        else:
            path = f"{self._root}/{path}"
        # api_url: under the endpoint's path, its query (a gateway's) first
        return api_url(self._endpoint, path + self._query)

    def base_model(self, deployment: str) -> str:
        """The model ``deployment`` serves, as OpenAI names it: from the ``models``
        option, else the name itself (Azure's ``gpt-35-turbo`` is ``gpt-3.5-turbo``)."""
        model = self._deployments.get(deployment, deployment)
        return model.replace("gpt-35", "gpt-3.5", 1) if model.startswith("gpt-35") else model

    def price(self, model: str) -> ModelPrice | None:
        """OpenAI's list price of ``model``: a model Azure named in its answer
        (``gpt-4o-2024-11-20``), or a deployment the ``models`` option maps."""
        return self._known(self.base_model(model))[1]

    def context_window(self, model: str) -> int | None:
        """The context window of deployment ``model``'s model (as :meth:`price` maps
        it) if this plugin's table knows it."""
        return self._known(self.base_model(model))[0]

    def uses_responses(self, model: str) -> bool:
        """Whether calls to deployment ``model`` go to the Responses API: with ``api =
        "auto"``, whether OpenAI serves its model only there."""
        return super().uses_responses(self.base_model(model))

    async def list_models(self) -> list[ModelInfo]:
        """The deployments the ``models`` option names, with their models' context
        windows and prices; without it, the resource's ``GET /openai/models``, which
        lists the models it can deploy (not the deployments: ids to price, not to call)."""
        if not self._deployments:
            return await super().list_models()
        out = []
        for deployment in self._deployments:
            window, price = self._known(self.base_model(deployment))
            out.append(
                ModelInfo(
                    id=deployment,
                    provider=self._name,
                    context_window=window,
                    price=price,
                )
            )
        return out

    def _batches(self) -> BatchApi:
        """OpenAI's batch client at this resource's URLs, with Azure's limits and
        file expiry (see the module docstring)."""
        from .batches import BatchApi  # loaded on first use, as OpenAI's

        upload: tuple[tuple[str, str], ...] = ()
        create: dict[str, object] = {}
        if self._batch_expiry is not None:
            seconds = self._batch_expiry
            # form fields as OpenAI's SDKs flatten the object (Azure's guide sends it so)
            upload = (
                ("expires_after[anchor]", "created_at"),
                ("expires_after[seconds]", str(seconds)),
            )
            create = {"output_expires_after": {"anchor": "created_at", "seconds": seconds}}
        return BatchApi(
            self._http,
            self._url,
            self._headers,
            self._name,
            max_requests=BATCH_MAX_REQUESTS,
            upload_fields=upload,
            create_fields=create,
        )

    def _batch_endpoint(self, path: str, model: str) -> str:
        """``/v1/chat/completions`` (or ``/v1/responses``) for the v1 API;
        ``/chat/completions`` for a dated version, which has no Responses batches."""
        if not self.classic:
            return f"/v1/{path}"
        if path == "responses":
            raise InvalidRequestError(
                f"deployment {model!r} is called through the Responses API, whose batches"
                " Azure serves on the v1 API only",
                provider=self._name,
                model=model,
                hint=f"leave providers.{self._name}.api_version out (the v1 API) to batch"
                ' it, or set api = "chat" if the deployment serves Chat Completions',
            )
        return f"/{path}"

    # Azure serves none of these: the core refuses them before sending.
    count_tokens = None  # type: ignore[assignment]
    moderate = None  # type: ignore[assignment]


def _endpoint(base_url: str, name: str) -> tuple[str, str | None]:
    """The resource's endpoint from ``base_url``, which may end in ``/openai`` or
    ``/openai/v1`` (as the OpenAI SDK's ``base_url`` for the v1 API does) and carry a
    query (kept, for :func:`relaykit.http.api_url`); and the ``api-version`` that
    query named, taken out of it (``None``: it named none)."""
    path, _, query = base_url.partition("#")[0].partition("?")
    endpoint = path.rstrip("/")
    if "/openai/deployments" in endpoint.lower():
        raise ConfigError(
            f"providers.{name}.base_url names a deployment: it is the resource's endpoint",
            hint="set base_url = 'https://RESOURCE.openai.azure.com' and call"
            f" {name}/DEPLOYMENT-NAME",
        )
    for suffix in ("/openai/v1", "/openai"):
        if endpoint.lower().endswith(suffix):
            endpoint = endpoint[: -len(suffix)]
            break
    version = None
    kept = []
    for pair in query.split("&") if query else ():
        key, _, value = pair.partition("=")
        if unquote(key).lower() == "api-version":
            version = unquote(value)
        else:
            kept.append(pair)
    return (f"{endpoint}?{'&'.join(kept)}" if kept else endpoint), version


def _url_version(in_url: str, option: object, name: str) -> str:
    """The ``api-version`` a base URL's query named, unless ``api_version`` names another."""
    if isinstance(option, date):
        option = option.isoformat()
    if option is not None and option != in_url:
        raise ConfigError(
            f"providers.{name}.base_url (or endpoint) asks for api-version {in_url!r} and"
            f" providers.{name}.api_version for {option!r}",
            hint="keep one: take ?api-version=... out of base_url, or leave api_version out"
            " (the URL's then holds)",
        )
    return in_url


def _api_version(value: object, name: str) -> str | None:
    """The ``api-version`` to send (``None``: the v1 API, which needs none)."""
    if value is None or value == "" or value == "v1":
        return None
    if isinstance(value, date):  # TOML reads an unquoted 2024-10-21 as a date
        value = value.isoformat()
    if isinstance(value, str) and (value in _V1_CHANNELS or _DATED.fullmatch(value)):
        return value
    raise ConfigError(
        f"providers.{name}.api_version is {value!r}: not an Azure OpenAI API version",
        hint='leave it out for the v1 API, "preview" for its preview features, or a'
        ' dated version such as "2024-10-21" for the deployments API',
    )


def _deployments(value: object, name: str) -> dict[str, str]:
    """The ``models`` option: deployment name -> model name."""
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        return dict(value)
    raise ConfigError(
        f"providers.{name}.models must map deployment names to model names",
        hint=f'[providers.{name}] models = {{ "my-gpt4o" = "gpt-4o" }}',
    )


def _batch_expiry(value: object, name: str) -> int | None:
    """The ``batch_expires_after`` option: whole seconds, in Azure's range."""
    if value is None:
        return None
    low, high = _EXPIRY_RANGE
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise ConfigError(
        f"providers.{name}.batch_expires_after is {value!r}: Azure takes {low:,} to"
        f" {high:,} seconds",
        hint=f"[providers.{name}] batch_expires_after = 1209600 (14 days; the dated API"
        " versions take 14 to 30 days), or leave it out to keep Azure's default",
    )
