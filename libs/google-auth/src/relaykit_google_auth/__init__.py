"""Google Cloud credentials and settings for relaykit's Vertex AI providers.

A library that relaykit-gemini and relaykit-anthropic depend on (plugins may not
depend on each other), not a plugin: it has no entry point. It finds credentials
as Google's SDKs do (a service account's key file, a gcloud login, the metadata
server of a Google Cloud machine, or a static token) and keeps their access tokens
fresh (:class:`AccessTokens`); it reads a provider's project and location
(:mod:`.vertex_settings`) and explains Vertex AI's 401s and 403s
(:mod:`.vertex_errors`). The mocks of Google's token endpoint and metadata server
are :mod:`.mock_oauth` and :mod:`.mock_metadata`, the tests' helpers :mod:`.testing`
(imported on demand, not from here).
"""

from .access_tokens import AccessTokens
from .google_credentials import (
    SCOPE,
    AuthorizedUser,
    Credentials,
    MetadataAccount,
    ServiceAccount,
)

__all__ = [
    "SCOPE",
    "AccessTokens",
    "AuthorizedUser",
    "Credentials",
    "MetadataAccount",
    "ServiceAccount",
]
