"""Where ``relaykit image`` and ``relaykit speak`` write: checked before the paid call.

An image or a speech is paid for when it is made; a ``-o`` naming a missing
directory found only when the file is written would lose it, with a traceback.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidRequestError


def check_output(output: str | None, option: str = "-o") -> None:
    """Raise :class:`InvalidRequestError` unless a file can be written at ``output``:
    its directory must exist, and it must not be a directory itself."""
    if output is None or output == "-":
        return
    path = Path(output)
    if path.is_dir():
        raise InvalidRequestError(
            f"{option} {output!r} is a directory", param=option, hint="name a file in it"
        )
    if not path.parent.is_dir():
        raise InvalidRequestError(
            f"{option} {output!r}: the directory {str(path.parent)!r} does not exist",
            param=option,
            hint="create it first, or write elsewhere",
        )


def write_output(path: Path, data: bytes, option: str = "-o") -> Path:
    """Write ``data`` to ``path``; an OS error (a full disk, no permission) as
    :class:`InvalidRequestError` naming the file."""
    try:
        path.write_bytes(data)
    except OSError as e:
        raise InvalidRequestError(
            f"cannot write {str(path)!r}: {e.strerror}",
            param=option,
            hint="check the directory exists and is writable, or write elsewhere with -o",
        ) from None
    return path
