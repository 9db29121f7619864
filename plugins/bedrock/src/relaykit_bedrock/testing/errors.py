"""Bedrock's error responses, as the mock renders them: its own refusals and scripted failures."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from relaykit.testing.loopback import Response
from relaykit.testing.script import Reply

#: The AWS error name a scripted failure of each status carries.
ERROR_KINDS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def error(
    status: int, message: str, kind: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A Bedrock error response: ``{"message": ...}`` with ``x-amzn-errortype``."""
    return Response.json(
        {"message": message},
        status,
        {
            "x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-requestid": str(uuid.uuid4()),
            **(headers or {}),
        },
    )


def scripted_failure(reply: Reply) -> Response:
    """The error response of a scripted failure (``reply.status >= 400``).

    Its AWS error name is ``reply.error_code`` if given, else the one Bedrock
    uses for the status (:data:`ERROR_KINDS`).
    """
    fallback = "InternalServerException" if reply.status >= 500 else "ValidationException"
    kind = reply.error_code or ERROR_KINDS.get(reply.status, fallback)
    return error(reply.status, reply.error, kind, dict(reply.headers))


def constraint(value: str, rule: str) -> str:
    """AWS's message for a value that breaks a rule of the API's model, as in
    ``constraint("Value null at 'input'", "Member must not be null")``."""
    return f"1 validation error detected: {value} failed to satisfy constraint: {rule}"
