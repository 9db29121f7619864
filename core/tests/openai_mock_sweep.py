"""The sweep both OpenAI mock request-shape tests make: Chat Completions'
(test_openai_mock_request_shapes.py) and the Responses API's
(test_openai_mock_responses_shapes.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from relaykit.testing import OpenAIMock, sweep_wrong_shapes


def assert_refused_in_openais_words(
    path: str, body: dict[str, Any], refused: Mapping[str, tuple[str, str | None, str | None]]
) -> None:
    """Send OpenAIMock's ``path`` each wrong shape of ``body`` (:func:`sweep_wrong_shapes`):
    each is answered (200) or refused (400, an ``invalid_request_error``), and each
    named in ``refused`` is refused with exactly that message, param and code."""
    with OpenAIMock() as mock, httpx.Client(timeout=10) as http:

        def send(sent: dict[str, Any]) -> httpx.Response:
            r = http.post(f"{mock.base_url}{path}", json=sent)
            if r.status_code == 400:
                assert r.json()["error"]["type"] == "invalid_request_error", r.text
            return r

        answered = sweep_wrong_shapes(mock, body, send)
    statuses = {name: r.status_code for name, r in answered.items()}
    assert set(statuses.values()) <= {200, 400}, statuses
    for name, (message, param, code) in refused.items():
        assert answered[name].status_code == 400, (name, answered[name].text)
        assert answered[name].json()["error"] == {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }, name
