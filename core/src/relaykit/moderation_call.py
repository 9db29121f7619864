""":meth:`relaykit.Client.moderate`: the chat pipeline's steps, for a moderation call.

validate -> redact outbound -> route -> rate-limit reserve -> breaker ->
retry(provider moderate with timeouts) -> cost -> reconcile limits -> span,
metrics and log record -> return.

As for rerank (:mod:`relaykit.rerank_call`), everything but the first and last
steps is the chat call's own code; routes work as for chat but do not hedge,
and nothing is cached (a verdict is cheap, and the texts moderated are rarely
the same twice). Records keep the texts (redacted as content is) and, from
the answer, how many inputs were flagged and for which categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import single_calls
from .errors import ClientClosedError
from .moderation import (
    ModerationRequest,
    ModerationResponse,
    build_moderation_request,
    input_size,
)
from .protocols import Provider
from .routing import Target
from .single_calls import (
    Operation,
    answer,
    capability,
    check_one_per_input,
    conclude,
    new_call,
    run_call,
    with_input_tokens,
)
from .tracing import CallTracer
from .validation import check_chars

if TYPE_CHECKING:
    from .call_outcomes import CallOutcomes
    from .client import Client, _Call


_WHO_MODERATES = (
    "moderate with a provider that has a moderation API: openai (omni-moderation-latest,"
    " text-moderation-latest), or the OpenAI-compatible mistral (mistral-moderation-latest)"
)


async def send_moderation(
    provider: Provider, request: ModerationRequest, target: Target
) -> ModerationResponse:
    """``provider.moderate(request)``, checked: a typed refusal when the provider has no
    moderation API, or when its answer has not one result per input; an estimate of
    the input tokens when the answer does not count them."""
    moderate = capability(provider, "moderate", target, "moderation", _WHO_MODERATES)
    response: ModerationResponse = await moderate(request)
    check_one_per_input(len(response.results), "moderation results", len(request.inputs), target)
    # Neither OpenAI nor Mistral counts tokens: estimated.
    return with_input_tokens(response, request.inputs)


async def moderate(
    client: Client, model: str, inputs: str | Sequence[str], params: dict[str, Any]
) -> ModerationResponse:
    """Run one moderation call through ``client``'s pipeline (see the module docstring)."""
    call = _start(client, model, inputs, params)
    return await run_call(client, call, lambda: _run(client, call))


def _start(
    client: Client, model: str, inputs: str | Sequence[str], params: dict[str, Any]
) -> _Call:
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")
    targets = client._router.plan(model)
    request = build_moderation_request(targets[0].model, inputs, params)
    size = input_size(request)
    check_chars(
        size,
        client.config.validation.max_chars,
        "the inputs carry",
        "input",
        "moderate fewer or shorter texts at a time",
    )
    if client._outbound is not None:
        # Outbound redaction keeps PII from the provider, which then judges the
        # placeholders: what the operator who turned it on asked for. The results
        # are matched to inputs by position, so nothing needs restoring.
        request = attrs.evolve(request, inputs=tuple(map(client._outbound.redact, request.inputs)))
    return new_call(client, model, request, targets, size, MODERATE)


async def _run(client: Client, call: _Call) -> ModerationResponse:
    response: ModerationResponse
    response, target = await answer(client, call)
    return await conclude(client, call, target, response)


def _request(call: _Call) -> ModerationRequest:
    """The moderation call's request (see ``_Call.request``)."""
    request: Any = call.request
    return request  # type: ignore[no-any-return]


def answer_params(response: ModerationResponse) -> dict[str, Any]:
    """What a record adds to its parameters from ``response``: how many inputs were
    flagged, and the categories any was flagged for (the vendor's names)."""
    return {
        "flagged": sum(1 for r in response.results if r.flagged),
        "flagged_categories": list(response.flagged_categories),
    }


def record_fields(outcomes: CallOutcomes, call: _Call, target: Target) -> dict[str, Any]:
    """The fields every record of a moderation call has (``CallOutcomes.record_fields``'s).

    With content on, its messages are the inputs (one user message each), so
    ``relaykit logs`` shows and searches them as a chat's. Its parameters:
    ``inputs`` (how many), ``timeout``, and with content, ``extra`` and
    metadata; a successful call's add what was flagged (:func:`answer_params`).
    """
    request = _request(call)
    return single_calls.record_fields(
        outcomes,
        call,
        target,
        texts=request.inputs,
        params={"inputs": len(request.inputs)},
    )


#: how the client sends, prices (by the token), traces and records a moderation
MODERATE = Operation(
    "moderate",
    send_moderation,
    record_fields,
    start_span=CallTracer.start_moderate,
    finish_span=CallTracer.finish_moderate,
    answer_params=answer_params,
)
