"""Embeddings on Bedrock: InvokeModel (``POST /model/{modelId}/invoke``) with each family's body.

Bedrock has no common embeddings API: each model family takes and answers its
own JSON. The family is told by the model id (a foundation model id, a
cross-region inference profile id such as ``us.cohere.embed-v4:0``, or the ARN
of either):

- Amazon Titan Text Embeddings V2 (``amazon.titan-embed-text-v2:0``):
  ``{"inputText", "dimensions", "normalize"}`` -> ``{"embedding",
  "inputTextTokenCount"}``. One text per request, so a call's texts go out as
  concurrent requests. ``dimensions`` is 256, 512 or 1024 (the default). A
  text takes at most 50,000 characters ("can intake up to 8,192 tokens or
  50,000 characters"): a longer one is refused before sending, naming it,
  since Bedrock's refusal of one request would not say which text it was.
- Amazon Titan Embeddings G1 - Text (``amazon.titan-embed-text-v1``): the
  same with ``inputText`` alone; no ``dimensions``.
- Cohere Embed v3 (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``)
  and v4 (``cohere.embed-v4:0``): ``{"texts", "input_type",
  "embedding_types"}``, up to 96 texts a request, and for v4 only
  ``output_dimension`` (256, 512, 1024 or 1536). Bedrock takes at most 2048
  characters a text for v3, whatever ``truncate`` says ("Malformed input
  request: #/texts/0: expected maxLength: 2048", the model parameters page's
  limits): a longer text is refused before sending, naming it, as relaykit
  cannot split one text. Cohere requires an input
  type: ``input_type="query"`` sends ``search_query``, anything else
  ``search_document``. The billed tokens come from the
  ``X-Amzn-Bedrock-Input-Token-Count`` header Bedrock adds to InvokeModel
  answers (estimated, about four characters a token, when an answer lacks it:
  Cohere's body carries no count). ``extra={"embedding_types": [...]}`` picks
  Cohere's types: ``int8`` or ``uint8`` vectors are read as sent (one integer a
  dimension); ``binary`` and ``ubinary`` alone, packed bits, are refused before
  sending (:func:`cohere_type`).

``extra`` is merged into each request's body (``{"truncate": "END"}``,
``{"normalize": false}``). Requests run at most :data:`MAX_CONCURRENT_REQUESTS`
at a time; the vectors come back in the inputs' order whatever order the
answers arrive in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from relaykit import (
    EmbeddingRequest,
    EmbeddingResponse,
    InvalidRequestError,
    ProviderUnavailableError,
    Usage,
)
from relaykit.embeddings import BatchAnswer, estimate_tokens, send_batches

from . import invoke_models
from .invoke_models import Invoke

#: How many InvokeModel requests of one call may be in flight together: enough
#: to embed a batch of Titan texts quickly, few enough for a modest account quota.
MAX_CONCURRENT_REQUESTS = 8
#: The header in which Bedrock reports the input tokens of an InvokeModel call.
INPUT_TOKENS_HEADER = "x-amzn-bedrock-input-token-count"


@attrs.frozen
class EmbeddingFamily:
    """One family of Bedrock embedding models: how its requests are shaped.

    ``prefix`` matches the model ids of the family (after any inference profile
    prefix); ``api`` is the body format (``"titan-v2"``,
    ``"titan-v1"`` or ``"cohere"``);
    ``batch`` how many texts a request takes; ``dimensions`` the sizes the
    model can shorten its vectors to (empty: it takes no ``dimensions``);
    ``max_chars`` the most characters of one text (``None``: the model's
    tokens limit it, which only the service counts).
    """

    prefix: str
    name: str
    api: Literal["titan-v2", "titan-v1", "cohere"]
    batch: int
    dimensions: tuple[int, ...] = ()
    max_chars: int | None = None


FAMILIES = (
    EmbeddingFamily(
        "amazon.titan-embed-text-v2",
        "Titan Text Embeddings V2",
        "titan-v2",
        1,
        (256, 512, 1024),
        max_chars=50_000,
    ),
    EmbeddingFamily("amazon.titan-embed-text-v1", "Titan Embeddings G1 - Text", "titan-v1", 1),
    EmbeddingFamily("cohere.embed-v4", "Cohere Embed v4", "cohere", 96, (256, 512, 1024, 1536)),
    EmbeddingFamily(
        "cohere.embed-english-v3", "Cohere Embed English v3", "cohere", 96, max_chars=2048
    ),
    EmbeddingFamily(
        "cohere.embed-multilingual-v3", "Cohere Embed Multilingual v3", "cohere", 96, max_chars=2048
    ),
)


def family_of(model: str) -> EmbeddingFamily:
    """The embedding family of ``model``; a typed error naming the supported ones if none."""
    return invoke_models.family_of(
        model,
        FAMILIES,
        kind="embedding",
        does="embeds",
        hint="call the model by its model id or inference profile id "
        "(amazon.titan-embed-text-v2:0, us.cohere.embed-v4:0)",
    )


def check_dimensions(family: EmbeddingFamily, request: EmbeddingRequest) -> None:
    """Refuse a ``dimensions`` the family cannot give, before anything is sent."""
    size = request.dimensions
    if size is None or size in family.dimensions:
        return
    if family.dimensions:
        allowed = ", ".join(map(str, family.dimensions))
        message = f"{family.name} takes `dimensions` of {allowed} only, not {size}"
        hint = f"pass one of {allowed}, or leave `dimensions` out for the full length"
    else:
        message = f"{family.name} takes no `dimensions`: its vectors have one length"
        hint = "leave `dimensions` out, or embed with a model that shortens its vectors"
        if family.api == "cohere":
            hint += " (cohere.embed-v4:0)"
        else:
            hint += " (amazon.titan-embed-text-v2:0)"
    raise InvalidRequestError(message, model=request.model, param="dimensions", hint=hint)


def check_lengths(family: EmbeddingFamily, request: EmbeddingRequest) -> None:
    """Refuse a text longer than the family takes, naming it, before anything is sent."""
    most = family.max_chars
    if most is None:
        return
    for i, text in enumerate(request.inputs):
        if len(text) > most:
            raise InvalidRequestError(
                f"inputs[{i}] is {len(text)} characters: {family.name} on Bedrock takes"
                f" at most {most} a text",
                model=request.model,
                param=f"inputs[{i}]",
                hint=f"cut it into pieces of at most {most} characters"
                + (
                    ", or embed with cohere.embed-v4:0, which takes longer texts"
                    if family.api == "cohere"
                    else ""
                ),
            )


#: Cohere Embed's embedding types, as its ``embedding_types`` takes them
COHERE_TYPES = ("float", "int8", "uint8", "binary", "ubinary")
#: those whose vectors hold one number a dimension, which a vector of floats holds
#: exactly, in the order one is read when several are asked for
READABLE_TYPES = ("float", "int8", "uint8")
_TYPES_PARAM = 'extra["embedding_types"]'


def cohere_type(request: EmbeddingRequest) -> str:
    """The embedding type a Cohere answer's vectors are read from: ``float`` unless
    ``extra["embedding_types"]`` asks for others (``int8`` or ``uint8``, read as sent).

    :raises InvalidRequestError: before sending, for a value Cohere does not take,
        and for packed-bit types alone (``binary``, ``ubinary``: eight dimensions a
        byte, which a vector of one number a dimension cannot hold).
    """
    types = request.extra.get("embedding_types")
    if types is None:
        return "float"
    if (
        not isinstance(types, list)
        or not types
        or not all(isinstance(t, str) and t in COHERE_TYPES for t in types)
    ):
        raise InvalidRequestError(
            f"Cohere Embed takes embedding_types of {', '.join(COHERE_TYPES)} in a"
            f" non-empty list, not {types!r}",
            model=request.model,
            param=_TYPES_PARAM,
            hint='pass a list such as ["int8"], or leave embedding_types out for floats',
        )
    kind = next((k for k in READABLE_TYPES if k in types), None)
    if kind is None:
        raise InvalidRequestError(
            f"Cohere's {' and '.join(types)} embeddings are packed bits, eight dimensions"
            " a byte, which relaykit's vectors (one number a dimension) cannot hold",
            model=request.model,
            param=_TYPES_PARAM,
            hint='ask for "float", "int8" or "uint8" instead (or beside them), and binarize'
            " those vectors yourself if you need bits",
        )
    return kind


def request_body(
    family: EmbeddingFamily, request: EmbeddingRequest, texts: Sequence[str]
) -> dict[str, Any]:
    """The InvokeModel body embedding ``texts`` (one text for Titan), ``extra`` merged in."""
    body: dict[str, Any]
    if family.api != "cohere":
        (text,) = texts
        body = {"inputText": text}
        if family.api == "titan-v2":  # v1 refuses any other key
            # normalize is Titan v2's default, but said here: the vectors are
            # unit length whatever the default becomes.
            body["normalize"] = True
            if request.dimensions is not None:
                body["dimensions"] = request.dimensions
    else:
        body = {
            "texts": list(texts),
            # Cohere requires one; documents are what most embedding calls are for.
            "input_type": "search_query" if request.input_type == "query" else "search_document",
            "embedding_types": ["float"],
        }
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
    body.update(request.extra)
    return body


def parse_answer(
    family: EmbeddingFamily,
    data: Any,
    headers: Mapping[str, str],
    count: int,
    *,
    provider: str,
    model: str,
    kind: str = "float",
) -> tuple[list[tuple[float, ...]], int | None]:
    """The vectors of one InvokeModel answer and the input tokens it billed
    (``None`` when the answer does not say); a Cohere answer by type is read at
    ``kind`` (:func:`cohere_type`).

    Raises :class:`relaykit.ProviderUnavailableError` when the answer does not
    hold ``count`` vectors of numbers.
    """
    try:
        if family.api != "cohere":
            raw: Any = [data["embedding"]]
            tokens = data.get("inputTextTokenCount")
        else:
            raw = data["embeddings"]
            if isinstance(raw, dict):  # embedding_types given: {"float": [[...]], ...}
                raw = raw[kind]
            tokens = None
        vectors = [tuple(float(x) for x in vector) for vector in raw]
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise ProviderUnavailableError(
            f"InvokeModel answered {family.name} without {kind} embeddings",
            provider=provider,
            model=model,
        ) from e
    if len(vectors) != count:
        raise ProviderUnavailableError(
            f"InvokeModel answered {len(vectors)} embeddings for {count} texts",
            provider=provider,
            model=model,
        )
    if tokens is None:
        tokens = headers.get(INPUT_TOKENS_HEADER)
    try:
        return vectors, int(tokens)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400, read as inf
        # No count (Cohere's models may come without the header) or a garbled
        # one: estimated, so that cost and token limits still count the texts.
        return vectors, None


async def embed(request: EmbeddingRequest, invoke: Invoke, *, provider: str) -> EmbeddingResponse:
    """Embed ``request.inputs`` with ``invoke``: the batches in parallel, the vectors in order."""
    family = family_of(request.model)
    check_dimensions(family, request)
    check_lengths(family, request)
    kind = cohere_type(request) if family.api == "cohere" else "float"
    texts = request.inputs
    batches = [texts[i : i + family.batch] for i in range(0, len(texts), family.batch)]

    async def one(batch: tuple[str, ...]) -> tuple[list[tuple[float, ...]], int | None]:
        data, headers = await invoke(request.model, request_body(family, request, batch))
        return parse_answer(
            family, data, headers, len(batch), provider=provider, model=request.model, kind=kind
        )

    def billed(index: int, answer: tuple[list[tuple[float, ...]], int | None]) -> BatchAnswer:
        vectors, counted = answer
        tokens = estimate_tokens(batches[index]) if counted is None else counted
        return BatchAnswer(
            first=index * family.batch,
            vectors=tuple(vectors),
            usage=Usage(tokens),
            tokens_estimated=counted is None,
        )

    answers = await send_batches(batches, one, concurrency=MAX_CONCURRENT_REQUESTS, billed=billed)
    tokens = [
        estimate_tokens(batch) if counted is None else counted
        for batch, (_, counted) in zip(batches, answers, strict=True)
    ]
    return EmbeddingResponse(
        vectors=tuple(v for vectors, _ in answers for v in vectors),
        model=request.model,
        usage=Usage(sum(tokens)),
        tokens_estimated=any(counted is None for _, counted in answers),
    )
