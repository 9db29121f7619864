"""A loopback TCP listener served by an event loop of its own, in a background thread.

What :class:`~relaykit.testing.LoopbackServer` and
:class:`~relaykit.testing.StallingProxy` share: tests under asyncio and trio drive
them alike, with plain method calls, because their loop is neither.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Self

import anyio
from anyio.abc import Listener, SocketAttribute, SocketStream, TaskStatus
from anyio.from_thread import BlockingPortal, start_blocking_portal


class ThreadListener:
    """Listens on 127.0.0.1 at a free port once started; a subclass's :meth:`_serve`
    serves the listener inside ``self._scope``, which :meth:`stop` cancels."""

    def __init__(self) -> None:
        #: the port it listens on (127.0.0.1), once started
        self.port = 0
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._scope: anyio.CancelScope | None = None
        self._listener: Listener[SocketStream]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start serving in a background thread; returns once the port is bound."""
        self._portal = self._stack.enter_context(start_blocking_portal("asyncio"))
        self.port = self._portal.call(self._bind)
        # start_task, not start_task_soon: it returns once _serve holds its cancel
        # scope, so a stop() right after start() cannot miss it and wait forever.
        self._portal.start_task(self._serve)

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._portal is not None and self._scope is not None:
            self._portal.call(self._scope.cancel)
        self._stack.close()
        self._portal = None

    async def _bind(self) -> int:
        self._listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port: int = self._listener.extra(SocketAttribute.local_port)
        return port

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        raise NotImplementedError
