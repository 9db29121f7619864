"""The signed JWT a service account exchanges for an access token (RFC 7523).

Google's "OAuth 2.0 for server to server applications": a JWT whose header
says ``RS256`` (and the key's id, ``kid``), whose claims say who asks
(``iss``: the account's ``client_email``), for what (``scope``), of whom
(``aud``: the token endpoint) and when (``iat``, and ``exp`` an hour later, the
most Google takes), signed with the account's RSA key (PKCS#1 v1.5, SHA-256).

``cryptography`` signs; it is imported here only, the first time a service
account's token is needed, and is what the ``service-account`` extra installs
(and the ``vertex`` extras of relaykit-gemini and relaykit-anthropic, through it).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from relaykit import ConfigError

from .google_credentials import SCOPE, ServiceAccount

#: the ``grant_type`` of the token request that carries the JWT
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: how long the JWT is good for: an hour, Google's most
LIFETIME = 3600


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs spell their parts."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims(account: ServiceAccount, now: int) -> dict[str, Any]:
    """What the JWT asserts, issued at ``now`` (seconds since the epoch)."""
    return {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": now,
        "exp": now + LIFETIME,
    }


def signed_assertion(account: ServiceAccount, now: int) -> str:
    """The JWT, signed with the account's key (blocking: run it in a worker thread).

    Raises :class:`~relaykit.ConfigError` when ``cryptography`` is missing or
    the key is not a PEM RSA private key; the error names the file, never the key.
    """
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:
        raise ConfigError(
            "signing a service account's token request needs the cryptography package",
            hint="pip install 'relaykit-google-auth[service-account]' (or the provider "
            "plugin's [vertex] extra, which brings it)",
        ) from None
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, claims(account, now))
    ).encode("ascii")
    try:
        key = serialization.load_pem_private_key(
            account.private_key.reveal().encode(), password=None
        )
    except (ValueError, TypeError):
        key = None  # the library's message may quote the key: it is not passed on
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            f"the private_key in {account.path} is not a PEM RSA private key",
            hint="download a new JSON key for the service account (IAM > Service accounts > "
            "Keys > Add key)",
        )
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"
