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

Several children at once, while the parent works meanwhile (each guarded the same
way), are :func:`forked_children`::

    with forked_children(lambda: spill(path, 0), lambda: spill(path, 100)) as children:
        while children.running():
            replay_once(path)
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator

import pytest

from relaykit.fork_safety import can_fork

__all__ = ["ChildHung", "ForkedChildren", "forked_children", "in_forked_child", "needs_fork"]

#: marks a test that forks: skipped where the platform has no ``fork()``
needs_fork = pytest.mark.skipif(not can_fork, reason="needs os.fork (POSIX only)")


class ChildHung(AssertionError):
    """A forked child did not finish within its timeout (it was killed)."""


def in_forked_child(body: Callable[[], object], *, timeout: float = 20.0) -> None:
    """Run ``body()`` in a forked child; raise ``AssertionError`` unless it returns in time.

    :param body: the child's code; an exception in it fails the test (exit status 1,
        its traceback written to stderr).
    :param timeout: seconds the child may take before it is killed and
        :class:`ChildHung` raised: a net for a hang, so generous (a child on a
        loaded CI machine took over 5 s to ping Redis), yet under the 30 s a
        SQLite busy timeout waits. Bound what the test times inside ``body``.
    """
    with forked_children(body, timeout=timeout):
        pass


class ForkedChildren:
    """The children :func:`forked_children` started, for the parent to watch meanwhile."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._running: set[int] = set()
        #: exit status of each child that has finished, by process id
        self.exit_codes: dict[int, int] = {}

    def running(self) -> bool:
        """Whether a child still runs (collecting those that finished).

        :raises ChildHung: past the timeout, once every child left is killed.
        """
        for pid in list(self._running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._running.discard(pid)
                self.exit_codes[pid] = os.waitstatus_to_exitcode(status)
        if self._running and time.monotonic() > self._deadline:
            self.kill()
            raise ChildHung(f"a forked child did not finish within {self._timeout} s (a hang)")
        return bool(self._running)

    def wait(self) -> None:
        """Wait for every child; raise ``AssertionError`` unless each exited with 0."""
        while self.running():
            time.sleep(0.01)
        failed = {pid: code for pid, code in self.exit_codes.items() if code != 0}
        assert not failed, (
            f"forked child(ren) failed (exit status {sorted(failed.values())};"
            " their tracebacks are above)"
        )

    def kill(self) -> None:
        """Kill every child still running, and collect them."""
        for pid in self._running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self._running.clear()


@contextlib.contextmanager
def forked_children(
    *bodies: Callable[[], object], timeout: float = 20.0
) -> Iterator[ForkedChildren]:
    """Run each of ``bodies`` in a forked child of its own, all at once; the block runs
    in the parent meanwhile, and leaving it waits for them.

    Leaving raises ``AssertionError`` unless every child returned in time (each as
    :func:`in_forked_child`'s, ``timeout`` counted from the forks). An exception in
    the block kills the children still running, so none is left behind.
    """
    children = ForkedChildren(timeout)
    try:
        for body in bodies:
            children._running.add(_fork(body))
        yield children
    except BaseException:
        children.kill()
        raise
    children.wait()


def _fork(body: Callable[[], object]) -> int:
    """Fork a child that runs ``body()`` and exits; return its process id (in the parent)."""
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
    return pid
