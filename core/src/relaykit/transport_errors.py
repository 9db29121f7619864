"""Map transport failures to relaykit errors, once, for every provider.

Both families are understood: :mod:`relaykit.http_exceptions` (what a relaykit
HTTP client such as relaykit-aiohttp's raises) and httpx's own, since the
default client is an ``httpx.AsyncClient``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import http_exceptions as hx
from .errors import (
    AuthenticationError,
    ConfigError,
    InvalidRequestError,
    PartFieldError,
    ProviderUnavailableError,
    RelayError,
    RequestTimeoutError,
    UntrustedCertificateError,
)
from .secrets import cut_short, scrub

if TYPE_CHECKING:
    from .known_secrets import KnownSecrets
    from .routing import Target


def is_transport_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a transport failure of either HTTP client (not a status error),
    or a TLS failure that one let through unwrapped (see :func:`transport_error`)."""
    return _kind(exc) is not None


def transport_error(exc: BaseException, *, provider: str, model: str | None) -> RelayError | None:
    """The relaykit error for a transport failure, or ``None`` if ``exc`` is not one.

    Connect and pool timeouts become :class:`relaykit.RequestTimeoutError` with
    ``which="connect"``, and so does a write timeout (httpx's, or
    :class:`relaykit.http.WriteTimeout`: ``[timeouts] connect`` bounds writing a
    request: :class:`~relaykit.http.HttpOptions`); a read timeout
    ``which="idle"``: the only read timeout a relaykit HTTP client applies is a
    stream's idle timeout (:func:`~relaykit.http.claim_stream_read_timeout`); any
    other timeout ``which="total"``. A server certificate
    that failed verification :class:`relaykit.UntrustedCertificateError` (not
    retryable); refused, reset and broken connections, and a raw
    ``ssl.SSLError`` (httpcore's asyncio backend wraps TLS failures while
    connecting, but lets one mid-exchange, a corrupt record, through as is)
    :class:`relaykit.ProviderUnavailableError`.
    For providers that send requests outside the core's call path (the core
    maps everything raised from ``chat``, ``stream`` and ``list_models``).
    """
    kw: dict[str, Any] = {"provider": provider, "model": model}
    kind = _kind(exc)
    if kind is None:
        return None
    # Before masking, which may cut the chain where the certificate's verdict is.
    reason = _certificate_failure(exc) if kind == "connect" else None
    # The caller raises the result ``from exc``, and a traceback prints exc and its
    # causes: transport errors quote URLs, and a URL may carry ``?key=...``.
    mask_chain(exc)
    if kind == "connect-timeout":
        return RequestTimeoutError(
            f"connecting timed out ({type(exc).__name__})",
            which="connect",
            hint="check the base URL and network, or raise [timeouts] connect",
            **kw,
        )
    if kind == "write-timeout":
        return RequestTimeoutError(
            f"writing the request timed out ({type(exc).__name__})",
            which="connect",
            hint="the server stopped reading it; or raise [timeouts] connect, which bounds writes",
            **kw,
        )
    if kind == "read-timeout":
        return RequestTimeoutError(
            f"the idle timeout fired: no bytes came for it ({type(exc).__name__})",
            which="idle",
            hint="raise [timeouts] idle",
            **kw,
        )
    if kind == "timeout":
        return RequestTimeoutError(f"request timed out ({type(exc).__name__})", which="total", **kw)
    if reason is not None:
        return UntrustedCertificateError(
            f"the server's TLS certificate was not trusted: {reason}", **kw
        )
    if kind == "connect":
        return ProviderUnavailableError(
            f"could not connect: {_detail(exc)}", hint="check the provider's base_url", **kw
        )
    return ProviderUnavailableError(
        f"connection failed: {type(exc).__name__}: {_detail(exc)}", **kw
    )


def _detail(exc: BaseException) -> str:
    """``exc``'s text or, when it has none, the first its causes have: httpx's
    ``ReadError`` over a reset connection (or, under trio, a failed TLS record) says
    nothing itself ("connection failed: ReadError: "); the socket's error, under
    httpcore's and anyio's wordless ones, does.

    A context is read even where it is suppressed (httpcore raises its errors so),
    which :func:`mask_chain` does not walk: the text is masked here.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if text:
            return text if current is exc else scrub(f"{type(current).__name__}: {text}")
        current = current.__cause__ or current.__context__
    return "no reason given"


def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, hx.TransportError):
        if isinstance(exc, hx.ConnectTimeout | hx.PoolTimeout):
            return "connect-timeout"
        if isinstance(exc, hx.ReadTimeout):
            return "read-timeout"
        if isinstance(exc, hx.WriteTimeout):
            return "write-timeout"
        if isinstance(exc, hx.TransportTimeout):
            return "timeout"
        if isinstance(exc, hx.ConnectError):
            return "connect"
        return "other"
    httpx = sys.modules.get("httpx")
    # DecodingError: a body its Content-Encoding does not decode (a proxy that labels
    # a plain body gzip, a body cut mid-stream) is no httpx.TransportError, but is
    # the same failure as aiohttp's (a ProtocolError from relaykit-aiohttp)
    if httpx is None or not isinstance(exc, httpx.TransportError | httpx.DecodingError):
        # httpcore's anyio backend (asyncio) maps ssl.SSLError only while connecting
        # (to ConnectError); one while reading or writing (a record that fails its
        # MAC: a middlebox, a broken server) comes through raw. It is that connection
        # failing mid-exchange, as aiohttp's (a ClientOSError) and httpx's under trio
        # (a ReadError) are. No TLS connection was made without ssl imported.
        # (httpcore before 1.0.6, which httpx 0.28 allows, let a handshake's through
        # too: a failed verification, which only a handshake has, is "connect".)
        ssl = sys.modules.get("ssl")
        if ssl is not None and isinstance(exc, ssl.SSLError):
            return "connect" if isinstance(exc, ssl.SSLCertVerificationError) else "other"
        return None
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return "connect-timeout"
    if isinstance(exc, httpx.ReadTimeout):
        return "read-timeout"
    if isinstance(exc, httpx.WriteTimeout):
        return "write-timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    return "other"


def _certificate_failure(exc: BaseException) -> str | None:
    """Why the server's certificate failed verification, if that is what ``exc`` is.

    relaykit-aiohttp raises :class:`relaykit.http.CertificateError`; httpx a
    ``ConnectError`` chaining ``ssl.SSLCertVerificationError`` (under trio with
    an empty message, the verdict two causes down).
    """
    ssl = sys.modules.get("ssl")  # no TLS connection was made without it
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, hx.CertificateError):
            return str(current) or "certificate verify failed"
        if ssl is not None and isinstance(current, ssl.SSLCertVerificationError):
            # verify_message: "unable to get local issuer certificate", "Hostname mismatch, ..."
            return str(current.verify_message or current.reason or current)
        current = current.__cause__ or current.__context__
    return None


#: the attribute :func:`unsent` sets on an error
UNSENT = "relaykit_unsent"


def unsent(error: RelayError) -> RelayError:
    """``error``, raised by a provider plugin before its request left, marked so.

    For what the core cannot tell from the error's type: a failure to fetch an
    access token (a token endpoint's 500 or read timeout is not the vendor's), or
    any refusal of the plugin's own with a status or type that an answer could
    also have. :func:`never_sent` then holds: limits give the call's hold back,
    and a batch's submit says no batch can exist (and is retried if the error is
    retryable). Returns ``error``.
    """
    setattr(error, UNSENT, True)
    return error


def never_sent(exc: BaseException) -> bool:
    """Whether the request certainly did not reach the provider before ``exc``.

    True for a failure to connect (refused, DNS, TLS, connect or pool timeout), of
    either HTTP client, raised as is or as the cause of the relaykit error it was
    mapped to; for an error a plugin marked with :func:`unsent`; for a
    :class:`~relaykit.ConfigError` (settings are read before a request is built:
    no answer is one); and for an :class:`~relaykit.InvalidRequestError` or
    :class:`~relaykit.AuthenticationError` without an HTTP status: the plugin
    refused to encode the request, or had no credentials to send it with (a
    server's refusal carries its status). Anything else may have been received,
    and counts as sent: a timeout, a connection lost, a malformed answer, and an
    error of the plugin's own after it read one cannot be told apart from a
    failure before sending unless the plugin marks it.
    """
    if isinstance(exc, RelayError):
        if getattr(exc, UNSENT, False) or isinstance(exc, ConfigError):
            return True
        if isinstance(exc, InvalidRequestError | AuthenticationError):
            return exc.status is None
    cause = exc.__cause__ if isinstance(exc, RelayError) else exc
    return cause is not None and _kind(cause) in ("connect", "connect-timeout")


def may_have_acted(exc: BaseException) -> bool:
    """Whether the provider may have done what a request asked although it failed with
    ``exc``: the answer, not the request, may be what was lost.

    False when the request certainly did not reach it (:func:`never_sent`) or when
    it answered that it did nothing: a status below 500, 501, 503 (unavailable) or
    529 (overloaded). True otherwise: a read timeout, a connection reset or closed
    before the answer, an answer that was not the vendor's format, a 500, 502 or
    504 (the server, or a gateway in front of it, failed after the request came
    in). Creating a batch is not idempotent: after such a failure a second create
    may run, and bill, every item twice.
    """
    if never_sent(exc):
        return False
    status = exc.status if isinstance(exc, RelayError) else None
    if status is None:
        return True
    return status >= 500 and status not in (501, 503, 529)


def is_read_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is a read timeout of either HTTP client (a stream's idle timeout)."""
    if isinstance(exc, hx.ReadTimeout):
        return True
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.ReadTimeout)


def map_transport_error(exc: BaseException, target: Target) -> RelayError | None:
    """The relaykit error for a transport failure or malformed response, else ``None``.

    An error object a plugin's decoder found in place of the answer
    (:class:`~relaykit.json_decode.ErrorInAnswer`) is the typed error it describes.
    A malformed response is a ``ValueError`` or ``KeyError`` a plugin's decoder
    raised, or a :class:`~relaykit.errors.PartFieldError` (a part it built from
    the answer): see :func:`malformed_response`. The caller raises the result
    ``from exc``, which :func:`transport_error` has masked.
    """
    mapped = transport_error(exc, provider=target.provider, model=target.model)
    if mapped is not None:
        return mapped
    if isinstance(exc, ValueError):
        # imported here: an error path, and modules `import relaykit` does not load
        from .http_errors import error_from_http, error_status_of
        from .json_decode import ErrorInAnswer

        if isinstance(exc, ErrorInAnswer):  # {"error": {...}} with status 200
            body = json.dumps(exc.document).encode()
            status = error_status_of(exc.document.get("error"))
            return error_from_http(status, {}, body, provider=target.provider, model=target.model)
    if isinstance(exc, ValueError | KeyError | PartFieldError):
        return malformed_response(exc, target)
    return None


def malformed_response(exc: BaseException, target: Target) -> ProviderUnavailableError:
    """The error for an answer a provider plugin could not decode, ``exc`` what its
    decoder raised: retryable (such garbage is usually transient), and counted as
    sent (:func:`never_sent` is false for it), since an answer came.

    Not JSON, or JSON without the fields the vendor documents (a proxy's error
    page, a truncated body, a protocol change); or a value of the wrong type
    where a part of the answer needs a string (a tool call's null id), which
    the part refused with a :class:`~relaykit.errors.PartFieldError`. Its hint
    ("pass the call's id as ...") is for whoever builds the part, not for the
    caller, so only its message is quoted. A body that is an HTML page (a
    ``base_url`` at a website's root answers 200 with one) is summed up as
    :func:`relaykit.http_errors.not_the_api` sums one up, with its hint to check
    ``base_url``. The caller raises the result ``from exc``.
    """
    text = exc.message if isinstance(exc, RelayError) else str(exc)
    if isinstance(exc, json.JSONDecodeError) and isinstance(exc.doc, str):
        # a web page (a base_url at a website's root): summed up, with the hint to
        # check base_url, not its first characters (a <script>'s, as often as not)
        from .http_errors import web_page_in_answer

        page = web_page_in_answer(exc.doc.encode("utf-8", "replace"))
        if page is not None:
            return ProviderUnavailableError(
                f"malformed response from the provider: {page[0]}",
                provider=target.provider,
                model=target.model,
                hint=page[1],
            )
    if isinstance(exc, json.JSONDecodeError):
        # "Expecting value: line 1 column 1 (char 0)" says neither that nothing came
        # (an empty 200) nor what did (a proxy's sign-in page): say which.
        doc = exc.doc.strip() if isinstance(exc.doc, str) else ""
        text += f"; the body is not JSON: {cut_short(doc, 80)!r}" if doc else "; the body is empty"
    return ProviderUnavailableError(
        f"malformed response from the provider ({type(exc).__name__}: {cut_short(text, 200)})",
        provider=target.provider,
        model=target.model,
    )


def mask_chain(exc: BaseException, mask: Callable[[str], str] = scrub) -> None:
    """Mask credentials in the text of ``exc`` and of every exception it chains, in place.

    ``mask`` does the masking: :func:`~relaykit.secrets.scrub` by default, or a
    client's :class:`~relaykit.known_secrets.KnownSecrets` for keys of any shape.
    A :class:`RelayError`'s message and provider message are masked in place. Any
    other exception whose ``str`` is not its first argument (aiohttp's build theirs
    from attributes) is cut from the chain instead, when it would show a credential.
    """
    seen: set[int] = set()
    previous: BaseException | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RelayError):
            _mask_relay_error(current, mask)
        else:
            text = str(current)
            masked = mask(text)
            if masked != text:
                current.args = (masked,)
                if str(current) != masked and previous is not None:
                    previous.__cause__ = previous.__context__ = None
                    previous.__suppress_context__ = True
                    return
        previous = current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )


def _mask_relay_error(error: RelayError, mask: Callable[[str], str]) -> None:
    # Its str is built from these attributes (see RelayError.__str__), not from args.
    message = mask(error.message)
    if message != error.message:
        error.message = message
        error.args = (message, *error.args[1:])
    if error.provider_message:
        error.provider_message = mask(error.provider_message)


async def next_item(items: AsyncIterator[Any], target: Target, end: Any) -> Any:
    """A provider stream's next item (``end`` at its end), a transport failure raised
    as :func:`map_transport_error`'s error: what a chat stream and a streamed speech or
    transcription both read with, inside whatever timeout scope the caller holds."""
    try:
        return await items.__anext__()
    except StopAsyncIteration:
        return end
    except PartFieldError as e:  # a part built from the answer: not the caller's error
        raise malformed_response(e, target) from e
    except RelayError:
        raise
    except Exception as e:
        mapped = map_transport_error(e, target)
        if mapped is None:
            raise
        raise mapped from e


def timeout_fired(which: str, target: Target) -> RequestTimeoutError:
    """The error for the ``which`` timeout (first_token, idle or total) having fired.

    The total timeout's is not retryable, as a chat's is not: the call's time is
    up, so neither a retry nor another deployment could help. Retryable, a stream's
    fell back to the route's next deployment, whose attempt (nothing sent, the
    deadline past) failed with it too, opening that deployment's circuit."""
    return RequestTimeoutError(
        f"the {which} timeout fired",
        which=which,
        provider=target.provider,
        model=target.model,
        retryable=which != "total",
        hint=f"raise [timeouts] {which}",
    )


@contextmanager
def typed_and_masked(target: Target, known: KnownSecrets) -> Iterator[None]:
    """Inside: a transport failure is raised as :func:`map_transport_error`'s error,
    and every relaykit error leaves with ``known``'s secrets masked in it and in
    what it chains.

    What a provider call outside the attempt pipeline (a token count, a batch's
    submit, status or results) is wrapped in, so that its errors are the ones a
    chat's would be. A :class:`~relaykit.errors.PartFieldError` from inside is a
    part built from the answer: raised as :func:`malformed_response`'s error.
    """
    try:
        yield
    except PartFieldError as e:
        raise _masked(malformed_response(e, target), e, known)  # noqa: B904
    except RelayError as error:
        known.mask_error(error)
        raise
    except Exception as e:
        mapped = map_transport_error(e, target)
        if mapped is None:
            raise
        raise _masked(mapped, e, known)  # noqa: B904


def _masked(mapped: RelayError, cause: Exception, known: KnownSecrets) -> RelayError:
    """``mapped``, caused by ``cause``, with ``known``'s secrets masked in both.

    The cause is masked too (the key may be in either); masking may cut it from
    the chain, so the caller does not link it again with ``from``.
    """
    mapped.__cause__ = cause
    known.mask_error(mapped)
    return mapped
