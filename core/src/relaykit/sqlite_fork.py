"""Whether this process may call SQLite: not in a child forked while relaykit was inside it.

SQLite keeps process-wide mutexes (its memory allocator's, its table of open
files and their locks) and a connection's lock state in the process. A thread
inside SQLite at ``fork()`` may hold any of them, on whatever file it uses, and
the child gets them locked with no thread to let go: a SQLite call there, on
any file, may block for good (one did: freeing memory, on the allocator's
mutex) or wait out a busy timeout for a lock nobody holds.

So every relaykit SQLite user (relaykit-sqlite's storage and embedding
collections; any plugin that uses SQLite) runs each stretch of SQLite work
inside :class:`using_sqlite`, which records the calling thread in one
process-wide table. A child forked while that table named a thread of the
parent's is refused SQLite for good: every later :class:`using_sqlite`, on
any file, raises a :class:`~relaykit.RelayError` at once, naming the fix
(open the storage in each child after the fork, or start children with
``spawn``), instead of hanging. Its own children are refused too: the
mutexes stay locked in their copies.

The table is process-wide state (unlike everything else in the core, but as
:mod:`relaykit.fork_safety`'s registry): the mutexes it stands for are.
A thread is recorded from before its first SQLite call to after its last, so
while it is not recorded it is not inside SQLite (``fork()`` runs with the GIL
held, and the sqlite3 module lets the GIL go only inside SQLite).
What SQLite code outside relaykit does (an application's own ``sqlite3``) is not
recorded: such a process must not fork while it runs.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

from .errors import RelayError

__all__ = ["check_sqlite_usable", "threads_in_sqlite", "using_sqlite"]

_get_ident = threading.get_ident

#: thread id -> (what it does, the file), for each relaykit thread inside SQLite now
_inside: dict[int, tuple[str, str | os.PathLike[str]]] = {}

#: what a parent's thread did inside SQLite when this process (or an ancestor) forked;
#: empty in a process that may use SQLite
_refused: tuple[tuple[str, str | os.PathLike[str]], ...] = ()


class using_sqlite:
    """``with using_sqlite(path, "writing"):`` around a stretch of SQLite work.

    Records the calling thread as inside SQLite for the block, so that a child
    forked meanwhile uses no SQLite file (see the module's docs). Entering
    first calls :func:`check_sqlite_usable`. Blocks may nest (a read opening
    the file): the outer one's record comes back when the inner one ends.

    :param path: the file the work is on (for the error a child raises).
    :param doing: what the work is, as a present participle ("writing",
        "reading", "opening", "checkpointing", "closing").
    """

    __slots__ = ("_entry", "_outer")

    def __init__(self, path: str | os.PathLike[str], doing: str) -> None:
        self._entry = (doing, path)
        self._outer: tuple[str, str | os.PathLike[str]] | None = None

    def __enter__(self) -> None:
        if _refused:
            check_sqlite_usable(self._entry[1])
        me = _get_ident()
        # Only this thread writes its own entry, and one dict operation is atomic:
        # no lock (a lock held at the fork would stay held in the child). Cheap
        # (well under a microsecond): a cached answer's read on the loop runs in one.
        self._outer = _inside.get(me)
        _inside[me] = self._entry

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        me = _get_ident()
        if self._outer is None:
            _inside.pop(me, None)
        else:
            _inside[me] = self._outer


def check_sqlite_usable(path: str | os.PathLike[str]) -> None:
    """Raise unless this process may call SQLite (about to use the file at ``path``).

    :raises RelayError: in a process forked while a relaykit thread of its
        parent was inside SQLite (or forked from such a process), naming what
        that thread did and the fix.
    """
    if not _refused:
        return
    doing, parent_path = _refused[0]
    raise RelayError(
        f"this process was forked while a thread of its parent was inside SQLite"
        f" ({doing} {parent_path}): SQLite's process-wide locks may stay held here for"
        f" good, so relaykit uses no SQLite file in this process (not {Path(path)} either)",
        hint="open the storage in each child after the fork (create the relaykit.Client"
        " or Collection there: gunicorn, in a post_fork hook or without --preload;"
        " multiprocessing, the 'spawn' or 'forkserver' start method), or fork while the"
        " client is idle (no call, embedding or search in flight)",
    )


def threads_in_sqlite() -> list[tuple[str, str]]:
    """``(what it does, file)`` for each relaykit thread inside SQLite now (a fork now
    would refuse the child SQLite): for tests, and a pre-fork hook's log line."""
    return [(doing, str(path)) for doing, path in list(_inside.values())]


def _after_fork_in_child() -> None:
    global _refused
    me = threading.get_ident()  # the forking thread: not inside SQLite (it forked)
    others = tuple(entry for ident, entry in list(_inside.items()) if ident != me)
    _refused = _refused + others  # a refused parent's children stay refused
    mine = _inside.get(me)
    _inside.clear()
    if mine is not None:
        _inside[me] = mine


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
