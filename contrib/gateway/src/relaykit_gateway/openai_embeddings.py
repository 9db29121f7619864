"""OpenAI's Embeddings API (``POST /v1/embeddings``), served.

A request body becomes the arguments of one :meth:`relaykit.Client.embed`
(:func:`parse_embeddings`), and its answer OpenAI's ``list`` of ``embedding``
objects (:func:`embeddings_body`), the vectors as JSON numbers or, as OpenAI's
SDKs ask by default, as base64 of little-endian float32s.

``input`` is text: a string or a list of strings. OpenAI also takes token ids
(arrays of integers), which only mean something to OpenAI's own tokenizer;
the gateway reaches providers that each tokenize their own way, so it refuses
them with a 400 that says to send the text. The core checks the texts
themselves (none empty, none blank) and the parameters' values; its refusals
name the texts as the caller sent them, OpenAI's ``input`` (``input[3]``), not
relaykit's ``inputs`` (:func:`openai_named`).

Besides OpenAI's fields, the gateway reads relaykit's ``input_type``
(``"query"`` or ``"document"``; OpenAI SDK callers send it in ``extra_body``):
OpenAI has no such field, and without it a caller could not reach the models
that embed queries and documents apart (Gemini's task types, Cohere's and
Voyage's input types) in a way that works for every provider behind the
gateway. As on the chat route, ``metadata`` and ``user`` become the call's
metadata and other fields go to the provider untouched in ``extra``.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Literal

import attrs

from relaykit import EmbeddingResponse, InvalidRequestError

from .dialect import model_id, require_object
from .openai_dialect import with_body_fields

#: how a caller may ask for its vectors: JSON numbers, or base64 of float32s
EncodingFormat = Literal["float", "base64"]
_FORMATS: tuple[EncodingFormat, ...] = ("float", "base64")
#: request fields that become relaykit parameters of the same name
_SAME = ("dimensions", "input_type")
#: request fields the gateway itself reads
_OWN = frozenset((*_SAME, "model", "input", "encoding_format", "metadata", "user"))


@attrs.frozen
class EmbeddingsCall:
    """One call to make: ``client.embed(model, inputs, **params)``, answered in
    ``encoding_format``."""

    model: str
    #: the caller's ``input`` as it came (a string or a list), for the core to check
    inputs: str | Sequence[Any]
    params: Mapping[str, Any] = attrs.field(factory=dict)
    encoding_format: EncodingFormat = "float"


def parse_embeddings(body: Any, aliases: Sequence[str]) -> EmbeddingsCall:
    """The call an embeddings request body asks for; :class:`InvalidRequestError`
    names what is wrong. A bare model name goes to ``openai``, as on the chat route."""
    body = require_object(body)
    model = model_id(body.get("model"), aliases, "openai")
    inputs = body.get("input")
    if inputs is None:
        raise InvalidRequestError(
            "`input` is required: a string or a list of strings to embed", param="input"
        )
    if _holds_token_ids(inputs):
        raise InvalidRequestError(
            "`input` holds token ids: relaykit embeds text, which each provider"
            " tokenizes its own way, so send the texts themselves as strings",
            param="input",
        )
    encoding = body.get("encoding_format")
    if encoding is None:
        encoding = "float"  # OpenAI's default (its SDKs ask for base64)
    if encoding not in _FORMATS:
        raise InvalidRequestError(
            f"`encoding_format` must be 'float' or 'base64', not {encoding!r}",
            param="encoding_format",
        )
    same = {key: body[key] for key in _SAME if body.get(key) is not None}
    params = with_body_fields(same, body, _OWN)
    return EmbeddingsCall(model=model, inputs=inputs, params=params, encoding_format=encoding)


def embeddings_body(
    response: EmbeddingResponse, model: str, encoding_format: EncodingFormat
) -> dict[str, Any]:
    """OpenAI's ``{"object": "list", "data": [...], "model": ..., "usage": ...}``: one
    ``embedding`` object per input, in the inputs' order."""
    encode = base64_float32 if encoding_format == "base64" else _as_is
    tokens = response.usage.input_tokens  # embeddings have no output tokens
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(vector)}
            for i, vector in enumerate(response.vectors)
        ],
        "model": response.model or model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def base64_float32(vector: Sequence[float]) -> str:
    """``vector`` as OpenAI's ``base64`` encoding: little-endian float32s, base64-encoded.

    Little-endian whatever the machine's order, since that is what OpenAI sends and
    what its SDKs read (numpy's ``float32``, or the standard library's ``array``).
    """
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _as_is(vector: Sequence[float]) -> Sequence[float]:
    return vector  # a tuple: JSON's array of numbers


def _token_array(value: Any) -> bool:
    """Whether ``value`` is a token array: a non-empty list of integers."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def _holds_token_ids(inputs: Any) -> bool:
    """Whether ``inputs`` is one token array, or a list with one in it."""
    return _token_array(inputs) or (
        isinstance(inputs, list) and any(_token_array(item) for item in inputs)
    )


#: relaykit's name for the texts, alone or naming one (``inputs[3]``)
_RELAYKIT_INPUTS = re.compile(r"\binputs(?=\[\d+\]|\b)")


async def openai_named(embedding: Awaitable[EmbeddingResponse]) -> EmbeddingResponse:
    """``embedding``'s answer; a refusal naming relaykit's ``inputs`` (``inputs[3]``)
    renamed to OpenAI's ``input`` (``input[3]``), the field the caller sent, in its
    ``param``, message and hint."""
    try:
        return await embedding
    except InvalidRequestError as error:
        param = error.param
        if param is not None and _RELAYKIT_INPUTS.match(param):
            error.param = _RELAYKIT_INPUTS.sub("input", param, count=1)
            error.message = _RELAYKIT_INPUTS.sub("input", error.message)
            if error.hint:
                error.hint = _RELAYKIT_INPUTS.sub("input", error.hint)
        raise
