"""InvokeModel for the reranker models, as the mock serves it: bodies checked, rankings answered.

Built from what the reranker models are seen to take and answer (the OpenSearch
ml-commons Bedrock rerank tutorials, the Cohere SDK's Bedrock issue #613), with
the mock's own idea of each body rather than the plugin's:

- Cohere Rerank 3.5 (``cohere.rerank-v3-5*``): ``query`` (required, not
  empty), ``documents`` (required: 1 to :data:`MAX_DOCUMENTS` strings),
  ``api_version`` (required, 2: Bedrock refuses 1 with "#/api_version: 1 is
  not greater or equal to 2") and ``top_n`` (a positive integer) ->
  ``{"id", "results": [{"index", "relevance_score"}, ...]}``.
- Amazon Rerank 1.0 (``amazon.rerank-v1*``): ``query``, ``documents`` and
  ``top_n`` -> ``{"results": [...]}``.

Any other key is refused as Bedrock refuses keys a schema does not list
("#: extraneous key [stream] is not permitted"). The results are
:func:`relaykit.testing.mock_ranking` of the documents, best first, cut to
``top_n`` (a ``top_n`` above the number of documents gives every one). No
answer carries an input-token count: Bedrock bills these models per query.
The document limit and the wording of a too-large ``api_version`` are the
mock's: AWS documents neither for InvokeModel.
"""

from __future__ import annotations

import uuid
from typing import Any

from relaykit.testing.loopback import Response
from relaykit.testing.rerank_scores import mock_ranking
from relaykit.testing.script import Reply

from .checks import Check, base_model_id, integer_between, list_of, schema_problem, string

#: Documents the mock ranks in one request: the most Bedrock's reranking takes
#: (the Rerank operation's limit on sources).
MAX_DOCUMENTS = 1_000

_DOCUMENTS = list_of(string, MAX_DOCUMENTS)
_TOP_N = integer_between(1)

#: model id prefix -> (API shape: cohere or amazon; required fields; every field's check)
SCHEMAS: dict[str, tuple[str, tuple[str, ...], dict[str, Check]]] = {
    "cohere.rerank-v3-5": (
        "cohere",
        ("query", "documents", "api_version"),
        {
            "query": string,
            "documents": _DOCUMENTS,
            "top_n": _TOP_N,
            "api_version": integer_between(2, 2),
        },
    ),
    "amazon.rerank-v1": (
        "amazon",
        ("query", "documents"),
        {"query": string, "documents": _DOCUMENTS, "top_n": _TOP_N},
    ),
}


def schema_of(model_id: str) -> tuple[str, tuple[str, ...], dict[str, Check]] | None:
    """The schema of a reranker model id (or inference profile id or ARN), if the mock has it."""
    base = base_model_id(model_id)
    return next((s for prefix, s in SCHEMAS.items() if base.startswith(prefix)), None)


def validate(model_id: str, body: Any) -> str | None:
    """The ValidationException message InvokeModel would give ``body`` for reranker ``model_id``."""
    schema = schema_of(model_id)
    assert schema is not None, f"{model_id} is not a reranker the mock serves"
    _, required, checks = schema
    return schema_problem(body, required, checks)


def answer(model_id: str, body: dict[str, Any], reply: Reply) -> Response:
    """The answer to a valid reranker ``body`` (checked by :func:`validate`)."""
    schema = schema_of(model_id)
    assert schema is not None
    ranking = mock_ranking(body["query"], body["documents"])
    if "top_n" in body:
        ranking = ranking[: body["top_n"]]
    data: dict[str, Any] = {
        "results": [{"index": i, "relevance_score": score} for i, score in ranking]
    }
    if schema[0] == "cohere":  # Cohere's answers carry an id of their own; Amazon's none
        data = {"id": str(uuid.uuid4()), **data}
    headers = {
        "x-amzn-requestid": str(uuid.uuid4()),
        "x-amzn-bedrock-invocation-latency": "42",
        **reply.headers,
    }
    return Response.json(data, headers=headers)
