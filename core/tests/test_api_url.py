"""``relaykit.http.api_url``: an API's path under a base URL that may carry a query."""

from __future__ import annotations

import pytest

from relaykit.http import api_url


@pytest.mark.parametrize(
    ("base_url", "path", "url"),
    [
        ("https://h/v1", "chat/completions", "https://h/v1/chat/completions"),
        ("https://h/v1/", "/models", "https://h/v1/models"),
        ("https://h/v1", "batches?limit=5", "https://h/v1/batches?limit=5"),
        (
            "https://h/openai?api-version=2024-10-21",
            "chat/completions",
            "https://h/openai/chat/completions?api-version=2024-10-21",
        ),
        ("https://h/openai/?a=1&b=%2F", "models", "https://h/openai/models?a=1&b=%2F"),
        ("https://h/x?a=1", "batches?limit=5", "https://h/x/batches?a=1&limit=5"),
        ("https://h/x?", "m", "https://h/x/m"),
        ("https://h/x#frag", "m", "https://h/x/m"),
        ("https://h/x?a=1#frag", "m", "https://h/x/m?a=1"),
    ],
)
def test_api_url(base_url: str, path: str, url: str) -> None:
    assert api_url(base_url, path) == url
