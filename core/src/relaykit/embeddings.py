"""Embeddings: what a caller asks for (:class:`EmbeddingRequest`) and gets back.

:meth:`relaykit.Client.embed` builds the request from the caller's arguments
(:func:`build_embedding_request`) and hands it to a provider's optional
``embed`` method; everything around the call (routing, limits, retries,
breakers, the cache, cost, traces, metrics and the call log) is the chat
pipeline's, in :mod:`relaykit.embedding_call`.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, Literal, TypeVar

import anyio
import attrs

from .errors import InvalidRequestError, did_you_mean
from .response import Usage
from .secrets import scrubbed_repr
from .validation import check_options

__all__ = [
    "BatchAnswer",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "InputType",
    "Vector",
    "estimate_tokens",
    "name_callers_input",
    "send_batches",
]

#: What the texts are for, where the model embeds queries and documents apart
#: (Gemini's task types, Cohere's and Voyage's input types).
InputType = Literal["query", "document"]

#: One embedding: a tuple of floats, as many as the model's dimensions.
Vector = tuple[float, ...]


@attrs.frozen(kw_only=True)
class EmbeddingRequest:
    """One embeddings call, as the core hands it to a provider plugin's ``embed``.

    ``model`` is the provider's own model name (without the ``provider/``
    prefix). ``inputs`` are the texts, at least one, none empty, in the order
    the vectors must come back in. ``dimensions`` asks for shorter vectors
    (models that can: OpenAI's ``text-embedding-3-*``, Gemini, Titan v2, ...);
    ``input_type`` says whether the texts are search queries or the documents
    searched, for the models that embed them apart; a provider whose API has
    no such notion ignores it. ``extra`` is merged into what the plugin sends:
    the request body, or each text's entry where the vendor has one per text
    (Gemini).
    """

    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    input_type: InputType | None = None
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)


def _vectors_repr(vectors: tuple[Vector, ...]) -> str:
    # Thousands of floats help nobody reading a repr or a log line.
    width = len(vectors[0]) if vectors else 0
    return f"<{len(vectors)} x {width} floats>"


@attrs.frozen(kw_only=True)
class EmbeddingResponse:
    """The result of one embeddings call: one vector per input, in the inputs' order.

    ``usage.input_tokens`` is what the provider billed (embeddings have no
    output tokens), or, where it said nothing (``tokens_estimated``: some
    vendors' older models, Cohere on Bedrock without its header), about a
    quarter of the characters sent; ``cost`` is in USD when the model's price
    is known.
    ``model`` is the model the provider says it used, ``provider`` the
    configured provider that answered.
    """

    vectors: tuple[Vector, ...] = attrs.field(repr=_vectors_repr)
    model: str = ""
    provider: str = ""
    usage: Usage = Usage()
    cost: Decimal | None = None
    latency: float | None = None
    attempts: int = 1
    cache_hit: bool = False
    tokens_estimated: bool = False

    @property
    def dimensions(self) -> int:
        """The length of each vector (0 when there are none)."""
        return len(self.vectors[0]) if self.vectors else 0


PARAMS = ("dimensions", "input_type", "timeout", "metadata", "extra")
_INPUT_TYPES = ("query", "document")


def coerce_inputs(
    inputs: str | Sequence[str], *, param: str = "inputs", takes: str = "embeddings take text"
) -> tuple[str, ...]:
    """``inputs`` as a tuple of texts; a typed error naming the first that is not one.

    ``param`` is the argument's name in the errors (moderation's is ``input``),
    ``takes`` what the call reads (``"moderation takes text"``).
    """
    if isinstance(inputs, str):
        texts: tuple[Any, ...] = (inputs,)
    elif isinstance(inputs, bytes | bytearray):
        verb = "are" if param.endswith("s") else "is"
        raise InvalidRequestError(
            f"{param} {verb} bytes: {takes}", param=param, hint="decode them first"
        )
    elif isinstance(inputs, Sequence):
        texts = tuple(inputs)
    else:
        raise InvalidRequestError(
            f"{param} must be a string or a list of strings, not {type(inputs).__name__}",
            param=param,
        )
    if not texts:
        raise InvalidRequestError(
            f"{param} is empty: pass a string or a list of at least one string", param=param
        )
    for i, text in enumerate(texts):
        where = param if isinstance(inputs, str) else f"{param}[{i}]"
        if not isinstance(text, str):
            raise InvalidRequestError(
                f"{where} is a {type(text).__name__}, not a string: {takes}",
                param=where,
            )
        if not text.strip():
            # Every vendor refuses an empty text (OpenAI: "'$.input' is invalid"),
            # and a blank one has no meaning to embed or to moderate.
            raise InvalidRequestError(
                f"{where} is empty: the providers refuse blank texts",
                param=where,
                hint="leave blank texts out, and keep track of where they were",
            )
    return texts


def build_embedding_request(
    model: str, inputs: str | Sequence[str], params: Mapping[str, Any]
) -> EmbeddingRequest:
    """Validate the caller's arguments into an :class:`EmbeddingRequest` for ``model``."""
    texts = coerce_inputs(inputs)
    if not params:
        return EmbeddingRequest(model=model, inputs=texts)
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        name = unknown[0]
        fix = did_you_mean(
            name, PARAMS, f"embed takes {', '.join(PARAMS)}; pass others in extra={{...}}"
        )
        raise InvalidRequestError(f"unknown parameter {name!r} for embed: {fix}", param=name)
    p = {key: value for key, value in params.items() if value is not None}
    dimensions = p.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1
    ):
        raise InvalidRequestError(
            f"`dimensions` must be a positive integer, not {dimensions!r}", param="dimensions"
        )
    input_type = p.get("input_type")
    if input_type is not None and input_type not in _INPUT_TYPES:
        raise InvalidRequestError(
            f"`input_type` must be 'query' or 'document', not {input_type!r}",
            param="input_type",
            hint="pass a vendor's own value in extra={...}, under the vendor's field name",
        )
    check_options(p)
    return EmbeddingRequest(model=model, inputs=texts, **p)


def input_size(request: EmbeddingRequest) -> int:
    """Characters of text the request carries (for the size check and limit estimates)."""
    return sum(map(len, request.inputs))


# -- for provider plugins -------------------------------------------------------

Batch = TypeVar("Batch")
Answer = TypeVar("Answer")


def estimate_tokens(texts: Sequence[str]) -> int:
    """About four characters a token, at least one a text: the input tokens to
    report when a vendor's answer does not say (as relaykit's limits estimate)."""
    return sum(max(1, -(-len(text) // 4)) for text in texts)


#: a ``param`` naming one text: OpenAI's ``input[3]``, relaykit's ``inputs[3]``
_INPUT_PARAM = re.compile(r"inputs?\[(\d+)\]")


def name_callers_input(error: BaseException, position: Callable[[int], int]) -> bool:
    """Make ``error`` name the caller's text where it names one of a request's.

    A vendor names a refused text by its place in the request it got
    (``input[2]``); when a call's texts went in several requests, or the cache
    answered some, that is not the caller's place. ``position(k)`` gives the
    caller's index of the request's ``k``-th text; the error's ``param``,
    message and hint then name ``inputs[position(k)]``. Whether ``error`` named
    a text (an error without such a ``param`` is left as it is).
    """
    param = getattr(error, "param", None)
    found = _INPUT_PARAM.fullmatch(param) if isinstance(param, str) else None
    if found is None or not isinstance(error, InvalidRequestError):
        return False
    name = f"inputs[{position(int(found.group(1)))}]"
    error.param = name
    error.message = error.message.replace(found.group(0), name)
    if error.hint:
        error.hint = error.hint.replace(found.group(0), name)
    return True


@attrs.frozen(kw_only=True)
class BatchAnswer:
    """What one of a call's requests brought back and was billed, for
    :func:`send_batches`' ``billed``: ``first`` is the place, among the request's
    ``inputs``, of the request's first text, ``vectors`` its texts' vectors in
    order, ``usage`` what the vendor billed for it (``tokens_estimated``: an
    estimate, as :attr:`EmbeddingResponse.tokens_estimated`)."""

    first: int
    vectors: tuple[Vector, ...] = attrs.field(repr=_vectors_repr)
    usage: Usage
    tokens_estimated: bool = False


@attrs.define
class BatchLedger:
    """What one deployment's requests for one call brought back, kept by the core over
    the call's retries (:data:`answered_batches`).

    ``answers`` are the plugin's answers by batch: a retry sends only the batches
    it lacks. ``billed`` is what each of them brought and billed, where the plugin
    says (``send_batches(billed=...)``): when a later request fails, the core
    settles the call's limits with it, records it, and caches its vectors. Of
    those, ``settled`` are the batches a failed attempt's limits were settled
    with already (their usage ``settled_usage``, their cost ``settled_cost``).
    """

    answers: dict[Any, Any] = attrs.field(factory=dict)
    billed: dict[Any, BatchAnswer] = attrs.field(factory=dict)
    settled: set[Any] = attrs.field(factory=set)
    settled_usage: Usage = Usage()
    settled_cost: Decimal | None = None
    #: whether any settled batch's tokens were estimated
    settled_estimated: bool = False
    #: the error that failed the attempt whose settlement came last
    error: Exception | None = None

    def unsettled(self) -> tuple[Usage, bool] | None:
        """The usage of the answered batches no attempt settled yet, now marked
        settled, and whether any was estimated; ``None`` when there are none."""
        fresh = [key for key in self.billed if key not in self.settled]
        if not fresh:
            return None
        usage = Usage()
        estimated = False
        for key in fresh:
            answer = self.billed[key]
            usage += answer.usage
            estimated = estimated or answer.tokens_estimated
        self.settled.update(fresh)
        self.settled_usage += usage
        self.settled_estimated = self.settled_estimated or estimated
        return usage, estimated


#: What a deployment's requests already brought back for one call, set by the
#: core around each attempt (one :class:`BatchLedger` per deployment of a call,
#: kept over its retries): :func:`send_batches` sends only the batches it lacks,
#: so a retry after one batch of ten failed is one request, not ten, and no text
#: is embedded (and billed) twice.
answered_batches: ContextVar[BatchLedger | None] = ContextVar(
    "relaykit_answered_batches", default=None
)


async def send_batches(
    batches: Sequence[Batch],
    send: Callable[[Batch], Awaitable[Answer]],
    *,
    concurrency: int,
    billed: Callable[[int, Answer], BatchAnswer] | None = None,
) -> list[Answer]:
    """``send(batch)`` for each of ``batches``, at most ``concurrency`` at once;
    the answers in the batches' order.

    For a plugin whose vendor takes fewer texts a request than a caller passed.
    The first failure cancels the other requests and is raised as it is, not in
    an exception group, so the core types, retries and records it as the error
    of a single request. A retry of the call sends only the batches that got
    no answer (:data:`answered_batches`): answers must be values, not objects
    a later step changes. One batch is sent without a task group.

    ``billed(index, answer)`` says what the answer to ``batches[index]`` brought
    and was billed (:class:`BatchAnswer`). Give it: the vendor bills the requests that were
    answered before one failed, and with it the core charges the failed call's
    limits and budget with them, records their usage, and caches their vectors
    (where the call is cached), so a retry does not pay for them again.
    """
    ledger = answered_batches.get()
    if ledger is None:
        ledger = BatchLedger()  # called outside the core's retries: nothing to keep
    if len(batches) == 1:
        return [await _send_once(0, batches[0], send, ledger, billed)]
    answers: list[Any] = [None] * len(batches)
    failures: list[Exception] = []
    queue = iter(enumerate(batches))  # shared: each batch goes to the next free worker

    async def worker(scope: anyio.CancelScope) -> None:
        for index, batch in queue:
            try:
                answers[index] = await _send_once(index, batch, send, ledger, billed)
            except Exception as e:
                failures.append(e)
                scope.cancel()
                return

    async with anyio.create_task_group() as group:
        for _ in range(min(concurrency, len(batches))):
            group.start_soon(worker, group.cancel_scope)
    if failures:
        raise failures[0]
    return answers


async def _send_once(
    index: int,
    batch: Batch,
    send: Callable[[Batch], Awaitable[Answer]],
    ledger: BatchLedger,
    billed: Callable[[int, Answer], BatchAnswer] | None,
) -> Answer:
    """``send(batch)``, or the answer an earlier attempt got for it."""
    try:
        key: Any = (index, batch)
        hash(key)
    except TypeError:  # a batch that is not a value: sent every time
        return await send(batch)
    answered = ledger.answers
    if key in answered:
        answer: Answer = answered[key]
        return answer
    answered[key] = answer = await send(batch)
    if billed is not None:
        ledger.billed[key] = billed(index, answer)
    return answer
