"""env_proxies.py's rules: which proxy a URL takes, and which hosts ``NO_PROXY`` exempts."""

from __future__ import annotations

import pytest

import relaykit
from relaykit.env_proxies import environment_proxies

PASSWORD = "ppw-Zq7Xw3Er5Ty"


def test_no_proxy_named_is_none() -> None:
    assert environment_proxies({}) is None
    assert environment_proxies({"no": "localhost", "ftp": "http://p:1"}) is None


def test_the_schemes_proxy_else_all_proxy() -> None:
    proxies = environment_proxies({"https": "p-https:3128", "all": "http://p-all:8080"})
    assert proxies is not None
    https = proxies.for_url("https", "api.openai.com", None)
    assert https is not None and https.url == "http://p-https:3128"  # no scheme: http://
    http = proxies.for_url("http", "api.openai.com", None)
    assert http is not None and http.url == "http://p-all:8080"


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "direct"),
    [
        ("*", "api.openai.com", 443, True),
        ("example.com", "example.com", 443, True),
        ("example.com", "api.example.com", 443, True),
        (".example.com", "example.com", 443, True),
        ("*.example.com", "api.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        ("EXAMPLE.com", "Api.Example.COM", 443, True),
        ("localhost", "localhost", 80, True),
        ("localhost", "127.0.0.1", 80, False),  # no DNS look-up
        ("127.0.0.1", "127.0.0.1", 8080, True),
        ("127.0.0.1", "127.0.0.2", 8080, False),
        ("10.0.0.0/8", "10.1.2.3", 443, True),
        ("10.0.0.0/8", "11.1.2.3", 443, False),
        ("::1", "[::1]", 443, True),
        ("[::1]:8080", "::1", 443, False),
        ("[::1]:8080", "::1", 8080, True),
        ("example.com:8443", "example.com", 443, False),
        ("example.com:8443", "example.com", 8443, True),
        ("a.test, example.com ,b.test", "example.com", 443, True),
        ("", "example.com", 443, False),
    ],
)
def test_no_proxy(no_proxy: str, host: str, port: int, direct: bool) -> None:
    proxies = environment_proxies({"all": "http://proxy:3128", "no": no_proxy})
    assert proxies is not None
    assert (proxies.for_url("https", host, port) is None) is direct


def test_credentials_become_a_header_and_never_show() -> None:
    proxies = environment_proxies({"http": f"http://bob:{PASSWORD}@proxy:3128"})
    assert proxies is not None
    proxy = proxies.for_url("http", "example.com", None)
    assert proxy is not None
    assert proxy.url == "http://proxy:3128"
    assert proxy.authorization is not None and proxy.authorization.startswith("Basic ")
    assert PASSWORD not in repr(proxies) and proxy.authorization not in repr(proxies)


def test_a_socks_proxy_is_a_config_error_without_its_password() -> None:
    with pytest.raises(relaykit.ConfigError) as caught:
        environment_proxies({"all": f"socks5://bob:{PASSWORD}@proxy:1080"})
    text = f"{caught.value} {caught.value.hint}"
    assert "ALL_PROXY" in text and "socks5:// proxy" in text and "env_proxies = false" in text
    assert PASSWORD not in text and "socks5://***@proxy:1080" in text
