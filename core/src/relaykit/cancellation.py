"""Whether an exception is a cancellation, also when it arrives grouped."""

from __future__ import annotations

import anyio


def is_cancellation(exc: BaseException) -> bool:
    """True for the backend's cancellation (or Ctrl-C's KeyboardInterrupt), or a
    group holding nothing else.

    Under trio a cancellation can come out of a library's nursery as an
    exception group of ``Cancelled`` (``trio.open_tcp_stream``, which httpx
    connects with: a call cancelled while connecting). The cancel scope above
    takes the group for the cancellation it is; so must the code that records
    a cancelled call, or that call is never recorded.
    """
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return True
    # Ctrl-C: asyncio cancels the main task with it, trio raises KeyboardInterrupt at
    # a checkpoint instead. The same event either way: a call it cuts off is recorded
    # cancelled, not left out of the call log (under trio it was).
    if isinstance(exc, KeyboardInterrupt):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(is_cancellation(inner) for inner in exc.exceptions)
    return False
