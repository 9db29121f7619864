"""``--continue [ID]`` / ``--cid ID``: pick a logged conversation up again.

``relaykit chat`` and ``relaykit prompt`` share it. Every call a command sends
carries its conversation's id in ``metadata`` (``conversation_id``), so the
call log holds the conversation together: its newest answered call has the
whole history (:meth:`relaykit.protocols.CallRecord.conversation`), and the
next call, logged under the same id, extends it.
"""

from __future__ import annotations

import argparse
import uuid
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .chat_options import check_mapping

if TYPE_CHECKING:
    from ..messages import Message
    from ..protocols import CallRecord, Storage

#: ``--continue`` without an id: the newest conversation in the call log. A NUL,
#: which no command-line argument can hold: ``--cid ""`` must not mean it.
NEWEST = "\0"
#: how many of the newest calls ``--continue`` looks through for a conversation
NEWEST_LOOKED_AT = 1000


def add_continue_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--continue [ID]`` and its simonw/llm spelling ``--cid ID``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--continue",
        dest="continue_id",
        metavar="ID",
        nargs="?",
        const=NEWEST,
        type=conversation_id,
        help="continue a logged conversation from its last answer, the newest one without ID "
        "(its model unless -m is given)",
    )
    group.add_argument(
        "--cid",
        dest="continue_id",
        metavar="ID",
        action=_Cid,
        type=conversation_id,
        help="continue the logged conversation ID (as --continue ID)",
    )


def conversation_id(text: str) -> str:
    """An argparse ``type`` for ``--continue ID`` / ``--cid ID``: not blank, so that
    ``--cid "$CID"`` with CID unset is refused, not taken for another conversation
    (argparse passes ``--continue``'s ``NEWEST`` through it too)."""
    if text != NEWEST and not text.strip():
        raise argparse.ArgumentTypeError(
            "the conversation id is blank; give one (relaykit chat prints its own when it"
            " starts), or --continue without ID for the newest conversation"
        )
    return text


class _Cid(argparse.Action):
    """``--cid ID``: ``--continue ID``, remembering (``args.cid_given``) that the id
    was named outright, so no error suggests it was a prompt taken for an id."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        namespace.cid_given = True


def new_conversation() -> str:
    """A fresh conversation id."""
    return uuid.uuid4().hex


def conversation_metadata(params: dict[str, Any], conversation: str) -> dict[str, Any]:
    """Take ``-o metadata=...`` out of ``params`` and return it with ``conversation_id``
    added; a typed error when it is not a JSON object."""
    metadata = params.pop("metadata", {})
    check_mapping("metadata", metadata)
    return {**metadata, "conversation_id": conversation}


def logged_conversation(args: argparse.Namespace) -> tuple[str, list[Message], str]:
    """What ``--continue`` picks up: the conversation's id, its history as its last
    answered call left it, and the model that call asked for.

    Raises :class:`~relaykit.ConfigError` when the call log is off, and
    :class:`~relaykit.InvalidRequestError` when no such conversation is logged or
    ``--system`` tries to change it.
    """
    from ..protocols import LogQuery
    from .storage_session import opened_storage

    if args.system:
        raise InvalidRequestError(
            "--system cannot change a continued conversation: it keeps its own system prompt",
            hint="drop --system, or start a new conversation with it",
        )

    async def last_answered(args: argparse.Namespace) -> CallRecord | None:
        async with opened_storage(args) as storage:
            conversation = args.continue_id
            if conversation == NEWEST:
                conversation = await newest_conversation(storage)
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


async def newest_conversation(storage: Storage) -> str | None:
    """The conversation of the newest answered call that has one, among the newest calls."""
    from ..protocols import LogQuery

    page = 20  # the newest call is usually one: a page reads whole records
    # By cursor: calls logged meanwhile (another chat) cannot shift a page.
    query = LogQuery(status="ok", limit=page)
    for _ in range(0, NEWEST_LOOKED_AT, page):
        records = await storage.query_logs(query)
        for record in records:
            if record.conversation_id is not None:
                return record.conversation_id
        if len(records) < page:
            break
        query = query.next_page(records)
    return None
