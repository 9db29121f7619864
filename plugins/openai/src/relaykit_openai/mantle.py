"""Amazon Bedrock's OpenAI-compatible endpoint (Bedrock Mantle): ``bedrock-mantle/<model>``.

Bedrock serves the models it hosts on Mantle through OpenAI's Chat Completions and
Responses APIs (AWS's Bedrock user guide: "Endpoints supported by Amazon Bedrock",
"Responses API"), at ``https://bedrock-mantle.{region}.api.aws/v1``, with a
Bedrock API key as ``Authorization: Bearer`` (AWS: set ``OPENAI_API_KEY`` to the
key, ``OPENAI_BASE_URL`` to that URL). Model ids are Bedrock's, such as
``openai.gpt-oss-120b`` and ``openai.gpt-oss-20b``; ``GET /v1/models`` lists the
account's, and AWS's "Endpoint availability" tables say which models each endpoint
serves (open-weight families such as gpt-oss, Qwen, DeepSeek and Gemma). Claude
is not reached here: Mantle serves it through Anthropic's Messages API, not these.

Configured as ``[providers.bedrock-mantle]`` with ``region`` (else ``AWS_REGION``,
else ``AWS_DEFAULT_REGION``, as AWS's SDKs read them) and the key in
``AWS_BEARER_TOKEN_BEDROCK`` (the variable AWS's SDKs read a Bedrock API key from),
or ``api_key`` / ``api_key_env``. ``base_url`` replaces the region's URL (a proxy,
or the ``/openai/v1`` prefix AWS serves some models under: its note says a model
asked for on the wrong prefix is refused with "model ... isn't supported on this
route"). Requests are not signed: SigV4 (access keys, profiles, roles) is out of
scope here, and the ``bedrock`` provider type speaks Converse with those.

Chat Completions by default (``api = "responses"`` for the Responses API, which
Mantle serves for gpt-oss). Mantle serves no embeddings, rerank, audio, images,
moderation, batches or token counting through these APIs: refused unsent, as for
the other presets. Prices are not known: Bedrock prices each model per region.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

import attrs

from relaykit import ConfigError, ProviderSettings

from .presets import preset

if TYPE_CHECKING:
    from relaykit.http import HttpClient

#: the variable holding a Bedrock API key (AWS's SDKs read it)
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
#: where the region is read from when the config names none, in this order
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
#: the base URL left as it is, to be made from the region
_FROM_REGION = "https://bedrock-mantle.REGION.api.aws/v1"
#: an AWS region: us-east-1, eu-central-2, ap-southeast-4, us-gov-west-1
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
#: headers that carry credentials a gateway may configure itself
_CREDENTIAL_HEADERS = frozenset({"authorization"})


class BedrockMantleProvider(preset("bedrock-mantle", _FROM_REGION, BEARER_ENV, False)):  # type: ignore[misc]
    """Bedrock-hosted models through Mantle's OpenAI-compatible APIs
    (``bedrock-mantle/openai.gpt-oss-120b``).

    Options in ``[providers.NAME]``: ``region`` (else ``AWS_REGION``, else
    ``AWS_DEFAULT_REGION``), or ``base_url`` for a whole URL; ``api_key`` /
    ``api_key_env`` (default ``AWS_BEARER_TOKEN_BEDROCK``), a Bedrock API key;
    ``api``, ``stream_usage`` and ``max_tokens_param`` as for OpenAI.
    """

    options: ClassVar[tuple[str, ...]] = ("region", "api", "stream_usage", "max_tokens_param")
    base_url_example: ClassVar[str] = "https://bedrock-mantle.us-east-1.api.aws/v1"

    # Mantle's OpenAI-compatible APIs are Chat Completions and Responses alone.
    embed = None

    def __init__(self, settings: ProviderSettings, http: HttpClient) -> None:
        _check_key(settings)
        super().__init__(attrs.evolve(settings, base_url=_base_url(settings)), http)


def _base_url(settings: ProviderSettings) -> str:
    """``https://bedrock-mantle.{region}.api.aws/v1``, or the configured base URL."""
    name = settings.name
    region = settings.options.get("region")
    if settings.base_url != _FROM_REGION:
        if region is not None:
            raise ConfigError(
                f"providers.{name} sets both base_url and region",
                hint=f"keep one: region = 'us-east-1' stands for base_url ="
                f" '{_FROM_REGION.replace('REGION', 'us-east-1')}'",
            )
        return settings.base_url
    if region is None:
        region = next((settings.env[v] for v in REGION_ENV if settings.env.get(v)), None)
    if region is None:
        raise ConfigError(
            f"provider {name!r} names no AWS region",
            hint=f"set [providers.{name}] region = 'us-east-1' (or AWS_REGION /"
            " AWS_DEFAULT_REGION), or base_url = 'https://bedrock-mantle.REGION.api.aws/v1'",
        )
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ConfigError(
            f"providers.{name}.region is {region!r}: not an AWS region",
            hint="name a region Bedrock Mantle serves, such as 'us-east-1' or 'eu-west-1'",
        )
    return _FROM_REGION.replace("REGION", region)


def _check_key(settings: ProviderSettings) -> None:
    """A Bedrock API key, or a gateway's own credentials: requests are not signed."""
    if settings.api_key or any(h.lower() in _CREDENTIAL_HEADERS for h in settings.headers):
        return
    name = settings.name
    raise ConfigError(
        f"no Bedrock API key for provider {name!r}",
        hint=f"set {BEARER_ENV} (or [providers.{name}] api_key / api_key_env) to a Bedrock"
        f" API key, or `relaykit keys set {name}`; bedrock-mantle does not sign requests"
        " with AWS credentials (SigV4: access keys, profiles, roles): for those, use the"
        " bedrock provider type",
    )
