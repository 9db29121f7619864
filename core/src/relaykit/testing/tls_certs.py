"""Certificates for HTTPS over loopback: a CA made at test time, and a server it signed.

Real providers all speak HTTPS; a test that wants the TLS handshake, a private
CA (``[http] ca_file``) or a certificate the client must refuse serves a
vendor mock with :func:`loopback_tls`'s context. The certificates come from
`trustme <https://pypi.org/project/trustme/>`_, a test-only dependency.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import ssl


@attrs.frozen
class LoopbackTLS:
    """A fresh CA's certificate, and a server context with a certificate it signed.

    The server certificate is valid for ``127.0.0.1``, ``::1`` and ``localhost``.
    Pass ``server_context`` as ``tls=`` to :class:`~relaykit.testing.LoopbackServer`
    or a vendor mock; trust ``ca_pem`` (written by :meth:`write_ca`) in the client.
    """

    server_context: ssl.SSLContext = attrs.field(repr=False)
    #: the CA's certificate, PEM-encoded (public: no key)
    ca_pem: bytes = attrs.field(repr=False)

    def write_ca(self, path: str | os.PathLike[str]) -> Path:
        """Write the CA's certificate to ``path`` (for ``[http] ca_file``); returns it."""
        out = Path(path)
        out.write_bytes(self.ca_pem)
        return out


def loopback_tls() -> LoopbackTLS:
    """A new CA and a server certificate for 127.0.0.1 it signed (a few milliseconds).

    :raises RuntimeError: trustme is not installed.
    """
    import ssl

    try:
        import trustme
    except ImportError:  # a test-only dependency: say how to get it
        raise RuntimeError(
            "relaykit.testing.loopback_tls() needs trustme: pip install 'relaykit[testing]'"
        ) from None
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(context)
    return LoopbackTLS(context, ca.cert_pem.bytes())
