"""Run a test's code in a forked child, and fail (never hang) when the child hangs.

What gunicorn ``--preload``, ``multiprocessing``'s fork start method and
Celery's prefork pool do to a process, in a test::

    @needs_fork
    def test_storage_works_in_a_child(tmp_path):
        storage = make_and_use_storage(tmp_path)

        def child() -> None:
            anyio.run(use_storage, storage)  # an AssertionError here fails the test

        in_forked_child(child)

The child reports through its exit status (and its traceback on stderr);
it never returns into pytest. A child still running after ``timeout`` is
killed and the test fails, naming the hang. The child never garbage-collects
what it inherited (another test's unclosed SQLite connection, say): finalizing
it there could block for good, as :func:`in_forked_child` says.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable

import pytest

from relaykit.fork_safety import can_fork

__all__ = ["ChildHung", "in_forked_child", "needs_fork"]

#: marks a test that forks: skipped where the platform has no ``fork()``
needs_fork = pytest.mark.skipif(not can_fork, reason="needs os.fork (POSIX only)")


class ChildHung(AssertionError):
    """The forked child did not finish within its timeout (it was killed)."""


def in_forked_child(body: Callable[[], object], *, timeout: float = 20.0) -> None:
    """Run ``body()`` in a forked child; raise ``AssertionError`` unless it returns in time.

    :param body: the child's code; an exception in it fails the test (exit status 1,
        its traceback written to stderr).
    :param timeout: seconds the child may take before it is killed and
        :class:`ChildHung` raised: a net for a hang, so generous (a child on a
        loaded CI machine took over 5 s to ping Redis), yet under the 30 s a
        SQLite busy timeout waits. Bound what the test times inside ``body``.
    """
    # The child must never finalize what it inherited (leave_to_parent's rule, for
    # every object). The collector freeing an unclosed sqlite3 connection another
    # test left behind (on Python 3.11 only the collector frees one: its statement
    # cache refers back to it) calls into SQLite, and SQLite's process-wide mutexes
    # (its allocator's, its table of file locks) stay locked in a child forked while
    # a parent's thread held one: the child blocked for good, about one run in a
    # hundred. So nothing is collected across the fork (the fork hooks allocate
    # too), and the child freezes what it inherited.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may deadlock
            # the child: that is what these tests are about.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except BaseException:
        if collecting:
            gc.enable()
        raise
    if pid == 0:  # the child: report through the exit status, never return into pytest
        code = 1
        try:
            gc.freeze()  # inherited objects: never collected here
            if collecting:
                gc.enable()
            body()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    if collecting:
        gc.enable()
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ChildHung(f"the forked child did not finish within {timeout} s (a hang)")
        time.sleep(0.01)
    code = os.waitstatus_to_exitcode(status)
    assert code == 0, f"the forked child failed (exit status {code}; its traceback is above)"
