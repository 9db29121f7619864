"""Anthropic's Message Batches API (``/v1/messages/batches``), served without state.

The gateway keeps no batch: a batch it creates is a relaykit batch
(:meth:`relaykit.Client.submit_batch`), whose provider-qualified id
(``"openai/batch_abc"``) the gateway's own id carries, as ``msgbatch_``, a
tag of the caller's and the id in URL-safe base64 (:func:`gateway_id`; see
:mod:`relaykit_gateway.owned_ids`), so any gateway process can retrieve,
cancel and read it, a day later, for the gateway key that created it only. An
id that does not decode so, or was given to another key, is not a batch of
this caller's (:func:`relaykit_id` says ``None``: a 404). Only the batch list
needs a note of each batch made (its id and key, in the gateway's
:class:`~relaykit_gateway.file_store.FileStore`, as OpenAI's batches are noted),
paged as Anthropic pages its lists (:class:`~relaykit_gateway.anthropic_lists.ListPage`).

- a create body's requests each have their ``params`` parsed as a
  ``POST /v1/messages`` body is (:func:`parse_batch`), so aliases, tools,
  thinking and system prompts map as for one call; a relaykit batch goes to one
  deployment, so every request must name the same model;
- a :class:`relaykit.Batch` becomes a ``message_batch`` object
  (:func:`batch_body`): relaykit's ``in_progress`` is ``in_progress``,
  ``cancelling`` is ``canceling``, and its final statuses are all ``ended``.
  Counts: relaykit's pending items are ``processing`` while the batch runs; once
  it is final, those never answered are ``canceled`` (a cancelled batch),
  ``expired`` (an expired one) or ``errored`` (a failed one). A vendor that
  counts the items a cancel or expiry stopped as failed (OpenAI does) has them
  in relaykit's ``errored``, and so in Anthropic's: only their result lines say
  ``canceled`` or ``expired``. relaykit knows no archive or cancel times: those
  are ``null``;
- each :class:`relaykit.BatchResult` becomes a line of the results' JSONL
  (:func:`result_line`): ``succeeded`` with the message as ``POST /v1/messages``
  answers it, ``canceled`` or ``expired`` for an item that never ran because
  its batch was, else ``errored`` with Anthropic's error body, its status
  mapped as for a single call.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from typing import Any

from relaykit import Batch, BatchItemNotRunError, BatchResult, InvalidRequestError, RelayError
from relaykit.json_encode import dumps

from .anthropic_dialect import AnthropicDialect, error_object
from .anthropic_versions import refuse_removed
from .dialect import GatewayCall, require_object, status_of
from .owned_ids import IdOwner, untagged

#: where the batch routes start (each batch's are below it)
BATCHES = "/v1/messages/batches"
#: what a gateway batch id starts with, as Anthropic's own do
ID_PREFIX = "msgbatch_"
#: Anthropic's batches end within a day of their creation
_DAY = 24 * 3600
#: relaykit's batch statuses in Anthropic's words
_PROCESSING = {"in_progress": "in_progress", "cancelling": "canceling"}


def gateway_id(batch_id: str, owner: IdOwner) -> str:
    """The gateway's id of the relaykit batch ``batch_id``, for ``owner``: one path segment."""
    return owner.make(ID_PREFIX, batch_id)


def relaykit_id(gateway_batch_id: str, owner: IdOwner) -> str | None:
    """The relaykit batch id ``gateway_batch_id`` carries, if it is ``owner``'s (``None``:
    not one of theirs)."""
    batch_id = owner.read(gateway_batch_id, ID_PREFIX)
    return batch_id if batch_id is not None and _names_a_batch(batch_id) else None


def untagged_relaykit_id(old_id: str) -> str | None:
    """The relaykit batch id an id of an earlier gateway carries (one without a tag,
    no longer served), or ``None``."""
    batch_id = untagged(old_id, ID_PREFIX)
    return batch_id if batch_id is not None and _names_a_batch(batch_id) else None


def _names_a_batch(batch_id: str) -> bool:
    provider, sep, vendor_id = batch_id.partition("/")
    return bool(sep and provider and vendor_id)


def parse_batch(
    body: Any, aliases: Sequence[str], dialect: AnthropicDialect, version: str | None = None
) -> tuple[str, list[tuple[str, GatewayCall]]]:
    """The model and each request's ``(custom_id, call)`` a create body asks for, each
    request's ``params`` parsed by ``dialect`` as a ``POST /v1/messages`` body sent with
    the ``anthropic-version`` ``version`` is.
    :class:`InvalidRequestError` names what is wrong, and where."""
    requests = require_object(body).get("requests")
    if not isinstance(requests, list) or not requests:
        raise InvalidRequestError(
            "`requests` must be a non-empty list of {custom_id, params}", param="requests"
        )
    calls: list[tuple[str, GatewayCall]] = []
    for i, request in enumerate(requests):
        where = f"requests.{i}"
        if not isinstance(request, dict):
            raise InvalidRequestError(f"{where} must be an object", param=where)
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise InvalidRequestError(
                f"{where}.custom_id must be a non-empty string", param=f"{where}.custom_id"
            )
        refuse_removed(version, request.get("params"), f"{where}.params.")
        try:
            call = dialect.parse(request.get("params"), aliases)
        except InvalidRequestError as e:
            param = f"{where}.params.{e.param}" if e.param else f"{where}.params"
            raise InvalidRequestError(
                f"{where}.params: {e.message}", param=param, hint=e.hint
            ) from None
        if call.stream:
            raise InvalidRequestError(
                f"{where}.params.stream: a batch's answers cannot be streamed",
                param=f"{where}.params.stream",
            )
        calls.append((custom_id, call))
    models = sorted({call.model for _, call in calls})
    if len(models) > 1:
        raise InvalidRequestError(
            f"the requests name {len(models)} models ({', '.join(models)}): a batch goes to"
            " one model's deployment, so send one batch per model",
            param="requests",
        )
    return models[0], calls


def batch_body(batch: Batch, results_url: str, owner: IdOwner) -> dict[str, Any]:
    """``batch`` as Anthropic's ``message_batch`` object, with ``owner``'s id for it;
    ``results_url`` is where its results are read (given only once it ended, as
    Anthropic does)."""
    ended = batch.done
    unanswered = batch.pending
    counts = {"processing": 0, "succeeded": batch.succeeded, "errored": batch.errored}
    counts |= {"canceled": 0, "expired": 0}
    if not ended:
        counts["processing"] = unanswered
    elif batch.status == "cancelled":
        counts["canceled"] = unanswered
    elif batch.status == "expired":
        counts["expired"] = unanswered
    else:
        counts["errored"] += unanswered
    created = batch.created_at if batch.created_at is not None else time.time()
    expires = batch.expires_at if batch.expires_at is not None else created + _DAY
    return {
        "id": gateway_id(batch.id, owner),
        "type": "message_batch",
        "processing_status": _PROCESSING.get(batch.status, "ended"),
        "request_counts": counts,
        "ended_at": _rfc3339(batch.ended_at) if ended and batch.ended_at else None,
        "created_at": _rfc3339(created),
        "expires_at": _rfc3339(expires),
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": results_url if ended else None,
    }


def result_line(result: BatchResult, dialect: AnthropicDialect) -> bytes:
    """One line of the results' JSONL (with its newline)."""
    outcome: dict[str, Any]
    if result.response is not None:
        message = dialect.response(result.response, result.response.model)
        outcome = {"type": "succeeded", "message": message}
    else:
        error = result.error or RelayError("the provider gave neither an answer nor an error")
        reason = _not_run(error)
        if reason is not None:
            outcome = {"type": reason}
        else:
            status = status_of(error, dialect.overloaded_status)
            outcome = {"type": "errored", "error": error_object(status, str(error))}
    return dumps({"custom_id": result.custom_id, "result": outcome}) + b"\n"


def _not_run(error: RelayError) -> str | None:
    """``canceled`` or ``expired`` for the error of an item that never ran because its
    batch was (:class:`relaykit.BatchItemNotRunError`)."""
    if isinstance(error, BatchItemNotRunError):
        return "canceled" if error.reason == "cancelled" else "expired"
    return None


def _rfc3339(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
