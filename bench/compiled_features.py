"""Would compiling issue #6's features reach its 15%? Counted with mypyc.

Issue #6 asks that tracing, metrics, redaction and a limiter add at most 15% to
a call's client CPU; pure Python stays at ~35% (docs/benchmarks-observability.md).
This compiles the modules those features run on each call with mypyc (the
compiler mypy ships: the code is typed already, so it compiles as it is, but
for two small patches below), in a copy of the sources, and counts the
realistic turn over HTTP (``observability_instructions.py --realistic --http
--tracers lean --scenarios plain,no_pii``) with the compiled modules first on
``PYTHONPATH``, and again without: what compiling would buy, before anyone
ships a compiled build.

    uv run python bench/compiled_features.py              # ~20 minutes, valgrind and gcc
    uv run python bench/compiled_features.py --calls 100  # a quicker, rougher reading

The copy is patched where mypyc's native classes differ from Python's (each
patch must apply, or the script stops: the sources moved on, look again):
``Secret`` stays a Python class (mypyc rejects its ``__str__ = __repr__``
alias and its construction fails as a native class), and ``CallTracer``'s
module-valued attributes are typed ``Any``. Not compiled, because mypyc
cannot: the built-in plugin (pluggy reads its hook markers off the methods),
relaykit-otlp's span queue (a ``WeakMethod`` of a native method) and
relaykit-prometheus's exporter (its instruments' types, through an import
cycle); nor the OpenTelemetry API, attrs and the standard library the
features call into.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "observability_instructions.py"

#: the modules each call of the ``no_pii`` scenario runs for its features
MODULES = (
    "relaykit/secrets.py",
    "relaykit/known_secrets.py",
    "relaykit/redaction.py",
    "relaykit/memory_limiter.py",
    "relaykit/call_limits.py",
    "relaykit/call_outcomes.py",
    "relaykit/record_params.py",
    "relaykit/log_format.py",
    "relaykit/metrics.py",
    "relaykit/tracing.py",
    "relaykit_otlp/lean_spans.py",
)

#: (file, pattern, replacement): where a native class would behave otherwise
PATCHES = (
    (
        "relaykit/secrets.py",
        r"\nclass Secret:",
        "\nfrom mypy_extensions import mypyc_attr\n\n\n"
        "@mypyc_attr(native_class=False)\nclass Secret:",
    ),
    (
        "relaykit/secrets.py",
        r"\n    __str__ = __repr__\n",
        "\n    def __str__(self) -> str:\n        return self.__repr__()\n",
    ),
    (
        "relaykit/tracing.py",
        r"\n        self\._trace = trace\n",
        "\n        self._trace: Any = trace\n",
    ),
    (
        "relaykit/tracing.py",
        r"\n        self\._propagate = propagate\n",
        "\n        self._propagate: Any = propagate\n",
    ),
)

MYPY_INI = """\
[mypy]
python_version = 3.11
strict = True

[mypy-relaykit.hookspecs]
disable_error_code = empty-body
"""

SETUP = """\
import sys
from mypyc.build import mypycify
from setuptools import setup

modules = sys.argv.pop().split(",")
setup(
    name="relaykit-compiled-features",
    packages=[],
    py_modules=[],
    ext_modules=mypycify(["--config-file", "mypy.ini", *modules], opt_level="3"),
)
"""


def compiled_copy(into: Path, modules: tuple[str, ...]) -> None:
    """The core's and relaykit-otlp's sources in ``into``, ``modules`` compiled there."""
    shutil.copytree(ROOT / "core" / "src" / "relaykit", into / "relaykit")
    shutil.copytree(ROOT / "plugins" / "otlp" / "src" / "relaykit_otlp", into / "relaykit_otlp")
    for name, pattern, replacement in PATCHES:
        path = into / name
        text, n = re.subn(pattern, replacement, path.read_text(), count=1)
        if n != 1:
            raise SystemExit(f"{name}: the patch for {pattern!r} no longer applies; see its notes")
        path.write_text(text)
    (into / "mypy.ini").write_text(MYPY_INI)
    (into / "setup.py").write_text(SETUP)
    subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "-j", "2", ",".join(modules)],
        cwd=into,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def counted(calls: int, pythonpath: Path | None) -> str:
    """``observability_instructions.py``'s table for plain and ``no_pii`` over HTTP."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    argv = [sys.executable, str(BENCH), "--realistic", "--http", "--tracers", "lean"]
    argv += ["--scenarios", "plain,no_pii", "--calls", str(calls)]
    return subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout


def main() -> None:
    """Count both ways and print the two tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=300, help="calls in each difference")
    p.add_argument("--modules", default=",".join(MODULES), help="the modules to compile")
    args = p.parse_args()
    for tool in ("valgrind", "gcc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on the PATH: apt-get install {tool}")
    with tempfile.TemporaryDirectory(prefix="relaykit-mypyc-") as directory:
        compiled_copy(Path(directory), tuple(args.modules.split(",")))
        print("compiled with mypyc:", args.modules.replace(",", ", "), "\n")
        print(counted(args.calls, Path(directory)))
    print("pure Python (as installed):\n")
    print(counted(args.calls, None))


if __name__ == "__main__":
    main()
