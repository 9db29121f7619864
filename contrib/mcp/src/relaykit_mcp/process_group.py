"""A stdio server's process group, stopped after the server: the helpers it started
(a browser, a language server) would otherwise run on, orphaned, once it exits."""

from __future__ import annotations

import sys
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from anyio.abc import Process


def server_process(transport: AbstractAsyncContextManager[Any]) -> Process | None:
    """The process an entered ``mcp.stdio_client`` started, else None.

    The SDK keeps it to itself (mcp 2.3): it is read from the transport's
    generator frame, and a later SDK that renames it costs only the cleanup.
    """
    frame = getattr(getattr(transport, "gen", None), "ag_frame", None)
    process = frame.f_locals.get("process") if frame is not None else None
    return process if isinstance(process, Process) else None


async def stop_group(process: Process) -> None:
    """Stop what is left of ``process``'s group once the SDK has stopped the
    server (SIGTERM, SIGKILL after 2 s; at once when nothing is left).

    The SDK starts the server in a new session, its pid the group's id, and
    kills the group only when the server itself will not exit: a server that
    exits when its stdin closes leaves its children running.
    """
    if sys.platform == "win32":  # a job object holds them, which the SDK closes
        return
    from mcp.os.posix.utilities import terminate_posix_process_tree

    with anyio.CancelScope(shield=True):  # cleanup: a cancelled caller still gets it
        await terminate_posix_process_tree(process, 2.0)
