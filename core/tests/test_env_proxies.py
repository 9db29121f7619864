"""``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``: both HTTP clients send
through the proxy the environment names, as the OpenAI SDK (httpx's own client) does,
skip it for the hosts ``NO_PROXY`` lists, and ignore it all with
``[http] env_proxies = false``. Real sockets: a loopback forward proxy in front of a
loopback vendor mock. ``auto`` is relaykit-aiohttp's client under asyncio (httpx's
under trio), ``httpx`` the default client everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.testing import ForwardProxy, OpenAIMock, loopback_tls

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("transport", ["auto", "httpx"]),
]

KEY = "sk-test-0123456789abcdef0123"
PASSWORD = "ppw-Zq7Xw3Er5Ty"
_ALL_PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUEST_METHOD",  # CGI: urllib then ignores HTTP_PROXY
)


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test from an environment that names no proxy (either case)."""
    for name in _ALL_PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as p:
        yield p


def _config(base_url: str, transport: str, **http: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "http": {"transport": transport, **http},
        "providers": {"p": {"type": "openai", "base_url": base_url, "api_key": KEY}},
    }


async def _chat(config: dict[str, Any]) -> str:
    async with relaykit.Client(config) as client:
        return (await client.chat("p/gpt-4o-mini", "hi")).text


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_an_http_call_goes_through_the_environments_proxy(
    transport: str, variable: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv(variable, proxy.url)
        assert await _chat(_config(mock.base_url, transport))
        assert len(mock.requests) == 1
    seen = proxy.requests
    assert [(r.method, r.target) for r in seen] == [
        ("POST", f"{mock.base_url}/chat/completions")  # the absolute form, to the proxy
    ]


async def test_a_stream_goes_through_the_proxy(
    transport: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with (
            relaykit.Client(_config(mock.base_url, transport)) as client,
            client.stream("p/gpt-4o-mini", "hi") as stream,
        ):
            assert [e async for e in stream]
        assert len(mock.requests) == 1
    assert [r.target for r in proxy.requests] == [f"{mock.base_url}/chat/completions"]


async def test_an_https_call_tunnels_through_the_proxy_with_connect(
    transport: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tls = loopback_tls()
    ca = tls.write_ca(tmp_path / "ca.pem")
    with OpenAIMock(KEY, tls=tls.server_context) as mock:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for https:// URLs
        assert mock.base_url.startswith("https://")
        assert await _chat(_config(mock.base_url, transport, ca_file=str(ca)))
        assert len(mock.requests) == 1
    authority = mock.base_url.removeprefix("https://").split("/", 1)[0]
    assert [(r.method, r.target) for r in proxy.requests] == [("CONNECT", authority)]


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "example.com, 127.0.0.1", "*", "localhost,127.0.0.1"]
)
async def test_no_proxy_hosts_are_reached_directly(
    transport: str, no_proxy: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert await _chat(_config(mock.base_url, transport))
        assert len(mock.requests) == 1
    assert proxy.requests == []


@pytest.mark.parametrize("no_proxy", ["localhost", "LOCALHOST", ""])
async def test_no_proxy_localhost(
    transport: str, no_proxy: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("no_proxy", no_proxy)
        base_url = mock.base_url.replace("127.0.0.1", "localhost")
        assert await _chat(_config(base_url, transport))
        assert len(mock.requests) == 1
    assert len(proxy.requests) == (0 if no_proxy else 1)


@pytest.mark.parametrize("where", ["config", "env"])
async def test_env_proxies_false_ignores_the_environment(
    transport: str, where: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        if where == "config":
            config = _config(mock.base_url, transport, env_proxies=False)
        else:
            config = _config(mock.base_url, transport)
            monkeypatch.setenv("RELAYKIT_HTTP_ENV_PROXIES", "false")
        assert await _chat(config)
        assert len(mock.requests) == 1
    assert proxy.requests == []


async def test_the_proxys_credentials_are_sent_to_it_and_masked(
    transport: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``http://user:password@proxy`` sends ``Proxy-Authorization`` to the proxy alone;
    a proxy that cannot be reached fails the call without the password in its error."""
    import base64

    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", f"http://bob:{PASSWORD}@127.0.0.1:{proxy.port}")
        assert await _chat(_config(mock.base_url, transport))
        assert len(mock.requests) == 1
    (seen,) = proxy.requests
    token = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    assert seen.headers["proxy-authorization"] == f"Basic {token}"

    proxy.stop()  # nothing listens there now
    monkeypatch.setenv("HTTP_PROXY", f"http://bob:{PASSWORD}@127.0.0.1:{proxy.port}")
    with pytest.raises(relaykit.ProviderUnavailableError) as caught:
        await _chat(_config("http://127.0.0.1:9/v1", transport))
    error = f"{caught.value} {caught.value!r} {vars(caught.value)}"
    assert PASSWORD not in error
    assert token not in error


async def test_every_plain_http_request_is_seen_and_stripped_by_the_proxy(
    transport: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later calls of one client go through the proxy too: each is noted, and none
    carries the proxy's own credentials on to the server (as a real proxy's do not)."""
    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", f"http://bob:{PASSWORD}@127.0.0.1:{proxy.port}")
        async with relaykit.Client(_config(mock.base_url, transport)) as client:
            for _ in range(3):
                assert (await client.chat("p/gpt-4o-mini", "hi")).text
        assert len(mock.requests) == 3
        assert [r for r in mock.requests if "proxy-authorization" in r.headers] == []
    assert [r.target for r in proxy.requests] == [f"{mock.base_url}/chat/completions"] * 3
    assert all("proxy-authorization" in r.headers for r in proxy.requests)


async def test_the_proxys_credentials_go_in_its_connect(
    transport: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import base64

    tls = loopback_tls()
    ca = tls.write_ca(tmp_path / "ca.pem")
    with OpenAIMock(KEY, tls=tls.server_context) as mock:
        monkeypatch.setenv("HTTPS_PROXY", f"http://bob:{PASSWORD}@127.0.0.1:{proxy.port}")
        assert await _chat(_config(mock.base_url, transport, ca_file=str(ca)))
        (request,) = mock.requests
        assert "proxy-authorization" not in request.headers  # inside the tunnel: not sent
    (seen,) = proxy.requests
    token = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    assert (seen.method, seen.headers["proxy-authorization"]) == ("CONNECT", f"Basic {token}")


@pytest.mark.parametrize("target", ["http", "https"])
async def test_an_https_proxy_is_spoken_to_over_tls_trusting_the_ca_file(
    transport: str, target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``HTTPS_PROXY=https://user:password@proxy``: TLS to the proxy itself, its
    certificate verified with ``[http] ca_file`` as the servers' are; an ``https://``
    server's own TLS runs inside it. The credentials go to the proxy alone."""
    import base64

    tls = loopback_tls()  # one CA signs the proxy's and the server's certificates
    ca = tls.write_ca(tmp_path / "ca.pem")
    server_tls = tls.server_context if target == "https" else None
    with ForwardProxy(tls=tls.server_context) as proxy, OpenAIMock(KEY, tls=server_tls) as mock:
        assert proxy.url.startswith("https://")
        url = proxy.url.replace("https://", f"https://bob:{PASSWORD}@")
        monkeypatch.setenv(f"{target.upper()}_PROXY", url)
        config = _config(mock.base_url, transport, ca_file=str(ca))
        async with relaykit.Client(config) as client:
            assert (await client.chat("p/gpt-4o-mini", "hi")).text
            async with client.stream("p/gpt-4o-mini", "hi") as stream:
                assert [e async for e in stream]
        assert len(mock.requests) == 2
        # (the test proxy takes its own headers off a connection's first request only)
        assert "proxy-authorization" not in mock.requests[0].headers
    assert proxy.handshakes_failed == 0
    token = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    seen = proxy.requests
    assert seen and all(r.headers["proxy-authorization"] == f"Basic {token}" for r in seen)
    if target == "https":
        assert {r.method for r in seen} == {"CONNECT"}
    else:
        assert {r.target for r in seen} == {f"{mock.base_url}/chat/completions"}


async def test_an_https_proxys_untrusted_certificate_is_a_typed_error(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``ca_file`` naming its CA the proxy's certificate is refused: an
    UntrustedCertificateError, nothing sent past the handshake."""
    tls = loopback_tls()
    with ForwardProxy(tls=tls.server_context) as proxy, OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with pytest.raises(relaykit.UntrustedCertificateError):
            await _chat(_config(mock.base_url, transport))
        assert mock.requests == [] and proxy.requests == []


async def test_the_proxy_authorization_value_is_a_known_secret(
    transport: str, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base64 of ``user:password`` that ``Proxy-Authorization`` carries decodes to
    the password: a server (or proxy) quoting it back finds it masked in the error and
    in the client's log line, however the client was given its environment."""
    import base64

    from relaykit.testing.call_log_capture import capture_call_log

    token = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    with OpenAIMock(KEY) as mock:
        monkeypatch.setenv("HTTP_PROXY", f"http://bob:{PASSWORD}@127.0.0.1:{proxy.port}")
        mock.script.fail(400, f"bad header: {token} (that is {PASSWORD})")
        with capture_call_log() as log:
            async with relaykit.Client(_config(mock.base_url, transport), env={}) as client:
                with pytest.raises(relaykit.InvalidRequestError) as caught:
                    await client.chat("p/gpt-4o-mini", "hi")
    (seen,) = proxy.requests
    assert seen.headers["proxy-authorization"] == f"Basic {token}"
    error = f"{caught.value} {caught.value!r} {vars(caught.value)}"
    logged = log.getvalue()
    assert "bad header" in error and "bad header" in logged
    assert token not in error and PASSWORD not in error
    assert token not in logged and PASSWORD not in logged
