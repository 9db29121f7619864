""":meth:`relaykit.Client.submit_batch` and its siblings: batch calls, client side.

submit: validate every item as a chat is validated -> redact outbound -> one
deployment (a route that falls back or balances is refused: a batch cannot
fall back) -> the provider's ``submit_batch`` -> the batch, its id qualified.
Then ``batch`` (refresh), ``cancel_batch``, ``batches`` (the newest, listed), and
``batch_results``: the
provider's results, line by line, each answer priced at the batch rate and
recorded (operation ``"batch"``).

What a single call has and a batch does not, and why:

- no fallbacks, breakers or hedging, and a retry only of a submit that
  certainly did nothing: creating a batch is not idempotent (a retried submit
  could run, and bill, every item twice; no vendor documents an
  ``Idempotency-Key`` for it), and the vendor runs the items, retrying as it
  sees fit. A submit that failed after the create may have reached the vendor
  (:func:`~relaykit.http.may_have_acted`: a timeout, a connection lost before
  the answer, a 500, 502 or 504) is an error that says so, not retryable, with
  how to look for the batch (``client.batches(provider)``, where the provider
  lists them); plugins that can tag a batch (OpenAI's metadata, Gemini's
  display name) first look for it themselves and answer with the batch they
  find. One that did nothing (no connection made, a 429, a 503 or 529, or a
  refusal before sending: a ConfigError, a body that cannot be encoded, no
  credentials; see :func:`~relaykit.http.never_sent`: no batch can exist) is
  retried with the client's ``[retry]`` policy if retryable, Retry-After
  honoured, within the submit's timeout. A plugin whose failure came before the
  create was sent (OpenAI's file upload) marks its error
  (:func:`relaykit.batches.not_created`) to say so itself;
- no rate limits or budgets at submit: vendors count batch work apart from
  their per-minute limits (OpenAI's batch queue limit, Anthropic's batch
  limits), and the spend happens over the next day. A batch's spend shows in
  the call log when its results are read (each item a record whose id derives
  from the batch id and custom_id, so reading twice does not count twice;
  storage writes are insert-or-ignore);
- no response cache: each item is answered once, by the vendor, later.
- outbound redaction with one session for the whole batch, kept by the client
  (:class:`~relaykit.outbound_redaction.BatchSessions`) for its results: only
  the client that submitted a batch restores its placeholders.

Each provider call is bounded by ``[timeouts] total`` (or the ``timeout``
given), and its transport errors are typed as a chat's are, without a key.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from .batches import NOT_CREATED, Batch, BatchItem, BatchResult
from .closing_gate import closed_under_call
from .errors import (
    ClientClosedError,
    InvalidRequestError,
    NotFoundError,
    RelayError,
    RequestTimeoutError,
)
from .messages import coerce_messages
from .protocols import NO_ANSWER_CONTENT, CallRecord
from .request import ChatRequest, build_request
from .response import with_call_fields
from .retry import may_retry, retry
from .routing import Target
from .single_calls import capability
from .transport_errors import may_have_acted, typed_and_masked, unsent
from .validation import check_options, check_size
from .web_search import refuse_unsearched

if TYPE_CHECKING:
    from .client import Client
    from .outbound_redaction import OutboundRedaction
    from .response import ChatResponse, ModelPrice

T = TypeVar("T")

_WHO_BATCHES = (
    "submit batches to a provider whose batch API relaykit speaks: openai (and the"
    " OpenAI-compatible groq), anthropic, or gemini (the Gemini API's Batch Mode)."
    " Bedrock's batch inference (CreateModelInvocationJob) reads its input from and writes"
    " its output to S3 buckets, and Vertex AI's batch prediction to Cloud Storage or"
    " BigQuery, which relaykit does not manage"
)
#: parameters a single chat takes that mean nothing for a batch item
_NOT_FOR_ITEMS = {
    "output_retries": "answers are parsed as they come back; retry an invalid one in a new batch",
    "cache": "a batch is never answered from the response cache",
    "timeout": "a batch item has no timeout of its own (the vendor runs it within 24 hours);"
    " give timeout= to submit_batch to bound the submission",
}


def split_id(batch_id: str) -> tuple[str, str]:
    """``"openai/batch_abc"`` -> ``("openai", "batch_abc")``; a typed refusal otherwise."""
    if not isinstance(batch_id, str):
        raise InvalidRequestError(
            f"a batch id is a string, not {type(batch_id).__name__}", param="batch_id"
        )
    provider, sep, vendor_id = batch_id.strip().partition("/")
    if not sep or not provider or not vendor_id:
        raise InvalidRequestError(
            f"batch id {batch_id!r} is not of the form 'provider/id'",
            param="batch_id",
            hint="use the id submit_batch returned (Batch.id), e.g. 'openai/batch_abc123'",
        )
    return provider, vendor_id


def record_id(batch_id: str, custom_id: str) -> str:
    """The call record id of ``custom_id``'s result in ``batch_id``: the same each time
    the results are read, so storage keeps one record per item."""
    digest = hashlib.sha256(f"{batch_id}\x00{custom_id}".encode()).hexdigest()
    return digest[:32]


async def submit_batch(
    client: Client,
    model: str,
    items: Iterable[BatchItem | Mapping[str, Any]],
    params: dict[str, Any],
) -> Batch:
    """Validate ``items`` and submit them to ``model``'s one deployment."""
    _open(client)
    target = _one_target(client, model)
    provider = client._registry.get(target.provider)
    submit = capability(provider, "submit_batch", target, "batch", _WHO_BATCHES)
    seconds = params.pop("timeout", None)
    if seconds is not None:
        check_options({"timeout": seconds})
    outbound = client._batch_sessions.start() if client._batch_sessions is not None else None
    requests = _requests(client, target, items, params, outbound)
    if not getattr(provider, "searches_web", False) and any(
        r.web_search is not None for _, r in requests
    ):
        raise refuse_unsearched(target)
    started = time.time()
    total = seconds if seconds is not None else client.config.timeouts.total
    deadline = time.monotonic() + total
    listable = getattr(provider, "list_batches", None) is not None

    async def attempt() -> Batch:
        left = max(0.0, deadline - time.monotonic())
        try:
            return await _provider_call(
                client,
                target,
                left,
                lambda: submit(requests),
                "no answer to the batch's submission",
            )
        except RelayError as e:
            if may_have_acted(e) and not getattr(e, NOT_CREATED, False):
                _maybe_created(e, target, len(requests), started, listable)
            raise

    try:
        batch = await attempt()
    except RelayError as first:
        # A failure that certainly did nothing (no connection, a 429, a 503: no batch
        # can exist) is retried as a chat's would be; one that may have acted is not
        # retryable by now (_maybe_created), so the policy refuses it.
        if not may_retry(first, client.config.retry):
            raise
        batch = await retry(
            first,
            attempt,
            config=client.config.retry,
            deadline=deadline,
            breaker=None,
            target=target,
        )
    batch = _qualified(batch, target.provider, target.model)
    if outbound is not None and client._batch_sessions is not None:
        client._batch_sessions.keep(batch.id, outbound)
    return batch


def _maybe_created(
    error: RelayError, target: Target, items: int, started: float, listable: bool
) -> None:
    """``error``, of a submit whose create may have reached the vendor, made to say so:
    not retryable, its hint how to find the batch before submitting it again."""
    when = time.strftime("%H:%M:%S UTC", time.gmtime(started))
    error.message = f"{error.message}; the batch may have been created all the same"
    error.retryable = False
    where = (
        f"client.batches({target.provider!r}) (or `relaykit batch list {target.provider}`)"
        if listable
        else f"{target.provider}'s list of batches (its console, or its list endpoint)"
    )
    error.hint = (
        f"do not submit these items again before looking for it: a batch of {items:,}"
        f" item{'s' if items != 1 else ''} to {target.model} created from {when} on, in"
        f" {where}; if it is there, read it with client.batch('"
        f"{target.provider}/ID'), else submit again"
    )


async def list_batches(client: Client, provider_or_model: str, limit: int) -> list[Batch]:
    """The ``limit`` most recent batches of ``provider_or_model``'s provider, newest first."""
    _open(client)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequestError(
            f"limit must be a whole number of at least 1, not {limit!r}",
            param="limit",
            hint="e.g. client.batches('openai', limit=20)",
        )
    if not isinstance(provider_or_model, str) or not provider_or_model.strip():
        raise InvalidRequestError(
            "name a provider ('openai') or a model ('openai/gpt-4o-mini') to list its batches",
            param="provider",
        )
    name = provider_or_model.strip()
    if "/" in name or name in client.config.models:
        name = _one_target(client, name).provider
    provider = client._registry.get(name)
    target = Target(name, "")
    listing = capability(provider, "list_batches", target, "batch listing", _WHO_BATCHES)

    async def read() -> list[Batch]:
        out: list[Batch] = []
        batches = listing(limit)
        try:
            async for batch in batches:
                out.append(_qualified(batch, name, None))
                if len(out) >= limit:
                    break
        finally:
            with anyio.CancelScope(shield=True):
                await batches.aclose()
        return out

    return await _provider_call(client, target, None, read, "no list of batches")


async def get_batch(client: Client, batch_id: str) -> Batch:
    """The batch ``batch_id`` as its vendor describes it now."""
    return await _by_id(client, batch_id, "get_batch")


async def cancel_batch(client: Client, batch_id: str) -> Batch:
    """Ask the vendor to cancel ``batch_id``; the batch as it then stands."""
    return await _by_id(client, batch_id, "cancel_batch")


async def batch_results(client: Client, batch_id: str) -> AsyncGenerator[BatchResult, None]:
    """The results of the ended batch ``batch_id``, as the vendor serves them (in no
    particular order: match them by ``custom_id``), each answer priced and recorded."""
    batch = await get_batch(client, batch_id)
    if not batch.done:
        raise InvalidRequestError(
            f"batch {batch.id} is {batch.status} ({batch.vendor_status}): it has no results yet",
            provider=batch.provider,
            model=batch.model,
            param="batch_id",
            hint="wait until batch.done (poll client.batch(id) every minute or so)",
        )
    if batch.status == "failed":
        raise RelayError(
            f"batch {batch.id} failed as a whole, so no item ran:"
            f" {batch.error or 'no reason given'}",
            provider=batch.provider,
            model=batch.model,
            hint="fix what the vendor names and submit the items again",
        )
    provider = client._registry.get(batch.provider)
    target = Target(batch.provider, batch.model or "")
    read = capability(provider, "batch_results", target, "batch", _WHO_BATCHES)
    vendor_batch = attrs.evolve(batch, id=batch.vendor_id)
    # Not counted in flight: a caller may leave the loop without closing the
    # generator, and aclose would then wait its whole timeout for nothing.
    results = read(vendor_batch)
    try:
        while True:
            try:
                with typed_and_masked(target, client._known):
                    result = await results.__anext__()
            except StopAsyncIteration:
                break
            except RelayError as error:
                if client._shut:  # its connection closed with the client: not the vendor's
                    raise _closed_while_reading(batch) from error
                raise
            result = _priced(client, batch, result)
            if client._outcomes.recording:
                await client._outcomes.emit(_record(client, batch, result))
            yield result
    finally:
        with anyio.CancelScope(shield=True):
            await results.aclose()


def _closed_while_reading(batch: Batch) -> ClientClosedError:
    """The error of a read of ``batch``'s results that the client's close cut off
    (the results read so far are recorded; reading again records each item once)."""
    return ClientClosedError(
        f"the client closed while the results of batch {batch.id} were read",
        provider=batch.provider,
        model=batch.model,
        hint="read them again with an open client (each item is recorded once), "
        "and close the client after the loop",
    )


def _open(client: Client) -> None:
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")


def _one_target(client: Client, model: str) -> Target:
    """The one deployment ``model`` names; a route of several is refused."""
    targets = client._router.plan(model)
    if len(targets) > 1:
        route = client.config.models[model]
        raise InvalidRequestError(
            f"{model!r} is a route of {len(targets)} deployments ({route.strategy}): a batch"
            " goes to one deployment and cannot fall back or be balanced",
            param="model",
            hint="submit to one deployment, e.g. " + " or ".join(repr(str(t)) for t in targets),
        )
    return targets[0]


def _requests(
    client: Client,
    target: Target,
    items: Iterable[BatchItem | Mapping[str, Any]],
    defaults: Mapping[str, Any],
    outbound: OutboundRedaction | None,
) -> list[tuple[str, ChatRequest]]:
    """Each item as the ChatRequest a chat would send (validated the same way), with
    its custom id; the ids checked present and unique."""
    if isinstance(items, str | bytes | Mapping | BatchItem):
        raise InvalidRequestError(
            "items must be a list of BatchItem (or dicts), not one item",
            param="items",
            hint="wrap it in a list: submit_batch(model, [item])",
        )
    if not isinstance(items, Iterable):  # iterated below: a TypeError
        raise InvalidRequestError(
            f"items must be a list of BatchItem (or dicts), not {type(items).__name__}",
            param="items",
        )
    for key, why in _NOT_FOR_ITEMS.items():
        if key in defaults and key != "timeout":
            raise InvalidRequestError(f"`{key}` does not apply to a batch: {why}", param=key)
    out: list[tuple[str, ChatRequest]] = []
    seen: dict[str, int] = {}
    limit = client.config.validation.max_chars
    for i, raw in enumerate(items):
        item = BatchItem.coerce(raw, i)
        custom_id = item.custom_id
        if not isinstance(custom_id, str) or not custom_id.strip():
            raise InvalidRequestError(
                f"items[{i}] has no custom_id",
                param=f"items[{i}].custom_id",
                hint="give each item a non-empty custom_id: its result carries it back",
            )
        if custom_id in seen:
            raise InvalidRequestError(
                f"items[{i}] repeats the custom_id {custom_id!r} of items[{seen[custom_id]}]",
                param=f"items[{i}].custom_id",
                hint="give each item its own custom_id: results are matched by it",
            )
        seen[custom_id] = i
        if not isinstance(item.params, Mapping):
            raise InvalidRequestError(
                f"items[{i}].params must be a dict", param=f"items[{i}].params"
            )
        for key, why in _NOT_FOR_ITEMS.items():
            if key in item.params:
                raise InvalidRequestError(
                    f"items[{i}] ({custom_id!r}): `{key}` does not apply to a batch item: {why}",
                    param=f"items[{i}].{key}",
                )
        merged = {**defaults, **item.params}
        try:
            request = build_request(target.model, coerce_messages(item.messages), merged)
            check_size(request, limit)
        except InvalidRequestError as e:
            raise InvalidRequestError(
                f"items[{i}] ({custom_id!r}): {e.message}",
                param=f"items[{i}].{e.param}" if e.param else f"items[{i}]",
                hint=e.hint,
            ) from None
        if outbound is not None:
            request = outbound.request(request)
        out.append((custom_id, request))
    if not out:
        raise InvalidRequestError(
            "a batch needs at least one item", param="items", hint="pass a non-empty list"
        )
    return out


async def _by_id(client: Client, batch_id: str, method: str) -> Batch:
    _open(client)
    provider_name, vendor_id = split_id(batch_id)
    provider = client._registry.get(provider_name)
    target = Target(provider_name, "")
    call = capability(provider, method, target, "batch", _WHO_BATCHES)
    try:
        batch: Batch = await _provider_call(
            client, target, None, lambda: call(vendor_id), "no answer about the batch"
        )
    except NotFoundError as e:
        if e.hint == NotFoundError.hint_default:  # about model ids: wrong for a batch id
            e.hint = (
                f"check the batch id: use the one submit_batch returned as Batch.id"
                f" (`relaykit batch submit` prints it), as {provider_name}/ID"
            )
        raise
    return _qualified(batch, provider_name, None)


async def _provider_call(
    client: Client,
    target: Target,
    seconds: float | None,
    call: Callable[[], Awaitable[T]],
    what: str,
) -> T:
    """``call()`` bounded by ``seconds`` (or ``[timeouts] total``), in flight for aclose;
    its errors typed and masked as a chat's are."""
    if client._cold:
        await client._warm_up()
    total = seconds if seconds is not None else client.config.timeouts.total
    client._in_flight += 1
    scope = anyio.move_on_after(total)
    try:
        if client._shut:  # shut down while the HTTP stack was imported: nothing sent
            raise unsent(closed_under_call())
        # Cancelled by aclose once its wait is over, as a chat waiting on a provider
        # is: it would otherwise go on over connections closed under it.
        client._running.add(scope)
        with typed_and_masked(target, client._known), scope:
            return await call()
    finally:
        client._running.discard(scope)
        client._call_ended()
    if client._shut:
        raise closed_under_call()
    raise RequestTimeoutError(
        f"{what} within the total timeout of {total:g}s",
        which="total",
        provider=target.provider,
        model=target.model or None,
        hint="raise [timeouts] total or pass timeout=...",
    )


def _qualified(batch: Batch, provider: str, model: str | None) -> Batch:
    """``batch`` as the caller sees it: its id ``provider/vendor_id``."""
    vendor_id = batch.id.removeprefix(f"{provider}/")
    return attrs.evolve(
        batch, id=f"{provider}/{vendor_id}", provider=provider, model=batch.model or model
    )


def _priced(client: Client, batch: Batch, result: BatchResult) -> BatchResult:
    """``result`` with its answer's provider, model and cost at the batch rate; its error
    masked."""
    if result.error is not None:
        client._known.mask_error(result.error)
    response = result.response
    if response is None:
        return result
    model = response.model or batch.model or ""
    price = client._price(Target(batch.provider, batch.model or model), model)
    # The batch's own session (BatchSessions): never another caller's values.
    outbound = client._batch_sessions.get(batch.id) if client._batch_sessions is not None else None
    if outbound is not None:
        response = outbound.response(response)
    response = with_call_fields(
        response,
        provider=batch.provider,
        model=model,
        latency=None,
        cost=batch_cost(price, response),
        attempts=1,
    )
    return attrs.evolve(result, response=response)


def batch_cost(price: ModelPrice | None, response: ChatResponse) -> Any:
    """What ``response`` cost as a batch item: its usage at ``price``, times the share of
    the standard price a batch pays (:attr:`~relaykit.ModelPrice.batch_share`; the whole
    price when the price does not say). The discount is on tokens: the web searches an
    item ran cost what they cost in a single call. ``None`` without a price."""
    if price is None:
        return None
    cost = price.cost(response.usage)
    if price.batch_share is None:
        return cost
    usage = response.usage
    searches = usage.web_searches * price.web_search if price.web_search is not None else 0
    return (cost - searches) * price.batch_share + searches


_SPACE = re.compile(r"\s+")


def _record(client: Client, batch: Batch, result: BatchResult) -> CallRecord:
    """The call record of one item's result (redacted by ``CallOutcomes.emit``)."""
    now = time.time()
    fields: dict[str, Any] = {
        "id": record_id(batch.id, result.custom_id),
        "started_at": batch.created_at or now,
        "finished_at": batch.ended_at or now,
        "operation": "batch",
        "provider": batch.provider,
        "model_requested": f"{batch.provider}/{batch.model}" if batch.model else batch.id,
        "model": batch.model or "",
        "streamed": False,
        # the custom_id is the caller's to choose, as a correlation id is
        "params": {"batch_id": batch.id, "custom_id": client._outcomes.mask_id(result.custom_id)},
    }
    response = result.response
    if response is not None:
        if not client._outcomes.content:  # nothing reads the answers: keep the counts alone
            fields.update(NO_ANSWER_CONTENT)
        return CallRecord.from_response(response, **fields)
    error = result.error
    assert error is not None
    return CallRecord(
        **fields,
        error_type=type(error).__name__,
        error_message=_SPACE.sub(" ", str(error)),
        status=error.status,
    )
