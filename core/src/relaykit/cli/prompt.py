"""``relaykit prompt``: send one prompt and stream the reply to stdout."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import InvalidRequestError
from .chat_options import add_chat_options, chat_params, first_messages, resolve_model
from .sources import print_search, print_sources
from .tool_options import add_tool_options, requested_tools, show_tool_event

if TYPE_CHECKING:
    from ..client import Client
    from ..config import Config
    from ..function_tools import FunctionTool
    from ..messages import Message
    from ..response import ChatResponse, TokenCount
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``prompt`` command."""
    parser = commands.add_parser(
        "prompt",
        parents=parents,
        help="send one prompt and print the reply",
        description="Send one prompt and stream the reply to stdout. "
        "Without TEXT, the prompt is read from stdin: git diff | relaykit prompt -m MODEL",
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="the prompt (default: read stdin)")
    add_chat_options(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the whole response as JSON instead of its text"
    )
    parser.add_argument(
        "--no-stream",
        dest="stream",
        action="store_false",
        help="wait for the whole reply instead of streaming it",
    )
    parser.add_argument(
        "--schema",
        metavar="SCHEMA",
        help="answer as JSON: a JSON schema file, JSON text, or fields such as "
        "'name, age int, bio: one sentence' (types: str, int, float, bool)",
    )
    add_tool_options(parser)
    parser.add_argument(
        "--count-tokens",
        action="store_true",
        help="print how many input tokens the prompt would use, and send nothing to the model",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit prompt``."""
    context: CliContext = args.context
    # Read the prompt and settle the model before starting the event loop: stdin is
    # a blocking read, and a missing model should fail before anything connects.
    text = prompt_text(args.text, sys.stdin)
    config = context.load_config()
    model = resolve_model(args.model, config)
    if args.schema is not None:  # read before connecting, as the prompt is
        from .schema_option import schema_from_option

        args.schema = schema_from_option(args.schema)
    # The user's code runs, and plugins are asked for the --mcp servers, before
    # anything connects (as --schema is read); the servers connect in the loop.
    args.tools = requested_tools(args, context, config)
    if args.count_tokens:
        count = context.run(_count, context, config, model, text, args)
        if args.json:
            print(json.dumps({"input_tokens": count.input_tokens, "exact": count.exact}))
        else:
            estimated = "" if count.exact else " (estimated: the provider cannot count)"
            tokens = "token" if count.input_tokens == 1 else "tokens"
            print(f"{count.input_tokens} input {tokens}{estimated}")
        return 0
    response = context.run(_send, context, config, model, text, args)
    if args.json:
        from ..serialization import to_json

        print(to_json(response))
    return 0


def prompt_text(text: str | None, stdin: TextIO | None) -> str:
    """The prompt: ``TEXT`` if given, else everything piped on stdin."""
    if text is None and stdin is not None and not stdin.isatty():
        text = stdin.read()
    if not text or not text.strip():
        raise InvalidRequestError(
            "no prompt given",
            hint="pass it as an argument, or pipe it: echo 'Hello' | relaykit prompt -m MODEL",
        )
    return text


async def _count(
    context: CliContext, config: Config, model: str, text: str, args: argparse.Namespace
) -> TokenCount:
    from ..messages import Message

    messages = [*first_messages(args.system), Message.user(text)]
    params = _params(args)
    async with context.client(config) as client, args.tools.connected() as tools:
        if tools:  # the tools' definitions count too
            params["tools"] = tools
        return await client.count_tokens(model, messages, **params)


async def _send(
    context: CliContext, config: Config, model: str, text: str, args: argparse.Namespace
) -> ChatResponse:
    from ..events import SearchQuery, TextDelta
    from ..messages import Message

    messages = [*first_messages(args.system), Message.user(text)]
    params = _params(args)
    show_text = not args.json
    async with context.client(config) as client, args.tools.connected() as tools:
        if tools and args.stream:
            response = await _stream_tools(client, model, messages, tools, args, params, show_text)
        elif tools:
            run = await client.run_tools(model, messages, tools, max_steps=args.max_steps, **params)
            response = run.response
            if show_text:
                _show_searches(run.steps)
                _write(response.text)
        elif not args.stream:
            response = await client.chat(model, messages, **params)
            if show_text:
                _show_searches((response,))  # they ran before the answer was written
                _write(response.text)
        else:
            async with client.stream(model, messages, **params) as stream:
                async for event in stream:
                    if not show_text:
                        continue
                    if isinstance(event, TextDelta):
                        _write(event.text)
                    elif isinstance(event, SearchQuery):
                        print_search(event.query)
            response = stream.response
    if show_text and not response.text.endswith("\n"):
        _write("\n")
    if show_text:  # with --json, the citations are in the response's JSON
        print_sources(response.citations)
    return response


def _show_searches(responses: Sequence[ChatResponse]) -> None:
    """A whole (not streamed) answer's searches, on stderr before its text."""
    for response in responses:
        for query in response.search_queries:
            print_search(query)


async def _stream_tools(
    client: Client,
    model: str,
    messages: list[Message],
    tools: list[FunctionTool],
    args: argparse.Namespace,
    params: dict[str, Any],
    show_text: bool,
) -> ChatResponse:
    """A tool run, streamed: each step's text to stdout as it arrives, and (with
    the text) a line on stderr as each tool finishes."""
    run = client.stream_tools(model, messages, tools, max_steps=args.max_steps, **params)
    async with run:
        async for event in run:
            if show_text:
                show_tool_event(event)
    return run.run.response


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """The ``-o`` parameters, with ``--schema``'s response format (read in :func:`run`)."""
    params = chat_params(args)
    if args.schema is not None:
        params["response_format"] = args.schema
    return params


def _write(text: str) -> None:
    # Writing to the terminal from the event loop is a (short) blocking call; a
    # CLI runs nothing else concurrently that it could starve, and flushing per
    # delta is what makes the reply appear as it arrives.
    sys.stdout.write(text)
    sys.stdout.flush()
