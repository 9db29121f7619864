"""Files the user names on the command line, read with a bound on their size.

A path typed by mistake (``/dev/zero``, a log, a disk image, a directory)
must be refused in one line, not read until the memory runs out. Every file a
command reads whole goes through :func:`read_named_file`: a device or a socket
is refused unread, a regular file over the command's limit is refused by its
size before a byte is read, and a pipe (``<(curl ...)``) is read up to one
byte past the limit to tell. Config and template files have their own reader
(:data:`relaykit.config.MAX_TOML_BYTES`, 8 MB); ``-a`` attachments theirs
(:data:`relaykit.cli.attachments.MAX_ATTACHMENT_BYTES`, 32 MB).

The limits are the most any provider takes, so a file over one could only be
refused after its upload; a provider's own smaller limit (OpenAI's 25 MB of
audio) is checked by its plugin, naming the model.
"""

from __future__ import annotations

import os
import stat

from ..errors import InvalidRequestError
from ..file_problems import read_fix, read_problem

#: the largest audio ``transcribe`` reads, and image ``image --edit``/``--mask``
#: reads: Gemini's inline request body (100 MB), the largest any provider here
#: takes (OpenAI's are 25 MB of audio and 50 MB an image, checked by its plugin)
MAX_MEDIA_BYTES = 100 * 1024 * 1024
#: the largest ``batch submit`` file: Anthropic's 256 MB batch (OpenAI's is 200 MB)
MAX_BATCH_BYTES = 256_000_000
#: the largest ``--schema FILE``: as a config or template file (a schema is a few KB)
MAX_SCHEMA_BYTES = 8 << 20


def size_text(size: int) -> str:
    """``256 MB``, ``100 MB``: a limit as an error message says it (1,000,000-byte MB
    above 1e6, rounded down; a MiB-based limit reads as its whole MB)."""
    if size % (1 << 20) == 0:
        return f"{size >> 20} MB"
    return f"{size / 1e6:g} MB"


def read_named_file(path: str, *, limit: int, what: str, param: str, hint: str) -> bytes:
    """The bytes of the file at ``path``, which the user named.

    :param limit: the most bytes it may hold.
    :param what: how the error names the file (``"--schema file"``, ``"audio file"``).
    :param param: the option or argument the error names.
    :param hint: what to give instead, the error's fix (after the path's own fix
        when the file cannot be read: ``check the path: {hint}``).
    :raises InvalidRequestError: it cannot be read, is not a file, or is over ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise InvalidRequestError(
            f"cannot read {what} {path!r}: {read_problem(e)}",
            param=param,
            hint=f"{read_fix(e)}: {hint}",
        ) from None
    try:
        with open(fd, "rb", closefd=True) as f:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise InvalidRequestError(
                    f"cannot read {what} {path!r}: it is a directory",
                    param=param,
                    hint=f"name a file in it: {hint}",
                )
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
                kind = "a socket" if stat.S_ISSOCK(info.st_mode) else "a device"
                raise InvalidRequestError(
                    f"{what} {path!r} is {kind}, not a file", param=param, hint=hint
                )
            if info.st_size > limit:
                raise _too_large(what, path, info.st_size, limit, param, hint)
            data = f.read(limit + 1)
    except OSError as e:
        raise InvalidRequestError(
            f"cannot read {what} {path!r}: {read_problem(e)}",
            param=param,
            hint=f"{read_fix(e)}: {hint}",
        ) from None
    if len(data) > limit:
        raise _too_large(what, path, None, limit, param, hint)
    return data


def _too_large(
    what: str, path: str, size: int | None, limit: int, param: str, hint: str
) -> InvalidRequestError:
    most = size_text(limit)
    amount = f"is {size / 1e6:,.1f} MB" if size is not None else f"holds more than {most}"
    return InvalidRequestError(
        f"{what} {path!r} {amount}: relaykit reads at most {most}",
        param=param,
        hint=hint,
    )
