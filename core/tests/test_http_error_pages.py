"""A ``base_url`` that reaches no API (a web site, a proxy's error page) answers with
an HTML page. Its error was the page itself, up to 500 characters of markup on one
line, with no word on what to fix; it is now summed up (status, content type, the
page's title, a bounded excerpt of its text) with a hint to check ``base_url``,
for every provider through :func:`relaykit.http_errors.error_from_http`. What the
page echoes of the request (the key, a URL's query-string token) is not quoted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import NotFoundError, ProviderUnavailableError
from relaykit.cli import main
from relaykit.http_errors import error_from_http, not_the_api
from relaykit.testing import LoopbackServer
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse

#: a key of no known vendor's shape: masked because it is configured, not by its look
KEY = "proxy-key-7f3e9a1c5b2d"
TOKEN = "tok-91c2e0f7a4b6"
TITLE = "404 Not Found – Example Corp intranet"


def _page(request: HttpRequest) -> bytes:
    """A web server's 404 page, as a debugging proxy writes one: it echoes the
    request (URL with its query string, the credential header) and runs long."""
    sent = request.headers.get("authorization") or request.headers.get("x-api-key", "")
    filler = "<p>" + "Lorem ipsum dolor sit amet. " * 40 + "</p>\n"
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{TITLE.replace('–', '&ndash;')}</title>\n"
        "<style>body { font-family: sans-serif; }</style>\n"
        "<script>window.analytics = {id: 'UA-1'};</script>\n</head>\n<body>\n"
        f"<h1>Not Found</h1>\n<p>No page at http://intranet{request.path}?token={TOKEN}"
        f" (sent with {sent}).</p>\n{filler * 60}</body>\n</html>\n"
    ).encode()


class WebSite:
    """Not an API: every request gets an HTML page with ``status``."""

    def __init__(self, status: int = 404) -> None:
        self.status = status

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            self.status, {"content-type": "text/html; charset=utf-8"}, _page(request)
        )


def _config(url: str) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {
            "openai": {"base_url": url, "api_key": KEY},
            "anthropic": {"base_url": url, "api_key": KEY},
        },
    }


def _check_summary(text: str) -> None:
    assert "web page (text/html, " in text
    assert repr(TITLE) in text
    assert "'Not Found No page at http://intranet/" in text  # the excerpt, script and style gone
    assert "check the provider's base_url" in text
    assert "<" not in text and "Lorem ipsum dolor sit amet. " * 10 not in text
    assert KEY not in text and TOKEN not in text
    assert len(text) < 1200


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_a_web_page_in_place_of_the_api_is_summed_up_with_a_hint(
    model: str, stream: bool
) -> None:
    with LoopbackServer(WebSite()) as server:
        async with relaykit.Client(_config(server.url)) as client:
            with anyio.fail_after(30), pytest.raises(NotFoundError) as caught:
                if stream:
                    async with client.stream(model, "Hi", max_tokens=10) as s:
                        async for _ in s:
                            pass
                else:
                    await client.chat(model, "Hi", max_tokens=10)

    error = caught.value
    assert error.status == 404
    _check_summary(str(error))
    _check_summary(repr(error))


def test_the_cli_prints_the_summary_on_one_line_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackServer(WebSite(502)) as server:
        config = tmp_path / "relaykit.toml"
        config.write_text(
            f'[storage]\nbackend = "none"\n\n[retry]\nattempts = 1\n\n'
            f'[providers.openai]\nbase_url = "{server.url}"\napi_key = "{KEY}"\n'
        )
        monkeypatch.setenv("RELAYKIT_CONFIG", str(config))

        code = main(["prompt", "--no-stream", "-m", "openai/gpt-4o-mini", "Hi"])

    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    (line,) = err.splitlines()
    assert line.startswith(
        "error: openai/gpt-4o-mini: HTTP 502: the server answered with a web page"
    )
    assert "Traceback" not in err
    _check_summary(line)


def test_a_page_without_a_content_type_is_still_a_page() -> None:
    body = b"  <HTML><HEAD><TITLE>Gateway Timeout</TITLE></HEAD><BODY>upstream gone</BODY></HTML>"

    error = error_from_http(504, {}, body, provider="openai", model="m")

    assert isinstance(error, ProviderUnavailableError)
    assert str(error).startswith(
        "openai/m: HTTP 504: the server answered with a web page (no content type, 84 bytes),"
        " not the API's JSON; its title: 'Gateway Timeout'; it reads: 'upstream gone'"
    )


def test_a_binary_answer_is_named_by_its_type_and_size_only() -> None:
    body = bytes(range(256)) * 4

    error = error_from_http(
        502, {"content-type": "application/octet-stream"}, body, provider="openai", model="m"
    )

    assert (
        "answered with a document (application/octet-stream, 1024 bytes), not the API's JSON"
        in str(error)
    )
    assert "it reads" not in str(error)
    assert error.hint is not None and "base_url" in error.hint


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"error": {"message": "bad model"}}'),
        ("text/html", b'{"error": {"message": "bad model"}}'),  # JSON, labelled loosely
        ("text/plain", b"bad model"),  # Ollama's and many routers' plain text
        ("", b"bad model"),
    ],
)
def test_json_and_plain_text_errors_are_read_as_before(content_type: str, body: bytes) -> None:
    headers = {"content-type": content_type} if content_type else {}

    assert not_the_api(headers, body) is None
    assert error_from_http(400, headers, body, provider="p", model="m").message == "bad model"
