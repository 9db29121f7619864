"""A streamed call answered with a whole document, not a stream, says what came.

A proxy's sign-in page (``text/html``) or an error object (``application/json``)
sent with status 200 where an event stream (or Ollama's NDJSON, or Bedrock's AWS
event stream) belongs was read as a stream with no events: "the stream ended
before [DONE]" (or the like), which names neither. The rule (docs/writing-plugins.md,
"An answer that is no answer"): an error object is the typed error it describes
(a JSON body is how AWS reports a Bedrock stream's failure), and anything else is
the retryable :class:`relaykit.ProviderUnavailableError` naming what came back.
Each stream's first answer is replaced over loopback HTTP; a retry gets the mock's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import relaykit
from relaykit.testing.configs import one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn

#: an error reported with status 200, as OpenAI-compatible servers word it
RATE_LIMITED_200 = {
    "error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": 429}
}

#: how AWS words a throttled call: the name in a header, the message in the body
AWS_THROTTLED = (
    {
        "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    },
    {"message": "Too many requests, please wait before trying again."},
)

#: a page a captive portal or a proxy's sign-in answers with, status 200
SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>"


def serve_first(mock: VendorMock, body: bytes, headers: dict[str, str]) -> list[Request]:
    """Answer ``mock``'s first request with ``body`` (status 200, ``headers``), the later
    ones as it would; the requests served, as they come."""
    served: list[Request] = []

    async def rewrite(request: Request, response: Response) -> Response:
        served.append(request)
        if len(served) == 1:
            return Response(200, headers, body)
        return response

    mock.rewrite = rewrite
    return served


async def streamed(c: relaykit.Client, model: str) -> str:
    async with c.stream(model, "hi there", max_tokens=20) as s:
        async for _ in s:
            pass
    return s.response.text


@pytest.mark.anyio
async def test_a_stream_answered_with_an_error_object_is_the_error_it_describes(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    serve_first(mock, json.dumps(RATE_LIMITED_200).encode(), {"content-type": "application/json"})
    await throttled(providers, model)


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["bedrock", "bedrock-messages"], indirect=True)
async def test_a_bedrock_stream_answered_with_aws_json_is_the_error_it_names(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    # on main: "the ConverseStream response is corrupt: event-stream prelude CRC mismatch"
    mock, providers, model = vendor
    headers, body = AWS_THROTTLED
    serve_first(mock, json.dumps(body).encode(), {**headers, "content-type": "application/json"})
    await throttled(providers, model)


async def throttled(providers: dict[str, Any], model: str) -> None:
    """A stream of ``model`` fails as a :class:`relaykit.RateLimitError`."""
    async with relaykit.Client(one_try_config(providers)) as c:
        with pytest.raises(relaykit.RateLimitError) as caught:
            text = await streamed(c, model)
            pytest.fail(f"accepted as a stream: {text!r}")
    assert "stream ended" not in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [
        (SIGN_IN_PAGE, "text/html; charset=utf-8", "text/html"),
        (b'{"object": "list", "data": []}', "application/json", "application/json"),
        (b"<html><body>502 Bad Gateway", "application/json", "application/json"),
    ],
    ids=["html", "json without an error", "json that is not JSON"],
)
async def test_a_stream_answered_with_a_page_is_a_retryable_error_naming_it(
    vendor: tuple[VendorMock, dict[str, Any], str],
    body: bytes,
    content_type: str,
    named: str,
) -> None:
    mock, providers, model = vendor
    served = serve_first(mock, body, {"content-type": content_type})
    async with relaykit.Client(one_try_config(providers)) as c:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            text = await streamed(c, model)
            pytest.fail(f"accepted as a stream: {text!r}")
    assert caught.value.retryable
    assert named in str(caught.value), caught.value
    assert "stream ended" not in str(caught.value)
    # retried as any failure before the first piece is
    served.clear()
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    async with relaykit.Client(one_try_config(providers, retry=retry)) as c:
        assert await streamed(c, model) == "echo: hi there"
    assert len(served) == 2
