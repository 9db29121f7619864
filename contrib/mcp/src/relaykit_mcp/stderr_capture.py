"""An MCP stdio server's stderr, kept out of the terminal and the logs: captured in a
temporary file, read back (its end, secrets masked) when an error needs it."""

from __future__ import annotations

import os
from typing import IO

from relaykit.secrets import scrub

#: how much of the end of stderr an error quotes
TAIL_CHARS = 1000


class StderrCapture:
    """The server's stderr file and the secrets to mask when quoting it."""

    def __init__(self, file: IO[str], secrets: tuple[str, ...]) -> None:
        self.file = file
        self._secrets = secrets

    def tail(self, limit: int = TAIL_CHARS) -> str:
        """The last ``limit`` characters (about) of stderr, every known and
        recognisable secret masked."""
        fd = self.file.fileno()
        size = os.fstat(fd).st_size
        # The server writes through its own descriptor; read ours from the
        # start of the tail, in bytes (a split character decodes as U+FFFD).
        data = os.pread(fd, limit * 4, max(0, size - limit * 4))
        text = data.decode("utf-8", errors="replace")[-limit:]
        if len(data) >= limit and "\n" in text:
            text = text.partition("\n")[2]  # whole lines only
        return scrub(text, self._secrets).strip()
