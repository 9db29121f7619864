"""OAuth2 access tokens for Vertex AI: fetched when needed, kept until shortly before
they expire, fetched once however many calls wait for one.

A service account's token comes from exchanging a signed JWT
(``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT``), a
user's from their refresh token (``grant_type=refresh_token&client_id=...
&client_secret=...&refresh_token=...``), both form-encoded to the file's
``token_uri``, which answers ``{"access_token", "expires_in", "token_type"}``
or ``{"error", "error_description"}``. On a Google Cloud machine with neither,
the metadata server gives the machine's service account's token
(:mod:`relaykit_google_auth.metadata_server`). A static token
(``VERTEX_ACCESS_TOKEN``) is used as it is and never refreshed.

The credentials file is read, and a JWT signed, in a worker thread: both block.
Where the credentials are is settled once, on first use, and kept; a failure to
find any is not kept (the next call looks again).
A token is refreshed :data:`REFRESH_MARGIN` seconds before Google says it
expires (half its life, for short-lived ones), so a call never starts with a
token about to lapse. Calls that find no fresh token queue on one lock; the
first fetches, the rest take what it got, or, if it failed, the same error
rather than one more request to an endpoint that just refused.

Each token fetched joins the client's known secrets (``known_secrets``, the
provider's ``ProviderSettings.known_secrets``), so errors, logs and records mask
it whatever its shape (a metadata server's or a federated token need not look
like ``ya29.``); a token two refreshes old, long out of use, leaves them again.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
import attrs

from relaykit import (
    AuthenticationError,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
    Secret,
    json_decode,
)
from relaykit.http import transport_error, unsent
from relaykit.known_secrets import KnownSecrets

from . import metadata_server, service_account_jwt
from .google_credentials import (
    AuthorizedUser,
    Credentials,
    FileCredentials,
    MetadataAccount,
    ServiceAccount,
    find_credentials,
    no_credentials,
    read_credentials,
)

if TYPE_CHECKING:
    from relaykit.http import HttpClient

#: seconds before its expiry that a token is refreshed (google-auth waits till 3m45s)
REFRESH_MARGIN = 300.0
#: a token's life when the endpoint does not say (Google's are an hour)
DEFAULT_LIFETIME = 3600.0
#: the tokens fetched that stay known secrets: the one in use and the one before
#: it (a call that began with it may still fail, quoting it)
KEEP_MASKED = 2
_FORM = {"content-type": "application/x-www-form-urlencoded"}


@attrs.frozen
class AccessToken:
    """A bearer token and the moment (``clock`` time) it stops being used."""

    value: Secret
    fresh_until: float


class AccessTokens:
    """The access tokens of one provider's credentials.

    ``static`` is a token to use as it is (never refreshed). Otherwise the
    credentials are found (``credentials_file``, ``GOOGLE_APPLICATION_CREDENTIALS``
    in ``env``, gcloud's file, the metadata server) and read on first use.
    ``http`` is the provider's pooled client; ``known_secrets`` the client's
    secrets, which each fetched token joins (the provider's
    ``settings.known_secrets``; ``None``: a set of its own); ``clock`` (monotonic
    seconds), ``wall`` (seconds since the epoch, for the JWT) and
    ``product_name_file`` (where Linux names the machine) are there for tests.
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        name: str,
        static: Secret | None = None,
        credentials_file: str | None = None,
        env: Mapping[str, str],
        known_secrets: KnownSecrets | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        product_name_file: str = metadata_server.PRODUCT_NAME_FILE,
    ) -> None:
        self._http = http
        self._name = name
        self._static = static
        self._file = credentials_file
        self._env = env
        self._clock = clock
        self._wall = wall
        self._product_name_file = product_name_file
        self._credentials: Credentials | None = None
        self._cached: AccessToken | None = None
        self._lock: anyio.Lock | None = None  # held while a token is fetched
        self._read_lock: anyio.Lock | None = None  # held while the file is read
        self._fetches = 0  # fetches finished (or failed) so far
        self._failure: RelayError | None = None  # the last fetch's error, if it failed
        self._known = KnownSecrets() if known_secrets is None else known_secrets
        self._masked: list[Secret] = []  # the fetched tokens still masked, oldest first

    def __repr__(self) -> str:
        if self._static:
            return f"AccessTokens(name={self._name!r}, static token)"
        what = self._credentials.describe() if self._credentials else "not read yet"
        return f"AccessTokens(name={self._name!r}, credentials={what!r})"

    @property
    def refreshable(self) -> bool:
        """Whether a refused token can be replaced (not for a static token)."""
        return not self._static

    @property
    def loaded(self) -> Credentials | None:
        """The credentials if they have been read (for errors to name them)."""
        return self._credentials

    async def credentials(self) -> Credentials | None:
        """The credentials, read on first use (``None`` with a static token)."""
        if self._static:
            return None
        if self._credentials is None:
            if self._read_lock is None:
                self._read_lock = anyio.Lock()
            async with self._read_lock:
                if self._credentials is None:
                    self._credentials = await self._find()
        return self._credentials

    async def _find(self) -> Credentials:
        found = await anyio.to_thread.run_sync(self._read)
        if not isinstance(found, metadata_server.Probe):
            return found
        account = await metadata_server.discover(self._http, found)
        if isinstance(account, str):
            raise no_credentials(self._name, self._env, account)
        return account

    def _read(self) -> FileCredentials | metadata_server.Probe:
        """The file's credentials, or how to look for a metadata server (blocking)."""
        located = find_credentials(self._file, self._env, self._name)
        if located is not None:
            return read_credentials(*located, self._name)
        probe = metadata_server.probe(self._env, self._product_name_file)
        if isinstance(probe, str):
            raise no_credentials(self._name, self._env, probe)
        return probe

    async def authorization(self) -> tuple[dict[str, str], Secret]:
        """The headers that authorise a Vertex AI request now, and the token in them
        (to :meth:`invalidate` if Vertex refuses it). A gcloud login's calls are
        billed to its quota project (``x-goog-user-project``), as Google's SDKs do."""
        token = await self.token()
        headers = {"authorization": f"Bearer {token.reveal()}"}
        credentials = await self.credentials()
        if isinstance(credentials, AuthorizedUser) and credentials.quota_project_id:
            headers["x-goog-user-project"] = credentials.quota_project_id
        return headers, token

    def retry_after(self, status: int, token: Secret | None) -> bool:
        """Whether a request refused with ``status`` is worth one more try with a new
        token: a 401 to a token that can be replaced (which is then forgotten)."""
        if status != 401 or token is None or not self.refreshable:
            return False
        self.invalidate(token)
        return True

    def _locked(self) -> anyio.Lock:
        # Made on first use, inside the event loop whose tasks share it.
        if self._lock is None:
            self._lock = anyio.Lock()
        return self._lock

    async def token(self) -> Secret:
        """A token good for a call starting now, fetching one if there is none."""
        if self._static:
            return self._static
        cached = self._cached
        if cached is not None and self._clock() < cached.fresh_until:
            return cached.value
        seen = self._fetches
        async with self._locked():
            cached = self._cached
            if cached is not None and self._clock() < cached.fresh_until:
                return cached.value  # fetched while this call waited
            if self._fetches != seen and self._failure is not None:
                # It failed while this call waited: the same answer, not one more request.
                raise copy.copy(self._failure)
            # This fetch's failure, if any, is the one waiters share: not one left by an
            # earlier fetch (this one may end without a failure of its own: cancelled
            # with its caller, or a bug's exception), which they would get instead.
            self._failure = None
            try:
                self._cached = await self._fetch()
            except RelayError as e:
                # The request the token was for never left (whatever the token
                # endpoint's status says): limits give its hold back, and a batch's
                # submit knows no batch can exist.
                self._failure = unsent(e)
                raise
            finally:
                self._fetches += 1
            self._mask(self._cached.value)
            return self._cached.value

    def _mask(self, token: Secret) -> None:
        """Make ``token`` a known secret; forget the ones fetched before the last."""
        self._known.add(token)
        self._masked.append(token)
        while len(self._masked) > KEEP_MASKED:
            self._known.discard(self._masked.pop(0))

    def invalidate(self, refused: Secret) -> None:
        """Forget ``refused`` (Vertex answered 401 to it), unless a newer token replaced it."""
        if self._cached is not None and self._cached.value == refused:
            self._cached = None

    async def _fetch(self) -> AccessToken:
        credentials = await self.credentials()
        assert credentials is not None  # a static token never gets here
        if isinstance(credentials, MetadataAccount):
            started = self._clock()
            r = await metadata_server.token_response(self._http, credentials, self._name)
            if r.status_code >= 400:
                raise metadata_server.token_error(r.status_code, r.content, credentials, self._name)
            where = f"the metadata server ({credentials.root})"
            return _token(r.content, where, credentials, self._name, started)
        if isinstance(credentials, ServiceAccount):
            assertion = await anyio.to_thread.run_sync(
                service_account_jwt.signed_assertion, credentials, int(self._wall())
            )
            form = {"grant_type": service_account_jwt.JWT_BEARER_GRANT, "assertion": assertion}
        else:
            form = {
                "grant_type": "refresh_token",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret.reveal(),
                "refresh_token": credentials.refresh_token.reveal(),
            }
        started = self._clock()
        try:
            r = await self._http.post(
                credentials.token_uri, content=urlencode(form).encode(), headers=_FORM
            )
        except Exception as e:
            mapped = transport_error(e, provider=self._name, model=None)
            if mapped is None:
                raise
            mapped.message = f"Google's token endpoint ({credentials.token_uri}): {mapped.message}"
            raise mapped from e
        if r.status_code >= 400:
            raise token_error(r.status_code, r.content, credentials, self._name)
        where = f"Google's token endpoint ({credentials.token_uri})"
        return _token(r.content, where, credentials, self._name, started)


def _token(
    content: bytes, where: str, credentials: Credentials, name: str, started: float
) -> AccessToken:
    """The token of a 200 of ``where``, fresh until shortly before it expires (the
    margin is half its life for short-lived ones)."""
    value, lifetime = _granted(content, where, credentials, name)
    return AccessToken(Secret(value), started + lifetime - min(REFRESH_MARGIN, lifetime / 2))


def _granted(content: bytes, where: str, credentials: Credentials, name: str) -> tuple[str, float]:
    """The token and its lifetime (seconds) from a 200 of ``where``."""
    try:
        data = json_decode.loads(content)
        value = data["access_token"]
        lifetime = float(data.get("expires_in") or DEFAULT_LIFETIME)
    except (ValueError, TypeError, KeyError, AttributeError):
        value = None
        lifetime = 0.0
    if not isinstance(value, str) or not value or lifetime <= 0:
        raise ProviderUnavailableError(
            f"{where} answered without an access token for {credentials.describe()}",
            provider=name,
        )
    return value, lifetime


def token_error(status: int, content: bytes, credentials: FileCredentials, name: str) -> RelayError:
    """The typed error for a token endpoint's refusal: OAuth's ``error`` and
    ``error_description`` and the fix, naming the credentials, never their secrets."""
    code, description = _oauth_error(content)
    said = ": ".join(x for x in (code, description) if x) or f"HTTP {status}"
    kw: dict[str, Any] = {"provider": name, "status": status, "provider_message": said}
    where = f"Google's token endpoint ({credentials.token_uri})"
    if status == 429:
        return RateLimitError(f"{where} is rate limiting token requests: {said}", **kw)
    if status >= 500:
        return ProviderUnavailableError(f"{where} failed: {said}", **kw)
    if isinstance(credentials, AuthorizedUser):
        hint = (
            "run `gcloud auth application-default login` again: the refresh token has "
            "expired or been revoked"
            if code == "invalid_grant"
            else "run `gcloud auth application-default login` again"
        )
    else:
        key = f"key {credentials.private_key_id}" if credentials.private_key_id else "key"
        hint = (
            f"check that the {key} of {credentials.client_email} still exists and is enabled"
            " (IAM > Service accounts > Keys), and that this machine's clock is right"
        )
    return AuthenticationError(f"{where} refused {credentials.describe()}: {said}", hint=hint, **kw)


def _oauth_error(content: bytes) -> tuple[str | None, str | None]:
    """``(error, error_description)`` of an OAuth error body (RFC 6749 5.2), if it is one."""
    try:
        data = json_decode.loads(content)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("error")
    description = data.get("error_description")
    if isinstance(code, dict):  # some Google endpoints answer google.rpc errors instead
        return code.get("status"), code.get("message")
    return (
        code if isinstance(code, str) else None,
        description if isinstance(description, str) else None,
    )
