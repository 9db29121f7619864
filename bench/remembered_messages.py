"""What a chat's resent message costs the record's redaction, in instructions.

A chat resends its history every turn, as new strings (a web app decodes each
request afresh). Each resent message goes through the client's redaction
chain (its own keys, then the built-in secret redactor) when the call's record
is built; the chain remembers the results, so what is left is the look-up.
This builds messages of ``observability.py``'s realistic user turn (~0.7 KB)
as a request would, and counts under valgrind's cachegrind, twice with
``--messages`` more the second time: building them alone, then building them
and putting each through the chain; the difference between the two is what
the chain adds to one remembered message (build included, for comparison).

    uv run python bench/remembered_messages.py             # ~1 minute

Needs ``valgrind`` on the PATH. See docs/benchmarks-observability.md, "resent history".
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from instructions import cachegrind

#: distinct texts, each remembered before the counted rounds (a history of 8)
TEXTS = 8


def child(rounds: int, through_chain: bool) -> None:
    """Build ``rounds`` times ``TEXTS`` messages of new strings; with ``through_chain``,
    put each through the client's chain (every text remembered beforehand)."""
    from observability import KEY, USER

    from relaykit.builtins import SecretRedactor
    from relaykit.known_secrets import KnownSecrets
    from relaykit.messages import Message, TextPart
    from relaykit.redaction import RedactionChain

    known = KnownSecrets()
    known.add(KEY)
    chain = RedactionChain([known, SecretRedactor()])
    labels = [f"request {i}" for i in range(TEXTS)]
    for _ in range(3):  # seen, seen again: remembered
        for label in labels:
            chain.message(Message("user", (TextPart(f"{USER} ({label})"),)))
    for _ in range(rounds):
        batch = [Message("user", (TextPart(f"{USER} ({label})"),)) for label in labels]
        if through_chain:
            for message in batch:
                chain.message(message)


def count(rounds: int, through_chain: bool) -> int:
    """Instructions of a child process doing :func:`child`."""
    argv = [str(Path(__file__)), "--child", str(rounds)]
    if through_chain:
        argv.append("--chain")
    return cachegrind(argv)


def main() -> None:
    """Print the instructions a remembered message costs, built and through the chain."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=1000, help="rounds of 8 messages counted")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--chain", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        child(args.child, args.chain)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    messages = args.rounds * TEXTS
    built = (count(100 + args.rounds, False) - count(100, False)) / messages
    chained = (count(100 + args.rounds, True) - count(100, True)) / messages
    print("| a remembered ~0.7 KB message | instructions |")
    print("|---|---:|")
    print(f"| built from new strings | {built / 1e3:.1f} k |")
    print(f"| built and through the chain | {chained / 1e3:.1f} k |")
    print(f"| the chain's part | {(chained - built) / 1e3:.1f} k |")


if __name__ == "__main__":
    main()
