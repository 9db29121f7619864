"""``relaykit prompt/chat --functions FILE.py``: each top-level function in a file is a tool.

As simonw/llm's ``--functions``: the file is run as a module of its own, and
each function it defines (not those it imports; not those whose name starts
with ``_``) is a tool, its schema written from its type hints and docstring
(:meth:`relaykit.FunctionTool.from_function`). The file's code runs with the
CLI's rights: it is the user's own code, as a script they would run.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from ..errors import InvalidRequestError
from ..function_tools import FunctionTool


def functions_by_file(paths: Sequence[str]) -> list[tuple[str, list[FunctionTool]]]:
    """Each of ``paths`` with the tools its file defines, in the order it defines them."""
    groups: list[tuple[str, list[FunctionTool]]] = []
    for i, path in enumerate(paths):
        module = _load(Path(path), i)
        found = [
            FunctionTool.from_function(value)
            for name, value in vars(module).items()
            if inspect.isfunction(value)
            and value.__module__ == module.__name__
            and not name.startswith("_")
        ]
        if not found:
            raise InvalidRequestError(
                f"--functions {path}: the file defines no function",
                param="--functions",
                hint="define the tools as top-level functions (def name(arg: str) -> str:)",
            )
        groups.append((path, found))
    return groups


def _load(path: Path, i: int) -> ModuleType:
    if not path.is_file():
        if path.is_dir():
            problem = "it is a directory"
        elif path.exists():  # /dev/null, a pipe: is_file() is false of them too
            problem = "it is a device, not a file"
        else:
            problem = "there is no such file"
        raise InvalidRequestError(
            f"--functions {path}: {problem}",
            param="--functions",
            hint="give the path of a Python file defining the tools",
        )
    # A module name of its own, registered while it runs: dataclasses and type
    # hints look their module up in sys.modules.
    stem = re.sub(r"\W", "_", path.stem)
    name = f"relaykit_functions_{i}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        # importlib takes only a name ending in .py for Python source
        raise InvalidRequestError(
            f"--functions {path}: not a Python file",
            param="--functions",
            hint=f"give a file whose name ends in .py (cp {shlex.quote(str(path))} tools.py)",
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's code: say what broke, briefly
        del sys.modules[name]
        # A script's `if not args: sys.exit(...)` would end relaykit with the file's
        # exit code (0: a silent success) and no call made: it is the file's error.
        broke = (
            f"it called sys.exit({e.code!r})"
            if isinstance(e, SystemExit)
            else f"{type(e).__name__}: {e}"
        )
        raise InvalidRequestError(
            f"--functions {path}: running it failed: {broke}",
            param="--functions",
            hint=f"run it to see where: python {shlex.quote(str(path))}",
        ) from None
    return module
