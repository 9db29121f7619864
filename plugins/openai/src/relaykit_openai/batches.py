"""OpenAI's Batch API, for :class:`~relaykit_openai.provider.OpenAIProvider` (and Groq's,
which speaks it at its own base URL; and Azure OpenAI's, on Global Batch and Data
Zone Batch deployments, at its resource's URLs: see :mod:`relaykit_openai.azure`).

A batch is a JSONL file uploaded with ``POST /files`` (multipart, ``purpose=batch``),
each line ``{"custom_id", "method": "POST", "url", "body"}`` whose body is what a
single call would send (the provider's own body builder), then ``POST /batches``
with ``input_file_id``, ``endpoint`` and ``completion_window: "24h"``. All items go
to one endpoint: ``/v1/responses`` for a model the provider calls through the
Responses API (see ``api``), ``/v1/chat/completions`` otherwise.

``GET /batches/{id}`` describes it (``status``: validating, in_progress,
finalizing, completed, failed, expired, cancelling, cancelled; ``request_counts``
of ``total``, ``completed`` and ``failed``); ``POST /batches/{id}/cancel`` cancels
it. Results are two JSONL files read with ``GET /files/{id}/content``: the
``output_file_id`` (lines whose ``response`` has ``status_code`` 200 and the
answer in ``body``) and the ``error_file_id`` (a ``response`` with an error
status and an ``{"error"}`` body, or an ``error`` object with a ``code``:
``batch_expired``, ``batch_cancelled``). Each file is read line by line as it
arrives. A line of the wrong shape that names its ``custom_id`` is that item's
malformed answer (:func:`relaykit.batches.jsonl_results`: the other lines are read
all the same); one that names none ends the read, a malformed answer.

Limits, refused before anything is sent: 50,000 requests (Azure: 100,000) and
200 MB a file (OpenAI's Batch API reference; Azure's "Batch limits").

The input file is named ``relaykit-batch-{random id}.jsonl``. When the batch's create
fails, or its answer is lost and the batch is not found again, the file is deleted
(``DELETE /files/{id}``, best effort: a failure is logged on ``relaykit.openai``, not
raised), so no orphan is billed as storage; when the upload's own answer is lost, the
error says the file may exist, by that name, and that no batch was created.
``GET /batches?limit=&after=`` lists the batches newest first (``list_batches``).

What differs by service is given to :class:`BatchApi`: each URL (Azure's dated API
adds ``?api-version=``), the largest file, and fields sent with the upload and the
batch (Azure's ``expires_after``). A batch object's ``status`` is read whatever its
case, and its times as seconds or ISO 8601 (Azure's preview versions of 2024 answer
``"Validating"`` and ``"2024-07-19T17:13:57.2491382+00:00"``).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from relaykit import (
    Batch,
    BatchResult,
    ChatRequest,
    ChatResponse,
    InvalidRequestError,
    RelayError,
    json_decode,
    json_encode,
)
from relaykit.batches import input_file_lost, jsonl_results, listed_batches, not_run
from relaykit.http import may_have_acted
from relaykit.http_errors import error_from_http
from relaykit.multipart import Part, encode

from . import wire

if TYPE_CHECKING:
    from relaykit.batches import BatchStatus
    from relaykit.http import HttpClient, HttpResponse

log = logging.getLogger("relaykit.openai")

MAX_REQUESTS = 50_000
#: "up to 200 MB", read as the smaller, decimal megabytes: a file between 200,000,000
#: and 209,715,200 bytes would otherwise be uploaded and refused ("File is too large.")
MAX_BYTES = 200_000_000
#: the metadata key that tags a batch with its submission's random id, so a create
#: whose answer was lost is found again instead of created twice
SUBMISSION_KEY = "relaykit_submission"
#: how many of the newest batches are searched for a tagged batch (the list's largest page)
_FIND_AMONG = 100

#: what the API documents of a batch object and a result line, to name the place one
#: of the wrong shape does not fit
_BATCH_SHAPE = {
    "id": str,
    "status": str,
    "request_counts": {"total": int, "completed": int, "failed": int},
    "errors": {"data": [{}]},
}
_RESULT_SHAPE = {"custom_id": str, "response": {"status_code": int}, "error": {}}

_STATUSES: dict[str, BatchStatus] = {
    "validating": "in_progress",
    "in_progress": "in_progress",
    "finalizing": "in_progress",
    "completed": "ended",
    "failed": "failed",
    "expired": "expired",
    "cancelling": "cancelling",
    "cancelled": "cancelled",
}


class BatchApi:
    """One provider's batch calls: its URLs, headers and name.

    ``url`` makes the URL of an API path (``"files"``, ``"batches/ID/cancel"``);
    ``max_requests`` is the most items a file takes; ``upload_fields`` are form
    fields sent with the file besides ``purpose``, ``create_fields`` members of the
    batch's JSON besides ``input_file_id``, ``endpoint`` and ``completion_window``.

    With ``tag_submissions`` (a service whose batches take ``metadata`` and whose
    ``GET /batches`` lists them, newest first) each batch carries
    ``metadata.relaykit_submission``, a random id of its submission: when the create
    fails after it may have reached the service (a read timeout, a connection lost
    before the answer, a 500, 502 or 504), the newest batches are searched for it, and
    one found is the answer. The create itself is never sent twice (no vendor
    documents an ``Idempotency-Key`` for it; the Stainless SDKs retry it without one).
    """

    def __init__(
        self,
        http: HttpClient,
        url: Callable[[str], str],
        headers: Mapping[str, str],
        name: str,
        *,
        max_requests: int = MAX_REQUESTS,
        upload_fields: Sequence[tuple[str, str]] = (),
        create_fields: Mapping[str, Any] | None = None,
        tag_submissions: bool = False,
    ) -> None:
        self._http = http
        self._url = url
        self._headers = headers
        self._name = name
        self._max_requests = max_requests
        self._upload_fields = tuple(upload_fields)
        self._create_fields = dict(create_fields or {})
        self._tag = tag_submissions

    async def submit(
        self,
        requests: Sequence[tuple[str, ChatRequest]],
        endpoint: str,
        body: Callable[[ChatRequest], bytes],
    ) -> Batch:
        """Upload ``requests`` as a JSONL file (each body built by ``body``) and create
        the batch over it at ``endpoint`` (also each line's ``url``)."""
        model = requests[0][1].model
        limit = self._max_requests
        if len(requests) > limit:
            raise InvalidRequestError(
                f"a batch of {len(requests):,} requests is over {self._name}'s limit of {limit:,}",
                provider=self._name,
                model=model,
                param="items",
                hint=f"split the items into batches of at most {limit:,}",
            )
        lines = [
            b'{"custom_id":%s,"method":"POST","url":%s,"body":%s}\n'
            % (json_encode.dumps(custom_id), json_encode.dumps(endpoint), body(request))
            for custom_id, request in requests
        ]
        size = sum(map(len, lines))
        if size > MAX_BYTES:
            raise InvalidRequestError(
                # in bytes: near the limit, megabytes rounded would read as under it
                f"the batch's file would be {size:,} bytes, over {self._name}'s limit"
                f" of {MAX_BYTES:,} bytes ({MAX_BYTES / 1e6:,.0f} MB)",
                provider=self._name,
                model=model,
                param="items",
                hint="split the items into smaller batches",
            )
        submission = uuid.uuid4().hex
        filename = f"relaykit-batch-{submission}.jsonl"
        form, content_type = encode(
            [("purpose", "batch"), *self._upload_fields],
            [Part("file", b"".join(lines), filename, "application/jsonl")],
        )
        try:
            uploaded = await self._send(
                "POST", self._url("files"), model, form, {"content-type": content_type}
            )
            file_id = str(json_decode.loads(uploaded.content)["id"])
        except Exception as e:
            if not may_have_acted(e):
                raise
            lost = self._upload_lost(e, filename, model)
            if lost is e:
                raise
            raise lost from e
        create = {
            "input_file_id": file_id,
            "endpoint": endpoint,
            "completion_window": "24h",
            **self._create_fields,
        }
        if self._tag:
            create["metadata"] = {SUBMISSION_KEY: submission}
        try:
            r = await self._send("POST", self._url("batches"), model, json_encode.dumps(create))
            return self._batch(json_decode.loads(r.content), model)
        except Exception as e:
            found = await self._find(submission, model) if self._tag and may_have_acted(e) else None
            if found is not None:
                return found
            # No batch over the file (or none found): it would only be billed as storage.
            await self._delete_file(file_id)
            raise

    def _upload_lost(self, e: Exception, filename: str, model: str) -> Exception:
        """The error of an upload that failed after it may have stored the file."""
        return input_file_lost(
            e,
            provider=self._name,
            model=model,
            hint=f"look for a file named {filename} (purpose batch) among {self._name}'s files"
            " (GET /files?purpose=batch, or its dashboard's storage page) and delete it if it"
            " is there; then submit again: no batch exists for these items",
        )

    async def _delete_file(self, file_id: str) -> None:
        """``DELETE /files/{id}``, best effort: a failure is logged, never raised (the
        submit's own error is what the caller needs)."""
        try:
            url = self._url(f"files/{file_id}")
            async with self._http.stream("DELETE", url, headers=self._headers) as r:
                await r.aread()
                status = r.status_code
        except Exception as e:
            log.warning(
                "%s: the batch input file %s was left behind (%s); delete it with DELETE /files/%s",
                self._name,
                file_id,
                type(e).__name__,
                file_id,
            )
            return
        if status >= 400 and status != 404:
            log.warning(
                "%s: the batch input file %s was left behind (HTTP %d); delete it with"
                " DELETE /files/%s",
                self._name,
                file_id,
                status,
                file_id,
            )
        else:
            log.debug("%s: deleted the input file %s of a batch not created", self._name, file_id)

    def list(self, limit: int) -> AsyncIterator[Batch]:
        """``GET /batches?limit=&after=``, newest first, page after page as they are read
        (each page at most ``limit`` and the API's 100)."""
        size = max(1, min(limit, _FIND_AMONG))

        async def page(after: str | None) -> bytes:
            query = f"limit={size}" + (f"&after={quote(after, safe='')}" if after else "")
            return (await self._send("GET", self._list_url(query), None)).content

        return listed_batches(page, partial(self._batch, model=None))

    def _list_url(self, query: str) -> str:
        """``GET /batches`` with ``query``, after the service's own (Azure's api-version)."""
        url = self._url("batches")
        return f"{url}{'&' if '?' in url else '?'}{query}"

    async def _find(self, submission: str, model: str) -> Batch | None:
        """The batch tagged ``submission`` among the newest, if the service made it; ``None``
        when it is not there or the list cannot be read (the create's error then stands)."""
        try:
            r = await self._send("GET", self._list_url(f"limit={_FIND_AMONG}"), model)
            for data in json_decode.loads(r.content).get("data") or ():
                if (data.get("metadata") or {}).get(SUBMISSION_KEY) == submission:
                    return self._batch(data, model)
        except Exception:  # the list is a second chance, not a second failure
            return None
        return None

    async def get(self, vendor_id: str) -> Batch:
        """``GET /batches/{id}``."""
        r = await self._send("GET", self._url(f"batches/{vendor_id}"), None)
        return self._batch(json_decode.loads(r.content), None)

    async def cancel(self, vendor_id: str) -> Batch:
        """``POST /batches/{id}/cancel``."""
        r = await self._send("POST", self._url(f"batches/{vendor_id}/cancel"), None, b"")
        return self._batch(json_decode.loads(r.content), None)

    def results(self, batch: Batch) -> AsyncIterator[BatchResult]:
        """Each line of the output file, then of the error file, as a result."""
        return jsonl_results(
            self._http,
            (self._url(f"files/{file_id}/content") for file_id in batch.result_files),
            partial(self._result, model=batch.model),
            headers=self._headers,
            provider=self._name,
            model=batch.model,
            shape=_RESULT_SHAPE,
        )

    def _result(self, custom_id: str, line: Mapping[str, Any], model: str | None) -> BatchResult:
        """One line of an output or error file (one of the wrong shape raises: see
        :func:`~relaykit.batches.jsonl_results`)."""
        response = line.get("response")
        if isinstance(response, Mapping):
            status = json_decode.count(response.get("status_code") or 0, "response.status_code")
            body = response.get("body")
            if status < 400 and isinstance(body, Mapping):
                return BatchResult(custom_id, _answer(body))
            content = json_encode.dumps(body) if body is not None else b""
            error = error_from_http(status or 500, {}, content, provider=self._name, model=model)
            return BatchResult(custom_id, error=error)
        error_body = line.get("error") or {}
        code = error_body.get("code") if isinstance(error_body, Mapping) else None
        if code == "batch_expired":
            return BatchResult(
                custom_id, error=not_run("expired", provider=self._name, model=model)
            )
        if code == "batch_cancelled":
            return BatchResult(
                custom_id, error=not_run("cancelled", provider=self._name, model=model)
            )
        message = error_body.get("message") if isinstance(error_body, Mapping) else None
        return BatchResult(
            custom_id,
            error=RelayError(
                str(message or f"the item failed ({code or 'no reason given'})"),
                provider=self._name,
                model=model,
                provider_message=str(message) if message else None,
            ),
        )

    def _batch(self, data: Mapping[str, Any], model: str | None) -> Batch:
        """A :class:`~relaykit.Batch` from a batch object (its vendor id unqualified)."""
        try:
            return self._read_batch(data, model)
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a batch", e, data, _BATCH_SHAPE) from e

    def _read_batch(self, data: Mapping[str, Any], model: str | None) -> Batch:
        vendor_status = str(data.get("status") or "")
        counts = data.get("request_counts") or {}
        errors = (data.get("errors") or {}).get("data") or ()
        error = None
        if errors:
            first = errors[0]
            where = f" (line {first['line']})" if first.get("line") else ""
            error = f"{first.get('message') or first.get('code')}{where}"
            if len(errors) > 1:
                error += f", and {len(errors) - 1} more"
        ended = next(
            (
                data[key]
                for key in ("completed_at", "failed_at", "expired_at", "cancelled_at")
                if data.get(key)
            ),
            None,
        )
        batch_id = _text(data["id"], "id")
        if not batch_id:
            raise KeyError("id")  # no batch without its id
        return Batch(
            id=batch_id,
            provider=self._name,
            status=_STATUSES.get(vendor_status.lower(), "in_progress"),
            vendor_status=vendor_status,
            model=_text(data.get("model"), "model") or model,
            total=json_decode.count(counts.get("total") or 0, "request_counts.total"),
            succeeded=json_decode.count(counts.get("completed") or 0, "request_counts.completed"),
            errored=json_decode.count(counts.get("failed") or 0, "request_counts.failed"),
            created_at=_seconds(data.get("created_at")),
            ended_at=_seconds(ended),
            expires_at=_seconds(data.get("expires_at")),
            error=error,
            result_files=tuple(
                _text(data[key], key)
                for key in ("output_file_id", "error_file_id")
                if data.get(key)
            ),
        )

    async def _send(
        self,
        method: str,
        url: str,
        model: str | None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """One request; an error status typed as a chat's is."""
        all_headers = {**self._headers, **(headers or {})}
        # transport failures: typed by the core around every batch call
        if method == "GET":
            r = await self._http.get(url, headers=all_headers)
        else:
            r = await self._http.post(url, content=body, headers=all_headers)
        if r.status_code >= 400:
            raise error_from_http(
                r.status_code, r.headers, r.content, provider=self._name, model=model
            )
        return r


def _answer(body: Mapping[str, Any]) -> ChatResponse:
    """The answer in a result line's body: a Responses object, or a chat completion."""
    if body.get("object") == "response":
        from . import responses_wire

        return responses_wire.response(dict(body))
    return wire.response(dict(body))


def _text(value: Any, where: str) -> str:
    """``value``, text the batch object gives (an id), or ``""`` for none; a ``TypeError``
    naming ``where`` when it is something else (a file id of 7 would be asked for)."""
    if value is None or isinstance(value, str):
        return value or ""
    raise TypeError(f"{where} is {type(value).__name__}, not text")


def _seconds(value: Any) -> float | None:
    """A time as seconds since the epoch: given so, or as ISO 8601 (Azure's 2024 previews)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value and math.isfinite(value) else None
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:  # no offset given: UTC, as Azure's own say
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None
