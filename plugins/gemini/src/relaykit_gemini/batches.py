"""The Gemini API's Batch Mode, for :class:`~relaykit_gemini.GeminiProvider`.

``POST {root}/models/{model}:batchGenerateContent`` creates a batch:
``{"batch": {"display_name", "input_config": ...}}`` whose input is either
inline, ``{"requests": {"requests": [{"request", "metadata": {"key"}}]}}``
(each ``request`` the ``generateContent`` body a single call would send, built
by the plugin's own builder), or, for a body over :data:`INLINE_MAX_BYTES`
(Google: "keep the total request size under 20MB"), a JSONL file of
``{"key", "request"}`` lines sent first through the File API's resumable
upload (``POST /upload/{version}/files``, ``X-Goog-Upload-Command: start``,
then ``upload, finalize`` to the ``x-goog-upload-url`` it answers) and named
as ``{"file_name": "files/..."}``.

Every answer is a long-running operation: ``name`` is ``batches/{id}``,
``metadata`` the batch (``state``: ``BATCH_STATE_PENDING``, ``RUNNING``,
``SUCCEEDED``, ``FAILED``, ``CANCELLED``, ``EXPIRED``; ``batchStats`` of
``requestCount``, ``successfulRequestCount``, ``failedRequestCount``,
``pendingRequestCount``, int64 and so sent as strings; RFC 3339 times),
``done``, and once done ``error`` (the batch failed as a whole) or
``response``: ``inlinedResponses.inlinedResponses`` (``{"metadata": {"key"},
"response" | "error"}`` in the input's order) for an inline batch, or
``responsesFile`` (``files/...``) for a file's, whose JSONL lines
(``{"key", "response" | "error"}``) are read from
``GET /download/{version}/{file}:download?alt=media`` line by line as they
arrive. ``GET {root}/batches/{id}`` describes a batch; ``POST
{root}/batches/{id}:cancel`` cancels it (answering an empty object).

A per-item ``error`` is a ``google.rpc.Status`` (a gRPC ``code``), typed as a
single call's error of the matching HTTP status would be; an answer of the wrong
shape is that item's malformed answer (named by its key, or an inline one by its
place), the others read all the same. An item a
cancelled or expired batch never ran (no answer for its key) fails as not
run; its keys come from the batch's inline requests as the batch repeats them,
or from its input file while the File API still serves it.

Refused before sending: an input file over the File API's 2 GB.
When the upload's last request (``upload, finalize``) loses its answer, the error
says the file may exist, by its display name (the batch's), and that no batch was
created: it is not retried, and the client does not look for a batch.

A create is never sent twice (the API documents no idempotency key for it). Its
``display_name`` ends with a random id of the submission: when the create fails
after it may have reached the API (a read timeout, a connection lost before the
answer, a 500, 502 or 504), ``GET {root}/batches`` (newest first) is searched
for it, and a batch found is the answer. The same list, ``pageSize`` and
``pageToken`` (``nextPageToken`` while more are left), is ``list_batches``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

from relaykit import (
    Batch,
    BatchResult,
    ChatRequest,
    InvalidRequestError,
    ProviderUnavailableError,
    RelayError,
    json_decode,
    json_encode,
)
from relaykit.batches import (
    epoch_seconds,
    input_file_lost,
    item_result,
    jsonl_lines,
    not_run,
    result_id,
)
from relaykit.http import api_url, may_have_acted
from relaykit.http_errors import error_status_of
from relaykit.secrets import cut_short
from relaykit_google_auth.vertex_http import next_page_token

from . import wire

if TYPE_CHECKING:
    from relaykit.batches import BatchStatus
    from relaykit.http import HttpClient, HttpResponse

#: the largest ``batchGenerateContent`` body sent inline; a larger batch goes as a file
INLINE_MAX_BYTES = 20 * 1024 * 1024
#: the largest file the File API takes
FILE_MAX_BYTES = 2 * 1024 * 1024 * 1024
#: how long a batch may stay pending or running before it expires (the Batch
#: Mode guide's "Job expiration": 48 hours)
EXPIRES_AFTER = 48 * 3600
#: how many of the newest batches are searched for a submission whose answer was lost
#: (and the largest page the list asks for)
_FIND_AMONG = 100

#: what the API documents of a batch operation, a list of them and one answer, to
#: name the place one of the wrong shape does not fit
_BATCH_SHAPE = {"name": str, "metadata": {"state": str, "batchStats": {}, "output": {}}}
_LIST_SHAPE = {"operations": [{}], "nextPageToken": str}
_OUTPUT_SHAPE = {
    "metadata": {"inputConfig": {"requests": {"requests": [{}]}}},
    "response": {"inlinedResponses": {"inlinedResponses": [{}]}, "responsesFile": str},
}
_ENTRY_SHAPE: dict[str, Any] = {"response": {}, "error": {}}

_STATES: dict[str, BatchStatus] = {
    "PENDING": "in_progress",
    "RUNNING": "in_progress",
    "SUCCEEDED": "ended",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    "EXPIRED": "expired",
}
#: the HTTP status each google.rpc.Code stands for (google/rpc/code.proto)
_HTTP_STATUS = {
    1: 499,  # CANCELLED
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}
_CANCELLED = 1

#: types an error status and body as the provider types a single call's
ErrorTyper = Callable[[int, Mapping[str, str], bytes, "str | None"], RelayError]


class GeminiBatches:
    """One provider's batch calls: where its API lives (``root``: base URL and
    version), its headers (the key), its name, and how it types an error."""

    def __init__(
        self,
        http: HttpClient,
        base_url: str,
        version: str,
        headers: Mapping[str, str],
        name: str,
        error: ErrorTyper,
    ) -> None:
        self._http = http
        self._base = base_url
        self._version = version
        self._upload = api_url(base_url, f"upload/{version}/files")
        self._headers = headers
        self._name = name
        self._error = error

    # -- the provider's four calls ---------------------------------------------------

    async def submit(
        self,
        requests: Sequence[tuple[str, ChatRequest]],
        body: Callable[[ChatRequest], dict[str, Any]],
    ) -> Batch:
        """Create the batch: inline, or above :data:`INLINE_MAX_BYTES` as an uploaded
        JSONL file."""
        model = requests[0][1].model
        bodies = [(key, body(request)) for key, request in requests]
        submission = uuid.uuid4().hex
        display_name = f"relaykit-{len(bodies)}-items-{int(time.time())}-{submission}"
        inline = json_encode.dumps(
            {
                "batch": {
                    "display_name": display_name,
                    "input_config": {
                        "requests": {
                            "requests": [
                                {"request": b, "metadata": {"key": key}} for key, b in bodies
                            ]
                        }
                    },
                }
            }
        )
        if len(inline) <= INLINE_MAX_BYTES:
            content = inline
        else:
            del inline  # it may be large: the file is built instead
            file_name = await self._upload_jsonl(bodies, display_name, model)
            content = json_encode.dumps(
                {"batch": {"display_name": display_name, "input_config": {"file_name": file_name}}}
            )
        url = self._api(f"{_resource(model)}:batchGenerateContent")
        try:
            r = await self._send("POST", url, model, content)
            return self._batch(self._answer(r, "a batch", model, *_OPERATION), model)
        except Exception as e:
            found = await self._find(display_name, model) if may_have_acted(e) else None
            if found is None:
                raise
            return found

    async def _find(self, display_name: str, model: str) -> Batch | None:
        """The batch named ``display_name`` among the newest, if the API made it; ``None``
        when it is not there or the list cannot be read (the create's error then stands)."""
        try:
            r = await self._send("GET", self._api(f"batches?pageSize={_FIND_AMONG}"), model)
            for operation in json_decode.loads(r.content).get("operations") or ():
                meta = operation.get("metadata") or {}
                if (meta.get("displayName") or meta.get("display_name")) == display_name:
                    return self._batch(operation, model)
        except Exception:  # the list is a second chance, not a second failure
            return None
        return None

    async def list(self, limit: int) -> AsyncIterator[Batch]:
        """``GET batches?pageSize=&pageToken=``, newest first, page after page as they are
        read (each page at most ``limit`` and :data:`_FIND_AMONG`), until a page names
        no next page, or one already asked for (which would read the same batches
        again, until ``limit``)."""
        size = max(1, min(limit, _FIND_AMONG))
        token: str | None = None
        asked: set[str] = set()
        while True:
            query = f"pageSize={size}" + (f"&pageToken={quote(token, safe='')}" if token else "")
            r = await self._send("GET", self._api(f"batches?{query}"), None)
            # {} is a list of no batches (Google's JSON leaves an empty list out)
            page = self._answer(r, "a list of batches", None, "operations", "nextPageToken")
            try:
                operations = list(page.get("operations") or ())
                token = next_page_token(page, asked)
            except json_decode.SHAPE_ERRORS as e:
                raise json_decode.wrong_shape("a list of batches", e, page, _LIST_SHAPE) from e
            for operation in operations:
                yield self._batch(operation, None)
            if not token or not operations:
                return

    async def get(self, vendor_id: str) -> Batch:
        """``GET batches/{id}``."""
        return self._batch(await self._operation(vendor_id), None)

    async def cancel(self, vendor_id: str) -> Batch:
        """``POST batches/{id}:cancel`` (which answers nothing), then the batch as it stands."""
        r = await self._send("POST", self._api(f"{_name(vendor_id)}:cancel"), None, b"{}")
        if r.content.strip():  # {}: an error object in its place is no cancel
            self._answer(r, "a cancel's answer", None)
        return await self.get(vendor_id)

    async def results(self, batch: Batch) -> AsyncIterator[BatchResult]:
        """The batch's answers: inline ones from the operation, else the lines of its
        responses file; then, for a cancelled or expired batch, its items not run."""
        model = batch.model
        operation = await self._operation(batch.id)
        answered: set[str] = set()
        try:
            output = _output(operation)
            inline = list((output.get("inlinedResponses") or {}).get("inlinedResponses") or ())
            keys = list(_inline_keys(operation))
            responses_file = _file_name(output.get("responsesFile"), "responsesFile")
            input_config = _input_config(operation)
            input_file = _file_name(
                input_config.get("fileName") or input_config.get("file_name"), "fileName"
            )
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a batch's answers", e, operation, _OUTPUT_SHAPE) from e

        def read(key: str, entry: Mapping[str, Any]) -> BatchResult:
            # inline or a line of the responses file, an answer reads the same
            answered.add(key)
            return item_result(
                key, partial(self._result, key, entry, model), provider=self._name, model=model
            )

        for i, entry in enumerate(inline):
            # The answers come in the input's order (GenerateContentBatchOutput): one
            # whose metadata is lost is named by its place.
            yield read(_entry_key(entry, keys[i] if i < len(keys) else ""), entry)
        if responses_file:
            async with aclosing(self._lines(responses_file, model)) as lines:
                async for line in lines:
                    if isinstance(line, dict) and "key" not in line and "response" not in line:
                        # an error object in place of the file ({"error": ...}): the
                        # download failed, whatever its status said
                        error = line.get("error")
                        if error:
                            body = json_encode.dumps(line)
                            raise self._error(error_status_of(error), {}, body, model)
                    yield read(result_id(line, "key"), line)
        if batch.status not in ("cancelled", "expired"):
            return
        if not keys and input_file:
            try:
                async with aclosing(self._lines(input_file, model)) as lines:
                    async for line in lines:
                        keys.append(_entry_key(line, ""))
            except (RelayError, ValueError):
                # Gone (the File API keeps a file 48 hours) or not served for download:
                # the answers above are all there is to tell.
                keys = []
        reason: Any = batch.status
        for key in keys:
            if key not in answered:
                yield BatchResult(key, error=not_run(reason, provider=self._name, model=model))

    # -- helpers ----------------------------------------------------------------------

    def _result(self, key: str, entry: Mapping[str, Any], model: str | None) -> BatchResult:
        """One answer: its ``response`` parsed as a chat's, or its ``error`` typed (one of
        the wrong shape raises: see :func:`~relaykit.batches.item_result`)."""
        try:
            return self._read_result(key, entry, model)
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a batch answer", e, entry, _ENTRY_SHAPE) from e

    def _read_result(self, key: str, entry: Mapping[str, Any], model: str | None) -> BatchResult:
        response = entry.get("response")
        if isinstance(response, Mapping):
            return BatchResult(key, wire.response(response, model or ""))
        status = entry.get("error")
        if not isinstance(status, Mapping):
            status = {}
        try:
            code = int(status.get("code") or 2)
        except (TypeError, ValueError, OverflowError):
            code = 2  # UNKNOWN
        if code == _CANCELLED:
            return BatchResult(key, error=not_run("cancelled", provider=self._name, model=model))
        # A google.rpc.Status carries a gRPC code; an HTTP one is taken as it is.
        http_status = code if code >= 100 else _HTTP_STATUS.get(code, 500)
        body = {
            "error": {
                "code": http_status,
                "message": str(status.get("message") or "the item failed (no reason given)"),
                "status": str(status.get("status") or ""),
                "details": status.get("details") or [],
            }
        }
        return BatchResult(key, error=self._error(http_status, {}, json_encode.dumps(body), model))

    def _api(self, path: str) -> str:
        """The URL of ``path`` under the API's version (a query in the base URL kept)."""
        return api_url(self._base, f"{self._version}/{path}")

    async def _lines(self, file_name: str, model: str | None) -> AsyncGenerator[Any, None]:
        """The JSON lines of a file, downloaded as they arrive."""
        url = api_url(self._base, f"download/{self._version}/{file_name}:download?alt=media")
        async with self._http.stream("GET", url, headers=self._headers) as r:
            if r.status_code >= 400:
                await r.aread()
                raise self._error(r.status_code, r.headers, r.content, model)
            async with aclosing(jsonl_lines(r.aiter_bytes())) as lines:
                async for line in lines:
                    yield json_decode.loads(line)

    async def _upload_jsonl(
        self, bodies: Iterable[tuple[str, dict[str, Any]]], display_name: str, model: str
    ) -> str:
        """Send the requests as a JSONL file through the File API's resumable upload;
        its name (``files/...``)."""
        data = b"".join(
            b'{"key":%s,"request":%s}\n' % (json_encode.dumps(key), json_encode.dumps(body))
            for key, body in bodies
        )
        if len(data) > FILE_MAX_BYTES:
            raise InvalidRequestError(
                f"the batch's file would be {len(data) / 1e9:,.1f} GB, over the Gemini"
                " File API's limit of 2 GB",
                provider=self._name,
                model=model,
                param="items",
                hint="split the items into smaller batches",
            )
        start = {
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": str(len(data)),
            "x-goog-upload-header-content-type": "application/jsonl",
        }
        metadata = json_encode.dumps({"file": {"display_name": display_name}})
        r = await self._send("POST", self._upload, model, metadata, start)
        location = r.headers.get("x-goog-upload-url")
        if not location:
            # what came instead: an error object is the error it describes
            self._error_object(r, model)
            raise ProviderUnavailableError(
                f"the File API started an upload without an x-goog-upload-url ({_what_came(r)})",
                provider=self._name,
                model=model,
            )
        upload_url = urljoin(self._upload, location)
        finish = {"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"}
        # The upload URL carries its own authority; the key goes only to the API's own host.
        same_host = urlsplit(upload_url)[:2] == urlsplit(self._base)[:2]
        try:
            r = await self._send("POST", upload_url, model, data, finish, keyed=same_host)
            self._error_object(r, model, "file")
            try:
                name = _file_name(json_decode.loads(r.content)["file"]["name"], "file.name")
            except (ValueError, KeyError, *json_decode.SHAPE_ERRORS):
                name = ""
            if not name:
                raise ProviderUnavailableError(
                    f"the File API finished an upload without naming the file ({_what_came(r)})",
                    provider=self._name,
                    model=model,
                )
        except Exception as e:
            # The bytes went: the file may be stored although its answer was lost, and
            # the client must not say that a batch (never asked for) may exist.
            if not may_have_acted(e):
                raise
            lost = self._upload_lost(e, display_name, model)
            if lost is e:
                raise
            raise lost from e
        return str(name)

    def _upload_lost(self, e: Exception, display_name: str, model: str) -> Exception:
        """The error of a finalize that failed after it may have stored the file."""
        return input_file_lost(
            e,
            provider=self._name,
            model=model,
            hint=f"look for a file with the display name {display_name} in the File API's list"
            " (GET /v1beta/files) and delete it if it is there (the API deletes files after"
            " 48 hours anyway); then submit again: no batch exists for these items",
        )

    async def _operation(self, vendor_id: str) -> dict[str, Any]:
        r = await self._send("GET", self._api(_name(vendor_id)), None)
        return self._answer(r, "a batch", None, *_OPERATION)

    def _answer(
        self, r: HttpResponse, what: str, model: str | None, *fields: str
    ) -> dict[str, Any]:
        """The JSON object of status-200 answer ``r`` (``what``: ``"a batch"``): an error
        object without any of the ``fields`` that carry the answer raises the typed
        error it describes (:meth:`_error_object`); a body that is not JSON, or JSON
        that is no object, the ``ValueError`` the core reports as a malformed answer,
        quoting the body or naming what it is."""
        self._error_object(r, model, *fields)
        data = json_decode.loads(r.content)
        if not isinstance(data, dict):
            shown = "null" if data is None else type(data).__name__
            raise json_decode.wrong_shape(what, TypeError(f"expected an object, got {shown}"))
        return data

    def _error_object(self, r: HttpResponse, model: str | None, *fields: str) -> None:
        """Raise the error an error object sent with status 200 in place of an answer
        describes (``{"error": {"code": 429, ...}}``, as a gateway in front of the API
        answers a failure), typed as a single call's error of that status is; an
        answer with any of its ``fields`` (a failed batch's operation has ``name``
        and ``error``) is left alone."""
        try:
            data = json_decode.loads(r.content)
        except ValueError:
            return
        if not isinstance(data, dict) or not data.get("error"):
            return
        if any(data.get(field) is not None for field in fields):
            return
        raise self._error(error_status_of(data["error"]), r.headers, r.content, model)

    def _batch(self, operation: Mapping[str, Any], model: str | None) -> Batch:
        """A :class:`~relaykit.Batch` from a batch operation (its id ``batches/...``)."""
        try:
            return self._read_batch(operation, model)
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a batch", e, operation, _BATCH_SHAPE) from e

    def _read_batch(self, operation: Mapping[str, Any], model: str | None) -> Batch:
        meta = operation.get("metadata") or {}
        state = str(meta.get("state") or "")
        short = state.removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
        status: BatchStatus = _STATES.get(short, "in_progress")
        failure = operation.get("error")
        if failure:
            status = "failed"
        stats = meta.get("batchStats") or {}

        def count(key: str) -> int:
            try:
                return int(stats.get(key) or 0)  # int64: a string in JSON
            except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 is inf
                return 0

        total = count("requestCount")
        succeeded = count("successfulRequestCount")
        errored = count("failedRequestCount")
        if status in ("cancelled", "expired"):
            errored = max(errored, total - succeeded)  # the rest never ran: they failed
        created = epoch_seconds(meta.get("createTime"), "metadata.createTime")
        responses_file = _file_name(_output(operation).get("responsesFile"), "responsesFile")
        name = _file_name(operation.get("name") or meta.get("name"), "name")
        if not name:
            raise KeyError("name")  # no batch without its name
        return Batch(
            id=name,
            provider=self._name,
            status=status,
            vendor_status=state,
            model=str(meta.get("model") or "").removeprefix("models/") or model,
            total=total,
            succeeded=succeeded,
            errored=errored,
            created_at=created,
            ended_at=epoch_seconds(meta.get("endTime"), "metadata.endTime"),
            expires_at=created + EXPIRES_AFTER if created is not None else None,
            error=str(failure.get("message") or failure) if isinstance(failure, Mapping) else None,
            result_files=(responses_file,) if responses_file else (),
        )

    async def _send(
        self,
        method: str,
        url: str,
        model: str | None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        keyed: bool = True,
    ) -> HttpResponse:
        """One request; an error status typed as a chat's is."""
        base = self._headers if keyed else {"content-type": "application/json"}
        all_headers = {**base, **(headers or {})}
        # transport failures: typed by the core around every batch call
        if method == "GET":
            r = await self._http.get(url, headers=all_headers)
        else:
            r = await self._http.post(url, content=body, headers=all_headers)
        if r.status_code >= 400:
            raise self._error(r.status_code, r.headers, r.content, model)
        return r


#: the fields of a batch operation that make it one (a failed batch's has ``error`` too)
_OPERATION = ("name", "metadata", "done", "response")


def _what_came(r: HttpResponse) -> str:
    """What an answer that is not the one expected holds, for an error's message: its
    media type and the start of its body."""
    media = (r.headers.get("content-type") or "no content type").split(";", 1)[0]
    text = " ".join(r.content.decode("utf-8", "replace").split())
    if not text:
        return f"it answered {media}, empty"
    return f"it answered {media}: {cut_short(text, 100)!r}"


def _name(vendor_id: str) -> str:
    """``batches/abc`` from ``batches/abc`` or ``abc``."""
    return vendor_id if vendor_id.startswith("batches/") else f"batches/{vendor_id}"


def _resource(model: str) -> str:
    return model if "/" in model else f"models/{model}"


def _output(operation: Mapping[str, Any]) -> Mapping[str, Any]:
    """Where the answers are: the operation's ``response``, else the batch's ``output``."""
    response = operation.get("response")
    if isinstance(response, Mapping) and response:
        return response
    output = (operation.get("metadata") or {}).get("output")
    return output if isinstance(output, Mapping) else {}


def _input_config(operation: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = operation.get("metadata") or {}
    config = meta.get("inputConfig") or meta.get("input_config") or {}
    return config if isinstance(config, Mapping) else {}


def _inline_keys(operation: Mapping[str, Any]) -> Iterable[str]:
    """The keys of an inline batch's requests, in order, where the batch repeats them."""
    requests = (_input_config(operation).get("requests") or {}).get("requests") or ()
    for entry in requests:
        metadata = entry.get("metadata") if isinstance(entry, Mapping) else None
        key = metadata.get("key") if isinstance(metadata, Mapping) else None
        yield key if isinstance(key, str) else ""  # "": the answer must name its own


def _entry_key(entry: Any, by_place: str) -> str:
    """The key an answer (or a line of the input) names: its ``key`` (a file's line)
    or ``metadata.key`` (an inline answer), else ``by_place``, the key of the request
    at its place; a ``ValueError`` when neither names one (see
    :func:`~relaykit.batches.result_id`)."""
    if isinstance(entry, Mapping):
        metadata = entry.get("metadata")
        key = metadata.get("key") if isinstance(metadata, Mapping) else entry.get("key")
        if isinstance(key, str) and key:
            return key
    if by_place:
        return by_place
    return result_id(entry if isinstance(entry, Mapping) else None, "key")


def _file_name(value: Any, where: str) -> str:
    """A resource name the answer gives (``files/...``, ``batches/...``), or ``""`` for
    none; a ``TypeError`` naming ``where`` for one that is not text (it would be
    asked for)."""
    if value is None or isinstance(value, str):
        return value or ""
    raise TypeError(f"{where} is {type(value).__name__}, not text")
