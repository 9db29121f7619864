"""Every provider plugin tells an answer with no usage from one that counts zero.

Decoding a vendor's answer without a usage object gives
:data:`relaykit.response.NO_USAGE` (that very object), which the client charges
its estimate for (``usage_estimated``); a usage the vendor sent stays what it
says, zero included. A plugin that returned an equal ``Usage()`` for both
would make every answer of a server that omits usage free to budgets and limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from relaykit.response import NO_USAGE, Usage, tokens_unreported
from relaykit_anthropic import wire as anthropic_wire
from relaykit_bedrock import wire as bedrock_wire
from relaykit_cohere import wire as cohere_wire
from relaykit_gemini import wire as gemini_wire
from relaykit_ollama import wire as ollama_wire
from relaykit_openai import responses_wire
from relaykit_openai import wire as openai_wire

#: each plugin's usage decoder, and a usage object of that vendor's counting zero
DECODERS: dict[str, tuple[Callable[[Any], Usage], dict[str, Any]]] = {
    "openai chat completions": (
        openai_wire.usage,
        {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    ),
    "openai responses": (
        responses_wire.usage,
        {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
    ),
    "anthropic": (anthropic_wire.usage, {"input_tokens": 0, "output_tokens": 0}),
    "bedrock": (bedrock_wire.usage, {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}),
    "gemini": (gemini_wire.usage, {"promptTokenCount": 0, "totalTokenCount": 0}),
    "ollama": (ollama_wire.usage, {"prompt_eval_count": 0, "eval_count": 0}),
    "cohere": (cohere_wire.usage, {"billed_units": {"input_tokens": 0, "output_tokens": 0}}),
}


@pytest.mark.parametrize("vendor", DECODERS)
def test_no_usage_is_told_from_a_reported_zero(vendor: str) -> None:
    decode, zero = DECODERS[vendor]
    # Ollama's counts sit in the final object, which is never None
    none: dict[str, Any] | None = {} if vendor == "ollama" else None
    assert decode(none) is NO_USAGE
    assert decode({}) is NO_USAGE
    reported = decode(zero)
    assert reported == Usage() and reported is not NO_USAGE


#: the decoders that take the web searches an answer shows it ran beside its usage
SEARCHING = ("openai chat completions", "openai responses", "gemini")


@pytest.mark.parametrize("vendor", SEARCHING)
def test_searches_without_usage_leave_the_tokens_unreported(vendor: str) -> None:
    # The search fees stand; the tokens are the client's to estimate, as with none.
    plain, zero = DECODERS[vendor]
    decode: Callable[[Any, int], Usage] = plain  # type: ignore[assignment]  # these take searches
    searched = decode(None, 2)
    assert searched.web_searches == 2 and tokens_unreported(searched)
    assert decode(None, 2) is searched  # told apart by identity, as NO_USAGE is
    assert not tokens_unreported(decode(zero, 2))
    assert not tokens_unreported(Usage(web_searches=2))  # a vendor's count of zero tokens
