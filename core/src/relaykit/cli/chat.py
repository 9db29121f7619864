"""``relaykit chat``: an interactive conversation that keeps its history.

Input rules (also in ``relaykit chat --help``):

- One line is one message.
- A line ending in a backslash continues on the next line.
- A line that is just ``\"\"\"`` starts a multi-line message; the next such line ends it.
- ``exit``, ``quit`` or end of input (Ctrl-D) ends the session.

Every call of a session carries one conversation id (``metadata``), so the
call log holds the chat together: ``relaykit logs --conversation ID`` lists it
and ``relaykit chat --continue ID`` picks it up again from its last answer
(``--continue`` alone: the newest conversation; ``--cid ID`` is simonw/llm's
spelling). ``-a FILE`` attaches files to the first message sent
(:mod:`relaykit.cli.attachments`); not ``-a -``, since stdin holds the messages.

With ``--functions FILE.py`` or ``--mcp SPEC`` each turn is a tool run, and the
tool calls and results stay in the history; MCP servers connect once, in the
client's event loop (:meth:`relaykit.SyncClient.enter_async_context`), and stay
connected until the session ends.

``-t NAME`` starts from a template (:mod:`relaykit.cli.template_option`): its
model, system prompt, options and tools; its prompt, if it has one, shapes each
message typed (``$input`` stands for the message, or the message follows it).

The conversation runs on a :class:`relaykit.SyncClient`: its event loop lives in
a background thread, so waiting for the user's next line is an ordinary blocking
read in the main thread, where Ctrl-C interrupts it cleanly, instead of a
blocking call parked inside the event loop.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .attachments import add_attachment_options, read_attachments, user_message, uses_stdin
from .chat_options import add_chat_options, chat_params, first_messages, resolve_model
from .conversation_log import (
    add_continue_option,
    conversation_metadata,
    logged_conversation,
    new_conversation,
)
from .sources import print_sources
from .stdin_text import read_stdin_lines
from .template_option import add_template_options, use_template
from .tool_options import add_tool_options, requested_tools, show_tool_event

if TYPE_CHECKING:
    from ..function_tools import FunctionTool
    from ..messages import Message
    from ..response import ChatResponse
    from ..sync_client import SyncClient
    from .context import CliContext

EXIT_WORDS = frozenset({"exit", "quit"})
FENCE = '"""'
PROMPT = "> "
CONTINUATION_PROMPT = ". "

#: reads one line without its newline, showing a prompt; ``None`` at end of input
ReadLine = Callable[[str], str | None]


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``chat`` command."""
    parser = commands.add_parser(
        "chat",
        parents=parents,
        help="chat interactively, keeping the conversation",
        description="Chat with a model; replies stream as they arrive. One line is one "
        'message; end a line with \\ to continue it, or put """ alone on a line to '
        "start and end a multi-line message. exit, quit or Ctrl-D ends the session.",
    )
    add_chat_options(parser)
    add_continue_option(parser)
    add_attachment_options(parser, when="the first message")
    add_tool_options(parser)
    add_template_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit chat``."""
    from ..errors import InvalidRequestError

    context: CliContext = args.context
    config = context.load_config()
    if uses_stdin(args.attachments):
        raise InvalidRequestError(
            "relaykit chat reads its messages from stdin, so -a - cannot read an attachment there",
            param="attach",
            hint="save it to a file and attach that: -a FILE",
        )
    # Read before the session starts: a missing file fails before anything connects.
    attachments = read_attachments(args.attachments, max_chars=config.validation.max_chars)
    template = use_template(args, config)
    if template is not None and args.system is None:
        if template.system_uses_input:
            from ..errors import ConfigError

            raise ConfigError(
                f"template {template.template.name!r} uses $input, which in a chat is "
                "each message, so its system prompt cannot hold it",
                hint="move $input into the template's prompt, or use it with relaykit prompt",
            )
        args.system = template.system()
    if args.continue_id is not None:
        conversation, history, logged_model = logged_conversation(args)
        model = resolve_model(args.model or logged_model, config)
    else:
        model = resolve_model(args.model, config)
        history = first_messages(args.system)
        conversation = new_conversation()
    params = chat_params(args)
    metadata = conversation_metadata(params, conversation)
    # The user's code runs, and plugins are asked for the --mcp servers, before
    # the client's loop starts; the servers connect in it, and stay for the session.
    tools = requested_tools(args, context, config)
    # stdin closed (relaykit chat <&-): Python's None, read as nothing piped
    stdin = sys.stdin if sys.stdin is not None else io.StringIO()
    interactive = stdin.isatty()
    read_line = _terminal_line if interactive else _stream_reader(stdin)
    with context.sync_client(config) as client:
        tools.mask_in(client)
        tool_list = client.enter_async_context(tools.connected()) if tools else []
        if interactive:
            print(f"Chatting with {model}. Type exit or quit (or press Ctrl-D) to end.")
            print(
                f"End a line with \\ to continue it; {FENCE} on its own line "
                "starts or ends a block."
            )
            print(f"Conversation {conversation}: relaykit chat --continue {conversation}")
            if attachments:
                print(f"Attached to your first message: {len(attachments)} file(s)")
            if tool_list:
                print(f"Tools: {', '.join(t.name for t in tool_list)}")
        for text in read_messages(read_line):
            message = template.prompt(text) if template is not None else text
            history.append(user_message(message, attachments))
            attachments = []  # they go with the first message only
            response, history = _reply(client, model, history, tool_list, args, params, metadata)
            if not response.text.endswith("\n"):
                sys.stdout.write("\n")
            sys.stdout.flush()  # the answer before its sources, which go to stderr
            print_sources(response.citations)
    return 0


def _reply(
    client: SyncClient,
    model: str,
    history: list[Message],
    tools: list[FunctionTool],
    args: argparse.Namespace,
    params: dict[str, Any],
    metadata: dict[str, Any],
) -> tuple[ChatResponse, list[Message]]:
    """Stream the answer to ``history`` (with ``tools``: a tool run, each tool's outcome
    a line on stderr); return it and the history that goes on from it."""
    from ..events import SearchQuery, TextDelta
    from .sources import print_search

    if tools:
        with client.stream_tools(
            model, history, tools, max_steps=args.max_steps, metadata=metadata, **params
        ) as steps:
            for event in steps:
                show_tool_event(event)
        # the tool calls and their results stay in the conversation
        return steps.run.response, list(steps.run.messages)
    with client.stream(model, history, metadata=metadata, **params) as stream:
        for event in stream:
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, SearchQuery):
                print_search(event.query)  # on stderr, as it runs
    return stream.response, [*history, stream.response.to_message()]


def read_messages(read_line: ReadLine) -> Iterator[str]:
    """The user's messages, one per turn, until ``exit``, ``quit`` or end of input."""
    while True:
        line = read_line(PROMPT)
        if line is None or line.strip().lower() in EXIT_WORDS:
            return
        text = _read_block(read_line) if line.strip() == FENCE else _read_continued(line, read_line)
        if text.strip():
            yield text


def _read_block(read_line: ReadLine) -> str:
    lines = []
    while (line := read_line(CONTINUATION_PROMPT)) is not None and line.strip() != FENCE:
        lines.append(line)
    return "\n".join(lines)


def _read_continued(line: str, read_line: ReadLine) -> str:
    lines = [line]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        more = read_line(CONTINUATION_PROMPT)
        if more is None:
            break
        lines.append(more)
    return "\n".join(lines)


def _terminal_line(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        print()  # leave the shell prompt on a line of its own after Ctrl-D
        return None


def _stream_reader(stream: TextIO) -> ReadLine:
    """Read lines from a pipe or file: no prompts, since nobody is there to see them."""

    lines = read_stdin_lines(stream, "chat")

    def read_line(prompt: str) -> str | None:
        line = next(lines, None)
        return line.removesuffix("\n") if line else None

    return read_line
