"""The README's example runs as written: each of its asserts is what the library says."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs() -> None:
    [block] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    exec(compile(block, str(README), "exec"), {"__name__": "__main__"})


def test_the_readme_example_fails_when_the_refusal_does_not_come() -> None:
    """Its try block must not pass silently when check_sampling stops refusing."""
    [block] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    lenient = block.replace("check_sampling(", "(lambda *a, **k: None)(", 1)
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(lenient, str(README), "exec"), namespace)
    except AssertionError:
        return
    raise AssertionError("the example passed although nothing was refused")
