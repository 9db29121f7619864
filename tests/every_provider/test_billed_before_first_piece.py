"""A stream that breaks before its first piece, after the vendor reported the prompt's
usage, is charged that usage, and a record carries it.

Anthropic's ``message_start`` (and Claude's on Bedrock's Messages API) counts the
prompt before any text; some OpenAI-compatible servers send usage early too. A
connection dropped after that and before the first text was retried (nothing had
reached the caller) and settled nothing: the vendor had counted, and billed, the
prompt, while the budget and TPM limits took the attempt as free and no record
showed it. Now the attempt's hold settles with the vendor's count and a record of
its own (``<call id>-attempt-<n>``, as a first-token timeout's) carries it, so the
records add up to the budget; a vendor that had reported nothing is charged nothing
for the broken attempt, as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest

import relaykit
from relaykit.testing import (
    LimiterPlugin,
    MemoryStorage,
    Reply,
    TracingExporter,
    call_log_lines,
    capture_call_log,
    frozen_limiter,
)
from relaykit.testing.vendor_mock import VendorMock
from relaykit_anthropic.testing import AnthropicMock

# ``vendor`` (conftest.py): each chat API's mock in turn

#: the APIs whose streams count the prompt in their first event, before any text
PROMPT_FIRST = ("anthropic", "bedrock-messages")
PRICE = {"input": 1, "output": 2}  # USD per million tokens
KEY = "test-key-0123456789abcdefghijklmnop"
#: when a test cuts a slow stream off: after message_start has come (at once, but a
#: loaded CI machine has delayed it past half a second) and long before the text
#: (``chunk_delay``)
CUTOFF = 2.0


@pytest.mark.anyio
@pytest.mark.parametrize("then", ["answers", "breaks again"])
async def test_a_stream_broken_before_its_first_piece_is_charged_the_prompt_it_reported(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest, then: str
) -> None:
    mock, providers, model = vendor
    name = request.node.callspec.params["vendor"]
    broken = Reply(text="", input_tokens=700, output_tokens=0, stream_fault="drop")
    mock.script.push(
        broken,
        Reply(text="ok", input_tokens=70, output_tokens=3) if then == "answers" else broken,
    )
    storage = MemoryStorage()
    frozen = LimiterPlugin(frozen_limiter())
    config = {
        "storage": {"backend": "memory"},
        "retry": {"attempts": 2, "initial_wait": 0, "max_retry_after": 0},
        "limiter": {"backend": "frozen"},
        "limits": {"*": {"budget_usd": "10", "tpm": 1_000_000}},
        "prices": {model: PRICE},
        "providers": providers,
    }
    async with relaykit.Client(config, plugins=[frozen, storage.plugin()]) as client:
        if then == "answers":
            async with client.stream(model, "hi", max_tokens=16) as s:
                async for _ in s:
                    pass
        else:
            with pytest.raises(relaykit.RelayError):
                async with client.stream(model, "hi", max_tokens=16) as s:
                    async for _ in s:
                        pass
    records = list(storage.records.values())
    attempts = sorted((r for r in records if "-attempt-" in r.id), key=lambda r: r.id)
    if name in PROMPT_FIRST:
        broken_attempts = 1 if then == "answers" else 2
        assert [(r.usage.input_tokens, r.usage_estimated) for r in attempts] == [
            (700, False)
        ] * broken_attempts
        for r in attempts:  # message_start counts an output token or so too
            price = r.usage.input_tokens * PRICE["input"] + r.usage.output_tokens * PRICE["output"]
            assert r.cost == Decimal(price) / 1_000_000
        assert all(r.id.endswith(f"-attempt-{n}") for n, r in enumerate(attempts, 1))
    else:
        assert attempts == []  # nothing reported before the break: nothing charged
    assert len(records) == len(attempts) + 1  # and the call's own
    spent = sum((b.spent for b in frozen.limiter._budgets.values()), Decimal(0))
    assert spent == sum((r.cost or Decimal(0) for r in records), Decimal(0))
    if then == "answers":
        (final,) = (r for r in records if "-attempt-" not in r.id)
        assert (final.usage.input_tokens, final.usage.output_tokens) == (70, 3)


@pytest.mark.anyio
@pytest.mark.parametrize("cut_by", ["first_token", "total", "cancel"])
async def test_a_stream_cut_off_before_its_first_piece_is_charged_the_prompt_it_reported(
    cut_by: str,
) -> None:
    # Anthropic's message_start counted the prompt (700 tokens), then the first text
    # was slow: a first-token timeout (tried again), the total timeout or the caller
    # cut the attempt off. The vendor's count is what was billed, not the prompt's
    # estimate (2 tokens for "hi"): the attempt's record carries it, unmarked.
    slow = Reply(text="late", input_tokens=700, output_tokens=0, chunk_delay=10)
    with AnthropicMock(api_key=KEY) as mock:
        mock.script.push(slow, Reply(text="ok", input_tokens=70, output_tokens=3))
        storage = MemoryStorage()
        frozen = LimiterPlugin(frozen_limiter())
        config = {
            "storage": {"backend": "memory"},
            "retry": {"attempts": 2, "initial_wait": 0, "max_retry_after": 0},
            "timeouts": {"first_token": CUTOFF if cut_by == "first_token" else 30},
            "limiter": {"backend": "frozen"},
            "limits": {"*": {"budget_usd": "10", "tpm": 1_000_000}},
            "prices": {"anthropic/claude-haiku-4-5": PRICE},
            "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
        }

        async def read(**params: Any) -> None:
            async with client.stream("anthropic/claude-haiku-4-5", "hi", **params) as s:
                async for _ in s:
                    pass

        async with relaykit.Client(config, plugins=[frozen, storage.plugin()]) as client:
            if cut_by == "first_token":
                await read(max_tokens=16)
            elif cut_by == "total":
                with pytest.raises(relaykit.RequestTimeoutError):
                    await read(max_tokens=16, timeout=CUTOFF)
            else:
                with anyio.move_on_after(CUTOFF):
                    await read(max_tokens=16)
    records = list(storage.records.values())
    (attempt,) = (r for r in records if "-attempt-" in r.id)
    assert (attempt.usage.input_tokens, attempt.usage_estimated) == (700, False)
    assert attempt.id.endswith("-attempt-1")
    (final,) = (r for r in records if "-attempt-" not in r.id)
    if cut_by == "first_token":  # tried again, and answered
        assert (final.usage.input_tokens, final.usage.output_tokens) == (70, 3)
    else:  # the call ended there: its own record charges nothing a second time
        assert (final.usage.total_tokens, final.cost or 0) == (0, 0)
    spent = sum((b.spent for b in frozen.limiter._budgets.values()), Decimal(0))
    assert spent == sum((r.cost or Decimal(0) for r in records), Decimal(0))


@pytest.mark.anyio
@pytest.mark.parametrize("cut_by", ["first_token", "total", "cancel", "close"])
async def test_a_stream_that_ends_cut_off_after_a_reported_prompt_shows_it_on_span_and_log(
    cut_by: str,
) -> None:
    # The call ends with its one attempt, cut off after message_start counted the
    # prompt (700 tokens). Its attempt's record carries that usage and the budget
    # charged it, but the call's span and log line showed no usage at all, as if
    # it had cost nothing. Now they show what was charged, unmarked (the vendor's
    # count), as a failed call's span and line show what its records carry.
    slow = Reply(text="late", input_tokens=700, output_tokens=0, chunk_delay=10)
    with AnthropicMock(api_key=KEY) as mock:
        mock.script.push(slow)
        storage = MemoryStorage()
        telemetry = TracingExporter()
        frozen = LimiterPlugin(frozen_limiter())
        config = {
            "storage": {"backend": "memory"},
            "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
            "timeouts": {
                "first_token": CUTOFF if cut_by == "first_token" else 30,
                # what the client's close waits for calls in flight: then it cuts them off
                "total": 0.3 if cut_by == "close" else 600,
            },
            "limiter": {"backend": "frozen"},
            "limits": {"*": {"budget_usd": "10", "tpm": 1_000_000}},
            "prices": {"anthropic/claude-haiku-4-5": PRICE},
            "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
        }

        async def read(**params: Any) -> None:
            async with client.stream("anthropic/claude-haiku-4-5", "hi", **params) as s:
                async for _ in s:
                    pass

        plugins = [frozen, storage.plugin(), telemetry]
        with capture_call_log() as log:
            async with relaykit.Client(config, plugins=plugins) as client:
                if cut_by == "first_token":
                    with pytest.raises(relaykit.RequestTimeoutError):
                        await read(max_tokens=16)
                elif cut_by == "total":
                    with pytest.raises(relaykit.RequestTimeoutError):
                        await read(max_tokens=16, timeout=CUTOFF)
                elif cut_by == "cancel":
                    with anyio.move_on_after(CUTOFF):
                        await read(max_tokens=16)
                else:
                    async with anyio.create_task_group() as tg:

                        async def read_until_closed() -> None:
                            with pytest.raises(relaykit.ClientClosedError):
                                await read(max_tokens=16, timeout=30)

                        tg.start_soon(read_until_closed)
                        with anyio.fail_after(5):
                            while not mock.requests:  # noqa: ASYNC110  # a list, no event
                                await anyio.sleep(0.01)
                        await anyio.sleep(CUTOFF)  # message_start has come: text has not
                        await client.aclose()
    telemetry.tracer_provider.shutdown()
    records = list(storage.records.values())
    (attempt,) = (r for r in records if "-attempt-" in r.id)
    (final,) = (r for r in records if "-attempt-" not in r.id)
    usage = attempt.usage
    assert (usage.input_tokens, attempt.usage_estimated) == (700, False)
    assert final.usage.total_tokens == 0 and not final.cost  # not charged a second time
    assert attempt.cost is not None and attempt.cost > 0
    spent = sum((b.spent for b in frozen.limiter._budgets.values()), Decimal(0))
    assert spent == attempt.cost
    (span,) = telemetry.finished()
    a = dict(span.attributes or {})
    assert a["error.type"] == final.error_type
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (
        700,
        usage.output_tokens,
    )
    assert a["relaykit.cost_usd"] == float(attempt.cost)
    assert "relaykit.usage.estimated" not in a
    (line,) = call_log_lines(log)
    assert (line["error_type"], line["input_tokens"], line["output_tokens"]) == (
        final.error_type,
        700,
        usage.output_tokens,
    )
    assert line["cost_usd"] == float(attempt.cost) and "usage_estimated" not in line
