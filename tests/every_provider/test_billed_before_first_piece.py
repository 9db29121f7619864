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

import pytest

import relaykit
from relaykit.testing import LimiterPlugin, MemoryStorage, Reply, frozen_limiter
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn

#: the APIs whose streams count the prompt in their first event, before any text
PROMPT_FIRST = ("anthropic", "bedrock-messages")
PRICE = {"input": 1, "output": 2}  # USD per million tokens


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
