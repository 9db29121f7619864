"""A loopback Microsoft Foundry resource serving Claude, for tests and demos.

The Messages API under ``/anthropic`` (``POST /anthropic/v1/messages`` and
``/anthropic/v1/messages/count_tokens``), answered by
:class:`~relaykit_anthropic.testing.AnthropicMock`, behind Azure's own checks:

- the credentials: the resource's key as ``api-key`` (or ``x-api-key``), or an
  Entra ID token as ``Authorization: Bearer``; anything else is refused with
  Azure's ``401`` (``{"error": {"code": "401", "message": ...}}``), as Azure's
  gateway answers before the request reaches Claude;
- the model: a deployment's name, refused with ``404 DeploymentNotFound`` when
  the resource has no such deployment; the deployment's model answers;
- no model listing and no Message Batches API: ``404``, as for any other path.

    with FoundryClaudeMock(api_key="0123abcd...") as mock:
        ...  # [providers.foundry-anthropic] base_url = mock.base_url
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from relaykit.testing.loopback import Request, Response

from . import mock_thinking
from .testing import AnthropicMock, error_response, not_json_refusal

#: deployments named as their models, Foundry's default
DEPLOYMENTS: Mapping[str, str] = {
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
}
_PREFIX = "/anthropic"
_SERVED = frozenset({"/v1/messages", "/v1/messages/count_tokens"})
_ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to"
    " provide a valid key for an active subscription and use a correct regional API"
    " endpoint for your resource."
)


class FoundryClaudeMock(AnthropicMock):
    """A Foundry resource at ``base_url`` (``http://127.0.0.1:PORT/anthropic``).

    ``api_key`` is the resource's key, ``ad_token`` an Entra ID token it also takes;
    ``deployments`` maps each deployment's name to its Claude model.
    """

    base_path = _PREFIX

    def __init__(
        self,
        api_key: str | None = None,
        deployments: Mapping[str, str] = DEPLOYMENTS,
        *,
        ad_token: str | None = None,
    ) -> None:
        # The Anthropic mock checks no key: Azure's credentials are checked here.
        super().__init__(None)
        self.foundry_key = api_key
        self.ad_token = ad_token
        self.deployments = dict(deployments)

    def sent_reasoning(self, request: Request) -> Any:
        """The thinking setting a request carried, read as its deployment's model."""
        body = request.json()
        body["model"] = self.deployments.get(body.get("model"), body.get("model"))
        return mock_thinking.sent_reasoning(body)

    async def route(self, request: Request) -> Response:
        """Check the credentials, the path and the deployment, then answer as Claude."""
        if not self._authorized(request.headers):
            return Response.json({"error": {"code": "401", "message": _ACCESS_DENIED}}, 401)
        path = request.path.removeprefix(_PREFIX)
        if not request.path.startswith(_PREFIX + "/") or path not in _SERVED:
            return Response.json({"error": {"code": "404", "message": "Resource not found"}}, 404)
        refused = not_json_refusal(request)
        if refused is not None:
            return refused
        body = request.json()
        if not isinstance(body, dict):
            return error_response(400, "invalid_request_error", "Request body must be an object")
        deployment = body.get("model")
        if deployment not in self.deployments:
            return Response.json(
                {
                    "error": {
                        "code": "DeploymentNotFound",
                        "message": f"The API deployment {deployment} does not exist.",
                    }
                },
                404,
            )
        body["model"] = self.deployments[deployment]
        forwarded = attrs.evolve(request, path=path, body=json.dumps(body).encode())
        return await super().route(forwarded)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self.foundry_key is not None and self.foundry_key in (
            headers.get("api-key"),
            headers.get("x-api-key"),
        ):
            return True
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return self.ad_token is not None and scheme.lower() == "bearer" and token == self.ad_token
