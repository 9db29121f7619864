"""A loopback Azure OpenAI resource, for tests: :class:`AzureOpenAIMock`.

It speaks Azure's wire format where it differs from OpenAI's (learn.microsoft.com:
the REST reference, "Content filtering", "Content streaming", the API version
lifecycle) and answers the rest as :class:`relaykit.testing.OpenAIMock` does:

- paths: the v1 API (``/openai/v1/chat/completions``, ``/openai/v1/models``, ...;
  no ``api-version``, or ``preview``/``latest``) and the classic deployments API
  (``/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21``,
  ``/openai/responses?api-version=...``, ``/openai/models?api-version=...``); a
  classic path without ``api-version`` is Azure's 404 "Resource not found";
- credentials: ``api-key: KEY`` or ``Authorization: Bearer TOKEN`` (Entra ID); a
  wrong one is Azure's 401 "Access denied due to invalid subscription key ...";
- deployments: the body's ``model`` (v1) or the path (classic) must name one of
  ``deployments``, else the 404 coded ``DeploymentNotFound``; answers name the
  deployment's model (``gpt-4o-2024-11-20``), not the deployment;
- content filtering: a prompt holding one of :data:`PROMPT_TRIGGERS` is the 400
  coded ``content_filter`` whose ``innererror.content_filter_result`` names the
  category; answers carry ``prompt_filter_results`` and each choice its
  ``content_filter_results``; a scripted ``finish="content_filter"`` is a
  completion filtered for ``completion_filter``'s category (no content in a whole
  answer; the stream's last chunk says so). Streams open with the prompt's filter
  results as a chunk with no choices, an empty id and model; with
  ``async_filter`` an annotation chunk (no delta, ``content_filter_offsets``)
  follows the finish, as Azure's asynchronous filter sends;
- throttling: a 429 is Azure's (``code "429"``, "Please retry after N seconds")
  with ``retry-after`` in whole seconds and ``retry-after-ms``; every answer
  carries ``apim-request-id`` and ``x-ms-region``;
- batches ("Getting started with Azure OpenAI batch deployments"): OpenAI's Batch
  API (:mod:`relaykit.testing.openai_batches`) at ``/openai/v1/files`` and
  ``/openai/v1/batches`` (a batch's ``endpoint`` ``/v1/chat/completions`` or
  ``/v1/responses``), or at ``/openai/files`` and ``/openai/batches`` with a dated
  ``api-version`` (``/chat/completions`` only). A file whose lines name a
  deployment the resource lacks fails as ``model_not_found``, one whose lines name
  different deployments as ``model_mismatch``. Each item runs as a single call to
  its deployment would (the model's name in the answer, filter results and all).
  With ``legacy_batch_objects`` a batch object has the shape of Azure's 2024
  previews: ``"status": "Completed"``, times as ISO 8601 strings.
  :meth:`AzureOpenAIMock.expire_batch` lets a held batch's window run out.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from relaykit.testing import OpenAIMock, Request, Response
from relaykit.testing.openai_batches import OpenAIBatches

#: prompt phrases the mock's content filter refuses: category, and severity (or
#: ``None`` for a detection, as jailbreak attempts are reported)
PROMPT_TRIGGERS: dict[str, tuple[str, str | None]] = {
    "hurt them badly": ("violence", "medium"),
    "ignore all previous instructions": ("jailbreak", None),
}
#: the deployments a default mock serves, and the model each runs
DEPLOYMENTS: dict[str, str] = {
    "gpt4o-prod": "gpt-4o-2024-11-20",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "text-embedding-3-small": "text-embedding-3-small",
}
_CATEGORIES = ("hate", "self_harm", "sexual", "violence")
_PROMPT_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content"
    " management policy. Please modify your prompt and retry. To learn more about our"
    " content filtering policies please read our documentation:"
    " https://go.microsoft.com/fwlink/?linkid=2198766"
)
_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment"
    " within the last 5 minutes, please wait a moment and try again."
)
_ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to"
    " provide a valid key for an active subscription and use a correct regional API"
    " endpoint for your resource."
)
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
#: a batch's ``endpoint`` (and its lines' ``url``) in each API style
_V1_BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/responses")
_DATED_BATCH_ENDPOINTS = ("/chat/completions",)
_BATCH_TIMES = (
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)
_FORM_MODEL = re.compile(rb'name="model"\r\n\r\n([^\r]*)\r\n')


class AzureOpenAIMock(OpenAIMock):
    """An Azure OpenAI resource at ``base_url`` (``http://127.0.0.1:PORT``, the endpoint).

    ``api_key`` is the resource's key, ``ad_token`` an Entra ID token it also takes;
    ``deployments`` maps each deployment's name to its model.
    """

    base_path = ""
    #: the category a scripted ``finish="content_filter"`` is filtered for
    completion_filter: tuple[str, str] = ("violence", "high")
    #: whether streams end with an asynchronous filter's annotation chunk
    async_filter: bool = False
    region: str = "East US"
    #: whether batch objects have the shape of Azure's 2024 preview API versions
    legacy_batch_objects: bool = False

    def __init__(
        self,
        api_key: str | None = None,
        deployments: Mapping[str, str] = DEPLOYMENTS,
        *,
        ad_token: str | None = None,
    ) -> None:
        # The OpenAI mock checks no key: Azure's credentials are checked here.
        super().__init__(None, models=tuple(dict.fromkeys(deployments.values())))
        self.azure_key = api_key
        self.ad_token = ad_token
        self.deployments = dict(deployments)
        self.batches = OpenAIBatches(
            _V1_BATCH_ENDPOINTS + _DATED_BATCH_ENDPOINTS, self._batch_lines
        )

    async def route(self, request: Request) -> Response:
        """Check the credentials, find the deployment, answer as OpenAI does, in Azure's
        shapes (see the module docstring)."""
        if request.path.startswith("/mock-images/"):  # an image answered as a URL
            return await super().route(attrs.evolve(request, path="/v1" + request.path))
        if not self._authorized(request.headers):
            return _azure_error(401, "401", _ACCESS_DENIED)
        found = self._locate(request)
        if isinstance(found, Response):
            return self._stamped(found)
        api, deployment = found
        if api.split("/", 1)[0] in ("files", "batches"):
            return self._stamped(await self._batch_api(request, api))
        return await self._serve(request, api, deployment)

    async def _serve(self, request: Request, api: str, deployment: str | None) -> Response:
        """Answer a call to ``api`` (its credentials checked) as OpenAI would, in Azure's
        shapes, the deployment from the path (``deployment``) or the body."""
        if api == "models" and request.method == "GET":
            return self._stamped(Response.json(self._model_list()))
        if deployment is None:
            deployment = _body_model(request)
        if deployment is None and api in ("chat/completions", "responses", "embeddings"):
            return self._stamped(_azure_error(400, "BadRequest", "'model' is a required property"))
        model = None if deployment is None else self.deployments.get(deployment)
        if deployment is not None and model is None:
            return self._stamped(_azure_error(404, "DeploymentNotFound", _NO_DEPLOYMENT))
        body = _json(request)
        if isinstance(body, dict) and api in ("chat/completions", "responses"):
            refused = _prompt_refusal(body)
            if refused is not None:
                return self._stamped(refused)
        if isinstance(body, dict) and model is not None:
            # the model runs under its own name: OpenAI's rules (and answers) follow it
            request = attrs.evolve(request, body=json.dumps({**body, "model": model}).encode())
        query = {k: v for k, v in request.query.items() if k != "api-version"}
        answer = await super().route(attrs.evolve(request, path=f"/v1/{api}", query=query))
        if api == "chat/completions" and answer.status == 200:
            answer = self._filtered(answer)
        return self._stamped(_azure_throttle(answer))

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self.azure_key is None and self.ad_token is None:
            return True
        key = headers.get("api-key")
        if key is not None:
            return key == self.azure_key
        return self.ad_token is not None and headers.get("authorization") == (
            f"Bearer {self.ad_token}"
        )

    def _locate(self, request: Request) -> tuple[str, str | None] | Response:
        """``(api, deployment)`` of a request (``deployment`` ``None``: in the body),
        or Azure's answer to a path or API version it does not serve."""
        version = request.query.get("api-version")
        path = request.path
        if path.startswith("/openai/v1/"):
            if version not in (None, "v1", "preview", "latest"):
                return _azure_error(
                    400,
                    "BadRequest",
                    f"API version {version} is not supported by the v1 API: leave it out",
                )
            return path.removeprefix("/openai/v1/"), None
        if not path.startswith("/openai/"):
            return _azure_error(404, "404", "Resource not found")
        if version is None or not _DATED.fullmatch(version):
            # Azure's answer to a classic path without a (known) api-version
            return _azure_error(404, "404", "Resource not found")
        rest = path.removeprefix("/openai/")
        if rest.startswith("deployments/"):
            _, deployment, api = rest.split("/", 2) if rest.count("/") >= 2 else ("", "", "")
            if not api:
                return _azure_error(404, "404", "Resource not found")
            return api, deployment
        if rest in ("responses", "models") or rest.split("/", 1)[0] in ("files", "batches"):
            return rest, None
        return _azure_error(404, "404", "Resource not found")

    async def _batch_api(self, request: Request, api: str) -> Response:
        """The files and batches of the Batch API, in either API style (see the module
        docstring); the rest is OpenAI's."""
        body = _json(request) if request.method == "POST" and api == "batches" else None
        # A body that is no JSON object is refused below, as OpenAI's route refuses it.
        if isinstance(body, dict):
            endpoint = body.get("endpoint")
            v1 = request.path.startswith("/openai/v1/")
            if endpoint not in (_V1_BATCH_ENDPOINTS if v1 else _DATED_BATCH_ENDPOINTS):
                return _azure_error(
                    400, "invalid_request", f"The endpoint {endpoint!r} is not supported."
                )
        query = {k: v for k, v in request.query.items() if k != "api-version"}
        answer = await super().route(attrs.evolve(request, path=f"/v1/{api}", query=query))
        if self.legacy_batch_objects and isinstance(answer.body, bytes):
            data = json.loads(answer.body)
            if isinstance(data, dict) and data.get("object") == "batch":
                answer = attrs.evolve(answer, body=json.dumps(_legacy_batch(data)).encode())
        return answer

    async def _batch_item(self, endpoint: str, body: dict[str, Any]) -> Response:
        """One item of a batch, answered as a single call to its deployment is."""
        api = "responses" if endpoint.endswith("/responses") else "chat/completions"
        request = Request(
            "POST",
            f"/openai/v1/{api}",
            {},
            {"content-type": "application/json"},
            json.dumps(body).encode(),
        )
        return await self._serve(request, api, None)

    def _batch_lines(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Azure's check of a file's deployments: one, and one the resource has."""
        named = [line["body"].get("model") for line in lines]
        for number, deployment in enumerate(named, start=1):
            if deployment not in self.deployments:
                message = (
                    f"The provided model deployment '{deployment}' does not exist in the"
                    " AOAI resource."
                )
                return [{"code": "model_not_found", "message": message, "line": number}]
        if len(set(named)) > 1:
            message = (
                "The provided model deployment name is different from the rest of the"
                " requests in the input file."
            )
            line = next(n for n, d in enumerate(named, start=1) if d != named[0])
            return [{"code": "model_mismatch", "message": message, "line": line}]
        return []

    async def expire_batch(self, batch_id: str, ran: int = 0) -> None:
        """Let held batch ``batch_id``'s window run out with its first ``ran`` items done."""
        await self.batches.expire(batch_id, self._batch_item, ran)

    def _model_list(self) -> dict[str, Any]:
        """``GET /openai/models``: the models the resource can deploy, in Azure's shape."""
        return {
            "object": "list",
            "data": [
                {
                    "id": model,
                    "object": "model",
                    "created_at": 1_700_000_000,
                    "status": "succeeded",
                    "lifecycle_status": "generally-available",
                    "capabilities": {"chat_completion": not model.startswith("text-embedding")},
                }
                for model in self.models
            ],
        }

    def _filtered(self, answer: Response) -> Response:
        """A Chat Completions answer with Azure's filter results (a whole body or a stream)."""
        if isinstance(answer.body, bytes):
            data = json.loads(answer.body)
            data["prompt_filter_results"] = [_prompt_results()]
            for choice in data.get("choices") or ():
                filtered = choice.get("finish_reason") == "content_filter"
                if filtered:
                    # "Non-streaming completions calls won't return any content"
                    choice["message"]["content"] = None
                choice["content_filter_results"] = _results(
                    self.completion_filter if filtered else None
                )
            return attrs.evolve(answer, body=json.dumps(data).encode())
        assert isinstance(answer.body, Iterable)
        return attrs.evolve(answer, body=self._filtered_chunks(answer.body))

    def _filtered_chunks(self, chunks: Iterable[Any]) -> Iterator[Any]:
        head = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [_prompt_results()],
        }
        yield _sse(head)
        for item in chunks:
            if not (isinstance(item, bytes) and item.startswith(b"data: {")):
                yield item
                continue
            data = json.loads(item[len(b"data: ") :])
            finish = None
            for choice in data.get("choices") or ():
                finish = choice.get("finish_reason")
                delta = choice.get("delta") or {}
                if finish == "content_filter":
                    choice["content_filter_results"] = _results(self.completion_filter)
                elif "role" in delta or not delta:
                    choice["content_filter_results"] = {}
                else:
                    choice["content_filter_results"] = _results(None)
            yield _sse(data)
            if finish and self.async_filter:
                yield _sse(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": None,
                                "content_filter_results": _results(None),
                                "content_filter_offsets": {
                                    "check_offset": 120,
                                    "start_offset": 0,
                                    "end_offset": 120,
                                },
                            }
                        ],
                        "created": 0,
                        "id": "",
                        "model": "",
                        "object": "",
                    }
                )

    def _stamped(self, answer: Response) -> Response:
        """``answer`` with the headers every Azure answer carries."""
        return attrs.evolve(
            answer,
            headers={
                **answer.headers,
                "apim-request-id": str(uuid.uuid4()),
                "x-ms-region": self.region,
            },
        )


def _legacy_batch(data: dict[str, Any]) -> dict[str, Any]:
    """A batch object as Azure's 2024 previews answered it: a capitalised status
    (``InProgress``), times as ISO 8601 strings with seven digits of a second."""
    out = dict(data)
    out["status"] = str(data["status"]).title().replace("_", "")
    for key in _BATCH_TIMES:
        if isinstance(data.get(key), int):
            moment = datetime.fromtimestamp(data[key], UTC)
            out[key] = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "4+00:00"
    return out


def _azure_error(http_status: int, code: str, message: str, **more: Any) -> Response:
    """An error in Azure's own shape: ``{"error": {"code", "message", ...}}``."""
    return Response.json({"error": {"code": code, "message": message, **more}}, http_status)


def _azure_throttle(answer: Response) -> Response:
    """A 429 as Azure words it, its wait in ``retry-after`` (whole seconds, rounded up)
    and ``retry-after-ms``; any other answer as it is."""
    if answer.status != 429:
        return answer
    headers = dict(answer.headers)
    wait = headers.pop("retry-after", None)
    seconds = float(wait) if wait is not None else 1.0
    headers["retry-after"] = str(math.ceil(seconds))
    headers["retry-after-ms"] = str(round(seconds * 1000))
    try:
        said = json.loads(answer.body)["error"]["message"]  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError):
        said = ""
    message = (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version"
        " 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier."
        f" Please retry after {math.ceil(seconds)} seconds. ({said})"
    )
    body = {"error": {"code": "429", "message": message}}
    return Response(429, {**headers, "content-type": "application/json"}, json.dumps(body).encode())


def _json(request: Request) -> Any:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _body_model(request: Request) -> str | None:
    """The ``model`` a v1 request names: in its JSON body or its multipart form."""
    body = _json(request)
    if isinstance(body, dict):
        model = body.get("model")
        return model if isinstance(model, str) else None
    match = _FORM_MODEL.search(request.body)
    return match.group(1).decode() if match else None


def _prompt_refusal(body: dict[str, Any]) -> Response | None:
    """Azure's 400 for a prompt its filter refuses, or ``None``."""
    text = json.dumps(body.get("messages", body.get("input", ""))).lower()
    for phrase, (category, severity) in PROMPT_TRIGGERS.items():
        if phrase in text:
            results = _results((category, severity))
            return _azure_error(
                400,
                "content_filter",
                _PROMPT_MESSAGE,
                type=None,
                param="prompt",
                status=400,
                innererror={
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": results,
                },
            )
    return None


def _results(fired: tuple[str, str | None] | None) -> dict[str, Any]:
    """A ``content_filter_results`` object: every category safe but ``fired``."""
    results: dict[str, Any] = {c: {"filtered": False, "severity": "safe"} for c in _CATEGORIES}
    results["jailbreak"] = {"filtered": False, "detected": False}
    if fired is not None:
        category, severity = fired
        if severity is None:
            results[category] = {"filtered": True, "detected": True}
        else:
            results[category] = {"filtered": True, "severity": severity}
    return results


def _prompt_results() -> dict[str, Any]:
    return {"prompt_index": 0, "content_filter_results": _results(None)}


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"
