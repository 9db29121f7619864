"""Reranking over ``POST /rerank``: the compatible services that serve Jina's shape.

OpenAI has no rerank API; vLLM, Together, OpenRouter and Fireworks serve one
beside their Chat Completions, at ``{base_url}/rerank``. The request is
``{"model", "query", "documents": [text, ...], "top_n"}``; the answer lists
``{"index", "relevance_score"}`` best first (with ``document``, which may be
``null`` and is never read: the core puts the caller's own texts back), under
``results`` (Fireworks: ``data``), and ``usage``.

``max_tokens_per_doc`` is not sent: none of these services takes a per-document
limit. vLLM's ``truncate_prompt_tokens`` cuts the query and the document
together, which is not the same limit; pass it in ``extra`` to use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relaykit import RerankRequest, RerankResponse, Usage, json_decode, json_encode
from relaykit.http_errors import error_from_http
from relaykit.rerank import ranked

from . import wire
from .unreadable import unreadable

if TYPE_CHECKING:
    from relaykit.http import HttpClient


def request_body(request: RerankRequest) -> dict[str, Any]:
    """The JSON body of ``POST /rerank`` for ``request``.

    ``top_n`` goes only when asked for (every service ranks every document
    without it); ``max_tokens_per_doc`` never does (see the module docstring).
    ``request.extra`` is merged in last, as chat's is.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "query": request.query,
        "documents": list(request.documents),
    }
    if request.top_n is not None:
        body["top_n"] = request.top_n
    if request.extra:
        body.update(request.extra)
    return body


def parse(data: Any, request: RerankRequest, name: str) -> RerankResponse:
    """The :class:`~relaykit.RerankResponse` for a service's answer ``data`` to ``request``.

    Input tokens are ``usage.prompt_tokens`` (newer vLLM, Together, Fireworks)
    or else ``usage.total_tokens`` (older vLLM, OpenRouter); 0 when neither is
    sent, and the core estimates them. OpenRouter's ``usage.search_units`` (its
    Cohere models bill searches) become ``search_units``.
    """
    items = data["results"] if "results" in data else data["data"]
    scores = [(_integer(item["index"]), float(item["relevance_score"])) for item in items]
    usage: Mapping[str, Any] = data.get("usage") or {}
    tokens = usage.get("prompt_tokens") or usage.get("total_tokens") or 0
    return RerankResponse(
        results=ranked(request, scores, provider=name),
        model=str(data.get("model") or request.model),
        id=_text(data.get("id")),
        usage=Usage(_integer(tokens)),
        search_units=_integer(usage.get("search_units") or 0),
    )


async def rerank(
    http: HttpClient, url: str, headers: Mapping[str, str], name: str, request: RerankRequest
) -> RerankResponse:
    """Rank ``request``'s documents at ``url`` (``{base_url}/rerank``); a failure is
    typed as chat's is, with the service's ``Retry-After``."""
    r = await http.post(url, content=json_encode.dumps(request_body(request)), headers=headers)
    if r.status_code >= 400:
        raise error_from_http(
            r.status_code, r.headers, r.content, provider=name, model=request.model
        )
    try:
        data = json_decode.loads(r.content)
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        if data.get("error") and not (data.get("results") or data.get("data")):
            # A failure reported with status 200 (OpenRouter's way) is an error.
            status = wire.error_status(data["error"])
            raise error_from_http(status, r.headers, r.content, provider=name, model=request.model)
        return parse(data, request, name)
    except (KeyError, ValueError, *json_decode.SHAPE_ERRORS) as e:
        raise unreadable("rerank", e, provider=name, model=request.model, path="/rerank") from None


def _text(value: Any) -> str | None:
    """``value`` if it is text; an optional field of another kind is left out."""
    return value if isinstance(value, str) else None


def _integer(value: Any) -> int:
    """``value`` as an int; a ValueError (an unreadable answer) for what is not a
    whole number: a bool, text, a fraction, an infinity."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{value!r} is not a whole number")
