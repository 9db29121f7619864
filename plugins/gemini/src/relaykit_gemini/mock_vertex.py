"""A loopback server speaking Vertex AI's Gemini endpoints and Google's token endpoint.

Paths, from Vertex AI's REST reference: ``POST
/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:
generateContent`` (and ``:streamGenerateContent?alt=sse``, ``:countTokens``,
``:predict`` for embeddings), the same under ``/v1beta1``; express mode's
``/v1/publishers/google/models/{model}:{method}`` with ``x-goog-api-key``;
``GET /v1beta1/publishers/google/models`` (the publisher's models, paginated);
and ``POST /token``, Google's OAuth2 token endpoint
(:class:`~relaykit_google_auth.mock_oauth.TokenEndpoint`): point a credentials
file's ``token_uri`` at :attr:`VertexMock.token_uri`.

The bodies are the Gemini API's (:class:`~relaykit_gemini.testing.GeminiMock`
answers them, scripts and all; a scripted 401 answers the request retried
with a fresh token too, as Vertex refuses every token of bad credentials).
What is Vertex's own is checked as Vertex checks it: ``Authorization: Bearer``
with a token the endpoint issued (or one of ``static_tokens``), else 401
``UNAUTHENTICATED``; the project in the path, else 403 ``PERMISSION_DENIED``
("Permission 'aiplatform.endpoints.predict' denied on resource ... (or it may
not exist)."), or ``SERVICE_DISABLED`` when ``api_enabled`` is false; a model
it has not, 404 ("Publisher Model ... was not found or your project does not
have access to it."); a ``countTokens`` body with Vertex's fields only (no
``generateContentRequest``); a ``:predict`` body of ``instances``
(``content``, ``task_type``, ``title``) and ``parameters`` (``autoTruncate``,
``outputDimensionality``), one instance for a Gemini embedding model, 250 for
others, and at most 20,000 tokens in all (each text's counted up to the 2,048
a text is truncated to: :func:`~relaykit.testing.mock_embedding_tokens`).
Each ``:predict`` call takes the script's next reply, as the Gemini API's
embeddings do (a failure, a connection fault, a ``delay``, its headers).
Messages Google does not publish are the mock's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from relaykit.testing.embedding_vectors import MOCK_DIMENSIONS, mock_embedding_tokens, mock_vector
from relaykit.testing.loopback import Request, Response
from relaykit.testing.script import Reply, count_tokens
from relaykit.testing.vendor_mock import scripted_fault
from relaykit_google_auth.mock_oauth import (
    TokenEndpoint,
    UserGrant,
    authorized_user_info,
    service_account_info,
)

from . import mock_audio, mock_grounding
from .testing import (
    MODELS,
    GeminiMock,
    _error,
    _invalid_key,
    _prompt,
    _scripted_error,
    document_tokens,
    validate,
)

#: the Gemini API mock's models, and Vertex's English embedding model
VERTEX_MODELS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    *MODELS,
    ("text-embedding-005", 2_048, 1, ("embedContent",)),
)
#: the most instances a ``:predict`` call may hold (one for Gemini embedding models)
PREDICT_LIMIT = 250
#: the most input tokens a ``:predict`` call may hold, and the most of one text's
#: that count (Vertex truncates a text to them)
PREDICT_TOKEN_LIMIT = 20_000
TEXT_TOKEN_LIMIT = 2_048

_VERSION = r"/(v1|v1beta1)"
_MODEL_PATH = r"publishers/google/models/([^/:]+):([A-Za-z]+)"
_REGIONAL = re.compile(rf"{_VERSION}/projects/([^/]+)/locations/([^/]+)/{_MODEL_PATH}")
_EXPRESS = re.compile(rf"{_VERSION}/{_MODEL_PATH}")
_LIST_PATH = "/v1beta1/publishers/google/models"
_COUNT_FIELDS = ("model", "instances", "contents", "tools", "systemInstruction", "generationConfig")
_INSTANCE_FIELDS = ("content", "task_type", "title")
_PARAMETER_FIELDS = ("autoTruncate", "outputDimensionality")
_TASK_TYPES = (
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
)
_NO_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_BAD_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class VertexMock(GeminiMock):
    """Vertex AI at ``base_url`` (``http://127.0.0.1:PORT``, no version), serving
    ``project``; its token endpoint at :attr:`token_uri`.

    ``service_accounts`` maps each ``client_email`` to its RSA public key;
    ``users`` are the refresh tokens honoured; ``static_tokens`` are bearer
    tokens accepted as they are (a ``VERTEX_ACCESS_TOKEN``); ``express_key``
    is the express mode API key, if there is one. :attr:`tokens` is the token
    endpoint (its log, scripted failures, :meth:`~TokenEndpoint.revoke_all`).
    Vertex's ``googleSearch`` takes ``excludeDomains`` too, and its Gemini models
    read more audio types (M4A, WebM...: :data:`.mock_audio.VERTEX_AUDIO_TYPES`).
    ``toolConfig.functionCallingConfig.streamFunctionCallArguments`` is Vertex's
    alone: with it a stream's function calls come in pieces
    (:func:`relaykit_gemini.mock_partial_args.call_chunks`).
    """

    unprefixed_paths = frozenset({"/token"})  # Google's own host, not the gateway's

    search_fields: tuple[str, ...] = mock_grounding.VERTEX_SEARCH_FIELDS
    audio_types: tuple[str, ...] = mock_audio.VERTEX_AUDIO_TYPES
    vertex = True

    def __init__(
        self,
        *,
        project: str = "mock-project",
        service_accounts: Mapping[str, Any] | None = None,
        users: Iterable[UserGrant] = (),
        static_tokens: Iterable[str] = (),
        express_key: str | None = None,
        api_enabled: bool = True,
        token_lifetime: int = 3600,
        token_delay: float = 0.0,
        models: Sequence[tuple[str, int, int, tuple[str, ...]]] = VERTEX_MODELS,
        call_ids: bool = False,
        page_size: int = 1000,
    ) -> None:
        super().__init__(None, models, call_ids=call_ids, page_size=page_size)
        self.project = project
        self.static_tokens = set(static_tokens)
        self.express_key = express_key
        self.api_enabled = api_enabled
        self.tokens = TokenEndpoint(
            service_accounts=service_accounts,
            users=users,
            lifetime=token_lifetime,
            delay=token_delay,
        )
        # The project and location of the request being answered (set and read with no
        # await between, so concurrent requests do not see each other's).
        self._where = ("", "")
        self._refused_again: Response | None = None  # a scripted 401, for the retry too
        #: ``:predict`` calls being answered now, and the most there were at once
        self.predicts_in_flight = 0
        self.predicts_in_flight_max = 0

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

    async def route(self, request: Request) -> Response:
        """The token endpoint, the model listing, or a model's method, each checked as
        Vertex checks them."""
        if request.path == "/token" and request.method == "POST":
            return await self.tokens.answer(request, self.token_uri)
        if request.path == _LIST_PATH and request.method == "GET":
            return self._refused(request, express=False) or self._publisher_models(request.query)
        regional = _REGIONAL.fullmatch(request.path)
        express = _EXPRESS.fullmatch(request.path)
        if request.method != "POST" or not (regional or express):
            return _error(404, f"The requested URL {request.path} was not found on this server.")
        if regional:
            _, project, location, model, method = regional.groups()
            refused = self._refused(request, express=False) or self._outside(
                project, location, model
            )
        else:
            assert express is not None
            _, model, method = express.groups()
            project, location = "", ""
            refused = self._refused(request, express=True)
        if refused is not None:
            return refused
        if self._refused_again is not None:
            again, self._refused_again = self._refused_again, None
            return again
        self._where = (project, location)
        response = await self._dispatch(model, method, request)
        if response.status == 401:
            # A scripted 401 stands for credentials Vertex refuses: a fresh token is
            # refused too, so the request retried with one gets the same answer.
            self._refused_again = response
        return response

    async def _dispatch(self, model: str, method: str, request: Request) -> Response:
        if method in ("generateContent", "streamGenerateContent"):
            return await self._generate(model, method, request)
        if method == "countTokens":
            return self._vertex_count(model, request)
        if method == "predict":
            return await self._predict(model, request)
        return _error(400, f"Method {method} is not served for publisher models by the mock.")

    # -- credentials and permissions ----------------------------------------------

    def _refused(self, request: Request, *, express: bool) -> Response | None:
        if express:
            key = request.headers.get("x-goog-api-key")
            if self.express_key is not None and key == self.express_key:
                return None
            if key:
                return _invalid_key("aiplatform.googleapis.com")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _unauthenticated(_NO_CREDENTIAL, "CREDENTIALS_MISSING")
        if token in self.static_tokens or self.tokens.valid(token):
            return None
        return _unauthenticated(_BAD_CREDENTIAL, "ACCESS_TOKEN_EXPIRED")

    def _outside(self, project: str, location: str, model: str) -> Response | None:
        if project != self.project:
            resource = (
                f"//aiplatform.googleapis.com/projects/{project}/locations/{location}"
                f"/publishers/google/models/{model}"
            )
            return _error(
                403,
                f"Permission 'aiplatform.endpoints.predict' denied on resource '{resource}' "
                "(or it may not exist).",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "aiplatform.googleapis.com",
                        "metadata": {
                            "permission": "aiplatform.endpoints.predict",
                            "resource": resource.removeprefix("//aiplatform.googleapis.com/"),
                        },
                    }
                ],
            )
        if not self.api_enabled:
            return _error(
                403,
                f"Vertex AI API has not been used in project {project} before or it is "
                "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
                f"aiplatform.googleapis.com/overview?project={project} then retry.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "SERVICE_DISABLED",
                        "domain": "googleapis.com",
                        "metadata": {"service": "aiplatform.googleapis.com", "consumer": project},
                    }
                ],
            )
        return None

    def _unsupported(self, model: str, method: str, needs: str | None = None) -> Response | None:
        if any(m[0] == model and (needs or method) in m[3] for m in self.models):
            return None
        project, location = self._where
        where = f"projects/{project}/locations/{location}/" if project else ""
        return _error(
            404,
            f"Publisher Model `{where}publishers/google/models/{model}` was not found or your "
            "project does not have access to it. Please ensure you are using a valid model "
            "version. For more information, see: "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
        )

    # -- listing -------------------------------------------------------------------

    def _publisher_models(self, query: Mapping[str, str]) -> Response:
        return self._models_page(query, 100, "publisherModels", _publisher_model)

    # -- countTokens and predict ---------------------------------------------------

    def _vertex_count(self, model: str, request: Request) -> Response:
        refused = self._unanswerable(model, "countTokens", request, _count_problem)
        if refused is not None:
            return refused
        body = request.json()
        total = count_tokens(_prompt(body)) + document_tokens(body)
        characters = len(_prompt(body).replace(" ", ""))
        return Response.json({"totalTokens": total, "totalBillableCharacters": characters})

    async def _predict(self, model: str, request: Request) -> Response:
        refused = self._unanswerable(
            model, "predict", request, validate_predict, needs="embedContent"
        )
        if refused is not None:
            return refused
        body = request.json()
        reply = self.script.next(Reply())
        self.predicts_in_flight += 1
        self.predicts_in_flight_max = max(self.predicts_in_flight_max, self.predicts_in_flight)
        try:
            failed = await scripted_fault(reply, _scripted_error)
        finally:
            self.predicts_in_flight -= 1
        if failed is not None:
            return failed
        size = (body.get("parameters") or {}).get("outputDimensionality") or MOCK_DIMENSIONS
        texts = [instance["content"] for instance in body["instances"]]
        predictions = [
            {
                "embeddings": {
                    "values": list(mock_vector(text, size)),
                    "statistics": {"truncated": False, "token_count": mock_embedding_tokens(text)},
                }
            }
            for text in texts
        ]
        return Response.json(
            {
                "predictions": predictions,
                "metadata": {"billableCharacterCount": len("".join(texts))},
            },
            headers=dict(reply.headers),
        )


def _publisher_model(model: tuple[str, int, int, tuple[str, ...]]) -> dict[str, Any]:
    """One of the mock's models as Vertex lists a publisher model."""
    return {
        "name": f"publishers/google/models/{model[0]}",
        "versionId": "default",
        "openSourceCategory": "PROPRIETARY",
        "launchStage": "GA",
    }


def _count_problem(body: Any, model: str) -> str | None:
    """What is wrong with a Vertex ``countTokens`` body for ``model``, or ``None``: a
    ``generateContent`` body's fields (and ``model``), checked as one is."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for key in body:
        if key not in _COUNT_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
    return validate({k: v for k, v in body.items() if k != "model"}, model, vertex=True)


def validate_predict(body: Any, model: str) -> str | None:
    """What is wrong with a Text Embeddings ``:predict`` body for ``model``, or ``None``."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for key in body:
        if key not in ("instances", "parameters"):
            return f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        return "instances is required and must not be empty."
    limit = 1 if model.startswith("gemini-embedding") else PREDICT_LIMIT
    if len(instances) > limit:
        return (
            f"Unable to submit request because {model} takes at most {limit} instance"
            f"{'s' if limit > 1 else ''} per request; it was sent {len(instances)}."
        )
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            return f"instances[{i}] must be an object."
        for key in instance:
            if key not in _INSTANCE_FIELDS:
                return f'instances[{i}]: unknown field "{key}".'
        if not isinstance(instance.get("content"), str) or not instance["content"]:
            return f"instances[{i}].content must be a non-empty string."
        task = instance.get("task_type")
        if task is not None and task not in _TASK_TYPES:
            return f"instances[{i}].task_type {json.dumps(task)} is not a task type."
    tokens = sum(min(mock_embedding_tokens(i["content"]), TEXT_TOKEN_LIMIT) for i in instances)
    if tokens > PREDICT_TOKEN_LIMIT:
        return (
            f"Unable to submit request because the input token count is {tokens} but {model}"
            f" takes at most {PREDICT_TOKEN_LIMIT} tokens per request. Send fewer texts"
            " per request."
        )
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        return "parameters must be an object."
    for key in parameters:
        if key not in _PARAMETER_FIELDS:
            return f'parameters: unknown field "{key}".'
    return None


def _unauthenticated(message: str, reason: str) -> Response:
    return _error(
        401,
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "aiplatform.googleapis.com"},
            }
        ],
        headers={"www-authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


__all__ = [
    "PREDICT_LIMIT",
    "PREDICT_TOKEN_LIMIT",
    "VERTEX_MODELS",
    "TokenEndpoint",
    "UserGrant",
    "VertexMock",
    "authorized_user_info",
    "service_account_info",
    "validate_predict",
]
