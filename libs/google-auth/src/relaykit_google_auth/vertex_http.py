"""Vertex AI requests with an access token: what the Gemini ``vertex`` and Claude
``vertex-anthropic`` providers both send their calls and listings with.

Each request carries a token (:meth:`~relaykit_google_auth.AccessTokens.authorization`);
one Vertex refuses with a 401 (revoked, or expired before its time) is sent once
more with a fresh token, when the token can be replaced
(:meth:`~relaykit_google_auth.AccessTokens.retry_after`). Without tokens (Gemini's
express mode: an API key in the headers) a request is sent once, as it is.

Also :func:`model_pages`, every page of a Google model listing (Vertex's of a
publisher's models, the Gemini API's), and :func:`next_page_token`, the
``nextPageToken`` of Google's paged listings (those, and the Gemini API's batches).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from relaykit import json_decode

if TYPE_CHECKING:
    from relaykit import RelayError, Secret
    from relaykit.http import HttpResponse, HttpStreamResponse

    from .access_tokens import AccessTokens

__all__ = ["model_pages", "next_page_token", "send_authorized", "stream_authorized"]

T = TypeVar("T")

#: the models a page asks for: the largest page Google serves, so one request usually does
PAGE_SIZE = 1000


async def _authorized(
    tokens: AccessTokens | None, headers: Mapping[str, str]
) -> tuple[dict[str, str], Secret | None]:
    """``headers`` with a token's, and the token (``None`` without tokens)."""
    if tokens is None:
        return dict(headers), None
    auth, token = await tokens.authorization()
    return {**headers, **auth}, token


async def send_authorized(
    tokens: AccessTokens | None,
    headers: Mapping[str, str],
    send: Callable[[dict[str, str]], Awaitable[HttpResponse]],
) -> HttpResponse:
    """``send(headers)``, the headers with ``tokens``' authorization added; a 401 to a
    token that can be replaced is sent once more, with a fresh one."""
    sent, token = await _authorized(tokens, headers)
    r = await send(sent)
    if tokens is not None and tokens.retry_after(r.status_code, token):
        sent, _ = await _authorized(tokens, headers)
        r = await send(sent)
    return r


@asynccontextmanager
async def stream_authorized(
    tokens: AccessTokens | None,
    headers: Mapping[str, str],
    open_stream: Callable[[dict[str, str]], AbstractAsyncContextManager[HttpStreamResponse]],
) -> AsyncIterator[HttpStreamResponse]:
    """:func:`send_authorized` for a streamed answer: ``open_stream(headers)``'s
    response, opened once more with a fresh token after a 401 to a replaceable one."""
    sent, token = await _authorized(tokens, headers)
    async with open_stream(sent) as r:
        if tokens is None or not tokens.retry_after(r.status_code, token):
            yield r
            return
        await r.aread()  # a 401 to an expired token: read, so the connection is reused
    sent, _ = await _authorized(tokens, headers)
    async with open_stream(sent) as r:
        yield r


def next_page_token(data: dict[str, Any], asked: set[str]) -> str | None:
    """A Google listing's next page token, added to ``asked`` (the tokens this listing
    asked for); ``None`` on the last page, or when the page names a token already
    asked for: following it would read the same pages for ever."""
    token = data.get("nextPageToken")
    if not token:
        return None
    if type(token) is not str:
        raise TypeError(f"nextPageToken is {type(token).__name__}, not text")
    if token in asked:
        return None
    asked.add(token)
    return token


async def model_pages(
    get: Callable[[str], Awaitable[HttpResponse]],
    url: str,
    field: str,
    listed: Callable[[Iterable[dict[str, Any]]], Iterator[T]],
    error: Callable[[int, Mapping[str, str], bytes, str | None], RelayError],
) -> list[T]:
    """Every page of a Google model listing at ``url`` (Vertex's
    ``{host}/v1beta1/publishers/{publisher}/models``: ``field`` ``publisherModels``;
    the Gemini API's ``{root}/models``: ``models``), each page's models read by
    ``listed``; ``get(url)`` sends a request, ``error(status, headers, body, model)``
    types a refusal. A page naming a token already asked for ends the list."""
    # what the listing documents, for naming the place an answer does not fit it
    shape = {field: [{"name": str}], "nextPageToken": str}
    out: list[T] = []
    params: dict[str, Any] = {"pageSize": PAGE_SIZE}
    asked: set[str] = set()
    while True:
        r = await get(f"{url}{'&' if '?' in url else '?'}{urlencode(params)}")
        if r.status_code >= 400:
            raise error(r.status_code, r.headers, r.content, None)
        data = json_decode.loads(r.content)
        try:
            out.extend(listed(data.get(field) or ()))
            token = next_page_token(data, asked)
        except json_decode.SHAPE_ERRORS as e:
            raise json_decode.wrong_shape("a model list", e, data, shape) from e
        if token is None and not asked:
            # Google leaves an empty list out ({}), but no publisher or API lists no
            # model: a one-page listing without any is no answer (it would be cached)
            json_decode.require_answer(data, "a model list", field)
        if token is None:
            return out
        params = {"pageSize": PAGE_SIZE, "pageToken": token}
