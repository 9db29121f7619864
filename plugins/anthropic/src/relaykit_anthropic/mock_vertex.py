"""A loopback server speaking Claude on Vertex AI, and Google's token endpoint.

Paths, from Anthropic's "Claude on Vertex AI" and Google's "Use Claude models"
pages: ``POST /v1/projects/{project}/locations/{location}/publishers/anthropic/
models/{model}:rawPredict`` (a Messages call), ``:streamRawPredict`` (the same,
streamed as Anthropic's SSE events), ``.../models/count-tokens:rawPredict``
(``{"input_tokens": N}``), ``GET /v1beta1/publishers/anthropic/models`` (the
publisher's models, paginated), and ``POST /token``, Google's OAuth2 token
endpoint (:class:`~relaykit_google_auth.mock_oauth.TokenEndpoint`): point a
credentials file's ``token_uri`` at :attr:`VertexClaudeMock.token_uri`.

The Messages bodies are answered by :class:`~relaykit_anthropic.testing.AnthropicMock`
(its checks, scripts, caching and thinking), after what is Vertex's own is
checked as Vertex checks it: ``anthropic_version`` in the body, and
``vertex-2023-10-16``; no ``model`` in it (the URL names it; count-tokens'
body names it instead); ``stream`` in the body of ``:streamRawPredict``
only; ``Authorization: Bearer`` with a token the endpoint issued (or one of
``static_tokens``, or of a :attr:`~VertexClaudeMock.trusted` issuer such as a
metadata server mock), else 401 ``UNAUTHENTICATED``; the project in the path,
else 403 ``PERMISSION_DENIED``; a model the location does not serve, 404
``NOT_FOUND``. Those three are Google's errors (``{"error": {"code",
"message", "status"}}``), Claude's own errors Anthropic's. A scripted 401
answers the request retried with a fresh token too, as Vertex refuses every
token of bad credentials. Messages Google does not publish are the mock's.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from relaykit.testing.loopback import Request, Response
from relaykit_google_auth.mock_oauth import TokenEndpoint, UserGrant

from . import mock_thinking
from .testing import AnthropicMock, error_response, not_json_refusal

#: Claude models as Vertex names them, with the locations serving each (``None``: all)
VERTEX_MODELS: tuple[tuple[str, str, str], ...] = (
    ("claude-opus-4-7", "Claude Opus 4.7", "2026-04-16T00:00:00Z"),
    ("claude-haiku-4-5@20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-sonnet-4-5@20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1@20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-sonnet-4@20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
)
#: what the ``global`` location serves (Sonnet 4.5 and later); regions serve every model
GLOBAL_MODELS = frozenset(
    {"claude-opus-4-7", "claude-haiku-4-5@20251001", "claude-sonnet-4-5@20250929"}
)
VERSION = "vertex-2023-10-16"

_MODEL_PATH = re.compile(
    r"/v1/projects/([^/]+)/locations/([^/]+)/publishers/anthropic/models/([^/:]+):([A-Za-z]+)"
)
_LIST_PATH = "/v1beta1/publishers/anthropic/models"
_BAD_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class TokenIssuer(Protocol):
    """Anything that says whether it issued a bearer token (a metadata server mock)."""

    def valid(self, token: str) -> bool:
        """Whether ``token`` is one it issued."""
        ...


class VertexClaudeMock(AnthropicMock):
    """Vertex AI serving Claude at ``base_url`` (``http://127.0.0.1:PORT``, no version)
    for ``project``; its token endpoint at :attr:`token_uri`.

    ``service_accounts`` maps each ``client_email`` to its RSA public key; ``users``
    are the refresh tokens honoured; ``static_tokens`` are bearer tokens accepted as
    they are. :attr:`tokens` is the token endpoint; :attr:`trusted` other issuers
    whose tokens are accepted.
    """

    unprefixed_paths = frozenset({"/token"})  # Google's own host, not the gateway's

    #: Vertex AI serves the basic web search tool only (Anthropic's web search page)
    dynamic_web_search = False

    def __init__(
        self,
        *,
        project: str = "mock-project",
        service_accounts: Mapping[str, Any] | None = None,
        users: Iterable[UserGrant] = (),
        static_tokens: Iterable[str] = (),
        models: tuple[tuple[str, str, str], ...] = VERTEX_MODELS,
        page_size: int = 1000,
    ) -> None:
        super().__init__(None, models, page_size=page_size)
        self.project = project
        self.static_tokens = set(static_tokens)
        self.tokens = TokenEndpoint(service_accounts=service_accounts, users=users)
        self.trusted: list[TokenIssuer] = []
        self._refused_again: Response | None = None  # a scripted 401, for the retry too

    @property
    def token_uri(self) -> str:
        """The token endpoint's address, for a credentials file's ``token_uri``."""
        return f"{self.server.url}/token"

    def model_requests(self, method: str | None = None) -> list[Request]:
        """The requests to a model (not to the token endpoint), of ``method`` if given."""
        return [
            r
            for r in self.requests
            if r.path != "/token" and (method is None or r.path.endswith(f":{method}"))
        ]

    def sent_reasoning(self, request: Request) -> Any:
        """The thinking setting a request carried (its body names no model: the URL's)."""
        found = _MODEL_PATH.fullmatch(request.path)
        body = request.json()
        if found:
            body = {**body, "model": found.group(3)}
        return mock_thinking.sent_reasoning(body)

    async def route(self, request: Request) -> Response:
        """The token endpoint, the listing, or a model's method, checked as Vertex checks."""
        if request.path == "/token" and request.method == "POST":
            return await self.tokens.answer(request, self.token_uri)
        refused = self._unauthenticated(request)
        if request.path == _LIST_PATH and request.method == "GET":
            return refused or self._publisher_models(request.query)
        found = _MODEL_PATH.fullmatch(request.path)
        if request.method != "POST" or not found:
            return _google_error(
                404, "NOT_FOUND", f"The requested URL {request.path} was not found."
            )
        project, location, model, method = found.groups()
        refused = refused or self._outside(project, location, model, method)
        if refused is not None:
            return refused
        if self._refused_again is not None:
            again, self._refused_again = self._refused_again, None
            return again
        refused = not_json_refusal(request)
        if refused is not None:
            return refused
        body = request.json()
        if not isinstance(body, dict):
            return error_response(400, "invalid_request_error", "Request body must be an object")
        if model == "count-tokens":
            return self._vertex_count(body)
        problem = _vertex_problem(body, method)
        if problem:
            return error_response(400, "invalid_request_error", problem)
        del body["anthropic_version"]
        response = await self._messages({**body, "model": model})
        if response.status == 401:
            # A scripted 401 stands for credentials Vertex refuses: a fresh token is
            # refused too, so the request retried with one gets the same answer.
            self._refused_again = response
        return response

    # -- Vertex's own checks ---------------------------------------------------------

    def _unauthenticated(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and (
            token in self.static_tokens
            or self.tokens.valid(token)
            or any(t.valid(token) for t in self.trusted)
        ):
            return None
        return _google_error(
            401,
            "UNAUTHENTICATED",
            _BAD_CREDENTIAL,
            headers={"www-authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )

    def _outside(self, project: str, location: str, model: str, method: str) -> Response | None:
        resource = f"projects/{project}/locations/{location}/publishers/anthropic/models/{model}"
        if project != self.project:
            return _google_error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'aiplatform.endpoints.predict' denied on resource "
                f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
            )
        if method not in ("rawPredict", "streamRawPredict") or (
            model == "count-tokens" and method != "rawPredict"
        ):
            return _google_error(400, "INVALID_ARGUMENT", f"Method {method} is not served.")
        served = [m[0] for m in self.models]
        if model != "count-tokens" and (
            model not in served or (location == "global" and model not in GLOBAL_MODELS)
        ):
            return _google_error(
                404,
                "NOT_FOUND",
                f"Publisher Model `{resource}` not found.",
            )
        return None

    def _vertex_count(self, body: dict[str, Any]) -> Response:
        version = body.pop("anthropic_version", VERSION)
        if version != VERSION:
            return error_response(
                400, "invalid_request_error", f"anthropic_version: Input should be '{VERSION}'"
            )
        if body.get("model") not in [m[0] for m in self.models]:
            return error_response(
                404, "not_found_error", f"model: {body.get('model')!r} is not served here"
            )
        return self._count_tokens(body)

    def _publisher_models(self, query: Mapping[str, str]) -> Response:
        try:
            size = min(int(query.get("pageSize") or 100), self.page_size or 1000)
            start = (
                int(base64.urlsafe_b64decode(query["pageToken"]).decode())
                if query.get("pageToken")
                else 0
            )
        except (ValueError, binascii.Error):
            return _google_error(400, "INVALID_ARGUMENT", "Invalid page token or page size.")
        page = self.models[start : start + size]
        data: dict[str, Any] = {
            "publisherModels": [
                {
                    "name": f"publishers/anthropic/models/{m[0]}",
                    "versionId": "001",
                    "openSourceCategory": "PROPRIETARY",
                    "launchStage": "GA",
                }
                for m in page
            ]
        }
        if start + size < len(self.models):
            data["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return Response.json(data)


def _vertex_problem(body: dict[str, Any], method: str) -> str | None:
    """What Vertex refuses in a Messages body sent to ``method``, or ``None``."""
    if "anthropic_version" not in body:
        return "anthropic_version: Field required"
    if body["anthropic_version"] != VERSION:
        return f"anthropic_version: Input should be '{VERSION}'"
    if "model" in body:
        return "model: Extra inputs are not permitted"
    if bool(body.get("stream")) != (method == "streamRawPredict"):
        return f"stream must be {method == 'streamRawPredict'} for {method}"
    return None


def _google_error(
    code: int, status: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response.json(
        {"error": {"code": code, "message": message, "status": status}}, code, headers
    )


__all__ = ["GLOBAL_MODELS", "VERSION", "VERTEX_MODELS", "TokenIssuer", "VertexClaudeMock"]
