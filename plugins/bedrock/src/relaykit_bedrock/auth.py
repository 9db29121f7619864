"""Authenticating to Bedrock: a Bedrock API key (bearer token) or SigV4 with the AWS chain.

botocore does the SigV4 arithmetic and walks the standard credential chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, shared
config and credentials files, SSO, ``credential_process``, container and
instance metadata). It is slow to import and the chain reads files and may call
metadata endpoints, so both happen once, in a worker thread, on the first
request; refreshable credentials (STS, SSO, IMDS) are refreshed in a thread too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread

from relaykit import AuthenticationError, ConfigError, Secret
from relaykit.known_secrets import KnownSecrets

#: The service name in the SigV4 credential scope, for the runtime and control plane alike.
SIGNING_SERVICE = "bedrock"
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"

_NO_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "credentials), or AWS_PROFILE, or a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK"
)

_EXPIRED_HINT = (
    "the AWS credentials have expired and where they come from gives no newer ones:"
    " renew them (`aws sso login --profile ...` for SSO; new AWS_ACCESS_KEY_ID,"
    " AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION in the"
    " environment; or a refreshed credentials file), then call again"
)
# botocore's refusals that no retry gets past: an SSO login that has run out
_EXPIRED_ERRORS = frozenset({"UnauthorizedSSOTokenError", "SSOTokenLoadError"})


def _expired_for_good(error: Exception) -> bool:
    """Whether a refresh failed because the credentials' source has only expired ones
    (botocore: "Credentials were refreshed, but the refreshed credentials are still
    expired."), which asking again cannot change."""
    if type(error).__name__ in _EXPIRED_ERRORS:
        return True
    return isinstance(error, RuntimeError) and "still expired" in str(error)


class BedrockAuth:
    """Produces the auth headers of one request; resolves region and credentials lazily.

    ``bearer`` (a Bedrock API key) wins over SigV4 when given. ``region`` and
    ``profile`` come from ``[providers.NAME]``; without a region the
    environment (``AWS_REGION``, ``AWS_DEFAULT_REGION``) and then the profile's
    config file are asked. The secret key and session token the chain yields
    (from a profile, SSO, IMDS: wherever) are added to ``known``, so that an error
    quoting one back is masked wherever it lands.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        bearer: Secret | None = None,
        env: Mapping[str, str] | None = None,
        known: KnownSecrets | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self._region = region or next((env[v] for v in REGION_ENV if env.get(v)), None)
        self._profile = profile
        self._bearer = bearer
        self._credentials: Any = None  # botocore Credentials, once resolved
        self._lock: anyio.Lock | None = None
        self._known = KnownSecrets() if known is None else known
        #: the secret key and token last added to ``known``, and the pair before
        self._masked: tuple[str | None, str | None] = (None, None)
        self._previous: tuple[str | None, str | None] = (None, None)

    def __repr__(self) -> str:
        how = "bearer" if self._bearer else "sigv4"
        return f"BedrockAuth(region={self._region!r}, profile={self._profile!r}, auth={how})"

    @property
    def uses_bearer(self) -> bool:
        """Whether requests carry a Bedrock API key instead of a SigV4 signature."""
        return bool(self._bearer)

    async def region(self) -> str:
        """The AWS region, resolving it (and the credentials) on first use."""
        if self._region is None:
            await self._resolve()
        assert self._region is not None
        return self._region

    async def headers(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        bearer_header: str = "authorization",
        region: str | None = None,
    ) -> dict[str, str]:
        """The headers to send: ``headers`` plus authentication for this exact request.

        Only ``headers`` and the host are signed; whatever httpx adds later
        (user-agent, accept-encoding, content-length) stays out of the signature.
        A Bedrock API key goes in ``bearer_header``: ``Authorization: Bearer`` for
        Bedrock's own APIs, the bare key in ``x-api-key`` for the Messages API.
        A SigV4 signature is scoped to ``region`` when given (a model ARN's),
        else to the configured region.
        """
        if self._bearer:
            key = self._bearer.reveal()
            value = f"Bearer {key}" if bearer_header == "authorization" else key
            return {**headers, bearer_header: value}
        credentials = await self._frozen_credentials()
        region = region or await self.region()
        return _sign(credentials, region, method, url, body, headers)

    async def _frozen_credentials(self) -> Any:
        if self._credentials is None:
            await self._resolve()
        credentials = self._credentials
        # A refresh may call STS, SSO or IMDS: never on the event loop. The
        # common case (still fresh) is a cheap in-memory check.
        refresh_needed = getattr(credentials, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():
            try:
                frozen = await anyio.to_thread.run_sync(credentials.get_frozen_credentials)
            except Exception as e:  # botocore's STS/SSO/IMDS errors, whatever their type
                expired = _expired_for_good(e)
                raise AuthenticationError(
                    f"refreshing the AWS credentials failed: {e}",
                    # metadata endpoints and STS have bad moments; a source that gave
                    # expired credentials (or an SSO login that ran out) gives them again
                    retryable=not expired,
                    hint=_EXPIRED_HINT if expired else _NO_CREDENTIALS_HINT,
                ) from e
        else:
            frozen = credentials.get_frozen_credentials()
        self._mask(frozen.secret_key, frozen.token)
        return frozen

    def _mask(self, secret_key: str | None, token: str | None) -> None:
        # Each new pair once. Refreshable credentials (STS, SSO, IMDS) change hourly:
        # a new pair drops the one before the last (requests signed with the last
        # may still be answered), so the set stays small over days of refreshes.
        # Credentials from the environment or a file never change, so are never dropped.
        pair = (secret_key, token)
        if pair == self._masked:
            return
        for value in pair:
            self._known.add(value)
        for value in self._previous:
            if value not in pair and value not in self._masked:
                self._known.discard(value)
        self._previous, self._masked = self._masked, pair

    async def _resolve(self) -> None:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._region is not None and (self._bearer or self._credentials is not None):
                return
            region, credentials = await anyio.to_thread.run_sync(
                _resolve_chain, self._profile, self._region is None, not self._bearer
            )
            self._region = self._region or region
            if not self._bearer:
                self._credentials = credentials
        if self._region is None:
            raise ConfigError(
                "no AWS region for Bedrock",
                hint="set AWS_REGION, or region = 'us-east-1' in [providers.bedrock]",
            )


def _resolve_chain(
    profile: str | None, want_region: bool, want_credentials: bool
) -> tuple[str | None, Any]:
    """Run in a worker thread: import botocore and walk the AWS configuration chain."""
    # botocore.auth and .awsrequest are imported here too so that signing on
    # the event loop later finds them already loaded.
    import botocore.auth
    import botocore.awsrequest
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        region = session.get_config_variable("region") if want_region else None
        credentials = session.get_credentials() if want_credentials else None
    except botocore.exceptions.ProfileNotFound as e:
        raise ConfigError(
            f"AWS profile {profile!r} was not found",
            hint="check AWS_PROFILE or [providers.NAME] profile",
        ) from e
    except botocore.exceptions.BotoCoreError as e:
        raise ConfigError(f"could not load AWS credentials: {e}", hint=_NO_CREDENTIALS_HINT) from e
    if want_credentials and credentials is None:
        raise ConfigError("no AWS credentials found for Bedrock", hint=_NO_CREDENTIALS_HINT)
    return region, credentials


def _sign(
    credentials: Any, region: str, method: str, url: str, body: bytes, headers: Mapping[str, str]
) -> dict[str, str]:
    # Already loaded by _resolve_chain in the worker thread, so importing is a dict look-up.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, SIGNING_SERVICE, region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}
