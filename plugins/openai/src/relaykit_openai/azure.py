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

The id after ``azure/`` is a deployment's name, which may differ from its model's:
Azure's answers name the model (``gpt-4o-2024-11-20``), which prices the call with
OpenAI's list prices (Azure's global standard deployments charge the same). The
``models`` option maps deployments to models for what happens before an answer
(budgets' estimates, :meth:`AzureOpenAIProvider.list_models`, ``api = "auto"``).
Rules OpenAI keys on a model's name (images, speech to text) see the deployment's
name: a deployment named as its model (Azure's default) gets them exactly.

Azure has no moderation, rerank or token counting API: those are refused
unsent (counting is estimated). Batches (Azure's Global Batch deployments) are
not built yet: refused unsent too. Its Chat Completions API reads no documents
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
from urllib.parse import quote

from relaykit import ConfigError, ModelInfo, ModelPrice, ProviderSettings

from .api_choice import Api
from .provider import OpenAIProvider

if TYPE_CHECKING:
    from relaykit.http import HttpClient

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
    - ``api``, ``stream_usage``, ``max_tokens_param``, ``embedding_encoding``: as
      for OpenAI (``api`` defaults to ``"auto"``; ``stream_usage`` needs API version
      2024-09-01-preview or later, or the v1 API).
    """

    type: ClassVar[str] = "azure"
    default_base_url: ClassVar[str] = ""
    api_key_env: ClassVar[str | None] = "AZURE_OPENAI_API_KEY"
    base_url_env: ClassVar[str | None] = "AZURE_OPENAI_ENDPOINT"
    #: Azure's (and the SDK's) word for the base URL, read when base_url is not set
    base_url_option: ClassVar[str] = "endpoint"
    base_url_example: ClassVar[str] = "https://RESOURCE.openai.azure.com"
    #: a Microsoft Entra ID token may stand in for the key (checked when built)
    requires_api_key: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = (
        "endpoint",
        "api_version",
        "ad_token_env",
        "models",
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
    streams_transcriptions: ClassVar[bool] = False
    #: no web search (see the module docstring): the core refuses it unsent
    searches_web: ClassVar[bool] = False
    web_search_style: ClassVar[SearchStyle] = "none"

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        super().__init__(settings, http)
        opts = settings.options
        endpoint = _endpoint(settings.base_url, settings.name)
        version = opts.get("api_version")
        if version is None and settings.name == self.type:
            version = settings.env.get(API_VERSION_ENV) or None
        version = _api_version(version, settings.name)
        #: whether the classic deployments API is spoken (else the v1 API)
        self.classic = version is not None and _DATED.fullmatch(version) is not None
        self._root = f"{endpoint}/openai" if self.classic else f"{endpoint}/openai/v1"
        self._endpoint = endpoint
        self._query = f"?api-version={version}" if version else ""
        self._deployments = _deployments(opts.get("models"), settings.name)

    def _auth_headers(self, settings: ProviderSettings) -> dict[str, str]:
        """``api-key: KEY``, else ``Authorization: Bearer TOKEN`` (Entra ID)."""
        if settings.api_key:
            return {"api-key": settings.api_key.reveal()}
        if any(h.lower() in ("api-key", "authorization") for h in settings.headers):
            return {}  # a gateway's own credentials, configured as headers
        var = str(settings.options.get("ad_token_env") or AD_TOKEN_ENV)
        token = settings.env.get(var)
        if token:
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
            return f"{self._endpoint}/openai/deployments/{deployment}/{path}{self._query}"
        return f"{self._root}/{path}{self._query}"

    def base_model(self, deployment: str) -> str:
        """The model ``deployment`` serves, as OpenAI names it: from the ``models``
        option, else the name itself (Azure's ``gpt-35-turbo`` is ``gpt-3.5-turbo``)."""
        model = self._deployments.get(deployment, deployment)
        return model.replace("gpt-35", "gpt-3.5", 1) if model.startswith("gpt-35") else model

    def price(self, model: str) -> ModelPrice | None:
        """OpenAI's list price of ``model``: a model Azure named in its answer
        (``gpt-4o-2024-11-20``), or a deployment the ``models`` option maps."""
        return self._known(self.base_model(model))[1]

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

    # Azure serves none of these: the core refuses them before sending.
    count_tokens = None  # type: ignore[assignment]
    moderate = None  # type: ignore[assignment]
    # Azure's batches run on Global Batch deployments with their own file and job
    # paths and quotas; OpenAI's client would post to URLs Azure does not serve.
    submit_batch = None  # type: ignore[assignment]
    get_batch = None  # type: ignore[assignment]
    cancel_batch = None  # type: ignore[assignment]
    batch_results = None  # type: ignore[assignment]


def _endpoint(base_url: str, name: str) -> str:
    """The resource's endpoint from ``base_url``, which may end in ``/openai`` or
    ``/openai/v1`` (as the OpenAI SDK's ``base_url`` for the v1 API does)."""
    endpoint = base_url.rstrip("/")
    if "/openai/deployments" in endpoint.lower():
        raise ConfigError(
            f"providers.{name}.base_url names a deployment: it is the resource's endpoint",
            hint="set base_url = 'https://RESOURCE.openai.azure.com' and call"
            f" {name}/DEPLOYMENT-NAME",
        )
    for suffix in ("/openai/v1", "/openai"):
        if endpoint.lower().endswith(suffix):
            return endpoint[: -len(suffix)]
    return endpoint


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
