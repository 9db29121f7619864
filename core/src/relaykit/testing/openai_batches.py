"""OpenAI's Batch API, as :class:`~relaykit.testing.OpenAIMock` serves it.

Following the API reference: ``POST /v1/files`` takes a multipart form
(``purpose``, ``file``) and answers a ``file`` object; ``POST /v1/batches``
takes ``input_file_id``, ``endpoint`` (``/v1/chat/completions`` or
``/v1/responses`` here) and ``completion_window`` (``24h``) and answers a
``batch`` object in ``validating``. A file whose lines are not all
``{"custom_id", "method": "POST", "url": <the endpoint>, "body"}`` with unique
custom ids makes the batch ``failed`` with ``errors.data`` naming each line.
``GET /v1/batches/{id}`` runs the items the first time it is asked (each
through the mock's own endpoint, so each takes the script's next reply) and
answers ``completed``; ``POST /v1/batches/{id}/cancel`` answers ``cancelling``,
then ``cancelled`` with every item not run in the error file as
``batch_cancelled``. ``GET /v1/files/{id}/content`` serves a result file as
JSONL, in small chunks (a client must join lines across them).

``GET /v1/batches`` lists them newest first (``limit`` 1 to 100, ``after``), each with
the ``metadata`` it was created with; a batch file over 200 MB is refused at upload
("File is too large."). ``DELETE /v1/files/{id}`` deletes a file (the ids deleted are
kept in ``deleted``).

``mock.hold_batches = True`` keeps batches in progress; the batch endpoints
take their faults from ``mock.batch_script`` (the items take theirs from
``mock.script``). A service that speaks the same API (Azure OpenAI's mock) makes
its own :class:`OpenAIBatches` with the endpoints it takes and a check of the
lines as a whole (Azure fails a file whose lines name different deployments).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import attrs

from ..multipart import parse
from .loopback import Request, Response

__all__ = ["OpenAIBatches"]

ENDPOINTS = ("/v1/chat/completions", "/v1/responses")
#: the largest batch input file taken ("up to 200 MB", read as the smaller, decimal
#: megabytes); a larger upload is refused as OpenAI refuses it: "File is too large."
MAX_BATCH_FILE_BYTES = 200_000_000
#: how many bytes each chunk of a result file holds
CHUNK = 64


@attrs.define
class MockBatch:
    """One batch: its input lines, and once run, its output and error lines."""

    id: str
    endpoint: str
    input_file_id: str
    lines: list[dict[str, Any]]
    created_at: int
    status: str = "validating"
    errors: list[dict[str, Any]] = attrs.field(factory=list)
    output: list[dict[str, Any]] = attrs.field(factory=list)
    failed: list[dict[str, Any]] = attrs.field(factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    ended_at: int | None = None
    ended_key: str | None = None
    cancelling_at: int | None = None
    metadata: dict[str, str] | None = None

    def render(self) -> dict[str, Any]:
        """The ``batch`` object."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.lines[0]["body"].get("model") if self.lines else None,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.created_at if self.status != "validating" else None,
            "expires_at": self.created_at + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": None,
            "request_counts": {
                "total": len(self.lines) if not self.errors else 0,
                "completed": len(self.output),
                "failed": len(self.failed),
            },
            "metadata": self.metadata,
        }
        if self.ended_key is not None:
            body[self.ended_key] = self.ended_at
        return body


#: a check of a file's lines as a whole: the errors that fail the batch (none: it runs)
LinesCheck = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


class OpenAIBatches:
    """The files and batches one mock holds.

    ``endpoints`` are the batch endpoints taken; ``check``, if given, looks at a
    valid file's lines and returns the errors (``{"code", "message", "line"}``)
    that fail its batch.
    """

    def __init__(
        self, endpoints: Sequence[str] = ENDPOINTS, check: LinesCheck | None = None
    ) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, MockBatch] = {}
        self.hold = False
        self.endpoints = tuple(endpoints)
        self._check = check
        #: the form fields and JSON of the last upload and batch, beyond the file
        self.last_upload: dict[str, str] = {}
        self.last_create: dict[str, Any] = {}
        #: the ids of the files deleted, in order
        self.deleted: list[str] = []
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:06d}"

    def upload(self, request: Request) -> Response:
        """``POST /v1/files``: keep the file."""
        parts = {p.name: p for p in parse(request.body, request.headers.get("content-type", ""))}
        purpose = parts.get("purpose")
        file = parts.get("file")
        self.last_upload = {name: p.text for name, p in parts.items() if name != "file"}
        if file is None or purpose is None:
            missing = "file" if file is None else "purpose"
            return error(400, f"Missing required parameter: '{missing}'.", missing)
        if purpose.text not in ("batch", "assistants", "fine-tune", "vision", "user_data", "evals"):
            return error(400, f"Invalid value for purpose: '{purpose.text}'.", "purpose")
        if purpose.text == "batch" and len(file.data) > MAX_BATCH_FILE_BYTES:
            return error(400, "File is too large.", None)
        file_id = self._id("file-mock")
        self.files[file_id] = (purpose.text, file.data)
        return Response.json(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(file.data),
                "created_at": int(time.time()),
                "filename": file.filename or "upload",
                "purpose": purpose.text,
            }
        )

    def create(self, body: Any) -> Response:
        """``POST /v1/batches``: a batch over an uploaded file, ``validating`` (or
        ``failed``, naming the lines that are not requests to its endpoint)."""
        if not isinstance(body, dict):
            return error(400, "The request body must be a JSON object.", None)
        self.last_create = body
        endpoint = body.get("endpoint")
        if endpoint not in self.endpoints:
            return error(400, f"Invalid value for endpoint: {endpoint!r}.", "endpoint")
        if body.get("completion_window") != "24h":
            return error(
                400,
                "Invalid value for completion_window: only '24h' is supported.",
                "completion_window",
            )
        stored = self.files.get(str(body.get("input_file_id")))
        if stored is None:
            return error(404, f"No such File object: {body.get('input_file_id')}", "input_file_id")
        if stored[0] != "batch":
            return error(
                400, "The input file must be uploaded with purpose 'batch'.", "input_file_id"
            )
        lines, errors = _read_lines(stored[1], endpoint)
        if not errors and self._check is not None:
            errors = self._check(lines)
        batch = MockBatch(
            self._id("batch_mock"), endpoint, str(body["input_file_id"]), lines, int(time.time())
        )
        metadata = body.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, dict) or len(metadata) > 16:
                return error(400, "Invalid 'metadata': at most 16 key-value pairs.", "metadata")
            batch.metadata = {str(k): str(v) for k, v in metadata.items()}
        if errors:
            batch.errors, batch.status = errors, "failed"
            batch.ended_key, batch.ended_at = "failed_at", int(time.time())
        self.batches[batch.id] = batch
        return Response.json(batch.render())

    def list(self, query: dict[str, str]) -> Response:
        """``GET /v1/batches?limit=&after=``: the batches, newest first, a page at a time."""
        try:
            limit = int(query.get("limit") or 20)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return error(400, "Invalid 'limit': it must be between 1 and 100.", "limit")
        newest = list(reversed(self.batches.values()))
        after = query.get("after")
        if after:
            ids = [b.id for b in newest]
            newest = newest[ids.index(after) + 1 :] if after in ids else []
        page = newest[:limit]
        return Response.json(
            {
                "object": "list",
                "data": [b.render() for b in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(newest) > limit,
            }
        )

    async def get(
        self, batch_id: str, run: Callable[[str, dict[str, Any]], Awaitable[Response]]
    ) -> Response:
        """``GET /v1/batches/{id}``: run the batch the first time (``run(endpoint,
        body)`` answers one item), then describe it."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return error(404, f"No batch found with id '{batch_id}'.", None)
        if batch.status == "cancelling":
            for line in batch.lines:
                batch.failed.append(_line(line["custom_id"], None, "batch_cancelled"))
            self._end(batch, "cancelled", "cancelled_at")
        elif batch.status == "validating" and not self.hold:
            for line in batch.lines:
                await self._run_line(batch, line, run)
            self._end(batch, "completed", "completed_at")
        elif batch.status == "validating":
            batch.status = "in_progress"
        return Response.json(batch.render())

    async def expire(
        self,
        batch_id: str,
        run: Callable[[str, dict[str, Any]], Awaitable[Response]],
        ran: int = 0,
    ) -> None:
        """Let a held batch's completion window run out with its first ``ran`` items
        done (each answered by ``run``): the others fail as ``batch_expired``."""
        batch = self.batches[batch_id]
        for line in batch.lines[:ran]:
            await self._run_line(batch, line, run)
        for line in batch.lines[ran:]:
            batch.failed.append(_line(line["custom_id"], None, "batch_expired"))
        self._end(batch, "expired", "expired_at")

    async def _run_line(
        self,
        batch: MockBatch,
        line: dict[str, Any],
        run: Callable[[str, dict[str, Any]], Awaitable[Response]],
    ) -> None:
        """Answer one line, into the output file (a success) or the error file."""
        answer = await run(batch.endpoint, line["body"])
        assert isinstance(answer.body, bytes)
        entry = {
            "id": self._id("batch_req_mock"),
            "custom_id": line["custom_id"],
            "response": {
                "status_code": answer.status,
                "request_id": self._id("req_mock"),
                "body": json.loads(answer.body),
            },
            "error": None,
        }
        (batch.output if answer.status < 400 else batch.failed).append(entry)

    def cancel(self, batch_id: str) -> Response:
        """``POST /v1/batches/{id}/cancel``: ``cancelling`` a batch in progress."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return error(404, f"No batch found with id '{batch_id}'.", None)
        if batch.status not in ("validating", "in_progress"):
            return error(400, f"Cannot cancel a batch with status '{batch.status}'.", None)
        batch.status, batch.cancelling_at = "cancelling", int(time.time())
        return Response.json(batch.render())

    def delete(self, file_id: str) -> Response:
        """``DELETE /v1/files/{id}``: the file gone (a batch over it keeps what it read)."""
        if self.files.pop(file_id, None) is None:
            return error(404, f"No such File object: {file_id}", None)
        self.deleted.append(file_id)
        return Response.json({"id": file_id, "object": "file", "deleted": True})

    def content(self, file_id: str) -> Response:
        """``GET /v1/files/{id}/content``: the file's bytes, a few at a time."""
        stored = self.files.get(file_id)
        if stored is None:
            return error(404, f"No such File object: {file_id}", None)
        data = stored[1]
        return Response(200, {"content-type": "application/octet-stream"}, _chunks(data))

    def _end(self, batch: MockBatch, status: str, key: str) -> None:
        batch.status, batch.ended_key, batch.ended_at = status, key, int(time.time())
        for lines, attr in ((batch.output, "output_file_id"), (batch.failed, "error_file_id")):
            if lines:
                file_id = self._id("file-mock")
                self.files[file_id] = (
                    "batch_output",
                    b"".join(json.dumps(x).encode() + b"\n" for x in lines),
                )
                setattr(batch, attr, file_id)


def _line(custom_id: str, response: dict[str, Any] | None, code: str) -> dict[str, Any]:
    messages = {
        "batch_cancelled": "This request was not executed because the batch was cancelled.",
        "batch_expired": "This request could not be executed before the completion window expired.",
    }
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": response,
        "error": {"code": code, "message": messages[code]},
    }


def _read_lines(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The requests in an input file, and an error for each line that is not one."""
    lines: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        problem = None
        try:
            line = json.loads(raw)
        except ValueError:
            line, problem = None, ("invalid_json_line", "This line is not parseable as valid JSON.")
        if problem is None and not isinstance(line, dict):
            problem = ("invalid_request", "Each line must be a JSON object.")
        if problem is None and not line.get("custom_id"):
            problem = ("missing_required_parameter", "Missing required parameter: 'custom_id'.")
        if problem is None and line["custom_id"] in seen:
            problem = ("duplicate_custom_id", "The custom_id for this request is a duplicate.")
        if problem is None and line.get("method") != "POST":
            problem = ("invalid_method", "The method must be 'POST'.")
        if problem is None and line.get("url") != endpoint:
            problem = (
                "mismatched_endpoint",
                f"The URL provided for this request does not match the batch endpoint {endpoint}.",
            )
        if problem is None and not isinstance(line.get("body"), dict):
            problem = ("missing_required_parameter", "Missing required parameter: 'body'.")
        if problem is not None:
            errors.append(
                {"code": problem[0], "message": problem[1], "param": None, "line": number}
            )
            continue
        seen.add(line["custom_id"])
        lines.append(line)
    if not lines and not errors:
        errors.append({"code": "empty_file", "message": "The input file is empty.", "line": None})
    return lines, errors


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def error(status: int, message: str, param: str | None) -> Response:
    """An OpenAI error body."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return Response.json(body, status)
