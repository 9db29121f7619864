"""Page cursors of the call log: where the next page of ``query_logs`` starts.

Records are listed newest first, and records started in the same instant by
their id as stored (:func:`~relaykit.storable_text.encode_text`), larger
first: one total order, the same on every backend. A cursor names a record's
place in that order (its ``started_at`` and id), so a page read with
``LogQuery(before=cursor)`` starts just after it, however many records were
written or pruned since; an offset counts rows, which a newer record moves.

A cursor is a short URL- and shell-safe text (base64 of the two values):
nothing a caller builds by hand, but nothing beyond what the record they
were listed already shows either.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING

from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .protocols import CallRecord

#: what every refusal of a cursor says to do
_HINT = (
    "pass log_cursor(record) of the last record of the page before"
    " (relaykit logs prints the --before to give), or leave it out for the newest"
)


def log_cursor(record: CallRecord) -> str:
    """The cursor of ``record``: ``LogQuery(before=...)`` lists the records after it."""
    # JSON keeps the float exact (repr round-trips) and any id, a lone surrogate too.
    text = json.dumps([record.started_at, record.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def cursor_position(cursor: str) -> tuple[float, str]:
    """The ``(started_at, id)`` a cursor names; a text that is not one is an
    :class:`~relaykit.InvalidRequestError` (which never repeats the text: a
    mistaken paste may be anything, a key among them)."""
    try:
        if not isinstance(cursor, str) or not cursor.isascii():
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        if type(value) is not list or len(value) != 2:
            raise ValueError
        started_at, record_id = value
        if type(started_at) not in (int, float) or not math.isfinite(started_at):
            raise ValueError
        if not isinstance(record_id, str):
            raise ValueError
    # OverflowError: an integer too large for a float (isfinite cannot convert it)
    except (ValueError, TypeError, OverflowError, binascii.Error):
        is_text = isinstance(cursor, str)
        what = f"a {len(cursor)}-character text" if is_text else type(cursor).__name__
        raise InvalidRequestError(
            f"LogQuery before is {what} that is not a page cursor",
            param="before",
            hint=_HINT,
        ) from None
    return float(started_at), record_id
