"""OpenAI's Batch API (``/v1/batches``, over files from ``/v1/files``), served by relaykit.

A batch the gateway creates is a relaykit batch (:meth:`relaykit.Client.submit_batch`)
of the requests in an uploaded JSONL file (see
:mod:`relaykit_gateway.file_store`). Its status always comes from its provider:

- the gateway's batch id carries the endpoint, the input file's id and
  relaykit's provider-qualified batch id (``batch_``, a tag of the caller's and
  URL-safe base64: :func:`batch_id`; see :mod:`relaykit_gateway.owned_ids`), so
  any gateway process retrieves or cancels it, a day later, for the gateway
  key that created it only; its ``output_file_id`` and ``error_file_id`` carry
  the endpoint and the batch id the same way (:func:`result_file_id`), so
  ``GET /v1/files/{id}/content`` reads the results from the provider
  (:meth:`relaykit.Client.batch_results`) and renders them as OpenAI's output
  lines (:func:`result_line`), each answer as the endpoint answers one call;
- the input file is checked whole at create (:func:`read_requests`), before
  anything is sent: each line ``{"custom_id", "method": "POST", "url": <the
  batch's endpoint>, "body"}``, custom ids unique, each body parsed as
  ``POST /v1/chat/completions`` or ``POST /v1/responses`` parses it, and all
  bodies naming one model (a relaykit batch goes to one deployment). A bad
  line is a 400 naming its line number, not a batch that fails later;
- relaykit's statuses map to OpenAI's (:func:`batch_body`): ``in_progress`` is
  the vendor's own word when it is OpenAI's (``validating``, ``finalizing``),
  else ``in_progress``; ``ended`` is ``completed``; ``failed``, ``expired``,
  ``cancelling`` and ``cancelled`` are themselves. Items a cancel or expiry
  stopped count as ``failed``, as OpenAI counts them, and are in the error
  file with the code ``batch_cancelled`` or ``batch_expired``.

relaykit batches hold chats only: ``/v1/embeddings`` batches are refused,
naming ``POST /v1/embeddings`` (which takes many inputs in one call) instead.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from relaykit import Batch, BatchItemNotRunError, BatchResult, InvalidRequestError, RelayError
from relaykit.json_encode import dumps

from .dialect import Dialect, GatewayCall, status_of
from .owned_ids import IdOwner, untagged

#: the endpoints a batch may go to, and the code an id carries for each
ENDPOINTS: Mapping[str, str] = {"/v1/chat/completions": "c", "/v1/responses": "r"}
_BY_CODE = {code: endpoint for endpoint, code in ENDPOINTS.items()}
#: OpenAI's batch endpoints relaykit cannot run, and why
_NOT_BATCHED = {
    "/v1/embeddings": "relaykit batches hold chats only; send the texts to POST /v1/embeddings,"
    " which embeds many inputs in one call",
    "/v1/completions": "the gateway does not serve legacy completions; send chat requests to"
    " /v1/chat/completions",
    "/v1/moderations": "relaykit batches hold chats only; send the texts to POST /v1/moderations",
}
#: the most requests one input file may hold (OpenAI's limit)
MAX_REQUESTS = 50_000
#: what OpenAI's batches take for ``completion_window``
WINDOW = "24h"
_DAY = 24 * 3600
#: what a gateway batch id starts with, as OpenAI's own do
ID_PREFIX = "batch_"
#: what an output and an error file's id start with (an upload's is hex after ``file-``)
_RESULT_PREFIXES: Mapping[str, str] = {"output": "file-out_", "error": "file-err_"}
_OWN_STATUSES = frozenset(("validating", "in_progress", "finalizing"))
_FINAL = {"ended": "completed", "failed": "failed", "expired": "expired", "cancelled": "cancelled"}
_ENDED_AT = {
    "ended": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelled": "cancelled_at",
}
_NOT_RUN = {
    "cancelled": ("batch_cancelled", "This request was not run because the batch was cancelled."),
    "expired": (
        "batch_expired",
        "This request could not be run before the batch's completion window expired.",
    ),
}
ResultKind = Literal["output", "error"]


@attrs.frozen
class BatchRef:
    """What a gateway batch id carries."""

    #: the endpoint every request goes to (``/v1/chat/completions``, ``/v1/responses``)
    endpoint: str
    #: the uploaded file the requests came from
    input_file_id: str
    #: relaykit's provider-qualified batch id (``"openai/batch_abc"``)
    batch_id: str


def batch_id(ref: BatchRef, owner: IdOwner) -> str:
    """The gateway's id of a batch, for ``owner``: one path segment."""
    return owner.make(ID_PREFIX, _batch_fields(ref))


def _batch_fields(ref: BatchRef) -> str:
    return f"{ENDPOINTS[ref.endpoint]}:{ref.input_file_id}:{ref.batch_id}"


def parse_batch_id(gateway_id: str, owner: IdOwner) -> BatchRef | None:
    """What the gateway batch id ``gateway_id`` carries, if it is ``owner``'s (``None``:
    not one of theirs)."""
    return _batch_ref(_fields(owner.read(gateway_id, ID_PREFIX), 3))


def _batch_ref(fields: list[str] | None) -> BatchRef | None:
    if fields is None or fields[0] not in _BY_CODE:
        return None
    return BatchRef(_BY_CODE[fields[0]], fields[1], fields[2])


def result_file_id(kind: ResultKind, endpoint: str, relaykit_batch_id: str, owner: IdOwner) -> str:
    """The id of a batch's output or error file, for ``owner``: one path segment."""
    return owner.make(_RESULT_PREFIXES[kind], f"{ENDPOINTS[endpoint]}:{relaykit_batch_id}")


def parse_result_file_id(file_id: str, owner: IdOwner) -> tuple[ResultKind, str, str] | None:
    """The kind, endpoint and relaykit batch id a result file id carries, if it is
    ``owner``'s (``None``: not one of theirs)."""
    for kind, prefix in _RESULT_PREFIXES.items():
        fields = _fields(owner.read(file_id, prefix), 2)
        if fields is not None and fields[0] in _BY_CODE:
            typed: ResultKind = "output" if kind == "output" else "error"
            return typed, _BY_CODE[fields[0]], fields[1]
    return None


def untagged_batch(old_id: str) -> str | None:
    """The relaykit batch id a batch id or result file id of an earlier gateway carries
    (one without a tag, no longer served), or ``None``."""
    ref = _batch_ref(_fields(untagged(old_id, ID_PREFIX), 3))
    if ref is not None:
        return ref.batch_id
    for prefix in _RESULT_PREFIXES.values():
        fields = _fields(untagged(old_id, prefix), 2)
        if fields is not None and fields[0] in _BY_CODE:
            return fields[1]
    return None


def is_result_file_id(file_id: str) -> bool:
    """Whether ``file_id`` names a batch's output or error file (rather than an upload)."""
    return file_id.startswith(tuple(_RESULT_PREFIXES.values()))


def check_endpoint(endpoint: Any) -> str:
    """``endpoint`` if a batch can go to it; else an error naming those that can."""
    if endpoint in ENDPOINTS:
        return str(endpoint)
    served = " or ".join(ENDPOINTS)
    why = _NOT_BATCHED.get(endpoint) if isinstance(endpoint, str) else None
    raise InvalidRequestError(
        f"`endpoint` {endpoint!r} is not served for batches"
        + (f": {why}" if why else "")
        + f"; the gateway batches {served}",
        param="endpoint",
    )


async def read_requests(
    lines: AsyncIterable[bytes], endpoint: str, dialect: Dialect, aliases: Sequence[str]
) -> tuple[str, list[tuple[str, GatewayCall]]]:
    """The model and each line's ``(custom_id, call)`` of an input file, each body parsed
    by ``dialect`` as ``endpoint`` parses one call. :class:`InvalidRequestError`
    names the first wrong line, by its number, and what is wrong with it."""
    calls: list[tuple[str, GatewayCall]] = []
    seen: dict[str, int] = {}
    models: dict[str, int] = {}
    number = 0
    async for raw in lines:
        number += 1
        if not raw.strip():
            continue  # a blank line (the file's last line break) holds no request
        if len(calls) == MAX_REQUESTS:
            raise _bad(
                number,
                f"the file holds more than {MAX_REQUESTS:,} requests, OpenAI's"
                " limit for a batch: split it over several batches",
            )
        try:
            line = json.loads(raw)
        except ValueError:
            raise _bad(number, "is not JSON: an input file is JSONL, one request a line") from None
        if not isinstance(line, dict):
            raise _bad(number, "must be a JSON object {custom_id, method, url, body}")
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise _bad(number, "has no custom_id: give each line a non-empty string custom_id")
        if custom_id in seen:
            raise _bad(
                number,
                f"repeats the custom_id {custom_id!r} of line {seen[custom_id]}: results are"
                " matched by it, so give each line its own",
            )
        seen[custom_id] = number
        if line.get("method") != "POST":
            raise _bad(number, f"has method {line.get('method')!r}: it must be 'POST'")
        if line.get("url") != endpoint:
            raise _bad(
                number,
                f"has url {line.get('url')!r}, not the batch's endpoint {endpoint!r}: a batch's"
                " requests all go to its endpoint",
            )
        try:
            call = dialect.parse(line.get("body"), aliases)
        except InvalidRequestError as e:
            where = f" `{e.param}`" if e.param else ""
            raise _bad(number, f"body{where}: {e.message}") from None
        if call.stream:
            raise _bad(number, "body `stream`: a batch's answers cannot be streamed")
        if call.previous_response_id is not None:
            raise _bad(
                number,
                "body `previous_response_id`: a batch request cannot continue a kept"
                " response; send the whole conversation in `input`",
            )
        models.setdefault(call.model, number)
        calls.append((custom_id, call))
    if not calls:
        raise InvalidRequestError(
            "the input file holds no requests: give one JSON request a line",
            param="input_file_id",
        )
    if len(models) > 1:
        named = ", ".join(f"{m} (line {n})" for m, n in models.items())
        raise InvalidRequestError(
            f"the requests name {len(models)} models: {named}. A batch goes to one model's"
            " deployment: make one input file, and one batch, per model",
            param="input_file_id",
        )
    return next(iter(models)), calls


def request_settings(calls: Sequence[tuple[str, GatewayCall]]) -> dict[str, Mapping[str, Any]]:
    """The settings each of a batch's requests gave that its answer repeats (the
    Responses API's: ``instructions``, ``temperature``, ...), by custom id; requests
    that gave none are left out."""
    return {custom_id: call.echo for custom_id, call in calls if call.echo}


def _bad(number: int, what: str) -> InvalidRequestError:
    return InvalidRequestError(f"line {number} of the input file {what}", param="input_file_id")


def batch_body(
    batch: Batch, ref: BatchRef, owner: IdOwner, metadata: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``batch`` as OpenAI's ``batch`` object, with ``owner``'s ids for it and its files."""
    done = batch.done
    created = int(batch.created_at if batch.created_at is not None else time.time())
    expires = int(batch.expires_at) if batch.expires_at is not None else created + _DAY
    if batch.status == "in_progress":
        own = batch.vendor_status
        status = own if own in _OWN_STATUSES else "in_progress"
    else:
        status = _FINAL.get(batch.status, batch.status)  # cancelling is OpenAI's word too
    # Items a cancel or expiry stopped are failed, in the error file, as OpenAI counts them.
    stopped = batch.pending if done and batch.status != "failed" else 0
    body: dict[str, Any] = {
        "id": batch_id(ref, owner),
        "object": "batch",
        "endpoint": ref.endpoint,
        "model": f"{batch.provider}/{batch.model}" if batch.model else None,
        "errors": None,
        "input_file_id": ref.input_file_id,
        "completion_window": WINDOW,
        "status": status,
        "output_file_id": None,
        "error_file_id": None,
        "created_at": created,
        # a batch refused as a whole never ran (OpenAI's failed ones were refused at validation)
        "in_progress_at": None if status in ("validating", "failed") else created,
        "expires_at": expires,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {
            "total": batch.total,
            "completed": batch.succeeded,
            "failed": batch.errored + stopped,
        },
        "metadata": dict(metadata) if metadata is not None else None,
    }
    if done:
        ended = batch.ended_at if batch.ended_at is not None else time.time()
        body[_ENDED_AT[batch.status]] = int(ended)
    if batch.status == "failed":
        error = {"code": "batch_failed", "message": batch.error or "the provider gave no reason"}
        body["errors"] = {"object": "list", "data": [{**error, "param": None, "line": None}]}
    elif done:
        if batch.succeeded:
            body["output_file_id"] = result_file_id("output", ref.endpoint, batch.id, owner)
        if batch.errored + stopped:
            body["error_file_id"] = result_file_id("error", ref.endpoint, batch.id, owner)
    return body


def result_line(
    result: BatchResult,
    kind: ResultKind,
    relaykit_batch_id: str,
    dialect: Dialect,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes | None:
    """One line of the output file (``kind`` ``output``: an answered item) or the error
    file (``error``: a failed one), with its line break; ``None`` for an item the
    other file holds. An answer's body is what ``dialect`` answers one call with,
    repeating the ``settings`` its request gave (by custom id: see
    :func:`request_settings`)."""
    if (kind == "output") != (result.response is not None):
        return None
    digest = hashlib.sha256(f"{relaykit_batch_id}\x00{result.custom_id}".encode()).hexdigest()
    line: dict[str, Any] = {"id": f"batch_req_{digest[:24]}", "custom_id": result.custom_id}
    request_id = f"req_{digest[24:48]}"
    if result.response is not None:
        model = result.response.model
        echo = (settings or {}).get(result.custom_id)
        # only the settings the answer repeats are known now: the call it was is not
        call = GatewayCall(model, (), echo=echo) if echo else None
        body = dialect.response(result.response, model, call)
        line["response"] = {"status_code": 200, "request_id": request_id, "body": body}
        line["error"] = None
        return dumps(line) + b"\n"
    error = result.error or RelayError("the provider gave neither an answer nor an error")
    if isinstance(error, BatchItemNotRunError):
        code, message = _NOT_RUN.get(error.reason, _NOT_RUN["cancelled"])
        line["response"] = None
        line["error"] = {"code": code, "message": message}
    else:
        status = status_of(error, dialect.overloaded_status)
        body = dialect.error_body(status, str(error), getattr(error, "param", None))
        line["response"] = {"status_code": status, "request_id": request_id, "body": body}
        line["error"] = None
    return dumps(line) + b"\n"


def result_file_body(kind: ResultKind, file_id: str, batch: Batch) -> dict[str, Any]:
    """The ``file`` object of a batch's output or error file. Its size is ``null``:
    the file is rendered from the provider's results each time it is read."""
    ended = batch.ended_at if batch.ended_at is not None else batch.created_at
    return {
        "id": file_id,
        "object": "file",
        "bytes": None,
        "created_at": int(ended if ended is not None else time.time()),
        "expires_at": None,
        "filename": f"batch_{kind}.jsonl",
        "purpose": "batch_output",
        "status": "processed",
        "status_details": None,
    }


def _fields(text: str | None, count: int) -> list[str] | None:
    """The ``count`` colon-separated fields of what an id carries (the last may hold
    colons: relaykit's batch id, ``provider/id``); ``None`` if it carries none."""
    if text is None:
        return None
    fields = text.split(":", count - 1)
    if len(fields) != count or not all(fields):
        return None
    provider, sep, vendor_id = fields[-1].partition("/")
    return fields if sep and provider and vendor_id else None
