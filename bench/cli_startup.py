"""How long the ``relaykit`` command takes to start, and how many modules it imports.

A command line pays its imports on every run (simonw/llm's users notice start-up;
LiteLLM's 1-2 s import is a known complaint), and every installed plugin's entry
point is imported by every run. Each probe runs ``relaykit ...`` in a fresh
process ``--runs`` times after one warm-up (which also writes the bytecode caches)
and reports the fastest and the median wall time. A second fresh process per probe
runs the same command in-process and counts the modules left in ``sys.modules``,
and lists which of the heavy modules a cheap command should not need were loaded.

``relaykit logs -n 1`` reads a SQLite call log in a temporary directory (created
empty on first use), so it measures the cheapest real storage command.

    uv run python bench/cli_startup.py              # or: nox -s cli-startup
    uv run python bench/cli_startup.py --runs 21 --json /tmp/cli.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: what each probe runs after ``relaykit``
PROBES: dict[str, list[str]] = {
    "relaykit --help": ["--help"],
    "relaykit models --help": ["models", "--help"],
    "relaykit logs -n 1": ["logs", "-n", "1"],
    "relaykit keys --help": ["keys", "--help"],
}

#: modules a command's help does not need (tests/test_cli_startup.py keeps them out of it);
#: ``logs -n 1`` needs some (records, cattrs, the storage, anyio) but no provider or app
HEAVY = (
    "httpx",
    "anyio",
    "cattrs",
    "relaykit.config",
    "relaykit.call_log",
    "relaykit.serialization",
    "relaykit_gateway.app",
    "relaykit_openai.provider",
    "relaykit_anthropic.provider",
    "relaykit_bedrock.provider",
    "relaykit_gemini.vertex",
    "relaykit_sqlite.collection",
)

#: runs ``relaykit`` in-process with stdout discarded, then prints sys.modules as JSON
_COUNT = """
import contextlib, io, json, sys
from relaykit.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _command() -> list[str]:
    script = shutil.which("relaykit", path=str(Path(sys.executable).parent))
    # The console script, as a user runs it; ``-m relaykit`` where it is not installed.
    return [script] if script else [sys.executable, "-m", "relaykit"]


def _environment(directory: Path) -> dict[str, str]:
    config = directory / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{directory / "logs.db"}"\n')
    env = dict(os.environ)
    env["RELAYKIT_CONFIG"] = str(config)
    return env


def time_probe(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Wall seconds of ``runs`` fresh ``relaykit ARGS`` processes, after one warm-up."""
    command = [*_command(), *args]
    seconds = []
    for i in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()}")
        if i:
            seconds.append(elapsed)
    return seconds


def imported(args: list[str], env: dict[str, str]) -> list[str]:
    """The modules in ``sys.modules`` after ``main(ARGS)`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNT, *args], env=env, capture_output=True, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    modules: list[str] = found["modules"]
    return modules


def measure(runs: int) -> list[dict[str, Any]]:
    """One row per probe: min and median ms, modules imported, heavy ones among them."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment(Path(tmp))
        for name, args in PROBES.items():
            print(f"  {name} ...", file=sys.stderr, flush=True)
            seconds = time_probe(args, runs, env)
            modules = imported(args, env)
            rows.append(
                {
                    "probe": name,
                    "min_ms": min(seconds) * 1000,
                    "median_ms": statistics.median(seconds) * 1000,
                    "modules": len(modules),
                    "heavy": [m for m in HEAVY if m in modules],
                }
            )
    return rows


def baseline(runs: int) -> dict[str, float]:
    """``python -c pass`` in the same way: the floor no command goes below."""
    seconds = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        if i:
            seconds.append(time.perf_counter() - started)
    return {"min_ms": min(seconds) * 1000, "median_ms": statistics.median(seconds) * 1000}


def markdown(rows: list[dict[str, Any]], floor: dict[str, float]) -> str:
    """The rows as a markdown table, ``python -c pass`` first."""
    lines = [
        "| command | min ms | median ms | modules imported | heavy modules loaded |",
        "|---|---|---|---|---|",
        f"| `python -c pass` | {floor['min_ms']:.0f} | {floor['median_ms']:.0f} | | |",
    ]
    for row in rows:
        heavy = ", ".join(f"`{m}`" for m in row["heavy"]) or "none"
        lines.append(
            f"| `{row['probe']}` | {row['min_ms']:.0f} | {row['median_ms']:.0f} "
            f"| {row['modules']} | {heavy} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure, print the table, optionally write JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=11, help="fresh processes per probe (default 11)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = p.parse_args()
    floor = baseline(args.runs)
    rows = measure(args.runs)
    print(markdown(rows, floor))
    if args.json:
        args.json.write_text(json.dumps({"baseline": floor, "probes": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
