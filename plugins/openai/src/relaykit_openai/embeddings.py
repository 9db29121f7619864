"""Embeddings over ``POST /embeddings``: OpenAI's, and the compatible services' (same shape).

The provider loads this module on its first embeddings call. A call's texts
go out in batches OpenAI takes (:func:`batches`), at most :data:`CONCURRENCY`
requests at once, and come back as one :class:`~relaykit.EmbeddingResponse`,
vectors in the texts' order and usage summed.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from relaykit import (
    ContextLengthError,
    EmbeddingRequest,
    EmbeddingResponse,
    InvalidRequestError,
    ProviderUnavailableError,
    RelayError,
    Usage,
    json_decode,
    json_encode,
)
from relaykit.embeddings import BatchAnswer, name_callers_input, send_batches
from relaykit.http_errors import error_from_http
from relaykit.json_decode import SHAPE_ERRORS, count, wrong_shape

from . import wire
from .unreadable import unreadable

if TYPE_CHECKING:
    from relaykit.http import HttpClient

    from .provider import Encoding

#: the most texts OpenAI embeds in one request ("any array must be 2048
#: dimensions or less", the API reference's ``input``)
MAX_INPUTS = 2048
#: the most tokens OpenAI embeds in one request, summed over its texts ("all
#: embedding models enforce a maximum of 300,000 tokens summed across all inputs
#: in a single request"; over it: "Requested ... tokens, max 300000 tokens per
#: request")
MAX_TOKENS = 300_000
#: tokens a text may add beyond its own (a begin and an end marker)
TEXT_OVERHEAD = 2
#: how many of one call's requests run at once: a big batch finishes sooner,
#: without a burst that would trip the service's rate limit
CONCURRENCY = 4

_BIG_ENDIAN = sys.byteorder == "big"

#: one request's answer: its vectors in order, the tokens billed, the model named
Answer = tuple[list[tuple[float, ...]], int, str]


def batches(
    texts: Sequence[str], max_inputs: int = MAX_INPUTS, max_tokens: int = MAX_TOKENS
) -> list[tuple[str, ...]]:
    """``texts`` in order, cut into batches of at most ``max_inputs`` texts and
    ``max_tokens`` tokens (a longer text goes alone: the service judges it).

    No tokenizer is run: a text's tokens are counted as its UTF-8 bytes plus
    :data:`TEXT_OVERHEAD`, which no tokenizer exceeds (none has a token shorter
    than a byte), so a batch is never over the limit, at the price of more
    requests than a tokenizer would cut (about four bytes a token in English).
    """
    n = len(texts)
    if n <= max_inputs and sum(map(len, texts)) * 4 + n * TEXT_OVERHEAD <= max_tokens:
        return [tuple(texts)]  # the usual call: no bytes to count (UTF-8 takes <= 4 a char)
    out: list[tuple[str, ...]] = []
    batch: list[str] = []
    size = 0
    for text in texts:
        cost = len(text.encode()) + TEXT_OVERHEAD
        if batch and (len(batch) == max_inputs or size + cost > max_tokens):
            out.append(tuple(batch))
            batch, size = [], 0
        batch.append(text)
        size += cost
    out.append(tuple(batch))
    return out


#: OpenAI's embedding models whose vectors have one length ("dimensions: ... Only
#: supported in text-embedding-3 and later models", the API reference)
FIXED_LENGTH = ("text-embedding-ada-002",)


#: the longest vectors OpenAI's shortening models give (their full length; the
#: API reference's ``dimensions`` shortens them, it cannot lengthen them)
MAX_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}


def check_dimensions(request: EmbeddingRequest, provider: str) -> None:
    """Refuse ``dimensions`` for a model of OpenAI's that cannot shorten its vectors
    (the API: "This model does not support specifying dimensions."), or more
    than the model's full length, before anything is sent."""
    most = MAX_DIMENSIONS.get(request.model)
    if request.dimensions is not None and most is not None and request.dimensions > most:
        raise InvalidRequestError(
            f"{request.model} gives vectors of at most {most} dimensions, not {request.dimensions}",
            provider=provider,
            model=request.model,
            param="dimensions",
            hint=f"pass {most} or fewer, or leave `dimensions` out for the full length",
        )
    if request.dimensions is not None and request.model.startswith(FIXED_LENGTH):
        raise InvalidRequestError(
            f"{request.model} takes no `dimensions`: its vectors have one length (1536)",
            provider=provider,
            model=request.model,
            param="dimensions",
            hint="leave `dimensions` out, or embed with text-embedding-3-small or"
            " text-embedding-3-large, which shorten their vectors",
        )


def request_body(
    request: EmbeddingRequest,
    texts: Sequence[str],
    *,
    encoding: Encoding,
    dimensions_param: str = "dimensions",
) -> dict[str, Any]:
    """The JSON body of ``POST /embeddings`` for ``texts`` of ``request``.

    ``input_type`` is not sent: OpenAI's models embed queries and documents
    alike. ``request.extra`` is merged in last, as chat's is.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "input": list(texts),
        "encoding_format": encoding,
    }
    if request.dimensions is not None:
        body[dimensions_param] = request.dimensions
    if request.extra:
        body.update(request.extra)
    return body


def vector(embedding: Any) -> tuple[float, ...]:
    """One ``embedding`` as sent: base64 of little-endian float32s, or a list of numbers.

    Both are read whatever was asked for: some servers ignore ``encoding_format``.
    """
    if isinstance(embedding, str):
        values = array("f")
        values.frombytes(base64.b64decode(embedding, validate=True))
        if _BIG_ENDIAN:
            values.byteswap()
        return tuple(values.tolist())
    return tuple(map(float, embedding))


def parse(data: Any, sent: int | None = None) -> Answer:
    """A ``list`` response's vectors (by each item's ``index``), tokens and model; a
    ``ValueError`` for one of the wrong shape, or (given ``sent``, the texts sent)
    one whose items are not one for each text: :class:`MisplacedItems`."""
    try:
        return _parse(data, sent)
    except MisplacedItems:
        raise
    except SHAPE_ERRORS as e:
        raise wrong_shape("an embeddings list", e, data, {"data": [{}], "usage": {}}) from e


class MisplacedItems(ValueError):
    """An embeddings list whose items' places (their ``index``) are not each of the
    texts sent once."""


def _parse(data: Any, sent: int | None) -> Answer:
    items = data["data"]
    # Order by index; an item without one (a few compatible servers) keeps its place.
    places = [item.get("index", i) for i, item in enumerate(items)]
    if sent is not None and sorted(places) != list(range(sent)):
        # Read in order regardless, an answer that skips a text, names one twice or
        # names one past the last gives each text after the fault another's vector:
        # handed back when the count still matches, cached under the wrong texts when
        # it does not (the answered batches of a failed call are kept).
        raise MisplacedItems(
            f"its items are for the places {_places(places)} of the {sent} texts sent,"
            " not one for each (by their `index`)"
        )
    ordered = sorted(zip(places, items, strict=True), key=lambda pair: pair[0])
    vectors = [vector(item["embedding"]) for _, item in ordered]
    tokens = (data.get("usage") or {}).get("prompt_tokens") or 0
    return vectors, count(tokens, "usage.prompt_tokens"), str(data.get("model") or "")


def _places(places: Sequence[Any], most: int = 8) -> str:
    """``places`` sorted (they compare: :func:`_parse` sorted them), the first
    ``most`` of them (an answer may have thousands)."""
    more = ", ..." if len(places) > most else ""
    return "[" + ", ".join(map(repr, sorted(places)[:most])) + more + "]"


async def embed(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    name: str,
    request: EmbeddingRequest,
    *,
    encoding: Encoding,
    dimensions_param: str = "dimensions",
    limits: tuple[int, int] = (MAX_INPUTS, MAX_TOKENS),
    openai: bool = False,
) -> EmbeddingResponse:
    """Embed ``request``'s texts at ``url`` (``{base_url}/embeddings``) in as many
    requests as it takes (``limits``: the texts and tokens the service takes in
    one); the first failure fails the call, typed as chat's are. ``openai``:
    the service is OpenAI's, whose model rules are checked before sending."""
    if openai:
        check_dimensions(request, name)

    async def send(batch: tuple[int, tuple[str, ...]]) -> Answer:
        start, texts = batch
        body = request_body(request, texts, encoding=encoding, dimensions_param=dimensions_param)
        r = await http.post(url, content=json_encode.dumps(body), headers=headers)
        if r.status_code >= 400:
            error = error_from_http(
                r.status_code, r.headers, r.content, provider=name, model=request.model
            )
            # The service names a text by its place in this request (input[2]);
            # the caller's is the request's start plus that.
            if name_callers_input(error, lambda k: start + k) and isinstance(
                error, ContextLengthError
            ):
                error.hint = "shorten it, or cut it into pieces and embed each"
            raise error
        try:
            data = json_decode.loads(r.content)
        except ValueError as e:  # a proxy's page, or JSON cut short
            raise unreadable(
                "embeddings", e, provider=name, model=request.model, path="/embeddings"
            ) from None
        if isinstance(data, dict) and data.get("error") and not data.get("data"):
            # A failure reported with status 200 (OpenRouter's way) is an error.
            status = wire.error_status(data["error"])
            raise error_from_http(status, r.headers, r.content, provider=name, model=request.model)
        try:
            return parse(data, len(texts))
        except MisplacedItems as e:
            # as a malformed answer is (retryable: a retry asks again for this batch alone)
            raise ProviderUnavailableError(
                f"the embeddings response does not match the texts sent: {e}",
                provider=name,
                model=request.model,
                hint="if it happens again, the service answers wrongly: report it",
            ) from None
        except (KeyError, TypeError, ValueError) as e:  # base64's errors are ValueErrors
            if isinstance(data, dict) and data.get("data"):
                # vectors came, not as asked (a compatible service's floats for base64):
                # the same again on a retry, so not retried
                raise RelayError(
                    f"the embeddings response could not be read ({type(e).__name__}: {e})",
                    provider=name,
                    model=request.model,
                    hint="the service does not answer as OpenAI does: try embedding_encoding ="
                    ' "float", or report it',
                ) from None
            # no vectors (a proxy's JSON, {}): retried, as a malformed chat answer is
            raise unreadable(
                "embeddings", e, provider=name, model=request.model, path="/embeddings"
            ) from None

    split = batches(request.inputs, *limits)
    starts = [0, *accumulate(map(len, split[:-1]))]  # each request's first text

    def billed(index: int, answer: Answer) -> BatchAnswer:
        return BatchAnswer(first=starts[index], vectors=tuple(answer[0]), usage=Usage(answer[1]))

    answers = await send_batches(
        list(zip(starts, split, strict=True)), send, concurrency=CONCURRENCY, billed=billed
    )
    vectors = tuple(v for batch_vectors, _, _ in answers for v in batch_vectors)
    return EmbeddingResponse(
        vectors=vectors,
        model=answers[0][2] or request.model,
        usage=Usage(sum(tokens for _, tokens, _ in answers)),
    )
