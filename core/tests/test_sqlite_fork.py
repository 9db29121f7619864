"""A child forked while a relaykit thread was inside SQLite uses no SQLite file at all.

SQLite's process-wide mutexes (its allocator's, its table of file locks) may be
held by that thread at the fork, whatever file it used, and stay locked in the
child: :mod:`relaykit.sqlite_fork` refuses such a child every SQLite call, at
once, rather than let one block for good. (relaykit-sqlite's tests hold a real
thread inside a real SQLite statement; these test the record itself.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import relaykit
from relaykit.sqlite_fork import check_sqlite_usable, threads_in_sqlite, using_sqlite
from relaykit.testing.forking import ChildHung, forked_children, in_forked_child, needs_fork

pytestmark = needs_fork


@contextmanager
def thread_inside(path: str, doing: str) -> Iterator[None]:
    """Another thread stays inside ``using_sqlite(path, doing)`` for the block."""
    entered, leave = threading.Event(), threading.Event()

    def work() -> None:
        with using_sqlite(path, doing):
            entered.set()
            leave.wait(30)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert entered.wait(10)
        yield
    finally:
        leave.set()
        thread.join(10)


def refused(path: str) -> str:
    with (
        pytest.raises(relaykit.RelayError, match="forked while") as raised,
        using_sqlite(path, "opening"),
    ):
        raise AssertionError("entered SQLite in a refused child")
    return str(raised.value)


def test_a_child_forked_while_a_thread_is_inside_sqlite_may_use_no_file() -> None:
    with thread_inside("/data/a.db", "writing"):
        assert ("writing", "/data/a.db") in threads_in_sqlite()

        def child() -> None:
            message = refused("/data/b.db")
            assert "writing /data/a.db" in message  # what the parent's thread did
            assert "/data/b.db" in message  # what was refused
            assert "open the storage in each child after the fork" in message  # the fix
            assert "'spawn'" in message
            with pytest.raises(relaykit.RelayError, match="forked while"):
                check_sqlite_usable("/data/c.db")
            assert threads_in_sqlite() == []  # the parent's thread is not here
            in_forked_child(lambda: refused("/data/d.db"))  # nor may its children

        in_forked_child(child)
        check_sqlite_usable("/data/b.db")  # the parent is refused nothing


def test_a_child_forked_once_the_thread_left_sqlite_uses_it() -> None:
    with thread_inside("/data/a.db", "reading"):
        pass
    assert ("reading", "/data/a.db") not in threads_in_sqlite()

    def child() -> None:
        with using_sqlite("/data/b.db", "opening"):
            assert threads_in_sqlite() == [("opening", "/data/b.db")]
        assert threads_in_sqlite() == []

    in_forked_child(child)


def test_nested_uses_give_the_outer_record_back() -> None:
    with using_sqlite("/data/a.db", "reading"):
        with using_sqlite("/data/a.db", "opening"):
            assert ("opening", "/data/a.db") in threads_in_sqlite()
        assert ("reading", "/data/a.db") in threads_in_sqlite()
    assert ("reading", "/data/a.db") not in threads_in_sqlite()


def test_children_run_at_once_while_the_parent_works(tmp_path: Path) -> None:
    def meet(mine: str, theirs: str) -> None:
        # Each waits for the other's file: run one after the other, both would hang.
        (tmp_path / mine).touch()
        while not (tmp_path / theirs).exists():
            time.sleep(0.001)

    polls = 0
    with forked_children(lambda: meet("a", "b"), lambda: meet("b", "a")) as children:
        while children.running():
            polls += 1  # the parent's own work, meanwhile
    assert polls > 0
    assert sorted(children.exit_codes.values()) == [0, 0]


def test_a_failing_or_hung_child_among_several_fails_the_test() -> None:
    def hangs() -> None:
        threading.Event().wait()

    with pytest.raises(AssertionError, match="exit status"), forked_children(int, lambda: 1 / 0):
        pass
    with pytest.raises(ChildHung), forked_children(int, hangs, timeout=0.2):
        pass
