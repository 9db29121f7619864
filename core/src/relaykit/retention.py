"""``[storage] retention_days``: delete old call records, at client start and then daily.

Deliberately simple: the call log's writer prunes once when it starts and
again after a write whenever a day has passed since the last prune. A process
that writes nothing does not prune (its records are not growing), and several
processes sharing one store each prune on their own schedule, which is
harmless: pruning twice deletes nothing the second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .protocols import Storage

log = logging.getLogger("relaykit.retention")

DAY = 24 * 3600.0


class RetentionPolicy:
    """Keep records for ``days`` days; prune at most once every ``interval`` seconds."""

    def __init__(
        self, days: float, *, interval: float = DAY, clock: Callable[[], float] = time.time
    ) -> None:
        self.days = days
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        """Whether a prune is due (never pruned, or ``interval`` has passed)."""
        return self._last is None or self._clock() - self._last >= self._interval

    async def apply(self, storage: Storage) -> int:
        """Prune ``storage`` now; return how many records went (0 when pruning failed)."""
        now = self._clock()
        self._last = now
        try:
            cutoff = datetime.fromtimestamp(now, UTC) - timedelta(days=self.days)
        except OverflowError:
            # Longer than the calendar reaches back (the year 1): no record is that old.
            return 0
        try:
            deleted = await storage.prune(cutoff)
        except Exception:
            # Retention is housekeeping: a failure must not stop logging.
            log.exception("could not prune call records older than %g days", self.days)
            return 0
        if deleted:
            log.info("pruned %d call records older than %g days", deleted, self.days)
        return deleted
