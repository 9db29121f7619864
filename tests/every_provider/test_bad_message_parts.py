"""A message part no provider can send is refused unsent, as an InvalidRequestError.

``Message.content`` is typed as relaykit's parts, but nothing stops a dict or a
string-like value from reaching a plugin at run time (``Message("user",
[{"type": "text", ...}])``), nor a part type a newer relaykit adds from reaching
an older plugin. Each plugin's encoder used to raise a bare ``TypeError``
(Anthropic, OpenAI) or leave the part out without a word (the others, which then
sent a different conversation). Now each refuses it before sending: a typed error
naming the part and the fix, not retried, nothing sent, and the call's limits get
their hold back (:func:`relaykit.http.never_sent`).
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Message, TextPart
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn


def bad_turns(role: str, bad: object) -> list[Message]:
    """A conversation whose ``role`` turn holds ``bad`` after a text part."""
    turn = Message(role, (TextPart("look:"), bad))  # type: ignore[arg-type]
    if role == "assistant":
        return [Message.user("hi"), turn, Message.user("and?")]
    return [turn] if role == "user" else [turn, Message.user("hi")]


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["user", "assistant", "system"])
@pytest.mark.parametrize("bad", [{"type": "text", "text": "a dict"}, 42], ids=["dict", "int"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_part_no_provider_can_send_is_refused_unsent_and_not_retried(
    vendor: tuple[VendorMock, dict[str, Any], str], role: str, bad: object, streamed: bool
) -> None:
    mock, providers, model = vendor
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0},
        "providers": providers,
    }
    async with relaykit.Client(config) as client:
        with pytest.raises(InvalidRequestError) as caught:
            if streamed:
                async with client.stream(model, bad_turns(role, bad), max_tokens=9) as s:
                    async for _ in s:
                        pass
            else:
                await client.chat(model, bad_turns(role, bad), max_tokens=9)
    e = caught.value
    assert not mock.requests  # refused before anything was sent: nothing to retry
    assert e.status is None and not e.retryable and relaykit.http.never_sent(e)
    assert type(bad).__name__ in e.message and e.param is not None
    assert e.hint is not None and "TextPart" in e.hint
