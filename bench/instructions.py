"""Client instructions per request, counted by valgrind's cachegrind.

A companion to ``client_overhead.py`` for busy machines: CPU time moves with
whatever else runs, instruction counts barely do. Each client runs under
cachegrind twice, with ``--requests`` more calls the second time, against
``mock_server.py`` (a separate, native process); the difference divided by
``--requests`` is the cost of one call, without start-up, imports or warm-up.

    uv run python bench/instructions.py                     # chat and stream, ~5 min
    uv run python bench/instructions.py --modes stream --backend trio

Needs ``valgrind`` on the PATH. Instructions are not time (a cache miss costs
more than an add), so read the ratio next to the timed one, not instead of it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
from client_overhead import CLIENTS, Server, run_batch

HERE = Path(__file__).resolve().parent
WARMUP = 100


async def child(client: str, mode: str, n: int, url: str, concurrency: int) -> None:
    """What the measured process runs: a warm-up, then ``n`` calls."""
    async with CLIENTS[client](url) as c:
        call = getattr(c, mode)
        await run_batch(call, WARMUP, concurrency)
        await run_batch(call, n, concurrency)


def cachegrind(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Instructions a Python process running ``argv`` executed, counted by cachegrind."""
    cmd = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, *argv,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stderr
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise RuntimeError(f"no instruction count in cachegrind's output:\n{out}")
    return int(match.group(1).replace(",", ""))


def instructions(args: argparse.Namespace, url: str, client: str, mode: str, n: int) -> int:
    """Instructions the whole child process executed for ``n`` measured calls."""
    child = [str(Path(__file__)), "--child", client, mode, str(n), url]
    return cachegrind([*child, "--concurrency", str(args.concurrency), "--backend", args.backend])


def main() -> None:
    """Count each client's instructions per call and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", default="chat,stream")
    p.add_argument("--clients", default="raw,relaykit", help="the first is the baseline")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--requests", type=int, default=200, help="calls in the difference")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # CLIENT MODE N URL
    args = p.parse_args()
    if args.child:
        client, mode, n, url = args.child
        anyio.run(child, client, mode, int(n), url, args.concurrency, backend=args.backend)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    clients = args.clients.split(",")
    server = Server(None, event_writes=False, pin=False)
    names = [CLIENTS[c].name for c in clients]
    head = ["mode", "concurrency", *(f"{n} instructions/req" for n in names)]
    head += [f"{n} / {names[0]}" for n in names[1:]]
    try:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for mode in args.modes.split(","):
            counts = []
            for client in clients:
                low = instructions(args, server.base_url, client, mode, 0)
                high = instructions(args, server.base_url, client, mode, args.requests)
                counts.append((high - low) / args.requests)
            cells = [f"{c / 1e6:.2f} M" for c in counts]
            cells += [f"{c / counts[0]:.2f}x" for c in counts[1:]]
            print(f"| {mode} | {args.concurrency} | {' | '.join(cells)} |", flush=True)
    finally:
        server.close()


if __name__ == "__main__":
    main()
