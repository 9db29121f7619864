"""OpenAI's embeddings (``POST /v1/embeddings``), for :class:`~relaykit.testing.OpenAIMock`.

Follows the public API reference: ``{"object": "list", "data": [{"object":
"embedding", "index": i, "embedding": ...}], "model": ..., "usage":
{"prompt_tokens": n, "total_tokens": n}}``, each vector a list of floats or,
with ``encoding_format: "base64"``, the base64 of its little-endian float32
bytes. Each text gets :func:`~relaykit.testing.mock_vector` (``dimensions``
long, 8 by default) and bills :func:`~relaykit.testing.mock_embedding_tokens`.

What it refuses, as OpenAI does: no ``input``; an empty one, an empty text
or more than 2048 texts (OpenAI's terse ``'$.input' is invalid``);
``dimensions`` for ``text-embedding-ada-002``; an unknown ``encoding_format``.
Token arrays, which OpenAI also takes, are not served: relaykit sends text.
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
#: models whose vectors have one length only
_FIXED_LENGTH = ("text-embedding-ada-002",)
_ENCODINGS = ("float", "base64")


def validate(body: Any) -> list[str]:
    """The texts ``body`` asks to embed; :class:`Refusal` where OpenAI refuses it."""
    if not isinstance(body, dict):
        raise Refusal("The request body must be a JSON object.")
    if not isinstance(body.get("model"), str):
        raise _missing("model")
    if "input" not in body:
        raise _missing("input")
    texts = body["input"]
    if isinstance(texts, str):
        texts = [texts]
    if (
        not isinstance(texts, list)
        or not 0 < len(texts) <= MAX_INPUTS
        or not all(isinstance(text, str) and text for text in texts)
    ):
        raise Refusal(INVALID_INPUT)
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
    encoding = body.get("encoding_format", "float")
    if encoding not in _ENCODINGS:
        raise _invalid(encoding, "encoding_format", _ENCODINGS)
    return texts


def render(body: dict[str, Any], texts: list[str], reply: Reply) -> dict[str, Any]:
    """The ``list`` of embeddings answering a validated request; ``reply`` may set
    its ``input_tokens``."""
    size = body.get("dimensions") or MOCK_DIMENSIONS
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
