"""Turn a provider's HTTP error response into a typed :class:`relaykit.RelayError`.

Vendors wrap their messages differently (``{"error": {"message": ...}}`` at
OpenAI and Anthropic, ``{"error": {"status": ..., "details": [...]}}`` at
Google, ``{"error": "..."}`` at Ollama, ``{"message": ...}`` at AWS); this
finds the message in any of them, and the Retry-After wherever it is.

Azure OpenAI says more than its message: a content filter's refusal lists
each category it judged under ``innererror.content_filter_result`` (the
categories that fired are named in the error's message), and a wrong
deployment name is a 404 coded ``DeploymentNotFound`` (its hint says to check
the deployment, not the model).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ProviderUnavailableError, RateLimitError, RelayError, error_for_status
from .retry_after import header, retry_after_seconds, seconds
from .secrets import cut_short

if TYPE_CHECKING:
    from .http import HttpStreamResponse

__all__ = [
    "error_from_http",
    "error_in_answer",
    "error_in_place_of_stream",
    "error_status_of",
    "not_a_stream",
    "not_the_api",
    "parse_error_body",
    "refuse_document_stream",
]


def error_from_http(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    provider: str,
    model: str | None,
) -> RelayError:
    """The typed error for an HTTP error response whose body has been read."""
    page = _not_the_api(headers, body)
    if page is not None:
        message, code, retry_delay, param = page[0], None, None, None
    else:
        message, code, retry_delay, param = _parse(body)
    retry_after = retry_after_seconds(headers)
    if retry_after is None:
        retry_after = retry_delay
    if not message:
        message = f"HTTP {status} with no error message"
    if status == 529 or code in ("overloaded_error",):
        status = status if status >= 500 else 529
    fired = filtered_categories(body)
    if fired:
        message = f"{message.rstrip()} (filtered: {', '.join(fired)})"
    error = error_for_status(
        status,
        message,
        provider=provider,
        model=model,
        retry_after=retry_after,
        code=code,
        param=param,
    )
    if code == "DeploymentNotFound":
        named = f"{model!r} is" if model else "the request names"
        error.hint = (
            f"{named} not a deployment of this Azure OpenAI resource: check the deployment"
            f" name, which is what goes after '{provider}/' (Azure AI Foundry > Deployments),"
            " not the model's name; a deployment made minutes ago may not be ready yet"
        )
    elif fired:
        error.hint = (
            "rephrase the prompt; what is filtered is the deployment's content filter"
            " configuration (Azure AI Foundry > Guardrails + controls)"
        )
    elif page is not None:
        error.hint = page_hint(page[1])
    if status == 429 and _quota_used_up(body):
        # OpenAI's 429 for an account out of credit: no wait ends it, so retrying the
        # same deployment only delays the error; another deployment may serve the call.
        error.should_retry = False
        error.hint = "the account's quota or credit is used up: check its plan and billing"
        if isinstance(error, RateLimitError):
            error.quota_used_up = True
    # OpenAI and Anthropic say whether a failure is worth retrying, overriding
    # the status (their SDKs obey); other values than true/false are ignored.
    should_retry = header(headers, "x-should-retry")
    if should_retry == "true":
        error.should_retry = True
    elif should_retry == "false":
        error.should_retry = False
    return error


def error_in_answer(
    data: Any,
    headers: Mapping[str, str],
    body: bytes,
    *,
    answer: tuple[str, ...],
    provider: str,
    model: str | None,
) -> RelayError | None:
    """The typed error a status-200 body reports in place of an answer, else ``None``.

    Some OpenAI-compatible servers and proxies (OpenRouter, once generation has
    begun) answer a failure with status 200 and an error object:
    ``{"error": {"message": ..., "code": 429}}``. It is the error it describes
    (:func:`error_status_of` reads which), as LiteLLM reads it, not an answer with
    no text. ``data`` is the decoded body; a body
    with any of the ``answer`` fields (``"choices"``) is an answer and is left
    alone (the Responses API's failed response has both). Call it on every
    status-200 JSON answer before decoding it.
    """
    if not isinstance(data, Mapping):
        return None
    err = data.get("error")
    if not err or any(data.get(field) is not None for field in answer):
        return None
    return error_from_http(error_status_of(err), headers, body, provider=provider, model=model)


def not_a_stream(headers: Mapping[str, str]) -> str | None:
    """The media type of a streamed call's status-200 answer when it is a whole
    document, not a stream: JSON (``application/json``, ``...+json``) or an HTML
    page (``text/html``); ``None`` for anything else.

    A stream's answer is checked with it before its body is read: a proxy's
    sign-in page, or an error object a server or gateway sent with status 200,
    would otherwise read as a stream with no events ("the stream ended before
    [DONE]"), which names neither. When it says one, read the body and raise
    :func:`error_in_place_of_stream`'s error. Other types (none, ``text/plain``)
    are read as the stream: some compatible servers label theirs loosely.
    """
    kind = header(headers, "content-type")
    if not kind:
        return None
    media = kind.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json") or media == "text/html":
        return media
    return None


def error_in_place_of_stream(
    media: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    expected: str,
    provider: str,
    model: str | None,
) -> RelayError:
    """The error for a streamed call answered with a whole document of type ``media``
    (:func:`not_a_stream`), ``body``, where ``expected`` (``"an event stream"``) belongs.

    An error object (``{"error": ...}``, in any vendor's words) is the typed error
    it describes (:func:`error_status_of` reads which). Anything else (an HTML
    page, JSON without an error, a body that is not the JSON it claims) is the
    retryable :class:`~relaykit.errors.ProviderUnavailableError`, as a malformed
    answer is: an HTML page summed up as :func:`not_the_api` sums one up, with the
    hint to check ``base_url``; anything else quoting the start of what came.
    """
    data: Any = None
    if media != "text/html":
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
    if isinstance(data, Mapping) and data.get("error"):
        return error_from_http(
            error_status_of(data["error"]), headers, body, provider=provider, model=model
        )
    page = None
    if media == "text/html":
        page = _not_the_api(headers, body, lead="the stream was answered with", wanted=expected)
    if page is not None:  # a web page: summed up, as an error page is, with its hint
        return ProviderUnavailableError(
            page[0],
            provider=provider,
            model=model,
            hint=page_hint(page[1]),
        )
    text = body.decode("utf-8", "replace").strip()
    shown = f": {cut_short(' '.join(text.split()), 100)!r}" if text else " with no body"
    return ProviderUnavailableError(
        f"the stream was answered with {media} instead of {expected}{shown}",
        provider=provider,
        model=model,
        hint="a proxy or gateway between relaykit and the provider answered, or the"
        " service is in trouble, so a retry or a fallback may get the stream; if it lasts,"
        " check base_url and any proxy settings (HTTPS_PROXY)",
    )


async def refuse_document_stream(
    response: HttpStreamResponse, *, expected: str, provider: str, model: str | None
) -> None:
    """Raise :func:`error_in_place_of_stream`'s error when a streamed call's answer
    (its status already checked) is a whole document (:func:`not_a_stream`), its body
    read first; return at once for a stream. ``expected`` as there."""
    media = not_a_stream(response.headers)
    if media is not None:
        await response.aread()
        raise error_in_place_of_stream(
            media,
            response.headers,
            response.content,
            expected=expected,
            provider=provider,
            model=model,
        )


#: the HTTP status an error object's ``code`` or ``type`` (OpenAI's and Anthropic's
#: words) or ``status`` (Google's) stands for, when its code is no status
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "INVALID_ARGUMENT": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "UNAUTHENTICATED": 401,
    "permission_error": 403,
    "PERMISSION_DENIED": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "NOT_FOUND": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "tokens": 429,  # a rate limit's type: tokens or requests a minute
    "requests": 429,
    "RESOURCE_EXHAUSTED": 429,
    "server_error": 500,
    "api_error": 500,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "timeout_error": 504,
    "DEADLINE_EXCEEDED": 504,
    "overloaded_error": 529,
}


def error_status_of(error: Any) -> int:
    """The HTTP status an ``error`` object inside a status-200 body or a stream stands
    for: its ``code`` when that is one (OpenRouter and Google report a failure
    this way), else what its ``code``, ``type`` or ``status`` says (OpenAI's
    ``server_error``, a rate limit's ``rate_limit_exceeded``, Anthropic's
    ``overloaded_error``, Google's ``RESOURCE_EXHAUSTED``); without any, the
    upstream's failure: a bad gateway (502).
    """
    if not isinstance(error, Mapping):
        return 502
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code if 400 <= code <= 599 else 502
    for said in (code, error.get("type"), error.get("status")):
        if isinstance(said, str) and said in _ERROR_STATUS:
            return _ERROR_STATUS[said]
    return 502


#: the most of an error body without a message field that is quoted
_QUOTED = 500
#: the most of a web page's title, and of its text, that an error quotes
_TITLE = 120
_EXCERPT = 200
_HEAD = re.compile(r"<(script|style|head|noscript)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
_TITLE_TAG = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
#: a URL's query string (a token some proxies echo back in their error page)
_QUERY = re.compile(r"(\w+://[^\s?#\"'<>]*)\?[^\s#\"'<>]*")


def not_the_api(headers: Mapping[str, str], body: bytes) -> str | None:
    """The error message for an error answer that is no API's: an HTML page (a wrong
    ``base_url``, a proxy's error page) or another document that is neither JSON nor
    plain text; ``None`` for JSON, plain text and no body, read as vendors write them.

    The message names the status, the content type, the page's ``<title>`` and a
    bounded excerpt of its text, query strings cut from any URL in it, not the
    whole page on one line. :func:`error_from_http` uses it, with a hint to check
    ``base_url``; so do a streamed call answered with a page
    (:func:`error_in_place_of_stream`) and a status-200 page a decoder failed to
    read as JSON (the core's "malformed response").
    """
    page = _not_the_api(headers, body)
    return None if page is None else page[0]


def page_hint(what: str) -> str:
    """The hint for an answer that is ``what`` (``"a web page"``, :func:`not_the_api`'s
    kind), not the provider's API: check ``base_url``."""
    return (
        f"check the provider's base_url: the server there answered with {what},"
        " not the provider's API (a base URL missing its path, such as /v1; another"
        " service at that address; a proxy's sign-in or error page); if base_url is"
        " right, a proxy or gateway in between is failing"
    )


def web_page_in_answer(body: bytes) -> tuple[str, str] | None:
    """:func:`not_the_api`'s message for a status-200 ``body`` that should have been
    JSON, when it is an HTML page (``<!DOCTYPE html``, ``<html``), found by its start
    (the content type is not known where a decoder's error is read); and the
    :func:`page_hint` for it. ``None`` for any other body."""
    page = _not_the_api(None, body)
    return None if page is None else (page[0], page_hint(page[1]))


def _not_the_api(
    headers: Mapping[str, str] | None,
    body: bytes,
    *,
    lead: str = "the server answered with",
    wanted: str = "the API's JSON",
) -> tuple[str, str] | None:
    """:func:`not_the_api`'s message (``lead`` what came, then ``wanted`` what did
    not), and what came (``"a web page"``); with no ``headers``, an HTML page found
    by its start, its type not named."""
    if not body:
        return None
    kind = "" if headers is None else header(headers, "content-type") or ""
    media = kind.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    start = body[:512].lstrip().lower()
    html = (
        media in ("text/html", "application/xhtml+xml")
        or start.startswith((b"<!doctype html", b"<html"))
        or (not media and b"<html" in start)
    )
    if not html and (not media or (media.startswith("text/") and not media.endswith("xml"))):
        return None  # plain text: an error message as it is (Ollama, vLLM, a 404 router)
    try:
        json.loads(body)
        return None  # JSON labelled otherwise: read as JSON
    except ValueError:
        pass
    text = body.decode(_charset(kind), "replace")
    title = _TITLE_TAG.search(text) if html else None
    named = _plain(title.group(1)) if title else ""
    words = _plain(_HEAD.sub(" ", text)) if html or media.endswith("xml") else ""
    if words.startswith(named):
        words = words[len(named) :].lstrip(" -:|")
    what = "a web page" if html else "a document"
    typed = "" if headers is None else f"{media or 'no content type'}, "
    message = f"{lead} {what} ({typed}{len(body)} bytes), not {wanted}"
    if named:
        message += f"; its title: {cut_short(named, _TITLE)!r}"
    if words:
        message += f"; it reads: {cut_short(words, _EXCERPT)!r}"
    return message, what


def _plain(markup: str) -> str:
    """The text of HTML ``markup``: tags dropped, entities read, whitespace collapsed,
    no URL's query string."""
    import html

    text = " ".join(html.unescape(_TAG.sub(" ", markup)).split())
    return _QUERY.sub(r"\1?…", text)


def _charset(content_type: str) -> str:
    import codecs

    found = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    if found:
        try:
            return codecs.lookup(found.group(1)).name
        except LookupError:
            pass
    return "utf-8"


def parse_error_body(body: bytes | str) -> tuple[str, str | None, float | None]:
    """``(message, code, retry_delay)`` from an error body in any common vendor shape."""
    return _parse(body)[:3]


def _parse(body: bytes | str) -> tuple[str, str | None, float | None, str | None]:
    """``(message, code, retry_delay, param)``; ``param`` names the request field at fault
    (OpenAI and its compatibles say so in ``error.param``)."""
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return cut_short(text.strip(), _QUOTED), None, None, None
    if data is None:  # no body, or JSON null: no message (not Python's "None")
        return "", None, None, None
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if not isinstance(data, Mapping):
        return cut_short(str(data), _QUOTED), None, None, None
    err = data.get("error", data)
    if isinstance(err, str):
        return err, None, None, None
    if not isinstance(err, Mapping):
        return cut_short(json.dumps(data), _QUOTED), None, None, None
    message = err.get("message") or data.get("message") or err.get("Message") or ""
    code = err.get("code") or err.get("type") or err.get("status") or data.get("__type")
    param = err.get("param")
    return (
        str(message),
        str(code) if code is not None else None,
        _retry_delay(err),
        param if isinstance(param, str) and param else None,
    )


def _quota_used_up(body: bytes) -> bool:
    """Whether an error body says the account's quota is used up (OpenAI's
    ``insufficient_quota``, as the error's ``type`` or ``code``)."""
    if b"insufficient_quota" not in body:
        return False
    try:
        data: Any = json.loads(body)
    except ValueError:
        return False
    err = data.get("error") if isinstance(data, Mapping) else None
    return isinstance(err, Mapping) and "insufficient_quota" in (err.get("type"), err.get("code"))


def filtered_categories(body: bytes | str) -> list[str]:
    """The content filter categories that fired, as Azure OpenAI reports them in an
    error body (``violence: medium``, ``jailbreak``); empty for any other body.

    Chat Completions puts them under ``error.innererror.content_filter_result``;
    image generation under ``error.inner_error.content_filter_results``.
    """
    if not body or b"filter" not in (body if isinstance(body, bytes) else body.encode()):
        return []
    try:
        data: Any = json.loads(body)
    except ValueError:
        return []
    err = data.get("error") if isinstance(data, Mapping) else None
    inner = None
    if isinstance(err, Mapping):
        inner = err.get("innererror") or err.get("inner_error")
    if not isinstance(inner, Mapping):
        return []
    results = inner.get("content_filter_result") or inner.get("content_filter_results")
    return judged_categories(results)


def judged_categories(results: Any) -> list[str]:
    """The categories of an Azure ``content_filter_results`` object that were filtered:
    ``name: severity`` for graded ones, the bare name for detections (jailbreak,
    protected material), with the ids of custom blocklists that matched."""
    fired: list[str] = []
    if not isinstance(results, Mapping):
        return fired
    for name, result in results.items():
        if not isinstance(result, Mapping) or result.get("filtered") is not True:
            continue
        severity = result.get("severity")
        lists = [
            str(d["id"])
            for d in result.get("details") or ()
            if isinstance(d, Mapping) and d.get("filtered") and d.get("id")
        ]
        if isinstance(severity, str) and severity:
            fired.append(f"{name}: {severity}")
        elif lists:
            fired.append(f"{name}: {', '.join(lists)}")
        else:
            fired.append(str(name))
    return fired


def _retry_delay(err: Mapping[str, Any]) -> float | None:
    # Google's RetryInfo: {"@type": ".../google.rpc.RetryInfo", "retryDelay": "7s"}
    for detail in err.get("details") or ():
        if isinstance(detail, Mapping) and "retryDelay" in detail:
            m = re.fullmatch(r"\s*(\S+)s\s*", str(detail["retryDelay"]))
            wait = seconds(m.group(1)) if m else None
            if wait is not None:  # "1.2.3s" or ".s" is no wait, not a ValueError
                return wait
    return None
