"""Turn ``OLLAMA_HOST`` into a base URL the way the ``ollama`` CLI reads it.

``OLLAMA_HOST`` is often just ``host``, ``host:port`` or ``:port`` (the
server reads the same variable to know where to listen). Without a scheme the
CLI assumes ``http`` and port 11434; with one, the URL is taken as written.
"""

from __future__ import annotations

DEFAULT_PORT = 11434


def base_url_from_host(value: str) -> str:
    """The base URL for an ``OLLAMA_HOST``-style value (``"gpu-box:11434"`` -> ``"http://gpu-box:11434"``)."""
    value = value.strip().rstrip("/")
    if "://" in value:
        return value
    hostport, slash, path = value.partition("/")
    host, port = _split_port(hostport)
    return f"http://{host or '127.0.0.1'}:{port or DEFAULT_PORT}{slash}{path}"


def _split_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):  # [::1]:11434
        end = hostport.find("]")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else ""
    if hostport.count(":") > 1:  # a bare IPv6 address
        return f"[{hostport}]", ""
    host, _, port = hostport.partition(":")
    return host, port
