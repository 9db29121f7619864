"""What a chat that ended early was most likely billed, when the vendor did not say.

A vendor bills a request it received however it ends: the prompt, and the
output generated until the connection closed. A stream cut short (the caller
broke out, raised, was cancelled; a timeout or a broken connection) often ends
before the vendor's usage arrives: OpenAI reports it in the last chunk,
Anthropic counts the prompt at the start and the output only at the end. Its
budget and its record then charge the usage the vendor reported, topped up
with an estimate where the vendor had not said (a prompt of a quarter of its
characters, as limits estimate it; output of a quarter of the characters that
arrived), so early endings never count as free. A stream that ends whole with
no usage at all (an OpenAI-compatible server that sends none in streams,
``stream_usage = false``) is estimated the same way.
"""

from __future__ import annotations

import attrs

from .response import ChatResponse, Usage


def so_far(response: ChatResponse, prompt_tokens: int, *, finished: bool) -> ChatResponse:
    """``response``, from a stream that ended early, with the usage it was likely billed.

    The vendor's counts stand where it gave them: the prompt's when it reported
    one, the output's once its finish event came with a count (the final
    usage). Otherwise the prompt is ``prompt_tokens`` and the output at least a
    token per four characters of text, reasoning and tool arguments seen.
    ``response`` itself comes back when every count is the vendor's: anything
    else carries an estimate, marked ``usage_estimated`` (its record, span and
    log line say so too).
    """
    usage = response.usage
    output = usage.output_tokens
    estimate_output = not (finished and output)
    if usage.input_tokens and not estimate_output:
        return response  # the vendor's final usage arrived
    seen = len(response.text) + len(response.reasoning)
    for call in response.tool_calls:
        seen += len(call.name) + len(str(call.arguments))
    input_tokens = usage.input_tokens or prompt_tokens
    if estimate_output:
        output = max(output, -(-seen // 4))
    if (input_tokens, output) == (usage.input_tokens, usage.output_tokens):
        return response
    return attrs.evolve(
        response,
        usage=attrs.evolve(usage, input_tokens=input_tokens, output_tokens=output),
        usage_estimated=True,
    )


def prompt_only(prompt_tokens: int) -> Usage:
    """The usage of a request cut off before any of its answer arrived: its prompt."""
    return Usage(input_tokens=prompt_tokens)
