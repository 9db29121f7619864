"""``relaykit prompt``: send one prompt and stream the reply to stdout.

The prompt is ``TEXT``, or what is piped on stdin, or both (stdin's text, a
blank line, then ``TEXT``, as simonw/llm composes them); ``-a`` attaches files
(:mod:`relaykit.cli.attachments`). Each prompt is logged as a conversation of
its own, which ``--continue`` (``relaykit prompt`` or ``relaykit chat``) goes on
with (:mod:`relaykit.cli.conversation_log`). ``-t NAME`` starts from a template
and ``--save NAME`` writes one (:mod:`relaykit.cli.template_option`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import InvalidRequestError
from .attachments import add_attachment_options, read_attachments, user_message, uses_stdin
from .chat_options import add_chat_options, chat_params, first_messages, resolve_model
from .conversation_log import (
    NEWEST,
    add_continue_option,
    conversation_metadata,
    logged_conversation,
    new_conversation,
)
from .sources import print_search, print_sources
from .stdin_text import read_stdin_text
from .template_option import add_template_options, use_template
from .text_options import non_blank
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
        "Without TEXT, the prompt is read from stdin: git diff | relaykit prompt -m MODEL; "
        "with both, stdin's text comes first, then a blank line, then TEXT: "
        "cat app.py | relaykit prompt 'Explain this'",
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="the prompt (default: read stdin)")
    add_chat_options(parser)
    add_attachment_options(parser, when="the prompt")
    add_continue_option(parser)
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
        type=non_blank("a JSON schema file, JSON text, or fields: 'name, age int'"),
        help="answer as JSON: a JSON schema file, JSON text, or fields such as "
        "'name, age int, bio: one sentence' (types: str, int, float, bool)",
    )
    add_tool_options(parser)
    add_template_options(parser, save=True)
    parser.add_argument(
        "--count-tokens",
        action="store_true",
        help="print how many input tokens the prompt would use, and send nothing to the model",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit prompt``."""
    context: CliContext = args.context
    if args.force and args.save is None:  # else it looks as if it had replaced something
        raise InvalidRequestError(
            "--force replaces the template --save NAME writes; without --save it does nothing",
            param="force",
            hint="add --save NAME, or drop --force",
        )
    # Read the prompt, the attachments and the logged conversation, and settle the
    # model, before starting the event loop: stdin and files are blocking reads, and
    # a missing model or file should fail before anything connects.
    config = context.load_config()
    if args.save is not None:
        from .template_save import save_template

        return save_template(args)
    template = use_template(args, config)
    stdin_attached = uses_stdin(args.attachments)
    if stdin_attached and not args.text:
        raise InvalidRequestError(
            "with -a -, stdin is the attachment, so the prompt must be TEXT",
            param="attach",
            hint="cat photo.png | relaykit prompt -a - 'Describe this image'",
        )
    attachments = read_attachments(args.attachments, max_chars=config.validation.max_chars)
    try:
        text = prompt_text(
            args.text,
            sys.stdin,
            stdin_taken=stdin_attached,
            # a template's own prompt is a prompt, with or without input
            required=not attachments and not (template and template.template.prompt),
        )
        if args.continue_id is not None:
            conversation, history, logged_model = logged_conversation(args)
    except InvalidRequestError as e:
        raise _took_the_prompt(e, args) from None
    if template is not None:
        if args.system is None:
            args.system = template.system(text)
        text = template.prompt(text)
        if not text.strip() and not attachments:
            raise InvalidRequestError(
                f"no prompt given, and template {template.template.name!r} has only $input",
                hint="pass it as an argument, or pipe it: cat notes.txt | relaykit prompt -t NAME",
            )
    if args.continue_id is not None:
        model = resolve_model(args.model or logged_model, config)
    else:
        model = resolve_model(args.model, config)
        history = first_messages(args.system)
        conversation = new_conversation()
    messages = [*history, user_message(text, attachments)]
    if isinstance(args.schema, str):  # read before connecting, as the prompt is;
        # a template's schema is read already
        from .schema_option import schema_from_option

        args.schema = schema_from_option(args.schema)
    params = _params(args)
    # The user's code runs, and plugins are asked for the --mcp servers, before
    # anything connects (as --schema is read); the servers connect in the loop.
    args.tools = requested_tools(args, context, config)
    if args.count_tokens:
        count = context.run(_count, context, config, model, messages, params, args)
        if args.json:
            print(json.dumps({"input_tokens": count.input_tokens, "exact": count.exact}))
        else:
            estimated = "" if count.exact else " (estimated: the provider cannot count)"
            tokens = "token" if count.input_tokens == 1 else "tokens"
            print(f"{count.input_tokens} input {tokens}{estimated}")
        return 0
    # Logged under its conversation, so --continue (here or in relaykit chat) goes on from it.
    params["metadata"] = conversation_metadata(params, conversation)
    response = context.run(_send, context, config, model, messages, params, args)
    if args.json:
        from ..serialization import to_json

        print(to_json(response))
    return 0


def _took_the_prompt(error: InvalidRequestError, args: argparse.Namespace) -> InvalidRequestError:
    """``error``, with a hint when ``--continue`` may have taken the prompt for an id:
    ``relaykit prompt --continue 'Tell me more'`` reads as ``--continue ID``."""
    if args.text is not None or args.continue_id in (None, NEWEST):
        return error
    if getattr(args, "cid_given", False):
        return error
    taken = args.continue_id
    return InvalidRequestError(
        f"{error.message}; --continue took {taken!r} as a conversation id",
        param=error.param,
        hint=f"to continue the newest conversation, put the prompt first: "
        f"relaykit prompt {shlex.quote(taken)} --continue",
    )


def prompt_text(
    text: str | None,
    stdin: TextIO | None,
    *,
    stdin_taken: bool = False,
    required: bool = True,
) -> str:
    """The prompt: ``TEXT``, the text piped on stdin, or both: stdin's text, a blank
    line, then ``TEXT`` (``cat app.py | relaykit prompt 'Explain this'``).

    stdin is read only when it is not a terminal (a terminal would wait for typing)
    and not ``stdin_taken`` (``-a -`` reads it). With ``required`` (the default), no
    prompt at all is a typed error; without (attachments are the prompt), it is ``""``.
    """
    piped = None if stdin_taken else _piped_text(stdin)
    if piped is not None and piped.strip():
        text = f"{piped.rstrip(chr(10))}\n\n{text}" if text and text.strip() else piped
    if required and (not text or not text.strip()):
        raise InvalidRequestError(
            "no prompt given",
            hint="pass it as an argument, or pipe it: echo 'Hello' | relaykit prompt -m MODEL",
        )
    return text or ""


def _piped_text(stdin: TextIO | None) -> str | None:
    """stdin's text when something is piped into it; ``None`` for a terminal, a closed
    stdin, or one that cannot be read (pytest's, while it captures output)."""
    if stdin is None:
        return None
    try:
        if stdin.isatty() or not stdin.readable():
            return None
    except ValueError:  # closed
        return None
    return read_stdin_text(
        stdin,
        "prompt",
        hint="convert it as it goes in: ... | iconv -f LATIN1 -t UTF-8 | relaykit prompt; "
        "to send a file (an image, a PDF) from stdin, attach it: "
        "cat photo.png | relaykit prompt -a - 'Describe it'",
    )


async def _count(
    context: CliContext,
    config: Config,
    model: str,
    messages: list[Message],
    params: dict[str, Any],
    args: argparse.Namespace,
) -> TokenCount:
    async with context.client(config) as client, args.tools.connected() as tools:
        args.tools.mask_in(client)
        if tools:  # the tools' definitions count too
            params = {**params, "tools": tools}
        return await client.count_tokens(model, messages, **params)


async def _send(
    context: CliContext,
    config: Config,
    model: str,
    messages: list[Message],
    params: dict[str, Any],
    args: argparse.Namespace,
) -> ChatResponse:
    from ..events import SearchQuery, TextDelta

    show_text = not args.json
    async with context.client(config) as client, args.tools.connected() as tools:
        args.tools.mask_in(client)
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
