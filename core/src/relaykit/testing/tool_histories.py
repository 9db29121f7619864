"""A tool run whose ids come from several providers, for request writers' tests.

:func:`cross_provider_tool_run` is the history a conversation that moved between
providers holds: relaykit's made-up ids of a vendor that sends none, numbered
afresh in each answer (``gemini-call-0`` twice), an answer giving two calls one id
(Kimi behind some proxies), Kimi K2's ``functions.now:0``, Claude's ``toolu_...``
and vLLM's ``chatcmpl-tool-<uuid>`` (46 characters), each call answered in turn.
The results' texts are ``"A"``, ``"B"``, ... in the calls' order, so a test can
check that each result went out under its own call's id.
"""

from __future__ import annotations

from ..messages import Message, ToolCall

__all__ = ["CROSS_PROVIDER_IDS", "TOOL_NAMES", "cross_provider_tool_run"]

#: the ids of :func:`cross_provider_tool_run`'s calls, in order
CROSS_PROVIDER_IDS = (
    "gemini-call-0",
    "gemini-call-0",
    "edit:22",
    "edit:22",
    "functions.now:0",
    "toolu_01A09q90qw90lq917835lq9",
    "chatcmpl-tool-" + "0123456789abcdef" * 2,
)

#: the tools its calls name (each takes an object)
TOOL_NAMES = ("lookup", "edit", "now")


def cross_provider_tool_run() -> list[Message]:
    """The history: a user turn, then each call (two in one answer for ``edit:22``)
    answered by a tool message in order, then a user turn asking on."""
    ids = CROSS_PROVIDER_IDS
    names = ("lookup", "lookup", "edit", "edit", "now", "lookup", "lookup")
    answers = iter("ABCDEFG")
    out = [Message.user("go")]
    for calls in ((0,), (1,), (2, 3), (4,), (5,), (6,)):
        out.append(Message.assistant("", [ToolCall(ids[i], names[i], {"n": i}) for i in calls]))
        out += [Message.tool(ids[i], next(answers)) for i in calls]
    out.append(Message.user("and now?"))
    return out
