"""A blocking facade over :class:`relaykit.Client`, for scripts and notebooks.

One event loop runs in a background thread (an anyio blocking portal); every
method hands its coroutine to it. There is no second implementation to drift.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, AbstractContextManager, ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .client import Client, Messages
from .config import Config
from .embeddings import EmbeddingResponse
from .errors import ClientClosedError, ConfigError
from .events import StreamEvent, ToolRunEvent
from .fork_safety import after_fork_in_child, leave_to_parent
from .image_generation import ImageResponse
from .moderation import ModerationResponse
from .rerank import RerankResponse
from .response import ChatResponse, ModelInfo, TokenCount
from .speech import SpeechResponse
from .stream import ChatStream
from .transcription import TranscriptionResponse

if TYPE_CHECKING:
    from .audio import AudioFile
    from .batches import Batch, BatchItem, BatchResult
    from .call_stream import CallStream
    from .function_tools import FunctionTool
    from .messages import CachePoint
    from .tool_loop import ToolRunStream
    from .tool_runs import ToolRun

Item = TypeVar("Item")
Piece = TypeVar("Piece")
Result = TypeVar("Result")
Entered = TypeVar("Entered")


def _call(portal: BlockingPortal, func: Callable[[], Awaitable[Result]]) -> Result:
    """``portal.call(func)``, except when this thread is interrupted meanwhile (Ctrl-C's
    KeyboardInterrupt, or an exception a signal handler raises): then the call is
    cancelled in the loop, as a cancelled task's would be (recorded cancelled, its
    limits and connection handed back), and the interrupt propagates once it has
    ended. ``portal.call`` alone left it running, unseen, with what it held."""
    ended = threading.Event()

    async def run() -> Result:
        try:
            return await func()
        finally:
            ended.set()

    future = portal.start_task_soon(run)
    try:
        return future.result()
    except BaseException:
        if future.cancel():  # still running, so the waiting was interrupted
            ended.wait()  # cancellation is quick; a second Ctrl-C stops the wait
        raise


class _BlockingIterator(Generic[Item]):
    """An async stream's ``async for``, one item at a time through the client's portal:
    what :class:`SyncStream`, :class:`SyncToolRunStream` and :class:`SyncAudioStream`
    share."""

    def __init__(self, portal: BlockingPortal, stream: AsyncIterator[Item]) -> None:
        self._portal = portal
        self._items = stream

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        try:
            return _call(self._portal, self._items.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None


class SyncStream(_BlockingIterator[StreamEvent]):
    """A streamed call for blocking code: ``with client.stream(...) as s: for event in s``."""

    def __init__(self, portal: BlockingPortal, stream: ChatStream) -> None:
        super().__init__(portal, stream)
        self._stream = stream

    @property
    def response(self) -> ChatResponse:
        """The response assembled from the stream."""
        return self._stream.response


class SyncToolRunStream(_BlockingIterator[StreamEvent | ToolRunEvent]):
    """A streamed tool run for blocking code: ``with client.stream_tools(...) as run:
    for event in run``, then ``run.run``."""

    def __init__(self, portal: BlockingPortal, stream: ToolRunStream) -> None:
        super().__init__(portal, stream)
        self._stream = stream

    @property
    def run(self) -> ToolRun:
        """The run, as the async stream's ``run``."""
        return self._stream.run

    @property
    def conversation_id(self) -> str:
        """The id every step's record carries."""
        return self._stream.conversation_id


class SyncAudioStream(_BlockingIterator[Piece], Generic[Piece, Result]):
    """A streamed speech or transcription for blocking code: ``with
    client.stream_speech(...) as audio: for chunk in audio``."""

    def __init__(self, portal: BlockingPortal, stream: CallStream[Piece, Result]) -> None:
        super().__init__(portal, stream)
        self._stream = stream

    @property
    def response(self) -> Result:
        """The response, as the async stream's ``response``."""
        return self._stream.response


class SyncClient:
    """Blocking twin of :class:`relaykit.Client`; use ``with relaykit.SyncClient() as client:``.

    Takes the same arguments as :class:`relaykit.Client`, plus ``backend``
    (``"asyncio"`` or ``"trio"``) for the loop thread. Its methods block, so they
    are refused (:class:`~relaykit.ConfigError`) in that loop thread itself, where
    an async tool given to ``run_tools`` runs: a sync tool (a plain ``def``) runs
    in a worker thread and may call them.
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        plugins: Iterable[object] = (),
        env: Mapping[str, str] | None = None,
        backend: str = "asyncio",
    ) -> None:
        self._args = (config, tuple(plugins), env)
        self._backend = backend
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._client: Client | None = None
        self._loop_thread: int | None = None  # the ident of the thread running the loop
        self._closed = False
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
        self._stack = ExitStack()
        self._portal = None
        self._loop_thread = None

    def _restart_in_child(self, client: Client) -> BlockingPortal:
        portal = self._stack.enter_context(start_blocking_portal(self._backend))
        try:
            self._loop_thread = portal.call(threading.get_ident)
            self._stack.enter_context(portal.wrap_async_context_manager(client))
        except BaseException:
            self._stack.close()
            self._portal = self._loop_thread = None
            raise
        self._portal = portal
        return portal

    def __enter__(self) -> SyncClient:
        if self._backend == "trio" and _runs_trio():
            # trio refuses blocking calls into another trio run from a thread that
            # runs trio: the first call failed, and stopping the loop then hung.
            raise ConfigError(
                "SyncClient(backend='trio') cannot be used from a thread that runs trio",
                hint="use SyncClient(backend='asyncio') there, or `async with relaykit.Client()`",
            )
        self._closed = False  # each entry builds a new client
        config, plugins, env = self._args
        self._portal = self._stack.enter_context(start_blocking_portal(self._backend))
        try:
            # Built inside the loop thread: the client's locks and streams belong to that loop.
            client, self._loop_thread = self._portal.call(_build, config, plugins, env)
            self._client = self._stack.enter_context(
                self._portal.wrap_async_context_manager(client)
            )
        except BaseException:
            self._stack.close()
            self._portal = self._loop_thread = None
            raise
        # Left open at exit: closed then, while the loop thread still runs (it is a
        # daemon thread, frozen once atexit is over), so queued records are written.
        # Before, the loop's generator was finalized after that and exit hung.
        atexit.register(self.close)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        atexit.unregister(self.close)
        try:
            self._stack.__exit__(exc_type, exc, tb)
        finally:
            self._client = self._portal = None
            self._loop_thread = None

    def close(self) -> None:
        """Close the client and stop the loop thread."""
        self.__exit__(None, None, None)

    def _ready(self, method: str) -> tuple[BlockingPortal, Client]:
        """The portal and client for a call of ``method``, refusing one the loop cannot take."""
        if self._loop_thread is not None and threading.get_ident() == self._loop_thread:
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
        if self._closed:
            raise ClientClosedError(
                "this SyncClient is closed",
                hint="make the call inside `with relaykit.SyncClient() as client:`, "
                "or enter this client again (a new client is built)",
            )
        if self._portal is None and self._client is not None:  # a forked child's first call
            return self._restart_in_child(self._client), self._client
        if self._portal is None or self._client is None:
            raise RuntimeError("use `with relaykit.SyncClient() as client:`")
        return self._portal, self._client

    def enter_async_context(self, manager: AbstractAsyncContextManager[Entered]) -> Entered:
        """Enter the async context manager ``manager`` in the client's event loop and
        return what it yields; it is left when the client closes, before the client.

        For what the client's calls use and must share its loop: an MCP
        server's connection, whose tools ``run_tools`` calls in that loop
        (``tools = client.enter_async_context(open_tools())``).
        """
        portal, _ = self._ready("enter_async_context")
        return self._stack.enter_context(portal.wrap_async_context_manager(manager))

    def chat(self, model: str, messages: Messages, **params: Any) -> ChatResponse:
        """Blocking :meth:`relaykit.Client.chat`."""
        portal, client = self._ready("chat")
        return _call(portal, lambda: client.chat(model, messages, **params))

    def run_tools(
        self,
        model: str,
        messages: Messages,
        tools: Iterable[Callable[..., Any] | FunctionTool | CachePoint],
        *,
        max_steps: int = 10,
        tool_errors: Literal["send", "raise"] = "send",
        **params: Any,
    ) -> ToolRun:
        """Blocking :meth:`relaykit.Client.run_tools`; the tools run in the client's
        event loop thread (async ones) or its worker threads (sync ones)."""
        portal, client = self._ready("run_tools")
        return _call(
            portal,
            lambda: client.run_tools(
                model, messages, tools, max_steps=max_steps, tool_errors=tool_errors, **params
            ),
        )

    def stream_tools(
        self,
        model: str,
        messages: Messages,
        tools: Iterable[Callable[..., Any] | FunctionTool | CachePoint],
        *,
        max_steps: int = 10,
        tool_errors: Literal["send", "raise"] = "send",
        **params: Any,
    ) -> AbstractContextManager[SyncToolRunStream]:
        """Blocking :meth:`relaykit.Client.stream_tools`: ``with client.stream_tools(...)
        as run: for event in run``; the tools run as :meth:`run_tools`' do."""
        portal, client = self._ready("stream_tools")
        stream = client.stream_tools(
            model, messages, tools, max_steps=max_steps, tool_errors=tool_errors, **params
        )
        return _SyncContext(portal, stream, SyncToolRunStream)

    def stream(
        self, model: str, messages: Messages, **params: Any
    ) -> AbstractContextManager[SyncStream]:
        """Blocking :meth:`relaykit.Client.stream`: ``with client.stream(...) as s: for e in s``."""
        portal, client = self._ready("stream")
        return _SyncContext(portal, client.stream(model, messages, **params), SyncStream)

    def models(self, provider: str | None = None, *, refresh: bool = False) -> list[ModelInfo]:
        """Blocking :meth:`relaykit.Client.models`."""
        portal, client = self._ready("models")
        return _call(portal, lambda: client.models(provider, refresh=refresh))

    def count_tokens(self, model: str, messages: Messages, **params: Any) -> TokenCount:
        """Blocking :meth:`relaykit.Client.count_tokens`."""
        portal, client = self._ready("count_tokens")
        return _call(portal, lambda: client.count_tokens(model, messages, **params))

    def embed(self, model: str, inputs: str | Sequence[str], **params: Any) -> EmbeddingResponse:
        """Blocking :meth:`relaykit.Client.embed`."""
        portal, client = self._ready("embed")
        return _call(portal, lambda: client.embed(model, inputs, **params))

    def rerank(
        self, model: str, query: str, documents: Sequence[str], **params: Any
    ) -> RerankResponse:
        """Blocking :meth:`relaykit.Client.rerank`."""
        portal, client = self._ready("rerank")
        return _call(portal, lambda: client.rerank(model, query, documents, **params))

    def transcribe(
        self, model: str, audio: bytes | str | os.PathLike[str] | AudioFile, **params: Any
    ) -> TranscriptionResponse:
        """Blocking :meth:`relaykit.Client.transcribe`."""
        portal, client = self._ready("transcribe")
        return _call(portal, lambda: client.transcribe(model, audio, **params))

    def generate_image(self, model: str, prompt: str, **params: Any) -> ImageResponse:
        """Blocking :meth:`relaykit.Client.generate_image`."""
        portal, client = self._ready("generate_image")
        return _call(portal, lambda: client.generate_image(model, prompt, **params))

    def edit_image(
        self, model: str, prompt: str, image: Any = None, mask: Any = None, **params: Any
    ) -> ImageResponse:
        """Blocking :meth:`relaykit.Client.edit_image` (a path is read in the client's
        event loop, not this thread)."""
        portal, client = self._ready("edit_image")
        return _call(portal, lambda: client.edit_image(model, prompt, image, mask, **params))

    def speak(self, model: str, text: str, **params: Any) -> SpeechResponse:
        """Blocking :meth:`relaykit.Client.speak`."""
        portal, client = self._ready("speak")
        return _call(portal, lambda: client.speak(model, text, **params))

    def moderate(self, model: str, input: str | Sequence[str], **params: Any) -> ModerationResponse:
        """Blocking :meth:`relaykit.Client.moderate`."""
        portal, client = self._ready("moderate")
        return _call(portal, lambda: client.moderate(model, input, **params))

    def submit_batch(
        self, model: str, items: Iterable[BatchItem | Mapping[str, Any]], **params: Any
    ) -> Batch:
        """Blocking :meth:`relaykit.Client.submit_batch`."""
        portal, client = self._ready("submit_batch")
        return _call(portal, lambda: client.submit_batch(model, items, **params))

    def batch(self, batch_id: str) -> Batch:
        """Blocking :meth:`relaykit.Client.batch`."""
        portal, client = self._ready("batch")
        return _call(portal, lambda: client.batch(batch_id))

    def cancel_batch(self, batch_id: str) -> Batch:
        """Blocking :meth:`relaykit.Client.cancel_batch`."""
        portal, client = self._ready("cancel_batch")
        return _call(portal, lambda: client.cancel_batch(batch_id))

    def batches(self, provider: str, *, limit: int = 20) -> list[Batch]:
        """Blocking :meth:`relaykit.Client.batches`."""
        portal, client = self._ready("batches")
        return _call(portal, lambda: client.batches(provider, limit=limit))

    def batch_results(self, batch_id: str) -> Iterator[BatchResult]:
        """Blocking :meth:`relaykit.Client.batch_results`: ``for result in
        client.batch_results(id)``, each read from the vendor as the loop asks."""
        portal, client = self._ready("batch_results")
        results = client.batch_results(batch_id)
        try:
            while True:
                try:
                    yield _call(portal, results.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            _call(portal, results.aclose)

    def stream_speech(
        self, model: str, text: str, **params: Any
    ) -> AbstractContextManager[SyncAudioStream[bytes, SpeechResponse]]:
        """Blocking :meth:`relaykit.Client.stream_speech`: ``with client.stream_speech(...)
        as audio: for chunk in audio``."""
        portal, client = self._ready("stream_speech")
        return _SyncContext(portal, client.stream_speech(model, text, **params), SyncAudioStream)

    def stream_transcription(
        self, model: str, audio: bytes | str | os.PathLike[str] | AudioFile, **params: Any
    ) -> AbstractContextManager[SyncAudioStream[str, TranscriptionResponse]]:
        """Blocking :meth:`relaykit.Client.stream_transcription`: ``with
        client.stream_transcription(...) as t: for delta in t``."""
        portal, client = self._ready("stream_transcription")
        return _SyncContext(
            portal, client.stream_transcription(model, audio, **params), SyncAudioStream
        )


A = TypeVar("A")
S = TypeVar("S")


class _SyncContext(AbstractContextManager[S], Generic[A, S]):
    """An async stream's ``async with``, entered and left through the portal in one
    task of the loop (a tool run's task group must be left in the task that entered
    it); what it hands out is the stream wrapped for blocking iteration (``wrap``).

    Unlike ``portal.wrap_async_context_manager``, a Ctrl-C (KeyboardInterrupt) in
    the waiting thread cancels the stream, as a cancelled task's ``async with``
    would be: recorded cancelled, its connection and limits handed back. Before,
    one while the stream opened left its task waiting for an exit that never came,
    and the client's close waited ``[timeouts] total`` for it. A stream entered
    and dropped without being left is cancelled when it is garbage-collected.
    """

    def __init__(
        self,
        portal: BlockingPortal,
        stream: AbstractAsyncContextManager[A],
        wrap: Callable[[BlockingPortal, A], S],
    ) -> None:
        self._portal = portal
        self._wrap = wrap
        self._block = _StreamBlock(stream)
        self._task: Future[bool | None] | None = None

    def __enter__(self) -> S:
        block = self._block
        self._task = task = self._portal.start_task_soon(block.run)
        try:
            value = block.entered.result()
        except BaseException:
            if task.cancel():  # interrupted while the stream opened
                block.ended.wait()
            self._task = None
            raise
        return self._wrap(self._portal, value)

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
        if isinstance(exc, KeyboardInterrupt):
            # Ctrl-C: the stream ends as a cancelled task's does, not as one
            # whose caller's code failed.
            task.cancel()
            block.ended.wait()
            return None
        block.exc_info = (exc_type, exc, tb)
        try:
            self._portal.call(block.leave.set)
            return task.result()
        except BaseException:
            if task.cancel():  # interrupted while the stream closed
                block.ended.wait()
            raise

    def __del__(self) -> None:
        # Entered and never left (the block's frame dropped, or `__enter__()` called
        # by hand): end the stream rather than hold its connection and keep the
        # client's close waiting for it. Cancelling a future is safe from any thread.
        task = getattr(self, "_task", None)
        if task is not None:
            task.cancel()


class _StreamBlock(Generic[A]):
    """What the loop's task of a :class:`_SyncContext` shares with it; apart from it,
    so that the running task does not keep the handle alive (its ``__del__`` ends
    a stream dropped without being left)."""

    def __init__(self, stream: AbstractAsyncContextManager[A]) -> None:
        self.stream = stream
        self.entered: Future[A] = Future()
        self.ended = threading.Event()
        self.exc_info: tuple[Any, Any, Any] = (None, None, None)
        self.leave: anyio.Event

    async def run(self) -> bool | None:
        """Enter the stream, wait for the caller's block to end, leave it."""
        self.leave = anyio.Event()  # made before `entered` is set: __exit__ sets it
        try:
            try:
                value = await self.stream.__aenter__()
            except BaseException as exc:
                self.entered.set_exception(exc)
                raise
            self.entered.set_result(value)
            try:
                await self.leave.wait()
            except BaseException as exc:  # cancelled: the caller was interrupted
                if not await self.stream.__aexit__(type(exc), exc, exc.__traceback__):
                    raise
                return None
            return await self.stream.__aexit__(*self.exc_info)
        finally:
            self.ended.set()


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


def _async_form(method: str) -> str:
    """How async code makes the call ``SyncClient.<method>`` makes."""
    if method == "enter_async_context":
        return "`async with manager:` (or an AsyncExitStack)"
    if method.startswith("stream"):
        return f"`async with client.{method}(...)`"
    if method == "batch_results":
        return "`async for result in client.batch_results(...)`"
    return f"`await client.{method}(...)`"


async def _build(
    config: Any, plugins: tuple[object, ...], env: Mapping[str, str] | None
) -> tuple[Client, int]:
    """The client, built in the loop thread, and that thread's ident."""
    return Client(config, plugins=plugins, env=env), threading.get_ident()
