"""Batch Mode answers with status 200 that hold no answer (the "malformed 200" rule).

Each of the batch calls' requests (the create, the File API's upload, a batch
described, the list, the cancel, the responses file) is answered over loopback
with status 200 and: an error object (``{"error": {...}}``, as a gateway in
front of the API words a failure), a proxy's HTML sign-in page, or JSON of
another shape (a list). The rule (docs/writing-plugins.md, "An answer that is
no answer"): an error object is the typed error it describes; anything else is
the retryable malformed-response :class:`relaykit.ProviderUnavailableError`
naming what came, never a bare ``KeyError``/``TypeError``/``AttributeError``,
and never an empty answer (a list of no batches).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import relaykit
from relaykit import BatchItem, ProviderUnavailableError, RateLimitError
from relaykit.testing.loopback import Request, Response
from relaykit_gemini import batches
from relaykit_gemini.testing import GeminiMock

from .conftest import client

FLASH = "gemini/gemini-2.5-flash"

#: Google's words for a rate limit, sent with status 200
ERROR_OBJECT = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
    }
}

#: a page a captive portal or a proxy's sign-in answers with, status 200
SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>"

BODIES: dict[str, tuple[bytes, str]] = {
    "error object": (json.dumps(ERROR_OBJECT).encode(), "application/json"),
    "html page": (SIGN_IN_PAGE, "text/html"),
    "a list": (b'[{"name": "batches/b1"}]', "application/json"),
}

Step = Callable[[relaykit.Client, GeminiMock], Awaitable[Any]]


async def submitted(c: relaykit.Client, mock: GeminiMock) -> Any:
    return await c.submit_batch(FLASH, [BatchItem("a", "hi"), BatchItem("b", "hey")])


async def described(c: relaykit.Client, mock: GeminiMock) -> Any:
    return await c.batch((await submitted(c, mock)).id)


async def listed(c: relaykit.Client, mock: GeminiMock) -> Any:
    await submitted(c, mock)
    return await c.batches("gemini")


async def cancelled(c: relaykit.Client, mock: GeminiMock) -> Any:
    mock.hold_batches = True
    return await c.cancel_batch((await submitted(c, mock)).id)


async def results(c: relaykit.Client, mock: GeminiMock) -> Any:
    batch = await submitted(c, mock)
    return [r async for r in c.batch_results(batch.id)]


def is_create(r: Request) -> bool:
    return r.path.endswith(":batchGenerateContent")


def is_upload_start(r: Request) -> bool:
    return r.headers.get("x-goog-upload-command") == "start"


def is_upload_finish(r: Request) -> bool:
    return r.headers.get("x-goog-upload-command") == "upload, finalize"


def is_described(r: Request) -> bool:
    return r.method == "GET" and r.path.startswith("/v1beta/batches/")


def is_list(r: Request) -> bool:
    return r.method == "GET" and r.path == "/v1beta/batches"


def is_cancel(r: Request) -> bool:
    return r.path.endswith(":cancel")


def is_download(r: Request) -> bool:
    return r.path.startswith("/download/")


#: which answer is replaced -> (the call that reads it, the request, files: whether
#: the batch goes as an uploaded file, its answers in a responses file)
STEPS: dict[str, tuple[Step, Callable[[Request], bool], bool]] = {
    "create": (submitted, is_create, False),
    "upload start": (submitted, is_upload_start, True),
    "upload finalize": (submitted, is_upload_finish, True),
    "get": (described, is_described, False),
    "list": (listed, is_list, False),
    "cancel": (cancelled, is_cancel, False),
    "results' batch": (results, is_described, False),
    "responses file": (results, is_download, True),
}


@pytest.mark.anyio
@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("step", list(STEPS))
async def test_a_batch_answer_that_is_no_answer_is_a_typed_error_naming_what_came(
    mock: GeminiMock, monkeypatch: pytest.MonkeyPatch, step: str, body: str
) -> None:
    call, replaced, files = STEPS[step]
    content, media = BODIES[body]
    if files:
        monkeypatch.setattr(batches, "INLINE_MAX_BYTES", 10)

    async def rewrite(request: Request, response: Response) -> Response:
        if not replaced(request):
            return response
        return Response(200, {"content-type": media}, content)

    mock.rewrite = rewrite
    async with client(mock) as c:
        if step == "create" and body != "error object":
            # Garbled, the create's answer may hide a batch made: it is looked for by
            # its display name, and found (the mock made it), never made twice.
            batch = await call(c, mock)
            assert batch.id == f"gemini/{next(iter(mock.batches.batches))}"
            assert len([r for r in mock.requests if is_create(r)]) == 1
            return
        with pytest.raises(relaykit.RelayError) as caught:
            answered = await call(c, mock)
            pytest.fail(f"answered as {answered!r}")
    error = caught.value
    if body == "error object":
        assert isinstance(error, RateLimitError), repr(error)
        assert "Resource has been exhausted" in str(error)
        return
    # the malformed answer: retryable, naming what came
    assert isinstance(error, ProviderUnavailableError), repr(error)
    shown = ("Sign in",) if body == "html page" else ("list", '[{"name": "batches/b1"}]')
    assert any(words in str(error) for words in shown), str(error)
