"""A package's public names, loaded when first asked for (PEP 562).

relaykit imports every installed plugin's entry-point module in each process
that builds a client or runs the CLI (``relaykit --help`` too), and importing
that module imports its package first. A package that imported its providers
(or an ASGI app) at the top would make every one of those processes pay for
them. With :func:`lazy_exports`, ``from relaykit_x import XProvider`` still
works, and loads ``relaykit_x.provider`` only then.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` whose names load lazily.

    :param package: the package's ``__name__``.
    :param exports: each public name -> the submodule (relative to ``package``)
        defining it.
    :param public: the package's ``__all__``, which ``dir()`` lists before they load.

    Use it at the bottom of the package's ``__init__.py``, with the same names
    imported under ``if TYPE_CHECKING:`` for type checkers::

        __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)

    A name may not be its own module's (``serve`` from ``serve.py``): importing
    the submodule sets the package's attribute of that name to the module, and
    ``__getattr__`` is never asked again. :class:`ValueError` names it.
    """
    clashes = sorted(name for name, module in exports.items() if name == module)
    if clashes:
        raise ValueError(
            f"{package}: {', '.join(clashes)} would be shadowed by the submodule of the"
            " same name once it is imported: rename the module"
        )

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        vars(sys.modules[package])[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return __getattr__, __dir__
