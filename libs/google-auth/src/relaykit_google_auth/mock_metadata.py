"""A Google Cloud machine's metadata server on loopback, as a mock answers it.

``GET /`` (the ping) and every ``GET /computeMetadata/v1/...`` need
``Metadata-Flavor: Google`` and carry it in their answer; without it the
server answers 403 (the words are the mock's). Served:
``instance/service-accounts/default/token`` -> ``{"access_token",
"expires_in", "token_type": "Bearer"}``, ``instance/service-accounts/default/email``
and ``project/project-id`` as plain text; a machine with no service account
answers 404 to the account's paths. ``flavor=False`` makes it a server that is
not Google's (no ``Metadata-Flavor`` in its answers, as AWS's instance metadata
service at the same address), ``hang=True`` one that never answers.

Point ``GCE_METADATA_HOST`` at :attr:`MetadataServerMock.host`.
"""

from __future__ import annotations

import itertools
import secrets
import socket

import anyio

from relaykit.testing.loopback import LoopbackServer, Request, Response

_ROOT = "/computeMetadata/v1/"
_FLAVOR = {"metadata-flavor": "Google"}


class MetadataServerMock:
    """The metadata server of a machine in ``project`` running as ``service_account``
    (``None``: no account attached); :meth:`valid` says whether a bearer token is one
    it handed out. Use as a context manager."""

    def __init__(
        self,
        *,
        project: str | None = "mock-project",
        service_account: str | None = "1234567890-compute@developer.gserviceaccount.com",
        token_lifetime: int = 3599,
        flavor: bool = True,
        hang: bool = False,
    ) -> None:
        self.project = project
        self.service_account = service_account
        self.token_lifetime = token_lifetime
        self.flavor = flavor
        self.hang = hang
        #: every request's path, in order
        self.paths: list[str] = []
        self._issued: set[str] = set()
        self._n = itertools.count(1)
        self.server = LoopbackServer(self.handle)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, for ``GCE_METADATA_HOST``."""
        return self.server.url.removeprefix("http://")

    def __enter__(self) -> MetadataServerMock:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def valid(self, token: str) -> bool:
        """Whether ``token`` is one this server handed out."""
        return token in self._issued

    def tokens_issued(self) -> int:
        """How many token requests it answered with a token."""
        return sum(1 for p in self.paths if p.endswith("/token"))

    async def handle(self, request: Request) -> Response:
        """Answer a request as the metadata server would."""
        self.paths.append(request.path)
        if self.hang:
            await anyio.sleep_forever()
        headers = dict(_FLAVOR) if self.flavor else {}
        if not self.flavor:
            return Response(404, headers, b"Not Found")
        if request.method != "GET":
            return Response(405, headers, b"Method Not Allowed")
        if request.headers.get("metadata-flavor") != "Google":
            return Response(403, headers, b"Missing Metadata-Flavor:Google header.")
        text = {"content-type": "application/text", **headers}
        if request.path == "/":
            return Response(200, text, b"computeMetadata/\n")
        path = request.path.removeprefix(_ROOT)
        if path == "project/project-id" and self.project:
            return Response(200, text, self.project.encode())
        if path.startswith("instance/service-accounts/default/"):
            if self.service_account is None:
                return Response(404, text, b"Not Found")
            if path.endswith("/email"):
                return Response(200, text, self.service_account.encode())
            if path.endswith("/token"):
                token = f"ya29.c.mockmeta{next(self._n):04d}-{secrets.token_urlsafe(24)}"
                self._issued.add(token)
                return Response.json(
                    {
                        "access_token": token,
                        "expires_in": self.token_lifetime,
                        "token_type": "Bearer",
                    },
                    headers=headers,
                )
        return Response(404, text, b"Not Found")


def no_server_host() -> str:
    """``127.0.0.1:PORT`` with nothing listening on the port (a connection is refused
    at once): ``GCE_METADATA_HOST`` for tests that must find no metadata server,
    without waiting and without asking a real one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


#: what Google Cloud's metadata lookup reads from the environment (a test clears them)
METADATA_ENV = (
    "GCE_METADATA_HOST",
    "GCE_METADATA_ROOT",
    "GCE_METADATA_IP",
    "GCE_METADATA_TIMEOUT",
    "NO_GCE_CHECK",
    "K_SERVICE",
    "CLOUD_RUN_JOB",
    "FUNCTION_TARGET",
    "GAE_SERVICE",
)

__all__ = ["METADATA_ENV", "MetadataServerMock", "no_server_host"]
