"""The ``relaykit gateway`` command (added to relaykit's CLI through its hook)."""

from __future__ import annotations

import argparse
import signal
from typing import Any

import anyio
import attrs

from relaykit import Config, hookimpl

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
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    parser.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="a web page origin (https://app.example) whose scripts may call the gateway;"
        " repeatable; * for any (default: $RELAYKIT_GATEWAY_CORS_ORIGINS, else none)",
    )
    # A server logs a line per call without -v, as a web server logs its requests.
    parser.set_defaults(func=run, log_calls=True)


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then let calls in flight finish and drain the logs."""
    from .app import Gateway
    from .cors import CorsPolicy
    from .keys import GatewayKeys
    from .serve import check_exposure, serve

    keys = GatewayKeys.from_env()
    given = getattr(args, "cors_origin", None)
    cors = CorsPolicy.parse(",".join(given)) if given else CorsPolicy.from_env()
    async with args.context.client(_with_caller_logged(args.context.load_config())) as client:
        gateway = Gateway(client, keys=keys, cors=cors)
        check_exposure(gateway, args.host)
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            url = await tg.start(
                lambda task_status: serve(
                    gateway, args.host, args.port, shutdown=stop, task_status=task_status
                )
            )
            who = f"{len(keys.keys)} key(s)" if keys else "no keys: this machine only"
            print(f"relaykit gateway on {url} ({who}); Ctrl-C stops it", flush=True)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    print("relaykit gateway: stopping; calls in flight finish first", flush=True)
                    stop.set()
                    break
    return 0


def _with_caller_logged(config: Config) -> Config:
    """``config`` with the caller's gateway key name on each call's log line: an
    operator reading the gateway's log wants to know whose call each line is."""
    telemetry = config.telemetry
    if "gateway_key" in telemetry.log_metadata:
        return config
    names = (*telemetry.log_metadata, "gateway_key")
    return attrs.evolve(config, telemetry=attrs.evolve(telemetry, log_metadata=names))
