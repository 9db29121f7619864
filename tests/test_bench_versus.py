"""bench/versus.py runs a benchmark on another commit's sources: they must be what imports."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _versus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_versus", ROOT / "bench" / "versus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_base_sources_are_the_ones_imported(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    versus = _versus()
    commit = versus.extract("HEAD", tmp_path)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert commit == head.stdout.strip()
    paths = versus.source_paths(tmp_path)
    assert paths[0] == str(tmp_path / "core" / "src")
    assert str(tmp_path / "plugins" / "openai" / "src") in paths
    assert str(tmp_path / "libs" / "google-auth" / "src") in paths
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import relaykit, relaykit_openai\n"
        "print(relaykit.__file__)\n"
        "print(relaykit_openai.__file__)\n"
    )
    assert versus.run(probe, [], paths) == 0
    base = capfd.readouterr().out.split()
    assert base == [
        str(tmp_path / "core" / "src" / "relaykit" / "__init__.py"),
        str(tmp_path / "plugins" / "openai" / "src" / "relaykit_openai" / "__init__.py"),
    ]
    assert versus.run(probe, [], []) == 0  # this checkout's own
    own = capfd.readouterr().out.split()
    assert own[0] == str(ROOT / "core" / "src" / "relaykit" / "__init__.py")


def test_a_name_that_is_no_commit_is_named() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "versus.py"), "no-such-commit", "instructions.py"],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "'no-such-commit' is not a commit here" in run.stderr
    assert "Traceback" not in run.stderr
