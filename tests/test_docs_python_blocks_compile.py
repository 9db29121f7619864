"""Every ```python block of the docs compiles, so a syntax error in any of them fails CI.

The other docs tests run the blocks that can run offline; this one also covers those
aimed at a running gateway or a vendor's cloud. Snippets may ``await`` at top level
(as a notebook or ``python -m asyncio`` takes them): they compile with
``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT``.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("plugins/*/README.md")),
    *sorted(ROOT.glob("contrib/*/README.md")),
]
# A fence opening a Python block, however it is indented or spelled (```py, ```python3)
FENCE = re.compile(r"^[ \t]*```\s*(?:python3?|py)\b[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)


def python_blocks() -> list[Any]:
    return [
        pytest.param(
            path, text[: m.start()].count("\n") + 2, m.group(1), id=f"{path.relative_to(ROOT)}:{i}"
        )
        for path in DOCS
        for text in [path.read_text()]
        for i, m in enumerate(FENCE.finditer(text))
    ]


BLOCKS = python_blocks()


def test_the_docs_have_python_blocks() -> None:
    assert len(BLOCKS) >= 70


@pytest.mark.parametrize(("path", "line", "block"), BLOCKS)
def test_python_block_compiles(path: Path, line: int, block: str) -> None:
    source = textwrap.dedent(block)  # a block indented under a list item
    error: SyntaxError | None = None
    try:
        compile(
            source,
            str(path.relative_to(ROOT)),
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST,
            dont_inherit=True,
        )
    except SyntaxError as e:
        error = e
    if error is not None:  # named by the README's own line
        where = f"{path.relative_to(ROOT)}:{line + (error.lineno or 1) - 1}"
        pytest.fail(f"{where}: {error.msg}: {(error.text or '').strip()!r}", pytrace=False)
