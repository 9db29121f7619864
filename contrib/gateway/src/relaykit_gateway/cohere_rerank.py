"""Cohere's Rerank API (``POST /v1/rerank``, ``/v2/rerank`` and ``/rerank``), served.

A request body becomes the arguments of one :meth:`relaykit.Client.rerank`
(:func:`parse_rerank`), and its answer Cohere's v2 response (:func:`rerank_body`):
the results best first, each with its ``index`` among the documents sent and
its ``relevance_score``, and ``meta.billed_units``.

The request is Cohere's v2 body, of which Jina's (and vLLM's, and LiteLLM's
proxy's) is a subset: ``model``, ``query``, ``documents``, ``top_n`` and
``max_tokens_per_doc``. ``documents`` are strings, or (as Cohere's v1 API and
Jina's take them) objects with a ``text`` field, whose text is what is ranked:
their other fields are not read, as Cohere's v1 API ranks on ``text`` alone
unless told otherwise. ``rank_fields`` (the v1 way of ranking on other fields)
is refused with a 400, since relaykit ranks text. ``return_documents`` (Jina's
and Cohere v1's) adds each result's ``{"document": {"text": ...}}``; it is off
by default, as at Cohere. ``metadata`` becomes the call's metadata, and other
fields go to the provider untouched in ``extra``, as on the other routes. The
core checks the texts themselves (at least one, none blank) and ``top_n`` and
``max_tokens_per_doc``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from relaykit import InvalidRequestError, RerankResponse

from .dialect import model_id, require_object, string_metadata, unclaimed

#: request fields that become relaykit parameters of the same name
_SAME = ("top_n", "max_tokens_per_doc")
#: request fields the gateway itself reads
_OWN = frozenset((*_SAME, "model", "query", "documents", "return_documents", "metadata"))


@attrs.frozen
class RerankCall:
    """One call to make: ``client.rerank(model, query, documents, **params)``, its
    results answered with their texts when ``return_documents``."""

    model: str
    #: the caller's ``query`` as it came, for the core to check
    query: Any
    #: the documents' texts (objects' ``text``), or what came if not a list, for the
    #: core to check
    documents: Any
    params: Mapping[str, Any] = attrs.field(factory=dict)
    return_documents: bool = False


def parse_rerank(body: Any, aliases: Sequence[str]) -> RerankCall:
    """The call a rerank request body asks for; :class:`InvalidRequestError` names what
    is wrong. A bare model name goes to ``cohere``, as Cohere's SDK sends them."""
    body = require_object(body)
    model = model_id(body.get("model"), aliases, "cohere")
    if body.get("rank_fields") is not None:
        raise InvalidRequestError(
            "`rank_fields` is not supported: relaykit ranks each document's text, so send"
            " the documents as strings (or objects with a `text` field) holding what to rank",
            param="rank_fields",
        )
    documents = body.get("documents")
    if documents is None:
        raise InvalidRequestError(
            "`documents` is required: a list of the texts to rank", param="documents"
        )
    if isinstance(documents, list):
        documents = [_text_of(document, i) for i, document in enumerate(documents)]
    wanted = body.get("return_documents")
    if wanted is not None and not isinstance(wanted, bool):
        raise InvalidRequestError(
            f"`return_documents` must be true or false, not {wanted!r}"[:120],
            param="return_documents",
        )
    params: dict[str, Any] = {key: body[key] for key in _SAME if body.get(key) is not None}
    metadata = string_metadata(body.get("metadata"), "metadata")
    if metadata:
        params["metadata"] = metadata
    extra = unclaimed(body, _OWN)
    if extra:
        params["extra"] = extra
    return RerankCall(
        model=model,
        query=body.get("query"),
        documents=documents,
        params=params,
        return_documents=wanted is True,
    )


def rerank_body(response: RerankResponse, call: RerankCall) -> dict[str, Any]:
    """Cohere's v2 ``{"id": ..., "results": [...], "meta": {...}}``: the results best
    first, with their texts when the call asked for them."""
    results: list[dict[str, Any]] = []
    for result in response.results:
        item: dict[str, Any] = {"index": result.index, "relevance_score": result.score}
        if call.return_documents:
            item["document"] = {"text": result.document}
        results.append(item)
    billed: dict[str, Any] = {"search_units": response.search_units}
    if _counted(response):
        billed["input_tokens"] = response.usage.input_tokens
    return {
        "id": response.id or str(uuid.uuid4()),
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": billed},
    }


def _text_of(document: Any, i: int) -> Any:
    """A document's text: a string as it is (the core checks it), an object's ``text``."""
    if isinstance(document, Mapping):
        text = document.get("text")
        if not isinstance(text, str):
            raise InvalidRequestError(
                f"documents[{i}].text must be a string: a document is a string, or an"
                " object whose `text` field holds what to rank",
                param=f"documents[{i}].text",
            )
        return text
    if not isinstance(document, str):
        raise InvalidRequestError(
            f"documents[{i}] is a {_json_type(document)}: a document is a string, or an"
            " object whose `text` field holds what to rank",
            param=f"documents[{i}]",
        )
    return document


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "list" if isinstance(value, list) else type(value).__name__


def _counted(response: RerankResponse) -> bool:
    """Whether the provider counted the input tokens (else the core estimated them, for
    its limits, and Cohere's ``billed_units`` has no place for an estimate)."""
    return bool(response.usage.input_tokens) and not response.tokens_estimated
