"""OpenAI's embeddings (``POST /v1/embeddings``), for :class:`~relaykit.testing.OpenAIMock`.

Follows the public API reference: ``{"object": "list", "data": [{"object":
"embedding", "index": i, "embedding": ...}], "model": ..., "usage":
{"prompt_tokens": n, "total_tokens": n}}``, each vector a list of floats or,
with ``encoding_format: "base64"``, the base64 of its little-endian float32
bytes. Each text gets :func:`~relaykit.testing.mock_vector` (``dimensions``
long, 8 by default) and bills :func:`~relaykit.testing.mock_embedding_tokens`.

What it refuses, as OpenAI does: no ``input``; an empty one, an empty text
or more than 2048 texts (OpenAI's terse ``'$.input' is invalid``); more
than 300,000 tokens in one request (``max_tokens_per_request``) or 8192 in
one text (the context length error); ``dimensions`` for
``text-embedding-ada-002``, or more than a ``text-embedding-3-*`` model's full
length (1536 small, 3072 large); an unknown ``encoding_format``. For Mistral's
embedding models (``mistral-embed``, ``codestral-embed``) it refuses, as
Mistral does, more than 512 texts or 16,384 tokens in one request. Tokens are
counted as :func:`~relaykit.testing.mock_embedding_tokens` counts them (a
word each). Token arrays, which OpenAI also takes (one, or a list of them, of
integers; not mixed with texts), are embedded as the text of their numbers, a
token each. For OpenAI's own embedding models a field the API does not know is
refused in its words (``Unrecognized request argument supplied: x``); the
compatible services' models may carry fields of their own.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

from .embedding_vectors import MOCK_DIMENSIONS, mock_embedding_tokens, mock_vector
from .openai_responses import Refusal, _invalid, _missing
from .script import Reply

#: the most texts OpenAI embeds in one request
MAX_INPUTS = 2048
#: what OpenAI answers for any input it will not embed (it says no more)
INVALID_INPUT = (
    "'$.input' is invalid. Please check the API reference:"
    " https://platform.openai.com/docs/api-reference."
)
NO_DIMENSIONS = "This model does not support specifying dimensions."
#: the most tokens OpenAI embeds in one request, summed over its texts, and in one text
MAX_REQUEST_TOKENS = 300_000
MAX_TEXT_TOKENS = 8192
#: Mistral's embedding models and their limits per request: 512 texts (the API:
#: "Too many inputs in request, split into more batches.", code 3210; see
#: raphaelmansuy/edgequake-llm#74) and 16,384 tokens ("Too many tokens overall,
#: split into more batches.", chroma-core/chroma#5597; earlier "Too many tokens
#: in batch. Max is 16384 got ...", langchain-ai/langchain#17136)
MISTRAL_EMBEDDING_MODELS = ("mistral-embed", "codestral-embed")
MISTRAL_MAX_INPUTS = 512
MISTRAL_MAX_TOKENS = 16_384
MISTRAL_TOO_MANY_INPUTS = "Too many inputs in request, split into more batches."
MISTRAL_TOO_MANY_TOKENS = "Too many tokens overall, split into more batches."
#: models whose vectors have one length only
_FIXED_LENGTH = ("text-embedding-ada-002",)
#: the full length of the models that shorten their vectors: no more is given
_MAX_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
_ENCODINGS = ("float", "base64")
#: the request fields OpenAI's embeddings endpoint takes, and its models' names
_FIELDS = frozenset({"input", "model", "dimensions", "encoding_format", "user"})
_OPENAI_MODELS = ("text-embedding-",)


def validate(body: Any) -> list[str]:
    """The texts ``body`` asks to embed; :class:`Refusal` where OpenAI refuses it."""
    if not isinstance(body, dict):
        raise Refusal("The request body must be a JSON object.")
    if not isinstance(body.get("model"), str):
        raise _missing("model")
    if "input" not in body:
        raise _missing("input")
    if body["model"].startswith(_OPENAI_MODELS):
        for key in body:
            if key not in _FIELDS:
                raise Refusal(f"Unrecognized request argument supplied: {key}")
    texts = _texts(body["input"])
    _check_sizes(body["model"], texts)
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if body["model"].startswith(_FIXED_LENGTH):
            raise Refusal(NO_DIMENSIONS)
        if not isinstance(dimensions, int) or isinstance(dimensions, bool):
            raise Refusal(
                "Invalid type for 'dimensions': expected an integer, but got a"
                f" {type(dimensions).__name__} instead.",
                "dimensions",
            )
        if dimensions < 1:
            raise Refusal(
                "Invalid 'dimensions': integer below minimum value. Expected a value >= 1,"
                f" but got {dimensions} instead.",
                "dimensions",
            )
        most = _MAX_DIMENSIONS.get(body["model"])
        if most is not None and dimensions > most:
            # OpenAI does not document this refusal's words: the mock's, in the
            # shape of its refusal of a value below the minimum
            raise Refusal(
                "Invalid 'dimensions': integer above maximum value. Expected a value"
                f" <= {most}, but got {dimensions} instead.",
                "dimensions",
            )
    encoding = body.get("encoding_format", "float")
    if encoding not in _ENCODINGS:
        raise _invalid(encoding, "encoding_format", _ENCODINGS)
    return texts


def _texts(value: Any) -> list[str]:
    """The texts of an ``input``: its strings, or its token arrays as the text of
    their numbers; :class:`Refusal` for any other shape, as OpenAI words it."""
    if isinstance(value, str) or _tokens(value):
        value = [value]
    if not isinstance(value, list) or not 0 < len(value) <= MAX_INPUTS:
        raise Refusal(INVALID_INPUT)
    if all(isinstance(text, str) and text for text in value):
        return value
    if all(_tokens(tokens) for tokens in value):
        return [" ".join(map(str, tokens)) for tokens in value]
    raise Refusal(INVALID_INPUT)


def _tokens(value: Any) -> bool:
    """Whether ``value`` is a token array: a non-empty list of token ids."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)
    )


def _check_sizes(model: str, texts: list[str]) -> None:
    """Refuse a request over the model's limits of texts or tokens, in its vendor's words."""
    counts = [mock_embedding_tokens(text) for text in texts]
    total = sum(counts)
    if model.startswith(MISTRAL_EMBEDDING_MODELS):
        # Mistral's refusals, in its shape's fields (type and code as it sends them)
        if len(texts) > MISTRAL_MAX_INPUTS:
            raise Refusal(MISTRAL_TOO_MANY_INPUTS, code="3210", kind="invalid_request_prompt")
        if total > MISTRAL_MAX_TOKENS:
            raise Refusal(MISTRAL_TOO_MANY_TOKENS, code="3210", kind="invalid_request_prompt")
        return
    if total > MAX_REQUEST_TOKENS:
        # openai-python users see it as "Requested 453357 tokens, max 300000 tokens
        # per request" with type and code max_tokens_per_request (timescale/pgai#482)
        raise Refusal(
            f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request",
            code="max_tokens_per_request",
            kind="max_tokens_per_request",
        )
    for i, count in enumerate(counts):
        if count > MAX_TEXT_TOKENS:
            # the API's words since 2025 (vcmf/dim0#143); before, "This model's maximum
            # context length is 8192 tokens, however you requested ..."
            raise Refusal(
                f"Invalid 'input[{i}]': maximum input length is {MAX_TEXT_TOKENS} tokens.",
                f"input[{i}]",
            )


def render(body: dict[str, Any], texts: list[str], reply: Reply) -> dict[str, Any]:
    """The ``list`` of embeddings answering a validated request; ``reply`` may set
    its ``input_tokens``."""
    # Mistral names it output_dimension (its codestral-embed shortens vectors)
    size = body.get("dimensions") or body.get("output_dimension") or MOCK_DIMENSIONS
    encode = _base64 if body.get("encoding_format") == "base64" else list
    tokens = reply.input_tokens
    if tokens is None:
        tokens = sum(map(mock_embedding_tokens, texts))
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(mock_vector(text, size))}
            for i, text in enumerate(texts)
        ],
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _base64(vector: tuple[float, ...]) -> str:
    """OpenAI's base64 encoding: the vector's float32 values, little-endian."""
    values = array("f", vector)
    if sys.byteorder == "big":
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")
