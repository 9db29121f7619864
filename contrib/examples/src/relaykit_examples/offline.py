"""``relaykit-offline COMMAND...``: run a command against a mock of OpenAI, offline.

It starts :class:`relaykit.testing.OpenAIMock` (the loopback server ``relaykit
demo`` talks to), then runs the command with ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` pointing at it and relaykit's call log off, so the mock's
answers stay out of your own log. Nothing leaves the machine.

The mock answers its first request with a 429 and ``Retry-After: 0.5``, to show
a retry; after that it repeats each prompt back, a few words at a time when
streamed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from relaykit.testing import OpenAIMock, Reply

KEY = "sk-offline-not-a-real-key-0000"


class OfflineMock(OpenAIMock):
    """:class:`OpenAIMock` whose answers stream slowly enough to watch."""

    def default_reply(self, last_user_text: str) -> Reply:
        """Repeat the prompt back; streamed, a piece every 50 ms."""
        return Reply(text=f"(offline mock) You said: {last_user_text}", chunk_delay=0.05)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``argv`` (default: this program's arguments) against the mock; its exit code."""
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        print("usage: relaykit-offline COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with OfflineMock(api_key=KEY) as mock:
        mock.script.fail(
            429, "Rate limit reached (the offline mock's first answer)", retry_after=0.5
        )
        env = {
            **os.environ,
            "OPENAI_BASE_URL": mock.base_url,
            "OPENAI_API_KEY": KEY,
            "RELAYKIT_STORAGE_BACKEND": "none",
        }
        print(f"relaykit-offline: a mock of OpenAI at {mock.base_url}", file=sys.stderr)
        with subprocess.Popen(command, env=env) as child:
            try:
                return child.wait()
            except KeyboardInterrupt:
                return child.wait()  # it had the Ctrl-C too: let it finish cleanly


if __name__ == "__main__":
    sys.exit(main())
