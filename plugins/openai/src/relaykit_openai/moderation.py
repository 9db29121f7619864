"""Moderation over ``POST /moderations``: OpenAI's, and Mistral's in the same shape.

OpenAI (omni-moderation-latest, text-moderation-latest; free, "The moderation
endpoint is free to use", per its moderation guide) takes ``{"model",
"input"}``, ``input`` a string or a list of strings, and answers ``{"id",
"model", "results": [...]}``, one result per text, in order, each with
``flagged``, ``categories`` (a verdict per category), ``category_scores`` and
``category_applied_input_types`` (which input kinds each score read; the
omni models only). Mistral (mistral-moderation-latest, at
``https://api.mistral.ai/v1/moderations``, per its guardrailing guide) takes
the same body and answers the same ``results`` without ``flagged`` (relaykit
flags a text any category flags) and without input kinds. Neither reports
usage: the core estimates the input tokens.

The texts always go as a list, which both take, so results match inputs by
position. Category names are the vendor's own and pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relaykit import (
    ModerationRequest,
    ModerationResponse,
    Usage,
    json_decode,
    json_encode,
)
from relaykit.http_errors import error_from_http, error_in_answer
from relaykit.moderation import moderation_result

from .unreadable import unreadable

if TYPE_CHECKING:
    from relaykit.http import HttpClient


def request_body(request: ModerationRequest) -> dict[str, Any]:
    """The JSON body of ``POST /moderations`` for ``request`` (``extra`` merged in last,
    as chat's is)."""
    body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
    if request.extra:
        body.update(request.extra)
    return body


def parse(data: Any, request: ModerationRequest) -> ModerationResponse:
    """The :class:`~relaykit.ModerationResponse` for a service's answer ``data``.

    A ``usage`` (which neither OpenAI nor Mistral sends, but a compatible server
    may) gives the input tokens: ``prompt_tokens``, else ``total_tokens``.
    """
    results = tuple(
        moderation_result(
            item["categories"],
            item["category_scores"],
            flagged=item.get("flagged"),
            applied_input_types=item.get("category_applied_input_types"),
        )
        for item in data["results"]
    )
    usage: Mapping[str, Any] = data.get("usage") or {}
    tokens = usage.get("prompt_tokens") or usage.get("total_tokens") or 0
    if not isinstance(tokens, int) or isinstance(tokens, bool):
        raise ValueError(f"usage {tokens!r} is not a whole number")
    return ModerationResponse(
        results=results,
        model=str(data.get("model") or request.model),
        id=id_ if isinstance(id_ := data.get("id"), str) else None,  # optional: left out
        usage=Usage(tokens),
    )


async def moderate(
    http: HttpClient, url: str, headers: Mapping[str, str], name: str, request: ModerationRequest
) -> ModerationResponse:
    """Moderate ``request``'s texts at ``url`` (``{base_url}/moderations``); a failure is
    typed as chat's is, with the service's ``Retry-After``."""
    r = await http.post(url, content=json_encode.dumps(request_body(request)), headers=headers)
    if r.status_code >= 400:
        raise error_from_http(
            r.status_code, r.headers, r.content, provider=name, model=request.model
        )
    try:
        data = json_decode.loads(r.content)
        # an error object sent with status 200 (a proxy's) is the error it describes
        error = error_in_answer(
            data, r.headers, r.content, answer=("results",), provider=name, model=request.model
        )
        if error is not None:
            raise error
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        return parse(data, request)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise unreadable(
            "moderation", e, provider=name, model=request.model, path="/moderations"
        ) from None
