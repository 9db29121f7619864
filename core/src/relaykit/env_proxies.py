"""The HTTP proxies the environment names: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``.

``NO_PROXY`` names the hosts reached directly.

Both HTTP clients (httpx's and relaykit-aiohttp's) send through them, as curl,
``requests`` and the OpenAI SDK do, and decide which requests skip the proxy by
the same rules, here, rather than each by its library's own (httpx switches its
environment proxies off when given a transport, as relaykit gives it one;
aiohttp ignores ``ALL_PROXY``). ``[http] env_proxies = false`` ignores them.

The variables are read with :func:`urllib.request.getproxies` (the lower-case
name wins over the upper-case one, as curl has it; ``HTTP_PROXY`` is ignored in
a CGI script, whose ``Proxy:`` request header would set it). A URL's proxy is
its scheme's (``HTTP_PROXY`` for ``http://``, ``HTTPS_PROXY`` for ``https://``),
else ``ALL_PROXY``'s; a proxy given without a scheme is ``http://``. An
``https://`` URL goes through the proxy in a ``CONNECT`` tunnel: the proxy sees
the host, not the request.

``NO_PROXY`` is a comma-separated list of hosts reached directly (curl's rules):

- ``*`` alone: no proxy for any host;
- a name (``example.com``, or ``.example.com``, or ``*.example.com``): that host
  and every host under it (``api.example.com``), not ``badexample.com``;
  ``localhost`` is a name like any other;
- an IP address (``127.0.0.1``, ``::1``) or an IPv4/IPv6 network
  (``10.0.0.0/8``): hosts written as such an address (no DNS look-up is made);
- any entry but ``*`` may end in ``:PORT`` (``[::1]:8080`` for IPv6) to apply
  to that port only.

Matching ignores case. A proxy URL's ``user:password@`` is sent to the proxy as
``Proxy-Authorization: Basic``, never to the server; it shows as ``***`` in
reprs and errors, and the registry masks the password, and the header's base64
value, as known secrets. An ``https://`` proxy is spoken to over TLS, its
certificate verified with the clients' ``ssl_context`` (``[http] ca_file``) as a
server's is.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import attrs

from .errors import ConfigError

__all__ = ["EnvProxies", "Proxy", "environment_proxies"]

#: the proxy schemes both clients speak to (SOCKS would need another library)
_SCHEMES = ("http", "https")
_ON = (
    "set [http] env_proxies = false (or RELAYKIT_HTTP_ENV_PROXIES=false) to ignore the"
    " environment's proxies"
)


@attrs.frozen
class Proxy:
    """One proxy: its URL without credentials, and the header that carries them."""

    #: ``http://host:port``, no ``user:password@``
    url: str
    #: ``Basic ...`` for ``Proxy-Authorization``, when the URL had credentials
    authorization: str | None = attrs.field(default=None, repr=False)
    #: the URL as configured, credentials and all (httpx takes them from it)
    configured: str = attrs.field(default="", repr=False)

    def __repr__(self) -> str:
        auth = ", authorization='***'" if self.authorization else ""
        return f"Proxy(url={self.url!r}{auth})"


@attrs.frozen
class EnvProxies:
    """Proxies by URL scheme (``"all"`` for any), and ``NO_PROXY``'s entries."""

    by_scheme: Mapping[str, Proxy]
    no_proxy: tuple[str, ...] = ()

    def for_url(self, scheme: str, host: str, port: int | None) -> Proxy | None:
        """The proxy a request to ``scheme://host:port`` goes through; ``None``: directly."""
        proxy = self.by_scheme.get(scheme.lower()) or self.by_scheme.get("all")
        if proxy is None or bypassed(self.no_proxy, host, port or _default_port(scheme)):
            return None
        return proxy


def environment_proxies(proxies: Mapping[str, str] | None = None) -> EnvProxies | None:
    """The proxies ``proxies`` names (default: :func:`urllib.request.getproxies`, the
    environment); ``None`` when it names none.

    :raises ConfigError: a proxy URL that is not ``http://`` or ``https://``, or
        has no host; the message names the variable, with its password masked.
    """
    if proxies is None:
        from urllib.request import getproxies

        proxies = getproxies()
    by_scheme: dict[str, Proxy] = {}
    for scheme in ("http", "https", "all"):
        value = (proxies.get(scheme) or "").strip()
        if value:
            by_scheme[scheme] = _proxy(value, f"{scheme.upper()}_PROXY")
    if not by_scheme:
        return None
    no_proxy = tuple(
        entry.strip().lower()
        for entry in (proxies.get("no") or "").replace(" ", ",").split(",")
        if entry.strip()
    )
    return EnvProxies(by_scheme, no_proxy)


def bypassed(no_proxy: tuple[str, ...], host: str, port: int) -> bool:
    """Whether ``NO_PROXY``'s ``no_proxy`` entries send ``host:port`` directly."""
    if not no_proxy:
        return False
    host = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy:
        if entry == "*":
            return True
        name, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass  # a name: it matches no address
            continue
        name = name.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` as (host, port); a bare IPv6 address has no port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:]
        return host, int(port) if rest.startswith(":") and _digits(port) else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if _digits(port):
            return host, int(port)
    return entry, None


def _digits(text: str) -> bool:
    """Whether ``text`` is a port's ASCII digits (isdigit() is true of "٨" and "²")."""
    return text.isascii() and text.isdigit() and len(text) <= 5


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() in ("https", "wss") else 80


def _proxy(value: str, variable: str) -> Proxy:
    url = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port, parts = None, None, None
    shown = _masked(url)
    if parts is None or not host:
        raise ConfigError(f"{variable}: the proxy {shown!r} has no host", hint=_ON)
    if parts.scheme.lower() not in _SCHEMES:
        raise ConfigError(
            f"{variable}: the proxy {shown!r} is a {parts.scheme}:// proxy; relaykit sends"
            " through http:// (or https://) proxies only",
            hint=f"name an HTTP proxy, or {_ON}",
        )
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return Proxy(f"{parts.scheme.lower()}://{netloc}", authorization, url)


def _masked(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@``."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or "/" in userinfo:
        return url
    return f"{scheme}{sep}***@{hostpart}"
