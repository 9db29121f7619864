"""Google's OAuth2 token endpoint (``https://oauth2.googleapis.com/token``), as a mock
answers it, for the Vertex AI mocks of relaykit-gemini and relaykit-anthropic, and the
credential files that point at it (:func:`service_account_info`, :func:`authorized_user_info`).

A form-encoded POST (``application/x-www-form-urlencoded``) with one of two grants:

- ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT`` from a
  service account: the JWT's signature is checked (RS256, with the public key
  registered for its ``iss``), and its claims as Google checks them (``aud`` is
  this endpoint, ``scope`` holds cloud-platform, ``iat`` and ``exp`` at most an
  hour apart around now);
- ``grant_type=refresh_token&client_id=...&client_secret=...&refresh_token=...``
  from a user's gcloud login, checked against the registered :class:`UserGrant`\\ s.

It answers ``{"access_token": "ya29....", "expires_in": N, "token_type":
"Bearer"}``, or an OAuth error, ``{"error": "invalid_grant",
"error_description": "Invalid JWT Signature."}``, in Google's words where
users have quoted them. :attr:`TokenEndpoint.failures` scripts failures.
Verifying signatures needs ``cryptography`` (the ``service-account`` extra).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

import anyio
import attrs

from relaykit.testing.loopback import Request, Response

from .google_credentials import SCOPE
from .service_account_jwt import JWT_BEARER_GRANT

_BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
#: how far a JWT's ``iat`` may be from the endpoint's clock (Google allows some skew)
CLOCK_SKEW = 300


@attrs.frozen
class UserGrant:
    """A user's refresh token the endpoint honours, with its OAuth client."""

    client_id: str
    client_secret: str
    refresh_token: str


@attrs.frozen
class TokenFailure:
    """A scripted answer of the endpoint: ``status`` with an OAuth error body."""

    status: int
    error: str
    description: str


class TokenEndpoint:
    """Issues access tokens to the service accounts (``client_email`` -> RSA public key)
    and users it knows; :meth:`valid` says whether a bearer token is one it issued.

    ``lifetime`` is each token's ``expires_in``; ``delay`` holds each answer back
    that long (to let concurrent callers pile up).
    """

    #: how each token begins (Google's own begin ``ya29.``; a test of a token no
    #: pattern knows sets another)
    token_prefix = "ya29.mock"

    def __init__(
        self,
        *,
        service_accounts: Mapping[str, Any] | None = None,
        users: Iterable[UserGrant] = (),
        lifetime: int = 3600,
        delay: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service_accounts = dict(service_accounts or {})
        self.users = {u.client_id: u for u in users}
        self.lifetime = lifetime
        self.delay = delay
        self._clock = clock
        #: every token request, as the form it sent (secrets and all: it is a test's log)
        self.requests: list[dict[str, str]] = []
        #: answers to give before any other, first first
        self.failures: list[TokenFailure] = []
        self._issued: dict[str, str] = {}  # token -> to whom
        self._n = itertools.count(1)

    def valid(self, token: str) -> bool:
        """Whether ``token`` is one this endpoint issued and has not revoked."""
        return token in self._issued

    def revoke_all(self) -> None:
        """Make every token issued so far invalid (Vertex then answers 401 to them)."""
        self._issued.clear()

    async def answer(self, request: Request, token_uri: str) -> Response:
        """Answer one token request; ``token_uri`` is the address it was sent to."""
        if self.delay:
            await anyio.sleep(self.delay)
        if request.headers.get("content-type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            return _oauth_error(400, "invalid_request", "Bad Request")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        self.requests.append(form)
        if self.failures:
            failure = self.failures.pop(0)
            return _oauth_error(failure.status, failure.error, failure.description)
        grant = form.get("grant_type")
        if grant == JWT_BEARER_GRANT:
            who, problem = self._check_assertion(form.get("assertion", ""), token_uri)
        elif grant == "refresh_token":
            who, problem = self._check_refresh(form)
        else:
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        if problem is not None:
            return problem
        token = f"{self.token_prefix}{next(self._n):04d}-{secrets.token_urlsafe(24)}"
        self._issued[token] = who
        return Response.json(
            {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}
        )

    def _check_assertion(self, assertion: str, token_uri: str) -> tuple[str, Response | None]:
        try:
            head, body, signature = assertion.split(".")
            header = json.loads(_unb64(head))
            claims = json.loads(_unb64(body))
            signed = _unb64(signature)
        except ValueError:
            return "", _oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return "", _oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion.")
        issuer = str(claims.get("iss"))
        key = self.service_accounts.get(issuer)
        if key is None:
            return issuer, _oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256" or not _verified(key, f"{head}.{body}", signed):
            return issuer, _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != token_uri:
            return issuer, _oauth_error(
                400,
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The right audience is {token_uri}",
            )
        iat, exp = claims.get("iat"), claims.get("exp")
        now = self._clock()
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or not 0 < exp - iat <= 3600
            or abs(iat - now) > CLOCK_SKEW
        ):
            return issuer, _oauth_error(400, "invalid_grant", _BAD_TIMES)
        if SCOPE not in str(claims.get("scope", "")).split():
            return issuer, _oauth_error(
                400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        return issuer, None

    def _check_refresh(self, form: Mapping[str, str]) -> tuple[str, Response | None]:
        user = self.users.get(form.get("client_id", ""))
        if user is None:
            return "", _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if form.get("client_secret") != user.client_secret:
            return user.client_id, _oauth_error(401, "invalid_client", "Unauthorized")
        if form.get("refresh_token") != user.refresh_token:
            return user.client_id, _oauth_error(
                400, "invalid_grant", "Token has been expired or revoked."
            )
        return user.client_id, None


def _unb64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, TypeError) as e:
        raise ValueError("not base64url") from e


def _verified(public_key: Any, signing_input: str, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        public_key.verify(signature, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, status)


def service_account_info(
    client_email: str,
    private_key_pem: str,
    token_uri: str,
    *,
    project_id: str | None = "mock-project",
    private_key_id: str = "0123456789abcdef0123456789abcdef01234567",
) -> dict[str, Any]:
    """A service account key file's JSON, as the console downloads it."""
    info: dict[str, Any] = {
        "type": "service_account",
        "private_key_id": private_key_id,
        "private_key": private_key_pem,
        "client_email": client_email,
        "client_id": "112233445566778899001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",
    }
    if project_id is not None:
        info["project_id"] = project_id
    return info


def authorized_user_info(
    grant: UserGrant, token_uri: str | None, *, quota_project_id: str | None = None
) -> dict[str, Any]:
    """What ``gcloud auth application-default login`` writes (``token_uri`` only in
    newer files: ``None`` leaves it out, as older ones do)."""
    info: dict[str, Any] = {
        "account": "",
        "client_id": grant.client_id,
        "client_secret": grant.client_secret,
        "refresh_token": grant.refresh_token,
        "type": "authorized_user",
        "universe_domain": "googleapis.com",
    }
    if token_uri is not None:
        info["token_uri"] = token_uri
    if quota_project_id is not None:
        info["quota_project_id"] = quota_project_id
    return info
