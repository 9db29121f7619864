"""InvokeModel for embedding models, as the mock serves it: bodies checked, vectors answered.

(The reranker models' InvokeModel is :mod:`.rerank`'s, the image models'
:mod:`.images`'; :func:`validate_invoke` and :func:`answer` hand their
requests to them.)

Built from the Bedrock user guide's model parameters pages, with the mock's own
idea of each family (not the plugin's, so that it catches the plugin's mistakes):

- Titan Text Embeddings V2 (``amazon.titan-embed-text-v2*``): ``inputText``
  (required, not empty), ``dimensions`` (256, 512, 1024), ``normalize``,
  ``embeddingTypes`` -> ``{"embedding", "inputTextTokenCount", "embeddingsByType"}``.
- Titan Embeddings G1 - Text (``amazon.titan-embed-text-v1*``): ``inputText``
  alone -> ``{"embedding", "inputTextTokenCount"}``.
- Cohere Embed v3 (``cohere.embed-english-v3*``, ``cohere.embed-multilingual-v3*``):
  ``texts`` (1 to 96, each of at most 2048 characters), ``input_type``
  (required), ``truncate`` (``NONE``, ``START``, ``END``), ``embedding_types``.
- Cohere Embed v4 (``cohere.embed-v4*``): the same with ``output_dimension``
  (256, 512, 1024, 1536), ``max_tokens``, and ``truncate`` of ``NONE``,
  ``LEFT`` or ``RIGHT``. Both answer ``{"id", "embeddings", "response_type",
  "texts"}``: ``embeddings`` is ``{"float": [...], "int8": [...], ...}``, one list
  a requested type (:func:`by_type`), when the request gave ``embedding_types``,
  the bare list of floats otherwise.

Each text's vector is :func:`relaykit.testing.mock_vector` at the requested size
(8 without one). Every answer carries the ``X-Amzn-Bedrock-Input-Token-Count``
header, one token per word (or the script's ``input_tokens``). A body the family
would refuse gets a 400 ``ValidationException`` worded as Bedrock words its
schema errors ("Malformed input request: #/dimensions: ...").
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from relaykit.testing.embedding_vectors import MOCK_DIMENSIONS, mock_embedding_tokens, mock_vector
from relaykit.testing.loopback import Response
from relaykit.testing.script import Reply

from . import images, rerank
from .checks import (
    Check,
    base_model_id,
    boolean,
    enum,
    integer,
    list_of,
    schema_problem,
    string,
    string_up_to,
)

_COHERE_INPUT_TYPES = enum("search_document", "search_query", "classification", "clustering")
_COHERE_EMBEDDING_TYPES = list_of(enum("float", "int8", "uint8", "binary", "ubinary"))

#: model id prefix -> (API shape: titan-v2, titan-v1 or cohere; required fields;
#: every field's check)
SCHEMAS: dict[str, tuple[str, tuple[str, ...], dict[str, Check]]] = {
    "amazon.titan-embed-text-v2": (
        "titan-v2",
        ("inputText",),
        {
            "inputText": string_up_to(50_000),  # "up to 8,192 tokens or 50,000 characters"
            "dimensions": enum(256, 512, 1024),
            "normalize": boolean,
            "embeddingTypes": list_of(enum("float", "binary")),
        },
    ),
    "amazon.titan-embed-text-v1": ("titan-v1", ("inputText",), {"inputText": string}),
    "cohere.embed-v4": (
        "cohere",
        ("texts", "input_type"),
        {
            "texts": list_of(string, 96),
            "input_type": _COHERE_INPUT_TYPES,
            "embedding_types": _COHERE_EMBEDDING_TYPES,
            "output_dimension": enum(256, 512, 1024, 1536),
            "max_tokens": integer,
            "truncate": enum("NONE", "LEFT", "RIGHT"),
        },
    ),
    **{
        prefix: (
            "cohere",
            ("texts", "input_type"),
            {
                # at most 2048 characters a text, whatever truncate says ("Malformed
                # input request: #/texts/0: expected maxLength: 2048, actual: 19882",
                # ScrapeGraphAI/Scrapegraph-ai#400)
                "texts": list_of(string_up_to(2048), 96),
                "input_type": _COHERE_INPUT_TYPES,
                "embedding_types": _COHERE_EMBEDDING_TYPES,
                "truncate": enum("NONE", "START", "END"),
            },
        )
        for prefix in ("cohere.embed-english-v3", "cohere.embed-multilingual-v3")
    },
}


def schema_of(model_id: str) -> tuple[str, tuple[str, ...], dict[str, Check]] | None:
    """The schema of an embedding model id (or inference profile id or ARN), if the mock has it."""
    base = base_model_id(model_id)
    return next((s for prefix, s in SCHEMAS.items() if base.startswith(prefix)), None)


def validate_invoke(model_id: str, body: Any) -> str | None:
    """The ValidationException message InvokeModel would give ``body`` for ``model_id``
    (an embedding model here, a reranker in :mod:`.rerank`, an image model in
    :mod:`.images`)."""
    if rerank.schema_of(model_id) is not None:
        return rerank.validate(model_id, body)
    if images.model_of(model_id) is not None:
        return images.validate(model_id, body)
    schema = schema_of(model_id)
    if schema is None:
        served = ", ".join((*SCHEMAS, *rerank.SCHEMAS, *images.MODELS))
        return (
            f"The provided model identifier is invalid: the mock serves InvokeModel for "
            f"{served} only."
        )
    _, required, checks = schema
    if problem := schema_problem(body, required, checks):
        return problem
    types = body.get("embedding_types") or body.get("embeddingTypes") or ["float"]
    if "float" not in types and schema[0] != "cohere":
        return "The mock answers Titan's float embeddings only: ask for embedding types with float."
    return None


def by_type(vector: list[float], kind: str) -> list[Any]:
    """``vector`` as Cohere answers it for an embedding type: ``int8`` and ``uint8``
    one integer a dimension, ``binary`` and ``ubinary`` its signs packed eight
    dimensions a byte (as a signed byte for ``binary``: the unsigned one less 128)."""
    if kind == "int8":
        return [max(-128, min(127, round(x * 127))) for x in vector]
    if kind == "uint8":
        return [max(0, min(255, round((x + 1) * 127.5))) for x in vector]
    if kind in ("binary", "ubinary"):
        bits = [1 if x > 0 else 0 for x in vector]
        packed = [
            int("".join(map(str, bits[i : i + 8])).ljust(8, "0"), 2) for i in range(0, len(bits), 8)
        ]
        return packed if kind == "ubinary" else [b - 128 for b in packed]
    return vector


def answer(
    model_id: str, body: dict[str, Any], reply: Reply, blocked_images: Collection[int] = ()
) -> Response:
    """The answer to a valid InvokeModel ``body`` (checked by :func:`validate_invoke`);
    an image model's leaves out the images at the indexes in ``blocked_images``."""
    if rerank.schema_of(model_id) is not None:
        return rerank.answer(model_id, body, reply)
    if images.model_of(model_id) is not None:
        return images.answer(model_id, body, reply, blocked_images)
    schema = schema_of(model_id)
    assert schema is not None
    api = schema[0]
    texts = list(body["texts"]) if api == "cohere" else [body["inputText"]]
    size = body.get("dimensions") or body.get("output_dimension") or MOCK_DIMENSIONS
    vectors = [list(mock_vector(text, size)) for text in texts]
    tokens = reply.input_tokens
    if tokens is None:
        tokens = sum(map(mock_embedding_tokens, texts))
    data: dict[str, Any]
    if api != "cohere":
        data = {"embedding": vectors[0], "inputTextTokenCount": tokens}
        if api == "titan-v2":  # v2 always gives it by type too
            data["embeddingsByType"] = {"float": vectors[0]}
    else:
        typed = "embedding_types" in body
        kinds = body.get("embedding_types") or ()
        data = {
            "id": str(uuid.uuid4()),
            "embeddings": {k: [by_type(v, k) for v in vectors] for k in kinds}
            if typed
            else vectors,
            "response_type": "embeddings_by_type" if typed else "embeddings_floats",
            "texts": texts,
        }
    headers = {
        "x-amzn-requestid": str(uuid.uuid4()),
        "x-amzn-bedrock-input-token-count": str(tokens),
        "x-amzn-bedrock-invocation-latency": "42",
        **reply.headers,
    }
    return Response.json(data, headers=headers)
