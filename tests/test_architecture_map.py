"""docs/architecture.md stays a true map: every core module and distribution has its row.

A row is a table line whose first cell links to what it describes:
``| [attempts.py](../core/src/relaykit/attempts.py) | job |`` for a module (path
under core/src/relaykit, ``__init__.py`` and ``__main__.py`` left out) and
``| [plugins/openai](../plugins/openai) | ... |`` for a distribution. Any relative
link of the page (the call path's too) must name something that exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
CORE = ROOT / "core" / "src" / "relaykit"
CORE_LINK = "../core/src/relaykit/"
DISTRIBUTION_DIRS = ("plugins", "contrib", "libs")

ROW = re.compile(r"^\| \[([^\]]+)\]\(([^)\s]+)\) \|", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def core_modules() -> list[str]:
    """Every module of the core, as a path under core/src/relaykit (``cli/main.py``)."""
    return sorted(
        p.relative_to(CORE).as_posix()
        for p in CORE.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )


def distributions() -> list[str]:
    """Every distribution directory beside the core (``plugins/openai``)."""
    return sorted(
        p.parent.relative_to(ROOT).as_posix()
        for top in DISTRIBUTION_DIRS
        for p in ROOT.glob(f"{top}/*/pyproject.toml")
    )


def rows(doc: str) -> tuple[list[str], list[str], list[str]]:
    """The modules and distributions the page's rows name, and rows whose text and link differ."""
    modules: list[str] = []
    dists: list[str] = []
    mismatched: list[str] = []
    for label, target in ROW.findall(doc):
        if target.startswith(CORE_LINK):
            named, found = target.removeprefix(CORE_LINK), modules
        elif target.startswith("../") and target.split("/")[1] in DISTRIBUTION_DIRS:
            named, found = target.removeprefix("../").rstrip("/"), dists
        else:
            continue
        found.append(named)
        if label != named:
            mismatched.append(f"[{label}]({target})")
    return modules, dists, mismatched


def _first_line(module: str) -> str:
    """The module docstring's first line, to start the row the message asks for."""
    path = CORE / module
    if not path.exists():
        return "<its job>"
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    return docstring.strip().split("\n", 1)[0] or "<its job>"


def problems(doc: str, modules: list[str], dists: list[str], exists: set[str]) -> list[str]:
    """What is wrong with the map ``doc``, each with what to do; empty when it is true.

    ``exists``: the relative link targets of ``doc`` that name an existing file or directory.
    """
    named_modules, named_dists, mismatched = rows(doc)
    found: list[str] = []
    missing = [m for m in modules if m not in named_modules]
    if missing:
        rows_to_add = "\n".join(f"  | [{m}]({CORE_LINK}{m}) | {_first_line(m)} |" for m in missing)
        found.append(
            f"docs/architecture.md has no row for the core module(s) {', '.join(missing)}. "
            "Add one per module to the table of its area under '## Core modules' "
            f"(one line saying its job):\n{rows_to_add}"
        )
    missing_dists = [d for d in dists if d not in named_dists]
    if missing_dists:
        found.append(
            f"docs/architecture.md has no row for the distribution(s) {', '.join(missing_dists)}. "
            "Add one each to the table under '## Distributions around the core': "
            "| [plugins/NAME](../plugins/NAME) | relaykit-NAME | hooks implemented | provides |"
        )
    gone = sorted(
        {m for m in named_modules if m not in modules} | {d for d in named_dists if d not in dists}
    )
    if gone:
        found.append(
            f"docs/architecture.md has rows for {', '.join(gone)}, which no longer exist. "
            "Remove those rows, or point them at the module that took over the job."
        )
    duplicated = sorted(
        {n for n in [*named_modules, *named_dists] if [*named_modules, *named_dists].count(n) > 1}
    )
    if duplicated:
        found.append(
            f"docs/architecture.md has more than one row for {', '.join(duplicated)}: keep one."
        )
    if mismatched:
        found.append(
            "docs/architecture.md has rows whose text is not their link's path: "
            f"{', '.join(mismatched)}. Make the text the path under core/src/relaykit "
            "(or the distribution's directory)."
        )
    broken = sorted(
        {t for t in LINK.findall(doc) if "://" not in t and not t.startswith("#")} - exists
    )
    if broken:
        found.append(
            f"docs/architecture.md links to {', '.join(broken)}, which do not exist. "
            "Fix the links (the call path names modules too) or drop them."
        )
    return found


def existing_links(doc: str) -> set[str]:
    """The relative link targets of ``doc`` (read from docs/) that exist."""
    return {
        target
        for target in LINK.findall(doc)
        if "://" not in target
        and not target.startswith("#")
        and (DOC.parent / target.split("#", 1)[0]).exists()
    }


def test_the_architecture_map_names_every_module_and_distribution_and_nothing_gone() -> None:
    doc = DOC.read_text()
    found = problems(doc, core_modules(), distributions(), existing_links(doc))
    assert not found, "\n\n".join(found)


def test_the_map_has_rows_for_the_modules_the_call_path_depends_on() -> None:
    # Guards the row pattern itself: were it to match nothing, the check above would
    # see every module missing, not pass; this says so more plainly.
    named_modules, named_dists, _ = rows(DOC.read_text())
    assert {"client.py", "attempts.py", "cli/main.py", "testing/chaos.py"} <= set(named_modules)
    assert {"plugins/openai", "libs/google-auth", "contrib/gateway"} <= set(named_dists)


SAMPLE = """\
| module | job |
|---|---|
| [attempts.py](../core/src/relaykit/attempts.py) | retries and fallbacks |
| [gone.py](../core/src/relaykit/gone.py) | a module since removed |
| [cli/main.py](../core/src/relaykit/cli/x.py) | text and link differ |

| [plugins/openai](../plugins/openai) | relaykit-openai | `relaykit_providers` | OpenAI |

See [routing.py](../core/src/relaykit/routing.py).
"""


def test_a_missing_module_a_gone_one_and_a_stale_link_are_each_named() -> None:
    modules = ["attempts.py", "routing.py", "cli/x.py", "breaker.py"]
    exists = {
        "../core/src/relaykit/attempts.py",
        "../plugins/openai",
        "../core/src/relaykit/cli/x.py",
    }
    found = problems(SAMPLE, modules, ["plugins/openai", "plugins/redis"], exists)
    text = "\n".join(found)
    assert "no row for the core module(s) routing.py, breaker.py" in text
    assert "| [breaker.py](../core/src/relaykit/breaker.py) | Circuit breakers" in text
    assert "no row for the distribution(s) plugins/redis" in text
    assert "rows for gone.py, which no longer exist" in text
    assert "[cli/main.py](../core/src/relaykit/cli/x.py)" in text
    assert "links to ../core/src/relaykit/gone.py, ../core/src/relaykit/routing.py" in text


def test_a_true_map_has_no_problems() -> None:
    doc = "| [attempts.py](../core/src/relaykit/attempts.py) | job |\n"
    assert problems(doc, ["attempts.py"], [], {"../core/src/relaykit/attempts.py"}) == []
