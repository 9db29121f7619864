"""Reading a streamed body to its end once the answer is whole, so its connection is reused."""

from __future__ import annotations

from collections.abc import AsyncIterator

from relaykit.http import is_transport_error

#: How long to wait for the end of the body after the last event (see :func:`read_to_end`).
END_OF_BODY_GRACE = 0.25


async def read_to_end(chunks: AsyncIterator[bytes], response: object = None) -> None:
    """Read what follows the last event (``[DONE]``, ``response.completed``): normally
    just the end of the chunked body.

    The HTTP client puts a connection back in its pool only when the response was
    read to its end; leaving at ``[DONE]`` closed it, and the next call paid for a new
    TCP (and TLS) connection. A server that sends nothing more and keeps the body
    open gets a short grace, after which the connection is closed as before; a
    broken end of body is ignored too, since the answer is already complete.

    A response that can tell its whole body has arrived (``at_eof()``, as
    relaykit-aiohttp's does) needs no reading, and no timeout scope for it.
    """
    at_eof = getattr(response, "at_eof", None)
    if at_eof is not None and at_eof():
        return
    # Imported here, not at the top, to keep `import relaykit_openai` light;
    # it is loaded by the time a stream runs.
    import anyio

    with anyio.move_on_after(END_OF_BODY_GRACE):
        try:
            async for _ in chunks:
                pass
        except Exception as e:
            if not is_transport_error(e):
                raise
