"""Client.moderate: one verdict per text, in order, through the chat pipeline's routing,
limits, retries, cost, log line and call log."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import (
    InvalidRequestError,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    QuotaExceededError,
    RelayError,
)
from relaykit.moderation import moderation_result
from relaykit.testing import (
    FakePlugin,
    FakeProvider,
    RecordingExporter,
    call_log_lines,
    capture_call_log,
    mock_flagged,
    mock_moderation,
)

from .conftest import SETTINGS, Tickets, client

MODEL = "fake/omni-moderation-latest"
SAFE = "What a lovely day for a walk"
THREAT = "I will kill you"


# -- the answer ----------------------------------------------------------------


@pytest.mark.anyio
async def test_each_text_gets_its_verdict_in_order_under_the_vendors_categories() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.moderate(MODEL, [SAFE, THREAT])
    safe, threat = r.results
    assert not safe.flagged and safe.flagged_categories == ()
    assert threat.flagged
    assert threat.flagged_categories == ("harassment", "harassment/threatening", "violence")
    assert dict(threat.categories) == mock_flagged(THREAT)
    assert dict(threat.scores) == mock_moderation(THREAT)
    assert "self-harm/intent" in threat.categories  # the vendor's own spelling
    assert threat.applied_input_types["violence"] == ("text",)
    assert r.flagged and r.flagged_categories == threat.flagged_categories
    assert (r.provider, r.model, r.id) == ("fake", "omni-moderation-latest", "modr-fake")
    assert r.attempts == 1
    # Free, as OpenAI's: a known zero, not an unknown cost.
    assert r.cost == Decimal(0)
    # The vendor counts no tokens: the core estimates them for token limits.
    assert r.tokens_estimated and r.usage == relaykit.Usage(input_tokens=7 + 4)
    assert fake.moderations[0].inputs == (SAFE, THREAT)


@pytest.mark.anyio
async def test_one_text_is_one_result_and_nothing_flagged_is_not_flagged() -> None:
    async with client(FakePlugin()) as c:
        r = await c.moderate(MODEL, SAFE)
    (result,) = r.results
    assert not r.flagged and r.flagged_categories == () and not result.flagged
    assert repr(result) == "ModerationResult(flagged=False, flagged_categories={}, 13 categories)"


@pytest.mark.anyio
async def test_tokens_the_vendor_counts_are_kept() -> None:
    fake = FakePlugin()
    fake.script.reply(input_tokens=42)
    async with client(fake) as c:
        r = await c.moderate(MODEL, THREAT)
    assert (r.usage.input_tokens, r.tokens_estimated) == (42, False)


def test_a_result_is_read_from_a_vendors_maps() -> None:
    result = moderation_result(
        {"sexual": False, "violence_and_threats": True, "pii": None},
        {"sexual": 0.01, "violence_and_threats": 0.9, "pii": None},
    )
    # Mistral sends no verdict of its own: a text any category flags is flagged.
    assert result.flagged and result.flagged_categories == ("violence_and_threats",)
    assert "pii" not in result.categories and result.applied_input_types == {}
    assert not moderation_result({"a": True}, {"a": 0.9}, flagged=False).flagged
    with pytest.raises(TypeError):
        moderation_result({"a": "yes"}, {"a": 0.9})
    with pytest.raises(TypeError):
        moderation_result({"a": True}, {"a": "high"})


def test_flagged_categories_come_highest_score_first() -> None:
    result = ModerationResult(
        True,
        {"hate": True, "violence": True, "sexual": False},
        {"hate": 0.7, "violence": 0.9, "sexual": 0.95},
    )
    assert result.flagged_categories == ("violence", "hate")
    response = ModerationResponse(
        results=(result, ModerationResult(True, {"sexual": True}, {"sexual": 0.8}))
    )
    assert response.flagged_categories == ("violence", "hate", "sexual")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("inputs", "params", "message"),
    [
        ([], {}, "input is empty"),
        ("", {}, "input is empty: the providers refuse blank texts"),
        (["fine", "  "], {}, r"input\[1\] is empty"),
        (None, {}, "input must be a string or a list of strings"),
        (b"raw", {}, "input is bytes: moderation takes text"),
        ([relaykit.ImagePart(url="https://x/y.png")], {}, "images are not sent to moderation"),
        (["fine"], {"thresold": 0.5}, "unknown parameter 'thresold' for moderate"),
        (["fine"], {"timeout": -1}, "`timeout` must be a positive number"),
    ],
)
async def test_bad_input_is_a_typed_error_naming_it_unsent(
    inputs: Any, params: dict[str, Any], message: str
) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match=message) as info:
            await c.moderate(MODEL, inputs, **params)
    assert info.value.status is None  # refused before sending
    assert fake.moderations == []


@pytest.mark.anyio
async def test_texts_over_the_size_limit_are_refused_unsent() -> None:
    fake = FakePlugin()
    async with client(fake, validation={"max_chars": 10}) as c:
        with pytest.raises(InvalidRequestError, match="the inputs carry 15 characters"):
            await c.moderate(MODEL, [THREAT])
    assert fake.moderations == []


class _NoModeration(FakeProvider):
    moderate = None  # type: ignore[assignment]  # as a plugin without a moderation API


@pytest.mark.anyio
async def test_a_provider_without_moderation_is_refused_and_a_route_falls_back() -> None:
    fake = FakePlugin()
    routes = {"guard": {"targets": ["chatonly/m", "fake/omni-moderation-latest"]}}
    async with client(FakePlugin("chatonly", provider=_NoModeration), fake, models=routes) as c:
        with pytest.raises(InvalidRequestError, match="chatonly has no moderation API") as info:
            await c.moderate("chatonly/m", THREAT)
        assert "openai (omni-moderation-latest" in str(info.value)
        assert info.value.status is None
        r = await c.moderate("guard", THREAT)
    assert (r.provider, r.flagged) == ("fake", True)


class _ShortAnswer(FakeProvider):
    async def moderate(self, request: ModerationRequest) -> ModerationResponse:
        response = await super().moderate(request)
        return ModerationResponse(results=response.results[:1], model=request.model)


@pytest.mark.anyio
async def test_an_answer_without_a_result_per_text_is_an_error() -> None:
    async with client(FakePlugin(provider=_ShortAnswer), retry={"attempts": 1}) as c:
        with pytest.raises(RelayError, match="answered 1 moderation results for 2 inputs"):
            await c.moderate(MODEL, [SAFE, THREAT])


@pytest.mark.anyio
async def test_a_bad_model_is_the_providers_typed_error() -> None:
    fake = FakePlugin()
    fake.script.fail(404, "The model `nope` does not exist")
    async with client(fake) as c:
        with pytest.raises(relaykit.NotFoundError, match="does not exist") as info:
            await c.moderate("fake/nope", THREAT)
    assert (info.value.status, info.value.provider) == (404, "fake")


# -- resilience, limits, budgets --------------------------------------------------


@pytest.mark.anyio
async def test_a_server_error_is_retried_and_a_fallback_is_recorded() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.fail(503, "busy")
    async with client(first) as c:
        r = await c.moderate(MODEL, THREAT)
    assert (r.attempts, r.flagged) == (2, True)
    first.script.fail(503, "down", retry_after=0)
    exporter = RecordingExporter()
    routes = {"guard": {"targets": ["fake/omni-moderation-a", "other/omni-moderation-b"]}}
    async with client(first, second, exporter, models=routes, retry={"attempts": 1}) as c:
        r = await c.moderate("guard", THREAT)
    assert (r.provider, r.model) == ("other", "omni-moderation-b")
    (record,) = exporter.records
    assert (record.operation, record.fallbacks) == ("moderate", 1)


@pytest.mark.anyio
async def test_token_limits_count_the_texts() -> None:
    # 40 characters a call: 10 tokens held and (estimated by the core) settled
    async with client(FakePlugin(), limits={"fake/*": {"tpm": 25}}) as c:
        for _ in range(2):
            await c.moderate(MODEL, ["x" * 40])
        with pytest.raises(QuotaExceededError):
            await c.moderate(MODEL, ["x" * 40])


@pytest.mark.anyio
async def test_a_configured_price_prices_the_estimated_tokens() -> None:
    prices = {"prices": {"fake/mod-1": {"input": "0.10", "output": "0"}}}
    async with client(FakePlugin(), **prices) as c:
        r = await c.moderate("fake/mod-1", ["x" * 40])
    assert r.cost == Decimal("0.10") * 10 / 1_000_000


# -- what is recorded ---------------------------------------------------------


@pytest.mark.anyio
async def test_the_record_keeps_the_texts_redacted_and_what_was_flagged() -> None:
    secret = "sk-proj-" + "Ab3" * 10
    exporter = RecordingExporter()
    async with client(FakePlugin(), exporter) as c:
        await c.moderate(
            MODEL,
            [f"my key is {secret}", THREAT],
            extra={"note": 1},
            metadata={"correlation_id": "c-1", "team": "trust"},
        )
    (record,) = exporter.records
    assert record.ok and record.operation == "moderate"
    assert [m.role for m in record.messages] == ["user", "user"]
    assert record.messages[0].text.startswith("my key is ") and record.messages[1].text == THREAT
    assert secret not in repr(record)
    assert record.params == {
        "inputs": 2,
        "flagged": 1,
        "flagged_categories": ["harassment", "harassment/threatening", "violence"],
        "extra": {"note": 1},
        "metadata": {"team": "trust"},
    }
    assert (record.correlation_id, record.cost, record.usage.output_tokens) == (
        "c-1",
        Decimal(0),
        0,
    )


@pytest.mark.anyio
async def test_without_a_content_reader_the_record_keeps_no_text() -> None:
    class Counter(RecordingExporter):
        needs_content = False

    exporter = Counter()
    async with client(FakePlugin(), exporter) as c:
        await c.moderate(MODEL, [THREAT])
    (record,) = exporter.records
    assert (record.messages, record.params["inputs"], record.params["flagged"]) == ((), 1, 1)


@pytest.mark.anyio
async def test_a_failed_call_is_recorded() -> None:
    fake = FakePlugin()
    fake.script.fail(400, "input too long")
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        with pytest.raises(InvalidRequestError, match="input too long"):
            await c.moderate(MODEL, THREAT)
    (record,) = exporter.records
    assert (record.ok, record.operation, record.error_type) == (
        False,
        "moderate",
        "InvalidRequestError",
    )
    assert record.params == {"inputs": 1}


@pytest.mark.anyio
async def test_the_log_line_says_whether_anything_was_flagged() -> None:
    with capture_call_log() as out:
        async with client(FakePlugin()) as c:
            await c.moderate(MODEL, [SAFE, THREAT])
    (line,) = call_log_lines(out)
    assert (line["operation"], line["flagged"], line["cost_usd"]) == ("moderate", True, 0.0)
    assert THREAT not in out.getvalue()


@pytest.mark.anyio
async def test_outbound_redaction_keeps_pii_from_the_provider() -> None:
    fake = FakePlugin()
    async with client(fake, Tickets()) as c:
        r = await c.moderate(MODEL, ["see TICKET-123", "plain"])
    assert fake.moderations[0].inputs == ("see <T>", "plain")
    assert len(r.results) == 2


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_moderates(backend: str) -> None:
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()], backend=backend) as c:
        r = c.moderate(MODEL, [SAFE, THREAT])
    assert [x.flagged for x in r.results] == [False, True]


@pytest.mark.anyio
async def test_a_closed_client_refuses() -> None:
    c = client(FakePlugin())
    async with c:
        pass
    with pytest.raises(relaykit.ClientClosedError):
        await c.moderate(MODEL, THREAT)
