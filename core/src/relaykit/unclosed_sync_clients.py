"""SyncClients left open: closed at interpreter exit, without being kept alive until then.

Each open :class:`~relaykit.SyncClient` used to register a bound method of its
own with :mod:`atexit`, which held it (and so its loop thread, client and
connections) until the process ended, even once nothing else referred to it,
and nothing said it had been left open. Here they are held weakly: one dropped
unclosed is reported (a ``ResourceWarning``) when collected and closed then, in
a thread of its own (the collecting thread may be any, the loop's own included,
which cannot wait on itself); those still alive at exit are closed then, as before.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import warnings
import weakref
from collections.abc import Callable
from contextlib import ExitStack, suppress
from typing import Protocol

log = logging.getLogger(__name__)


class ClosesAtExit(Protocol):
    """What the exit hook closes: a SyncClient still open."""

    def _close_at_exit(self) -> None: ...


#: the SyncClients open now, by the order they were opened in (closed newest first,
#: as their own atexit registrations ran)
_open: weakref.WeakValueDictionary[int, ClosesAtExit] = weakref.WeakValueDictionary()
_order = itertools.count()
#: the closes of collected SyncClients still running, each with what cuts its wait short
_closing: list[tuple[threading.Thread, Callable[[], None]]] = []
_lock = threading.Lock()
_hooked = False


def remember_open(client: ClosesAtExit) -> int:
    """Close ``client`` at exit if it is still open then (held weakly); returns the
    token that :func:`forget_open` takes."""
    global _hooked
    token = next(_order)
    with _lock:
        if not _hooked:
            # Registered once, at the first open client (as each client's own was at
            # its opening): it runs before the exit hooks registered earlier.
            atexit.register(_close_at_exit)
            _hooked = True
        _open[token] = client
    return token


def forget_open(token: int) -> None:
    """``client`` was closed: nothing to do at exit."""
    with _lock:
        _open.pop(token, None)


def close_when_collected(
    client: object, stack: ExitStack, cut_short: Callable[[], None]
) -> weakref.finalize[..., object]:
    """When ``client`` is collected unclosed, warn and close ``stack`` (what it had
    entered: its loop thread and its async client) in a thread of its own.

    ``cut_short`` ends that close's wait for the calls in flight, if it is still
    running at exit. Neither may refer to ``client``. ``detach()`` the finalizer
    this returns once ``client`` is closed (or its stack is no longer its own).
    """
    finalizer = weakref.finalize(client, _collected, stack, cut_short)
    finalizer.atexit = False  # alive at exit: _close_at_exit closes it
    return finalizer


def _collected(stack: ExitStack, cut_short: Callable[[], None]) -> None:
    closer = threading.Thread(
        target=_close_quietly, args=(stack,), name="relaykit SyncClient close", daemon=True
    )
    try:
        closer.start()
    except RuntimeError:  # collected at interpreter shutdown: no thread can start now
        return
    with _lock:
        _closing[:] = [entry for entry in _closing if entry[0].is_alive()]
        _closing.append((closer, cut_short))
    # After the close has started: under `-W error` the warning raises here.
    warnings.warn(
        "a relaykit.SyncClient was garbage collected without being closed: it is"
        " closed now; use `with relaykit.SyncClient() as client:`, or call"
        " client.close() when done",
        ResourceWarning,
        stacklevel=2,
    )


def _close_quietly(stack: ExitStack) -> None:
    try:
        stack.close()
    except Exception as e:  # nobody to raise to: the client was dropped
        log.warning("closing a collected SyncClient failed: %s", type(e).__name__)


def _close_at_exit() -> None:
    """Close the SyncClients still open, newest first; finish the closes of collected ones."""
    with _lock:
        still_open = [_open.get(token) for token in sorted(_open.keys(), reverse=True)]
        closing, _closing[:] = list(_closing), []
    for client in still_open:
        if client is None:
            continue
        try:
            client._close_at_exit()
        except Exception:  # the next client must still be closed
            log.exception("closing a SyncClient at exit failed")
    for closer, cut_short in closing:
        if closer.is_alive():
            # Exit must not wait [timeouts] total for calls in flight (see
            # SyncClient._close_at_exit): ended now, recorded, and the log drained.
            with suppress(Exception):
                cut_short()
            closer.join()
