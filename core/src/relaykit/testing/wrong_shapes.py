"""Requests of the wrong shape, to sweep a vendor mock with: :func:`sweep_wrong_shapes`.

A vendor's API refuses a body whose JSON has the wrong shape with a 400; a mock
that took it, or raised on it, would hide an encoder's bug. The sweep sends a
well-formed body with each of its fields changed in turn (to null, a list, an
object, a number, a string, or removed) and collects the answers, failing if the
mock raised on any (each answered with a 500, kept in ``mock.failures``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .vendor_mock import VendorMock

__all__ = ["REPLACEMENTS", "sweep_wrong_shapes", "wrong_shapes"]

#: what a field is set to, by the name a change carries ("removed" deletes it)
REPLACEMENTS: dict[str, Any] = {
    "null": None,
    "list": [7],
    "object": {},
    "number": 7,
    "string": "x",
}

_Answer = TypeVar("_Answer")


def wrong_shapes(base: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each copy of ``base`` with one field changed, and its name: the path to the
    field, dotted, and what it became (``messages.1.content.0=number``,
    ``model=removed``), for every field at every depth."""
    yield from _changed(base, base, ())


def _changed(
    base: dict[str, Any], doc: Any, path: tuple[Any, ...]
) -> Iterator[tuple[str, dict[str, Any]]]:
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        where = (*path, key)
        for name, new in [*REPLACEMENTS.items(), ("removed", None)]:
            copy = json.loads(json.dumps(base))
            parent = copy
            for k in where[:-1]:
                parent = parent[k]
            if name == "removed":
                del parent[key]
            else:
                parent[key] = new
            yield f"{'.'.join(map(str, where))}={name}", copy
        yield from _changed(base, value, where)


def sweep_wrong_shapes(
    mock: VendorMock, base: dict[str, Any], send: Callable[[dict[str, Any]], _Answer]
) -> dict[str, _Answer]:
    """Send each of :func:`wrong_shapes` of ``base`` with ``send`` (to ``mock``);
    the answers, by the change's name. Raises :class:`AssertionError` naming each
    change the mock raised on (and clears ``mock.failures`` of them)."""
    answers: dict[str, _Answer] = {}
    failed: list[str] = []
    for name, body in wrong_shapes(base):
        answers[name] = send(body)
        failed += [f"{name}: {type(e).__name__}: {e}" for e in mock.failures]
        mock.failures.clear()  # reported below, all together
    if failed:
        raise AssertionError(
            "the mock failed on requests of the wrong shape:\n" + "\n".join(failed)
        )
    return answers
