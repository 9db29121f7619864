"""A stream whose answer the vendor's content filter withheld whole (it ended
``content_filter`` before any content) goes on to the route's
``content_policy_fallbacks``, as a non-streamed refused answer does: nothing has
reached the caller, so another model can answer in its place. One that sent
content first is the caller's answer as it stands: a fallback would start the
answer over in the middle of it.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import relaykit
from relaykit.testing import RecordingExporter, Reply
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn

#: APIs with no finish reason for a content filter: their mocks say "stop" for one
NO_FILTER = {"cohere", "ollama"}


def lenient(model: str) -> str:
    """Another model of ``model``'s vendor: one the Gemini mock serves, else ``model``
    with ``-lenient`` (the other mocks answer any name)."""
    return "gemini/gemini-2.5-flash-lite" if model.startswith("gemini/") else f"{model}-lenient"


def route_config(providers: dict[str, Any], model: str) -> dict[str, Any]:
    """A route of ``model`` alone whose content policy fallback is another model of
    the same vendor (:func:`lenient`)."""
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": providers,
        "models": {"guarded": {"targets": [model], "content_policy_fallbacks": [lenient(model)]}},
    }


async def streamed(client: relaykit.Client) -> tuple[str, relaykit.ChatResponse]:
    """The text a stream of the ``guarded`` route handed over, and its response."""
    with anyio.fail_after(60):  # a safety net only
        async with client.stream("guarded", "a prompt the filter dislikes") as s:
            text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
    return text, s.response


@pytest.mark.anyio
async def test_a_stream_filtered_before_any_content_goes_on_to_the_fallbacks(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest
) -> None:
    mock, providers, model = vendor
    mock.script.push(
        Reply(text="", finish="content_filter", input_tokens=20),
        Reply(text="an answer"),
    )
    exporter = RecordingExporter()
    async with relaykit.Client(route_config(providers, model), plugins=[exporter]) as client:
        text, response = await streamed(client)
    if request.node.callspec.params["vendor"] in NO_FILTER:  # an empty answer, as sent
        assert (text, response.finish_reason, len(mock.requests)) == ("", "stop", 1)
        return
    assert text == "an answer" and response.finish_reason == "stop"
    assert response.attempts == 2
    assert len(mock.requests) == 2
    records = sorted(exporter.records, key=lambda r: r.id)
    answered = next(r for r in records if "-attempt-" not in r.id)
    assert answered.ok and answered.model == lenient(model).split("/", 1)[1]
    assert (answered.attempts, answered.fallbacks) == (2, 1)
    # The refused attempt, billed (the vendor counted its prompt, in the usage it
    # reports after the finish as often as before), has a record of its own saying
    # why the call fell back.
    [refused] = [r for r in records if "-attempt-" in r.id]
    assert refused.id == f"{answered.id}-attempt-1"
    assert refused.error_type == "ContentFilterError" and refused.status == 200
    assert "content_policy_fallbacks" in (refused.error_message or "")
    assert refused.usage.input_tokens == 20


@pytest.mark.anyio
async def test_a_stream_filtered_after_its_first_content_does_not_fall_back(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, model = vendor
    mock.script.push(Reply(text="Once upon", finish="content_filter"), Reply(text="unasked"))
    async with relaykit.Client(route_config(providers, model)) as client:
        text, response = await streamed(client)
    assert text == "Once upon"
    assert response.finish_reason in ("content_filter", "stop")  # Cohere's, Ollama's: "stop"
    assert len(mock.requests) == 1


@pytest.mark.anyio
async def test_the_last_fallbacks_refusal_is_the_answer(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest
) -> None:
    # Nothing is left to ask: the filtered stream reaches the caller as it is.
    mock, providers, model = vendor
    filtered = Reply(text="", finish="content_filter")
    mock.script.push(filtered, filtered, Reply(text="unasked"))
    async with relaykit.Client(route_config(providers, model)) as client:
        text, response = await streamed(client)
    assert text == ""
    if request.node.callspec.params["vendor"] in NO_FILTER:
        assert response.finish_reason == "stop" and len(mock.requests) == 1
    else:
        assert response.finish_reason == "content_filter"
        assert len(mock.requests) == 2
        assert response.attempts == 2
