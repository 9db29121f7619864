"""Long messages stored once: ``shared_messages`` rows and their reference counts.

A row's ``refs`` is how many references the ``logs`` rows hold to it, each
occurrence in a row's ``messages`` once (as
:func:`relaykit.record_rows.message_keys` lists them). A batch adds the
references of the rows it inserted, a prune takes the deleted rows' away, each
in the transaction that changes ``logs``; a message left with none is deleted.

Writers and prune lock these rows in one order (by key, bytewise, whatever the
database's collation), so concurrent ones queue instead of deadlocking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from relaykit.record_rows import MESSAGES, message_keys

from .drivers import Transaction

# Arrays travel in binary: psycopg escapes text arrays (JSON, full of quotes)
# in Python, which cost more than the rest of a batch's encoding.
# INSERT takes the SELECT's rows, and ON CONFLICT locks them, in the SELECT's order.
ADD_REFERENCES = (
    "INSERT INTO shared_messages (key, body, refs)"
    " SELECT key, body, refs FROM unnest(%b::text[], %b::text[], %b::bigint[])"
    ' AS added (key, body, refs) ORDER BY key COLLATE "C"'
    " ON CONFLICT (key) DO UPDATE SET refs = shared_messages.refs + excluded.refs"
)
# FOR UPDATE locks the rows as the sort hands them over.
LOCK = (
    "SELECT key, refs FROM shared_messages WHERE key = ANY(%b::text[])"
    ' ORDER BY key COLLATE "C" FOR UPDATE'
)
DELETE = "DELETE FROM shared_messages WHERE key = ANY(%b::text[])"
SET_REFERENCES = (
    "UPDATE shared_messages AS s SET refs = n.refs"
    " FROM unnest(%b::text[], %b::bigint[]) AS n (key, refs) WHERE s.key = n.key"
)
SELECT = "SELECT key, body FROM shared_messages WHERE key = ANY(%b::text[])"


async def add_references(tx: Transaction, references: list[list[Any]]) -> None:
    """Store a batch's messages, or count its references to stored ones.

    :param references: keys, bodies (JSON text) and counts, three lists in step.
    """
    if references[0]:
        await tx.execute(ADD_REFERENCES, references)


async def drop_references(tx: Transaction, counts: Counter[str]) -> None:
    """Take deleted rows' references (counts by key) away; delete the messages left with none."""
    if not counts:
        return
    stored = await tx.fetch(LOCK, [list(counts)])
    # Locked: nobody changes these counts before this transaction ends.
    left = [(key, refs - counts[key]) for key, refs in stored]
    if unreferenced := [key for key, refs in left if refs <= 0]:
        await tx.execute(DELETE, [unreferenced])
    if referenced := [(key, refs) for key, refs in left if refs > 0]:
        keys, refs = zip(*referenced, strict=True)
        await tx.execute(SET_REFERENCES, [list(keys), list(refs)])


async def read_shared(tx: Transaction, rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """The messages ``rows`` (of :data:`~relaykit.record_rows.COLUMNS`) refer to: JSON by key.

    Run it in the transaction that selected the rows, under REPEATABLE READ:
    a prune committing in between could otherwise delete one of them.
    """
    keys = {key for row in rows for key in message_keys(row[MESSAGES])}
    return dict(await tx.fetch(SELECT, [list(keys)])) if keys else {}
