"""Claude in Microsoft Foundry: the ``foundry-anthropic`` provider type.

Foundry serves Claude through Anthropic's own Messages API, so everything but the
address and the credentials is :class:`~relaykit_anthropic.AnthropicProvider`'s.
What differs (Anthropic's "Claude in Microsoft Foundry" page, Microsoft's "Deploy
and use Claude models in Microsoft Foundry", and Anthropic's ``AnthropicFoundry``
client, which does the same):

- the URL: ``https://{resource}.services.ai.azure.com/anthropic/v1/messages``
  (and ``/v1/messages/count_tokens``); the base URL is
  ``https://{resource}.services.ai.azure.com/anthropic``, from ``resource`` (or
  ``ANTHROPIC_FOUNDRY_RESOURCE``) or given whole as ``base_url`` (or
  ``ANTHROPIC_FOUNDRY_BASE_URL``), never both, as the SDK has it;
- the credentials: the resource's key in an ``api-key`` header (what the SDK
  sends; Anthropic's page takes ``x-api-key`` too), from
  ``ANTHROPIC_FOUNDRY_API_KEY``; or a Microsoft Entra ID token (scope
  ``https://ai.azure.com/.default``) as ``Authorization: Bearer``. The SDK takes
  a token provider, not a variable: relaykit reads the token from
  ``ANTHROPIC_FOUNDRY_AD_TOKEN`` (or the variable ``ad_token_env`` names);
- model ids are the resource's deployment names (often the model's name,
  ``claude-sonnet-4-5``); ``deployments`` maps the others to their models, for
  prices, the model listing, and what is checked before sending (the sampling
  values, a prefill and the thinking setting the served model takes).

Web search (``web_search=``) is Claude's own tool, as on Anthropic's API, with
dynamic filtering too (``dynamic_web_search``; Anthropic's web search page:
"available on the Claude API and Microsoft Azure").

Refused before sending: batches (Anthropic's client leaves the Message Batches
API out of its Foundry client). Foundry serves no ``/v1/models`` either (the
client leaves it out too): the model listing is the ``deployments`` option's.
Prices are Anthropic's list prices ("Pricing for Claude in the Microsoft
Marketplace uses Anthropic's standard API pricing", Anthropic's Foundry page).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import attrs

from relaykit import ConfigError, ModelInfo, ModelPrice, ProviderSettings
from relaykit.http import has_url_credentials
from relaykit.secrets import SecretHeaders

from .prices import known_model
from .provider import AnthropicProvider

if TYPE_CHECKING:
    from relaykit.http import HttpClient

#: the variable holding the resource's name (Anthropic's SDK reads it)
RESOURCE_ENV = "ANTHROPIC_FOUNDRY_RESOURCE"
#: the variable holding a Microsoft Entra ID token (relaykit's name: the SDK takes
#: a token provider instead)
AD_TOKEN_ENV = "ANTHROPIC_FOUNDRY_AD_TOKEN"
#: the base URL left as it is, to be made from the resource's name
_FROM_RESOURCE = "https://RESOURCE.services.ai.azure.com/anthropic"
#: an Azure resource's name: letters, digits and hyphens, as it appears in its host
_RESOURCE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_FOUNDRY_HOST = ".services.ai.azure.com"
#: headers that carry credentials a gateway may configure itself
_CREDENTIAL_HEADERS = frozenset({"api-key", "x-api-key", "authorization"})


class FoundryAnthropicProvider(AnthropicProvider):
    """Claude through Microsoft Foundry (``foundry-anthropic/claude-sonnet-4-5``, the
    id after the slash a deployment's name).

    Options (``[providers.foundry-anthropic]``): ``resource`` (else
    ``ANTHROPIC_FOUNDRY_RESOURCE``), or ``base_url`` (else
    ``ANTHROPIC_FOUNDRY_BASE_URL``) for a whole URL such as
    ``https://NAME.services.ai.azure.com/anthropic``; ``api_key`` / ``api_key_env``
    (default ``ANTHROPIC_FOUNDRY_API_KEY``), sent as ``api-key``; without a key,
    ``ad_token_env`` names the variable holding a Microsoft Entra ID token (default
    ``ANTHROPIC_FOUNDRY_AD_TOKEN``; tokens expire in an hour or so); ``deployments``
    maps deployment names to Claude model names (``{ "my-claude" =
    "claude-sonnet-4-5" }``). ``anthropic_version``, ``anthropic_beta``,
    ``default_max_tokens``, ``structured_output``, ``auto_cache`` and
    ``dynamic_web_search`` are the Anthropic provider's.
    """

    type: ClassVar[str] = "foundry-anthropic"
    #: ``gen_ai.provider.name`` (OpenTelemetry GenAI conventions): no well-known name
    #: covers Claude in Microsoft Foundry, so the type, not the inherited "anthropic"
    genai_provider_name: ClassVar[str] = "foundry-anthropic"
    default_base_url: ClassVar[str] = _FROM_RESOURCE
    base_url_example: ClassVar[str] = "https://RESOURCE.services.ai.azure.com/anthropic"
    api_key_env: ClassVar[str | None] = "ANTHROPIC_FOUNDRY_API_KEY"
    base_url_env: ClassVar[str | None] = "ANTHROPIC_FOUNDRY_BASE_URL"
    #: an Entra ID token may stand in for the key (checked when built)
    requires_api_key: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = (
        "resource",
        "ad_token_env",
        "deployments",
        "anthropic_version",
        "anthropic_beta",
        "default_max_tokens",
        "structured_output",
        "auto_cache",
        "dynamic_web_search",
    )

    # Foundry serves no Message Batches API: the core refuses batches before sending.
    submit_batch = None  # type: ignore[assignment]
    get_batch = None  # type: ignore[assignment]
    cancel_batch = None  # type: ignore[assignment]
    batch_results = None  # type: ignore[assignment]
    list_batches = None  # type: ignore[assignment]

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        base_url = _base_url(settings)
        credentials = _credentials(settings)
        if "authorization" in credentials and has_url_credentials(base_url):
            raise ConfigError(
                f"providers.{settings.name}.base_url carries credentials (user:password@),"
                " and the Entra ID token goes in the Authorization header they would need",
                hint="remove user:password@ from base_url (a proxy's go in HTTPS_PROXY), or"
                " use the resource's key (api_key / ANTHROPIC_FOUNDRY_API_KEY, sent as"
                " api-key) beside them",
            )
        # The key goes as api-key, not the Anthropic provider's x-api-key.
        super().__init__(attrs.evolve(settings, base_url=base_url, api_key=None), http)
        self._headers = SecretHeaders({**self._headers, **credentials, **settings.headers})
        self._deployments = _deployments(settings.options.get("deployments"), settings.name)

    def base_model(self, deployment: str) -> str:
        """The Claude model ``deployment`` serves: from ``deployments``, else the name."""
        return self._deployments.get(deployment, deployment)

    def price(self, model: str) -> ModelPrice | None:
        """Anthropic's list price of ``model``: a model Foundry named in its answer, or
        a deployment ``deployments`` maps (or named as its model)."""
        known = known_model(self.base_model(model))
        return known.price if known else None

    def context_window(self, model: str) -> int | None:
        """The context window of deployment ``model``'s Claude model, if known: Foundry
        serves no listing, so this is the only place the core learns it."""
        known = known_model(self.base_model(model))
        return known.context_window if known else None

    async def list_models(self) -> list[ModelInfo]:
        """The deployments the ``deployments`` option names, with their models' context
        windows and prices (Foundry serves no model listing to a Claude client)."""
        if not self._deployments:
            raise ConfigError(
                f"provider {self._name!r} cannot list models: Microsoft Foundry serves"
                " no model listing for Claude",
                hint=f"name your deployments: [providers.{self._name}] deployments ="
                ' { "my-claude" = "claude-sonnet-4-5" }',
            )
        out = []
        for deployment, model in self._deployments.items():
            known = known_model(model)
            out.append(
                ModelInfo(
                    id=deployment,
                    provider=self._name,
                    context_window=known.context_window if known else None,
                    max_output_tokens=known.max_output_tokens if known else None,
                    price=known.price if known else None,
                    owned_by="anthropic",
                )
            )
        return out


def _base_url(settings: ProviderSettings) -> str:
    """``https://{resource}.services.ai.azure.com/anthropic``, from ``resource`` or the
    configured base URL (a resource's root gets ``/anthropic``; a URL copied with
    ``/v1/messages`` loses it)."""
    name = settings.name
    resource = settings.options.get("resource")
    # The query (a gateway's ?key=value) stays after every path: relaykit.http.api_url.
    path, mark, query = settings.base_url.partition("#")[0].partition("?")
    configured = path.rstrip("/")
    if configured != _FROM_RESOURCE or query:
        if resource is not None:
            raise ConfigError(
                f"providers.{name} sets both base_url and resource",
                hint="keep one: resource = 'NAME' stands for base_url ="
                " 'https://NAME.services.ai.azure.com/anthropic' (ANTHROPIC_FOUNDRY_BASE_URL"
                " sets base_url too)",
            )
        url = configured.removesuffix("/v1/messages").rstrip("/")
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            host = None  # httpx names what is wrong with the URL on the first call
        if host and host.endswith(_FOUNDRY_HOST) and parts.path in ("", "/"):
            url = f"{url}/anthropic"
        return url + mark + query
    if resource is None and name == FoundryAnthropicProvider.type:
        resource = settings.env.get(RESOURCE_ENV) or None
    if resource is None:
        env = (
            f" (or {RESOURCE_ENV} / ANTHROPIC_FOUNDRY_BASE_URL)"
            if name == FoundryAnthropicProvider.type
            else ""
        )
        raise ConfigError(
            f"provider {name!r} names no Microsoft Foundry resource",
            hint=f"set [providers.{name}] resource = 'NAME' or base_url ="
            f" 'https://NAME.services.ai.azure.com/anthropic'{env}",
        )
    if not isinstance(resource, str) or not _RESOURCE.fullmatch(resource):
        raise ConfigError(
            f"providers.{name}.resource is {resource!r}: not a Foundry resource's name",
            hint="give the name alone, as in https://NAME.services.ai.azure.com, or the"
            " whole URL as base_url",
        )
    return f"https://{resource}{_FOUNDRY_HOST}/anthropic"


def _credentials(settings: ProviderSettings) -> dict[str, str]:
    """``api-key: KEY``, else ``Authorization: Bearer TOKEN`` (Entra ID)."""
    if settings.api_key:
        return {"api-key": settings.api_key.reveal()}
    if any(h.lower() in _CREDENTIAL_HEADERS for h in settings.headers):
        return {}  # a gateway's own credentials, configured as headers
    name = settings.name
    var = str(settings.options.get("ad_token_env") or AD_TOKEN_ENV)
    token = settings.env.get(var)
    if token:
        # masked wherever it shows, as a key is, whatever its shape (and from a
        # variable of the user's choosing, which the client cannot know of)
        settings.known_secrets.add(token)
        return {"authorization": f"Bearer {token}"}
    raise ConfigError(
        f"no API key or Entra ID token for provider {name!r}",
        hint=f"set ANTHROPIC_FOUNDRY_API_KEY (or [providers.{name}] api_key / api_key_env),"
        f" `relaykit keys set {name}`, or {var} to a Microsoft Entra ID token"
        " (scope https://ai.azure.com/.default)",
    )


def _deployments(value: Any, name: str) -> dict[str, str]:
    """The ``deployments`` option: deployment name -> Claude model name."""
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        return dict(value)
    raise ConfigError(
        f"providers.{name}.deployments must map deployment names to Claude model names",
        hint=f'[providers.{name}] deployments = {{ "my-claude" = "claude-sonnet-4-5" }}',
    )
