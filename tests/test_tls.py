"""HTTPS end to end: a loopback OpenAI server behind a CA made at test time.

Both HTTP clients, both backends: with relaykit-aiohttp installed an asyncio run
goes through its client and a trio run through httpx's; ``transport = "httpx"``
runs httpx's under both. Trusting the CA through ``[http] ca_file``, a chat and
a stream work; without it the call fails at once, typed, with the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.testing import LoopbackTLS, OpenAIMock, loopback_tls
from relaykit_aiohttp import AiohttpClient

KEY = "sk-tls-0123456789abcdef"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def certs() -> LoopbackTLS:
    return loopback_tls()


@pytest.fixture
def mock(certs: LoopbackTLS) -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY, tls=certs.server_context) as m:
        yield m


@pytest.fixture(params=["auto", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client(mock: OpenAIMock, transport: str, **http: Any) -> relaykit.Client:
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 3, "initial_wait": 0},
            "http": {"transport": transport, **http},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        }
    )


async def chat_or_stream(c: relaykit.Client, streamed: bool) -> None:
    """One call, a chat or a stream read to its end."""
    if streamed:
        async with c.stream(MODEL, "hi") as s:
            async for _ in s:
                pass
    else:
        await c.chat(MODEL, "hi")


def expected_client(transport: str, backend: str) -> type:
    return AiohttpClient if (transport, backend) == ("auto", "asyncio") else httpx.AsyncClient


@pytest.mark.anyio
async def test_chat_and_stream_over_tls_trusting_the_ca_file(
    mock: OpenAIMock, certs: LoopbackTLS, transport: str, anyio_backend: str, tmp_path: Path
) -> None:
    assert mock.base_url.startswith("https://127.0.0.1:")
    ca_file = certs.write_ca(tmp_path / "ca.pem")
    async with client(mock, transport, ca_file=str(ca_file)) as c:
        r = await c.chat(MODEL, "over TLS")
        async with c.stream(MODEL, "streamed over TLS") as s:
            text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
        http = c._registry._http["openai"]  # private: which client carried the calls
    assert r.text == "echo: over TLS"
    assert text == s.response.text == "echo: streamed over TLS"
    assert isinstance(http, expected_client(transport, anyio_backend))
    assert [q.path for q in mock.requests] == ["/v1/chat/completions"] * 2
    assert mock.server.stats.handshakes_failed == 0


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_an_untrusted_certificate_fails_typed_with_the_fix_and_unretried(
    mock: OpenAIMock, transport: str, streamed: bool
) -> None:
    async with client(mock, transport) as c:
        with pytest.raises(relaykit.UntrustedCertificateError) as caught:
            await chat_or_stream(c, streamed)
    error = caught.value
    text = str(error)
    assert "the server's TLS certificate was not trusted" in text
    assert "unable to get local issuer certificate" in text  # OpenSSL's verdict
    assert "set [http] ca_file = 'path/to/ca.pem'" in text  # the fix
    assert (error.provider, error.retryable) == ("openai", False)
    # One connection, then no retry (attempts = 3): another would meet the same certificate.
    # The server counts a connection as it accepts it, before the handshake it takes part in.
    assert mock.server.stats.connections_opened == 1
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_certificate_for_another_host_is_refused_even_from_a_trusted_ca(
    transport: str, tmp_path: Path
) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("gateway.example").configure_cert(server)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with OpenAIMock(api_key=KEY, tls=server) as m:
        async with client(m, transport, ca_file=str(tmp_path / "ca.pem")) as c:
            with pytest.raises(relaykit.UntrustedCertificateError, match="mismatch"):
                await c.chat(MODEL, "hi")
        assert m.requests == []


@pytest.mark.anyio
async def test_an_untrusted_certificate_does_not_fall_back(
    mock: OpenAIMock, transport: str
) -> None:
    # A certificate that does not verify is a configuration error or an attack:
    # answering from another target would hide it.
    with OpenAIMock(api_key=KEY) as backup:
        providers = {
            "gateway": {"type": "openai", "base_url": mock.base_url, "api_key": KEY},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": KEY},
        }
        config = {
            "storage": {"backend": "none"},
            "http": {"transport": transport},
            "providers": providers,
            "models": {"r": {"targets": ["gateway/gpt-4o-mini", "backup/gpt-4o-mini"]}},
        }
        async with relaykit.Client(config) as c:
            with pytest.raises(relaykit.UntrustedCertificateError) as caught:
                await c.chat("r", "hi")
        assert caught.value.provider == "gateway"
        assert backup.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("call", ["chat", "stream", "models"])
async def test_a_ca_file_without_the_servers_ca_is_named_in_the_fix(
    mock: OpenAIMock, transport: str, call: str, tmp_path: Path
) -> None:
    # "set [http] ca_file" would send someone who has set it looking elsewhere:
    # the hint names the file they set, which lacks the server's CA.
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    async with client(mock, transport, ca_file=str(other)) as c:
        with pytest.raises(relaykit.UntrustedCertificateError) as caught:
            if call == "models":
                await c.models("openai")
            else:
                await chat_or_stream(c, call == "stream")
    text = str(caught.value)
    assert "unable to get local issuer certificate" in text
    assert f"[http] ca_file is {str(other)!r}" in text
    assert "set [http] ca_file = 'path/to/ca.pem'" not in text
    assert mock.requests == []
