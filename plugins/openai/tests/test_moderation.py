"""What relaykit-openai's moderation puts on the wire and reads back: OpenAI's
``POST /v1/moderations``, and the mistral preset's, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    InvalidRequestError,
    ModerationRequest,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
)
from relaykit.testing import OpenAIMock, mock_flagged, mock_moderation
from relaykit.testing.loopback import LoopbackServer, Request, Response
from relaykit.testing.moderation_scores import MISTRAL_CATEGORIES
from relaykit_openai import PRESETS
from relaykit_openai.moderation import parse, request_body

KEY = "sk-test-0123456789abcdef0123"
SAFE = "What a lovely day for a walk"
THREAT = "I will kill you"
MODERATING = {"mistral"}


def config(base_url: str, *providers: str, **more: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {p: {"base_url": base_url, "api_key": KEY} for p in providers or ("openai",)},
        **more,
    }


def bodies(mock: OpenAIMock) -> list[dict[str, Any]]:
    return [r.json() for r in mock.requests if r.path == "/v1/moderations"]


@pytest.fixture
def canned() -> Iterator[tuple[LoopbackServer, list[Response]]]:
    """A server answering each request with the next canned response (a test's own
    bodies, which the mock would never send)."""
    answers: list[Response] = []

    async def handler(request: Request) -> Response:
        return answers.pop(0)

    with LoopbackServer(handler) as server:
        yield server, answers


# -- OpenAI ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_openai_gets_the_texts_as_a_list_and_answers_one_result_each(
    mock: OpenAIMock,
) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.moderate("openai/omni-moderation-latest", [SAFE, THREAT])
    assert bodies(mock) == [{"model": "omni-moderation-latest", "input": [SAFE, THREAT]}]
    assert mock.last_request.headers["authorization"] == f"Bearer {KEY}"
    safe, threat = r.results
    assert not safe.flagged and threat.flagged
    assert dict(threat.categories) == mock_flagged(THREAT)
    assert dict(threat.scores) == mock_moderation(THREAT)
    assert threat.flagged_categories == ("harassment", "harassment/threatening", "violence")
    assert set(threat.applied_input_types.values()) == {("text",)}
    assert (r.provider, r.model) == ("openai", "omni-moderation-latest")
    assert r.id is not None and r.id.startswith("modr-")
    # Free (OpenAI's moderation guide): USD 0, a known price, not None.
    assert r.cost == Decimal(0)
    assert r.tokens_estimated and r.usage.input_tokens == 7 + 4


@pytest.mark.anyio
async def test_one_text_is_still_sent_as_a_list(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.moderate("openai/omni-moderation-latest", THREAT, extra={"x": 1})
    assert bodies(mock) == [{"model": "omni-moderation-latest", "input": [THREAT], "x": 1}]
    assert len(r.results) == 1 and r.flagged


@pytest.mark.anyio
async def test_the_legacy_text_model_lacks_categories_and_input_kinds(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.moderate("openai/text-moderation-latest", ["you idiot"])
    (result,) = r.results
    assert result.flagged_categories == ("harassment",)
    assert "illicit" not in result.categories and "illicit" not in result.scores  # null
    assert len(result.categories) == 11 and result.applied_input_types == {}
    assert r.cost == Decimal(0)


@pytest.mark.anyio
async def test_omni_and_text_moderation_snapshots_are_free() -> None:
    async with relaykit.Client(config("http://127.0.0.1:9/v1")) as client:
        provider = client.provider("openai")
        snapshots = ("omni-moderation-latest", "omni-moderation-2024-09-26", "text-moderation-007")
        for model in snapshots:
            price = provider.price(model)
            assert price is not None and price.cost(relaykit.Usage(10**6)) == 0


@pytest.mark.anyio
async def test_errors_are_typed_without_the_key(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match="not a moderation model") as bad:
            await client.moderate("openai/gpt-4o-mini", THREAT)
        assert (bad.value.status, bad.value.provider) == (400, "openai")
        mock.script.fail(429, "Rate limit reached", retry_after=0)
        with pytest.raises(RateLimitError):
            await client.moderate("openai/omni-moderation-latest", THREAT)
    wrong = config(mock.base_url)
    wrong["providers"]["openai"]["api_key"] = "sk-wrong-0123456789abcdef"
    async with relaykit.Client(wrong) as client:
        with pytest.raises(AuthenticationError) as denied:
            await client.moderate("openai/omni-moderation-latest", THREAT)
    assert "sk-wrong-0123456789abcdef" not in str(denied.value)


@pytest.mark.anyio
async def test_a_server_error_is_retried(mock: OpenAIMock) -> None:
    mock.script.fail(503, "overloaded")
    settings = config(mock.base_url, retry={"attempts": 2, "initial_wait": 0})
    async with relaykit.Client(settings) as client:
        r = await client.moderate("openai/omni-moderation-latest", THREAT)
    assert (r.attempts, r.flagged, len(bodies(mock))) == (2, True, 2)


# -- Mistral -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_mistral_answers_without_a_verdict_of_its_own(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url, "mistral")) as client:
        r = await client.moderate("mistral/mistral-moderation-latest", [SAFE, "I hate you"])
    assert bodies(mock) == [{"model": "mistral-moderation-latest", "input": [SAFE, "I hate you"]}]
    safe, hate = r.results
    assert not safe.flagged
    # flagged is relaykit's: a text any category flags
    assert hate.flagged and hate.flagged_categories == ("hate_and_discrimination",)
    assert tuple(hate.categories) == MISTRAL_CATEGORIES  # Mistral's own names and order
    assert hate.applied_input_types == {}
    assert (r.provider, r.model) == ("mistral", "mistral-moderation-latest")
    assert r.id is not None and r.id.startswith("mod-")
    # The preset knows no prices (as for its chat models): unknown, unless configured.
    assert r.cost is None and r.tokens_estimated


@pytest.mark.anyio
async def test_a_configured_mistral_price_prices_the_estimated_tokens(mock: OpenAIMock) -> None:
    # Mistral's moderation is billed per token (USD 0.10 a million, as third parties
    # quote its price list); its answer counts none, so the estimate is priced.
    prices = {"prices": {"mistral/mistral-moderation-latest": {"input": "0.10", "output": "0"}}}
    async with relaykit.Client(config(mock.base_url, "mistral", **prices)) as client:
        r = await client.moderate("mistral/mistral-moderation-latest", ["x" * 400])
    assert r.cost == Decimal("0.10") * 100 / 1_000_000


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_only_the_services_with_a_moderation_api_have_moderate(name: str) -> None:
    assert (PRESETS[name].moderate is not None) == (name in MODERATING)


@pytest.mark.anyio
async def test_a_preset_without_moderation_refuses_unsent(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url, "groq")) as client:
        with pytest.raises(InvalidRequestError, match="groq has no moderation API") as info:
            await client.moderate("groq/llama-guard-4-12b", THREAT)
    assert info.value.status is None and bodies(mock) == []


# -- reading answers ---------------------------------------------------------------


def request(*texts: str) -> ModerationRequest:
    return ModerationRequest(model="m", inputs=texts or (THREAT,))


def test_extra_comes_last() -> None:
    body = request_body(ModerationRequest(model="m", inputs=("a",), extra={"model": "n"}))
    assert body == {"model": "n", "input": ["a"]}


def test_a_usage_a_compatible_server_sends_is_read() -> None:
    data = {
        "model": "served",
        "results": [{"flagged": False, "categories": {"a": False}, "category_scores": {"a": 0.1}}],
        "usage": {"prompt_tokens": 9, "total_tokens": 9},
    }
    r = parse(data, request())
    assert (r.usage.input_tokens, r.model, r.id) == (9, "served", None)


@pytest.mark.anyio
async def test_an_unreadable_answer_is_a_retryable_provider_error(
    canned: tuple[LoopbackServer, list[Response]],
) -> None:
    server, answers = canned
    answers += [
        Response(200, {"content-type": "text/html"}, b"<html>not the API</html>"),
        Response.json({"results": [{"flagged": True, "categories": {"a": "yes"}}]}),
        Response.json({"results": [{"categories": {"a": True}, "category_scores": {"a": "hi"}}]}),
        Response.json(["not", "an", "object"]),
        Response.json({"choices": []}),
    ]
    async with relaykit.Client(config(server.url + "/v1")) as client:
        for _ in range(5):
            # a proxy's page or a service in trouble: a retry or a fallback may help
            with pytest.raises(ProviderUnavailableError, match="could not be read") as caught:
                await client.moderate("openai/omni-moderation-latest", THREAT)
            assert caught.value.retryable
            assert KEY not in str(caught.value)


@pytest.mark.anyio
async def test_a_result_short_of_the_inputs_is_refused(
    canned: tuple[LoopbackServer, list[Response]],
) -> None:
    server, answers = canned
    one = {"flagged": False, "categories": {"a": False}, "category_scores": {"a": 0.1}}
    answers.append(Response.json({"id": "modr-1", "model": "m", "results": [one]}))
    async with relaykit.Client(config(server.url + "/v1")) as client:
        with pytest.raises(RelayError, match="answered 1 moderation results for 2 inputs"):
            await client.moderate("openai/omni-moderation-latest", [SAFE, THREAT])
