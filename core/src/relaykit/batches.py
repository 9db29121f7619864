"""Batch calls: many chats sent as one job, answered within a day at half the price.

The values here cross the client's API (:meth:`relaykit.Client.submit_batch`
and its siblings) and the provider protocol (a plugin's ``submit_batch``,
``get_batch``, ``cancel_batch``, ``batch_results`` and, optionally,
``list_batches``):

- :class:`BatchItem`: one request of a batch, as a caller gives it;
- :class:`Batch`: a submitted batch, as the vendor last described it;
- :class:`BatchResult`: one item's answer, or its error, once the batch ended.

A batch's :attr:`Batch.status` is one of a few words every vendor's own
statuses map to (OpenAI's eight, Anthropic's three plus its counts, Gemini's
job states); :attr:`Batch.vendor_status` keeps the vendor's own.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .errors import (
    BatchItemNotRunError,
    InvalidRequestError,
    PartFieldError,
    ProviderUnavailableError,
    RelayError,
)
from .http_errors import error_from_http
from .json_decode import SHAPE_ERRORS, loads, require_answer, wrong_shape
from .secrets import cut_short
from .transport_errors import transport_error

if TYPE_CHECKING:
    from .http import HttpClient
    from .messages import Message
    from .response import ChatResponse

#: where a batch is: ``in_progress`` (validating, running or finalizing: results
#: are not ready), ``cancelling`` (a cancel was asked for, and is under way),
#: ``ended`` (every item answered or failed), ``failed`` (the vendor refused the
#: batch as a whole: its :attr:`Batch.error` says why; no item ran), ``expired``
#: (the completion window ran out: the items not done by then failed), or
#: ``cancelled`` (cancelled: the items not done by then failed). The last four
#: are final: :attr:`Batch.done`.
BatchStatus = Literal["in_progress", "cancelling", "ended", "failed", "expired", "cancelled"]
#: the statuses after which a batch changes no more (its results can be read)
FINAL_STATUSES: frozenset[str] = frozenset({"ended", "failed", "expired", "cancelled"})


@attrs.frozen
class BatchItem:
    """One request of a batch: ``custom_id`` names it (its result carries the same
    id), ``messages`` are what a chat takes, ``params`` the parameters a chat takes
    (``max_tokens``, ``temperature``, ``tools``, ``response_format``,
    ``reasoning``, ``extra``, ...); they win over the batch's own defaults."""

    custom_id: str
    messages: str | Sequence[Message | Mapping[str, Any]]
    params: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def coerce(cls, value: BatchItem | Mapping[str, Any], index: int) -> BatchItem:
        """Accept a BatchItem, or a dict with ``custom_id``, ``messages`` (or
        ``prompt``, one user message) and the item's parameters beside them (the
        shape of a line of ``relaykit batch submit``'s JSONL)."""
        if isinstance(value, BatchItem):
            return value
        if not isinstance(value, Mapping):
            raise InvalidRequestError(
                f"items[{index}] is a {type(value).__name__}, not a relaykit.BatchItem or a dict",
                param=f"items[{index}]",
                hint='give BatchItem(custom_id, messages, params) or {"custom_id": ...,'
                ' "messages": [...], ...params}',
            )
        fields = dict(value)
        custom_id = fields.pop("custom_id", None)
        if "messages" in fields and "prompt" in fields:
            raise InvalidRequestError(
                f"items[{index}] has both messages and prompt",
                param=f"items[{index}]",
                hint="give one: prompt is a single user message",
            )
        messages = fields.pop("messages", None)
        if messages is None:
            messages = fields.pop("prompt", None)
        if messages is None:
            raise InvalidRequestError(
                f"items[{index}] has no messages",
                param=f"items[{index}].messages",
                hint='give "messages": [...] or "prompt": "..."',
            )
        params = fields.pop("params", None)
        if params is not None:
            if not isinstance(params, Mapping):
                raise InvalidRequestError(
                    f"items[{index}].params must be a dict", param=f"items[{index}].params"
                )
            fields.update(params)
        return cls(custom_id, messages, fields)  # custom_id checked by the client


@attrs.frozen(kw_only=True)
class Batch:
    """A submitted batch, as its vendor last described it.

    ``id`` is provider-qualified (``"openai/batch_abc"``): the client finds the
    provider again from the id alone, in another process or a day later.
    (A plugin returns its vendor's own id; the client qualifies it.)
    ``model`` is the model every item goes to, when known. Counts are of
    items: ``succeeded`` answered, ``errored`` failed (cancelled or expired ones
    included, once the batch says so), the rest still pending. Times are
    wall-clock seconds since the epoch, as call records' are. ``error`` is the
    vendor's word on a batch it ``failed`` as a whole. ``result_files`` are where
    the vendor serves the results (file ids, URLs), for the plugin's
    ``batch_results``.
    """

    id: str
    provider: str
    status: BatchStatus
    vendor_status: str
    model: str | None = None
    total: int = 0
    succeeded: int = 0
    errored: int = 0
    created_at: float | None = None
    ended_at: float | None = None
    expires_at: float | None = None
    error: str | None = None
    result_files: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        """Whether the batch is final (ended, failed, expired or cancelled): its
        results can be read, and its status changes no more."""
        return self.status in FINAL_STATUSES

    @property
    def pending(self) -> int:
        """Items neither answered nor failed yet."""
        return max(0, self.total - self.succeeded - self.errored)

    @property
    def vendor_id(self) -> str:
        """The vendor's own id of the batch (``id`` without ``provider/``)."""
        prefix = f"{self.provider}/"
        return self.id[len(prefix) :] if self.id.startswith(prefix) else self.id


@attrs.frozen
class BatchResult:
    """One item of an ended batch: its ``response`` (priced at the batch rate), or
    the ``error`` it failed with, typed as a single call's would be (an item
    cancelled or expired before it ran is a :class:`~relaykit.RelayError` saying so).
    """

    custom_id: str
    response: ChatResponse | None = None
    error: RelayError | None = None

    @property
    def ok(self) -> bool:
        """Whether the item was answered."""
        return self.response is not None


def not_run(
    reason: Literal["cancelled", "expired"], *, provider: str, model: str | None
) -> BatchItemNotRunError:
    """The error of an item that never ran because its batch was ``reason``: the
    same words whichever vendor said it."""
    if reason == "cancelled":
        message = "not run: the batch was cancelled before this item was"
        hint = "submit it again in a new batch"
    else:
        message = "not run: the batch's completion window ran out before this item"
        hint = "submit it again in a new batch, or in smaller batches"
    return BatchItemNotRunError(message, reason=reason, provider=provider, model=model, hint=hint)


#: the attribute :func:`not_created` sets on an error
NOT_CREATED = "relaykit_batch_not_created"


def not_created(error: RelayError) -> RelayError:
    """``error``, of a submit that failed before its batch's create was sent (an upload
    of the input whose answer was lost), marked so: the client then does not add that
    the batch may have been created, and keeps the plugin's own message and hint,
    which say what may exist instead and how to find it. Returns ``error``."""
    setattr(error, NOT_CREATED, True)
    return error


def input_file_lost(error: Exception, *, provider: str, model: str, hint: str) -> RelayError:
    """The error of a submit whose upload of the batch's input file failed after the
    file may have been stored (its answer lost): typed (``error`` itself when it is a
    relaykit error), not retryable, saying no batch was created and the file may
    exist, with ``hint`` saying how to find and delete it; marked :func:`not_created`."""
    typed: RelayError | None = (
        error
        if isinstance(error, RelayError)
        else transport_error(error, provider=provider, model=model)
    )
    if typed is None:
        typed = ProviderUnavailableError(
            "the upload of the batch's input file answered with something other than a file",
            provider=provider,
            model=model,
        )
    typed.message = (
        f"{typed.message}; the batch's input file may have been stored all the same"
        " (no batch was created)"
    )
    typed.retryable = False
    typed.hint = hint
    return not_created(typed)


#: an RFC 3339 date-time: date, ``T`` (or a space, or ``t``), time with an optional
#: fraction of any length, and ``Z`` or an offset
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def epoch_seconds(value: Any, field: str) -> float | None:
    """An RFC 3339 time a batch API gives (``2024-08-20T18:37:24.100435Z``,
    ``2025-07-01T10:00:00.123456789Z``, ``2025-07-01T12:00:00+02:00``) as seconds
    since the epoch; ``None`` for ``None`` (the field is absent or null).

    The fraction may have any number of digits (Anthropic sends microseconds,
    Google nanoseconds); ``Z`` and an offset are both read. Anything else raises
    a ``TypeError`` naming ``field``, one of :data:`~relaykit.json_decode.SHAPE_ERRORS`:
    a plugin reading a batch catches those and raises
    :func:`~relaykit.json_decode.wrong_shape` for the whole answer.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{field} is {type(value).__name__}, not an RFC 3339 time")
    found = _RFC3339.fullmatch(value)
    if found is None:
        raise TypeError(f"{field} is not an RFC 3339 time: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in found.group(1, 2, 3, 4, 5, 6))
    offset = timedelta(0)
    if found.group(9):
        offset = timedelta(hours=int(found.group(10)), minutes=int(found.group(11)))
        offset = -offset if found.group(9) == "-" else offset
    try:
        # a leap second (60) is read as the next second's start, as Python has none
        leap = second == 60
        start = datetime(year, month, day, hour, minute, second - leap, tzinfo=UTC)
    except ValueError as e:  # a month 13, a February 30th
        raise TypeError(f"{field} is not an RFC 3339 time: {value!r} ({e})") from None
    fraction = float(f"0.{found.group(7)}") if found.group(7) else 0.0
    return (start - offset).timestamp() + leap + fraction


def result_id(line: Any, field: str = "custom_id") -> str:
    """The item a result (a line of a results file, an entry of inline results) names
    in its ``field``. A ``ValueError`` when it names none (not an object, or no text
    there): the read of the results stops there, typed by the core as a malformed
    answer, since a result that names no item cannot be matched to one."""
    named = line.get(field) if isinstance(line, Mapping) else None
    if isinstance(named, str) and named:
        return named
    found = "null" if named is None else type(named).__name__
    if not isinstance(line, Mapping):
        found = f"a result that is {'null' if line is None else type(line).__name__}"
    raise ValueError(f"a batch result names no item: {field}: expected text, got {found}")


def item_result(
    custom_id: str, read: Callable[[], BatchResult], *, provider: str, model: str | None
) -> BatchResult:
    """``read()``, the result of item ``custom_id`` decoded; when it raises, that item's
    error, so that one result of the wrong shape does not stop the read of the
    others (a vendor's results are per item): a relaykit error as it is (the answer
    refused, say), and what a decoder raises for an answer it cannot read (a
    ``ValueError`` or ``KeyError``, :data:`~relaykit.json_decode.SHAPE_ERRORS`, a
    part built from a value of the wrong type) as :func:`malformed_item`'s error."""
    try:
        return read()
    except PartFieldError as e:  # a part built from the answer: not the caller's error
        return BatchResult(custom_id, error=malformed_item(e, provider=provider, model=model))
    except RelayError as e:
        return BatchResult(custom_id, error=e)
    except (ValueError, KeyError, *SHAPE_ERRORS) as e:
        return BatchResult(custom_id, error=malformed_item(e, provider=provider, model=model))


def malformed_item(
    error: Exception, *, provider: str, model: str | None
) -> ProviderUnavailableError:
    """The error of one item whose result its decoder could not read (``error``, what it
    raised): in the words of a single call's malformed answer, caused by ``error``."""
    text = error.message if isinstance(error, RelayError) else str(error)
    typed = ProviderUnavailableError(
        f"malformed response from the provider ({type(error).__name__}: {cut_short(text, 200)})",
        provider=provider,
        model=model,
        hint="read the results again (a result garbled on the way may read whole); if it"
        " is the same, submit the item again in a new batch",
    )
    typed.__cause__ = error
    return typed


async def jsonl_lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """The non-empty lines of a JSONL body as its ``chunks`` arrive, joined across
    chunk boundaries: a plugin's ``batch_results`` reads a result file this way, never
    all of it at once. Closes ``chunks`` when done (or left)."""
    pending = b""
    async with aclosing(chunks) as stream:  # type: ignore[type-var]
        async for chunk in stream:
            pending += chunk
            *whole, pending = pending.split(b"\n")
            for line in whole:
                if line.strip():
                    yield line
    if pending.strip():
        yield pending


async def jsonl_results(
    http: HttpClient,
    urls: Iterable[str],
    read: Callable[[str, Mapping[str, Any]], BatchResult],
    *,
    headers: Mapping[str, str],
    provider: str,
    model: str | None,
    shape: Any = None,
) -> AsyncGenerator[BatchResult, None]:
    """The results in the JSONL files at ``urls`` (each a ``GET`` with ``headers``), one
    a line, each file read as it arrives: a plugin's ``batch_results``, for a vendor
    whose result lines name their item by ``custom_id``.

    Each line is decoded, named by its ``custom_id`` (:func:`result_id`) and read by
    ``read(custom_id, line)`` inside :func:`item_result`, so a line of the wrong shape
    is that item's malformed answer and the other lines are read all the same. What
    ``read`` raises of :data:`~relaykit.json_decode.SHAPE_ERRORS` names the first place
    the line does not fit the ``shape`` the vendor documents for it
    (:func:`~relaykit.json_decode.wrong_shape`). A line that is not JSON, or names no
    item, ends the read with a ``ValueError`` (a malformed answer: it matches no item);
    an error status, with the typed error a single call's would be
    (:func:`~relaykit.http_errors.error_from_http`).
    """
    for url in urls:
        async with http.stream("GET", url, headers=headers) as r:
            if r.status_code >= 400:
                await r.aread()
                raise error_from_http(
                    r.status_code, r.headers, r.content, provider=provider, model=model
                )
            async with aclosing(jsonl_lines(r.aiter_bytes())) as lines:
                async for text in lines:
                    line = loads(text)
                    custom_id = result_id(line)
                    yield item_result(
                        custom_id,
                        partial(_shaped, read, custom_id, line, shape),
                        provider=provider,
                        model=model,
                    )


#: what OpenAI's and Anthropic's lists of batches document of a page, to name the
#: place one of the wrong shape does not fit
_LIST_SHAPE = {"data": [{"id": str}], "last_id": str}


async def listed_batches(
    page: Callable[[str | None], Awaitable[bytes]],
    batch: Callable[[Mapping[str, Any]], Batch],
) -> AsyncGenerator[Batch, None]:
    """The batches of a vendor's list, newest first, a page at a time as they are read:
    a plugin's ``list_batches``, for a vendor whose pages are ``{"data": [...],
    "has_more", "last_id"}`` (OpenAI's and Anthropic's). ``page(after)`` answers the
    body of the page after the batch id ``after`` (``None``: the first); ``batch``
    makes each item of ``data`` a :class:`Batch`. The read stops at a page that says
    there are no more, holds none, or names no last id or one already asked after
    (which would read the same pages again); a page of the wrong shape is a
    ``ValueError`` naming where (:func:`~relaykit.json_decode.wrong_shape`), and so is
    one without ``data`` (:func:`~relaykit.json_decode.require_answer`)."""
    after: str | None = None
    asked: set[str] = set()
    while True:
        body = loads(await page(after))
        if after is not None:
            asked.add(after)
        # {} is no empty list: no batches is "data": []
        require_answer(body, "a list of batches", "data")
        try:
            data = list(body.get("data") or ())
            after = body.get("last_id") or (data[-1].get("id") if data else None)
            if after is not None and type(after) is not str:
                raise TypeError(f"last_id: expected text, got {type(after).__name__}")
            more = body.get("has_more")
        except SHAPE_ERRORS as e:
            raise wrong_shape("a list of batches", e, body, _LIST_SHAPE) from e
        for item in data:
            yield batch(item)
        if not more or not data or not after or after in asked:
            return


def _shaped(
    read: Callable[[str, Mapping[str, Any]], BatchResult],
    custom_id: str,
    line: Mapping[str, Any],
    shape: Any,
) -> BatchResult:
    """``read(custom_id, line)``, an error of the line's shape worded by where it is."""
    try:
        return read(custom_id, line)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a batch result", e, line, shape) from e


__all__ = [
    "FINAL_STATUSES",
    "NOT_CREATED",
    "Batch",
    "BatchItem",
    "BatchResult",
    "BatchStatus",
    "epoch_seconds",
    "input_file_lost",
    "item_result",
    "jsonl_lines",
    "jsonl_results",
    "listed_batches",
    "malformed_item",
    "not_created",
    "not_run",
    "result_id",
]
