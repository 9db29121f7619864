"""A blocking facade over :class:`relaykit.Client`, for scripts and notebooks.

One event loop runs in a background thread (an anyio blocking portal); every
method hands its coroutine to it, a task there (one thread hand-off in, one out:
:class:`_Loop`), and a stream (or a batch's results) is read ahead there into a
buffer the blocking code takes its items from (:class:`_ReadAhead`). There is no second
implementation to drift.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from contextlib import AbstractAsyncContextManager, AbstractContextManager, ExitStack, suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .client import Client, Messages
from .closing_gate import part_of_work_in_flight
from .config import Config
from .embeddings import EmbeddingResponse
from .errors import ClientClosedError, ConfigError, RelayError
from .event_loops import check_backend
from .events import StreamEvent, ToolRunEvent
from .fork_safety import after_fork_in_child, leave_to_parent
from .image_generation import ImageResponse
from .moderation import ModerationResponse
from .rerank import RerankResponse
from .response import ChatResponse, ModelInfo, TokenCount
from .speech import SpeechResponse
from .stream import ChatStream
from .transcription import TranscriptionResponse
from .unclosed_sync_clients import close_when_collected, forget_open, remember_open

if TYPE_CHECKING:
    import pluggy

    from .audio import AudioFile
    from .batches import Batch, BatchItem, BatchResult
    from .call_stream import CallStream
    from .function_tools import FunctionTool
    from .image_inputs import EditableImage
    from .messages import CachePoint
    from .protocols import Exporter
    from .secrets import Secret
    from .tool_loop import ToolRunStream
    from .tool_runs import ToolRun
    from .web_search import WebSearch

Item = TypeVar("Item")
Piece = TypeVar("Piece")
Result = TypeVar("Result")
Entered = TypeVar("Entered")


#: how many items a stream's reader in the loop runs ahead of the blocking code
#: taking them; it goes on once that code has taken all but READ_AHEAD_LOW of them
READ_AHEAD = 64
READ_AHEAD_LOW = 16

#: how often (seconds) the main thread, waiting on the loop, wakes to let in an
#: interrupt that came without a signal (see _wait_slice)
INTERRUPT_CHECK = 0.1


class _Loop:
    """The loop thread as the client's blocking calls reach it: a task group there,
    and a way to schedule a callback in it without waiting.

    ``BlockingPortal.call`` waits twice: for the loop to spawn the task (a round
    trip) and for its result. Here a call is one hand-off in (the loop's own
    thread-safe scheduling, through anyio's event loop token, which also carries
    the calling thread's context variables in, as before) and one out (the
    result's ``Future``). With an anyio older than 4.16 (no ``run_sync_soon``) a
    callback goes through the portal, which waits for it.
    """

    def __init__(self, portal: BlockingPortal) -> None:
        self._portal = portal
        self._group: TaskGroup | None = None
        self._run_soon: Callable[[Callable[[], object]], None] | None = None
        self._thread: int | None = None

    async def __aenter__(self) -> _Loop:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        self._run_soon = _run_soon_here()
        self._thread = threading.get_ident()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # Left after the client has closed, whose aclose gave the calls in flight
        # [timeouts] total: what still runs here has outlived that (a stream's
        # block kept open, waiting for its caller to leave it), and is cancelled,
        # its caller told ClientClosedError (_Task.run). Waiting for it hung the
        # close, forever when the block's own thread was the one closing. The
        # exception is not the group's to raise (it would come back wrapped in
        # an ExceptionGroup).
        group = self._group
        assert group is not None
        group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)

    def soon(self, func: Callable[[], object]) -> None:
        """Run ``func()`` in the loop thread soon, from any thread, without waiting;
        ``func`` must not raise."""
        if self._run_soon is not None:
            self._run_soon(func)
        else:
            self._portal.start_task_soon(func)

    def start(self, func: Callable[[], Awaitable[Result]]) -> _Task[Result]:
        """Start ``await func()`` in a task of the loop; its handle at once."""
        if threading.get_ident() == self._thread:
            # It would wait for itself forever (the portal refused with a RuntimeError).
            raise RelayError(
                "a SyncClient call was made in the client's own event loop thread "
                "(from an async tool, say), where it would wait for itself forever",
                hint="make the tool a plain `def` (it then runs in a worker thread), "
                "or give it an async `relaykit.Client` to await",
            )
        task = _Task(func)
        group = self._group
        assert group is not None

        def spawn() -> None:
            try:
                group.start_soon(task.run)
            except BaseException:  # the group has closed: the client with it
                task.future.set_exception(_client_closed())

        try:
            self.soon(spawn)
        except RuntimeError:  # the loop has ended (asyncio's, or trio's RunFinishedError)
            # A call past SyncClient._ready's check when another thread's close ended it.
            raise _client_closed() from None
        return task


class _Task(Generic[Result]):
    """A task :meth:`_Loop.start` started: its result as a ``Future``, and a
    cancellation any thread can ask for."""

    __slots__ = ("_cancelled", "_func", "_scope", "future")

    def __init__(self, func: Callable[[], Awaitable[Result]]) -> None:
        self._func = func
        self._scope: anyio.CancelScope | None = None
        self._cancelled = False
        self.future: Future[Result] = Future()

    async def run(self) -> None:
        future = self.future
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._cancelled:
                    scope.cancel()
                future.set_result(await self._func())
                return
        except anyio.get_cancelled_exc_class():
            # The loop is shutting down, after the client has closed.
            future.set_exception(_closed_under_it())
            raise
        except BaseException as exc:
            # SystemExit too (a tool's sys.exit()): the caller's to raise, in its own
            # thread. Raised here as well, it ended the client's loop: every later
            # call got ClientClosedError, and the close a BaseExceptionGroup.
            future.set_exception(exc)
        else:
            _cancelled(future)  # cancelled as asked

    def cancel(self, loop: _Loop) -> None:
        """Cancel the task in the loop (asked from any thread; it may not have started)."""
        loop.soon(self._cancel_here)

    def _cancel_here(self) -> None:
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()


def _client_closed() -> ClientClosedError:
    """The error of a call made once the client has closed."""
    return ClientClosedError(
        "this SyncClient is closed",
        hint="make the call inside `with relaykit.SyncClient() as client:`, "
        "or enter this client again (a new client is built)",
    )


def _closed_under_it() -> ClientClosedError:
    """The error of a call, or a stream's block, still open in the loop when the
    client's close stopped it."""
    return ClientClosedError(
        "this SyncClient was closed, and its close ended this call (or this stream, "
        "whose block was still open)",
        hint="let calls end and leave streams' blocks before closing the client "
        "(its close waits up to [timeouts] total for them)",
    )


def _cancelled(future: Future[Any]) -> None:
    """Mark ``future`` cancelled, waking ``concurrent.futures.wait`` too (``cancel()``
    alone wakes ``result()`` only)."""
    future.cancel()
    future.set_running_or_notify_cancel()


def _run_soon_here() -> Callable[[Callable[[], object]], None] | None:
    """This loop's thread-safe "run this callback soon", from anyio's event loop
    token (anyio >= 4.16), or None."""
    current_token = getattr(anyio.lowlevel, "current_token", None)
    if current_token is None:
        return None
    token = current_token()
    run_sync_soon = getattr(token.backend_class, "run_sync_soon", None)
    if run_sync_soon is None:
        return None
    native = token.native_token
    return lambda func: run_sync_soon(func, (), native)


def _wait_slice() -> float | None:
    """How long one blocking wait on the loop may sleep in this thread: in the main
    thread, :data:`INTERRUPT_CHECK`, then it waits again.

    Ctrl-C's signal wakes a sleeping wait, but ``_thread.interrupt_main()`` (what
    a tool or a watchdog thread interrupts the main thread with) only sets
    Python's flag, seen once the main thread runs Python code again: before,
    once the call had ended on its own, so it was never cancelled (and never
    interrupted, for a stalled stream). Other threads get no interrupts, and
    sleep until woken."""
    return INTERRUPT_CHECK if threading.get_ident() == threading.main_thread().ident else None


def _result(future: Future[Result]) -> Result:
    """``future.result()``, waited for in :func:`_wait_slice` slices.

    Not ``future.result(slice)`` in a loop: a slice running out raises
    ``TimeoutError``, and so does the handler of a script's ``signal.alarm``
    (its own deadline), which was taken for the slice and lost."""
    wait = _wait_slice()
    if wait is not None and not future.done():  # the main thread, where handlers run
        done = threading.Event()  # (cheaper than concurrent.futures.wait's waiter)
        future.add_done_callback(lambda _: done.set())
        while not done.wait(wait):
            pass
    return future.result()


def _wait_until_done(*futures: Future[Any]) -> None:
    """``concurrent.futures.wait(futures)``, in :func:`_wait_slice` slices."""
    wait = _wait_slice()
    while wait_for(futures, wait).not_done:
        pass


def _wait_until(event: threading.Event) -> None:
    """``event.wait()``, in :func:`_wait_slice` slices."""
    wait = _wait_slice()
    while not event.wait(wait):
        pass


def _call(loop: _Loop, func: Callable[[], Awaitable[Result]]) -> Result:
    """``await func()`` in the loop thread, its result or exception here; when this
    thread is interrupted meanwhile (Ctrl-C's KeyboardInterrupt, or an exception a
    signal handler raises), the call is cancelled in the loop, as a cancelled task's
    would be (recorded cancelled, its limits and connection handed back), and the
    interrupt propagates once it has ended. ``portal.call`` alone left it running,
    unseen, with what it held."""
    task = loop.start(func)
    try:
        return _result(task.future)
    except BaseException:
        if not task.future.done():  # still running, so the waiting was interrupted
            task.cancel(loop)
            _wait_until_done(task.future)  # cancellation is quick; a second Ctrl-C stops it
        raise


class _Held(AbstractContextManager[Entered]):
    """``portal.wrap_async_context_manager(manager)``, whose waits are :func:`_result`'s:
    in the main thread they wake in :func:`_wait_slice` slices.

    Leaving the client's ``async with`` waits up to ``[timeouts] total`` for the
    calls in flight. anyio's wrapper waited in one sleep that only a signal
    wakes: an interrupt without one (``_thread.interrupt_main()``, an IDE's stop
    button, a Windows console's Ctrl-C) came once those calls had ended, 600 s
    later unless set. Interrupted, the close goes on as it does on a signal's
    Ctrl-C: the portal stops cancelling what still runs, the client's exit among it.
    """

    def __init__(self, portal: BlockingPortal, manager: AbstractAsyncContextManager[Entered]):
        self._portal = portal
        self._manager = manager
        self._entered: Future[Entered] = Future()
        self._left: Future[bool | None] | None = None
        self._leave: anyio.Event | None = None
        #: set when the entering thread was interrupted: nobody will leave the block
        self._dropped = False
        self._exc_info: tuple[Any, Any, Any] = (None, None, None)

    async def _run(self) -> bool | None:
        self._leave = leave = anyio.Event()
        try:
            value = await self._manager.__aenter__()
        except BaseException as exc:
            self._entered.set_exception(exc)
            raise
        self._entered.set_result(value)
        try:
            if not self._dropped:
                await leave.wait()
        finally:
            # Cancelled (the portal stopping after an interrupt), it is left all the same.
            result = await self._manager.__aexit__(*self._exc_info)
        return result

    def __enter__(self) -> Entered:
        self._left = self._portal.start_task_soon(self._run)
        try:
            return _result(self._entered)
        except BaseException:
            if not self._entered.done():
                # Interrupted while it enters: left once entered, rather than
                # holding the portal's stop (and so the close) forever.
                self._dropped = True
                leave = self._leave  # None: _run, not started, sees _dropped
                if leave is not None:
                    with suppress(RuntimeError):  # the portal has stopped
                        self._portal.start_task_soon(_set, leave)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._left is not None
        self._exc_info = (exc_type, exc, tb)
        leave = self._leave
        assert leave is not None  # set before the entry's result
        self._portal.call(leave.set)  # a quick round trip
        return _result(self._left)


async def _set(event: anyio.Event) -> None:
    event.set()


class _End:
    """The item after a stream's last: how it ended (``error``, raised once)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _ReadAhead(Generic[Item]):
    """An async stream's items, read in the loop ahead of the blocking code that
    takes them: a thread-safe buffer, so that taking an item that has arrived costs
    a lock, not a round trip into the loop.

    The reader stops when :data:`READ_AHEAD` items wait, and goes on when the taker
    has drained them to :data:`READ_AHEAD_LOW`: nothing is dropped, and a taker that
    stops taking stops the reading too. An item ``ahead`` refuses (a tool run's
    step boundaries: past them tools run and the next step is asked for) holds the
    reader until the taker asks for the next item. The stream's own exception is
    raised where it came, after the items before it; the reader stops there.
    """

    def __init__(self, loop: _Loop, ahead: Callable[[Any], bool] | None = None) -> None:
        self._loop = loop
        self._ahead = ahead
        self._items: deque[Any] = deque()
        self._ready = threading.Condition(threading.Lock())
        #: set when the reader waits: by the taker (in the loop) to let it go on
        self._wake: anyio.Event | None = None
        #: whether the reader waits for the taker to ask (not for room)
        self._held = False
        #: whether the reader may still change the stream (False once it has ended)
        self.reading = True

    async def fill(self, stream: AsyncIterator[Any]) -> None:
        """Read ``stream`` into the buffer (in the loop) until it ends or fails."""
        items, ready, ahead = self._items, self._ready, self._ahead
        try:
            if ahead is not None and not ahead(None):
                await self._pause(held=True)
            while True:
                item = await stream.__anext__()
                hold = ahead is not None and not ahead(item)
                with ready:
                    items.append(item)
                    ready.notify()
                    wake = None
                    if hold or len(items) >= READ_AHEAD:
                        wake = self._wake = anyio.Event()
                        self._held = hold
                if wake is not None:
                    await wake.wait()
        except StopAsyncIteration:
            self.end(None)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # SystemExit too (a tool's): raised where it came
            self.end(exc)

    async def _pause(self, *, held: bool) -> None:
        with self._ready:
            wake = self._wake = anyio.Event()
            self._held = held
            self._ready.notify_all()  # a taker waiting already asks at once
        await wake.wait()

    def end(self, error: BaseException | None) -> None:
        """Mark the end (``error``: the stream's exception); later calls do nothing."""
        with self._ready:
            if self.reading:
                self.reading = False
                self._items.append(_End(error))
                self._ready.notify_all()
            self._reader_gone()

    def close(self, error: BaseException | None = None) -> None:
        """The stream's block has been left (or its client closed: ``error``): what was
        read and not taken is dropped (iterating on ends at once, as the stream's own
        iteration does then, or raises ``error``)."""
        with self._ready:
            self.reading = False
            self._items.clear()
            self._items.append(_End(error))
            self._ready.notify_all()
            self._reader_gone()

    def _reader_gone(self) -> None:
        # The reader no longer waits to be let go on (it ended, or its task did): a
        # taker draining what was read must not ask the loop, which the client's
        # close may have ended (anyio's RunFinishedError, the rest of the items lost).
        self._wake = None
        self._held = False

    def take(self) -> Item:
        """The next item, waiting for it (in the calling thread)."""
        items, ready = self._items, self._ready
        while True:
            with ready:
                took = False
                if items:
                    first = items[0]
                    if type(first) is _End:
                        error, first.error = first.error, None
                        if error is not None:
                            raise error
                        raise StopIteration
                    item: Item = items.popleft()
                    took = True
                    wake = self._wake
                    if wake is None or self._held or len(items) > READ_AHEAD_LOW:
                        return item  # nearly every item
                else:
                    wake = self._wake
                    if wake is None:
                        ready.wait(_wait_slice())  # then looks again
                        continue
                self._wake = None
            try:
                self._loop.soon(wake.set)  # outside the lock: the reader takes it too
            except BaseException:  # interrupted: the next take asks again
                with ready:
                    if self._wake is None:
                        self._wake = wake
                raise
            if took:
                return item


async def _read_ahead(items: _ReadAhead[Any], stream: AsyncGenerator[Any, None]) -> None:
    """Read ``stream`` into ``items`` until it ends, fails, or the taker stops
    (cancelling this); then close it (what a batch's results are read with)."""
    try:
        await items.fill(stream)
    finally:
        items.end(None)  # cancelled: a taker still waiting gets StopIteration
        with anyio.CancelScope(shield=True):
            await stream.aclose()


class _BlockingIterator(Generic[Item]):
    """An async stream's ``async for`` for blocking code, its items read ahead in the
    client's loop (:class:`_ReadAhead`): what :class:`SyncStream`,
    :class:`SyncToolRunStream` and :class:`SyncAudioStream` share."""

    def __init__(self, loop: _Loop, items: _ReadAhead[Item]) -> None:
        self._loop = loop
        self._read = items

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        return self._read.take()

    def _now(self, get: Callable[[], Result]) -> Result:
        """``get()``, in the loop while the stream is being read there (it changes
        what ``get`` reads)."""
        if not self._read.reading:
            return get()

        async def read() -> Result:
            return get()

        return _call(self._loop, read)


class SyncStream(_BlockingIterator[StreamEvent]):
    """A streamed call for blocking code: ``with client.stream(...) as s: for event in s``.

    Its events are read ahead in the client's loop (at most 64 beyond the one
    taken), so ``response`` (and the call's record) after leaving early holds
    the events read, which may be more than the ones taken.
    """

    def __init__(self, loop: _Loop, items: _ReadAhead[StreamEvent], stream: ChatStream) -> None:
        super().__init__(loop, items)
        self._stream = stream

    @property
    def response(self) -> ChatResponse:
        """The response assembled from the stream (so far, while it is read)."""
        return self._now(lambda: self._stream.response)

    @property
    def text(self) -> str:
        """The text received so far (read ahead: see the class docstring)."""
        return self._now(lambda: self._stream.text)


class SyncToolRunStream(_BlockingIterator[StreamEvent | ToolRunEvent]):
    """A streamed tool run for blocking code: ``with client.stream_tools(...) as run:
    for event in run``, then ``run.run``.

    A step's stream events are read ahead in the client's loop; its tools run and
    the next step is asked for only once the loop has taken the step's events.
    """

    def __init__(
        self,
        loop: _Loop,
        items: _ReadAhead[StreamEvent | ToolRunEvent],
        stream: ToolRunStream,
    ) -> None:
        super().__init__(loop, items)
        self._stream = stream

    @property
    def run(self) -> ToolRun:
        """The run, as the async stream's ``run``."""
        return self._now(lambda: self._stream.run)

    @property
    def conversation_id(self) -> str:
        """The id every step's record carries."""
        return self._stream.conversation_id


class SyncAudioStream(_BlockingIterator[Piece], Generic[Piece, Result]):
    """A streamed speech or transcription for blocking code: ``with
    client.stream_speech(...) as audio: for chunk in audio`` (read ahead in the
    client's loop, as :class:`SyncStream`'s events)."""

    def __init__(
        self, loop: _Loop, items: _ReadAhead[Piece], stream: CallStream[Piece, Result]
    ) -> None:
        super().__init__(loop, items)
        self._stream = stream

    @property
    def response(self) -> Result:
        """The response, as the async stream's ``response``."""
        return self._now(lambda: self._stream.response)

    @property
    def time_to_first_chunk(self) -> float | None:
        """As the async stream's ``time_to_first_chunk`` (``None``: no piece came yet)."""
        return self._now(lambda: self._stream.time_to_first_chunk)


class SyncClient:
    """Blocking twin of :class:`relaykit.Client`; use ``with relaykit.SyncClient() as client:``.

    Takes the same arguments as :class:`relaykit.Client`, plus ``backend``
    (``"asyncio"`` or ``"trio"``) for the loop thread. One left open is closed at
    interpreter exit, or, once nothing refers to it, when garbage collected (with
    a ``ResourceWarning``): it is not kept alive until exit.
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        plugins: Iterable[object] = (),
        env: Mapping[str, str] | None = None,
        backend: str = "asyncio",
    ) -> None:
        check_backend(backend, f"SyncClient(backend={backend!r})")
        self._args = (config, tuple(plugins), env)
        self._backend = backend
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._loop: _Loop | None = None
        self._client: Client | None = None
        self._closed = False
        self._closing = threading.Lock()
        #: the readers of batch results still running, and what each reads into: the
        #: client's close stops them (an iterator kept unfinished would hold it)
        self._readers: dict[_Task[None], _ReadAhead[Any]] = {}
        #: while open: its token for the exit hook, and its close when collected
        #: unclosed (see unclosed_sync_clients.py)
        self._exit_token: int | None = None
        self._when_collected: weakref.finalize[..., object] | None = None
        after_fork_in_child(self, SyncClient._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: drop the parent's loop thread; the next call starts one here.

        The child has no thread running the parent's event loop, so a call handed
        to it would wait forever. The client itself stays (it resets itself: see
        :meth:`Client._forget_parent`) and is entered again in the child's loop.
        """
        if self._portal is None:
            return
        # Never left here: leaving would stop a loop thread that does not exist.
        leave_to_parent(self._stack, self._portal)
        if self._when_collected is not None:
            self._when_collected.detach()  # (the parent's stack: see _restart_in_child)
        self._stack = ExitStack()
        self._closing = threading.Lock()  # a parent thread may have held it
        self._readers = {}  # the parent's, in its loop
        self._portal = self._loop = None

    def _restart_in_child(self, client: Client) -> _Loop:
        portal = self._stack.enter_context(start_blocking_portal(self._backend))
        try:
            loop = self._stack.enter_context(_Held(portal, _Loop(portal)))
            self._stack.enter_context(_Held(portal, client))
        except BaseException:
            self._stack.close()
            self._portal = self._loop = None
            raise
        self._portal, self._loop = portal, loop
        self._when_collected = close_when_collected(self, self._stack, _cut_short(portal, client))
        return loop

    def __enter__(self) -> SyncClient:
        if self._backend == "trio" and _runs_trio():
            # trio refuses blocking calls into another trio run from a thread that
            # runs trio: the first call failed, and stopping the loop then hung.
            raise ConfigError(
                "SyncClient(backend='trio') cannot be used from a thread that runs trio",
                hint="use SyncClient(backend='asyncio') there, or `async with relaykit.Client()`",
            )
        if self._portal is not None and not self._closed:
            # A second client beside the first, both closed by the inner exit: the
            # outer block's calls then failed. (A forked child, whose loop thread is
            # the parent's, may enter it: a new client is built.)
            raise RelayError(
                "this SyncClient is already open: a nested `with client:` would "
                "close it for the enclosing block too",
                hint="use it as it is, or make a second one: relaykit.SyncClient(...)",
            )
        self._closed = False  # each entry builds a new client
        config, plugins, env = self._args
        self._portal = portal = self._stack.enter_context(start_blocking_portal(self._backend))
        client: Client | None = None
        try:
            # Entered before the client, so left after it: its close ends the calls
            # still running in the loop first, as it did the portal's.
            self._loop = self._stack.enter_context(_Held(portal, _Loop(portal)))
            # Built inside the loop thread: the client's locks and streams belong to that loop.
            client = self._portal.call(_build, config, plugins, env)
            self._client = self._stack.enter_context(_Held(portal, client))
        except BaseException:
            if client is not None and self._client is not client:
                # Built, not entered (Ctrl-C landing in between): the stack does
                # not hold it, so it is closed here, while the loop still runs.
                with suppress(Exception):
                    portal.call(client.aclose)
            self._stack.close()
            self._portal = self._loop = None  # not open: it may be entered again
            raise
        # Left open at exit: closed then, while the loop thread still runs (it is a
        # daemon thread, frozen once atexit is over), so queued records are written.
        # Before, the loop's generator was finalized after that and exit hung. Held
        # weakly: one dropped unclosed is closed when collected, with a warning.
        self._exit_token = remember_open(self)
        self._when_collected = close_when_collected(self, self._stack, _cut_short(portal, client))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = self._loop
        if loop is not None and threading.get_ident() == loop._thread:
            # Stopping the loop from inside it cannot end; before, it failed half-way
            # ("cannot join current thread"), the client refusing calls and never closed.
            raise ConfigError(
                "SyncClient.close was called from the client's own event loop thread "
                "(an async tool given to run_tools, or other async code the client runs), "
                "whose loop it would stop",
                hint="close the client where it was opened, once run_tools has returned "
                "(leave its `with relaykit.SyncClient()` block)",
            )
        if self._client is not None and part_of_work_in_flight(self._client):
            # A plain `def` tool, in a worker thread: the close would wait for the run
            # in flight, which waits for this tool ([timeouts] total, then forever).
            raise ConfigError(
                "SyncClient.close was called from a tool of a tool run in flight, "
                "which the close would wait for while the run waits for the tool",
                hint="close the client where it was opened, once run_tools has returned "
                "(leave its `with relaykit.SyncClient()` block)",
            )
        # One close at a time: another thread's (or atexit's) waits for this one to
        # end, as the async client's second aclose does, rather than leaving the
        # loop (cutting the calls this one still waits for) alongside it.
        with self._closing:
            self._closed = True
            if self._exit_token is not None:
                forget_open(self._exit_token)
                self._exit_token = None
            if self._when_collected is not None:
                self._when_collected.detach()
                self._when_collected = None
            try:
                self._stop_readers()
                self._through_the_portal(lambda: self._stack.__exit__(exc_type, exc, tb))
            finally:
                self._client = self._portal = self._loop = None

    def _close_at_exit(self) -> None:
        """:meth:`close`, at interpreter exit, without waiting for the calls in flight.

        Non-daemon threads have been joined by then: a call still in flight is
        a daemon thread's (or a stream's block that will never be left), which
        the interpreter is about to stop. Waiting ``[timeouts] total`` for it
        hung the exit (600 s unless set); it is ended at once, recorded as the
        close ends it (``ClientClosedError``), and queued records are written.
        """
        with self._closing:
            client, portal = self._client, self._portal
            if not self._closed and client is not None and portal is not None:
                self._through_the_portal(lambda: portal.call(_close_without_waiting, client))
        self.close()

    def _stop_readers(self) -> None:
        """Stop the batch results still being read, before the client closes: their
        iterators raise :class:`relaykit.ClientClosedError` from then on."""
        loop = self._loop
        readers = list(self._readers.items())
        self._readers.clear()
        if loop is None or not readers:
            return
        for reader, items in readers:
            items.close(
                ClientClosedError(
                    "this SyncClient was closed while its batch results were read",
                    hint="read them to the end inside `with relaykit.SyncClient()`",
                )
            )
            reader.cancel(loop)
        _wait_until_done(*(reader.future for reader, _ in readers))

    def close(self) -> None:
        """Close the client and stop the loop thread.

        As :meth:`relaykit.Client.aclose`: waits up to ``[timeouts] total`` for the
        calls in flight and the streams whose block is still open, then ends them
        (their callers and readers get :class:`relaykit.ClientClosedError`). From
        any thread, any number of times: a close while another runs returns once
        that one has closed the client. From a tool of one of its own tool runs it
        is a :class:`relaykit.ConfigError` (it would wait for itself).
        """
        self.__exit__(None, None, None)

    def _ready(self, method: str) -> tuple[_Loop, Client]:
        """The loop and client for a call of ``method``, refusing one the loop cannot take."""
        loop = self._loop
        if loop is not None and threading.get_ident() == loop._thread:
            # An async tool (or other async code handed to the client) runs in the
            # loop's own thread: blocking it to wait on that loop cannot end.
            raise ConfigError(
                f"SyncClient.{method} was called from the client's own event loop thread "
                "(an async tool given to run_tools, or other async code the client runs); "
                "a blocking call there would wait on the loop it blocks",
                hint=f"in async code, use an async relaykit.Client: {_async_form(method)}; "
                "or make the tool a plain `def`: SyncClient runs those in worker "
                "threads, where its calls work",
            )
        if self._closed and (self._client is None or not part_of_work_in_flight(self._client)):
            # (A tool's call while the close waits for its run is part of that run:
            # the client lets it through, or refuses it once it has shut down.)
            raise _client_closed()
        if self._portal is None and self._client is not None:  # a forked child's first call
            return self._restart_in_child(self._client), self._client
        if self._loop is None or self._client is None:
            raise RelayError(
                f"SyncClient.{method} was called on a client that was never opened",
                hint="use `with relaykit.SyncClient() as client:` (or call "
                "`client.__enter__()` once, and `client.close()` when done)",
            )
        return self._loop, self._client

    def mask_secret(self, value: Secret | str) -> None:
        """:meth:`relaykit.Client.mask_secret` (it does not block)."""
        self._ready("mask_secret")[1].mask_secret(value)

    def masked(self, text: str) -> str:
        """:meth:`relaykit.Client.masked` (it does not block)."""
        return self._ready("masked")[1].masked(text)

    @property
    def config(self) -> Config:
        """:attr:`relaykit.Client.config`: the settings the client was built with."""
        return self._ready("config")[1].config

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """:attr:`relaykit.Client.plugin_manager`: the plugins the client loaded."""
        return self._ready("plugin_manager")[1].plugin_manager

    @property
    def exporters(self) -> tuple[Exporter, ...]:
        """:attr:`relaykit.Client.exporters`: the exporters plugins contributed."""
        return self._ready("exporters")[1].exporters

    @property
    def queue_depth(self) -> int:
        """:attr:`relaykit.Client.queue_depth`, read in the client's event loop: call
        records waiting to be written to storage."""
        return self._read("queue_depth", lambda client: client.queue_depth)

    @property
    def cache_errors(self) -> int:
        """:attr:`relaykit.Client.cache_errors`, read in the client's event loop: the
        response cache's store lookups and writes that failed or were skipped."""
        return self._read("cache_errors", lambda client: client.cache_errors)

    def _read(self, name: str, get: Callable[[Client], Result]) -> Result:
        """``get(client)`` in the client's loop, where what it reads changes."""
        loop, client = self._ready(name)

        async def read() -> Result:
            return get(client)

        return _call(loop, read)

    def warm_up(self) -> None:
        """Blocking :meth:`relaykit.Client.warm_up`: import what the first call would
        (the HTTP stack) now, so that the first call does not wait for it."""
        loop, client = self._ready("warm_up")
        _call(loop, client.warm_up)

    def enter_async_context(self, manager: AbstractAsyncContextManager[Entered]) -> Entered:
        """Enter the async context manager ``manager`` in the client's event loop and
        return what it yields; it is left when the client closes, before the client.

        For what the client's calls use and must share its loop: an MCP
        server's connection, whose tools ``run_tools`` calls in that loop
        (``tools = client.enter_async_context(open_tools())``).
        """
        self._ready("enter_async_context")
        assert self._portal is not None
        wrapped = _Held(self._portal, manager)
        return self._through_the_portal(lambda: self._stack.enter_context(wrapped))

    def _through_the_portal(self, func: Callable[[], Result]) -> Result:
        """``func()``, which makes the portal's blocking calls: here, or from a thread
        of its own where trio refuses them (this thread runs trio, and so does the
        loop's). Before, close() then hung, and enter_async_context raised trio's
        RuntimeError."""
        if self._backend != "trio" or not _runs_trio():
            return func()
        done: list[Result] = []
        _in_a_thread_of_its_own(lambda: done.append(func()))
        return done[0]

    def chat(self, model: str, messages: Messages, **params: Any) -> ChatResponse:
        """Blocking :meth:`relaykit.Client.chat`."""
        loop, client = self._ready("chat")
        return _call(loop, lambda: client.chat(model, messages, **params))

    def run_tools(
        self,
        model: str,
        messages: Messages | ToolRun,
        tools: Iterable[Callable[..., Any] | FunctionTool | CachePoint | WebSearch],
        *,
        max_steps: int = 10,
        tool_errors: Literal["send", "raise"] = "send",
        **params: Any,
    ) -> ToolRun:
        """Blocking :meth:`relaykit.Client.run_tools`; the tools run in the client's
        event loop thread (async ones) or its worker threads (sync ones)."""
        loop, client = self._ready("run_tools")
        return _call(
            loop,
            lambda: client.run_tools(
                model, messages, tools, max_steps=max_steps, tool_errors=tool_errors, **params
            ),
        )

    def stream_tools(
        self,
        model: str,
        messages: Messages | ToolRun,
        tools: Iterable[Callable[..., Any] | FunctionTool | CachePoint | WebSearch],
        *,
        max_steps: int = 10,
        tool_errors: Literal["send", "raise"] = "send",
        **params: Any,
    ) -> AbstractContextManager[SyncToolRunStream]:
        """Blocking :meth:`relaykit.Client.stream_tools`: ``with client.stream_tools(...)
        as run: for event in run``; the tools run as :meth:`run_tools`' do."""
        loop, client = self._ready("stream_tools")
        stream = client.stream_tools(
            model, messages, tools, max_steps=max_steps, tool_errors=tool_errors, **params
        )
        return _SyncContext(loop, stream, SyncToolRunStream, "stream_tools")

    def stream(
        self, model: str, messages: Messages, **params: Any
    ) -> AbstractContextManager[SyncStream]:
        """Blocking :meth:`relaykit.Client.stream`: ``with client.stream(...) as s: for e in s``."""
        loop, client = self._ready("stream")
        return _SyncContext(loop, client.stream(model, messages, **params), SyncStream, "stream")

    def models(self, provider: str | None = None, *, refresh: bool = False) -> list[ModelInfo]:
        """Blocking :meth:`relaykit.Client.models`."""
        loop, client = self._ready("models")
        return _call(loop, lambda: client.models(provider, refresh=refresh))

    def count_tokens(self, model: str, messages: Messages, **params: Any) -> TokenCount:
        """Blocking :meth:`relaykit.Client.count_tokens`."""
        loop, client = self._ready("count_tokens")
        return _call(loop, lambda: client.count_tokens(model, messages, **params))

    def embed(self, model: str, inputs: str | Sequence[str], **params: Any) -> EmbeddingResponse:
        """Blocking :meth:`relaykit.Client.embed`."""
        loop, client = self._ready("embed")
        return _call(loop, lambda: client.embed(model, inputs, **params))

    def rerank(
        self, model: str, query: str, documents: Sequence[str], **params: Any
    ) -> RerankResponse:
        """Blocking :meth:`relaykit.Client.rerank`."""
        loop, client = self._ready("rerank")
        return _call(loop, lambda: client.rerank(model, query, documents, **params))

    def transcribe(
        self, model: str, audio: bytes | str | os.PathLike[str] | AudioFile, **params: Any
    ) -> TranscriptionResponse:
        """Blocking :meth:`relaykit.Client.transcribe`."""
        loop, client = self._ready("transcribe")
        return _call(loop, lambda: client.transcribe(model, audio, **params))

    def generate_image(self, model: str, prompt: str, **params: Any) -> ImageResponse:
        """Blocking :meth:`relaykit.Client.generate_image`."""
        loop, client = self._ready("generate_image")
        return _call(loop, lambda: client.generate_image(model, prompt, **params))

    def edit_image(
        self,
        model: str,
        prompt: str,
        image: EditableImage | Sequence[EditableImage] | None = None,
        mask: EditableImage | None = None,
        **params: Any,
    ) -> ImageResponse:
        """Blocking :meth:`relaykit.Client.edit_image` (a path is read in the client's
        event loop, not this thread)."""
        loop, client = self._ready("edit_image")
        return _call(loop, lambda: client.edit_image(model, prompt, image, mask, **params))

    def speak(self, model: str, text: str, **params: Any) -> SpeechResponse:
        """Blocking :meth:`relaykit.Client.speak`."""
        loop, client = self._ready("speak")
        return _call(loop, lambda: client.speak(model, text, **params))

    def moderate(self, model: str, input: str | Sequence[str], **params: Any) -> ModerationResponse:
        """Blocking :meth:`relaykit.Client.moderate`."""
        loop, client = self._ready("moderate")
        return _call(loop, lambda: client.moderate(model, input, **params))

    def submit_batch(
        self, model: str, items: Iterable[BatchItem | Mapping[str, Any]], **params: Any
    ) -> Batch:
        """Blocking :meth:`relaykit.Client.submit_batch`."""
        loop, client = self._ready("submit_batch")
        return _call(loop, lambda: client.submit_batch(model, items, **params))

    def batch(self, batch_id: str) -> Batch:
        """Blocking :meth:`relaykit.Client.batch`."""
        loop, client = self._ready("batch")
        return _call(loop, lambda: client.batch(batch_id))

    def cancel_batch(self, batch_id: str) -> Batch:
        """Blocking :meth:`relaykit.Client.cancel_batch`."""
        loop, client = self._ready("cancel_batch")
        return _call(loop, lambda: client.cancel_batch(batch_id))

    def batches(self, provider: str, *, limit: int = 20) -> list[Batch]:
        """Blocking :meth:`relaykit.Client.batches`."""
        loop, client = self._ready("batches")
        return _call(loop, lambda: client.batches(provider, limit=limit))

    def batch_results(self, batch_id: str) -> Generator[BatchResult, None, None]:
        """Blocking :meth:`relaykit.Client.batch_results`: ``for result in
        client.batch_results(id)``.

        The results are read ahead in the client's loop, as a stream's events are
        (at most 64 beyond the one taken), and each is priced and recorded as it
        is read: leaving early (``break``, ``close()``, Ctrl-C) stops the reading
        and closes the vendor's, and the results read ahead and not taken are
        recorded all the same (each under an id of the batch and its item, so
        reading them again records nothing twice). Closing the client stops an
        unfinished reading too; its iterator then raises
        :class:`relaykit.ClientClosedError`.
        """
        loop, client = self._ready("batch_results")
        items: _ReadAhead[BatchResult] = _ReadAhead(loop)
        reader = loop.start(lambda: _read_ahead(items, client.batch_results(batch_id)))
        self._readers[reader] = items
        try:
            while True:
                try:
                    yield items.take()
                except StopIteration:
                    return
        finally:
            self._readers.pop(reader, None)
            if not reader.future.done():
                try:
                    reader.cancel(loop)
                except RuntimeError:  # the loop has ended, and the reading with it
                    pass
                else:
                    # Dropped and collected in the loop's own thread, it cannot wait there.
                    if threading.get_ident() != loop._thread:
                        _wait_until_done(reader.future)  # quick; a second Ctrl-C stops it

    def stream_speech(
        self, model: str, text: str, **params: Any
    ) -> AbstractContextManager[SyncAudioStream[bytes, SpeechResponse]]:
        """Blocking :meth:`relaykit.Client.stream_speech`: ``with client.stream_speech(...)
        as audio: for chunk in audio``."""
        loop, client = self._ready("stream_speech")
        return _SyncContext(
            loop, client.stream_speech(model, text, **params), SyncAudioStream, "stream_speech"
        )

    def stream_transcription(
        self, model: str, audio: bytes | str | os.PathLike[str] | AudioFile, **params: Any
    ) -> AbstractContextManager[SyncAudioStream[str, TranscriptionResponse]]:
        """Blocking :meth:`relaykit.Client.stream_transcription`: ``with
        client.stream_transcription(...) as t: for delta in t``."""
        loop, client = self._ready("stream_transcription")
        return _SyncContext(
            loop,
            client.stream_transcription(model, audio, **params),
            SyncAudioStream,
            "stream_transcription",
        )


A = TypeVar("A")
S = TypeVar("S")


class _SyncContext(AbstractContextManager[S], Generic[A, S]):
    """An async stream's ``async with``, entered and left in one task of the loop (a
    tool run's task group must be left in the task that entered it), which reads
    the stream ahead meanwhile; what it hands out is the stream wrapped for
    blocking iteration (``wrap``).

    Unlike ``portal.wrap_async_context_manager``, a Ctrl-C (KeyboardInterrupt) in
    the waiting thread cancels the stream, as a cancelled task's ``async with``
    would be: recorded cancelled, its connection and limits handed back. Before,
    one while the stream opened left its task waiting for an exit that never came,
    and the client's close waited ``[timeouts] total`` for it. A stream entered
    and dropped without being left is cancelled when it is garbage-collected; one
    whose block is still open when the client closes is ended by the close.
    """

    def __init__(
        self,
        loop: _Loop,
        stream: AbstractAsyncContextManager[A],
        wrap: Callable[[_Loop, _ReadAhead[Any], A], S],
        method: str,
    ) -> None:
        self._loop = loop
        self._wrap = wrap
        self._method = method
        # A tool run's step boundaries hold its reader (see _ReadAhead).
        ahead = _within_a_step if wrap is SyncToolRunStream else None
        self._block = _StreamBlock(stream, _ReadAhead(loop, ahead))
        self._task: _Task[bool | None] | None = None
        self._entered = False

    def __enter__(self) -> S:
        if self._entered:
            # As the async stream refuses it. Before, the second block reused the
            # first one's ended stream: no events and no error.
            raise RelayError(
                "a stream is entered once, and this one was entered already",
                hint=f"make a new one for another call: call client.{self._method}(...) again",
            )
        self._entered = True
        block = self._block
        self._task = task = self._loop.start(block.run)
        try:
            value = _result(block.entered)
        except BaseException:
            if not task.future.done():  # interrupted while the stream opened
                task.cancel(self._loop)
                _wait_until(block.ended)
            self._task = None
            raise
        return self._wrap(self._loop, block.items, value)

    def __iter__(self) -> NoReturn:
        # `for chunk in client.stream(...)`, as the OpenAI SDK's streams are read:
        # nothing has been sent, and the stream needs its block to be left in.
        raise RelayError(
            f"iterate a stream inside `with client.{self._method}(...) as s:`",
            hint="enter it with `with`, then `for event in s:`; leaving the block "
            "closes its connection",
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task, self._task = self._task, None
        if task is None:
            return None
        block = self._block
        if block.cut:
            # The client closed under the block and ended its stream: nothing is
            # left to leave (the loop may have ended too).
            block.items.close()
            return None
        if threading.get_ident() == self._loop._thread:
            # Left in the loop's own thread: a generator around the block, in a
            # reference cycle, finalized there by the garbage collector. Waiting
            # on the loop from inside it hung the client; the block is left as
            # from any thread, and its end not waited for.
            block.exc_info = (exc_type, exc, tb)
            block.leave()
            return None
        if isinstance(exc, KeyboardInterrupt):
            # Ctrl-C: the stream ends as a cancelled task's does, not as one
            # whose caller's code failed.
            task.cancel(self._loop)
            _wait_until(block.ended)
            block.items.close()
            return None
        block.exc_info = (exc_type, exc, tb)
        try:
            self._loop.soon(block.leave)
            return _result(task.future)
        except BaseException:
            if not task.future.done():  # interrupted while the stream closed
                task.cancel(self._loop)
                _wait_until(block.ended)
            elif block.cut:  # the client closed meanwhile, as above
                block.items.close()
                return None
            raise

    def __del__(self) -> None:
        # Entered and never left (the block's frame dropped, or `__enter__()` called
        # by hand): end the stream rather than hold its connection and keep the
        # client's close waiting for it. Asking for it is safe from any thread.
        task = getattr(self, "_task", None)
        if task is not None:
            with suppress(Exception):  # the loop has ended (and the stream with it)
                task.cancel(self._loop)


def _within_a_step(item: object) -> bool:
    """Whether a tool run's reader may read on past ``item`` (None: the start)
    before the blocking code asks: within a step's stream only, not past a step's
    start, end or tool result (tools would run and the next step be asked for
    before the code saw the step end, or left the block)."""
    return item is not None and not isinstance(item, ToolRunEvent)


class _StreamBlock(Generic[A]):
    """What the loop's task of a :class:`_SyncContext` shares with it; apart from it,
    so that the running task does not keep the handle alive (its ``__del__`` ends
    a stream dropped without being left)."""

    def __init__(self, stream: AbstractAsyncContextManager[A], items: _ReadAhead[Any]) -> None:
        self.stream = stream
        self.items = items
        self.entered: Future[A] = Future()
        self.ended = threading.Event()
        self.exc_info: tuple[Any, Any, Any] = (None, None, None)
        #: whether it ended before the caller left the block (set once ``ended`` is)
        self.cut = False
        self._reading: anyio.CancelScope | None = None
        self._left: anyio.Event

    async def run(self) -> bool | None:
        """Enter the stream, read it ahead until the caller's block ends, leave it."""
        leave = self._left = anyio.Event()
        try:
            try:
                value = await self.stream.__aenter__()
            except anyio.get_cancelled_exc_class():
                # Interrupted (the caller raises its own), or the client closed.
                self.entered.set_exception(_closed_under_it())
                raise
            except BaseException as exc:
                self.entered.set_exception(exc)
                raise
            # Made before `entered` is set: the caller's exit cancels it.
            self._reading = reading = anyio.CancelScope()
            self.entered.set_result(value)
            try:
                with reading:
                    await self.items.fill(value)  # type: ignore[arg-type]
                await leave.wait()
            except BaseException as exc:  # cancelled: the caller was interrupted
                if not await self.stream.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
                return None
            return await self.stream.__aexit__(*self.exc_info)
        finally:
            if leave.is_set():
                self.items.close()  # a taker still waiting gets StopIteration
            else:
                # Cancelled with the block open: the client closed under it (or
                # the caller was interrupted, and closes the items itself). What
                # was read stays; then, unless the stream ended first (with the
                # client's ClientClosedError, most likely), the reader gets this.
                self.cut = True
                self.items.end(_closed_under_it())
            self.ended.set()

    def leave(self) -> None:
        """The caller's block has ended (in the loop): stop reading, leave the stream."""
        if self._reading is not None:
            self._reading.cancel()
        self._left.set()


def _runs_trio() -> bool:
    """Whether this thread runs trio (looked up, never imported: core code is
    backend-neutral; if trio is not imported, nothing here runs it)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def _in_a_thread_of_its_own(func: Callable[[], object]) -> None:
    """``func()`` in a new thread, waited for; its exception raised here."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            func()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, name="relaykit SyncClient portal call")
    thread.start()
    thread.join()
    if raised:
        raise raised[0]


#: the members of SyncClient that are properties (as the async client's are)
_PROPERTIES = frozenset(
    name for name, value in vars(SyncClient).items() if isinstance(value, property)
)


def _async_form(method: str) -> str:
    """How async code makes the call ``SyncClient.<method>`` makes."""
    if method == "enter_async_context":
        return "`async with manager:` (or an AsyncExitStack)"
    if method.startswith("stream"):
        return f"`async with client.{method}(...)`"
    if method in _PROPERTIES:
        return f"`client.{method}`"
    if method == "batch_results":
        return "`async for result in client.batch_results(...)`"
    return f"`await client.{method}(...)`"


async def _close_without_waiting(client: Client) -> None:
    """``client.aclose()`` with its wait for the calls in flight cut short (the
    closing itself is not: calls still running are ended and recorded)."""
    with anyio.CancelScope() as scope:
        scope.cancel()
        await client.aclose()


def _cut_short(portal: BlockingPortal, client: Client) -> Callable[[], None]:
    """What ends the wait for the calls in flight of a collected client's close,
    at exit (without a reference to its SyncClient)."""
    return lambda: portal.call(_close_without_waiting, client)


async def _build(config: Any, plugins: tuple[object, ...], env: Mapping[str, str] | None) -> Client:
    return Client(config, plugins=plugins, env=env)
