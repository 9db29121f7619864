"""Which servers the HTTP clients trust: the default CAs, or those of ``[http] ca_file``.

A private gateway or a corporate proxy that inspects TLS presents a certificate
signed by its own CA, which no public bundle holds. ``[http] ca_file`` names a
PEM file of CA certificates to trust instead of the default ones, for both
HTTP clients (httpx's and relaykit-aiohttp's), as ``SSL_CERT_FILE``,
``curl --cacert`` and ``requests``' ``verify=path`` do.

Loading a bundle takes milliseconds of CPU with the GIL held, so each file's
context is made once per process and shared by every client and connection
(an ``SSLContext`` is safe to share); a file that changes on disk is read
again by the next client built.
"""

from __future__ import annotations

import os
import stat
import threading
from typing import TYPE_CHECKING

from .errors import ConfigError, UntrustedCertificateError

if TYPE_CHECKING:
    import ssl

#: the config key, as error messages name it
CA_FILE_KEY = "[http] ca_file"
_FIX = (
    "point [http] ca_file (or RELAYKIT_HTTP_CA_FILE) at a PEM file holding the certificate"
    " of the CA that signed the server's certificate, or remove it to trust the default CAs"
)

#: by absolute path: the file's (mtime, size) when read, and the context made from it
_contexts: dict[str, tuple[tuple[int, int], ssl.SSLContext]] = {}
_lock = threading.Lock()


def name_ca_file(error: BaseException, ca_file: str | None) -> None:
    """Give an untrusted-certificate ``error`` the fix that names ``ca_file``, if set.

    :class:`relaykit.UntrustedCertificateError`'s own hint says to set the key,
    which would send someone who has set it looking elsewhere: this one names
    the file, whose CAs did not sign the server's certificate. Any other error
    is left as it is.
    """
    if ca_file and isinstance(error, UntrustedCertificateError):
        error.hint = (
            f"{CA_FILE_KEY} is {ca_file!r}: if the server's CA is private, add its PEM"
            " certificate to that file; a wrong host name or an expired certificate is"
            " fixed on the server"
        )


def ca_file_context(path: str) -> ssl.SSLContext:
    """A certificate-verifying SSL context that trusts the CAs in the PEM file ``path``.

    Only those CAs: the default bundle is not loaded (append the CA to a copy of
    it to trust both). Shared per file and process; made again when the file's
    modification time or size changed. A relative ``path`` is taken from the
    working directory (a config file's was made relative to its directory when
    loaded), ``~`` is expanded.

    :raises ConfigError: the file is missing, unreadable or holds no certificate;
        the message names the key, the path and the fix.
    """
    full = os.path.abspath(os.path.expanduser(path))
    try:
        info = os.stat(full)
    except FileNotFoundError:
        raise _error(path, "does not exist") from None
    except OSError as e:
        raise _error(path, f"cannot be read ({e.strerror or e})") from None
    if not stat.S_ISREG(info.st_mode):
        raise _error(path, "is not a file")
    stamp = (info.st_mtime_ns, info.st_size)
    with _lock:
        cached = _contexts.get(full)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    context = _load(path, full)
    with _lock:
        _contexts[full] = (stamp, context)
    return context


def _load(path: str, full: str) -> ssl.SSLContext:
    import ssl

    try:
        # With a cafile, create_default_context loads that and not the default store.
        return ssl.create_default_context(cafile=full)
    except ssl.SSLError:
        # OpenSSL's "no certificate or crl found", or a PEM block it cannot parse
        raise _error(
            path,
            "holds no readable PEM certificate (a '-----BEGIN CERTIFICATE-----' block)",
        ) from None
    except OSError as e:
        raise _error(path, f"cannot be read ({e.strerror or e})") from None


def _error(path: str, problem: str) -> ConfigError:
    return ConfigError(f"{CA_FILE_KEY}: {path} {problem}", hint=_FIX)
