"""Where ``relaykit image`` and ``relaykit speak`` write: checked before the paid call.

An image or a speech is paid for when it is made; a ``-o`` naming a missing
directory found only when the file is written would lose it, with a traceback.
"""

from __future__ import annotations

import stat
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


def is_device(path: Path) -> bool:
    """Whether ``path`` is a device or a pipe (``/dev/null``, ``/dev/stdout``, a FIFO):
    written to as it is, never given a suffix (``/dev/null.png`` would be a new file)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def output_path(output: str, suffix: str) -> Path:
    """The file ``-o OUTPUT`` names: with ``suffix`` (``.png``) when it has none,
    unless it is a device or pipe."""
    path = Path(output)
    return path if path.suffix or is_device(path) else path.with_suffix(suffix)


def write_output(path: Path, data: bytes, option: str = "-o") -> Path:
    """Write ``data`` to ``path``; an OS error (a full disk, no permission) as
    :class:`InvalidRequestError` naming the file."""
    try:
        path.write_bytes(data)
    except OSError as e:
        raise write_error(path, e, option) from None
    return path


def write_error(path: Path, error: OSError, option: str = "-o") -> InvalidRequestError:
    """The typed error for ``error``, met writing ``path``."""
    return InvalidRequestError(
        f"cannot write {str(path)!r}: {error.strerror}",
        param=option,
        hint="check the directory exists and is writable and the disk has room,"
        " or write elsewhere with -o",
    )
