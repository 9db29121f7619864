"""``relaykit chat``: an interactive conversation that keeps its history.

Input rules (also in ``relaykit chat --help``):

- One line is one message.
- A line ending in a backslash continues on the next line.
- A line that is just ``\"\"\"`` starts a multi-line message; the next such line ends it.
- ``exit``, ``quit`` or end of input (Ctrl-D) ends the session.

Every call of a session carries one conversation id (``metadata``), so the
call log holds the chat together: ``relaykit logs --conversation ID`` lists it
and ``relaykit chat --continue ID`` picks it up again from its last answer
(``--continue`` alone: the newest conversation).

With ``--functions FILE.py`` or ``--mcp SPEC`` each turn is a tool run, and the
tool calls and results stay in the history; MCP servers connect once, in the
client's event loop (:meth:`relaykit.SyncClient.enter_async_context`), and stay
connected until the session ends.

The conversation runs on a :class:`relaykit.SyncClient`: its event loop lives in
a background thread, so waiting for the user's next line is an ordinary blocking
read in the main thread, where Ctrl-C interrupts it cleanly, instead of a
blocking call parked inside the event loop.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .chat_options import add_chat_options, chat_params, first_messages, resolve_model
from .sources import print_sources
from .tool_options import add_tool_options, requested_tools, show_tool_event

if TYPE_CHECKING:
    from ..function_tools import FunctionTool
    from ..messages import Message
    from ..protocols import CallRecord, Storage
    from ..response import ChatResponse
    from ..sync_client import SyncClient
    from .context import CliContext

EXIT_WORDS = frozenset({"exit", "quit"})
FENCE = '"""'
PROMPT = "> "
CONTINUATION_PROMPT = ". "

#: ``--continue`` without an id: the newest conversation in the call log
NEWEST = ""
#: how many of the newest calls ``--continue`` looks through for a conversation
NEWEST_LOOKED_AT = 1000

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
    parser.add_argument(
        "--continue",
        dest="continue_id",
        metavar="ID",
        nargs="?",
        const=NEWEST,
        help="continue a logged conversation from its last answer, the newest one without ID "
        "(its model unless -m is given)",
    )
    add_tool_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit chat``."""
    from ..errors import InvalidRequestError
    from ..messages import Message

    context: CliContext = args.context
    config = context.load_config()
    if args.continue_id is not None:
        conversation, history, logged_model = _logged_conversation(args)
        model = resolve_model(args.model or logged_model, config)
    else:
        model = resolve_model(args.model, config)
        history = first_messages(args.system)
        conversation = uuid.uuid4().hex
    params = chat_params(args)
    metadata = params.pop("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidRequestError(
            f"-o metadata must be a JSON object, got {metadata!r}",
            hint='e.g. -o metadata=\'{"user": "ana"}\'',
        )
    metadata = {**metadata, "conversation_id": conversation}
    # The user's code runs, and plugins are asked for the --mcp servers, before
    # the client's loop starts; the servers connect in it, and stay for the session.
    tools = requested_tools(args, context, config)
    interactive = sys.stdin.isatty()
    read_line = _terminal_line if interactive else _stream_reader(sys.stdin)
    with context.sync_client(config) as client:
        tool_list = client.enter_async_context(tools.connected()) if tools else []
        if interactive:
            print(f"Chatting with {model}. Type exit or quit (or press Ctrl-D) to end.")
            print(
                f"End a line with \\ to continue it; {FENCE} on its own line "
                "starts or ends a block."
            )
            print(f"Conversation {conversation}: relaykit chat --continue {conversation}")
            if tool_list:
                print(f"Tools: {', '.join(t.name for t in tool_list)}")
        for text in read_messages(read_line):
            history.append(Message.user(text))
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


def _logged_conversation(args: argparse.Namespace) -> tuple[str, list[Message], str]:
    """What ``--continue`` picks up: the conversation's id, its history as its last
    answered call left it, and the model that call asked for."""
    from ..errors import InvalidRequestError
    from ..protocols import LogQuery
    from .storage_session import opened_storage

    if args.system:
        raise InvalidRequestError(
            "--system cannot change a continued conversation: it keeps its own system prompt",
            hint="drop --system, or start a new chat with it",
        )

    async def last_answered(args: argparse.Namespace) -> CallRecord | None:
        async with opened_storage(args) as storage:
            conversation = args.continue_id
            if conversation == NEWEST:
                conversation = await _newest_conversation(storage)
                if conversation is None:
                    return None
            query = LogQuery(conversation_id=conversation, status="ok", limit=1)
            found = await storage.query_logs(query)
        return found[0] if found else None

    last = args.context.run(last_answered, args)
    if last is None or last.conversation_id is None:
        which = (
            "no answered call of any conversation is logged"
            if args.continue_id == NEWEST
            else f"no answered call of conversation {args.continue_id!r} is logged"
        )
        raise InvalidRequestError(
            which,
            hint="relaykit logs --full shows each call's conversation; "
            "relaykit chat prints its own when it starts",
        )
    return last.conversation_id, list(last.conversation()), last.model_requested


async def _newest_conversation(storage: Storage) -> str | None:
    """The conversation of the newest answered call that has one, among the newest calls."""
    from ..protocols import LogQuery

    page = 20  # the newest call is usually one: a page reads whole records
    for offset in range(0, NEWEST_LOOKED_AT, page):
        records = await storage.query_logs(LogQuery(status="ok", limit=page, offset=offset))
        for record in records:
            if record.conversation_id is not None:
                return record.conversation_id
        if len(records) < page:
            break
    return None


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

    def read_line(prompt: str) -> str | None:
        line = stream.readline()
        return line.removesuffix("\n") if line else None

    return read_line
