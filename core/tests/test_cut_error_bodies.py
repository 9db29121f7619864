"""An error body is quoted up to a length; a key it holds across that cut would be
quoted in part, which masking (of the whole key) cannot find. The cut is made
before the token it would split."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.http_errors import parse_error_body
from relaykit.testing import OpenAIMock
from relaykit.testing.loopback import Request, Response

pytestmark = pytest.mark.anyio

#: a provider's key of no shape the built-in redactor knows
KEY = "vendor-7f3a9c2e5b8d1f4a"


def _body(at: int) -> str:
    """Text with the key starting at ``at``, and more after it."""
    return "x " * (at // 2) + "y" * (at % 2) + KEY + " and more after it"


@pytest.mark.parametrize("at", [480, 490, 495, 499])
async def test_a_key_across_the_quoted_lengths_end_is_not_quoted_in_part(at: int) -> None:
    async def quote(request: Request, _: Response) -> Response:
        return Response(401, {"content-type": "text/plain"}, _body(at).encode())

    with OpenAIMock() as mock:
        mock.rewrite = quote
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"p": {"type": "openai", "base_url": mock.base_url, "api_key": KEY}},
        }
        async with relaykit.Client(config) as client:
            with pytest.raises(relaykit.AuthenticationError) as caught:
                await client.chat("p/m", "hi")
    message = caught.value.provider_message or ""
    assert message.startswith("x x") and message.endswith("…"), message[-40:]
    for length in range(4, len(KEY) + 1):  # no part of the key of 4 characters or more
        assert KEY[:length] not in str(caught.value), (length, message[-40:])


@pytest.mark.parametrize(
    "body",
    [
        f"[[{_body(495)!r}]]",  # JSON, not an object: quoted as it is
        '{"error": [' + repr(_body(480)).replace("'", '"') + "]}",  # no message field
    ],
)
def test_json_quoted_whole_is_cut_before_a_token_too(body: str) -> None:
    message, _, _ = parse_error_body(body)
    assert message.endswith("…") and len(message) <= 501
    assert KEY[:4] not in message
