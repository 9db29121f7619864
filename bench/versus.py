"""Run one benchmark on another commit's sources and on this checkout's, in alternated pairs.

What a change did to a hot path is read off pairs run in the same session on
the same machine (instruction counts move ±10-20 k between runs of the same
code, timed rounds by more): this runs ``bench/SCRIPT`` with the sources of
``BASE`` first on ``PYTHONPATH`` (``git archive`` of every distribution's
``src``), then with this checkout's, ``--pairs`` times, and prints each run's
output under a heading. The benchmark script itself is always this
checkout's, so both sides are measured the same way.

    uv run python bench/versus.py 62c7361 instructions.py -- --clients raw,relaykit
    uv run python bench/versus.py HEAD~3 observability_instructions.py --pairs 1 -- \\
        --realistic --tracers lean --scenarios plain,all --calls 300
    nox -s versus -- 62c7361 instructions.py

The base's sources must import with this checkout's dependencies (uv.lock):
a base from before a dependency change may not.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: where the workspace's distributions keep their sources (``*/src`` under each)
SOURCES = ("core", "plugins", "contrib", "libs")


def source_paths(tree: Path) -> list[str]:
    """Every distribution's ``src`` directory under ``tree``, core first."""
    found = [tree / "core" / "src"]
    for group in SOURCES[1:]:
        found += sorted((tree / group).glob("*/src"))
    return [str(path) for path in found if path.is_dir()]


def extract(commit: str, into: Path) -> str:
    """``commit``'s sources unpacked into ``into``; returns its full commit id."""
    full = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if full.returncode != 0:
        sys.exit(f"versus: {commit!r} is not a commit here (git rev-parse: {full.stderr.strip()})")
    with subprocess.Popen(
        ["git", "archive", full.stdout.strip(), *SOURCES], cwd=ROOT, stdout=subprocess.PIPE
    ) as archive:
        subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.returncode != 0:
        sys.exit(f"versus: git archive of {commit} failed")
    return full.stdout.strip()


def run(script: Path, args: list[str], pythonpath: list[str]) -> int:
    """Run the benchmark with ``pythonpath`` first on the path; its output goes through."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    sys.stdout.flush()
    return subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=env).returncode


def main() -> None:
    """Parse the arguments, unpack the base, run the pairs."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("base", help="the commit to compare against (a hash, a branch, HEAD~2)")
    p.add_argument("script", help="a benchmark in bench/, e.g. instructions.py")
    p.add_argument("--pairs", type=int, default=2, help="base-then-this runs (default 2)")
    p.epilog = "Arguments after -- go to the benchmark."
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = p.parse_args(argv[:split])
    bench_args = argv[split + 1 :]
    script = HERE / args.script
    if not script.is_file():
        p.error(f"no benchmark {args.script!r} in bench/ (e.g. instructions.py)")
    if args.pairs < 1:
        p.error("--pairs must be 1 or more")
    with tempfile.TemporaryDirectory(prefix="relaykit-versus-") as tmp:
        commit = extract(args.base, Path(tmp))
        base_path = source_paths(Path(tmp))
        for pair in range(1, args.pairs + 1):
            for label, path in ((f"base {commit[:10]}", base_path), ("this checkout", [])):
                print(f"\n## pair {pair}: {label}\n", flush=True)
                if run(script, bench_args, path) != 0:
                    sys.exit(f"versus: {args.script} failed on {label}")


if __name__ == "__main__":
    main()
