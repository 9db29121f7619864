"""``relaykit.testing.scripted_fault``: what every vendor mock sends instead of its answer
when a ``Reply`` scripts a fault, in the order the mocks rely on."""

from __future__ import annotations

import anyio
import pytest

from relaykit.testing import Reply, Response, scripted_fault


class VendorError:
    """A vendor's error renderer that records the replies it was asked to render."""

    def __init__(self) -> None:
        self.rendered: list[Reply] = []

    def __call__(self, reply: Reply) -> Response:
        self.rendered.append(reply)
        return Response.json({"error": reply.error}, reply.status)


@pytest.mark.anyio
async def test_a_reply_to_answer_is_left_to_the_mock() -> None:
    error = VendorError()
    assert await scripted_fault(Reply(text="hello"), error) is None
    assert error.rendered == []


@pytest.mark.anyio
async def test_an_error_status_is_the_vendors_error() -> None:
    error = VendorError()
    reply = Reply(status=429, error="slow down")
    answer = await scripted_fault(reply, error)
    assert answer is not None
    assert (answer.status, answer.body) == (429, b'{"error": "slow down"}')
    assert error.rendered == [reply]


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage"])
async def test_a_connection_fault_aborts_before_any_error(fault: str) -> None:
    # The fault comes first: a reply scripting both never sends the error response.
    error = VendorError()
    reply = Reply(status=500, error="boom", connection_fault=fault)  # type: ignore[arg-type]
    answer = await scripted_fault(reply, error)
    assert answer is not None
    assert answer.abort == fault
    assert error.rendered == []


@pytest.mark.anyio
async def test_the_delay_passes_before_the_answer_is_decided() -> None:
    error = VendorError()
    start = anyio.current_time()
    answer = await scripted_fault(Reply(status=503, error="later", delay=0.2), error)
    assert anyio.current_time() - start >= 0.2
    assert answer is not None and answer.status == 503
