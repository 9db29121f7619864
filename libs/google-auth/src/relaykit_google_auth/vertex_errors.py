"""The fixes for Vertex AI's refusals that are about Google Cloud, not the model:
what a 401 or 403 means and what to do, naming the project and who called.

Vertex AI answers ``403 PERMISSION_DENIED`` ("Permission
'aiplatform.endpoints.predict' denied on resource ...") to a principal without
the Vertex AI User role on the project (or to a project that does not exist),
``403 SERVICE_DISABLED`` ("Vertex AI API has not been used in project ...")
where the API is off, and ``401 UNAUTHENTICATED`` to an expired or revoked token.
"""

from __future__ import annotations

from .access_tokens import AccessTokens


def auth_hint(status: int, text: str, tokens: AccessTokens, project: str | None) -> str:
    """The fix for Vertex AI's 401 or 403 (``text`` is its error body) to a call made
    with ``tokens``' credentials in ``project`` (``None``: not known yet)."""
    where = project or "the project"
    if "SERVICE_DISABLED" in text or "has not been used in project" in text:
        return (
            f"enable the Vertex AI API in project {where}: `gcloud services enable "
            f"aiplatform.googleapis.com --project {where}`"
        )
    if status == 403:
        if "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in text:
            return (
                f"{principal(tokens)}'s token lacks the cloud-platform scope: give the "
                "machine's service account that access scope, or use a key file"
            )
        return (
            f"check the project id ({where}) and that {principal(tokens)} has the "
            "Vertex AI User role (roles/aiplatform.user) on it"
        )
    if not tokens.refreshable:
        return (
            "the static access token (VERTEX_ACCESS_TOKEN or api_key) has expired or is "
            "wrong: mint a new one with `gcloud auth print-access-token`"
        )
    credentials = tokens.loaded
    what = credentials.describe() if credentials else "the credentials"
    return f"Vertex AI refused a new access token from {what}: check those credentials"


def principal(tokens: AccessTokens) -> str:
    """Who Vertex AI saw calling, in words a hint can carry."""
    credentials = tokens.loaded
    return credentials.principal if credentials is not None else "the token's account"
