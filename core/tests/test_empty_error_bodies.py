"""An error response with no body (or a JSON ``null``) has no message: it says so, rather
than quoting Python's ``None``."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.http_errors import parse_error_body
from relaykit.testing import OpenAIMock
from relaykit.testing.loopback import Request, Response


@pytest.mark.parametrize("body", [b"", b"null", "", "null", b"  null \n"])
def test_an_empty_or_null_body_has_no_message(body: bytes | str) -> None:
    assert parse_error_body(body) == ("", None, None)


@pytest.mark.parametrize("body", [b"", b"null"])
@pytest.mark.anyio
async def test_an_http_error_without_a_body_says_it_has_no_message(body: bytes) -> None:
    async def empty(request: Request, _: Response) -> Response:
        return Response(403, {"content-type": "application/json"}, body)

    with OpenAIMock() as mock:
        mock.rewrite = empty
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"p": {"type": "openai", "base_url": mock.base_url, "api_key": "k"}},
        }
        async with relaykit.Client(config) as client:
            with pytest.raises(relaykit.AuthenticationError) as caught:
                await client.chat("p/m", "hi")
    assert caught.value.provider_message == "HTTP 403 with no error message"
