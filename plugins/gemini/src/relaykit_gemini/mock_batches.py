"""The Gemini API's Batch Mode and the File API's uploads, as
:class:`~relaykit_gemini.testing.GeminiMock` serves them.

Following Google's API reference: ``POST /v1beta/models/{model}:batchGenerateContent``
takes ``{"batch": {"display_name", "input_config"}}`` (field names in either
proto JSON spelling, ``display_name`` or ``displayName``), the input inline
(``requests.requests``: ``[{"request", "metadata"}]``) or a file
(``file_name``: an uploaded JSONL file of ``{"key", "request"}`` lines), and
answers an operation named ``batches/{id}`` whose ``metadata`` is the batch in
``BATCH_STATE_PENDING``. ``GET /v1beta/batches/{id}`` runs the requests the
first time it is asked (each through the mock's own ``generateContent``,
taking the script's next reply) and answers ``BATCH_STATE_SUCCEEDED``, ``done``,
with ``batchStats`` (int64 counts as strings, as Google's JSON sends them) and
``response``: ``inlinedResponses`` (with each request's ``metadata``) for an
inline batch, ``responsesFile`` for a file's. A request that fails is an
``error`` (a ``google.rpc.Status`` with its gRPC code). ``POST
/v1beta/batches/{id}:cancel`` answers ``{}`` and leaves a batch not yet run
``BATCH_STATE_CANCELLED`` with no answers.

The File API: ``POST /upload/v1beta/files`` with ``X-Goog-Upload-Protocol:
resumable`` and ``X-Goog-Upload-Command: start`` answers an
``x-goog-upload-url``; a ``POST`` there with ``upload, finalize`` and the bytes
(as many as ``X-Goog-Upload-Header-Content-Length`` said) answers ``{"file"}``.
``GET /download/v1beta/files/{id}:download?alt=media`` serves a file in small
chunks (a client must join lines across them).

``GET /v1beta/batches?pageSize=&pageToken=`` lists the batches newest first, a page
at a time (``nextPageToken`` while more are left).

``mock.hold_batches = True`` keeps batches pending; the batch and file
endpoints take their faults from ``mock.batch_script``.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from relaykit.testing.loopback import Request, Response

from .mock_shapes import unparsed_problem

CHUNK = 64
#: the gRPC code of each HTTP status the mock answers (google/rpc/code.proto)
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 499: 1, 500: 13, 503: 14, 504: 4}
BATCH_PATH = re.compile(r"/v1beta/batches/([^/:]+)(:cancel)?")
CREATE_PATH = re.compile(r"/v1beta/models/([^/:]+):batchGenerateContent")
DOWNLOAD_PATH = re.compile(r"/download/v1beta/(files/[^/:]+):download")
UPLOAD_PATH = "/upload/v1beta/files"
LIST_PATH = "/v1beta/batches"
#: the largest request body Google's front end takes (a larger inline batch is refused)
MAX_BODY_BYTES = 20 * 1024 * 1024

#: answers one generateContent request: (model, body) -> the mock's response
Generate = Callable[[str, bytes], Awaitable[Response]]
#: the mock's error response: (status, message) -> response
ErrorResponse = Callable[[int, str], Response]


@attrs.define
class MockBatch:
    """One batch: its requests (key, body), and once run, one answer each."""

    name: str
    model: str
    display_name: str
    requests: list[tuple[str, Any]]
    created: datetime
    file_name: str | None = None
    state: str = "BATCH_STATE_PENDING"
    answers: list[dict[str, Any]] = attrs.field(factory=list)
    responses_file: str | None = None
    ended: datetime | None = None

    def render(self) -> dict[str, Any]:
        """The operation describing the batch."""
        failed = sum(1 for a in self.answers if "error" in a)
        done = self.state not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")
        pending = 0 if done else len(self.requests) - len(self.answers)
        stats = {
            "requestCount": str(len(self.requests)),
            "successfulRequestCount": str(len(self.answers) - failed),
            "pendingRequestCount": str(pending),
        }
        if failed:
            stats["failedRequestCount"] = str(failed)
        if self.file_name:
            input_config: dict[str, Any] = {"fileName": self.file_name}
        else:
            input_config = {
                "requests": {
                    "requests": [
                        {"request": body, "metadata": {"key": key}} for key, body in self.requests
                    ]
                }
            }
        batch: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "model": f"models/{self.model}",
            "displayName": self.display_name,
            "inputConfig": input_config,
            "createTime": _rfc3339(self.created),
            "updateTime": _rfc3339(self.ended or self.created),
            "batchStats": stats,
            "state": self.state,
            "name": self.name,
        }
        if self.ended:
            batch["endTime"] = _rfc3339(self.ended)
        operation: dict[str, Any] = {"name": self.name, "metadata": batch}
        if done:
            operation["done"] = True
            output: dict[str, Any] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta"
                ".GenerateContentBatchOutput"
            }
            if self.responses_file:
                output["responsesFile"] = self.responses_file
            elif self.answers:
                output["inlinedResponses"] = {"inlinedResponses": self.answers}
            operation["response"] = output
        return operation


class MockBatches:
    """The batches and files one mock holds."""

    def __init__(self, error: ErrorResponse) -> None:
        self.batches: dict[str, MockBatch] = {}
        #: uploaded files by name (``files/...``): their bytes
        self.files: dict[str, bytes] = {}
        #: uploads started and not finished: upload id -> (declared size, display name)
        self.uploads: dict[str, tuple[int, str]] = {}
        self.hold = False
        self._error = error
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    async def route(self, request: Request, base_url: str, generate: Generate) -> Response | None:
        """Answer a batch or file request; ``None`` for any other path."""
        if request.method == "POST" and (m := CREATE_PATH.fullmatch(request.path)):
            return self.create(m.group(1), request)
        if request.method == "GET" and request.path == LIST_PATH:
            return self.list(request.query)
        if m := BATCH_PATH.fullmatch(request.path):
            name = f"batches/{m.group(1)}"
            if request.method == "GET" and not m.group(2):
                return await self.get(name, generate)
            if request.method == "POST" and m.group(2):
                return self.cancel(name)
        if request.method == "POST" and request.path == UPLOAD_PATH:
            return self.upload(request, base_url)
        if request.method == "GET" and (m := DOWNLOAD_PATH.fullmatch(request.path)):
            return self.download(m.group(1), request)
        return None

    # -- batches ---------------------------------------------------------------------

    def list(self, query: Mapping[str, str]) -> Response:
        """``GET batches?pageSize=&pageToken=``: the batch operations, newest first, a page
        of ``pageSize`` (default 50, at most 1,000) with a ``nextPageToken`` while more
        are left (an opaque token: here the offset of the next page)."""
        try:
            size = int(query.get("pageSize") or 50)
        except ValueError:
            return self._error(400, "Invalid value at 'page_size' (TYPE_INT32).")
        token = query.get("pageToken") or ""
        start = 0
        if token:
            if not token.startswith("mock-page-") or not token[10:].isdigit():
                return self._error(400, "Invalid page token.")
            start = int(token[10:])
        size = max(1, min(size, 1000))
        newest = list(reversed(self.batches.values()))
        page = newest[start : start + size]
        body: dict[str, Any] = {"operations": [b.render() for b in page]}
        if start + size < len(newest):
            body["nextPageToken"] = f"mock-page-{start + size}"
        return Response.json(body)

    def create(self, model: str, request: Request) -> Response:
        """``models/{model}:batchGenerateContent``; a body over 20 MiB is refused as
        Google's front end refuses it."""
        if len(request.body) > MAX_BODY_BYTES:
            return self._error(
                400, f"Request payload size exceeds the limit: {MAX_BODY_BYTES} bytes."
            )
        problem = unparsed_problem(request.body)
        if problem:
            return self._error(400, problem)
        body = request.json()
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            return self._error(
                400, "Invalid JSON payload received. Unknown name: batch is required."
            )
        display_name = _field(batch, "display_name")
        if not isinstance(display_name, str) or not display_name:
            return self._error(400, "batch.display_name is required.")
        config = _field(batch, "input_config")
        if not isinstance(config, dict):
            return self._error(400, "batch.input_config is required.")
        file_name = _field(config, "file_name")
        if file_name is not None:
            requests, problem = self._file_requests(str(file_name))
        else:
            requests, problem = _inline_requests(config)
        if problem:
            return self._error(400, problem)
        name = f"batches/mockbatch{self._next():06d}"
        self.batches[name] = MockBatch(
            name,
            model,
            display_name,
            requests,
            datetime.now(UTC),
            file_name=str(file_name) if file_name is not None else None,
        )
        return Response.json(self.batches[name].render())

    async def get(self, name: str, generate: Generate) -> Response:
        """``GET batches/{id}``: run the batch the first time, then describe it."""
        batch = self.batches.get(name)
        if batch is None:
            return self._error(404, f"Batch {name} not found.")
        if batch.state == "BATCH_STATE_PENDING" and not self.hold:
            for _key, body in batch.requests:
                answer = await generate(batch.model, json.dumps(body).encode())
                assert isinstance(answer.body, bytes)
                data = json.loads(answer.body)
                if answer.status < 400:
                    entry: dict[str, Any] = {"response": data}
                else:
                    err = data.get("error") or {}
                    status = {
                        "code": GRPC_CODES.get(answer.status, 2),
                        "message": err.get("message", ""),
                    }
                    if err.get("details"):
                        status["details"] = err["details"]
                    entry = {"error": status}
                batch.answers.append(entry)
            if batch.file_name:
                lines = [
                    {"key": key, **a}
                    for (key, _), a in zip(batch.requests, batch.answers, strict=True)
                ]
                batch.responses_file = f"files/mockresults{self._next():06d}"
                self.files[batch.responses_file] = b"".join(
                    json.dumps(line).encode() + b"\n" for line in lines
                )
            else:
                batch.answers = [
                    {**a, "metadata": {"key": key}}
                    for (key, _), a in zip(batch.requests, batch.answers, strict=True)
                ]
            batch.state, batch.ended = "BATCH_STATE_SUCCEEDED", datetime.now(UTC)
        return Response.json(batch.render())

    def cancel(self, name: str) -> Response:
        """``POST batches/{id}:cancel``: an empty answer; a batch not run yet is cancelled."""
        batch = self.batches.get(name)
        if batch is None:
            return self._error(404, f"Batch {name} not found.")
        if batch.state in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
            batch.state, batch.ended = "BATCH_STATE_CANCELLED", datetime.now(UTC)
        return Response.json({})

    # -- files -----------------------------------------------------------------------

    def upload(self, request: Request, base_url: str) -> Response:
        """The File API's resumable upload: ``start``, then ``upload, finalize``."""
        headers = request.headers
        if (
            headers.get("x-goog-upload-protocol") != "resumable"
            and "upload_id" not in request.query
        ):
            return self._error(400, "Only the resumable upload protocol is served by the mock.")
        command = headers.get("x-goog-upload-command", "")
        if command == "start":
            try:
                size = int(headers.get("x-goog-upload-header-content-length", ""))
            except ValueError:
                return self._error(400, "X-Goog-Upload-Header-Content-Length is required.")
            problem = unparsed_problem(request.body or b"{}")
            if problem:
                return self._error(400, problem)
            meta = json.loads(request.body or b"{}")
            file = meta.get("file") if isinstance(meta, dict) else None
            if not isinstance(meta, dict) or not isinstance(file, dict | None):
                return self._error(400, "Invalid JSON payload received. Expected an object.")
            upload_id = f"mockupload{self._next():06d}"
            display = str((file or {}).get("display_name") or "")
            self.uploads[upload_id] = (size, display)
            url = f"{base_url}{UPLOAD_PATH}?upload_id={upload_id}&upload_protocol=resumable"
            return Response(200, {"x-goog-upload-url": url, "x-goog-upload-status": "active"}, b"")
        upload_id = request.query.get("upload_id", "")
        if upload_id not in self.uploads:
            return self._error(404, "Upload not found.")
        if [c.strip() for c in command.split(",")] != ["upload", "finalize"]:
            return self._error(400, f"Unsupported X-Goog-Upload-Command: {command!r}.")
        if headers.get("x-goog-upload-offset") != "0":
            return self._error(400, "The mock takes a file in one chunk, at offset 0.")
        size, display = self.uploads.pop(upload_id)
        if len(request.body) != size:
            return self._error(
                400, f"Upload size mismatch: declared {size} bytes, received {len(request.body)}."
            )
        name = f"files/mockfile{self._next():06d}"
        self.files[name] = request.body
        return Response.json(
            {
                "file": {
                    "name": name,
                    "displayName": display,
                    "mimeType": "application/jsonl",
                    "sizeBytes": str(size),
                    "state": "ACTIVE",
                    "uri": f"{base_url}/v1beta/{name}",
                }
            }
        )

    def download(self, name: str, request: Request) -> Response:
        """``GET /download/v1beta/{file}:download?alt=media``: the file, a few bytes at a time."""
        if request.query.get("alt") != "media":
            return self._error(400, "alt=media is required to download a file's content.")
        data = self.files.get(name)
        if data is None:
            return self._error(404, f"File {name} not found.")
        return Response(200, {"content-type": "application/octet-stream"}, _chunks(data))

    def _file_requests(
        self, name: str
    ) -> tuple[builtins.list[tuple[str, Any]], str | None]:  # list: the method above
        data = self.files.get(name)
        if data is None:
            return [], f"Input file {name} not found."
        out: builtins.list[tuple[str, Any]] = []
        for i, raw in enumerate(data.splitlines()):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                return [], f"Line {i + 1} of {name} is not JSON."
            if not isinstance(line, dict) or not isinstance(line.get("request"), dict):
                return [], f"Line {i + 1} of {name} has no request."
            out.append((str(line.get("key") or ""), line["request"]))
        if not out:
            return [], f"Input file {name} holds no requests."
        return out, None


def _inline_requests(config: dict[str, Any]) -> tuple[list[tuple[str, Any]], str | None]:
    outer = config.get("requests")
    entries = outer.get("requests") if isinstance(outer, dict) else None
    if not isinstance(entries, list) or not entries:
        return [], "batch.input_config needs requests.requests or file_name."
    out: list[tuple[str, Any]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
            return [], f"batch.input_config.requests.requests[{i}].request is required."
        metadata = entry.get("metadata") or {}
        out.append((str(metadata.get("key") or ""), entry["request"]))
    return out, None


def _field(obj: dict[str, Any], snake: str) -> Any:
    """A field under either of proto JSON's spellings (``file_name``, ``fileName``)."""
    head, *rest = snake.split("_")
    camel = head + "".join(word.title() for word in rest)
    return obj.get(snake, obj.get(camel))


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def _rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
