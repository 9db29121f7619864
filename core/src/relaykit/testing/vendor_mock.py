"""The shared shape of every vendor mock: a script, a request log, a loopback server."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from .loopback import LoopbackServer, Request, Response
from .script import Reply, Script, count_tokens

if TYPE_CHECKING:
    import ssl

    from ..request import Reasoning

__all__ = ["Rewrite", "VendorMock", "scripted_fault"]

#: what :attr:`VendorMock.rewrite` holds: given a request and the mock's answer to
#: it, the answer to send instead
Rewrite = Callable[[Request, Response], Awaitable[Response]]

#: what a batch endpoint's ``act`` answers (:meth:`VendorMock.batch_answer`)
_Answer = TypeVar("_Answer", bound=Response | None)


class VendorMock:
    """Base of the mocks that speak one vendor's wire format over loopback HTTP.

    Subclasses implement :meth:`route`. Use as a context manager: ``with
    OpenAIMock() as mock: mock.base_url``. With ``tls`` (a server-side context:
    :func:`relaykit.testing.loopback_tls`) it serves HTTPS. Each route that answers
    with :attr:`script`'s next reply (a chat, and embeddings, rerank, images,
    speech, transcripts, moderation alike) passes it through
    :func:`scripted_fault` first, so a test's delay, connection fault or error
    status holds on every one of them.
    """

    #: appended to the server URL to give the base URL clients are configured with
    base_path = ""
    #: paths served outside :attr:`path_prefix`: endpoints that are another host in
    #: reality (Google's OAuth2 token endpoint), which a gateway's path does not move
    unprefixed_paths: frozenset[str] = frozenset()

    def __init__(self, api_key: str | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        self.api_key = api_key
        self.script = Script()
        #: faults for the batch endpoints (create, describe, cancel, results); the
        #: items of a batch take their replies from ``script``, as single calls do
        self.batch_script = Script()
        #: whether batches stay in progress (a cancel then finds one running), in
        #: mocks that serve a batch API
        self.hold_batches = False
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        #: a test's rewrite of every answer before it is sent (``None``: sent as the
        #: mock made it): to serve bytes no :class:`Reply` describes, such as the
        #: vendor's answer with a field of the wrong type, in the vendor's framing
        self.rewrite: Rewrite | None = None
        self.server = LoopbackServer(self.handle, tls=tls)
        #: a path the mock is served under, as behind a gateway or reverse proxy
        #: (``"/gateway/acme"``): :attr:`base_url` has it, every request but
        #: :attr:`unprefixed_paths` must start with it (a 404 otherwise), and it is
        #: taken off before :meth:`route`; :attr:`requests` keep it as sent
        self.path_prefix = ""

    @property
    def base_url(self) -> str:
        """The base URL a client should be configured with."""
        return self.server.url + self.path_prefix + self.base_path

    def __enter__(self) -> Any:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        if self.failures and exc[0] is None:
            # The mock answered each with a 500, which a test of error paths may well
            # have taken for the vendor's: say so at the end rather than pass.
            shown = "; ".join(f"{type(e).__name__}: {e}" for e in self.failures[:5])
            raise AssertionError(
                f"the mock failed answering {len(self.failures)} request(s): {shown}"
                " (clear mock.failures where a test makes it fail on purpose)"
            )

    @property
    def failures(self) -> list[Exception]:
        """What routing a request or :attr:`rewrite` raised, in order (each answered
        with a 500 naming it; the mock kept serving). Leaving the mock's ``with``
        raises them, unless the test cleared this list."""
        return self.server.failures

    async def handle(self, request: Request) -> Response:
        """Log the request, route it, and pass the answer through :attr:`rewrite`."""
        with self._lock:
            self.requests.append(request)
        if self.path_prefix and request.path not in self.unprefixed_paths:
            if not request.path.startswith(self.path_prefix + "/"):
                return Response.json({"error": f"not under {self.path_prefix}"}, status=404)
            request = attrs.evolve(request, path=request.path.removeprefix(self.path_prefix))
        response = await self.route(request)
        if self.rewrite is not None:
            response = await self.rewrite(request, response)
        return response

    async def route(self, request: Request) -> Response:
        """Answer ``request``; subclasses override."""
        raise NotImplementedError

    async def batch_answer(
        self, act: Callable[[], Awaitable[_Answer]], error: Callable[[Reply], Response]
    ) -> Response | _Answer:
        """A batch endpoint's answer, as :attr:`batch_script`'s next reply scripts it: a
        fault instead (:func:`scripted_fault`; ``error`` gives the vendor's error), or
        what ``act()`` answers, lost after it acted when the reply has ``answer_lost``.
        An ``act`` that finds no such endpoint may answer ``None``, passed on as it is
        (nothing acted, so nothing is lost)."""
        reply = self.batch_script.next(Reply())
        failed = await scripted_fault(reply, error)
        if failed is not None:
            return failed
        answer = await act()
        if answer is not None and reply.answer_lost is not None:
            return Response(abort=reply.answer_lost)
        return answer

    @property
    def last_request(self) -> Request:
        """The most recent request."""
        return self.requests[-1]

    def sent_reasoning(self, request: Request) -> Reasoning | None:
        """The thinking setting ``request`` carried, read back from the vendor's wire
        format as the vendor understands it: ``Reasoning("none")`` for thinking off
        (also when nothing was sent to a vendor whose models do not think unless
        asked), ``None`` for the vendor's default. Mocks of APIs that take a
        setting override this; the provider contract checks ``reasoning=`` with it.
        """
        return None

    def default_reply(self, last_user_text: str) -> Reply:
        """What to answer when nothing is scripted: an echo."""
        return Reply(text=f"echo: {last_user_text}")

    @staticmethod
    def usage_of(reply: Reply, prompt_text: str) -> tuple[int, int]:
        """Input and output token counts for ``reply``, scripted or estimated."""
        inp = (
            reply.input_tokens
            if reply.input_tokens is not None
            else max(1, count_tokens(prompt_text))
        )
        out = reply.output_tokens
        if out is None:
            out = (
                count_tokens(reply.text) + count_tokens(reply.reasoning) + 3 * len(reply.tool_calls)
            )
        return inp, out


async def scripted_fault(reply: Reply, error: Callable[[Reply], Response]) -> Response | None:
    """What a vendor mock sends instead of its answer, as ``reply`` scripts it, once
    ``reply.delay`` has passed: an abort before any response for a
    ``connection_fault``, and ``error(reply)`` (the vendor's error in its own shape)
    for a ``status`` of 400 or more; ``None`` when the mock is to answer.

    One check, in one order, for every route of every bundled mock that takes a
    reply: mocks and routes that each wrote their own forgot the connection fault
    and answered a scripted reset with a 200.
    """
    if reply.delay:
        await anyio.sleep(reply.delay)
    if reply.connection_fault:
        return Response(abort=reply.connection_fault)
    if reply.status >= 400:
        return error(reply)
    return None
