"""Every chat API's mock breaks a stream as ``Reply.stream_fault`` says, after the text.

``"reset"`` resets the connection, ``"garbage"`` sends bytes that are not the
vendor's format, ``"truncate"`` ends the body cleanly without the vendor's final
event. The Bedrock (both routes), Cohere and Ollama mocks ignored all three and
answered whole, and Gemini's sent its in-stream error chunk for each: a chaos run
or a test scripting them saw no broken stream (found auditing the vendors' stream
endings). A plugin reads each as a ``StreamError`` keeping the text that came,
and none names a vendor's status (none was sent). A Messages API stream's final
event, ``message_stop``, follows the stop reason: one truncated before it is whole.
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.testing import Reply
from relaykit.testing.vendor_mock import VendorMock

# ``vendor`` (conftest.py): each chat API's mock in turn

#: the APIs whose final event follows the stop reason: truncated, their answer is whole
WHOLE_WITHOUT_FINAL_EVENT = {"anthropic", "bedrock-messages"}


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage", "truncate"])
async def test_every_mock_breaks_a_stream_as_scripted(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest, fault: Any
) -> None:
    mock, providers, model = vendor
    mock.script.push(Reply(text="Half an answer", stream_fault=fault))
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
    async with relaykit.Client(config) as client:
        if fault == "truncate" and request.node.callspec.params["vendor"] in (
            WHOLE_WITHOUT_FINAL_EVENT
        ):
            async with client.stream(model, "hi", max_tokens=16) as s:
                async for _ in s:
                    pass
            assert (s.response.text, s.response.finish_reason) == ("Half an answer", "stop")
            return
        with pytest.raises(relaykit.StreamError) as caught:
            async with client.stream(model, "hi", max_tokens=16) as s:
                async for _ in s:
                    pass
    assert caught.value.partial is not None
    assert caught.value.partial.text == "Half an answer"
    assert caught.value.status is None, caught.value  # not a vendor's error event
