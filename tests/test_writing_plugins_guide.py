"""docs/writing-plugins.md runs: its code blocks form a plugin that passes the contract suite.

The blocks are the files of one package. Executed in order in one namespace they
need no imports between them, so those lines are dropped, and the namespace
itself stands in for the ``relaykit_parrot.plugin`` module.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-plugins.md"


def load_guide() -> types.ModuleType:
    module = types.ModuleType("relaykit_parrot_guide")
    module.plugin = module  # type: ignore[attr-defined]
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S):
        code = "\n".join(
            line
            for line in block.splitlines()
            if not re.match(r"\s*from (\.|relaykit_parrot)", line)
        )
        exec(compile(code, str(GUIDE), "exec"), module.__dict__)
    return module


guide = load_guide()


class TestGuideParrot(guide.TestParrot):  # type: ignore[name-defined,misc]
    """The guide's own contract test class, run as written: the whole suite."""
