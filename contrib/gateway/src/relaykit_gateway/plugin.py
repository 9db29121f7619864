"""The ``relaykit gateway`` command (added to relaykit's CLI through its hook)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import attrs

from relaykit import hookimpl
from relaykit.cli.number_options import integer, real_number
from relaykit.cli.text_options import non_blank

if TYPE_CHECKING:
    # Every relaykit process (`relaykit --help` too) imports this module to add the
    # command; what serving needs (anyio, the ASGI app) loads when it runs.
    import anyio
    import anyio.abc

    from relaykit import Config
    from relaykit.cli.context import CliContext

#: the port LiteLLM's proxy uses, so clients configured for one find the other
DEFAULT_PORT = 4000


@hookimpl
def relaykit_commands(cli: argparse._SubParsersAction[Any]) -> None:
    """Add ``relaykit gateway``."""
    parser = cli.add_parser(
        "gateway",
        help="serve OpenAI-, Anthropic- and Cohere-compatible HTTP APIs over relaykit",
        description=(
            "Serve OpenAI's POST /v1/chat/completions, /v1/responses (and"
            " /v1/responses/input_tokens), /v1/embeddings, /v1/audio/transcriptions,"
            " /v1/images/generations, /v1/audio/speech and /v1/moderations, its Files"
            " and Batch APIs (/v1/files, /v1/batches; files kept in"
            " $RELAYKIT_GATEWAY_FILES_DIR),"
            " Anthropic's POST"
            " /v1/messages (and /v1/messages/count_tokens), Cohere's POST /v1/rerank"
            " (also /v2/rerank and /rerank), and GET /v1/models, every call made"
            " through relaykit with this configuration."
            " Callers present a key from $RELAYKIT_GATEWAY_KEYS (name=key,...);"
            " without keys the gateway listens on a loopback address only."
            " $RELAYKIT_GATEWAY_KEY_MODELS (name=pattern,pattern;...) limits a key"
            " to the models it names."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        # blank, the server would listen on every interface
        type=non_blank("an address: 127.0.0.1, or 0.0.0.0 for every interface"),
        help="address to listen on",
    )
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port (0: any free one)")
    parser.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        # blank ("$ORIGIN" unset), it was dropped without a word
        type=non_blank("an origin: https://app.example, or * for any"),
        help="a web page origin (https://app.example) whose scripts may call the gateway;"
        " repeatable; * for any (default: $RELAYKIT_GATEWAY_CORS_ORIGINS, else none)",
    )
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="processes serving the port, each with its own event loop and client (default 1);"
        " more than one needs the state they share in Redis:"
        ' [cache] backend = "redis", and [limiter] backend = "redis" with [limits]',
    )
    parser.add_argument(
        "--graceful-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="on Ctrl-C or SIGTERM, how long calls in flight get to finish before they are"
        " cut off (default 30); the call log is then written, within [storage]"
        " close_timeout; a second Ctrl-C stops at once",
    )
    # A server logs a line per call without -v, as a web server logs its requests.
    parser.set_defaults(func=run, log_calls=True)


def _port(text: str) -> int:
    # checked here: the socket's own OverflowError would surface as a traceback
    try:
        port = integer(text)
    except argparse.ArgumentTypeError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be a port number from 0 to 65535 (0: any free one) in digits 0-9, not {text!r}"
        )
    return port


#: the most ``--workers``: more processes than any machine serves one port with (a
#: typo's 99999999999999999999 would start processes until the machine ran out)
MAX_WORKERS = 1024


def _worker_count(text: str) -> int:
    try:
        count = integer(text)
    except argparse.ArgumentTypeError:
        count = 0
    if not 1 <= count <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of processes from 1 to {MAX_WORKERS} in digits 0-9,"
            f" not {text!r}"
        )
    return count


def _seconds(text: str) -> float:
    try:
        seconds = real_number(text)
    except argparse.ArgumentTypeError:
        seconds = -1.0
    if seconds < 0:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds >= 0 in digits 0-9, not {text!r}"
        )
    return seconds


def _graceful_timeout(args: argparse.Namespace) -> float:
    from .server import GRACEFUL_SECONDS

    given: float | None = getattr(args, "graceful_timeout", None)
    return GRACEFUL_SECONDS if given is None else given


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then let calls in flight finish and drain the logs:
    in this process, or in ``--workers`` processes this one supervises."""
    if getattr(args, "workers", 1) > 1:
        return _run_workers(args)
    context: CliContext = args.context
    return context.run(_run_one, args)


def _run_workers(args: argparse.Namespace) -> int:
    """``--workers N``: check the settings and bind here, serve in N spawned processes."""
    from relaykit.cli.log_output import verbosity

    from .cors import CorsPolicy
    from .keys import GatewayKeys
    from .server import check_exposure, listen
    from .workers import WorkerPlan, check_shared_state, supervise

    keys = GatewayKeys.from_env()
    given = getattr(args, "cors_origin", None)
    # parsed here too, so a bad origin is one error line before any worker starts
    if given:
        CorsPolicy.parse(",".join(given))
    else:
        CorsPolicy.from_env()
    context = args.context
    config = context.load_config()
    check_shared_state(config, keys, args.workers)
    check_exposure(keys, args.host)
    plan = WorkerPlan(
        config=context.config,
        backend=context.backend,
        host=args.host,
        cors_origins=tuple(given) if given else None,
        log_level=verbosity(args.verbose, log_calls=args.log_calls),
        log_json=args.log_json,
        plugins=context.plugins,
        graceful_timeout=_graceful_timeout(args),
        close_timeout=config.storage.close_timeout,
    )
    who = f"{len(keys.keys)} key(s)" if keys else "no keys: this machine only"
    banner = f"relaykit gateway on {{url}} ({who}), {{workers}}; Ctrl-C stops it"
    return supervise(plan, listen(args.host, args.port), args.workers, banner)


async def _run_one(args: argparse.Namespace) -> int:
    """Serve in this process (``--workers 1``, the default)."""
    import anyio

    from .app import Gateway
    from .cors import CorsPolicy
    from .keys import GatewayKeys
    from .server import check_exposure, serve

    keys = GatewayKeys.from_env()
    given = getattr(args, "cors_origin", None)
    cors = CorsPolicy.parse(",".join(given)) if given else CorsPolicy.from_env()
    stop = anyio.Event()
    # The signals are watched until the client has closed (its call log written),
    # so a second one, while calls in flight finish or the log drains, is heard.
    async with anyio.create_task_group() as watcher:
        config = _with_caller_logged(args.context.load_config())
        async with args.context.client(config) as client:
            gateway = Gateway(client, keys=keys, cors=cors)
            check_exposure(gateway, args.host)
            async with anyio.create_task_group() as tg:
                url = await tg.start(
                    lambda task_status: serve(
                        gateway,
                        args.host,
                        args.port,
                        shutdown=stop,
                        graceful_timeout=_graceful_timeout(args),
                        task_status=task_status,
                    )
                )
                who = f"{len(keys.keys)} key(s)" if keys else "no keys: this machine only"
                print(f"relaykit gateway on {url} ({who}); Ctrl-C stops it", flush=True)
                await watcher.start(_stop_on_signals, stop)
        watcher.cancel_scope.cancel()
    return 0


#: what a second signal does, said on stderr as it does it (as ``--workers`` does)
FORCED_STOP = (
    "relaykit gateway: asked again, stopping at once: calls in flight are cut off,"
    " call log records not yet written are lost"
)


async def _stop_on_signals(stop: anyio.Event, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    """Set ``stop`` on SIGINT or SIGTERM; on a second one, say so and exit 1 at once.

    At once: the graceful stop waits in shielded scopes (calls in flight, the call
    log), which no cancellation cuts short, so the process exits as ``--workers``
    kills its workers, without their cleanup.
    """
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            if not stop.is_set():
                print("relaykit gateway: stopping; calls in flight finish first", flush=True)
                stop.set()
                continue
            print(FORCED_STOP, file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(1)


def _with_caller_logged(config: Config) -> Config:
    """``config`` with the caller's gateway key name on each call's log line: an
    operator reading the gateway's log wants to know whose call each line is."""
    telemetry = config.telemetry
    if "gateway_key" in telemetry.log_metadata:
        return config
    names = (*telemetry.log_metadata, "gateway_key")
    return attrs.evolve(config, telemetry=attrs.evolve(telemetry, log_metadata=names))
