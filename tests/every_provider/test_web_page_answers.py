"""A status-200 web page where a chat's JSON or a stream belongs is summed up.

The commonest wrong ``base_url`` (a website's root, or one missing ``/v1``)
answers 200 with the site's HTML page. A plain call read it as JSON and said
"malformed response ... not JSON: '<!DOCTYPE html><html><head><script>...'"; a
streamed one quoted the page's first 100 raw characters. Both now sum it up as
an error page is (:func:`relaykit.http_errors.not_the_api`: its type, size,
title and a bounded excerpt without scripts or query strings) with the hint to
check ``base_url``, keeping the retryable
:class:`relaykit.ProviderUnavailableError` they raised. Over loopback HTTP
against the OpenAI and Anthropic mocks.
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.testing.configs import one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn

#: a website's home page, served where the API belongs (a base_url without /v1)
HOME_PAGE = (
    b"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
    b"<title>Acme Cloud \xe2\x80\x94 Home</title>"
    b"<script>window.__CONFIG__ = {tracking: 'trk-PRIVATE-999'};</script>"
    b"<style>body { color: red }</style></head>\n<body><nav>Products Pricing Docs</nav>"
    b"<p>Welcome to Acme Cloud. <a href='https://acme.example/login?token=tok-QUERY-777'>"
    b"Sign in</a></p>" + b"<p>filler text</p>" * 400 + b"</body></html>"
)


def serve_first(mock: VendorMock, body: bytes, content_type: str) -> list[Request]:
    """Answer ``mock``'s first request with ``body`` (status 200), later ones as it would."""
    served: list[Request] = []

    async def rewrite(request: Request, response: Response) -> Response:
        served.append(request)
        if len(served) == 1:
            return Response(200, {"content-type": content_type}, body)
        return response

    mock.rewrite = rewrite
    return served


async def call(c: relaykit.Client, model: str, streamed: bool) -> str:
    if not streamed:
        return (await c.chat(model, "hi there", max_tokens=20)).text
    async with c.stream(model, "hi there", max_tokens=20) as s:
        async for _ in s:
            pass
    return s.response.text


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["anthropic", "openai"], indirect=True)
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize(
    "content_type", ["text/html; charset=utf-8", "text/html", ""], ids=["utf8", "html", "none"]
)
async def test_a_web_page_in_place_of_the_answer_is_summed_up_with_a_base_url_hint(
    vendor: tuple[VendorMock, dict[str, Any], str], streamed: bool, content_type: str
) -> None:
    mock, providers, model = vendor
    if streamed and not content_type:
        content_type = "text/html"  # no type: read as a stream (some servers omit it)
    served = serve_first(mock, HOME_PAGE, content_type)
    async with relaykit.Client(one_try_config(providers), env={}) as c:
        with pytest.raises(relaykit.ProviderUnavailableError) as caught:
            text = await call(c, model, streamed)
            pytest.fail(f"a web page accepted as an answer: {text!r}")
    error = caught.value
    text = str(error)
    assert error.retryable
    assert "a web page" in text, text
    assert f"{len(HOME_PAGE)} bytes" in text, text
    assert "'Acme Cloud — Home'" in text, text
    assert "Welcome to Acme Cloud" in text, text
    assert error.hint is not None and "base_url" in error.hint
    assert "/v1" in error.hint
    if streamed:
        assert text.startswith(f"{model}: the stream was answered with a web page"), text
    else:
        assert text.startswith(f"{model}: malformed response from the provider"), text
    # bounded, no script, no query string, no key
    assert len(error.message) < 800, len(error.message)
    for secret in ("trk-PRIVATE-999", "tok-QUERY-777", "__CONFIG__", "color: red"):
        assert secret not in text
        assert secret not in repr(error)
    key = next(iter(providers.values()))["api_key"]
    assert key not in text and key not in repr(error)
    assert len(served) == 1
