"""``relaykit gateway --workers N``: N processes answering on one listening socket.

The parent process checks the settings, binds the socket (so ``--port 0``
reports the port it got, once), and starts each worker with the ``spawn``
start method: a fresh interpreter that inherits nothing of the parent but the
socket, a pipe back to it, the environment and the working directory. Each
worker builds its own :class:`relaykit.Client` from the same configuration
(``--config``, ``$RELAYKIT_CONFIG``, ...), its own :class:`~relaykit_gateway.Gateway`,
and serves the shared socket on its own event loop (``--backend``); the kernel
hands each new connection to one of them.

The parent supervises:

- SIGINT or SIGTERM: it sends each worker SIGTERM, and each drains as a single
  gateway does (new requests get a 503 and idle connections close while the
  calls in flight get up to ``--graceful-timeout`` seconds to finish, then its
  client writes out its call log, within ``[storage] close_timeout``); the
  parent exits 0 once every worker has. A worker still running past both and a
  margin (:func:`stop_seconds`) is killed, and the exit code is 1. A second
  SIGINT or SIGTERM kills the workers at once (calls in flight and call log
  records not yet written are lost), says so on stderr, and exits 1.
- a worker that exits on its own (a crash, or killed) is reported and the
  whole gateway stops, draining the others, and exits non-zero: a worker is
  not restarted. Whatever made it fail (a plugin, memory, a bug) would likely
  make its replacement fail too, and a gateway that quietly runs with fewer
  workers, or restarts one in a loop, hides that; the service manager that
  started the gateway (systemd, Kubernetes, ...) sees the exit and restarts
  the whole gateway, as it would a single process.

Workers ignore SIGINT: a Ctrl-C on the terminal reaches every process of the
group, and only the parent decides what it means.

State that lives in a process's memory would differ between workers, so
:func:`check_shared_state` refuses settings where that gives wrong answers
(see its docstring).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import anyio
import attrs

from relaykit import Client, Config, ConfigError, RelayError
from relaykit.config import BUILT_IN_CACHE_BACKENDS, load_config

from .keys import GatewayKeys
from .sealed_entries import seals

logger = logging.getLogger("relaykit.gateway")

#: how long the parent waits for every worker to be serving before it gives up
START_SECONDS = 60.0
#: what stopping may take beyond the grace period and the call log's close_timeout
_EXIT_MARGIN = 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_shared_state(config: Config, keys: GatewayKeys, workers: int) -> None:
    """Refuse, with a :class:`~relaykit.ConfigError` that names the fix, settings whose
    per-process state would make ``workers`` processes answer wrongly:

    - kept Responses API conversations (``previous_response_id``, ``GET`` and
      ``DELETE /v1/responses/{id}``) in each worker's memory: a caller whose next
      request reaches another worker would get a 404 for a response it was just
      given. They are shared through relaykit's shared cache (``[cache] backend =
      "redis"``), sealed under each gateway key (without keys: under
      ``$RELAYKIT_MASTER_KEY``).
    - ``[limits]`` kept by the in-memory limiter: each worker would count alone,
      so every rate and ``budget_usd`` would let through ``workers`` times what
      it says. ``[limiter] backend = "redis"`` counts them together.
    - ``[exporters.prometheus] port``: one port, one worker's metrics server; the
      others would fail to start.

    What is left per worker is harmless: circuit breakers and the model list
    learn on their own in each worker; the response cache lives in the shared
    store the first check asks for; uploaded files are on disk, shared.
    """
    if workers <= 1:
        return
    if config.cache.backend in BUILT_IN_CACHE_BACKENDS:
        raise ConfigError(
            f"with --workers {workers}, kept Responses API conversations would live in each"
            f" worker's memory (cache backend {config.cache.backend!r}), and a caller"
            " continuing one on another worker would get a 404",
            hint='set [cache] backend = "redis" (pip install relaykit-redis) so the workers'
            " share them, or run one worker",
        )
    if not keys and None not in seals(keys):
        raise ConfigError(
            f"with --workers {workers} and no gateway keys, kept Responses API conversations"
            " would stay in each worker's memory: they are shared only sealed under a key",
            hint="set RELAYKIT_MASTER_KEY (see relaykit keys) or RELAYKIT_GATEWAY_KEYS",
        )
    metrics_port = config.exporters.get("prometheus", {}).get("port")
    if metrics_port is not None:
        raise ConfigError(
            f"with --workers {workers}, each worker would serve Prometheus metrics on port"
            f" {metrics_port}, and only the first can",
            hint="run one worker to scrape [exporters.prometheus], or send metrics to a"
            " collector (relaykit-otlp, relaykit-statsd) that adds up the workers'",
        )
    if config.limits and config.limiter.backend == "memory":
        raise ConfigError(
            f"with --workers {workers}, each worker would count [limits] on its own, letting"
            f" through {workers} times each rate and budget",
            hint='set [limiter] backend = "redis" (pip install relaykit-redis) so the workers'
            " share them, or run one worker",
        )


@attrs.frozen
class WorkerPlan:
    """What a worker needs to build its gateway as the parent would have (picklable)."""

    #: ``--config``, or ``None`` for the usual lookup (env, ./relaykit.toml, ...)
    config: str | None
    backend: str
    host: str
    #: ``--cors-origin`` values, or ``None`` for ``$RELAYKIT_GATEWAY_CORS_ORIGINS``
    cors_origins: tuple[str, ...] | None
    log_level: int
    log_json: bool
    plugins: tuple[object, ...] = ()
    #: ``--graceful-timeout``: how long a stopping worker waits for its calls in flight
    graceful_timeout: float = attrs.field(kw_only=True)
    #: ``[storage] close_timeout``: how long its client may then take to write the call log
    close_timeout: float = attrs.field(kw_only=True)


@attrs.define
class _Worker:
    number: int
    process: Any  # multiprocessing's SpawnProcess (its type is private)
    pipe: Connection
    ready: bool = False


def supervise(plan: WorkerPlan, sock: socket.socket, workers: int, banner: str) -> int:
    """Run ``workers`` gateway processes on ``sock`` until SIGINT or SIGTERM; the exit code.

    ``banner`` (with ``{url}`` and ``{workers}`` in it) is printed once every
    worker serves. Blocks the calling thread, which must be the main one.
    """
    context = multiprocessing.get_context("spawn")
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)

    # Signals wait (blocked, not lost) while workers start: a worker inherits the
    # mask, so nothing stops it half-built; it unblocks them once its handlers are in.
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    previous = {s: signal.signal(s, on_signal) for s in _STOP_SIGNALS}
    previous_wakeup = signal.set_wakeup_fd(wake_write.fileno())
    started: list[_Worker] = []
    try:
        try:
            for number in range(1, workers + 1):
                ours, theirs = context.Pipe(duplex=False)
                try:
                    process = context.Process(
                        target=worker_main,
                        args=(plan, sock, theirs, os.getpid(), number),
                        name=f"relaykit-gateway-worker-{number}",
                    )
                    process.start()
                except BaseException:
                    # Not started (no process or descriptor left, a plugin that does
                    # not pickle): its pipe is in no _Worker for the cleanup below.
                    ours.close()
                    raise
                finally:
                    theirs.close()  # the worker holds its own copy, if it started
                started.append(_Worker(number, process, ours))
        finally:
            sock.close()  # the workers hold their own copies
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return _watch(started, received, wake_read, plan, banner)
    finally:
        for worker in started:
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.pipe.close()
            worker.process.close()  # its sentinel, a pipe too (it has exited: see above)
        signal.set_wakeup_fd(previous_wakeup)
        for s, handler in previous.items():
            signal.signal(s, handler)
        wake_read.close()
        wake_write.close()


def _watch(
    workers: list[_Worker],
    received: list[int],
    wake: socket.socket,
    plan: WorkerPlan,
    banner: str,
) -> int:
    deadline = time.monotonic() + START_SECONDS
    url = ""
    while not all(w.ready for w in workers):
        if received:
            return _stop(workers, received, wake, plan, "relaykit gateway: stopping")
        waiting = [w.pipe for w in workers if not w.ready]
        dead = [w.process.sentinel for w in workers]
        left = deadline - time.monotonic()
        if left <= 0:
            print(
                f"error: the gateway's workers did not start in {START_SECONDS:.0f} s",
                file=sys.stderr,
            )
            return _stop(workers, received, wake, plan, None) or 1
        for ready in wait([*waiting, *dead, wake], timeout=left):
            if ready is wake:
                _drain(wake)
                continue
            worker = next((w for w in workers if ready in (w.pipe, w.process.sentinel)), None)
            if worker is None:
                continue
            message = _receive(worker.pipe) if ready is worker.pipe else None
            if message is not None and message[0] == "ready":
                worker.ready = True
                url = message[1]
                continue
            # a worker that could not start: its one error line, then stop the rest
            line = message[1] if message is not None else f"worker {_exit_note(worker)}"
            print(f"error: {line}", file=sys.stderr, flush=True)
            _stop(workers, received, wake, plan, None)
            return 1
    pids = ", ".join(str(w.process.pid) for w in workers)
    print(banner.format(url=url, workers=f"{len(workers)} workers (pids {pids})"), flush=True)
    while True:
        ready_now = wait([*(w.process.sentinel for w in workers), wake])
        if received:
            note = "relaykit gateway: stopping; calls in flight finish first"
            return _stop(workers, received, wake, plan, note)
        for worker in workers:
            if worker.process.sentinel in ready_now:
                print(
                    f"relaykit gateway: worker {worker.number} {_exit_note(worker)};"
                    " stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                _stop(workers, received, wake, plan, None)
                return 1
        _drain(wake)


def _stop(
    workers: list[_Worker],
    received: list[int],
    wake: socket.socket,
    plan: WorkerPlan,
    note: str | None,
) -> int:
    """Tell each worker to drain and stop; 0 once all exited cleanly, else 1.

    A worker still running :func:`stop_seconds` later is killed, and so is every
    worker at once when a signal comes again meanwhile.
    """
    # The signal that began the stop (if one did) is the only one that does not
    # force it: one counted from here instead, a second Ctrl-C that came between
    # the first being seen and this line (or once the note was printed) was taken
    # for the first, and the gateway waited out the whole grace period.
    signals_before = min(len(received), 1)
    if note:
        print(note, flush=True)
    for worker in workers:
        if worker.process.is_alive():
            os.kill(worker.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + stop_seconds(plan)
    # A worker has exited once its sentinel reads as closed: the kernel closes a
    # process's descriptors as it exits, a moment before it can be reaped. So
    # ``running`` shrinks by sentinels alone. (Asking is_alive() here instead, a
    # worker between those two moments counted as running, then dropped out of the
    # list handed to wait() a moment later, which slept on the wake-up socket alone
    # until the deadline: a Ctrl-C that took 45 s.)
    running = [w for w in workers if w.process.exitcode is None]
    while running:
        left = deadline - time.monotonic()
        asked_again = len(received) > signals_before
        if asked_again or left <= 0:
            why = "asked again" if asked_again else "not stopped in time"
            for worker in running:
                print(
                    f"relaykit gateway: killing worker {worker.number} ({why})",
                    file=sys.stderr,
                    flush=True,
                )
                worker.process.kill()
            break
        ready = wait([*(w.process.sentinel for w in running), wake], left)
        _drain(wake)
        running = [w for w in running if w.process.sentinel not in ready]
    for worker in workers:
        worker.process.join()
    return 0 if all(w.process.exitcode == 0 for w in workers) else 1


def stop_seconds(plan: WorkerPlan) -> float:
    """How long the parent lets a worker take to stop before it kills it: the
    grace period for calls in flight, the storage's ``close_timeout`` for the
    call log, and a margin for the rest (exporters, connections, exiting)."""
    return plan.graceful_timeout + plan.close_timeout + _EXIT_MARGIN


def _exit_note(worker: _Worker) -> str:
    worker.process.join(timeout=1)
    code = worker.process.exitcode
    pid = worker.process.pid
    if code is not None and code < 0:
        return f"(pid {pid}) was killed by {signal.Signals(-code).name}"
    return f"(pid {pid}) exited with code {code}"


def _receive(pipe: Connection) -> tuple[str, str] | None:
    try:
        kind, text = pipe.recv()
    except (EOFError, OSError):
        return None
    return str(kind), str(text)


def _drain(wake: socket.socket) -> None:
    try:
        while wake.recv(64):
            pass
    except BlockingIOError:
        pass


# -- in each worker ----------------------------------------------------------------------

#: set by SIGTERM before (and after) the worker's event loop listens for it
_told_to_stop = threading.Event()


def worker_main(
    plan: WorkerPlan, sock: socket.socket, pipe: Connection, parent: int, number: int
) -> None:
    """A worker process's entry point (``spawn`` imports it by name): serve ``sock``
    until SIGTERM or the parent is gone; report startup to the parent on ``pipe``.

    ``number`` (from 1) marks its log lines: the workers share one stderr.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's to decide on
    signal.signal(signal.SIGTERM, lambda signum, frame: _told_to_stop.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    from relaykit.cli.log_output import log_output

    ready = False

    def started(url: str) -> None:
        nonlocal ready
        ready = True
        pipe.send(("ready", url))

    try:
        with log_output(plan.log_level, json_lines=plan.log_json, worker=number):
            anyio.run(_serve, plan, sock, started, parent, backend=plan.backend)
    except BaseException as e:
        error = _sole(e)
        if not isinstance(error, RelayError):
            raise
        line = " ".join(str(error).splitlines())
        if ready:
            print(f"error: {line}", file=sys.stderr, flush=True)
        else:
            pipe.send(("error", line))
        raise SystemExit(1) from None
    finally:
        pipe.close()


async def _serve(
    plan: WorkerPlan, sock: socket.socket, started: Callable[[str], None], parent: int
) -> None:
    from .app import Gateway
    from .cors import CorsPolicy
    from .plugin import _with_caller_logged
    from .server import check_exposure, serve_socket

    keys = GatewayKeys.from_env()
    origins = plan.cors_origins
    cors = CorsPolicy.parse(",".join(origins)) if origins else CorsPolicy.from_env()
    config = _with_caller_logged(load_config(plan.config))
    async with Client(config, plugins=plan.plugins) as client:
        gateway = Gateway(client, keys=keys, cors=cors)
        check_exposure(gateway, plan.host)
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def run(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
                await serve_socket(
                    gateway,
                    sock,
                    plan.host,
                    shutdown=stop,
                    graceful_timeout=plan.graceful_timeout,
                    task_status=task_status,
                )

            started(await tg.start(run))
            await _until_stopped(parent)
            stop.set()


async def _until_stopped(parent: int) -> None:
    """Return on SIGTERM, or once the parent is gone (a worker must not outlive it)."""
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        while not _told_to_stop.is_set() and os.getppid() == parent:
            with anyio.move_on_after(1.0):
                await signals.__anext__()
                break
    # The receiver is gone (asyncio puts back the default action): a second SIGTERM
    # must not cut the drain short.
    signal.signal(signal.SIGTERM, lambda signum, frame: _told_to_stop.set())


def _sole(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
