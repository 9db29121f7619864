"""A call record's ``route`` is the path the call took: each attempt's deployment, in
the order asked (retries, fallbacks, the route's context-window and content-policy
fallbacks), and ``route_errors`` what each failed with, over loopback with
OpenAI's mock. The planned order alone hid which deployments were asked, and why
the call moved on."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import relaykit
from relaykit.testing import OpenAIMock, RecordingExporter, Reply

from .conftest import MOCK_KEY


def config(mock: OpenAIMock, **route: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0, "max_wait": 0},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": MOCK_KEY}},
        "models": {"fast": route},
    }


@pytest.mark.anyio
async def test_the_record_names_each_attempt_and_what_it_failed_with() -> None:
    exporter = RecordingExporter()
    with OpenAIMock(api_key=MOCK_KEY) as mock:
        # a: down twice (retried once), b: answers; c is never asked
        mock.script.push(Reply.failure(503, "down"), Reply.failure(503, "down"), Reply(text="hi"))
        route = {"targets": ["openai/a", "openai/b", "openai/c"]}
        async with relaykit.Client(config(mock, **route), plugins=[exporter]) as client:
            with anyio.fail_after(30):  # a safety net only
                r = await client.chat("fast", "hello")
    assert (r.model, r.attempts) == ("b", 3)
    [record] = exporter.records
    assert record.route == ("openai/a", "openai/a", "openai/b")
    assert record.route_errors == (
        "ProviderUnavailableError 503",
        "ProviderUnavailableError 503",
        "",
    )
    assert record.fallbacks == 1


@pytest.mark.anyio
async def test_a_first_answer_records_its_deployment_alone_and_no_errors() -> None:
    exporter = RecordingExporter()
    with OpenAIMock(api_key=MOCK_KEY) as mock:
        route = {"targets": ["openai/a", "openai/b"]}
        async with relaykit.Client(config(mock, **route), plugins=[exporter]) as client:
            with anyio.fail_after(30):  # a safety net only
                await client.chat("fast", "hello")
    [record] = exporter.records
    assert (record.route, record.route_errors) == (("openai/a",), ())


@pytest.mark.anyio
async def test_a_failed_call_records_the_route_fallbacks_it_went_on_to() -> None:
    # Too long for the route: its context_window_fallbacks, which no plan named, are
    # in the record, each with its error.
    exporter = RecordingExporter()
    too_long = Reply.failure(400, "This model's maximum context length is 10 tokens.")
    with OpenAIMock(api_key=MOCK_KEY) as mock:
        mock.script.push(too_long, Reply.failure(401, "bad key"))
        route = {"targets": ["openai/small"], "context_window_fallbacks": ["openai/big"]}
        async with relaykit.Client(config(mock, **route), plugins=[exporter]) as client:
            with anyio.fail_after(30), pytest.raises(relaykit.AuthenticationError):
                await client.chat("fast", "a long prompt")
    [record] = exporter.records
    assert record.route == ("openai/small", "openai/big")
    assert record.route_errors == ("ContextLengthError 400", "AuthenticationError 401")
