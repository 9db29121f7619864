"""``relaykit chat``: an interactive conversation that keeps its history.

Input rules (also in ``relaykit chat --help``):

- One line is one message.
- A line ending in a backslash continues on the next line.
- A line that is just ``\"\"\"`` starts a multi-line message; the next such line ends it.
- ``exit``, ``quit`` or end of input (Ctrl-D) ends the session.

Every call of a session carries one conversation id (``metadata``), so the
call log holds the chat together: ``relaykit logs --conversation ID`` lists it
and ``relaykit chat --continue ID`` picks it up again from its last answer.

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

if TYPE_CHECKING:
    from ..messages import Message
    from ..protocols import CallRecord
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
    parser.add_argument(
        "--continue",
        dest="continue_id",
        metavar="ID",
        help="continue a logged conversation from its last answer (its model unless -m is given)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit chat``."""
    from ..errors import InvalidRequestError
    from ..events import TextDelta
    from ..messages import Message

    context: CliContext = args.context
    config = context.load_config()
    if args.continue_id is not None:
        history, logged_model = _logged_conversation(args)
        model = resolve_model(args.model or logged_model, config)
        conversation = args.continue_id
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
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"Chatting with {model}. Type exit or quit (or press Ctrl-D) to end.")
        print(f"End a line with \\ to continue it; {FENCE} on its own line starts or ends a block.")
        print(f"Conversation {conversation}: relaykit chat --continue {conversation}")
    read_line = _terminal_line if interactive else _stream_reader(sys.stdin)
    with context.sync_client(config) as client:
        for text in read_messages(read_line):
            history.append(Message.user(text))
            with client.stream(model, history, metadata=metadata, **params) as stream:
                for event in stream:
                    if isinstance(event, TextDelta):
                        sys.stdout.write(event.text)
                        sys.stdout.flush()
            history.append(stream.response.to_message())
            if not stream.response.text.endswith("\n"):
                sys.stdout.write("\n")
    return 0


def _logged_conversation(args: argparse.Namespace) -> tuple[list[Message], str]:
    """The history ``--continue`` picks up: the conversation's last answered call."""
    from ..errors import InvalidRequestError
    from ..protocols import LogQuery
    from .storage_session import opened_storage

    conversation: str = args.continue_id
    if args.system:
        raise InvalidRequestError(
            "--system cannot change a continued conversation: it keeps its own system prompt",
            hint="drop --system, or start a new chat with it",
        )

    async def last_answered(args: argparse.Namespace) -> list[CallRecord]:
        query = LogQuery(conversation_id=conversation, status="ok", limit=1)
        async with opened_storage(args) as storage:
            return await storage.query_logs(query)

    found = args.context.run(last_answered, args)
    if not found:
        raise InvalidRequestError(
            f"no answered call of conversation {conversation!r} is logged",
            hint="relaykit logs --full shows each call's conversation; "
            "relaykit chat prints its own when it starts",
        )
    return list(found[0].conversation()), found[0].model_requested


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
